"""Generative adversarial networks.

DCGAN: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (2016), in the form of Chollet, *Deep Learning
with Python* (2nd ed.), ch. 12: strided (transposed) convolutions, LeakyReLU, no pooling,
a sigmoid output in [0, 1], and a little noise on the discriminator's labels. As in Radford et
al., the generator normalises with BatchNorm + ReLU (``batchnorm: true``): on a CPU budget it
reaches recognisable garments in far fewer steps. The BatchNorm is synchronized across replicas,
so N workers compute the statistics of the whole global batch, exactly as one worker would.

Conditional GAN (``cgan``): Mirza & Osindero, "Conditional Generative Adversarial Nets" (2014),
in the form of keras-io's conditional GAN example: the class label reaches the generator as a
learned embedding concatenated to z, and the discriminator as one-hot extra input channels (channel
y all ones for class y). The DCGAN networks do the rest. Evaluation adds the
feature classifier's accuracy on generated samples per requested class.

WGAN-GP (``wgan_gp``): Gulrajani et al., "Improved Training of Wasserstein GANs" (2017): a critic
with an unbounded score (no sigmoid) trained ``critic_steps`` times per generator step on
E[f(fake)] - E[f(real)] + lambda * E[(||grad f(x_hat)|| - 1)^2], x_hat on lines between real and
fake, with Adam(lr=1e-4, beta_1=0, beta_2=0.9) as in the paper.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.config_checks import check_batch_splits
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.gan_config import CONFIGS, CGANConfig, DCGANConfig, WGANGPConfig  # noqa: F401 (re-exported)
from genlab.models.image import ImageModel, check_multiple_of_4


def generator_block(x, cfg: DCGANConfig):
    """The activation after each generator layer: BatchNorm + ReLU, or LeakyReLU alone."""
    if cfg.batchnorm:
        x = layers.BatchNormalization(synchronized=True)(x)  # statistics of the global batch
        return layers.ReLU()(x)
    return layers.LeakyReLU(0.2)(x)


def build_generator(cfg: DCGANConfig, shape: tuple[int, ...]) -> keras.Model:
    h, w, c = shape
    s = h // 4  # two stride-2 upsamplings reach the full size
    bias = not cfg.batchnorm  # BatchNorm's offset replaces the bias
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(s * s * cfg.width * 4, use_bias=bias)(z)  # (s*s*4w)
    x = generator_block(x, cfg)
    x = layers.Reshape((s, s, cfg.width * 4))(x)  # (s, s, 4w)
    x = layers.Conv2DTranspose(cfg.width * 2, 4, strides=2, padding="same", use_bias=bias)(x)  # (2s, 2s, 2w)
    x = generator_block(x, cfg)
    x = layers.Conv2DTranspose(cfg.width, 4, strides=2, padding="same", use_bias=bias)(x)  # (4s, 4s, w)
    x = generator_block(x, cfg)
    x = layers.Conv2D(c, 5, padding="same", activation="sigmoid", dtype="float32")(x)  # (h, w, c) in [0, 1]
    return keras.Model(z, x, name="generator")


def build_discriminator(
    shape: tuple[int, ...], width: int, dropout: float = 0.0, name: str = "discriminator"
) -> keras.Model:
    """Image -> one unbounded float32 score: DCGAN's discriminator (a logit, with ``dropout`` before
    it as Chollet) and WGAN-GP's critic (no dropout). Three stride-2 convolutions with LeakyReLU and
    no normalisation: batch norm would couple the examples and break WGAN-GP's per-example
    gradient penalty (Gulrajani et al., section 4)."""
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(width * 2, 4, strides=2, padding="same")(image)  # (h/2, w/2, 2w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(width * 4, 4, strides=2, padding="same")(x)  # (h/4, w/4, 4w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(width * 4, 4, strides=2, padding="same")(x)  # (h/8, w/8, 4w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    score = layers.Dense(1, dtype="float32")(x)  # (1,) float32 under mixed precision
    return keras.Model(image, score, name=name)


def adam_pair(learning_rate: float, beta_1: float) -> dict:
    """One Adam per network, as in Radford et al. (beta_1 = 0.5)."""
    return {
        name: keras.optimizers.Adam(learning_rate, beta_1=beta_1) for name in ("generator", "discriminator")
    }


def bce(targets, logits):
    """Per-example binary cross-entropy on logits."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), axis=-1)


