"""Intervals: known answers, and the deliberate bugs they must catch."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from halfway_utils.evidence import stats


def test_across_seeds_is_the_student_t_interval():
    values = np.array([0.2, 0.5, 0.4, 0.9, 0.3])
    est = stats.across_seeds(values)
    half = sps.t.ppf(0.975, 4) * values.std(ddof=1) / np.sqrt(5)  # written out, not 1.96 sd / n
    assert est.value == pytest.approx(values.mean())
    assert (est.low, est.high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert half > 1.96 * values.std(ddof=1) / np.sqrt(5)  # t is wider than normal at n = 5
    single = stats.across_seeds([0.7])
    assert single.value == 0.7 and np.isnan(single.low) and np.isnan(single.high)


def test_cluster_bootstrap_resamples_models_then_inputs_like_a_hand_written_loop():
    rng = np.random.default_rng(5)
    groups = [rng.normal(k, 1.0, size=n) for k, n in zip(range(5), (7, 3, 9, 4, 6))]
    est = stats.cluster_bootstrap(groups, np.median, n_boot=300, seed=11)
    hand = np.random.default_rng(11)
    boots = []
    for _ in range(300):
        picks = hand.integers(0, 5, 5)
        boots.append(np.median(np.concatenate([groups[k][hand.integers(0, len(groups[k]), len(groups[k]))]
                                               for k in picks])))
    assert est.value == pytest.approx(np.median(np.concatenate(groups)))
    se = np.std(boots, ddof=1) * np.sqrt(5 / 4)  # the bootstrap SE scaled by M / (M - 1), then t(4)
    assert (est.se, est.df) == (pytest.approx(se), 4)
    assert (est.low, est.high) == pytest.approx((est.value - 2.7764451 * se, est.value + 2.7764451 * se))
    assert est.n == 5
    old = stats.cluster_bootstrap(groups, np.median, n_boot=300, seed=11, interval="percentile")
    assert (old.low, old.high) == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))


def test_a_cluster_interval_is_wider_than_a_point_interval_when_models_differ():
    rng = np.random.default_rng(0)
    groups = [rng.normal(mu, 0.1, size=200) for mu in (0.0, 1.0, 2.0, 3.0, 4.0)]
    cluster = stats.cluster_bootstrap(groups, n_boot=500, seed=0)
    points = stats.bootstrap(np.concatenate(groups), n_boot=500, seed=0)
    assert (cluster.high - cluster.low) > 5 * (points.high - points.low)


def test_cluster_bootstrap_without_within_keeps_each_model_whole():
    groups = [np.array([1.0, 1.0]), np.array([3.0, 3.0])]
    est = stats.cluster_bootstrap(groups, n_boot=400, seed=1, within=False, interval="percentile")
    assert est.value == 2.0 and est.low == 1.0 and est.high == 3.0
    # the t form: replicates 1, 2, 3 with probabilities 1/4, 1/2, 1/4 (sd ~0.71), times sqrt(2) and t(1)
    est = stats.cluster_bootstrap(groups, n_boot=4000, seed=1, within=False)
    assert est.df == 1 and est.se == pytest.approx(1.0, rel=0.05) and est.high - est.value == pytest.approx(
        12.7062047 * est.se)


def test_cluster_bootstrap_needs_two_models_for_an_interval():
    est = stats.cluster_bootstrap([[1.0, 2.0, np.nan], []], n_boot=50)
    assert est.value == 1.5 and est.n == 1 and np.isnan(est.low)
    assert np.isnan(stats.cluster_bootstrap([], n_boot=50).value)


def test_partial_spearman_ranks_the_control():
    # x and y are both the heavy-tailed control c times independent noise: given the ranks
    # of c they are unrelated, while a fit on the raw c (what skipping its ranking does)
    # leaves c's ordering in both residuals.
    rng = np.random.default_rng(3)
    c = np.exp(3 * rng.normal(size=200))
    x, y = c * np.exp(rng.normal(0, 0.3, 200)), c * np.exp(rng.normal(0, 0.3, 200))
    ranked = stats.partial_spearman(x, y, c, n_boot=200).value
    raw_design = np.column_stack([np.ones(200), c])
    rx, ry = (sps.rankdata(v) - raw_design @ np.linalg.lstsq(raw_design, sps.rankdata(v), rcond=None)[0]
              for v in (x, y))
    unranked = float(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)))
    assert abs(ranked) < 0.2 and unranked > 0.9


def test_model_groups_one_array_per_model_within_its_stratum_in_order_of_appearance():
    frame = pd.DataFrame({"dataset": ["fm", "fm", "mnist", "fm", "fm"], "arch": ["cnn", "cnn", "mlp", "cnn", "mlp"],
                          "seed": [1, 1, 0, 0, 0], "gain": [0.1, 0.2, 0.3, 0.4, 0.5]})
    groups = stats.model_groups(frame, "gain")
    assert list(groups) == ["fm/cnn", "mnist/mlp", "fm/mlp"] and stats.stratum_label("fm", "cnn") == "fm/cnn"
    assert [g.tolist() for g in groups["fm/cnn"]] == [[0.1, 0.2], [0.4]]  # seed 1 first: it appears first
    assert groups["mnist/mlp"][0].dtype == float and groups["fm/mlp"][0].tolist() == [0.5]
