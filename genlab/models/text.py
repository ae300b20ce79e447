"""Character-level language models: an LSTM and a small Transformer decoder.

Text generation as in Chollet, *Deep Learning with Python* (2nd ed.), ch. 12: a network reads a
window of characters and predicts the next one at every position (cross-entropy, teacher
forcing); new text comes from sampling one character at a time and feeding it back in.

- ``char_lstm``: embedding -> stacked LSTMs -> per-position softmax (Karpathy's char-rnn,
  Chollet's character LSTM).
- ``transformer``: token + learned position embeddings -> pre-LayerNorm decoder blocks of causal
  multi-head self-attention and a GELU feed-forward (Vaswani et al., "Attention Is All You
  Need", 2017; the decoder-only form of Radford et al.'s GPT, 2018). The causal mask keeps
  position i from seeing positions > i.

Sampling reweights the next-character distribution by a temperature T, as in the book:
p^(1/T) renormalised, which is softmax(logits / T); T = 0 is greedy (argmax) decoding, and
top-k keeps only the k most likely characters. Metrics on the validation split: ``val_loss``
(nats per character), ``bits_per_char`` and ``perplexity``. There is no dropout: every random
number in a training step must come from the step context, so 1 and N workers stay identical.
"""

from __future__ import annotations

import html
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.text_config import CONFIGS, CharLSTMConfig, TransformerConfig  # noqa: F401 (re-exported)

# --- networks: int32 tokens (b, t) -> next-character logits (b, t, vocab) ---------------------


def build_char_lstm(cfg: CharLSTMConfig, vocab_size: int) -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # (b, t)
    x = layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")(tokens)  # (b, t, e)
    for i in range(cfg.layers):
        x = layers.LSTM(cfg.units, return_sequences=True, name=f"lstm_{i}")(x)  # (b, t, units)
    logits = layers.Dense(vocab_size, name="logits")(x)  # (b, t, vocab)
    return keras.Model(tokens, logits, name="char_lstm")


