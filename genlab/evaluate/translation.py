"""Evaluation and report pictures of image-to-image models (pix2pix, CycleGAN).

Feature space: a classifier trained (seeded, cached like ``genlab.evaluate.features``) on the
images of both domains, to tell the domains apart, and the classes too where the dataset has
them (edges2fashion: 2 domains x 10 garments). FID compares translations with real images of the
target domain; its floor compares real train images of that domain with the same real test
images, the best a perfect translator can reach with as many samples.

- pix2pix: ``l1`` and ``ssim`` of outputs against the held-out targets (images in [0, 1]),
  ``fid`` of outputs vs targets with ``fid_floor``.
- CycleGAN: ``fid_ab`` (G(A) vs real B) and ``fid_ba`` (F(B) vs real A), each with its floor;
  ``cycle_l1_a`` = |F(G(a)) - a| and ``cycle_l1_b`` = |G(F(b)) - b| on test images in [0, 1] (0 for
  a perfect round trip); ``ab_as_b`` / ``ba_as_a``: the share of translations the classifier puts
  in the target domain (real test images: ``domain_accuracy``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html

import numpy as np

from genlab import data
from genlab.evaluate.features import get_extractor
from genlab.evaluate.metrics import fid


def domains(pairs: np.ndarray, manifest, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Records (n, h, w, 2c) -> distinct A images, distinct B images (unpaired records repeat the
    smaller domain: ``genlab.data.unpaired``)."""
    c = manifest.extra["channels"]
    n_a, n_b = manifest.extra.get("counts", {}).get(split, (len(pairs), len(pairs)))
    return pairs[:n_a, ..., :c], pairs[:n_b, ..., c:]


