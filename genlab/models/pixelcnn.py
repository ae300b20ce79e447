"""PixelCNN (van den Oord et al., "Pixel Recurrent Neural Networks", 2016, and "Conditional Image
Generation with PixelCNN Decoders", 2016), as in Foster's *Generative Deep Learning* (ch. 5).

An autoregressive model of quantised pixels in raster order: p(x) = prod_t p(x_t | x_<t). Masked
convolutions keep it causal: the first layer (type A) hides the centre pixel and everything after it,
later layers (type B) may see the centre, because their centre holds features of earlier pixels only.
A stack of residual blocks (1x1 -> masked kxk -> 1x1, plus the skip) feeds 1x1 layers and a
categorical distribution over ``levels`` values per subpixel.

Colour (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", section 3.4): the subpixels of
one pixel are predicted in order R -> G -> B, p(x_t) = p(R | x_<t) p(G | x_<t, R) p(B | x_<t, R, G).
Every layer's features are split into one group per colour (feature k of n belongs to colour
k * colours // n), and at the centre pixel a type-A mask lets group c see only input groups < c, a
type-B mask groups <= c; above and left of the centre every group sees every group. With colour the
1x1 layers are masked (type B) too, or they would mix the groups. With one channel every mask is the
greyscale one and the 1x1 layers are plain convolutions.

Pixels are quantised to ``levels`` values (4 as in Foster, up to 256). Test metrics: the NLL in nats
per image and bits/dim = NLL / (subpixels * ln 2), subpixels = h * w * channels. With 256 levels
these are the units papers use (PixelCNN: 3.14 bits/dim on the CIFAR-10 test set); with fewer they
are bits per *quantised* dim, not comparable with the 8-bit numbers in papers.

Sampling is sequential, one subpixel per step (raster order, R -> G -> B within a pixel).
``naive_sampler`` runs the whole network on the whole canvas at every step (the textbook loop).
``fast_sampler`` caches activations (Ramachandran et al., "Fast Generation for Convolutional
Autoregressive Models", 2017): in a causal stack, every layer's output at pixel t depends only on
pixels before t (and on t's earlier colours), so at step t each layer computes its output at t
alone, from the cached outputs of the layer below in its (masked) kernel window; with colour it
does so once per subpixel, overwriting t's cache entries. Only the inputs of kxk layers need a
cache; a step costs O(1) instead of O(pixels). Both samplers draw one uniform number per subpixel
from the seed up front, invert the same categorical CDF in the same order, and compute in float64,
so they return the same samples (checked with ``np.array_equal`` in the tests).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.image import ImageModel
from genlab.models.pixelcnn_config import CONFIGS, PixelCNNConfig  # noqa: F401 (re-exported)

# --- quantisation ----------------------------------------------------------------------------


def quantise(x, levels: int):
    """Images in [0, 1] (8-bit values / 255) -> integer levels 0..levels-1 (Foster's ``v // (256 / L)``)."""
    v = tf.round(tf.cast(x, tf.float32) * 255.0)
    return tf.cast(tf.minimum(tf.floor(v * levels / 256.0), levels - 1), tf.int32)


def level_to_unit(q, levels: int, dtype=tf.float32):
    """Integer levels -> [0, 1]: the network's input and the sampled picture."""
    return tf.cast(q, dtype) / float(levels - 1)


# --- networks --------------------------------------------------------------------------------


def colour_groups(n: int, colours: int) -> np.ndarray:
    """The colour each of ``n`` features belongs to: feature k -> k * colours // n (contiguous runs,
    so the logits' ``channels * levels`` features map to colour k // levels, as they are reshaped)."""
    return np.arange(n) * colours // n


def causal_mask(
    kernel: int, mask_type: str, in_features: int = 1, out_features: int = 1, colours: int = 1
) -> np.ndarray:
    """(k, k, in, out) mask: 1 above the centre row and left of the centre; at the centre, output
    colour group c sees input groups < c (type A) or <= c (type B). One colour: the centre only for B."""
    c = kernel // 2
    mask = np.zeros((kernel, kernel, in_features, out_features), np.float32)
    mask[:c] = 1.0
    mask[c, :c] = 1.0
    g_in = colour_groups(in_features, colours)[:, None]
    g_out = colour_groups(out_features, colours)[None, :]
    mask[c, c] = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    return mask


@keras.saving.register_keras_serializable(package="genlab")
class MaskedConv2D(layers.Layer):
    """A 'same'-padded convolution whose kernel is multiplied by a causal mask on every call."""

    # Not mutated: Keras reads this signature, which mutmut's wrapper would hide (docs/testing.md).
    def __init__(
        self, filters: int, kernel_size: int, mask_type: str, activation=None, colours: int = 1, **kwargs
    ):  # pragma: no mutate block
        super().__init__(**kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        self.filters, self.kernel_size, self.mask_type = filters, kernel_size, mask_type
        self.colours = colours
        self.activation = keras.activations.get(activation)

    def get_config(self):  # what a .keras file needs to rebuild the layer
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "activation": keras.activations.serialize(self.activation),
            "colours": self.colours,
        }

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, input_shape[-1], self.filters), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.mask = causal_mask(k, self.mask_type, input_shape[-1], self.filters, self.colours)

    def masked_kernel(self):
        return self.kernel * self.mask

    def call(self, x):
        y = keras.ops.conv(x, self.masked_kernel(), padding="same") + self.bias
        return self.activation(y)


