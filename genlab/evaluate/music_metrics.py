"""Objective metrics of multi-track piano rolls, from MuseGAN (Dong et al., "MuseGAN: Multi-track
Sequential Generative Adversarial Networks for Symbolic Music Generation and Accompaniment", AAAI
2018, section "Objective Metrics"), in the forms of pypianoroll's ``metrics.py`` by the same author.

Rolls are bool/0-1 arrays (n, bars, steps_per_bar, pitches, tracks); ``lowest_pitch`` is the MIDI
pitch of row 0. Each statistic is a mean over phrases (and tracks where it is per track):

- ``empty_bar_rate``: bars in which a track plays nothing (EB).
- ``used_pitch_classes``: pitch classes a track uses in a bar, over its non-empty bars (UPC).
- ``qualified_note_rate``: notes of at least ``QUALIFIED_STEPS`` steps (QN; pypianoroll's default
  threshold of 2 steps: an 8th note or longer at 16th-note steps; fragments are not music).
- ``tonal_distance``: Harte et al.'s (2006) 6-D tonal centroid of each track's chroma per beat, the
  Euclidean distance between two tracks' centroids, over beats where both sound, all pairs (TD).
- ``polyphony``: distinct pitches sounding together, over steps where any sounds (muspy's polyphony).
- ``pitch_class_distance``: total-variation distance between the pitch-class histograms of two
  sets of rolls (0 = same distribution of pitch classes, 1 = disjoint).

``music_metrics`` puts each statistic of generated phrases next to the same statistic of held-out
phrases (``<name>_floor``); the histogram distance of generated vs held-out sits next to that of real
training vs held-out phrases.
"""

from __future__ import annotations

import itertools

import numpy as np

QUALIFIED_STEPS = 2
STEPS_PER_BEAT = 4  # 16th-note steps per quarter-note beat
TONAL_RADII = (1.0, 1.0, 0.5)  # fifths, minor thirds, major thirds (Harte et al., eq. 3)


