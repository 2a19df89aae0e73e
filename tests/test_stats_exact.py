"""Pins the exact numbers (values, intervals, se, df, n, method) of halfway_utils.evidence.stats and .intervals."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from halfway_utils.evidence import intervals, stats
from halfway_utils.evidence.stats import Estimate

NAN = float("nan")
T = "bootstrap SE, t(models - 1)"


def exact(x):
    return pytest.approx(x, rel=1e-12, abs=1e-12, nan_ok=True)


def same(got: Estimate, want: Estimate) -> None:
    """Every field equal: numbers to 1e-12, NaN where NaN, n and method and level exactly."""
    assert (got.n, got.method) == (want.n, want.method)
    for field in ("value", "low", "high", "se", "df", "level"):
        assert getattr(got, field) == exact(getattr(want, field)), field


def t_interval(value, boots, n, method, level=0.95, df=None, inflate=None) -> Estimate:
    """value +- t(df) * sd(finite boots) * sqrt(inflate), df = n - 1 and inflate = n / (n - 1) unless given."""
    b = np.asarray(boots, float)
    b = b[np.isfinite(b)]
    df = n - 1 if df is None else df
    se = math.sqrt(np.sum((b - b.mean()) ** 2) / (len(b) - 1)) * math.sqrt(n / (n - 1) if inflate is None else inflate)
    half = sps.t.ppf(1 - (1 - level) / 2, df) * se
    label = method if T in method else f"{method}; {T}"
    return Estimate(value, value - half, value + half, n, label, se, df, level)


# --------------------------------------------------------------------------- _clean, bootstrap, share, across_seeds


def test_clean_keeps_the_finite_values_as_a_flat_float_array():
    out = stats._clean([[1, np.nan], [np.inf, 2], [-np.inf, 3]])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0, 3.0]
    assert stats._clean([1, None, 4]).tolist() == [1.0, 4.0]
    ints = stats._clean(np.array([3, 1]))
    assert ints.dtype == np.float64 and ints.tolist() == [3.0, 1.0]
    assert stats._clean(2.5).tolist() == [2.5] and stats._clean([]).shape == (0,)


def _boot_replay(values, statistic, n_boot, seed, level=0.95):
    arr = np.asarray(values, float)
    arr = arr[np.isfinite(arr)]
    idx = np.random.default_rng(seed).integers(0, len(arr), size=(n_boot, len(arr)))
    boots = [statistic(arr[row]) for row in idx]
    return t_interval(float(statistic(arr)), boots, len(arr), "bootstrap", level)


def test_bootstrap_defaults_are_the_mean_2000_draws_seed_0_and_a_t_interval():
    values = [0.3, np.nan, 1.7, 0.2, 2.9, 0.8, np.inf, 1.1]
    same(stats.bootstrap(values), _boot_replay(values, np.mean, 2000, 0))
    assert stats.bootstrap(values).n == 6 and stats.bootstrap(values).df == 5


def test_bootstrap_takes_its_statistic_n_boot_level_and_seed():
    values = [0.3, 1.7, 0.2, 2.9, 0.8, 1.1, 5.0]
    same(stats.bootstrap(values, np.median, n_boot=150, level=0.8, seed=4),
         _boot_replay(values, np.median, 150, 4, 0.8))

    def spread(x):  # not numpy's: computed row by row
        return float(np.max(x) - np.min(x))

    same(stats.bootstrap(values, spread, n_boot=90, seed=2), _boot_replay(values, spread, 90, 2))
    assert stats.bootstrap(values, n_boot=90, seed=2).se != stats.bootstrap(values, n_boot=90, seed=3).se


def test_bootstrap_of_nothing_finite():
    same(stats.bootstrap([np.nan, np.inf]), Estimate(NAN, NAN, NAN, 0, "bootstrap"))
    same(stats.bootstrap([2.0], n_boot=20), Estimate(2.0, NAN, NAN, 1, f"bootstrap; {T}"))


def test_share_is_the_bootstrap_of_the_flags_with_seed_0_by_default():
    flags = [True, False, True, True, False, True, True]
    got = stats.share(flags, 120)
    same(got, _boot_replay(np.array(flags, float), np.mean, 120, 0))
    assert got.value == exact(5 / 7)
    same(stats.share(flags, 80, seed=6), _boot_replay(np.array(flags, float), np.mean, 80, 6))
    assert stats.share(flags, 80, seed=6).se != stats.share(flags, 80).se


def test_across_seeds_exactly_at_another_level_dropping_nan():
    values = [0.2, np.nan, 0.5, 0.4, 0.9]
    arr = np.array([0.2, 0.5, 0.4, 0.9])
    se = arr.std(ddof=1) / 2
    half = sps.t.ppf(0.9, 3) * se
    same(stats.across_seeds(values, level=0.8),
         Estimate(arr.mean(), arr.mean() - half, arr.mean() + half, 4, "t across seeds", se, 3, 0.8))
    default = stats.across_seeds(values)
    assert default.level == 0.95 and default.high - default.value == exact(sps.t.ppf(0.975, 3) * se)
    same(stats.across_seeds([np.nan, 0.7]), Estimate(0.7, NAN, NAN, 1, "single seed"))
    same(stats.across_seeds([np.nan]), Estimate(NAN, NAN, NAN, 0, "t across seeds"))
    two = stats.across_seeds([1.0, 2.0])
    assert (two.n, two.df, two.se) == (2, 1.0, exact(0.5))


# --------------------------------------------------------------------------- spearman


def _spearman_replay(a, b, n_boot, seed):
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        if len(set(a[idx])) > 1 and len(set(b[idx])) > 1:
            boots.append(sps.spearmanr(a[idx], b[idx]).statistic)
    return boots


def test_spearman_defaults_replayed_with_ties_nan_and_degenerate_resamples():
    x = [1.0, 2.0, 2.0, np.nan, 5.0, 3.0, 4.0]
    y = [2.0, 1.0, 3.0, 0.0, 6.0, np.inf, 4.0]
    got = stats.spearman(x, y)
    a, b = np.array([1.0, 2.0, 2.0, 5.0, 4.0]), np.array([2.0, 1.0, 3.0, 6.0, 4.0])
    ra, rb = sps.rankdata(a), sps.rankdata(b)
    rho = np.corrcoef(ra, rb)[0, 1]
    boots = _spearman_replay(x, y, 2000, 0)
    assert len(boots) < 2000  # some resamples are constant and skipped
    low, high = np.quantile(boots, [0.025, 0.975])
    same(got, Estimate(rho, low, high, 5, "spearman, paired bootstrap"))
    boots = _spearman_replay(x, y, 300, 9)
    same(stats.spearman(x, y, n_boot=300, seed=9),
         Estimate(rho, *np.quantile(boots, [0.025, 0.975]), 5, "spearman, paired bootstrap"))


def test_spearman_needs_three_points_and_a_varying_resample():
    same(stats.spearman([1.0, 2.0, np.nan], [2.0, 1.0, 3.0]), Estimate(NAN, NAN, NAN, 2, "spearman"))
    three = stats.spearman([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], n_boot=50, seed=1)
    boots = _spearman_replay([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], 50, 1)
    same(three, Estimate(0.5, *np.quantile(boots, [0.025, 0.975]), 3, "spearman, paired bootstrap"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: scipy warns and gives NaN
        flat = stats.spearman([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], n_boot=30)
    same(flat, Estimate(NAN, NAN, NAN, 4, "spearman, paired bootstrap"))


# --------------------------------------------------------------------------- ranks: _rank_columns, _partial_rank_corr


def test_rank_columns_gives_average_ranks_per_column():
    values = np.array([[1.0, 5.0, 0.1], [1.0, 3.0, 0.3], [7.0, 3.0, 0.2], [2.0, 9.0, 0.0]])
    np.testing.assert_array_equal(stats._rank_columns(values),
                                  [[1.5, 3.0, 2.0], [1.5, 1.5, 4.0], [4.0, 1.5, 3.0], [3.0, 4.0, 1.0]])


def _partial_by_inverse(a, b, control):
    """Partial correlation of the ranks from the inverse of their correlation matrix."""
    control = np.asarray(control, float).reshape(len(a), -1)
    cols = [sps.rankdata(a), sps.rankdata(b), *(sps.rankdata(c) for c in control.T)]
    p = np.linalg.inv(np.corrcoef(np.vstack(cols)))
    return -p[0, 1] / math.sqrt(p[0, 0] * p[1, 1])


A = np.array([3.1, 0.2, 5.5, 4.4, 1.0, 9.0, 2.2, 7.7, 6.1, 0.5])
B = np.array([1.0, 0.4, 8.0, 2.0, 2.0, 30.0, 0.1, 9.5, 3.3, 1.2])
C1 = np.array([0.0, 1.0, 1.0, 3.0, 0.0, 2.0, 3.0, 1.0, 2.0, 0.0])
C2 = np.array([9.0, 1.0, 2.0, 7.0, 3.0, 8.0, 4.0, 6.0, 5.0, 0.0])


def test_partial_rank_corr_against_the_inverse_correlation_matrix():
    one = stats._partial_rank_corr(A, B, C1[:, None])
    ra, rb, rc = sps.rankdata(A), sps.rankdata(B), sps.rankdata(C1)
    r = np.corrcoef([ra, rb, rc])
    assert one == exact((r[0, 1] - r[0, 2] * r[1, 2]) / math.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2)))
    both = np.column_stack([C1, C2])
    assert stats._partial_rank_corr(A, B, both) == exact(_partial_by_inverse(A, B, both))
    assert stats._partial_rank_corr(A, B, np.zeros((10, 0))) == exact(np.corrcoef(ra, rb)[0, 1])


def test_partial_rank_corr_is_nan_when_either_residual_is_constant():
    assert np.isnan(stats._partial_rank_corr(C2 * 2 + 1, B, C2[:, None]))  # a explained by the control
    assert np.isnan(stats._partial_rank_corr(A, np.exp(C2), C2[:, None]))  # b explained by the control
    assert np.isnan(stats._partial_rank_corr(np.ones(5), B[:5], np.zeros((5, 0))))


def test_rank_residuals_are_the_ranks_minus_their_projection_on_the_control_ranks():
    for control in (C1, np.column_stack([C1, C2])):
        design = np.column_stack([np.ones(10), *(sps.rankdata(c) for c in control.reshape(10, -1).T)])
        hat = design @ np.linalg.solve(design.T @ design, design.T)
        want = sps.rankdata(B) - hat @ sps.rankdata(B)
        np.testing.assert_allclose(stats.rank_residuals(B, control), want, rtol=0, atol=1e-12)
    got = stats.rank_residuals(list(B), C1.tolist())  # plain lists, ties in both
    assert got.shape == (10,) and got.sum() == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(stats.rank_residuals(B[:, None], C1[None, :]), got, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- partial_spearman


def _partial_replay(a, b, c, g, n_boot, seed, level):
    labels, members = np.unique(g, return_inverse=True)
    index = [np.flatnonzero(members == k) for k in range(len(labels))]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = np.concatenate([index[k] for k in rng.integers(0, len(labels), len(labels))])
        r = stats._partial_rank_corr(a[idx], b[idx], c[idx])
        if np.isfinite(r):
            boots.append(r)
    alpha = (1 - level) / 2
    return np.quantile(boots, [alpha, 1 - alpha]), len(boots)


GROUPS = np.array(["m2", "m0", "m1", "m2", "m0", "m2", "m1", "m3", "m3", "m2"])


def test_partial_spearman_defaults_point_bootstrap_2000_draws_seed_0_level_95():
    got = stats.partial_spearman(A, B, C1)
    (low, high), _ = _partial_replay(A, B, C1[:, None], np.arange(10), 2000, 0, 0.95)
    same(got, Estimate(_partial_by_inverse(A, B, C1), low, high, 10, "partial spearman, point bootstrap"))


def test_partial_spearman_cluster_bootstrap_with_every_argument_and_nan_dropped():
    a, b, c1 = A.copy(), B.copy(), np.column_stack([C1, C2])
    a[3], c1[6, 1] = np.nan, np.inf  # points 3 and 6 drop; their groups m2 and m1 keep other points
    keep = np.isfinite(a) & np.isfinite(c1).all(1)
    got = stats.partial_spearman(a[:, None], b.tolist(), c1, groups=list(GROUPS), n_boot=300, level=0.8, seed=5)
    (low, high), kept = _partial_replay(a[keep], b[keep], c1[keep], GROUPS[keep], 300, 5, 0.8)
    want = _partial_by_inverse(a[keep], b[keep], c1[keep])
    same(got, Estimate(want, low, high, 4, "partial spearman, cluster bootstrap"))
    assert kept < 300  # resamples of one model's points have constant residuals: dropped, not NaN
    other = stats.partial_spearman(a, b, c1, groups=GROUPS, n_boot=300, level=0.8, seed=6)
    assert other.value == got.value and other.low != got.low


def test_partial_spearman_without_control_is_spearman_and_counts_groups_left():
    b = B.copy()
    b[[1, 4]] = np.nan  # both points of m0: three groups remain
    got = stats.partial_spearman(A, b, None, groups=GROUPS, n_boot=200, seed=2)
    keep = np.isfinite(b)
    (low, high), _ = _partial_replay(A[keep], b[keep], np.zeros((8, 0)), GROUPS[keep], 200, 2, 0.95)
    same(got, Estimate(sps.spearmanr(A[keep], b[keep]).statistic, low, high, 3, "spearman, cluster bootstrap"))
    point = stats.partial_spearman(A, B, None, n_boot=50)
    assert point.method == "spearman, point bootstrap" and point.n == 10


def test_partial_spearman_needs_control_columns_plus_three_points_and_two_groups():
    x, y, c = [1.0, 3.0, 2.0, 4.0], [2.0, 1.0, 4.0, 3.0], [1.0, 1.0, 2.0, 2.0]
    four = stats.partial_spearman(x, y, c, n_boot=40)
    assert np.isfinite(four.value) and four.n == 4
    same(stats.partial_spearman(x[:3], y[:3], c[:3], n_boot=40),
         Estimate(NAN, NAN, NAN, 3, "partial spearman, point bootstrap"))
    two_cols = np.column_stack([c, [0.0, 1.0, 0.0, 1.0]])
    same(stats.partial_spearman(x, y, two_cols, n_boot=40),
         Estimate(NAN, NAN, NAN, 4, "partial spearman, point bootstrap"))
    same(stats.partial_spearman(x[:2], y[:2], None, n_boot=40), Estimate(NAN, NAN, NAN, 2, "spearman, point bootstrap"))
    assert np.isfinite(stats.partial_spearman(x[:3], y[:3], None, n_boot=40).value)
    same(stats.partial_spearman(x, y, c, groups=["g"] * 4, n_boot=40),
         Estimate(NAN, NAN, NAN, 1, "partial spearman, cluster bootstrap"))
    two = stats.partial_spearman(x, y, c, groups=["g", "g", "h", "h"], n_boot=40)
    assert two.n == 2 and np.isfinite(two.value)


def test_partial_spearman_with_no_finite_resample_has_no_interval():
    got = stats.partial_spearman([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], None, n_boot=30)
    same(got, Estimate(NAN, NAN, NAN, 4, "spearman, point bootstrap"))


def test_partial_spearman_refuses_inputs_of_other_lengths():
    with pytest.raises(ValueError, match="^x, y, control and groups must have one entry per point$"):
        stats.partial_spearman(A, B[:9], None)
    with pytest.raises(ValueError, match="one entry per point"):
        stats.partial_spearman(A, B, C1, groups=GROUPS[:9])


# --------------------------------------------------------------------------- cluster_bootstrap

RAGGED = [[0.4, 1.3, np.nan, 2.2], [3.0, 2.5], [np.nan, np.nan], [0.1, 0.9, 1.4, 0.7, 5.0], [2.0, 2.2, 1.9]]
SHARED = [[0.4, 1.3, np.nan, 2.2, 0.8, 1.0], [3.0, 2.5, 2.8, np.nan, 3.3, 2.9],
          [np.nan, np.nan, np.nan], [0.1, 0.9, 1.4, 0.7, np.nan, 0.2], [2.0, 2.2, 1.9, 2.4, 2.1, 1.7]]
TWO = "two-level cluster bootstrap (models, then inputs)"
JOINT = "two-level cluster bootstrap (models, then shared inputs jointly)"
WHOLE = "cluster bootstrap (models)"


def _cluster_replay(groups, statistic, n_boot, seed, within, shared):
    raw = [np.asarray(g, float) for g in groups]
    raw = [g if shared else g[np.isfinite(g)] for g in raw if np.isfinite(g).any()]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(raw), len(raw))
        common = rng.integers(0, len(raw[0]), len(raw[0])) if shared and within else None
        parts = []
        for k in picks:
            if not within:
                parts.append(raw[k])
            else:
                parts.append(raw[k][common if shared else rng.integers(0, len(raw[k]), len(raw[k]))])
        pooled = np.concatenate(parts)
        boots.append(statistic(pooled[np.isfinite(pooled)]))
    flat = np.concatenate(raw)
    return float(statistic(flat[np.isfinite(flat)])), np.array(boots), len(raw)


def test_cluster_bootstrap_defaults_mean_2000_draws_seed_0_within_and_t():
    value, boots, n = _cluster_replay(RAGGED, np.mean, 2000, 0, True, False)
    same(stats.cluster_bootstrap(RAGGED), t_interval(value, boots, n, TWO))
    assert n == 4 and stats.cluster_bootstrap(RAGGED, interval="t") == stats.cluster_bootstrap(RAGGED)
    assert stats.cluster_bootstrap(RAGGED, n_boot=100, interval="anything else") == \
        stats.cluster_bootstrap(RAGGED, n_boot=100)


def test_cluster_bootstrap_percentile_and_t_take_the_level_and_seed():
    value, boots, n = _cluster_replay(RAGGED, np.median, 250, 3, True, False)
    got = stats.cluster_bootstrap(RAGGED, np.median, n_boot=250, level=0.8, seed=3, interval="percentile")
    same(got, Estimate(value, *np.quantile(boots, [0.1, 0.9]), n, TWO + ", percentile", level=0.8))
    same(stats.cluster_bootstrap(RAGGED, np.median, n_boot=250, level=0.8, seed=3),
         t_interval(value, boots, n, TWO, level=0.8))


def test_cluster_bootstrap_shared_inputs_draw_one_input_resample_for_all_models():
    value, boots, n = _cluster_replay(SHARED, np.mean, 2000, 0, True, True)
    same(stats.cluster_bootstrap(SHARED, shared=True), t_interval(value, boots, n, JOINT))
    assert n == 4 and value == exact(np.nanmean(np.concatenate([SHARED[k] for k in (0, 1, 3, 4)])))
    value, boots, n = _cluster_replay(SHARED, np.median, 150, 8, True, True)
    same(stats.cluster_bootstrap(SHARED, np.median, n_boot=150, seed=8, shared=True, interval="percentile", level=0.9),
         Estimate(value, *np.quantile(boots, [0.05, 0.95]), n, JOINT + ", percentile", level=0.9))
    unshared = stats.cluster_bootstrap(SHARED, np.median, n_boot=150, seed=8)  # inputs drawn per model
    assert unshared.value == value and unshared.se != stats.cluster_bootstrap(SHARED, np.median, n_boot=150, seed=8,
                                                                              shared=True).se


def test_cluster_bootstrap_without_within_redraws_whole_models_shared_or_not():
    for shared in (False, True):
        value, boots, n = _cluster_replay(SHARED, np.mean, 120, 4, False, shared)
        same(stats.cluster_bootstrap(SHARED, n_boot=120, seed=4, within=False, shared=shared),
             t_interval(value, boots, n, WHOLE))


def test_cluster_bootstrap_shared_needs_equal_lengths_once_empty_models_are_dropped():
    with pytest.raises(ValueError, match=r"^shared inputs need one value per input for every model \(equal lengths\)$"):
        stats.cluster_bootstrap([[1.0, 2.0], [1.0, 2.0, 3.0]], shared=True)
    ok = stats.cluster_bootstrap([[1.0, 2.0], [np.nan, np.nan, np.nan], [3.0, 5.0]], n_boot=20, shared=True)
    assert ok.n == 2 and ok.value == 2.75
    missing = stats.cluster_bootstrap([[1.0, None, 3.0], [2.0, 2.0, None]], n_boot=20, shared=True)
    assert missing.n == 2 and missing.value == 2.0  # None reads as a missing input
    assert stats.cluster_bootstrap([[1.0, 2.0], [1.0, 2.0, 3.0]], n_boot=20).n == 2  # unshared: any lengths


def test_cluster_bootstrap_without_two_models_names_its_method():
    same(stats.cluster_bootstrap([[np.nan], [2.0, np.nan, 4.0]], n_boot=10), Estimate(3.0, NAN, NAN, 1, TWO))
    same(stats.cluster_bootstrap([[2.0, np.nan, 4.0]], n_boot=10, shared=True), Estimate(3.0, NAN, NAN, 1, JOINT))
    same(stats.cluster_bootstrap([], within=False), Estimate(NAN, NAN, NAN, 0, WHOLE))
    same(stats.cluster_bootstrap([[np.nan]], shared=True), Estimate(NAN, NAN, NAN, 0, JOINT))


# --------------------------------------------------------------------------- pairs: permutation_null ... dyadic


def test_permutation_null_is_the_median_over_same_label_inputs_both_ways():
    a = np.array([1.0, 4.0, 2.0, 8.0, 3.0, 5.0, 7.0])
    b = np.array([0.5, 2.0, 6.0, 1.0, 9.0, 4.0, 3.0])
    labels = np.array(["u", "v", "u", "v", "u", "w", "u"])

    def relation(x, y):
        return x - 2 * y

    want = []
    for i in range(7):
        others = [j for j in range(7) if j != i and labels[j] == labels[i]]
        want.append(np.median([relation(a[i], b[j]) for j in others] + [relation(a[j], b[i]) for j in others])
                    if others else NAN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an input alone in its class gives NaN without a warning
        got = stats.permutation_null(a.tolist(), b.tolist(), labels.tolist(), relation)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[5]) and got.shape == (7,)


def test_pair_weights_multiply_the_two_models_counts_by_name():
    counts = np.array([[1.0, 2.0, 0.0, 3.0], [2.0, 1.0, 1.0, 0.0], [0.0, 0.0, 4.0, 2.0]])
    models = ["d", "a", "c", "b"]
    pairs = [("a", "b"), ("c", "d"), ("b", "c"), ("d", "a")]
    np.testing.assert_array_equal(stats.pair_weights(counts, models, pairs),
                                  [[6.0, 0.0, 0.0, 2.0], [0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 8.0, 0.0]])


def test_is_dyadic_intersects_every_pair_from_the_second_on():
    assert stats.is_dyadic([("a", "b"), ("c", "d")]) is True  # two pairs are enough
    assert stats.is_dyadic([("a", "b"), ("a", "c")]) is False
    assert stats.is_dyadic([("a", "b"), ("c", "d"), ("a", "e")]) is True  # the second pair decides
    assert stats.is_dyadic([("a", "b"), ("a", "c"), ("b", "c")]) is True  # the third pair decides
    assert stats.is_dyadic([("a", "b"), ("b", "c"), ("c", "b")]) is False
    assert stats.is_dyadic([("a", "b"), ("b", "a")]) is False


def test_pair_effects_take_the_median_over_inputs_nan_ignored_in_either():
    obs = np.array([[1.0, 3.0, 2.0, 10.0], [4.0, 4.0, 8.0, 0.0], [np.nan] * 4, [1.0, 2.0, 3.0, 4.0]])
    null = np.array([[1.0, 1.0, np.nan, 3.0], [2.0, 2.0, 2.0, 2.0], [1.0] * 4, [0.0, 0.0, 0.0, 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = stats.pair_effects(obs, null)
    np.testing.assert_array_equal(got, [2.5, 2.0, NAN, np.inf])
    clean = stats.pair_effects(obs[[0, 1, 3]], np.ones((3, 4)) * 2)  # nothing missing: plain medians
    np.testing.assert_array_equal(clean, [1.25, 2.0, 1.25])


def _effects(obs, null, inputs):
    out = np.full((len(inputs), len(obs)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b, row in enumerate(inputs):
            for p in range(len(obs)):
                out[b, p] = np.nanmedian(obs[p, row]) / np.nanmedian(null[p, row])
    return out


def _weighted(effects, weights):
    out = []
    for e, w in zip(effects, weights):
        ok = np.isfinite(e)
        out.append(np.sum(e[ok] * w[ok]) / np.sum(w[ok]) if np.sum(w[ok]) > 0 else NAN)
    return np.array(out)


def test_crossed_bootstrap_replayed_by_hand():
    rng = np.random.default_rng(3)
    models = ["a/0", "a/1", "b/0", "b/1"]
    pairs = [("a/0", "a/1"), ("a/0", "b/0"), ("a/1", "b/1"), ("b/0", "b/1"), ("a/0", "b/1")]
    obs = rng.uniform(0.5, 2.0, (5, 7))
    null = rng.uniform(1.0, 3.0, (5, 7))
    obs[1, 2:] = np.nan  # a pair measured on two inputs only: NaN where neither is drawn
    obs[4] = np.nan  # a pair with no measurement at all
    null[3, 0] = np.nan
    counts = stats.model_draws(["a", "a", "b", "b"], 40, np.random.default_rng(1))
    inputs = rng.integers(0, 7, (40, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, boots = stats.crossed_bootstrap(obs, null, models, pairs, counts=counts, inputs=inputs)
    point = [np.nanmedian(obs[p]) / np.nanmedian(null[p]) for p in range(4)]
    assert value == exact(np.mean(point))
    ia = [models.index(x) for x, _ in pairs]
    ib = [models.index(y) for _, y in pairs]
    want = _weighted(_effects(obs, null, inputs), counts[:, ia] * counts[:, ib])
    np.testing.assert_allclose(boots, want, rtol=1e-12, equal_nan=True)
    assert np.isfinite(boots).sum() > 30


def test_crossed_bootstrap_of_no_pairs_is_nan_per_replicate():
    value, boots = stats.crossed_bootstrap(np.zeros((0, 3)), np.zeros((0, 3)), ["a", "b"], [],
                                           counts=np.ones((6, 2)), inputs=np.zeros((6, 3), int))
    assert np.isnan(value) and boots.shape == (6,) and np.isnan(boots).all()


def test_resampled_medians_at_the_edges_of_the_sorted_row():
    values = np.array([[3.0, 1.0, 2.0, 5.0, 4.0], [2.0, np.nan, 2.0, 1.0, 9.0], [7.0, 7.0, 7.0, 7.0, 7.0]])
    inputs = np.array([[3, 3, 3, 3, 3],   # only the largest value (the last sorted index)
                       [1, 1, 1, 1, 1],   # only the NaN of row 1
                       [0, 1, 2, 3, 4],   # the rows themselves
                       [4, 4, 0, 0, 1],   # an even count of finite values in row 1
                       [0, 0, 0, 0, 0]])  # never the last column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.nanmedian(values[:, inputs], axis=-1)
    got = stats.resampled_medians(values.tolist(), inputs)
    np.testing.assert_array_equal(got, want)
    assert got[0].tolist() == [5.0, 1.0, 3.0, 3.0, 3.0] and np.isnan(got[1, 1]) and got[1, 3] == 5.5
    one = stats.resampled_medians(np.array([[4.0]]), np.zeros((3, 1), int))
    np.testing.assert_array_equal(one, [[4.0, 4.0, 4.0]])


def test_dyadic_bootstrap_with_weighted_spearman_rows():
    models = ["x", "y", "z"]
    pairs = [("x", "y"), ("y", "z"), ("x", "z"), ("z", "z")]
    values = [[1, 2], [2, 1], [3, 4], [4, 3]]
    counts = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    seen = []

    def statistic(v, w):
        seen.append((v.dtype, np.asarray(w).tolist()))
        return stats.weighted_spearman(v, w)

    value, boots = stats.dyadic_bootstrap(values, models, pairs, statistic, counts=counts)
    v = np.array(values, float)
    assert value == exact(sps.spearmanr(v[:, 0], v[:, 1]).statistic)
    weights = [[1, 1, 1, 1], [2, 0, 0, 0], [0, 2, 0, 4]]
    want = [sps.spearmanr(np.repeat(v[:, 0], w), np.repeat(v[:, 1], w)).statistic for w in ([1, 1, 1, 1], [0, 2, 0, 4])]
    assert boots[0] == exact(want[0]) and np.isnan(boots[1]) and boots[2] == exact(want[1])
    assert [w for _, w in seen] == [*weights, [1.0, 1.0, 1.0, 1.0]] and all(d == np.float64 for d, _ in seen)


def test_weighted_spearman_repeats_rows_drops_nan_and_needs_three_varying_values():
    values = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0], [np.nan, 0.0], [5.0, np.nan]])
    assert stats.weighted_spearman(values, np.array([1.0, 1.0, 1.0, 1.0, 1.0])) == exact(0.5)
    a, b = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0]), np.array([2.0, 2.0, 1.0, 3.0, 3.0, 3.0])
    assert stats.weighted_spearman(values, np.array([2.0, 1.0, 3.0, 4.0, 1.0])) == exact(sps.spearmanr(a, b).statistic)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constant columns are caught before scipy warns
        assert np.isnan(stats.weighted_spearman(values, [1, 1, 0, 0, 0]))  # two rows only
        assert np.isnan(stats.weighted_spearman(values, [0, 0, 1, 0, 0]))
        assert stats.weighted_spearman(values, [2, 1, 0, 0, 0]) == -1.0  # three rows are enough
        assert np.isnan(stats.weighted_spearman(np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]), [1, 1, 1]))
        assert np.isnan(stats.weighted_spearman(np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]]), [1, 1, 1]))
    assert stats.weighted_spearman(values, [1, 1, 1, 9, 9]) == exact(0.5)


# --------------------------------------------------------------------------- model_groups, stratified


def test_model_groups_cast_an_integer_column_to_float():
    frame = pd.DataFrame({"dataset": ["m", "m", "m", "f"], "arch": ["cnn", "cnn", "cnn", "cnn"],
                          "seed": [2, 0, 2, 0], "hits": [1, 2, 3, 4]})
    groups = stats.model_groups(frame, "hits")
    assert list(groups) == ["m/cnn", "f/cnn"]
    assert [g.tolist() for g in groups["m/cnn"]] == [[1.0, 3.0], [2.0]] and groups["f/cnn"][0].dtype == np.float64


def test_stratified_is_across_seeds_per_stratum_in_order_of_appearance_and_pooled():
    per_model = pd.DataFrame({"dataset": ["z", "a", "z", "a", "z", "m"],
                              "arch": ["mlp", "cnn", "mlp", "cnn", "mlp", "x"],
                              "v": [0.1, 0.5, 0.3, 0.9, 0.2, 0.4], "w": [1.0, np.nan, 3.0, 2.0, 7.0, 5.0]})
    est = stats.stratified(per_model, ["v", "w"])
    assert list(est.strata) == ["z/mlp", "a/cnn", "m/x"] and list(est.pooled) == ["v", "w"]
    for name in ("v", "w"):
        same(est.pooled[name], stats.across_seeds(per_model[name].to_numpy()))
        for key, rows in {"z/mlp": [0, 2, 4], "a/cnn": [1, 3], "m/x": [5]}.items():
            same(est.strata[key][name], stats.across_seeds(per_model[name].to_numpy()[rows]))
    assert est.strata["a/cnn"]["w"].method == "single seed" and est.strata["z/mlp"]["v"].df == 2
    assert est.pooled["w"].n == 5 and est.pooled["v"].value == exact(0.4)


# --------------------------------------------------------------------------- intervals.py


def test_t_estimate_at_another_level_and_its_nan_branches():
    est = intervals.t_estimate(np.float32(2.0), 1, 4, 5, "m", level=0.8)
    half = sps.t.ppf(0.9, 4)
    same(est, Estimate(2.0, 2.0 - half, 2.0 + half, 5, "m", 1.0, 4.0, 0.8))
    assert type(est.value) is float and type(est.se) is float and type(est.df) is float
    for value, se, df in ((NAN, 1, 4), (1.0, np.inf, 4), (1.0, 0.5, -1), (1.0, 0.5, np.inf)):
        out = intervals.t_estimate(value, se, df, 3, "m", 0.9)
        same(out, Estimate(value, NAN, NAN, 3, "m", se, df, 0.9))
        assert type(out.se) is float and type(out.df) is float
    tiny = intervals.t_estimate(1.0, 0.5, 0.5, 3, "m")
    assert tiny.high == exact(1.0 + sps.t.ppf(0.975, 0.5) * 0.5)


def test_at_level_redraws_the_t_interval_or_leaves_it_alone():
    est = intervals.t_estimate(1.0, 0.2, 6, 7, "m")
    wide = stats.at_level(est, 0.99)
    same(wide, intervals.t_estimate(1.0, 0.2, 6, 7, "m", 0.99))
    assert wide.high - wide.value == exact(sps.t.ppf(0.995, 6) * 0.2)
    bare = Estimate(1.0, 0.5, 1.5, 5, "no se")
    assert stats.at_level(bare, 0.99) is bare
    no_df = Estimate(1.0, 0.5, 1.5, 5, "no df", se=0.2)
    no_se = Estimate(1.0, 0.5, 1.5, 5, "no se", df=4.0)
    assert stats.at_level(no_df, 0.5) is no_df and stats.at_level(no_se, 0.5) is no_se


def test_replicate_interval_at_two_models_and_two_replicates():
    same(stats.replicate_interval(0.5, [0.0, 1.0], 2, "m"), t_interval(0.5, [0.0, 1.0], 2, "m"))
    assert stats.replicate_interval(0.5, [0.0, 1.0], 2, "m").se == exact(1.0)
    same(stats.replicate_interval(0.5, [0.0, np.inf, 1.0, np.nan], 3, "m", level=0.5),
         t_interval(0.5, [0.0, 1.0], 3, "m", level=0.5))


def test_satterthwaite_ignores_unusable_components():
    assert stats.satterthwaite([1.0, 1.0], [4, 0]) == exact(4.0)
    assert stats.satterthwaite([1.0, 2.0, np.inf], [3, -2, 5]) == exact(3.0)
    assert stats.satterthwaite([2.0, 1.0, 4.0], [3.0, 5.0, 7.0]) == exact(49 / (4 / 3 + 1 / 5 + 16 / 7))
    assert stats.satterthwaite([0.0, 0.0, 0.0], [2, -1, np.nan]) == 2.0
    assert stats.satterthwaite([np.nan, 0.0], [np.inf, 3]) == 3.0
    assert np.isnan(stats.satterthwaite([0.0, 0.0], [0, -1]))


def test_pooled_interval_default_dof_skips_one_model_strata_and_counts_them_in_n():
    rng = np.random.default_rng(2)
    ba, bb, bc = rng.normal(0, 1, 50), rng.normal(0, 2, 50), rng.normal(0, 3, 50)
    ba[4] = np.nan
    boots = np.append(rng.normal(0, 1.5, 60), [np.nan, np.inf])
    parts = {"a": (ba, 4, 0.5), "b": (bb, 1, 0.3), "c": (bc, 2, 0.2)}
    got = stats.pooled_interval(0.3, boots, parts, "m", level=0.9)
    comps = [0.25 * np.nanvar(ba, ddof=1) * 4 / 3, 0.04 * np.var(bc, ddof=1) * 2]
    df = sum(comps) ** 2 / (comps[0] ** 2 / 3 + comps[1] ** 2 / 1)
    want = t_interval(0.3, boots, 7, f"m; {T}, Satterthwaite df over strata", 0.9, df=df, inflate=2.0)
    same(got, want)
    swapped = stats.pooled_interval(0.3, boots, {"c": parts["c"], "b": parts["b"], "a": parts["a"]}, "m", level=0.9)
    same(swapped, want)
    dof = {"a": (np.nan, 9.0), "c": (0.0, 9.0), "b": (5.0, 1.1)}
    same(stats.pooled_interval(0.3, boots, parts, "m", dof=dof, n=11), Estimate(0.3, NAN, NAN, 11, f"m; {T}"))
    only = stats.pooled_interval(0.3, boots, parts, "m", dof={"a": (2.5, 1.7)})
    given = [0.25 * np.nanvar(ba, ddof=1) * 1.7, 0.04 * np.var(bc, ddof=1) * 2]
    assert only.df == exact(sum(given) ** 2 / (given[0] ** 2 / 2.5 + given[1] ** 2 / 1))
    assert only.se == exact(np.std(boots[:60], ddof=1) * math.sqrt(2.0))
    same(stats.pooled_interval(0.3, boots[:1], parts, "m"), Estimate(0.3, NAN, NAN, 7, f"m; {T}"))
    assert np.isfinite(stats.pooled_interval(0.3, boots[:2], parts, "m").low)
    same(stats.pooled_interval(NAN, boots, parts, "m"), Estimate(NAN, NAN, NAN, 7, f"m; {T}"))


def test_input_draws_are_the_generator_s_integers_pool_by_pool():
    draws = stats.input_draws({"b": 4, "a": 2, "c": 1}, 6, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    assert list(draws) == ["b", "a", "c"]
    for key, n in (("b", 4), ("a", 2), ("c", 1)):
        np.testing.assert_array_equal(draws[key], rng.integers(0, n, (6, n)))


def _draws(labels, n_boot, seed):
    """model_draws by hand: per group in order of appearance, one (n_boot, size) draw, counted by bincount."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_boot, len(labels)))
    for key in dict.fromkeys(labels):
        idx = [k for k, lab in enumerate(labels) if lab == key]
        picks = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        for b in range(n_boot):
            counts[b, idx] = np.bincount(picks[b], minlength=len(idx))
    return counts