def pointwise(filters: int, name: str, colours: int, activation="relu"):
    """A 1x1 convolution; with colour a type-B masked one, so it keeps the colour groups apart."""
    if colours == 1:
        return layers.Conv2D(filters, 1, activation=activation, name=name)
    return MaskedConv2D(filters, 1, "B", activation=activation, colours=colours, name=name)


def residual_block(x, cfg: PixelCNNConfig, k: int, colours: int):
    half = cfg.filters // 2
    h = pointwise(half, f"block{k}_in", colours)(x)  # (h, w, f/2)
    h = MaskedConv2D(half, cfg.kernel, "B", "relu", colours, name=f"block{k}_masked")(h)  # (h, w, f/2)
    h = pointwise(cfg.filters, f"block{k}_out", colours)(h)  # (h, w, f)
    return layers.Add(name=f"block{k}_add")([x, h])  # (h, w, f)


def build_pixelcnn(cfg: PixelCNNConfig, shape: tuple[int, ...]) -> keras.Model:
    h, w, c = shape
    image = keras.Input(shape, name="image")  # (h, w, c) levels scaled to [0, 1]
    x = MaskedConv2D(cfg.filters, cfg.first_kernel, "A", "relu", c, name="masked_a")(image)  # (h, w, f)
    for k in range(cfg.residual_blocks):
        x = residual_block(x, cfg, k, c)  # (h, w, f)
    for k in range(cfg.head_layers):
        x = pointwise(cfg.filters, f"head{k}", c)(x)  # (h, w, f)
    x = pointwise(c * cfg.levels, "logits", c, activation=None)(x)  # (h, w, c * levels), colour-major
    logits = layers.Reshape((h, w, c, cfg.levels))(x)  # (h, w, c, levels)
    return keras.Model(image, logits, name="pixelcnn")


# --- float64 forward passes for sampling -----------------------------------------------------


def sampling_params(net: keras.Model, cfg: PixelCNNConfig) -> dict:
    """Each layer's (masked) kernel and bias as float64 tensors, keyed by layer name."""
    params = {}
    for layer in net.layers:
        if isinstance(layer, MaskedConv2D):
            kernel = layer.masked_kernel()
        elif isinstance(layer, layers.Conv2D):
            kernel = layer.kernel
        else:
            continue
        params[layer.name] = (
            tf.constant(np.asarray(kernel), tf.float64),
            tf.constant(np.asarray(layer.bias), tf.float64),
        )
    return params


