"""Progressive GAN: Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation" (ICLR 2018).

The generator and the discriminator grow together, 4x4 -> 8x8 -> ... -> ``resolution``. When a
level is added its block fades in: with alpha going 0 -> 1,

    G:  image = (1 - alpha) * upsample(to_rgb_old(h)) + alpha * to_rgb_new(block_new(h))
    D:  h     = (1 - alpha) * from_rgb_old(downsample(x)) + alpha * block_new(from_rgb_new(x))

and real images are faded between the two resolutions the same way. Then the level trains alone
(alpha = 1) before the next one fades in (``progan_layers.phase_at``). The generator normalises
features per pixel (pixel norm), the discriminator's last block sees the minibatch standard
deviation, and all weights use the equalized learning rate. The loss is WGAN-GP with the paper's
drift term, epsilon_drift * D(real)^2 (or the non-saturating loss), with Adam(0.001, 0, 0.99).

Images are padded to ``resolution`` (Fashion-MNIST's 28x28 -> 32x32) for training; samples are
cropped back to the dataset's size. Both networks always take and give full-resolution images:
a lower level's image is nearest-upsampled (the generator) or average-pooled (the discriminator),
which is what the paper's smaller networks see, exactly.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.image import ImageModel
from genlab.models.progan_config import CONFIGS, ProGANConfig, check_experiment  # noqa: F401 (re-exported)
from genlab.models.progan_layers import (
    DiscriminatorFade,
    EqualizedConv2D,
    EqualizedDense,
    GeneratorFade,
    MinibatchStddev,
    PixelNorm,
    Schedule,
    fade_weights,
    phase_at,
)

# --- the networks: one block per level ----------------------------------------------------------


def resolutions(cfg: ProGANConfig) -> list[int]:
    return [cfg.start_resolution * 2**k for k in range(cfg.levels)]


def lrelu():
    return layers.LeakyReLU(0.2)


def generator_block(cfg: ProGANConfig, k: int) -> keras.Sequential:
    """Level k's block: z -> (s, s, width) for k = 0; else (r/2, r/2, width) -> (r, r, width)."""
    w, s = cfg.width, cfg.start_resolution
    if k == 0:  # normalised latent -> dense "4x4 convolution" -> 3x3 convolution (Table 2)
        head = [
            keras.Input((cfg.latent_dim,)),
            PixelNorm(),
            EqualizedDense(s * s * w),
            layers.Reshape((s, s, w)),
        ]
    else:
        r = s * 2 ** (k - 1)
        head = [keras.Input((r, r, w)), layers.UpSampling2D(2), EqualizedConv2D(w, 3)]
    return keras.Sequential(
        [*head, lrelu(), PixelNorm(), EqualizedConv2D(w, 3), lrelu(), PixelNorm()], name=f"g_block_{k}"
    )


def to_rgb(cfg: ProGANConfig, k: int, channels: int) -> keras.Sequential:
    r = resolutions(cfg)[k]
    return keras.Sequential(
        [keras.Input((r, r, cfg.width)), EqualizedConv2D(channels, 1, gain=1.0)], name=f"to_rgb_{k}"
    )


def from_rgb(cfg: ProGANConfig, k: int, channels: int) -> keras.Sequential:
    r = resolutions(cfg)[k]
    return keras.Sequential(
        [keras.Input((r, r, channels)), EqualizedConv2D(cfg.width, 1), lrelu()], name=f"from_rgb_{k}"
    )


def discriminator_block(cfg: ProGANConfig, k: int) -> keras.Sequential:
    """Level k's block, k >= 1: (r, r, width) -> (r/2, r/2, width)."""
    r, w = resolutions(cfg)[k], cfg.width
    convs = [EqualizedConv2D(w, 3), lrelu(), EqualizedConv2D(w, 3), lrelu()]
    return keras.Sequential([keras.Input((r, r, w)), *convs, layers.AveragePooling2D(2)], name=f"d_block_{k}")


def discriminator_head(cfg: ProGANConfig) -> keras.Sequential:
    """The last block: minibatch stddev, 3x3 convolution, dense, dense -> one unbounded score."""
    s, w = cfg.start_resolution, cfg.width
    return keras.Sequential(
        [
            keras.Input((s, s, w)),
            MinibatchStddev(cfg.group_size),
            EqualizedConv2D(w, 3),
            lrelu(),
            layers.Flatten(),
            EqualizedDense(w),
            lrelu(),
            EqualizedDense(1, gain=1.0),
        ],
        name="d_head",
    )