def chroma(rolls: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """(..., pitches, tracks) -> (..., 12, tracks): notes sounding per pitch class."""
    rolls = np.asarray(rolls, np.float32)
    pcs = (lowest_pitch + np.arange(rolls.shape[-2])) % 12
    fold = np.eye(12, dtype=np.float32)[pcs]  # (pitches, 12)
    return np.einsum("...pk,pc->...ck", rolls, fold)


def empty_bar_rate(rolls: np.ndarray) -> np.ndarray:
    """Per track: the fraction of bars with no note. (n, B, S, P, K) -> (K,)."""
    empty = ~np.asarray(rolls, bool).any(axis=(2, 3))  # (n, B, K)
    return empty.mean(axis=(0, 1))


def used_pitch_classes(rolls: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """Per track: pitch classes used per non-empty bar (NaN for a track that never plays)."""
    used = (chroma(np.asarray(rolls, bool).any(axis=2), lowest_pitch) > 0).sum(axis=2)  # (n, B, K)
    played = np.asarray(rolls, bool).any(axis=(2, 3))  # (n, B, K)
    with np.errstate(invalid="ignore"):
        return (used * played).sum(axis=(0, 1)) / played.sum(axis=(0, 1))


def note_lengths(rolls: np.ndarray) -> np.ndarray:
    """Lengths in steps of every run of on-steps along time; each phrase read from its start."""
    r = np.asarray(rolls, bool)
    n, b, s, p, k = r.shape
    flat = r.reshape(n, b * s, p * k).transpose(0, 2, 1).reshape(-1, b * s)  # (n*p*k, time)
    padded = np.pad(flat.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)  # row-major: k-th offset after k-th onset


def qualified_note_rate(rolls: np.ndarray) -> float:
    lengths = note_lengths(rolls)
    return float((lengths >= QUALIFIED_STEPS).mean()) if len(lengths) else float("nan")


def tonal_matrix() -> np.ndarray:
    """(6, 12): each pitch class on the circles of fifths, minor thirds and major thirds."""
    r1, r2, r3 = TONAL_RADII
    angle = np.arange(12) * np.pi
    return np.stack(
        [
            r1 * np.sin(angle * 7 / 6),
            r1 * np.cos(angle * 7 / 6),
            r2 * np.sin(angle * 3 / 2),
            r2 * np.cos(angle * 3 / 2),
            r3 * np.sin(angle * 2 / 3),
            r3 * np.cos(angle * 2 / 3),
        ]
    )


def tonal_distance(rolls: np.ndarray, lowest_pitch: int) -> float:
    """Mean over track pairs and beats where both sound of the distance of tonal centroids."""
    r = np.asarray(rolls, bool)
    n, b, s, p, k = r.shape
    beats = r.reshape(n, b * s // STEPS_PER_BEAT, STEPS_PER_BEAT, p, k).sum(axis=2)  # (n, beats, P, K)
    c = chroma(beats, lowest_pitch)  # (n, beats, 12, K)
    total = c.sum(axis=2, keepdims=True)
    sounding = total[:, :, 0, :] > 0  # (n, beats, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.einsum("dc,nbck->nbdk", tonal_matrix(), c / total)  # (n, beats, 6, K)
    distances = []
    for i, j in itertools.combinations(range(k), 2):
        both = sounding[..., i] & sounding[..., j]
        d = np.linalg.norm(centroid[..., i] - centroid[..., j], axis=-1)  # (n, beats)
        distances.append(d[both])
    values = np.concatenate(distances) if distances else np.array([])
    return float(values.mean()) if len(values) else float("nan")


def polyphony(rolls: np.ndarray) -> float:
    """Distinct pitches sounding at once (any track), over steps where at least one sounds."""
    pitches = np.asarray(rolls, bool).any(axis=-1).sum(axis=-1)  # (n, B, S)
    sounding = pitches > 0
    return float(pitches[sounding].mean()) if sounding.any() else float("nan")


def pitch_class_histogram(rolls: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """The normalised histogram of pitch classes over all sounding steps of all tracks: (12,)."""
    h = chroma(rolls, lowest_pitch).sum(axis=tuple(range(np.ndim(rolls) - 2)) + (-1,))
    return h / h.sum() if h.sum() else h


def pitch_class_distance(a: np.ndarray, b: np.ndarray, lowest_pitch: int) -> float:
    """Total-variation distance between the pitch-class histograms of two sets of rolls."""
    return float(
        0.5 * np.abs(pitch_class_histogram(a, lowest_pitch) - pitch_class_histogram(b, lowest_pitch)).sum()
    )


def statistics(rolls: np.ndarray, lowest_pitch: int, tracks) -> dict[str, float]:
    """The per-phrase statistics of a set of rolls (means, and per track for EB and UPC)."""
    eb, upc = empty_bar_rate(rolls), used_pitch_classes(rolls, lowest_pitch)
    out = {
        "empty_bar_rate": float(eb.mean()),
        "used_pitch_classes": float(np.nanmean(upc)) if not np.isnan(upc).all() else float("nan"),
        "qualified_note_rate": qualified_note_rate(rolls),
        "tonal_distance": tonal_distance(rolls, lowest_pitch),
        "polyphony": polyphony(rolls),
    }
    for name, e, u in zip(tracks, eb, upc, strict=True):
        out[f"empty_bar_rate_{name}"] = float(e)
        out[f"used_pitch_classes_{name}"] = float(u)
    return out


def music_metrics(fake, real_train, real_test, lowest_pitch: int, tracks) -> dict[str, float]:
    """Generated-phrase statistics next to held-out ones (``_floor``), as in the module docstring."""
    metrics = statistics(fake, lowest_pitch, tracks)
    metrics.update({f"{k}_floor": v for k, v in statistics(real_test, lowest_pitch, tracks).items()})
    metrics["pitch_class_distance"] = pitch_class_distance(fake, real_test, lowest_pitch)
    metrics["pitch_class_distance_floor"] = pitch_class_distance(real_train, real_test, lowest_pitch)
    return metrics


def evaluate_music(model, data_uri: str, manifest, test_x: np.ndarray, eval_cfg) -> dict[str, float]:
    """``music_metrics`` for ``num_samples`` generated phrases, held-out phrases and as many random
    training phrases (the real-data floor of the histogram distance)."""
    from genlab.data.records import split_dataset

    n = min(eval_cfg.num_samples, len(test_x))
    rng = np.random.default_rng(eval_cfg.seed)
    real_test = test_x[rng.choice(len(test_x), n, replace=False)] > 0.5
    train = split_dataset(data_uri, manifest, "train").shuffle(20_000, seed=eval_cfg.seed).take(n)
    real_train = np.stack([ex["image"].numpy() > 127 for ex in train])
    fake = model.sample(n, seed=eval_cfg.seed)
    return music_metrics(fake, real_train, real_test, model.spec.lowest_pitch, model.spec.tracks)
