import numpy as np
import pytest

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


# --- closed forms and brute force: every term of each formula matters ---------------------------


def with_moments(n, mean, cov, seed=0):
    """n points whose sample mean and (ddof=1) covariance are exactly ``mean`` and ``cov``."""
    x = np.random.default_rng(seed).standard_normal((n, len(mean)))
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False)).T)  # sample covariance = I
    return x @ np.linalg.cholesky(cov).T + mean


def test_fid_matches_the_closed_form_when_every_term_differs():
    # Commuting covariances: FID = |mu_a - mu_b|^2 + sum_i (sigma_a,i - sigma_b,i)^2.
    sa, sb = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.5, 0.5])
    mu_a, mu_b = np.array([0.0, 1.0, -1.0]), np.array([2.0, 1.0, 0.5])
    a = with_moments(300, mu_a, np.diag(sa**2), seed=1)
    b = with_moments(200, mu_b, np.diag(sb**2), seed=2)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((sa - sb) ** 2)  # 4 + 2.25 + 4 + 2.25 + 0 = 12.5
    assert fid(a, b) == pytest.approx(expected, abs=1e-4)
    assert fid(b, a) == pytest.approx(expected, abs=1e-4)


def test_fid_matches_a_brute_force_computation_for_non_commuting_covariances():
    rng = np.random.default_rng(3)
    ma, mb = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    ca, cb = ma @ ma.T + 0.5 * np.eye(4), mb @ mb.T + 0.1 * np.eye(4)
    mu_a, mu_b = rng.standard_normal(4), rng.standard_normal(4)
    a, b = with_moments(100, mu_a, ca, seed=4), with_moments(150, mu_b, cb, seed=5)
    # tr((Ca Cb)^1/2) is the sum of the square roots of Ca Cb's (real, positive) eigenvalues.
    cross = np.sum(np.sqrt(np.linalg.eigvals(ca @ cb).real))
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2 * cross
    assert fid(a, b) == pytest.approx(expected, rel=1e-5)


def brute_mmd2(x, y):
    """The unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, term by term."""
    d, m = x.shape[1], len(x)

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_brute_force_unbiased_mmd():
    # With subsets as large as the sets, each subset is a permutation of the whole set.
    a, b = gaussian(12, 3, seed=0), gaussian(12, 3, mean=0.7, seed=1)
    expected = brute_mmd2(a, b)
    assert kid(a, b, subsets=3, subset_size=12) == pytest.approx(expected, rel=1e-9)
    # Subsets smaller than the sets: their mean, each drawn without replacement.
    small = kid(a, b, subsets=2, subset_size=5, seed=7)
    rng = np.random.default_rng(7)
    draws = []
    for _ in range(2):
        x, y = a[rng.choice(12, 5, replace=False)], b[rng.choice(12, 5, replace=False)]
        draws.append(brute_mmd2(x, y))
    assert small == pytest.approx(np.mean(draws), rel=1e-9)


def test_kid_subsets_are_as_large_as_the_smaller_set():
    a, b = gaussian(8, 3, seed=0), gaussian(12, 3, mean=0.5, seed=1)
    for x, y in ((a, b), (b, a)):
        rng = np.random.default_rng(0)
        xs, ys = x[rng.choice(len(x), 8, replace=False)], y[rng.choice(len(y), 8, replace=False)]
        assert kid(x, y, subsets=1, subset_size=1000) == pytest.approx(brute_mmd2(xs, ys), rel=1e-9)


def test_metric_defaults_are_the_papers():
    # Sets larger than the default subset size (Bińkowski et al.: 1000), so a change in it shows.
    big_a, big_b = gaussian(1010, 1, seed=0), gaussian(1010, 1, mean=0.3, seed=1)
    assert kid(big_a, big_b, subsets=1) == kid(big_a, big_b, subsets=1, subset_size=1000)
    a, b = gaussian(40, 3, seed=0), gaussian(40, 3, mean=0.4, seed=1)
    assert kid(a, b) == kid(a, b, subsets=10, subset_size=1000, seed=0)
    assert precision_recall(a, b) == precision_recall(a, b, k=3)  # Kynkäänniemi et al.: k = 3
    m = all_metrics(a, b)
    assert m == {
        "fid": fid(a, b),
        "kid": kid(a, b, seed=0),
        "precision": precision_recall(a, b)[0],
        "recall": precision_recall(a, b)[1],
    }
    assert all_metrics(a, b, seed=5)["kid"] == kid(a, b, seed=5)


