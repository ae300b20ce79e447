"""Sample-quality metrics in a feature space: FID, KID, and precision/recall.

- FID: Heusel et al. 2017, the Fréchet distance between Gaussians fitted to the two feature sets.
- KID: Bińkowski et al. 2018, the unbiased MMD² with the cubic polynomial kernel, averaged over subsets.
- Precision/recall: Kynkäänniemi et al. 2019, k-nearest-neighbour manifolds of each set.
All take (n, d) float arrays. Pure numpy/scipy, so they are testable without TensorFlow.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def fid(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Dead ReLU features make the covariances singular: add a small ridge, as the reference code does.
    eps = np.eye(cov_a.shape[0]) * 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    return float(max(value, 0.0))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
        estimates.append(mmd)
    return float(np.mean(estimates))


def _pairwise_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise_sq(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold; recall: share of reals inside the fake one."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = _radii(real, k), _radii(fake, k)
    d = _pairwise_sq(fake, real)  # (n_fake, n_real)
    precision = (d <= r_real[None, :]).any(axis=1).mean()
    recall = (d.T <= r_fake[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def all_metrics(real: np.ndarray, fake: np.ndarray, prefix: str = "", seed: int = 0) -> dict[str, float]:
    p, r = precision_recall(real, fake)
    return {
        f"{prefix}fid": fid(real, fake),
        f"{prefix}kid": kid(real, fake, seed=seed),
        f"{prefix}precision": p,
        f"{prefix}recall": r,
    }


# The metrics key naming the pinned feature extractor (its weights' sha256; a string, not a number).
FEATURE_EXTRACTOR = "feature_extractor_sha256"
