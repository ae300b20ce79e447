"""Latent-space arithmetic: attribute vectors (the "smile vector" of White 2016; the latent
arithmetic of Radford et al. 2016).

An attribute vector is the mean latent of one class minus the mean latent of another. Adding
alpha times it to a latent of the second class should move its picture toward the first.

- Models with an encoder (the VAE): real test images are encoded, the class means come from
  their true labels, and the vector is added to real encoded images of the source class.
- Models without one (GANs): random z's are labelled by the evaluation feature classifier
  (``genlab.evaluate.features``, cached per dataset) from the pictures they generate, and the
  vector is added to random z's the classifier puts in the source class.

The pair: the first of ``PREFERRED_PAIRS`` whose two class names the dataset has (for
Fashion-MNIST, "Pullover" - "T-shirt/top": a T-shirt grows long sleeves); otherwise the two
classes whose mean latents lie farthest apart. The section also reports how often the feature
classifier calls the shifted pictures the target class, at alpha = 0 and alpha = 1.
"""

from __future__ import annotations

import html
import itertools

import numpy as np

from genlab import data, io, report
from genlab.generate.images import grid, save_png, to_png
from genlab.models.base import GenerativeModel

PREFERRED_PAIRS = (("Pullover", "T-shirt/top"), ("Sneaker", "Sandal"))  # (target A, source B)
MIN_PER_CLASS = 5  # a class mean from fewer latents is too noisy to use
NUM_LATENTS = 2000  # latents whose labels give the class means
ALPHA_MAX = 1.5  # each row goes alpha = 0 .. ALPHA_MAX


def has_encoder(model: GenerativeModel) -> bool:
    return type(model).encode is not GenerativeModel.encode


def class_means(latents: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_classes, d) mean latent per class (zeros where a class is empty) and (num_classes,) counts."""
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    sums = np.zeros((num_classes, latents.shape[1]), np.float64)
    np.add.at(sums, labels, latents)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), counts


def choose_pair(
    class_names, means: np.ndarray, counts: np.ndarray, min_count: int = MIN_PER_CLASS
) -> tuple[int, int] | None:
    """(target A, source B) class indices, or None when fewer than two classes have ``min_count`` latents."""
    usable = [i for i in range(len(counts)) if counts[i] >= min_count]
    names = list(class_names)
    for a_name, b_name in PREFERRED_PAIRS:
        if a_name in names and b_name in names:
            a, b = names.index(a_name), names.index(b_name)
            if a in usable and b in usable:
                return a, b
    if len(usable) < 2:
        return None
    b, a = max(
        itertools.combinations(usable, 2), key=lambda p: float(np.linalg.norm(means[p[0]] - means[p[1]]))
    )
    return a, b


def attribute_vector(latents: np.ndarray, labels: np.ndarray, target: int, source: int) -> np.ndarray:
    """mean(latents of class ``target``) - mean(latents of class ``source``), shape (d,)."""
    return (latents[labels == target].mean(axis=0) - latents[labels == source].mean(axis=0)).astype(
        np.float32
    )


def shifted_latents(base: np.ndarray, vector: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """(rows * len(alphas), d): row r holds base[r] + alpha * vector for each alpha."""
    return (base[:, None, :] + alphas[None, :, None] * vector[None, None, :]).reshape(-1, base.shape[1])


def _batched(fn, x: np.ndarray, batch: int = 500) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i : i + batch])) for i in range(0, len(x), batch)])


def attribute_sections(model: GenerativeModel, exp, data_uri: str, out_dir: str) -> list[tuple[str, str]]:
    """The report section for an attribute vector, with its picture saved as ``attribute_vector.png``.

    Empty when the dataset has fewer than two classes with enough latents.
    """
    from genlab.evaluate.features import get_extractor

    manifest = data.load_manifest(data_uri)
    if manifest.num_classes < 2:
        return []
    g = exp.generate
    rng = np.random.default_rng(g.seed)
    train_x, train_y = data.load_arrays(data_uri, "train", manifest=manifest)
    extractor = get_extractor(
        manifest,
        train_x,
        train_y,
        exp.evaluate.feature_epochs,
        seed=exp.evaluate.seed,
    )
    if has_encoder(model):
        test_x, test_y = data.load_arrays(data_uri, "test", limit=NUM_LATENTS, manifest=manifest)
        latents, labels = _batched(model.encode, test_x), test_y.astype(np.int64)
        how = f"{len(latents)} real test images, encoded, with their true labels"
    else:
        latents = rng.standard_normal((NUM_LATENTS, model.latent_dim())).astype(np.float32)
        labels = extractor.predict(_batched(model.decode, latents)).astype(np.int64)
        how = f"{len(latents)} random latents, labelled by the feature classifier from their pictures"
    means, counts = class_means(latents, labels, manifest.num_classes)
    pair = choose_pair(manifest.class_names, means, counts)
    if pair is None:
        return []
    a, b = pair
    vector = attribute_vector(latents, labels, a, b)
    chosen = np.flatnonzero(labels == b)[: g.rows]
    alphas = np.linspace(0.0, ALPHA_MAX, g.interpolation_steps).astype(np.float32)
    shifted = model.decode(shifted_latents(latents[chosen], vector, alphas))  # (rows * steps, h, w, c)
    tiles = shifted.reshape(len(chosen), len(alphas), *shifted.shape[1:])
    if has_encoder(model):  # first column: the real image itself
        tiles = np.concatenate([test_x[chosen][:, None], tiles], axis=1)
    cols = tiles.shape[1]
    picture = grid(tiles.reshape(-1, *tiles.shape[2:]), len(chosen), cols)
    io.makedirs(out_dir)
    save_png(io.join(out_dir, "attribute_vector.png"), picture)

    to_a = extractor.predict(shifted).reshape(len(chosen), len(alphas)) == a
    one = int(np.argmin(np.abs(alphas - 1.0)))
    name_a, name_b = manifest.class_names[a], manifest.class_names[b]
    if has_encoder(model):
        row = f"a real {html.escape(name_b)} test image, then the decoding of its latent"
    else:
        row = f"the decodings of one {html.escape(name_b)} latent"
    text = (
        f"<p>vector = mean latent of <b>{html.escape(name_a)}</b> ({counts[a]}) minus mean latent of "
        f"<b>{html.escape(name_b)}</b> ({counts[b]}), from {html.escape(how)}. Each row: {row} "
        f"plus alpha &times; vector, alpha = "
        f"{', '.join(f'{x:.2g}' for x in alphas)}. The feature classifier calls "
        f"{to_a[:, 0].mean():.0%} of them {html.escape(name_a)} at alpha = 0 and "
        f"{to_a[:, one].mean():.0%} at alpha = {alphas[one]:.2g}.</p>"
    )
    title = f"Attribute vector: {name_a} \u2212 {name_b}"
    return [(title, text + report.img_tag(to_png(picture), title))]
