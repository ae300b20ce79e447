"""The VAE decoder's output distributions p(x|z) (``model.likelihood``), per pixel channel.

Pixels arrive in [0, 1] as 8-bit values k / 255 (genlab.data.records), or as 0/1 after dynamic
binarization. Every likelihood here is a *discrete* distribution over the values a pixel can take,
so log p(x|z) is the log of a probability (not of a density) and bits/dim = NLL / (H*W*C * ln 2) is
in the units papers report (e.g. IAF-VAE <= 3.11 bits/dim on CIFAR-10 test, Kingma et al. 2016).
A continuous density on [0, 1] pixels would instead need + ln 256 per dimension (its bin width is
1/256) before it could be compared; none is offered, so no rescaling is needed.

- ``bernoulli``: one logit per channel; for binarized pixels (2 values).
- ``discretized_logistic``: a logistic with a location and a log-scale per channel, its mass
  integrated over each of the 256 bins, the two edge bins taking the tails (Kingma et al. 2016,
  section 5.2; Salimans et al. 2017, PixelCNN++, eq. 2 without the mixture).
- ``categorical256``: a softmax over the 256 values per channel (van den Oord et al. 2016).
"""

from __future__ import annotations

import math

import tensorflow as tf

LEVELS = 256  # 8-bit pixels
MIN_LOG_SCALE = -7.0  # PixelCNN++'s floor: bins stay resolvable, gradients finite
MAX_LOG_SCALE = 7.0  # a scale of e^7 is already flat over [-1, 1]; above it 1/s underflows


def param_channels(likelihood: str, channels: int) -> int:
    """How many decoder outputs one pixel needs."""
    return {"bernoulli": 1, "discretized_logistic": 2, "categorical256": LEVELS}[likelihood] * channels


def pixel_levels(x):
    """[0, 1] pixels -> the integer 8-bit values 0..255 (int32)."""
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * (LEVELS - 1)), tf.int32)


def discretized_logistic_log_mass(k, mean, log_scale):
    """log P(k) for integer pixels k (any shape) under a discretized logistic with the given location
    and log-scale, both on the [-1, 1] scale where value k sits at 2k/255 - 1 and each bin is 2/255
    wide. Bin 0 takes (-inf, -1 + 1/255], bin 255 takes [1 - 1/255, inf).

    The middle bins use the exact identity sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - e^(b-a)),
    so the mass stays accurate in the far tails where the two CDFs round to the same float (PixelCNN++
    falls back to the density at the bin centre there instead).
    """
    log_scale = tf.clip_by_value(log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)
    inv_scale = tf.exp(-log_scale)
    centre = tf.cast(k, mean.dtype) * (2.0 / (LEVELS - 1)) - 1.0
    upper = (centre - mean + 1.0 / (LEVELS - 1)) * inv_scale  # a: the bin's upper edge, standardised
    lower = (centre - mean - 1.0 / (LEVELS - 1)) * inv_scale  # b: its lower edge
    log_cdf_upper = -tf.nn.softplus(-upper)  # log sigmoid(a): bin 0
    log_sf_lower = -tf.nn.softplus(lower)  # log (1 - sigmoid(b)): bin 255
    width = (2.0 / (LEVELS - 1)) * inv_scale  # a - b > 0
    log_middle = log_cdf_upper + log_sf_lower + tf.math.log(-tf.math.expm1(-width))
    return tf.where(k == 0, log_cdf_upper, tf.where(k == LEVELS - 1, log_sf_lower, log_middle))


def _split(params, channels: int):
    """(b, h, w, 2c) -> location (b, h, w, c) and log-scale (b, h, w, c)."""
    return params[..., :channels], params[..., channels:]


def _logits256(params, channels: int):
    """(b, h, w, 256c) -> logits (b, h, w, c, 256)."""
    shape = tf.shape(params)
    return tf.reshape(params, tf.concat([shape[:-1], [channels, LEVELS]], axis=0))


def log_prob(likelihood: str, x, params):
    """log p(x|z) summed over pixels and channels, per example (nats). ``x``: (b, h, w, c) in [0, 1];
    ``params``: the decoder's output (b, h, w, param_channels)."""
    params = tf.cast(params, tf.float32)
    if likelihood == "bernoulli":
        per_value = -tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=params)
    elif likelihood == "discretized_logistic":
        mean, log_scale = _split(params, x.shape[-1])
        per_value = discretized_logistic_log_mass(pixel_levels(x), mean, log_scale)
    else:  # categorical256
        logits = _logits256(params, x.shape[-1])
        per_value = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=pixel_levels(x), logits=logits)
    return tf.reduce_sum(per_value, axis=[1, 2, 3])


def picture(likelihood: str, params, channels: int):
    """The picture of p(x|z) shown as a sample, in [0, 1]: the mean for bernoulli (the pixel
    probabilities) and categorical256, the median for discretized_logistic (the bin holding the
    location, which is also the most likely value). Not a draw: per-pixel noise is not the model's
    picture of an image, and the FID of the samples is taken on these."""
    params = tf.cast(params, tf.float32)
    if likelihood == "bernoulli":
        return tf.sigmoid(params)
    if likelihood == "discretized_logistic":
        mean, _ = _split(params, channels)
        return tf.cast(pixel_levels((mean + 1.0) / 2.0), tf.float32) / (LEVELS - 1)
    probs = tf.nn.softmax(_logits256(params, channels))
    return tf.reduce_sum(probs * tf.range(LEVELS, dtype=tf.float32), axis=-1) / (LEVELS - 1)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Negative log-likelihood of a discrete image (nats per image) -> bits per sub-pixel."""
    return nll_nats / (dims * math.log(2))
