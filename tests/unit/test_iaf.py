"""Inverse autoregressive flow: MADE masks really hide the future, and the flow's log-determinant
is the log |det| of its numerical Jacobian."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab.config import TrainConfig
from genlab.errors import ConfigError
from genlab.models.base import DataSpec
from genlab.models.iaf import AutoregressiveNN, IAFStep, build_flow, made_masks
from genlab.models.vae import VAE, VAEConfig


def _randomize(layer, seed: int, scale: float = 0.5):
    """Replace every weight (biases included) with random values, so nothing is zero by accident."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(0.0, scale, w.shape).astype(np.float32))


@pytest.mark.parametrize("d,hidden", [(1, 4), (2, 3), (5, 16), (8, 7)])
def test_made_mask_connectivity_is_strictly_lower_triangular(d, hidden):
    to_hidden, hidden_to_hidden, to_output = made_masks(d, hidden)
    paths = to_hidden @ hidden_to_hidden @ to_output  # (d in, d out): number of paths j -> i
    assert np.all(paths[np.tril_indices(d)] == 0)  # input j never reaches output i <= j
    if hidden >= d - 1:  # enough hidden units: every allowed connection j < i exists
        assert np.all(paths[np.triu_indices(d, 1)] > 0)


def test_made_masks_follow_the_degrees_of_germain_et_al():
    """Inputs and outputs have degrees 1..d, hidden units cycle through 1..d-1 (here [1, 2, 1, 2]);
    a hidden unit sees inputs of degree <= its own, output i sees hidden units of degree < i."""
    to_hidden, hidden_to_hidden, to_output = made_masks(3, 4)
    np.testing.assert_array_equal(to_hidden, [[1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(hidden_to_hidden, [[1, 1, 1, 1], [0, 1, 0, 1]] * 2)
    np.testing.assert_array_equal(to_output, [[0, 1, 1], [0, 0, 1]] * 2)
    to_hidden, _, to_output = made_masks(2, 3)  # d = 2: every hidden unit has degree 1
    np.testing.assert_array_equal(to_hidden, [[1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(to_output, [[0, 1]] * 3)


def test_made_output_i_depends_only_on_inputs_before_i():
    d, hidden, context = 6, 24, 3
    made = AutoregressiveNN(d, hidden)
    z = tf.constant(np.random.default_rng(0).normal(size=(4, d)), tf.float32)
    h = tf.constant(np.random.default_rng(1).normal(size=(4, context)), tf.float32)
    made(z, h)
    _randomize(made, seed=2)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        m, s = made(z, h)
    for out in (m, s):
        jac = tape.batch_jacobian(out, z).numpy()  # (b, out i, in j)
        upper = jac[:, np.triu_indices(d)[0], np.triu_indices(d)[1]]
        assert np.all(upper == 0.0)  # exactly zero: masked, not merely small
        lower = np.abs(jac[:, np.tril_indices(d, -1)[0], np.tril_indices(d, -1)[1]])
        assert np.all(lower.max(axis=0) > 1e-6)  # and every earlier input does matter
    # the context reaches every output, the first one (which sees no z) included
    with tf.GradientTape() as tape:
        tape.watch(h)
        m, _ = made(z, h)
    assert np.all(np.abs(tape.batch_jacobian(m, h).numpy()).sum(axis=2) > 0)


@pytest.mark.parametrize("steps", [1, 3])
def test_flow_log_det_matches_numerical_jacobian(steps):
    cfg = VAEConfig(latent_dim=5, flow_steps=steps, flow_hidden=12, context_dim=3)
    flow = build_flow(cfg)
    _randomize(flow, seed=steps, scale=0.3)
    rng = np.random.default_rng(3)
    z0 = tf.constant(rng.normal(size=(6, 5)), tf.float32)
    h = tf.constant(rng.normal(size=(6, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z_t, log_det = flow([z0, h])
    jac = tape.batch_jacobian(z_t, z0).numpy().astype(np.float64)  # (b, 5, 5)
    sign, logabs = np.linalg.slogdet(jac)
    assert np.all(sign != 0)
    np.testing.assert_allclose(log_det.numpy(), logabs, atol=1e-4)
    assert np.all(log_det.numpy() < 0)  # sum of log sigmoid terms

    # and by central finite differences, independent of autodiff
    eps = 1e-3
    z0_64 = z0.numpy().astype(np.float64)
    fd = np.zeros((6, 5, 5))
    for j in range(5):
        dz = np.zeros(5)
        dz[j] = eps
        plus = flow([tf.constant(z0_64 + dz, tf.float32), h])[0].numpy()
        minus = flow([tf.constant(z0_64 - dz, tf.float32), h])[0].numpy()
        fd[:, :, j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(np.linalg.slogdet(fd)[1], log_det.numpy(), atol=5e-3)


@pytest.mark.parametrize("reverse", [False, True])
def test_step_jacobian_is_triangular_with_diagonal_sigma_and_log_det_sum_log_sigma(reverse):
    """One step: dz'/dz is lower-triangular in the step's input order (after the optional reversal),
    its diagonal is sigma = sigmoid(s), and the step's log-det is sum_i log sigma_i."""
    d, context = 5, 3
    step = IAFStep(d, hidden=16, reverse=reverse)
    rng = np.random.default_rng(4)
    z = tf.constant(rng.normal(size=(4, d)), tf.float32)
    h = tf.constant(rng.normal(size=(4, context)), tf.float32)
    step(z, h)
    _randomize(step, seed=6)
    with tf.GradientTape() as tape:
        tape.watch(z)
        z_next, log_det = step(z, h)
    jac = tape.batch_jacobian(z_next, z).numpy()  # (b, out, in)
    if reverse:  # the step sees flip(z): undo it on the input axis
        jac = jac[:, :, ::-1]
    assert np.all(jac[:, np.triu_indices(d, 1)[0], np.triu_indices(d, 1)[1]] == 0.0)
    _, s = step.made(tf.reverse(z, [-1]) if reverse else z, h)
    sigma = tf.sigmoid(s).numpy()
    np.testing.assert_allclose(np.diagonal(jac, axis1=1, axis2=2), sigma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_det.numpy(), np.log(sigma).sum(axis=1), rtol=1e-5, atol=1e-5)


def test_flow_reverses_the_order_between_steps():
    cfg = VAEConfig(latent_dim=4, flow_steps=3, flow_hidden=8, context_dim=2)
    flow = build_flow(cfg)
    steps = [layer for layer in flow.layers if isinstance(layer, IAFStep)]
    assert [step.reverse for step in steps] == [False, True, True]  # each step flips its input


def test_reversal_between_steps_mixes_all_dimensions():
    """With the order reversed between two steps, the last output depends on the first input and
    the first output on the last input: the Jacobian is no longer triangular."""
    cfg = VAEConfig(latent_dim=4, flow_steps=2, flow_hidden=8, context_dim=2)
    flow = build_flow(cfg)
    _randomize(flow, seed=5)
    z0 = tf.constant(np.random.default_rng(0).normal(size=(3, 4)), tf.float32)
    h = tf.zeros((3, 2))
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z_t, _ = flow([z0, h])
    jac = np.abs(tape.batch_jacobian(z_t, z0).numpy())
    assert jac[:, 0, -1].max() > 1e-6 and jac[:, -1, 0].max() > 1e-6


def test_posterior_log_q_includes_the_flow():
    cfg = VAEConfig(latent_dim=3, encoder="mlp", hidden=8, flow_steps=2, flow_hidden=8, context_dim=4)
    model = VAE(cfg, DataSpec((8, 8, 1)), TrainConfig())
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    eps = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    mean, log_var, h = model.posterior_params(x, training=False)
    z_t, log_q = model.posterior_sample(mean, log_var, h, eps, training=False)
    z0 = mean + tf.exp(0.5 * log_var) * eps
    base = -0.5 * tf.reduce_sum(np.log(2 * np.pi) + log_var + eps**2, axis=-1)
    z_flow, log_det = model.networks["flow"]([z0, h])
    np.testing.assert_allclose(z_t.numpy(), z_flow.numpy(), atol=1e-6)
    np.testing.assert_allclose(log_q.numpy(), (base - log_det).numpy(), atol=1e-4)
    assert not np.allclose(log_det.numpy(), 0.0)


@pytest.mark.parametrize(
    "key,value",
    [
        ("encoder", "resnet"),
        ("likelihood", "gaussian"),
        ("flow_steps", -1),
        ("flow_hidden", 0),
        ("context_dim", 0),
        ("hidden", 0),
    ],
)
def test_bad_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"model.{key}"):
        VAEConfig(**{key: value})


def test_no_flow_network_without_flow_steps():
    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(latent_dim=2, encoder="mlp", hidden=4), DataSpec((4, 4, 1)), TrainConfig())
    assert sorted(model.networks) == ["decoder", "encoder"]
    assert len(model.networks["encoder"].outputs) == 2