def forward_full(x, params: dict, cfg: PixelCNNConfig):
    """The whole network on a whole canvas (n, h, w, c) -> logits (n, h, w, c, levels), float64."""

    def conv(name, t, relu=True):
        kernel, bias = params[name]
        y = tf.nn.conv2d(t, kernel, strides=1, padding="SAME") + bias
        return tf.nn.relu(y) if relu else y

    h = conv("masked_a", x)
    for k in range(cfg.residual_blocks):
        h = h + conv(f"block{k}_out", conv(f"block{k}_masked", conv(f"block{k}_in", h)))
    for k in range(cfg.head_layers):
        h = conv(f"head{k}", h)
    logits = conv("logits", h, relu=False)
    shape = tf.shape(x)
    return tf.reshape(logits, [shape[0], shape[1], shape[2], shape[3], cfg.levels])


def inverse_cdf(logits, u, temperature: float):
    """Categorical draw by inverting the CDF with uniforms ``u``: logits (..., L), u (...) -> int32 (...)."""
    cdf = tf.cumsum(tf.nn.softmax(logits / temperature, axis=-1), axis=-1)
    q = tf.reduce_sum(tf.cast(cdf < u[..., None], tf.int32), axis=-1)
    return tf.minimum(q, tf.shape(logits)[-1] - 1)  # u beyond a CDF that rounds below 1


def _write(canvas, i, j, ch, value):
    """canvas[:, i, j, ch] = value (n,), for a loop-carried (n, h, w, c) tensor."""
    n = value.shape[0]
    index = tf.stack([tf.range(n), tf.fill([n], i), tf.fill([n], j), tf.fill([n], ch)], 1)
    return tf.tensor_scatter_nd_update(canvas, index, value)


def naive_sampler(cfg: PixelCNNConfig):
    """The textbook loop: at each subpixel, recompute the whole network on the whole canvas.

    Returns ``run(params, u, temperature)``: u (n, h, w, c) float64 uniforms, consumed in raster
    order, R -> G -> B within a pixel -> int32 levels (n, h, w, c). Build it once and call it many
    times (it traces per shape).
    """

    @tf.function
    def run(params, u, temperature):
        n, h, w, c = u.shape

        def body(t, canvas, out):
            i, j, ch = t // (w * c), t // c % w, t % c
            logits = forward_full(canvas, params, cfg)[:, i, j, ch]  # (n, levels)
            q = inverse_cdf(logits, u[:, i, j, ch], temperature)  # (n,)
            canvas = _write(canvas, i, j, ch, level_to_unit(q, cfg.levels, tf.float64))
            return t + 1, canvas, _write(out, i, j, ch, q)

        canvas = tf.zeros([n, h, w, c], tf.float64)
        out = tf.zeros([n, h, w, c], tf.int32)
        _, _, out = tf.while_loop(lambda t, *_: t < h * w * c, body, [tf.constant(0), canvas, out])
        return out

    return lambda params, u, temperature=1.0: run(
        params, tf.constant(u, tf.float64), tf.constant(temperature, tf.float64)
    ).numpy()