def brute_precision_recall(real, fake, k):
    """Kynkäänniemi et al.'s definition with loops: a sample is covered when it lies within the
    k-th-nearest-neighbour distance of some point of the other set (the ball includes its edge)."""

    def radius(points, i):
        return sorted(float(np.sum((points[i] - points[j]) ** 2)) for j in range(len(points)) if j != i)[
            k - 1
        ]

    def covered(x, points):
        return any(float(np.sum((x - points[j]) ** 2)) <= radius(points, j) for j in range(len(points)))

    precision = np.mean([covered(f, real) for f in fake])
    recall = np.mean([covered(r, fake) for r in real])
    return precision, recall


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_precision_recall_match_a_brute_force_computation(k):
    # Partly overlapping small sets at a scale below 1, so precision and recall lie strictly inside (0, 1).
    rng = np.random.default_rng(k)
    real = 0.1 * rng.standard_normal((30, 2))
    fake = 0.1 * rng.standard_normal((25, 2)) + np.array([0.2, 0.0])
    got = precision_recall(real, fake, k=k)
    assert got == pytest.approx(brute_precision_recall(real, fake, k), abs=1e-12)
    assert 0 < got[0] < 1 and 0 < got[1] < 1


def test_a_sample_on_the_edge_of_a_ball_is_inside():
    # Reals at 0 and 1 (k = 1: radius 1 each); the fake at 2 is exactly 1 from the real at 1.
    real, fake = np.array([[0.0], [1.0]]), np.array([[2.0], [5.0]])
    assert precision_recall(real, fake, k=1)[0] == 0.5


def test_float32_features_are_measured_in_float64():
    # The feature network gives float32; means and sums in float32 would round differently.
    a, b = gaussian(300, 5, mean=3.0, seed=0), gaussian(200, 5, mean=3.2, seed=1)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
    assert fid(a32, b32) == fid(a64, b64)
    assert kid(a32, b32, subsets=2, subset_size=100) == kid(a64, b64, subsets=2, subset_size=100)
    assert precision_recall(a32, b32) == precision_recall(a64, b64)


def test_float32_features_far_from_the_origin_keep_exact_distances():
    # |x|^2 - 2 x.y + |y|^2 near 1e8 rounds to garbage in float32; in float64 these are exact.
    real = np.array([[10000.0], [10001.0], [10003.0]], np.float32)
    fake = np.array([[10002.0], [10005.0], [10001.5]], np.float32)
    assert precision_recall(real, fake, k=1) == (1.0, 2 / 3)
    assert precision_recall(fake, real, k=1) == (2 / 3, 1.0)


def test_fid_adds_the_reference_ridge_when_one_set_has_a_dead_feature():
    # TTUR's reference code: sqrtm((C_a + 1e-6 I)(C_b + 1e-6 I)). A feature dead in one set only
    # makes the product singular; the ridge shifts FID by about 2 sqrt(1e-6 var) there.
    a = with_moments(200, np.zeros(3), np.diag([1.0, 2.0, 1.0]), seed=6)
    a[:, 2] = 0.0  # dead in a, alive (variance 4) in b
    b = with_moments(150, np.ones(3), np.diag([2.0, 1.0, 4.0]), seed=7)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ridge = 1e-6 * np.eye(3)
    cross = np.sum(np.sqrt(np.linalg.eigvals((ca + ridge) @ (cb + ridge)).real))
    expected = 3.0 + np.trace(ca) + np.trace(cb) - 2 * cross
    assert fid(a, b) == pytest.approx(expected, rel=1e-7)
    assert fid(b, a) == pytest.approx(expected, rel=1e-7)
