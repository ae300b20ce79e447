"""CycleGAN: Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (ICCV 2017), trained on unpaired images of two domains.

- Generators G: A -> B and F: B -> A, each a ResNet (Johnson et al. 2016, as the paper's
  appendix 7.2): c7s1-w, d2w, d4w, ``res_blocks`` residual blocks, u2w, uw, c7s1-c with tanh;
  reflection padding and instance normalization (``genlab.models.patchgan``).
- Discriminators D_A, D_B: PatchGANs (``genlab.models.patchgan``).
- Losses (section 4): least-squares GAN (Mao et al. 2017): D minimises (D(real) - 1)^2 + D(fake)^2
  (halved), G minimises (D(G(a)) - 1)^2; cycle consistency lambda * (|F(G(a)) - a| + |G(F(b)) - b|),
  lambda = 10; identity lambda * identity_weight * (|G(b) - b| + |F(a) - a|), identity_weight = 0.5
  (section 5.2, reference default). The generators step first, then the discriminators on
  fakes drawn from a history of 50 generated images (Shrivastava et al. 2017): ``HistoryPool``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from genlab.models.base import DataSpec, StepContext
from genlab.models.cyclegan_config import CONFIGS, CycleGANConfig, check_experiment  # noqa: F401 (re-exported)
from genlab.models.image import check_multiple_of_4
from genlab.models.patchgan import ReflectionPad, build_patchgan, check_patchgan, instance_norm
from genlab.models.translation import TranslationModel


def build_resnet_generator(shape: tuple[int, ...], width: int, res_blocks: int, name: str) -> keras.Model:
    """(h, w, c) in [-1, 1] -> (h, w, c) in [-1, 1]; h and w multiples of 4."""
    c = shape[-1]
    image = keras.Input(shape, name="image")

    def conv_norm_relu(x, filters, kernel, strides=1, transpose=False, padding="same"):
        conv = layers.Conv2DTranspose if transpose else layers.Conv2D
        x = conv(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
        return layers.ReLU()(instance_norm()(x))

    x = conv_norm_relu(ReflectionPad(3)(image), width, 7, padding="valid")  # c7s1-w: (h, w, w)
    x = conv_norm_relu(x, width * 2, 3, strides=2)  # d2w: (h/2, w/2, 2w)
    x = conv_norm_relu(x, width * 4, 3, strides=2)  # d4w: (h/4, w/4, 4w)
    for _ in range(res_blocks):  # R4w: x + conv(conv(x)), shapes unchanged
        y = conv_norm_relu(ReflectionPad(1)(x), width * 4, 3, padding="valid")
        y = layers.Conv2D(width * 4, 3, padding="valid", use_bias=False)(ReflectionPad(1)(y))
        x = layers.Add()([x, instance_norm()(y)])
    x = conv_norm_relu(x, width * 2, 3, strides=2, transpose=True)  # u2w: (h/2, w/2, 2w)
    x = conv_norm_relu(x, width, 3, strides=2, transpose=True)  # uw: (h, w, w)
    x = layers.Conv2D(c, 7, padding="valid", dtype="float32")(ReflectionPad(3)(x))  # c7s1-c
    return keras.Model(image, layers.Activation("tanh", dtype="float32")(x), name=name)


def pool_step(buffer, count, images, u_swap, u_slot):
    """One query of the history pool, on the whole global batch, in order (the reference
    ``ImagePool.query``): while the pool is not full each image is stored and returned; then with
    probability 1/2 (``u_swap > 0.5``) an image is swapped for a random stored one (slot
    ``floor(u_slot * size)``), which is returned instead; otherwise the image itself is returned.

    buffer (size, h, w, c), count () int32, images (b, h, w, c), u_swap and u_slot (b,) in [0, 1).
    Returns (returned images, new buffer, new count).
    """
    size = tf.shape(buffer)[0]

    def body(i, buffer, count, out):
        image = images[i]
        filling = count < size
        swap = tf.logical_and(tf.logical_not(filling), u_swap[i] > 0.5)
        slot = tf.where(
            filling, count, tf.minimum(tf.cast(u_slot[i] * tf.cast(size, tf.float32), tf.int32), size - 1)
        )
        returned = tf.where(swap, buffer[slot], image)
        stored = tf.logical_or(filling, swap)
        buffer = tf.where(stored, tf.tensor_scatter_nd_update(buffer, [[slot]], image[None]), buffer)
        out = tf.tensor_scatter_nd_update(out, [[i]], returned[None])
        return i + 1, buffer, count + tf.cast(filling, tf.int32), out

    _, buffer, count, out = tf.while_loop(
        lambda i, *_: i < tf.shape(images)[0], body, (tf.constant(0), buffer, count, tf.zeros_like(images))
    )
    return out, buffer, count


def per_example(x):
    """Mean over every axis but the batch, in float32."""
    return tf.reduce_mean(tf.cast(x, tf.float32), axis=list(range(1, len(x.shape))))


def cycle_losses(g_ab, g_ba, real_a, real_b, fake_a=None, fake_b=None):
    """Per-example cycle |F(G(a)) - a| + |G(F(b)) - b| and identity |G(b) - b| + |F(a) - a| (L1 means)."""
    fake_b = g_ab(real_a) if fake_b is None else fake_b
    fake_a = g_ba(real_b) if fake_a is None else fake_a
    cycle = per_example(tf.abs(g_ba(fake_b) - real_a)) + per_example(tf.abs(g_ab(fake_a) - real_b))
    identity = per_example(tf.abs(g_ab(real_b) - real_b)) + per_example(tf.abs(g_ba(real_a) - real_a))
    return cycle, identity


class HistoryPool:
    """The discriminator's history of generated images, kept as tf.Variables.

    The pool's order-dependent sampling needs the whole global batch, so every replica gathers all
    replicas' images (``all_gather``), restores the global order, runs ``pool_step`` with the same
    stateless randomness, and keeps its own slice of the result. Every replica thus holds the same
    pool, one worker and N workers draw the same images, and the variables are written with
    ``ONLY_FIRST_REPLICA`` aggregation (identical values on all replicas) and checkpointed with the
    model (``state``), so a resumed run continues with the pool it had.
    """

    def __init__(self, size: int, shape: tuple[int, ...], name: str, stream: int):
        self.size, self.stream = size, stream
        sync = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.buffer = tf.Variable(tf.zeros((max(size, 1), *shape)), name=f"{name}_images", **sync)
        self.count = tf.Variable(0, dtype=tf.int32, name=f"{name}_count", **sync)

    def query(self, images, ctx: StepContext):
        if not self.size:
            return images
        replica = tf.distribute.get_replica_context()
        n = replica.num_replicas_in_sync if replica else 1
        full = images
        if n > 1:  # replica r holds global examples r, r + n, ...: gather, then interleave back
            gathered = replica.all_gather(images, axis=0)  # (n * m, ...) replica by replica
            m = tf.shape(images)[0]
            full = tf.reshape(tf.transpose(tf.reshape(gathered, [n, m, -1]), [1, 0, 2]), tf.shape(gathered))
        seed = tf.stack([tf.constant(ctx.seed * 1000 + 900 + self.stream, tf.int64), ctx.step])
        u = tf.random.stateless_uniform([tf.shape(full)[0], 2], seed)
        out, buffer, count = pool_step(
            tf.convert_to_tensor(self.buffer), tf.convert_to_tensor(self.count), full, u[:, 0], u[:, 1]
        )
        self.buffer.assign(buffer)
        self.count.assign(count)
        rid = replica.replica_id_in_sync_group if replica else 0
        return out[rid::n] if n > 1 else out


class CycleGAN(TranslationModel):
    family = "cyclegan"
    generators = ("gen_ab", "gen_ba")

    def __init__(self, cfg: CycleGANConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        check_multiple_of_4(self.image_shape, "cyclegan's generators")
        check_patchgan(self.image_shape, cfg.patch_layers, "cyclegan")
        shape = self.image_shape
        self.networks = {
            "gen_ab": build_resnet_generator(shape, cfg.width, cfg.res_blocks, "gen_ab"),
            "gen_ba": build_resnet_generator(shape, cfg.width, cfg.res_blocks, "gen_ba"),
            "disc_a": build_patchgan(shape, cfg.disc_width, cfg.patch_layers, "disc_a"),
            "disc_b": build_patchgan(shape, cfg.disc_width, cfg.patch_layers, "disc_b"),
        }
        lr = train_cfg.learning_rate
        self.optimizers = {  # one Adam per pair, as the reference (itertools.chain of both networks)
            "generators": keras.optimizers.Adam(lr, beta_1=cfg.beta_1),
            "discriminators": keras.optimizers.Adam(lr, beta_1=cfg.beta_1),
        }
        self.pools = {
            "a": HistoryPool(cfg.pool_size, shape, "pool_a", 1),
            "b": HistoryPool(cfg.pool_size, shape, "pool_b", 2),
        }

    def trainable_for(self, optimizer_name: str):
        names = ("gen_ab", "gen_ba") if optimizer_name == "generators" else ("disc_a", "disc_b")
        return [v for n in names for v in self.networks[n].trainable_variables]

    def state(self) -> dict:
        return {
            f"pool_{k}_{part}": getattr(p, part)
            for k, p in self.pools.items()
            for part in ("buffer", "count")
        }

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        g_ab, g_ba = self.networks["gen_ab"], self.networks["gen_ba"]
        d_a, d_b = self.networks["disc_a"], self.networks["disc_b"]
        real_a, real_b = self.split(tf.convert_to_tensor(batch["image"]))  # (b, h, w, c) each in [-1, 1]
        lam, ident = self.cfg.cycle_weight, self.cfg.cycle_weight * self.cfg.identity_weight

        with tf.GradientTape() as tape:
            fake_b, fake_a = g_ab(real_a, training=True), g_ba(real_b, training=True)
            adv = per_example(tf.square(d_b(fake_b, training=True) - 1.0)) + per_example(
                tf.square(d_a(fake_a, training=True) - 1.0)
            )
            cycle, identity = cycle_losses(
                lambda x: g_ab(x, training=True),
                lambda x: g_ba(x, training=True),
                real_a,
                real_b,
                fake_a,
                fake_b,
            )
            g_loss = ctx.mean(adv + lam * cycle + ident * identity)
        variables = self.trainable_for("generators")
        self.optimizers["generators"].apply_gradients(
            zip(tape.gradient(g_loss, variables), variables, strict=True)
        )

        old_b = self.pools["b"].query(tf.stop_gradient(tf.cast(fake_b, tf.float32)), ctx)
        old_a = self.pools["a"].query(tf.stop_gradient(tf.cast(fake_a, tf.float32)), ctx)
        with tf.GradientTape() as tape:
            d_loss_b = 0.5 * (
                per_example(tf.square(d_b(real_b, training=True) - 1.0))
                + per_example(tf.square(d_b(old_b, training=True)))
            )
            d_loss_a = 0.5 * (
                per_example(tf.square(d_a(real_a, training=True) - 1.0))
                + per_example(tf.square(d_a(old_a, training=True)))
            )
            d_loss = ctx.mean(d_loss_a + d_loss_b)
        variables = self.trainable_for("discriminators")
        self.optimizers["discriminators"].apply_gradients(
            zip(tape.gradient(d_loss, variables), variables, strict=True)
        )
        return {
            "g_loss": g_loss,
            "d_loss": d_loss,
            "g_adv": ctx.mean(adv),
            "cycle": ctx.mean(cycle),
        }

    def translation_metrics(self, d, eval_cfg) -> dict[str, float]:
        from genlab.evaluate.translation import cycle_metrics

        return cycle_metrics(self, d, eval_cfg)

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab.evaluate.translation import cycle_section

        return cycle_section(self, out_dir, exp, data_uri)


def build(cfg, spec: DataSpec, train_cfg) -> CycleGAN:
    return CycleGAN(cfg, spec, train_cfg)