def fast_sampler(cfg: PixelCNNConfig):
    """Cached sampling: at each subpixel every layer computes its output at that pixel only.

    Caches: the canvas (input of the type-A layer) and each block's 1x1 output (input of its
    masked kxk layer), zero-padded like a 'same' convolution. The residual stream, the 1x1 layers
    and the logits are pointwise, so they need no cache. With colour the pixel is computed once per
    subpixel and its cache entries overwritten; after its last colour they hold the final values,
    since no feature sees the last colour at its own pixel (type A stops at the colours before it).
    Same inputs, order and uniforms as ``naive_sampler``; same signature. Compiled with XLA, which
    updates the caches in place.
    """
    pa, pb = cfg.first_kernel // 2, cfg.kernel // 2
    half = cfg.filters // 2

    @tf.function(jit_compile=True)
    def run(params, u, temperature):
        n, h, w, c = u.shape
        k_a, b_a = params["masked_a"]
        k_a = k_a[: pa + 1]  # (pa+1, ka, c, f): rows below the centre are masked out anyway
        blocks = [
            (
                params[f"block{k}_in"][0][0, 0],
                params[f"block{k}_in"][1],
                params[f"block{k}_masked"][0][: pb + 1],
                params[f"block{k}_masked"][1],
                params[f"block{k}_out"][0][0, 0],
                params[f"block{k}_out"][1],
            )
            for k in range(cfg.residual_blocks)
        ]
        heads = [(params[f"head{k}"][0][0, 0], params[f"head{k}"][1]) for k in range(cfg.head_layers)]
        w_logits, b_logits = params["logits"][0][0, 0], params["logits"][1]

        def body(t, canvas, caches, out):
            i, j, ch = t // (w * c), t // c % w, t % c
            # tf.slice with static sizes: XLA mis-compiled x[i:i+k] with a dynamic end here
            window = tf.slice(canvas, [0, i, j, 0], [n, pa + 1, 2 * pa + 1, c])  # (n, pa+1, ka, c)
            x = tf.nn.relu(tf.einsum("nabc,abcd->nd", window, k_a) + b_a)  # (n, f)
            new_caches = []
            for (wi, bi, km, bm, wo, bo), cache in zip(blocks, caches, strict=True):
                a = tf.nn.relu(x @ wi + bi)  # (n, f/2)
                cache = tf.tensor_scatter_nd_update(
                    cache, [[i + pb, j + pb]], a[None]
                )  # (h+pb, w+2pb, n, f/2)
                win = tf.slice(cache, [i, j, 0, 0], [pb + 1, 2 * pb + 1, n, half])  # (pb+1, kb, n, f/2)
                m = tf.nn.relu(tf.einsum("abnc,abcd->nd", win, km) + bm)  # (n, f/2)
                x = x + tf.nn.relu(m @ wo + bo)  # (n, f)
                new_caches.append(cache)
            for wh, bh in heads:
                x = tf.nn.relu(x @ wh + bh)  # (n, f)
            logits = tf.reshape(x @ w_logits + b_logits, [n, c, cfg.levels])[:, ch]  # (n, levels)
            q = inverse_cdf(logits, u[:, i, j, ch], temperature)  # (n,)
            canvas = _write(canvas, i + pa, j + pa, ch, level_to_unit(q, cfg.levels, tf.float64))
            return t + 1, canvas, new_caches, _write(out, i, j, ch, q)

        canvas = tf.zeros([n, h + pa, w + 2 * pa, c], tf.float64)  # padded top, left and right
        caches = [tf.zeros([h + pb, w + 2 * pb, n, half], tf.float64) for _ in blocks]
        out = tf.zeros([n, h, w, c], tf.int32)
        *_, out = tf.while_loop(lambda t, *_: t < h * w * c, body, [tf.constant(0), canvas, caches, out])
        return out

    return lambda params, u, temperature=1.0: run(
        params, tf.constant(u, tf.float64), tf.constant(temperature, tf.float64)
    ).numpy()