@keras.saving.register_keras_serializable(package="genlab")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned embedding of each position 0..t-1 (t <= max_len)."""

    def __init__(self, vocab_size: int, max_len: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_len, self.dim = vocab_size, max_len, dim
        self.token_embedding = layers.Embedding(vocab_size, dim, name="token")
        self.position_embedding = layers.Embedding(max_len, dim, name="position")

    def build(self, input_shape):  # the embeddings' weights exist before a .keras file's are loaded
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape)

    def get_config(self):  # what a .keras file needs to rebuild the layer
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "max_len": self.max_len,
            "dim": self.dim,
        }

    def call(self, tokens):
        positions = keras.ops.arange(keras.ops.shape(tokens)[-1])  # (t,)
        return self.token_embedding(tokens) + self.position_embedding(positions)  # (b, t, e)


def decoder_block(x, cfg: TransformerConfig, i: int):
    """Pre-LayerNorm block: x + causal self-attention, then x + feed-forward. (b, t, e) -> (b, t, e)."""
    h = layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_ln_attention")(x)
    attention = layers.MultiHeadAttention(
        cfg.num_heads, cfg.embed_dim // cfg.num_heads, name=f"block{i}_attention"
    )
    h = attention(h, h, use_causal_mask=True)  # (b, t, e): position i attends to positions <= i
    x = layers.Add(name=f"block{i}_residual_attention")([x, h])
    h = layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_ln_ff")(x)
    h = layers.Dense(cfg.ff_dim, activation="gelu", name=f"block{i}_ff_hidden")(h)  # (b, t, ff)
    h = layers.Dense(cfg.embed_dim, name=f"block{i}_ff_out")(h)  # (b, t, e)
    return layers.Add(name=f"block{i}_residual_ff")([x, h])


def build_transformer(cfg: TransformerConfig, vocab_size: int) -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # (b, t), t <= seq_len
    embed = TokenAndPositionEmbedding(vocab_size, cfg.seq_len, cfg.embed_dim, name="embedding")
    x = embed(tokens)  # (b, t, e)
    for i in range(cfg.layers):
        x = decoder_block(x, cfg, i)  # (b, t, e)
    x = layers.LayerNormalization(epsilon=1e-5, name="ln_final")(x)
    logits = layers.Dense(vocab_size, name="logits")(x)  # (b, t, vocab)
    return keras.Model(tokens, logits, name="transformer")


# --- sampling (numpy, float64) ----------------------------------------------------------------


def temperature_probs(logits, temperature: float) -> np.ndarray:
    """softmax(logits / T) over the last axis, i.e. Chollet's reweight_distribution: p^(1/T)
    renormalised. T <= 0 gives the one-hot argmax (greedy decoding)."""
    z = np.asarray(logits, np.float64)
    if temperature <= 0:
        return np.eye(z.shape[-1])[np.argmax(z, axis=-1)]
    z = z / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def top_k_filter(logits, k: int) -> np.ndarray:
    """Logits with all but the k largest per row set to -inf (k = 0 or k >= vocab: unchanged)."""
    z = np.array(logits, np.float64)
    if not k or k >= z.shape[-1]:
        return z
    keep = np.argpartition(z, -k, axis=-1)[..., -k:]  # exactly k indices per row, ties broken
    out = np.full_like(z, -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(z, keep, axis=-1), axis=-1)
    return out


def sample_next(logits, temperatures, top_ks, rng: np.random.Generator) -> np.ndarray:
    """One next token per row of ``logits`` (b, vocab), each row with its own temperature and k.

    Inverse-CDF sampling that can only land on a token of non-zero probability."""
    logits = np.asarray(logits, np.float64)
    choice = np.empty(len(logits), np.int64)
    u = rng.random(len(logits))
    for i, (row, t, k) in enumerate(zip(logits, temperatures, top_ks, strict=True)):
        cdf = np.cumsum(temperature_probs(top_k_filter(row[None], int(k))[0], float(t)))
        choice[i] = np.searchsorted(cdf, u[i] * cdf[-1], side="right")
    return choice


def token_nll(targets, logits):
    """Per-example mean cross-entropy (nats per character) of next-character targets (b, t)."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))
    return tf.reduce_mean(ce, axis=-1)  # (b,)


