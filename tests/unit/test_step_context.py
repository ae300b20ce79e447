"""StepContext: replica-consistent noise, with the N > 1 branch run by a stand-in replica context.

The data side of the pairing is checked in test_data.py (example j of a global batch is on
replica j % n); here, each replica's noise rows must belong to those same examples.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from genlab.models.base import StepContext


def as_replica(monkeypatch, rid: int, n: int) -> None:
    replica = SimpleNamespace(replica_id_in_sync_group=rid, num_replicas_in_sync=n)
    monkeypatch.setattr(tf.distribute, "get_replica_context", lambda: replica)


@pytest.mark.parametrize("n", [2, 3])
def test_each_replica_draws_the_noise_of_its_own_examples(monkeypatch, n):
    one = StepContext(12, tf.constant(3), seed=5)
    z, u = one.normal([2]).numpy(), one.uniform([1]).numpy()
    assert z.shape == (12, 2) and u.shape == (12, 1)
    for rid in range(n):
        as_replica(monkeypatch, rid, n)
        ctx = StepContext(12, tf.constant(3), seed=5)
        mine = np.arange(12)[rid::n]  # the examples this replica holds
        np.testing.assert_array_equal(ctx.normal([2]).numpy(), z[mine])
        np.testing.assert_array_equal(ctx.uniform([1]).numpy(), u[mine])


def test_a_loss_that_pairs_noise_with_examples_is_the_same_on_one_and_n_replicas(monkeypatch):
    """Per-example loss x_j . z_j: only right when replica r's noise row i is example r + i*n's."""
    x = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)

    def replica_loss(rid, n):
        as_replica(monkeypatch, rid, n)
        ctx = StepContext(12, tf.constant(7), seed=1)
        z = ctx.normal([4])
        return float(ctx.mean(tf.reduce_sum(x[rid::n] * z, axis=1)))

    single = replica_loss(0, 1)
    for n in (2, 3, 4):
        assert sum(replica_loss(r, n) for r in range(n)) == pytest.approx(single, rel=1e-5, abs=1e-6)


def test_the_cross_replica_context_behaves_as_one_replica():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    full = StepContext(6, tf.constant(2), seed=4).normal([3]).numpy()
    with strategy.scope():
        assert tf.distribute.get_replica_context() is None
        np.testing.assert_array_equal(StepContext(6, tf.constant(2), seed=4).normal([3]).numpy(), full)


def test_noise_depends_on_seed_step_and_call_site_only():
    def draws(seed, step, calls=3):
        ctx = StepContext(4, tf.constant(step), seed=seed)
        return [ctx.normal([2]).numpy() for _ in range(calls)]

    np.testing.assert_array_equal(np.array(draws(1, 5)), np.array(draws(1, 5)))  # reproducible
    streams = {}
    for seed in (0, 1, 2):
        for step in (0, 1):
            for call, z in enumerate(draws(seed, step)):
                streams[(seed, step, call)] = z.tobytes()
    assert len(set(streams.values())) == len(streams)  # no two (seed, step, call site) share a stream


def test_uniform_noise_lies_in_the_unit_interval_and_normal_noise_is_standard():
    ctx = StepContext(4000, tf.constant(0), seed=0)
    u, z = ctx.uniform([1]).numpy(), ctx.normal([1]).numpy()
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.02
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05


def test_mean_divides_by_the_global_batch_not_the_replicas():
    ctx = StepContext(8, tf.constant(0), seed=0)
    assert float(ctx.mean(tf.constant([1.0, 2.0, 3.0, 4.0]))) == pytest.approx(10.0 / 8)
    assert ctx.global_batch_size == 8 and ctx.seed == 0 and ctx.step.dtype == tf.int64


def test_noise_comes_in_the_dtype_asked_for():
    ctx = StepContext(4, tf.constant(0), seed=0)
    assert ctx.normal([2], dtype=tf.float64).dtype == tf.float64
    assert ctx.uniform([2], dtype=tf.float64).dtype == tf.float64
    assert ctx.normal([2]).dtype == ctx.uniform([2]).dtype == tf.float32
