"""Tests of the statistics with models as the unit in halfway_utils.evidence.stats (notebook 03's
designs): the permutation null, redrawing models within groups, the crossed and dyadic
bootstraps over model pairs, and the weighted Spearman correlation.
"""
from __future__ import annotations

import numpy as np
import pytest

from halfway_utils.evidence import stats
from halfway_utils.methods.directions import id_over_md


def test_permutation_null_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0, 9.0])
    labels = np.array([0, 0, 1, 1, 2])  # the last input is alone in its class
    null = stats.permutation_null(a, a.copy(), labels, id_over_md)
    # Input 0 pairs with input 1 both ways: |1 - 2| / 1.5 twice; inputs 2, 3: |3 - 4| / 3.5.
    np.testing.assert_allclose(null[:4], [1 / 1.5, 1 / 1.5, 1 / 3.5, 1 / 3.5])
    assert np.isnan(null[4])
    # The two directions of pairing both count: a_i against b_j and a_j against b_i.
    b = np.array([1.0, 1.0, 3.0, 3.0, 9.0])
    got = stats.permutation_null(a, b, labels, id_over_md)
    assert got[0] == pytest.approx(np.median([id_over_md(1.0, 1.0), id_over_md(2.0, 1.0)]))


def test_model_draws_redraw_within_each_group():
    archs = ["mlp", "mlp", "mlp", "cnn", "cnn"]  # one group per model: redrawn within it
    counts = stats.model_draws(archs, 500, np.random.default_rng(0))
    assert counts.shape == (500, 5)
    np.testing.assert_array_equal(counts[:, :3].sum(1), 3)
    np.testing.assert_array_equal(counts[:, 3:].sum(1), 2)
    assert (counts == 0).any() and counts.mean(0) == pytest.approx(np.ones(5), abs=0.15)
    again = stats.model_draws(archs, 500, np.random.default_rng(0))
    np.testing.assert_array_equal(counts, again)


def test_crossed_and_dyadic_bootstrap_by_hand():
    names = ["m/s0", "m/s1", "m/s2"]
    pairs = [("m/s0", "m/s1"), ("m/s0", "m/s2"), ("m/s1", "m/s2")]
    obs = np.array([[0.1, 0.1], [0.2, 0.2], [0.3, np.nan]])
    null = np.array([[0.5, 0.5], [0.4, 0.4], [0.3, 0.3]])
    np.testing.assert_allclose(stats.pair_effects(obs, null), [0.2, 0.5, 1.0])
    counts = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])  # the last: no pair left
    inputs = np.array([[0, 1], [0, 1], [0, 0]])
    value, boots = stats.crossed_bootstrap(obs, null, names, pairs, counts=counts, inputs=inputs)
    assert value == pytest.approx(np.mean([0.2, 0.5, 1.0]))
    assert boots[0] == pytest.approx(value)
    assert boots[1] == pytest.approx(0.2)  # only the pair (s0, s1), weight 2
    assert np.isnan(boots[2])
    v, b = stats.dyadic_bootstrap(np.array([1.0, 2.0, 3.0]), names, pairs, lambda x, w: np.sum(x * w) / np.sum(w),
                               counts=counts[:2])
    assert v == pytest.approx(2.0) and b.tolist() == pytest.approx([2.0, 1.0])
    est = stats.percentile_interval(0.5, np.linspace(0, 1, 101), 3, "m")
    assert (est.low, est.high, est.n) == (pytest.approx(0.025), pytest.approx(0.975), 3)
    est = stats.replicate_interval(0.5, np.linspace(0, 1, 101), 3, "m")  # t(2) on the SE scaled by 3 / 2
    se = np.std(np.linspace(0, 1, 101), ddof=1) * np.sqrt(1.5)
    half = 4.3026527 * se
    assert (est.low, est.high, est.n, est.df) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half), 3, 2)


def test_weighted_spearman_repeats_rows():
    values = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0], [4.0, 4.0]])
    assert stats.weighted_spearman(values, np.ones(4)) == pytest.approx(0.8)
    assert stats.weighted_spearman(values, np.array([1, 0, 0, 1])) != stats.weighted_spearman(values, np.ones(4))
    assert np.isnan(stats.weighted_spearman(values, np.array([1, 0, 0, 0])))


def test_resampled_medians_equal_numpys_nanmedian_of_the_resamples():
    rng = np.random.default_rng(0)
    for n in (5, 6, 40):
        values = rng.normal(size=(4, n))
        values[1, :2] = np.nan  # a row with missing values
        values[2] = np.nan  # and one with nothing at all
        inputs = rng.integers(0, n, (30, n))
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanmedian(values[:, inputs], axis=-1)
        np.testing.assert_allclose(stats.resampled_medians(values, inputs), want, equal_nan=True)
