"""Inverse autoregressive flow (Kingma et al., "Improved Variational Inference with Inverse
Autoregressive Flow", 2016) on the VAE's posterior sample, with MADE networks (Germain et al.,
"MADE: Masked Autoencoder for Distribution Estimation", 2015).

Each step maps (z, h) to z' = sigma * z + (1 - sigma) * m, where (m, s) = MADE(z, h), sigma = sigmoid(s)
and m_i, s_i see only z_<i (and the encoder's context h). dz'/dz is then lower-triangular with the
diagonal sigma, so log |det| = sum_i log sigma_i. The order of z is reversed between steps, so a
stack of steps lets every dimension depend on every other.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


def made_masks(latent_dim: int, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MADE masks (Germain et al. 2015) for inputs and outputs in the order 1..d.

    Input and output i have degree i; hidden unit k has a degree in 1..d-1. A hidden unit sees
    inputs of degree <= its own; output i sees hidden units of degree < i. So output i depends
    only on inputs 1..i-1 (output 1 on none: only on biases and the context).
    """
    d = latent_dim
    inp = np.arange(1, d + 1)  # (d,)
    hid = 1 + np.arange(hidden) % max(d - 1, 1)  # (hidden,)
    to_hidden = (hid[None, :] >= inp[:, None]).astype(np.float32)  # (d, hidden)
    hidden_to_hidden = (hid[None, :] >= hid[:, None]).astype(np.float32)  # (hidden, hidden)
    to_output = (inp[None, :] > hid[:, None]).astype(np.float32)  # (hidden, d)
    return to_hidden, hidden_to_hidden, to_output


class MaskedDense(layers.Layer):
    """A dense layer whose kernel is multiplied by a fixed 0/1 mask (in, out)."""

    # Not mutated: Keras reads this signature, which mutmut's wrapper would hide (docs/testing.md).
    def __init__(self, kernel_mask: np.ndarray, bias_init: float = 0.0, **kwargs):  # pragma: no mutate block
        super().__init__(**kwargs)
        self.kernel_mask = np.asarray(kernel_mask, np.float32)
        self.bias_init = bias_init

    def build(self, input_shape):
        n_in, n_out = self.kernel_mask.shape
        self.kernel = self.add_weight(shape=(n_in, n_out), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(
            shape=(n_out,), initializer=keras.initializers.Constant(self.bias_init), name="bias"
        )

    def call(self, x):
        return ops.matmul(x, self.kernel * self.kernel_mask) + self.bias


class AutoregressiveNN(layers.Layer):
    """(z, h) -> (m, s), each (d,): a two-hidden-layer MADE; the context h feeds the first hidden
    layer and, unmasked, the outputs (so the first dimension, which sees no z, still sees h)."""

    # Not mutated: Keras reads this signature, which mutmut's wrapper would hide (docs/testing.md).
    def __init__(self, latent_dim: int, hidden: int, **kwargs):  # pragma: no mutate block
        super().__init__(**kwargs)
        to_hidden, hidden_to_hidden, to_output = made_masks(latent_dim, hidden)
        self.z_in = MaskedDense(to_hidden, name="z_in")  # (hidden,)
        self.h_in = layers.Dense(hidden, use_bias=False, name="h_in")  # (hidden,)
        self.middle = MaskedDense(hidden_to_hidden, name="middle")  # (hidden,)
        self.m_out = MaskedDense(to_output, name="m_out")  # (d,)
        # s starts positive so sigma = sigmoid(s) starts near 1: each step starts close to the
        # identity (the paper's "forget gate bias").
        self.s_out = MaskedDense(to_output, bias_init=1.0, name="s_out")  # (d,)
        self.m_context = layers.Dense(latent_dim, use_bias=False, name="m_context")  # (d,)
        self.s_context = layers.Dense(latent_dim, use_bias=False, name="s_context")  # (d,)

    def call(self, z, h):
        x = ops.elu(self.z_in(z) + self.h_in(h))
        x = ops.elu(self.middle(x))
        return self.m_out(x) + self.m_context(h), self.s_out(x) + self.s_context(h)


class IAFStep(layers.Layer):
    """One IAF step: (z, h) -> (z', sum_i log sigma_i). ``reverse`` flips z's order first."""

    # Not mutated: Keras reads this signature, which mutmut's wrapper would hide (docs/testing.md).
    def __init__(self, latent_dim: int, hidden: int, reverse: bool, **kwargs):  # pragma: no mutate block
        super().__init__(**kwargs)
        self.reverse = reverse
        self.made = AutoregressiveNN(latent_dim, hidden, name="made")

    def call(self, z, h):
        if self.reverse:
            z = ops.flip(z, axis=-1)  # a permutation: |det| = 1
        m, s = self.made(z, h)
        sigma = ops.sigmoid(s)
        z = sigma * z + (1.0 - sigma) * m
        return z, ops.sum(ops.log_sigmoid(s), axis=-1)


def build_flow(cfg) -> keras.Model:
    """[z_0, h] -> [z_K, sum over steps and dims of log sigma] = log |det dz_K / dz_0|.

    ``cfg`` is a ``VAEConfig`` (latent_dim, context_dim, flow_steps, flow_hidden)."""
    z0 = keras.Input((cfg.latent_dim,), name="z0")
    h = keras.Input((cfg.context_dim,), name="context")
    z, log_det = z0, None
    for t in range(cfg.flow_steps):
        z, step_log_det = IAFStep(cfg.latent_dim, cfg.flow_hidden, reverse=t > 0, name=f"iaf_{t}")(z, h)
        log_det = step_log_det if log_det is None else log_det + step_log_det  # (,) per example
    return keras.Model([z0, h], [z, log_det], name="flow")
