"""The textbook baselines of ``benchmarks.time_to_quality``: each family as the keras.io example
builds and trains it, with ``model.fit`` over an overridden ``train_step`` and the example's own
hyper-parameters, on genlab's prepared train split. Sources (keras-team/keras-io):

- DCGAN: ``guides/custom_train_step_in_tensorflow.py`` ("Wrapping up: an end-to-end GAN example",
  the MNIST GAN that ``examples/generative/dcgan_overriding_train_step.py`` scales up to CelebA).
- cGAN: ``examples/generative/conditional_gan.py``.
- VAE: ``examples/generative/vae.py``.

Each is adapted only where the data differs (28x28x1 Fashion-MNIST in [0, 1], genlab's train
split, ``repeat()`` so that the run stops on a time budget rather than an epoch count) and
written here, not copied. Training is timed by ``genlab.train.fid_curve.FidCurve``'s clock, the
same one genlab's loop uses, which stops while the curve scores samples.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.models.gan import class_blocks

FAMILIES = ("dcgan", "cgan", "vae")


def _gan_discriminator(shape: tuple[int, ...], channels: int) -> keras.Model:
    # keras-io guide and conditional_gan.py: two 3x3 stride-2 convs (64, 128), LeakyReLU(0.2),
    # global max pooling, one logit
    return keras.Sequential(
        [
            keras.Input((*shape[:2], channels)),
            layers.Conv2D(64, 3, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 3, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ]
    )


def _gan_generator(shape: tuple[int, ...], inputs: int, base_channels: int) -> keras.Model:
    # keras-io: Dense to a 7x7 map, two 4x4 stride-2 transposed convs of 128, LeakyReLU(0.2),
    # a 7x7 sigmoid conv to the image (the guide's base map has 128 channels, the cGAN's 128 + classes)
    h, w, c = shape
    return keras.Sequential(
        [
            keras.Input((inputs,)),
            layers.Dense((h // 4) * (w // 4) * base_channels),
            layers.LeakyReLU(0.2),
            layers.Reshape((h // 4, w // 4, base_channels)),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(c, 7, padding="same", activation="sigmoid"),
        ]
    )


class GAN(keras.Model):
    """keras-io's GAN: fakes labelled 1 and reals 0 with 0.05 uniform label noise, then the generator
    trained to make the discriminator say 0 ("real")."""

    latent_dim = 128  # keras-io guide

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.discriminator = _gan_discriminator(shape, shape[-1])
        self.generator = _gan_generator(shape, self.latent_dim, 128)

    def train_step(self, data):
        real = data["image"]
        b = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((b, self.latent_dim)))
        labels = tf.concat([tf.ones((b, 1)), tf.zeros((b, 1))], 0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))  # keras-io: "important trick"
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(tf.concat([fake, real], 0)))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))
        with tf.GradientTape() as tape:
            fake = self.generator(tf.random.normal((b, self.latent_dim)))
            g_loss = self.loss_fn(tf.zeros((b, 1)), self.discriminator(fake))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        return np.asarray(self.generator(z, training=False))


class ConditionalGAN(keras.Model):
    """keras-io's conditional GAN: one-hot labels concatenated to z and, as constant channels, to
    the discriminator's image; no label noise."""

    latent_dim = 128  # conditional_gan.py

    def __init__(self, shape: tuple[int, ...], num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.discriminator = _gan_discriminator(shape, shape[-1] + num_classes)
        inputs = self.latent_dim + num_classes
        self.generator = _gan_generator(shape, inputs, inputs)

    def _with_label_channels(self, images, one_hot):
        h, w = images.shape[1], images.shape[2]
        maps = tf.tile(one_hot[:, None, None, :], [1, h, w, 1])
        return tf.concat([images, maps], -1)

    def train_step(self, data):
        real = data["image"]
        one_hot = tf.one_hot(tf.reshape(tf.cast(data["label"], tf.int32), [-1]), self.num_classes)
        b = tf.shape(real)[0]
        fake = self.generator(tf.concat([tf.random.normal((b, self.latent_dim)), one_hot], 1))
        images = tf.concat(
            [self._with_label_channels(fake, one_hot), self._with_label_channels(real, one_hot)], 0
        )
        labels = tf.concat([tf.ones((b, 1)), tf.zeros((b, 1))], 0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))
        with tf.GradientTape() as tape:
            fake = self.generator(tf.concat([tf.random.normal((b, self.latent_dim)), one_hot], 1))
            score = self.discriminator(self._with_label_channels(fake, one_hot))
            g_loss = self.loss_fn(tf.zeros((b, 1)), score)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """Balanced classes in blocks, as genlab's cGAN samples with labels=None."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        one_hot = np.eye(self.num_classes, dtype=np.float32)[class_blocks(n, self.num_classes)]
        return np.asarray(self.generator(np.concatenate([z, one_hot], 1), training=False))


class VAE(keras.Model):
    """keras-io's convolutional VAE: a 2-d latent, per-pixel binary cross-entropy summed over the
    image plus the Gaussian KL, on the grey levels in [0, 1] (no binarization)."""

    latent_dim = 2  # vae.py

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        h, w, c = shape
        self.encoder = keras.Sequential(
            [
                keras.Input(shape),
                layers.Conv2D(32, 3, activation="relu", strides=2, padding="same"),
                layers.Conv2D(64, 3, activation="relu", strides=2, padding="same"),
                layers.Flatten(),
                layers.Dense(16, activation="relu"),
                layers.Dense(2 * self.latent_dim),  # z_mean and z_log_var (two Dense layers in keras-io)
            ]
        )
        self.decoder = keras.Sequential(
            [
                keras.Input((self.latent_dim,)),
                layers.Dense((h // 4) * (w // 4) * 64, activation="relu"),
                layers.Reshape((h // 4, w // 4, 64)),
                layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same"),
                layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same"),
                layers.Conv2DTranspose(c, 3, activation="sigmoid", padding="same"),
            ]
        )

    def train_step(self, data):
        x = data["image"]
        with tf.GradientTape() as tape:
            z_mean, z_log_var = tf.split(self.encoder(x), 2, axis=-1)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            recon = tf.reduce_mean(
                tf.reduce_sum(keras.losses.binary_crossentropy(x, self.decoder(z)), axis=(1, 2))
            )
            kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            loss = recon + tf.reduce_mean(tf.reduce_sum(kl, axis=1))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return {"loss": loss}

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        return np.asarray(self.decoder(z, training=False))  # the decoder's mean, as genlab's VAE


def build(family: str, shape: tuple[int, ...], num_classes: int) -> tuple[keras.Model, int]:
    """(compiled model, batch size) with the example's hyper-parameters."""
    if family == "dcgan":
        model, batch, lr = GAN(shape), 64, 3e-4  # guide: batch_size = 64, Adam(learning_rate=0.0003) x2
    elif family == "cgan":
        model, batch, lr = ConditionalGAN(shape, num_classes), 64, 3e-4  # conditional_gan.py: the same
    elif family == "vae":
        model = VAE(shape)
        model.compile(optimizer=keras.optimizers.Adam())  # vae.py: Adam's defaults (1e-3), batch 128
        return model, 128
    else:
        raise ValueError(
            f"textbook baseline: family {family!r} has none; expected one of {', '.join(FAMILIES)}"
        )
    model.compile()
    model.d_optimizer = keras.optimizers.Adam(lr)
    model.g_optimizer = keras.optimizers.Adam(lr)
    model.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    return model, batch