def test_model_draws_replayed_with_interleaved_groups():
    labels = ["a", "b", "a", "c", "b", "a"]
    np.testing.assert_array_equal(stats.model_draws(labels, 25, np.random.default_rng(4)), _draws(labels, 25, 4))
    assert stats.model_draws([], 3, np.random.default_rng(0)).shape == (3, 0)


def test_weighted_mean_ignores_nan_values_and_their_weights():
    values = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [2.0, 4.0, 6.0]])
    weights = np.array([[1.0, 5.0, 3.0], [1.0, 1.0, 1.0], [0.0, 1.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = stats.weighted_mean(values, weights)
    np.testing.assert_array_equal(got, [2.5, NAN, 5.5])
    assert stats.weighted_mean(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == 2.0


def test_estimate_as_dict_is_every_field_in_order():
    est = Estimate(0.5, 0.1, 0.9, 4, "m", 0.2, 3.0, 0.9)
    assert list(est.as_dict().items()) == [("value", 0.5), ("low", 0.1), ("high", 0.9), ("n", 4), ("method", "m"),
                                           ("se", 0.2), ("df", 3.0), ("level", 0.9)]
    bare = Estimate(1.0, 0.0, 2.0, 1, "b").as_dict()
    assert np.isnan(bare["se"]) and np.isnan(bare["df"]) and bare["level"] == 0.95


STRATA = ["x", "y", "x", "z", "y", "x", "w", "w"]
VALUES = np.array([1.0, 2.0, 3.0, np.nan, np.nan, 4.0, 5.0, 9.0])


def _replicates():
    rng = np.random.default_rng(0)
    return VALUES[:, None] + rng.normal(0, 1, (8, 60))


def _stratified_replay(values, replicates, labels, seed, pool, units, level, method):
    counts = _draws(labels, replicates.shape[1], seed)
    out, parts = {}, {}
    for key in dict.fromkeys(labels):
        members = [k for k, lab in enumerate(labels) if lab == key]
        finite = values[members][np.isfinite(values[members])]
        value = finite.mean() if len(finite) else NAN
        boots = _weighted(replicates[members].T, counts[:, members])
        size = units.get(key, len(finite))
        out[key] = t_interval(value, boots, size, method, level) if size >= 2 else \
            Estimate(value, NAN, NAN, size, f"{method}; {T}", level=level)  # no interval, at the asked level
        parts[key] = (boots, size, len(members) / len(labels) if pool == "models" else 1.0)
    finite = [k for k in out if np.isfinite(out[k].value)]
    if pool == "models":
        value, boots = np.nanmean(values), _weighted(replicates.T, counts)
    else:
        value, boots = np.mean([out[k].value for k in finite]), np.mean([parts[k][0] for k in finite], axis=0)
    total = sum(parts[k][2] for k in finite)
    usable = [k for k in finite if parts[k][1] >= 2]
    comps = [(parts[k][2] / total) ** 2 * np.nanvar(parts[k][0], ddof=1) * parts[k][1] / (parts[k][1] - 1)
             for k in usable]
    dfs = [parts[k][1] - 1 for k in usable]
    df = sum(comps) ** 2 / sum(c ** 2 / d for c, d in zip(comps, dfs))
    inflate = max(parts[k][1] / (parts[k][1] - 1) for k in usable)
    n = sum(parts[k][1] for k in finite)
    pooled = t_interval(value, boots, n, f"{method}; {T}, Satterthwaite df over strata", level, df=df,
                        inflate=inflate)
    return pooled, out


@pytest.mark.parametrize("kwargs, seed, pool, units, level", [
    ({}, 0, "models", {}, 0.95),
    ({"seed": 3, "pool": "strata", "level": 0.9}, 3, "strata", {}, 0.9),
    ({"units": {"x": 10, "y": 3}}, 0, "models", {"x": 10, "y": 3}, 0.95),
])
def test_stratified_bootstrap_replayed_exactly(kwargs, seed, pool, units, level):
    replicates = _replicates()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the all-NaN stratum z is NaN without a warning
        pooled, strata = stats.stratified_bootstrap(VALUES, replicates, STRATA, method="m", **kwargs)
    want_pooled, want = _stratified_replay(VALUES, replicates, STRATA, seed, pool, units, level, "m")
    assert list(strata) == ["x", "y", "z", "w"]
    for key in want:
        same(strata[key], want[key])
    same(pooled, want_pooled)
    assert np.isnan(strata["z"].value) and strata["z"].n == 0


def test_stratified_bootstrap_with_no_finite_stratum_pools_to_nan():
    values = np.array([np.nan, np.nan, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled, strata = stats.stratified_bootstrap(values, np.full((3, 5), np.nan), ["a", "b", "a"], method="m",
                                                    pool="strata")
    same(pooled, Estimate(NAN, NAN, NAN, 0, f"m; {T}"))
    assert list(strata) == ["a", "b"] and strata["a"].n == 0


def test_an_estimate_without_an_interval_keeps_the_asked_level():
    """One model, no replicates or a NaN value: no interval, but the level asked for (not the default 95%)."""
    from halfway_utils.evidence import intervals

    assert intervals.replicate_interval(0.3, [0.1, 0.2], 1, "m", level=0.9).level == 0.9
    assert intervals.percentile_interval(float("nan"), [0.1, 0.2], 3, "m", level=0.8).level == 0.8
    assert intervals.pooled_interval(0.3, np.array([0.1]), {"a": (np.array([0.1, 0.2]), 1, 1.0)}, "m",
                                     level=0.9).level == 0.9
