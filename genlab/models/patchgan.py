"""Building blocks shared by pix2pix and CycleGAN: the PatchGAN discriminator, instance
normalization and reflection padding.

PatchGAN (Isola et al. 2017, section 3.2.2): a fully convolutional discriminator whose every output
cell judges one N x N patch of its input, so it models high-frequency structure and leaves the
low frequencies to the L1 (pix2pix) or cycle (CycleGAN) loss. The layout follows the reference
``NLayerDiscriminator`` (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py): ``n_layers``
stride-2 4x4 convolutions (the first without normalization), one stride-1 4x4 convolution, and a
stride-1 4x4 convolution to one logit per patch. Its receptive field is
``receptive_field(n_layers)``: 70 for the papers' n_layers = 3 on 256 x 256 images; the presets
scale it to their image size (16 for n_layers = 1 on 32 x 32 images, the same half-width patch
as 70 on 256 relative to the image's features).

Instance normalization (Ulyanov et al. 2016) is what both papers' code uses at batch size 1
(pix2pix's batch norm over one image, CycleGAN's instance norm). It normalizes each example on
its own, so no statistics cross replicas and 1 or N workers compute the same thing.
"""

from __future__ import annotations

import keras
from keras import layers


def instance_norm():
    """Per-example, per-channel normalization (Keras: a group per channel)."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-5)


class ReflectionPad(layers.Layer):
    """Pad height and width by mirroring, as CycleGAN's ResNet generator does before 7x7 and 3x3
    convolutions (fewer border artifacts than zero padding)."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda d: None if d is None else d + 2 * self.pad  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def receptive_field(n_layers: int) -> int:
    """The side of the input patch one output cell sees: (r - 1) * stride + kernel, walked back
    from the output through the two stride-1 and then the ``n_layers`` stride-2 4x4 convolutions."""
    r = 1
    for stride in [1, 1] + [2] * n_layers:
        r = (r - 1) * stride + 4
    return r


def build_patchgan(shape: tuple[int, ...], width: int, n_layers: int, name: str, norm=None) -> keras.Model:
    """(h, w, c) images -> (h / 2^n, w / 2^n, 1) logits, one per overlapping patch.

    ``norm`` makes the normalization layers (default: instance norm, whose per-image statistics
    let every pixel nudge every cell a little; tests pass an identity to see the convolutions'
    receptive field alone)."""
    norm = norm or instance_norm
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(width, 4, strides=2, padding="same")(image)  # (h/2, w/2, width), no norm
    x = layers.LeakyReLU(0.2)(x)
    for i in range(1, n_layers):
        x = layers.Conv2D(width * min(2**i, 8), 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.LeakyReLU(0.2)(norm()(x))  # (h/2^(i+1), w/2^(i+1), width * 2^i)
    x = layers.Conv2D(width * min(2**n_layers, 8), 4, padding="same", use_bias=False)(x)
    x = layers.LeakyReLU(0.2)(norm()(x))  # (h/2^n, w/2^n, width * 2^n)
    logits = layers.Conv2D(1, 4, padding="same", dtype="float32")(x)  # (h/2^n, w/2^n, 1)
    return keras.Model(image, logits, name=name)


def check_patchgan(shape: tuple[int, ...], n_layers: int, family: str) -> None:
    from genlab.errors import ConfigError

    if shape[0] % 2**n_layers or shape[1] % 2**n_layers:
        raise ConfigError(
            f"model.patch_layers: {family}'s PatchGAN halves the image {n_layers} times; "
            f"data.image_size ({shape[0]}) must be a multiple of {2**n_layers}"
        )