class UnconditionalGAN(ImageModel):
    """Sampling shared by the GANs whose generator maps z ~ N(0, I) straight to an image."""

    sampling_networks = ("generator",)
    serving_output = "image"  # the serving signature's output name

    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def serving_function(self):
        net = self.networks["generator"]

        def serve(z):  # (n, latent_dim) -> (n, h, w, c) in [0, 1]
            return {self.serving_output: tf.cast(net(z, training=False), tf.float32)}

        return serve, [tf.TensorSpec((None, self.latent_dim()), tf.float32, name="z")]

    def decode(self, z) -> np.ndarray:
        return np.asarray(self.networks["generator"](np.asarray(z, np.float32), training=False))

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim())).astype(np.float32)
        return self.decode(z)


def adversarial_step(model: GenerativeModel, real, labels, ctx: StepContext) -> dict:
    """One step of the DCGAN game on one replica: the discriminator, then the generator.

    ``labels`` is None (DCGAN) or the real batch's (b, 1) class indices (cGAN), which both networks
    then take as a second input: the discriminator judges (image, label) pairs and the generator
    draws fakes of the same labels (as keras-io's conditional GAN).
    """
    gen, disc = model.networks["generator"], model.networks["discriminator"]
    cfg = model.cfg

    def conditioned(x):  # a network's input: x alone, or x with the labels
        return x if labels is None else [x, labels]

    real = tf.convert_to_tensor(real)  # (b, h, w, c)
    ones = tf.ones((tf.shape(real)[0], 1))

    # Discriminator: real -> 1, fake -> 0, with noisy targets (Chollet's trick).
    z = ctx.normal([cfg.latent_dim])
    noise_real = cfg.label_noise * ctx.uniform([1])
    noise_fake = cfg.label_noise * ctx.uniform([1])
    with tf.GradientTape() as tape:
        fake = gen(conditioned(z), training=True)
        d_real = disc(conditioned(real), training=True)
        d_fake = disc(conditioned(fake), training=True)
        d_loss = ctx.mean(bce(ones - noise_real, d_real) + bce(noise_fake, d_fake))
    grads = tape.gradient(d_loss, disc.trainable_variables)
    model.optimizers["discriminator"].apply_gradients(zip(grads, disc.trainable_variables, strict=True))

    # Generator: make the discriminator say 1 (to fakes of the requested labels).
    z = ctx.normal([cfg.latent_dim])
    with tf.GradientTape() as tape:
        g_loss = ctx.mean(bce(ones, disc(conditioned(gen(conditioned(z), training=True)), training=True)))
    grads = tape.gradient(g_loss, gen.trainable_variables)
    model.optimizers["generator"].apply_gradients(zip(grads, gen.trainable_variables, strict=True))
    return {"d_loss": d_loss, "g_loss": g_loss}


