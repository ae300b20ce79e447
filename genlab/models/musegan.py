"""MuseGAN: multi-track piano-roll phrases from a GAN with shared temporal structure.

Dong, Hsiao, Yang & Yang, "MuseGAN: Multi-track Sequential Generative Adversarial Networks for
Symbolic Music Generation and Accompaniment" (AAAI 2018), the *hybrid* model (section "Proposed
Model"; Foster, *Generative Deep Learning*, ch. 7, trains it on these Bach chorales). The input
noise is split four ways:

- chords: inter-track and time-dependent. One vector -> the shared temporal generator G_temp ->
  one vector per bar, heard by every track.
- style: inter-track, time-independent: one vector for the whole phrase, every track.
- melody: intra-track, time-dependent: per track, one vector -> that track's own temporal
  generator G_temp,i -> one vector per bar.
- groove: intra-track, time-independent: one vector per track for the whole phrase.

Track i's bar generator G_bar,i turns [chords_t, style, melody_i,t, groove_i] into bar t of track i
(a (steps, pitches) sheet in [0, 1]); the bars and tracks stack into the phrase
(bars, steps, pitches, tracks). One critic scores the whole multi-track phrase with 3-D
convolutions (bar, step, pitch; tracks as channels). The loss is WGAN-GP (Gulrajani et al. 2017)
as the paper's, trained exactly as ``genlab.models.gan.WGANGP`` (critic batches, gradient penalty,
replica-consistent noise), with Adam(beta_1=0.5, beta_2=0.9) as in the paper.

Samples are binarised, as the paper does at test time: ``sampling: threshold`` (hard threshold at
``threshold``) or ``bernoulli`` (each step on with the generator's probability). Networks are
smaller than the paper's (sized for a CPU); G_temp is a dense map instead of transposed convolutions.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel
from genlab.models.gan import WGANGP, check_critic_batches
from genlab.models.musegan_config import CONFIGS, MuseGANConfig, check_experiment  # noqa: F401 (re-exported)

# --- networks ----------------------------------------------------------------------------------


def norm_relu(x):
    x = layers.BatchNormalization(synchronized=True)(x)  # statistics of the global batch
    return layers.ReLU()(x)


def build_temporal_generator(z_dim: int, bars: int, width: int, name: str) -> keras.Model:
    """G_temp: one vector -> one vector per bar. (z,) -> (bars, z)."""
    z = keras.Input((z_dim,))
    x = norm_relu(layers.Dense(bars * width, use_bias=False)(z))  # (bars * w)
    x = layers.Reshape((bars, width))(x)  # (bars, w)
    x = layers.Dense(z_dim)(x)  # (bars, z): a fresh code for each bar
    return keras.Model(z, x, name=name)


def build_bar_generator(in_dim: int, steps: int, pitches: int, width: int, name: str) -> keras.Model:
    """G_bar,i: one bar's codes -> one track's bar. (4z,) -> (steps, pitches) in [0, 1]."""
    s, p = steps // 4, pitches // 4
    codes = keras.Input((in_dim,))
    x = norm_relu(layers.Dense(s * p * width * 2, use_bias=False)(codes))  # (s*p*2w)
    x = layers.Reshape((s, p, width * 2))(x)  # (steps/4, pitches/4, 2w)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)  # (s*2, p*2, w)
    x = norm_relu(x)
    x = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid")(x)  # (s*4, p*4, 1)
    x = layers.Reshape((steps, pitches))(x)  # (steps, pitches)
    return keras.Model(codes, x, name=name)


def build_generator(cfg: MuseGANConfig, shape: tuple[int, ...]) -> keras.Model:
    """z of (2 + 2K) * z_dim: [chords | style | melody_1..K | groove_1..K] -> (bars, steps, pitches, K)."""
    bars, steps, pitches, k = shape
    d = cfg.z_dim
    z = keras.Input(((2 + 2 * k) * d,), name="z")
    chords, style = z[:, :d], z[:, d : 2 * d]  # (z,) each
    melody = [z[:, (2 + i) * d : (3 + i) * d] for i in range(k)]
    groove = [z[:, (2 + k + i) * d : (3 + k + i) * d] for i in range(k)]

    def every_bar(v):  # (z,) -> (bars, z): the same vector for every bar
        return layers.RepeatVector(bars)(v)

    chords_t = build_temporal_generator(d, bars, cfg.width * 4, "temporal_chords")(chords)  # (bars, z)
    tracks = []
    for i in range(k):
        melody_t = build_temporal_generator(d, bars, cfg.width * 4, f"temporal_melody_{i}")(melody[i])
        # (bars, 4z): what bar t of track i hears
        codes = layers.Concatenate()([chords_t, every_bar(style), melody_t, every_bar(groove[i])])
        bar_gen = build_bar_generator(4 * d, steps, pitches, cfg.width, f"bar_generator_{i}")
        bars_i = layers.TimeDistributed(bar_gen)(codes)  # (bars, steps, pitches)
        tracks.append(layers.Reshape((bars, steps, pitches, 1))(bars_i))
    roll = layers.Concatenate(name="tracks")(tracks) if k > 1 else tracks[0]
    return keras.Model(z, roll, name="generator")  # (bars, steps, pitches, K) in [0, 1]


def build_critic(cfg: MuseGANConfig, shape: tuple[int, ...]) -> keras.Model:
    """The whole phrase -> an unbounded score; no normalisation (it would break the gradient penalty)."""
    bars = shape[0]
    w = cfg.width
    roll = keras.Input(shape, name="roll")  # (bars, steps, pitches, K)
    x = layers.Conv3D(w, (1, 4, 4), strides=(1, 2, 2), padding="same")(roll)  # (bars, steps/2, pitches/2, w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv3D(w * 2, (1, 4, 4), strides=(1, 2, 2), padding="same")(
        x
    )  # (bars, steps/4, pitches/4, 2w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv3D(w * 4, (bars, 1, 1), padding="valid")(x)  # (1, steps/4, pitches/4, 4w): across bars
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    score = layers.Dense(1, dtype="float32")(x)  # (1,)
    return keras.Model(roll, score, name="critic")


# --- the model ---------------------------------------------------------------------------------


class MuseGAN(WGANGP):
    """WGAN-GP training (inherited) with MuseGAN's networks; samples are binarised piano rolls."""

    family = "musegan"
    fid_curve = False  # piano rolls: no image feature space
    serving_output = "note_probabilities"  # (n, bars, steps, pitches, tracks), before binarising

    def __init__(self, cfg: MuseGANConfig, spec: DataSpec, train_cfg):
        GenerativeModel.__init__(self, cfg, spec, train_cfg)
        if len(spec.shape) != 4 or not spec.tracks:
            raise ConfigError("model.family: musegan needs piano rolls (data.dataset: music)")
        check_critic_batches("musegan", cfg, train_cfg)
        self.networks = {
            "generator": build_generator(cfg, spec.shape),
            "critic": build_critic(cfg, spec.shape),
        }
        lr = train_cfg.learning_rate
        self.optimizers = {
            name: keras.optimizers.Adam(lr, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
            for name in ("generator", "critic")
        }

    def latent_dim(self) -> int:
        return (2 + 2 * len(self.spec.tracks)) * self.cfg.z_dim

    def probabilities(self, n: int, seed: int) -> np.ndarray:
        """The generator's (n, bars, steps, pitches, K) note probabilities for n seeded latents."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim())).astype(np.float32)
        return np.concatenate([self.decode(z[i : i + 256]) for i in range(0, n, 256)])

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """n binarised phrases (bool), by threshold or Bernoulli sampling (``model.sampling``)."""
        p = self.probabilities(n, seed)
        if self.cfg.sampling == "bernoulli":
            return np.random.default_rng(seed + 1).random(p.shape) < p
        return p > self.cfg.threshold

    def evaluate(self, data_uri: str, manifest, eval_cfg, details: dict | None = None) -> dict[str, float]:
        """MuseGAN's statistics of generated phrases next to held-out ones (genlab.evaluate.music_metrics)."""
        from genlab import data
        from genlab.evaluate.music_metrics import evaluate_music

        test_x, _ = data.load_arrays(data_uri, "test", manifest=manifest)
        return evaluate_music(self, data_uri, manifest, test_x, eval_cfg)

    def report(self, out_dir: str, exp, data_uri: str) -> tuple[list, list[tuple[str, str]]]:
        from genlab.generate.music import music_sections

        return [], music_sections(self, out_dir, exp, data_uri)

    def summary_samples(self, n: int, seed: int) -> None:
        return None  # piano rolls, not images: the report plays them


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return MuseGAN(cfg, spec, train_cfg)