class CharLanguageModel(GenerativeModel):
    """Shared training, sampling and metrics; subclasses choose the network."""

    builder = None  # (cfg, vocab_size) -> keras.Model
    sampling_networks = ("lm",)

    def __init__(self, cfg, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if not spec.vocab:
            raise ConfigError(f"model.family: {cfg.family} is a text model and needs data.dataset: text")
        self.vocab = tuple(spec.vocab)
        self.seq_len = cfg.seq_len
        self.networks = {"lm": type(self).builder(cfg, len(self.vocab))}
        self.optimizers = {"lm": keras.optimizers.Adam(train_cfg.learning_rate)}
        self._forward = None

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        tokens = batch["tokens"]  # (b, seq_len + 1) int32
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (b, seq_len) each
        variables = self.trainable_for("lm")
        with tf.GradientTape() as tape:
            loss = ctx.mean(token_nll(targets, self.networks["lm"](inputs, training=True)))
        grads = tape.gradient(loss, variables)
        self.optimizers["lm"].apply_gradients(zip(grads, variables, strict=True))
        return {"loss": loss}

    # --- generation ---
    def logits(self, tokens) -> np.ndarray:
        """Next-character logits (b, t, vocab) for int tokens (b, t), t <= seq_len."""
        if self._forward is None:
            net = self.networks["lm"]
            self._forward = tf.function(lambda x: tf.cast(net(x, training=False), tf.float32))
        return self._forward(tf.constant(np.asarray(tokens, np.int32))).numpy()

    def generate_ids(self, prompt, n_new: int, temperatures, top_ks=None, seed: int = 0) -> np.ndarray:
        """Continue ``prompt`` (token ids) by ``n_new`` tokens, one row per temperature: (b, n_new).

        The last seq_len tokens are the context. They are left-aligned in a fixed (b, seq_len) window
        padded on the right: a causal network's output at position t-1 ignores what follows, and
        one fixed shape means one trace."""
        prompt = np.asarray(prompt, np.int32)
        if prompt.ndim != 1 or len(prompt) == 0:
            raise ConfigError("a prompt of at least one token is needed to generate text")
        temperatures = [float(t) for t in temperatures]
        top_ks = [0] * len(temperatures) if top_ks is None else [int(k) for k in top_ks]
        rng = np.random.default_rng(seed)
        context = np.tile(prompt, (len(temperatures), 1))  # (b, p)
        window = np.zeros((len(temperatures), self.seq_len), np.int32)
        out = np.empty((len(temperatures), n_new), np.int64)
        for i in range(n_new):
            recent = context[:, -self.seq_len :]
            t = recent.shape[1]
            window[:, :t] = recent
            window[:, t:] = 0
            nxt = sample_next(self.logits(window)[:, t - 1], temperatures, top_ks, rng)
            out[:, i] = nxt
            context = np.concatenate([context, nxt[:, None].astype(np.int32)], axis=1)
        return out

    def serving_function(self):
        """prompt -> prompt's continuation by ``num_chars`` characters, as ``generate_ids``: the last
        seq_len characters, left-aligned in a fixed window, are the context. temperature <= 0 is
        greedy (the same characters as ``generate_ids``); above 0 the draws use TF's stateless
        sampler with ``seed``, not numpy's."""
        net, seq_len = self.networks["lm"], self.seq_len
        codepoints = tf.constant([ord(c) for c in self.vocab], tf.int32)

        def serve(prompt, num_chars, temperature, seed):
            chars = tf.strings.unicode_decode(prompt, "UTF-8")  # (p,) code points
            hits = tf.cast(tf.equal(chars[:, None], codepoints[None, :]), tf.int32)  # (p, vocab)
            tf.debugging.assert_equal(
                tf.reduce_sum(hits, axis=1), 1, message="prompt: a character is not in the vocabulary"
            )
            tf.debugging.assert_positive(tf.size(chars), message="prompt: at least one character is needed")
            context = tf.argmax(hits, axis=1, output_type=tf.int32)  # (p,) token ids

            def step(i, context, out):
                recent = context[-seq_len:]
                t = tf.shape(recent)[0]
                window = tf.pad(recent, [[0, seq_len - t]])[None]  # (1, seq_len)
                logits = tf.cast(net(window, training=False), tf.float32)[0, t - 1]  # (vocab,)
                greedy = tf.argmax(logits, output_type=tf.int32)
                scaled = logits[None] / tf.maximum(temperature, 1e-6)
                drawn = tf.random.stateless_categorical(scaled, 1, tf.stack([seed, tf.cast(i, tf.int64)]))
                nxt = tf.where(temperature > 0, tf.cast(drawn[0, 0], tf.int32), greedy)
                return i + 1, tf.concat([context, nxt[None]], 0), out.write(i, nxt)

            out = tf.TensorArray(tf.int32, size=num_chars)
            _, _, out = tf.while_loop(
                lambda i, *_: i < num_chars,
                step,
                [tf.constant(0), context, out],
                shape_invariants=[tf.TensorShape([]), tf.TensorShape([None]), None],
            )
            ids = out.stack()
            text = tf.strings.unicode_encode(tf.gather(codepoints, ids), "UTF-8")
            return {"text": text, "ids": ids}

        return serve, [
            tf.TensorSpec((), tf.string, name="prompt"),
            tf.TensorSpec((), tf.int32, name="num_chars"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ]

    def encode_text(self, text: str) -> np.ndarray:
        from genlab.data.text import encode

        return encode(text, self.vocab)

    def decode_text(self, ids) -> str:
        from genlab.data.text import decode

        return decode(ids, self.vocab)

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """n strings of ``sample_chars`` characters at temperature 1, each begun at a newline."""
        start = self.vocab.index("\n") if "\n" in self.vocab else 0
        ids = self.generate_ids([start], self.cfg.sample_chars, [1.0] * n, seed=seed)
        return np.array([self.decode_text(row) for row in ids], dtype=object)

    # --- evaluation ---
    def validation_loss(self, tokens: np.ndarray, batch: int = 256) -> float:
        """Mean nats per predicted character over windows (n, seq_len + 1)."""
        total, count = 0.0, 0
        for i in range(0, len(tokens), batch):
            chunk = np.asarray(tokens[i : i + batch], np.int32)
            nll = token_nll(chunk[:, 1:], self.logits(chunk[:, :-1])).numpy()  # (b,) means over seq_len
            total += float(nll.sum()) * (chunk.shape[1] - 1)
            count += nll.size * (chunk.shape[1] - 1)
        return total / count

    def evaluate(self, data_uri: str, manifest, eval_cfg, details: dict | None = None) -> dict[str, float]:
        """The language model's loss on the validation token windows (genlab.data.text), not images."""
        from genlab.data.text import load_tokens

        return self.likelihood_metrics(load_tokens(data_uri, "validation", manifest=manifest), eval_cfg)

    def report(self, out_dir: str, exp, data_uri: str) -> tuple[list, list[tuple[str, str]]]:
        return [], self.report_sections(out_dir, exp, data_uri)

    def likelihood_metrics(self, tokens: np.ndarray, eval_cfg) -> dict[str, float]:
        loss = self.validation_loss(tokens)
        return {"val_loss": loss, "bits_per_char": loss / math.log(2), "perplexity": math.exp(loss)}

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab import io
        from genlab.data.text import load_tokens

        g = exp.generate
        val = load_tokens(data_uri, "validation", limit=256)
        row = val[np.random.default_rng(g.seed).integers(len(val))]
        length = min(self.cfg.prompt_chars, self.seq_len)
        if "\n" in self.vocab:  # start the prompt at a line start when the window has one early enough
            starts = np.flatnonzero(row[: len(row) - length] == self.vocab.index("\n"))
            row = row[starts[0] + 1 :] if len(starts) else row
        prompt = row[:length]
        temps = list(g.temperatures)
        topk_temps = [1.0, 1.2]
        ids = self.generate_ids(
            prompt,
            self.cfg.sample_chars,
            temps + topk_temps,
            [0] * len(temps) + [self.cfg.top_k] * len(topk_temps),
            seed=g.seed,
        )
        prompt_text = self.decode_text(prompt)
        texts = [self.decode_text(r) for r in ids]

        def block(title: str, text: str) -> str:
            return (
                f"<h3>{html.escape(title)}</h3><pre style='white-space:pre-wrap'>"
                f"<b>{html.escape(prompt_text)}</b>{html.escape(text)}</pre>"
            )

        labels = [f"temperature {t:g}" for t in temps] + [
            f"top-{self.cfg.top_k}, temperature {t:g}" for t in topk_temps
        ]
        blocks = [block(label, s) for label, s in zip(labels, texts, strict=True)]
        by_temp, top_k = blocks[: len(temps)], blocks[len(temps) :]
        samples = "".join(
            f"== {label} ==\n{prompt_text}{s}\n\n" for label, s in zip(labels, texts, strict=True)
        )
        io.write_text(io.join(out_dir, "samples.txt"), samples)
        note = (
            "<p>Prompt (bold) from the validation text; each continuation samples "
            f"{self.cfg.sample_chars} characters from softmax(logits / T).</p>"
        )
        return [
            ("Samples by temperature", note + "".join(by_temp)),
            (f"Top-{self.cfg.top_k} samples", "".join(top_k)),
        ]


class CharLSTM(CharLanguageModel):
    family = "char_lstm"
    builder = staticmethod(build_char_lstm)


class CharTransformer(CharLanguageModel):
    family = "transformer"
    builder = staticmethod(build_transformer)


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"char_lstm": CharLSTM, "transformer": CharTransformer}[cfg.family](cfg, spec, train_cfg)