class DCGAN(UnconditionalGAN):
    family = "dcgan"

    def __init__(self, cfg: DCGANConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        check_multiple_of_4(spec.shape, "dcgan's generator")
        self.networks = {
            "generator": build_generator(cfg, spec.shape),
            "discriminator": build_discriminator(spec.shape, cfg.width, cfg.dropout),
        }
        self.optimizers = adam_pair(train_cfg.learning_rate, cfg.beta_1)

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        return adversarial_step(self, batch["image"], None, ctx)


# --- conditional GAN (Mirza & Osindero 2014) ---------------------------------------------------


def build_conditional_generator(cfg: CGANConfig, shape: tuple[int, ...], num_classes: int) -> keras.Model:
    z = keras.Input((cfg.latent_dim,), name="z")
    label = keras.Input((1,), dtype="int32", name="label")
    e = layers.Embedding(
        num_classes,
        cfg.embed_dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
        name="label_embedding",
    )(label)  # (1, embed_dim), on the scale of z
    e = layers.Flatten()(e)  # (embed_dim,)
    x = layers.Concatenate()([z, e])  # (latent_dim + embed_dim,)
    body = build_generator(dataclasses.replace(cfg, latent_dim=cfg.latent_dim + cfg.embed_dim), shape)
    return keras.Model([z, label], body(x), name="conditional_generator")  # (h, w, c) in [0, 1]


def build_conditional_discriminator(cfg: CGANConfig, shape: tuple[int, ...], num_classes: int) -> keras.Model:
    h, w, c = shape
    image = keras.Input(shape, name="image")
    label = keras.Input((1,), dtype="int32", name="label")
    onehot = layers.CategoryEncoding(num_classes, output_mode="one_hot", name="one_hot")(label)  # (k,)
    maps = layers.Reshape((1, 1, num_classes))(onehot)  # (1, 1, k)
    maps = layers.UpSampling2D((h, w))(maps)  # (h, w, k): channel y is all ones
    x = layers.Concatenate()([image, maps])  # (h, w, c + k)
    body = build_discriminator((h, w, c + num_classes), cfg.width, cfg.dropout)
    return keras.Model([image, label], body(x), name="conditional_discriminator")  # (1,) a logit


def class_blocks(n: int, num_classes: int) -> np.ndarray:
    """The labels ``sample(n, seed)`` requests: classes in order, in equal contiguous blocks.

    Example k gets class ``k * num_classes // n``, so a grid with ``num_classes`` rows shows one
    class per row, and ``evaluate`` (which samples with labels=None) gets balanced classes.
    """
    return (np.arange(n) * num_classes // n).astype(np.int32)


class ConditionalGAN(ImageModel):
    """A DCGAN told which class to draw. Both steps use the real batch's labels (as keras-io)."""

    family = "cgan"
    has_labels = True
    sampling_networks = ("generator",)

    def __init__(self, cfg: CGANConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if spec.num_classes < 2:
            raise ConfigError(
                f"model.family: cgan needs a labelled dataset with >= 2 classes; "
                f"data.dataset has {spec.num_classes}"
            )
        check_multiple_of_4(spec.shape, "cgan's generator")
        k = spec.num_classes
        self.networks = {
            "generator": build_conditional_generator(cfg, spec.shape, k),
            "discriminator": build_conditional_discriminator(cfg, spec.shape, k),
        }
        self.optimizers = adam_pair(train_cfg.learning_rate, cfg.beta_1)

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        labels = tf.reshape(tf.cast(batch["label"], tf.int32), (-1, 1))  # (b, 1)
        return adversarial_step(self, batch["image"], labels, ctx)

    def _labels(self, n: int, labels) -> np.ndarray:
        k = self.spec.num_classes
        if labels is None:
            return class_blocks(n, k)
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(
                f"labels: expected {n} integer class indices, got shape {labels.shape} of {labels.dtype}"
            )
        if labels.min() < 0 or labels.max() >= k:
            raise ConfigError(
                f"labels: expected class indices in [0, {k}), got {labels.min()}..{labels.max()}"
            )
        return labels.astype(np.int32)

    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def serving_function(self):
        net = self.networks["generator"]

        def serve(z, label):  # (n, latent_dim), (n,) class indices -> (n, h, w, c) in [0, 1]
            return {"image": tf.cast(net([z, tf.reshape(label, (-1, 1))], training=False), tf.float32)}

        return serve, [
            tf.TensorSpec((None, self.cfg.latent_dim), tf.float32, name="z"),
            tf.TensorSpec((None,), tf.int32, name="label"),
        ]

    def decode(self, z, labels=None) -> np.ndarray:
        """Latents -> images; labels=None requests ``class_blocks`` (a 10-row interpolation on
        10 classes walks within one class per row)."""
        z = np.asarray(z, np.float32)
        y = self._labels(len(z), labels).reshape(-1, 1)
        return np.asarray(self.networks["generator"]([z, y], training=False))

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """n images of the requested classes; labels=None requests ``class_blocks(n)``."""
        labels = self._labels(n, labels)
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z, labels)

    def evaluate(
        self, data_uri: str, manifest, eval_cfg, details: dict | None = None
    ) -> dict[str, float | str]:
        """The image metrics plus how often the feature classifier recognises the requested class."""
        from genlab.evaluate.image_quality import score

        scored = score(self, data_uri, manifest, eval_cfg)
        if details is not None:  # requested vs recognised classes
            names, matrix = self.confusion(scored.samples, scored.extractor)
            details["confusion_matrix"] = {"categories": names, "matrix": matrix}
        return {**scored.metrics, **self.sample_metrics(scored.samples, scored.extractor)}

    def sample_metrics(self, samples: np.ndarray, extractor) -> dict[str, float]:
        """The feature classifier's accuracy on samples drawn with labels=None, overall and per class."""
        requested = class_blocks(len(samples), self.spec.num_classes)
        correct = extractor.predict(samples) == requested
        metrics = {"class_accuracy": float(correct.mean())}
        for k in range(self.spec.num_classes):
            if (requested == k).any():
                metrics[f"class_accuracy_{k}"] = float(correct[requested == k].mean())
        return metrics

    def confusion(self, samples: np.ndarray, extractor) -> tuple[list[str], list[list[int]]]:
        """Requested (rows, ``class_blocks``) vs recognised (columns, the feature classifier) classes."""
        k = self.spec.num_classes
        requested = class_blocks(len(samples), k)
        counts = np.zeros((k, k), np.int64)
        np.add.at(counts, (requested, extractor.predict(samples)), 1)
        names = list(self.spec.class_names) or [str(i) for i in range(k)]
        return names, counts.tolist()

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        """One row of samples per requested class, labelled by the class's name."""
        import html

        from genlab import io, report
        from genlab.generate.images import grid, save_png, to_png

        k, cols = self.spec.num_classes, exp.generate.cols
        samples = self.sample(k * cols, seed=exp.generate.seed, labels=np.repeat(np.arange(k), cols))
        save_png(io.join(out_dir, "samples_by_class.png"), grid(samples, k, cols))
        names = self.spec.class_names or tuple(str(i) for i in range(k))
        rows = [
            "<p>Each row requests one class; <code>class_accuracy_&lt;i&gt;</code> in the metrics is "
            "the feature classifier's accuracy on that class's samples.</p>",
            "<table><tr><th>class</th><th>i</th><th>samples</th></tr>",
        ]
        for i in range(k):
            strip = to_png(grid(samples[i * cols : (i + 1) * cols], 1, cols))
            rows.append(
                f"<tr><td>{html.escape(names[i])}</td><td>{i}</td>"
                f"<td>{report.img_tag(strip, names[i])}</td></tr>"
            )
        rows.append("</table>")
        return [("Samples by class", "\n".join(rows))]


# --- WGAN-GP (Gulrajani et al. 2017) ------------------------------------------------------------


def gradient_penalty(critic, real, fake, eps, weight: float):
    """Per-example lambda * (||grad_x f(x_hat)||_2 - 1)^2 at x_hat = eps * real + (1 - eps) * fake.

    ``eps`` has shape (b, 1, 1, 1), uniform in [0, 1]. The critic treats examples independently,
    so the gradient of the summed scores w.r.t. x_hat holds each example's own gradient.
    """
    x_hat = tf.convert_to_tensor(eps * real + (1.0 - eps) * fake)  # (b, h, w, c)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score = critic(x_hat, training=True)  # (b, 1)
    grad = tape.gradient(score, x_hat)  # (b, h, w, c)
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=list(range(1, len(grad.shape)))) + 1e-12)  # (b,)
    return weight * tf.square(norm - 1.0)