def domain_extractor(manifest, train_pairs: np.ndarray, train_labels: np.ndarray, eval_cfg):
    """The feature classifier over both domains; label = domain * k + class (k = classes or 1)."""
    a, b = domains(train_pairs, manifest, "train")
    k = max(manifest.num_classes, 1)
    labels = train_labels if manifest.num_classes else np.zeros(len(train_pairs), np.int64)
    images = np.concatenate([a, b])
    y = np.concatenate([labels[: len(a)], labels[: len(b)] + k])
    # A cache key of its own: the dataset's other feature extractor (if any) sees 2c channels.
    key = hashlib.sha256(f"{manifest.checksum}-domains".encode()).hexdigest()
    single = dataclasses.replace(manifest, shape=a.shape[1:], num_classes=2 * k, checksum=key)
    return get_extractor(single, images, y, eval_cfg.feature_epochs, seed=eval_cfg.seed), k


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) of images in [0, 1]; an 11 x 11 window, smaller for tiny images."""
    import tensorflow as tf

    size = min(11, x.shape[1], x.shape[2])
    return float(tf.reduce_mean(tf.image.ssim(tf.constant(x), tf.constant(y), max_val=1.0, filter_size=size)))


@dataclasses.dataclass
class Domains:
    """Both domains' held-out and train images and the feature classifier over them."""

    test_a: np.ndarray
    test_b: np.ndarray
    train_a: np.ndarray
    train_b: np.ndarray
    n_test: int  # test records
    extractor: object
    k: int  # classes per domain (1 without labels)
    rng: np.random.Generator  # picks the images each FID compares, in call order

    def pick(self, x: np.ndarray, n: int) -> np.ndarray:
        return x[np.sort(self.rng.choice(len(x), n, replace=False))]

    def fid_pair(self, fake, real_test, real_train) -> tuple[float, float]:
        """FID of ``fake`` against ``real_test``, and the floor: ``real_train`` against ``real_test``."""
        n = min(len(fake), len(real_test), len(real_train))
        f_test = self.extractor.features(self.pick(real_test, n))
        return fid(f_test, self.extractor.features(self.pick(fake, n))), fid(
            f_test, self.extractor.features(self.pick(real_train, n))
        )

    def in_domain(self, images, domain: int) -> float:
        """The share of ``images`` the classifier puts in ``domain`` (0: A, 1: B)."""
        return float((self.extractor.predict(images) // self.k == domain).mean())

    def domain_accuracy(self) -> float:
        a, b = self.test_a, self.test_b
        return (self.in_domain(a, 0) * len(a) + self.in_domain(b, 1) * len(b)) / (len(a) + len(b))


def load_domains(data_uri: str, manifest, eval_cfg) -> Domains:
    train_pairs, train_labels = data.load_arrays(data_uri, "train", manifest=manifest)
    test_pairs, _ = data.load_arrays(data_uri, "test", manifest=manifest)
    extractor, k = domain_extractor(manifest, train_pairs, train_labels, eval_cfg)
    train_a, train_b = domains(train_pairs, manifest, "train")
    test_a, test_b = domains(test_pairs, manifest, "test")
    rng = np.random.default_rng(eval_cfg.seed)
    return Domains(test_a, test_b, train_a, train_b, len(test_pairs), extractor, k, rng)


def paired_metrics(model, d: Domains, eval_cfg) -> dict[str, float]:
    """pix2pix: outputs against the held-out targets."""
    n = min(eval_cfg.num_samples, d.n_test)
    source, target, train_target = d.test_a[:n], d.test_b[:n], d.train_b
    if model.cfg.direction == "BtoA":
        source, target, train_target = target, source, d.train_a
    out = model.translate(source)
    metrics = {"l1": float(np.abs(out - target).mean()), "ssim": ssim(out, target)}
    metrics["fid"], metrics["fid_floor"] = d.fid_pair(out, target, train_target)
    return metrics


def cycle_metrics(model, d: Domains, eval_cfg) -> dict[str, float]:
    """CycleGAN: both directions against real images of the target domain, and the round trips."""
    a, b = d.test_a[: eval_cfg.num_samples], d.test_b[: eval_cfg.num_samples]
    ab, ba = model.translate(a), model.translate(b, reverse=True)
    metrics = {}
    metrics["fid_ab"], metrics["fid_ab_floor"] = d.fid_pair(ab, b, d.train_b)
    metrics["fid_ba"], metrics["fid_ba_floor"] = d.fid_pair(ba, a, d.train_a)
    metrics["cycle_l1_a"] = float(np.abs(model.translate(ab, reverse=True) - a).mean())
    metrics["cycle_l1_b"] = float(np.abs(model.translate(ba) - b).mean())
    metrics["ab_as_b"], metrics["ba_as_a"] = d.in_domain(ab, 1), d.in_domain(ba, 0)
    return metrics


# --- report pictures ---------------------------------------------------------------------------


def _rows_section(out_dir: str, name: str, rows: np.ndarray, cols: int, title: str, caption: str):
    from genlab import io, report
    from genlab.generate.images import grid, save_png, to_png

    picture = grid(rows, len(rows) // cols, cols)
    save_png(io.join(out_dir, name), picture)
    return (title, f"<p>{html.escape(caption)}</p>\n{report.img_tag(to_png(picture), title)}")


def triplet_section(model, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
    """Held-out test pairs: input | output | target, one triplet per row."""
    manifest = data.load_manifest(data_uri)
    pairs, _ = data.load_arrays(data_uri, "test", limit=exp.generate.rows, manifest=manifest)
    a, b = domains(pairs, manifest, "test")
    source, target = (b, a) if model.cfg.direction == "BtoA" else (a, b)
    out = model.translate(source)
    rows = np.stack([source, out, target], axis=1).reshape(-1, *source.shape[1:])
    names = manifest.extra.get("domains", ["A", "B"])
    return [
        _rows_section(
            out_dir,
            "triplets.png",
            rows,
            3,
            "Input | output | target",
            f"Held-out test pairs ({' -> '.join(names if source is a else names[::-1])}): each row shows "
            f"the input, the generator's output and the real target.",
        )
    ]


def cycle_section(model, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
    """Test images of each domain: x | translated | translated back, one round trip per row."""
    manifest = data.load_manifest(data_uri)
    pairs, _ = data.load_arrays(data_uri, "test", limit=exp.generate.rows, manifest=manifest)
    a, b = domains(pairs, manifest, "test")
    name_a, name_b = manifest.extra.get("domains", ["A", "B"])
    sections = []
    for x, reverse, file, src, dst in (
        (a, False, "cycle_ab.png", name_a, name_b),
        (b, True, "cycle_ba.png", name_b, name_a),
    ):
        there = model.translate(x, reverse=reverse)
        back = model.translate(there, reverse=not reverse)
        rows = np.stack([x, there, back], axis=1).reshape(-1, *x.shape[1:])
        sections.append(
            _rows_section(
                out_dir,
                file,
                rows,
                3,
                f"{src} -> {dst} -> {src}",
                f"Each row: a real test {src} image, its translation to {dst}, and that translated back.",
            )
        )
    return sections