class _Clock(keras.callbacks.Callback):
    """Scores the curve every ``every_s`` training seconds and stops the fit at ``budget_s``."""

    def __init__(self, curve, budget_s: float, every_s: float):
        super().__init__()
        self.curve, self.budget_s, self.every_s = curve, budget_s, every_s
        self.next_s, self.steps = every_s, 0

    def on_train_begin(self, logs=None):
        self.curve.start()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        t = self.curve.train_seconds()
        if t >= self.next_s or t >= self.budget_s:
            self.curve.at(self.model, self.steps)
            self.next_s = t + self.every_s
        if t >= self.budget_s:
            self.model.stop_training = True


def train_curve(
    family: str, images, labels, num_classes: int, curve, budget_s: float, points: int, seed: int
):
    """Fit the textbook model on (images, labels) for ``budget_s`` training seconds, scoring
    ``curve`` about ``points`` times; return (steps, batch)."""
    keras.utils.set_random_seed(seed)
    model, batch = build(family, tuple(images.shape[1:]), num_classes)
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    ds = ds.shuffle(1024, seed=seed).batch(batch, drop_remainder=True).repeat()  # keras-io: shuffle(1024)
    clock = _Clock(curve, budget_s, budget_s / max(points, 1))
    model.fit(ds, epochs=1, steps_per_epoch=10**9, verbose=0, shuffle=False, callbacks=[clock])
    return clock.steps, batch