def build_generator(cfg: ProGANConfig, channels: int) -> keras.Model:
    """z -> (resolution, resolution, channels) at the phase of its ``schedule`` layer."""
    top = cfg.resolution
    z = keras.Input((cfg.latent_dim,), name="z")
    phase = Schedule(cfg.fade_steps, cfg.stable_steps, cfg.levels, name="schedule")(z)  # (b, 2)
    h, rgbs = z, []
    for k, r in enumerate(resolutions(cfg)):
        h = generator_block(cfg, k)(h)  # (r, r, width)
        rgb = to_rgb(cfg, k, channels)(h)  # (r, r, c)
        rgbs.append(layers.UpSampling2D(top // r)(rgb) if r < top else rgb)  # (top, top, c)
    image = GeneratorFade(name="fade")([*rgbs, phase])
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg: ProGANConfig, channels: int) -> keras.Model:
    """(image (resolution, resolution, channels), phase (level, alpha)) -> (1,) a score."""
    top = cfg.resolution
    image = keras.Input((top, top, channels), name="image")
    phase = keras.Input((2,), name="phase")
    h = None
    for k in reversed(range(cfg.levels)):  # from the top level down
        r = resolutions(cfg)[k]
        x = layers.AveragePooling2D(top // r)(image) if r < top else image  # (r, r, c)
        skip = from_rgb(cfg, k, channels)(x)
        through = [] if h is None else [discriminator_block(cfg, k + 1)(h)]
        h = DiscriminatorFade(k, name=f"fade_{k}")([*through, skip, phase])  # (r, r, width)
    return keras.Model([image, phase], discriminator_head(cfg)(h), name="discriminator")


# --- the model ----------------------------------------------------------------------------------


class ProGAN(ImageModel):
    family = "progan"
    sampling_networks = ("generator",)
    batch = 256  # samples generated at once

    def __init__(self, cfg: ProGANConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        h, w, c = spec.shape
        if max(h, w) > cfg.resolution:
            raise ConfigError(
                f"model.resolution: expected a power of two >= the dataset's image size {h}x{w}, "
                f"got {cfg.resolution}"
            )
        self.networks = {
            "generator": build_generator(cfg, c),
            "discriminator": build_discriminator(cfg, c),
        }
        self.schedule = self.networks["generator"].get_layer("schedule")
        self.optimizers = {
            name: keras.optimizers.Adam(train_cfg.learning_rate, cfg.beta_1, cfg.beta_2, epsilon=1e-8)
            for name in self.networks
        }

    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    # --- images: the dataset's size and [0, 1] <-> the networks' size and [-1, 1] ---
    def _pads(self):
        top, (h, w) = self.cfg.resolution, self.spec.shape[:2]
        return (top - h) // 2, (top - w) // 2

    def to_network(self, images):
        (top_pad, left_pad), top = self._pads(), self.cfg.resolution
        padded = tf.image.pad_to_bounding_box(images, top_pad, left_pad, top, top)  # zeros: black
        return padded * 2.0 - 1.0

    def from_network(self, images):
        (h, w), (top_pad, left_pad) = self.spec.shape[:2], self._pads()
        crop = images[:, top_pad : top_pad + h, left_pad : left_pad + w]
        return tf.clip_by_value((tf.cast(crop, tf.float32) + 1.0) / 2.0, 0.0, 1.0)

    def fade_images(self, images, phase):
        """Real images at the current phase: the two levels' average-pooled copies, mixed as the
        generator mixes its outputs (the paper, section 3 and appendix A.1)."""
        top, parts = self.cfg.resolution, []
        for k, r in enumerate(resolutions(self.cfg)):
            x = images
            if r < top:
                x = tf.repeat(
                    tf.repeat(tf.nn.avg_pool2d(images, top // r, top // r, "VALID"), top // r, 1), top // r, 2
                )
            parts.append(fade_weights(phase, k)[0] * x)
        return tf.add_n(parts)

    # --- training ---
    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        cfg = self.cfg
        self.schedule.step.assign(ctx.step)  # the generator runs (and later samples) at this phase
        level, alpha = phase_at(ctx.step, cfg.fade_steps, cfg.stable_steps, cfg.levels)
        real = self.to_network(tf.convert_to_tensor(batch["image"]))  # (b, top, top, c) in [-1, 1]
        b = tf.shape(real)[0]
        phase = tf.tile(tf.stack([level, alpha])[None], [b, 1])  # (b, 2)
        real = self.fade_images(real, phase)

        z = ctx.normal([cfg.latent_dim])
        eps = ctx.uniform([1, 1, 1])  # (b, 1, 1, 1): where x_hat lies between fake and real
        with tf.GradientTape() as tape:
            fake = gen(z, training=True)
            d_real = tf.squeeze(disc([real, phase], training=True), -1)  # (b,)
            d_fake = tf.squeeze(disc([fake, phase], training=True), -1)
            if cfg.loss == "wgan_gp":
                gp = self.gradient_penalty(real, fake, eps, phase, level)
                per_example = d_fake - d_real + gp + cfg.drift * tf.square(d_real)
            else:
                per_example = tf.nn.softplus(d_fake) + tf.nn.softplus(-d_real)
            d_loss = ctx.mean(per_example)
        grads = tape.gradient(d_loss, disc.trainable_variables)
        self.optimizers["discriminator"].apply_gradients(zip(grads, disc.trainable_variables, strict=True))

        z = ctx.normal([cfg.latent_dim])
        with tf.GradientTape() as tape:
            score = tf.squeeze(disc([gen(z, training=True), phase], training=True), -1)
            g_loss = ctx.mean(-score if cfg.loss == "wgan_gp" else tf.nn.softplus(-score))
        grads = tape.gradient(g_loss, gen.trainable_variables)
        self.optimizers["generator"].apply_gradients(zip(grads, gen.trainable_variables, strict=True))
        # Shares of the global mean, like the losses, so the loop's sum over replicas gives the value.
        ones = tf.ones([b])
        resolution = cfg.start_resolution * tf.pow(2.0, level)
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "resolution": ctx.mean(ones * resolution),
            "alpha": ctx.mean(ones * alpha),
        }

    def gradient_penalty(self, real, fake, eps, phase, level):
        """lambda * (||grad D(x_hat)|| - 1)^2 with the gradient taken w.r.t. the image at the
        current resolution, as in the paper. D sees the full-size x only through its average
        pool to that resolution (factor f), so that gradient's norm is f * ||grad_x D||."""
        disc = self.networks["discriminator"]
        x_hat = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            score = disc([x_hat, phase], training=True)
        grad = tape.gradient(score, x_hat)  # (b, top, top, c)
        factor = tf.pow(2.0, float(self.cfg.levels - 1) - level)  # resolution / current resolution
        norm = factor * tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]) + 1e-12)
        return self.cfg.gp_weight * tf.square(norm - 1.0)

    # --- generation ---
    def trained_phase(self) -> tuple[int, float]:
        level, alpha = self.schedule.phase()
        return int(level), float(alpha)

    def decode(self, z) -> np.ndarray:
        z = np.asarray(z, np.float32)
        gen = self.networks["generator"]
        parts = [
            self.from_network(gen(z[i : i + self.batch], training=False))
            for i in range(0, len(z), self.batch)
        ]
        return (
            np.concatenate([np.asarray(p) for p in parts])
            if parts
            else np.zeros((0, *self.spec.shape), np.float32)
        )

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """n images at the dataset's size in [0, 1], from the phase the generator was trained to."""
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z)

    def sample_at_level(self, n: int, seed: int, k: int) -> np.ndarray:
        """n images from level k's own output (its to-RGB, alpha = 1), nearest-upsampled."""
        gen, top = self.networks["generator"], self.cfg.resolution
        h = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        for j in range(k + 1):
            h = gen.get_layer(f"g_block_{j}")(h, training=False)
        rgb = gen.get_layer(f"to_rgb_{k}")(h, training=False)
        f = top // resolutions(self.cfg)[k]
        return np.asarray(self.from_network(tf.repeat(tf.repeat(rgb, f, 1), f, 2)))

    def serving_function(self):
        gen = self.networks["generator"]

        def serve(z):  # (n, latent_dim) -> (n, h, w, c) in [0, 1]
            return {"image": self.from_network(gen(z, training=False))}

        return serve, [tf.TensorSpec((None, self.cfg.latent_dim), tf.float32, name="z")]

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        """A grid per resolution reached: each level's own output, from the same latents."""
        from genlab import io, report
        from genlab.generate.images import grid, to_png

        level, alpha = self.trained_phase()
        cols = exp.generate.cols
        rows = [
            f"<p>Trained to level {level} ({resolutions(self.cfg)[level]}x{resolutions(self.cfg)[level]}, "
            f"alpha {alpha:.2f}). Each grid: one level's own output (its to-RGB, alpha = 1) from the same "
            "latents, with the blocks as trained now; a lower level's to-RGB stops learning once the "
            "next level has faded in.</p>",
            "<table><tr><th>resolution</th><th>samples</th></tr>",
        ]
        for k in range(level + 1):
            r = resolutions(self.cfg)[k]
            picture = grid(self.sample_at_level(cols * 2, exp.generate.seed, k), 2, cols)
            png = to_png(picture)
            io.write_bytes(io.join(out_dir, f"samples_{r}x{r}.png"), png)
            rows.append(f"<tr><td>{r}x{r}</td><td>{report.img_tag(png, f'{r}x{r}')}</td></tr>")
        rows.append("</table>")
        return [("Samples per resolution", "\n".join(rows))]


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return ProGAN(cfg, spec, train_cfg)