def sampling_uniforms(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """All the randomness of sampling n images, drawn up front: one uniform per subpixel."""
    return np.random.default_rng(seed).random((n, *shape))


# --- the model -------------------------------------------------------------------------------


class PixelCNN(ImageModel):
    family = "pixelcnn"
    sampling_networks = ("pixelcnn",)  # no serving signature: sampling is the cached loop below

    def __init__(self, cfg: PixelCNNConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if spec.binarize and cfg.levels != 2:
            raise ConfigError(
                f"model.levels: data.binarize gives 2 levels per pixel, got levels {cfg.levels}"
            )
        colours = spec.shape[-1]
        if colours > 1 and cfg.filters // 2 < colours:
            raise ConfigError(
                f"model.filters: expected at least {2 * colours} for {colours}-channel images (the "
                f"residual blocks' filters // 2 features are split into one group per channel), "
                f"got {cfg.filters}"
            )
        self.networks = {"pixelcnn": build_pixelcnn(cfg, spec.shape)}
        self.optimizers = {"pixelcnn": keras.optimizers.Adam(train_cfg.learning_rate)}
        self._samplers = {}  # compiled once, reused: weights are passed in at every call

    def dims(self) -> int:
        return int(np.prod(self.spec.shape))

    def to_levels(self, x, uniforms=None):
        """Images in [0, 1] -> levels; binarized data draws Bernoulli(x) with the given uniforms."""
        if self.spec.binarize:
            return tf.cast(uniforms < x, tf.int32)
        return quantise(x, self.cfg.levels)

    def nll(self, q, training: bool):
        """Per-example negative log-likelihood of levels q (n, h, w, c), nats per image."""
        logits = self.networks["pixelcnn"](level_to_unit(q, self.cfg.levels), training=training)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=q, logits=logits)  # (n, h, w, c)
        return tf.reduce_sum(ce, axis=[1, 2, 3])

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        x = batch["image"]  # (b, h, w, c) in [0, 1]
        q = self.to_levels(x, ctx.uniform(self.spec.shape) if self.spec.binarize else None)
        variables = self.trainable_for("pixelcnn")
        with tf.GradientTape() as tape:
            loss = ctx.mean(self.nll(q, training=True))  # nats per image
        grads = tape.gradient(loss, variables)
        self.optimizers["pixelcnn"].apply_gradients(zip(grads, variables, strict=True))
        return {"loss": loss, "bits_per_dim": loss / (self.dims() * math.log(2))}

    # --- generation ---
    def sample_levels(self, n: int, seed: int, temperature: float = 1.0, fast: bool = True) -> np.ndarray:
        """n images of integer levels (n, h, w, c); the fast and naive samplers agree exactly."""
        params = sampling_params(self.networks["pixelcnn"], self.cfg)
        u = sampling_uniforms(n, self.spec.shape, seed)
        if fast not in self._samplers:
            self._samplers[fast] = (fast_sampler if fast else naive_sampler)(self.cfg)
        sampler = self._samplers[fast]
        chunks = [
            sampler(params, u[i : i + self.cfg.sample_batch], temperature)
            for i in range(0, n, self.cfg.sample_batch)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, *self.spec.shape), np.int32)

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        return self.sample_levels(n, seed).astype(np.float32) / (self.cfg.levels - 1)

    def latent_dim(self) -> int:
        return 0

    # --- evaluation ---
    def likelihood_metrics(self, images: np.ndarray, eval_cfg) -> dict[str, float]:
        uniforms = np.random.default_rng(eval_cfg.seed).random(images.shape).astype(np.float32)
        nlls = [
            np.asarray(self.nll(self.to_levels(images[i : i + 500], uniforms[i : i + 500]), training=False))
            for i in range(0, len(images), 500)
        ]
        nll = float(np.concatenate(nlls).mean())
        # bits per subpixel; with 256 levels the papers' bits/dim, with fewer per *quantised* dim
        return {"nll": nll, "bits_per_dim": nll / (self.dims() * math.log(2))}

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab import io, report
        from genlab.generate.images import grid, save_png

        g = exp.generate
        temps = [t for t in g.temperatures if t > 0]
        if not temps:
            return []
        rows = [self.sample_levels(g.cols, g.seed, temperature=t) / (self.cfg.levels - 1) for t in temps]
        picture = grid(np.concatenate(rows).astype(np.float32), len(temps), g.cols)
        path = save_png(io.join(out_dir, "temperatures.png"), picture)
        caption = ", ".join(f"{t:g}" for t in temps)
        html = (
            f"<p>Rows: sampling temperature {caption} (same uniforms in every row; "
            f"{self.cfg.levels} levels per pixel).</p>" + report.img_tag(io.read_bytes(path), "temperatures")
        )
        return [("Samples by temperature", html)]


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"pixelcnn": PixelCNN}[cfg.family](cfg, spec, train_cfg)
