import numpy as np

from genlab.evaluate.metrics import all_metrics, fid, kid, precision_recall


def gaussian(n, d, mean=0.0, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)) + mean


def test_fid_is_zero_for_the_same_set_and_matches_the_closed_form():
    a = gaussian(4000, 8, seed=1)
    assert fid(a, a) < 1e-6
    # Same covariance, means 2 apart in every one of 8 dims: FID -> |mu_a - mu_b|^2 = 32.
    b = gaussian(4000, 8, mean=2.0, seed=2)
    assert abs(fid(a, b) - 32.0) < 1.0


def test_fid_with_singular_covariances_is_finite():
    a = gaussian(500, 6, seed=0)
    a[:, 3] = 0.0  # a dead feature
    b = gaussian(500, 6, seed=1)
    b[:, 3] = 0.0
    assert np.isfinite(fid(a, b))


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    a, b = gaussian(1000, 16, seed=0), gaussian(1000, 16, seed=1)
    assert abs(kid(a, b, subsets=5, subset_size=500)) < 0.01
    assert kid(a, gaussian(1000, 16, mean=1.0, seed=2), subsets=5, subset_size=500) > 0.1


def test_precision_recall_identical_and_disjoint():
    a = gaussian(300, 4, seed=0)
    p, r = precision_recall(a, a.copy())
    assert p == 1.0 and r == 1.0
    p, r = precision_recall(a, gaussian(300, 4, mean=20.0, seed=1))
    assert p == 0.0 and r == 0.0


def test_mode_collapse_keeps_precision_and_loses_recall():
    real = gaussian(400, 4, seed=0)
    collapsed = np.repeat(real[:5], 80, axis=0) + 1e-3 * gaussian(400, 4, seed=1)
    p, r = precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.2


def test_all_metrics_keys():
    m = all_metrics(gaussian(200, 4, seed=0), gaussian(200, 4, seed=1), prefix="x_")
    assert set(m) == {"x_fid", "x_kid", "x_precision", "x_recall"}