def check_critic_batches(family: str, cfg, train_cfg) -> None:
    """Each worker's batch splits into ``model.critic_steps`` critic batches (WGAN-GP and MuseGAN)."""
    why = f"{family} splits each worker's batch into model.critic_steps ({cfg.critic_steps}) critic batches"
    check_batch_splits(train_cfg, cfg.critic_steps, "critic_steps", why)


class WGANGP(UnconditionalGAN):
    """WGAN with gradient penalty.

    The paper draws a fresh real batch for each of the ``critic_steps`` critic updates, but
    ``train_step`` receives one batch. So the global batch holds ``critic_steps`` critic batches:
    critic update i uses the i-th contiguous chunk of m = batch_size / critic_steps real images
    (on every replica the i-th chunk of its slice, which together are rows [i*m, (i+1)*m) of the
    global batch, so 1 and N workers see the same chunks), with the i-th chunk of fresh latents
    and interpolation weights. The generator update then uses m fresh latents. One step therefore
    consumes ``batch_size`` real images exactly once and makes one generator update.
    """

    family = "wgan_gp"

    def __init__(self, cfg: WGANGPConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        check_multiple_of_4(spec.shape, "wgan_gp's generator")
        check_critic_batches("wgan_gp", cfg, train_cfg)
        self.networks = {
            "generator": build_generator(cfg, spec.shape),
            "critic": build_discriminator(spec.shape, cfg.width, name="critic"),
        }
        lr = train_cfg.learning_rate
        self.optimizers = {
            "generator": keras.optimizers.Adam(lr, beta_1=cfg.beta_1, beta_2=cfg.beta_2),
            "critic": keras.optimizers.Adam(lr, beta_1=cfg.beta_1, beta_2=cfg.beta_2),
        }

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        gen, critic = self.networks["generator"], self.networks["critic"]
        n = self.cfg.critic_steps
        real = batch["image"]  # (b, h, w, c): n critic batches of m = b / n
        m = tf.shape(real)[0] // n

        def chunk_mean(per_example):  # the mean over one global critic batch (this replica's share)
            return ctx.mean(per_example) * n

        z_all = ctx.normal([self.latent_dim()])  # (b, latent): fresh latents for every critic batch
        eps_all = ctx.uniform([1] * (len(real.shape) - 1))  # (b, 1, 1, 1): interpolation weights
        d_losses, gps, distances = [], [], []
        for i in range(n):
            part = slice(i * m, (i + 1) * m)
            with tf.GradientTape() as tape:
                fake = gen(z_all[part], training=True)  # (m, h, w, c)
                f_real = tf.squeeze(critic(real[part], training=True), -1)  # (m,)
                f_fake = tf.squeeze(critic(fake, training=True), -1)  # (m,)
                gp = gradient_penalty(critic, real[part], fake, eps_all[part], self.cfg.gp_weight)  # (m,)
                d_loss = chunk_mean(f_fake - f_real + gp)
            grads = tape.gradient(d_loss, critic.trainable_variables)
            self.optimizers["critic"].apply_gradients(zip(grads, critic.trainable_variables, strict=True))
            d_losses.append(d_loss)
            gps.append(chunk_mean(gp))
            distances.append(chunk_mean(f_real - f_fake))

        # Generator: raise the critic's score of fakes.
        z = ctx.normal([self.latent_dim()])[:m]  # (m, latent)
        with tf.GradientTape() as tape:
            g_loss = chunk_mean(-tf.squeeze(critic(gen(z, training=True), training=True), -1))
        grads = tape.gradient(g_loss, gen.trainable_variables)
        self.optimizers["generator"].apply_gradients(zip(grads, gen.trainable_variables, strict=True))
        mean = tf.math.reduce_mean
        return {"d_loss": mean(d_losses), "g_loss": g_loss, "gp": mean(gps), "wasserstein": mean(distances)}


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"dcgan": DCGAN, "cgan": ConditionalGAN, "wgan_gp": WGANGP}[cfg.family](cfg, spec, train_cfg)
