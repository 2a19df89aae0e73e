"""Exact values of the claim modules' computing functions (H1, H2, S1, S2, C1, C2) against re-derivations."""
from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments.boundaries import h1
from halfway_utils.experiments.boundaries.pairs import CONTROL_KIND, TEST_KIND, flip_zone
from halfway_utils.experiments.convex_hull import c1, c2
from halfway_utils.experiments.convex_hull import tables as tb
from halfway_utils.experiments.generalization import h2
from halfway_utils.experiments.generalization import kappa as kp
from halfway_utils.experiments.som_codes import s1, s2

T = stats.T_METHOD
REL = 1e-12


# --------------------------------------------------------------------------- replays of the documented resampling

def _clean(values) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    return a[np.isfinite(a)]


def _t(value: float, boots, n: int) -> tuple[float, float, float, float, float]:
    """(value, low, high, se, df) of the t interval from replicates that redrew n units (inflate n / (n - 1))."""
    b = _clean(boots)
    se = float(b.std(ddof=1) * math.sqrt(n / (n - 1)))
    half = float(sps.t.ppf(0.975, n - 1) * se)
    return value, value - half, value + half, se, float(n - 1)


def _same(est: Estimate, value, low, high, se, df, *, n=None, method=None):
    got = (est.value, est.low, est.high, est.se, est.df)
    assert got == pytest.approx((value, low, high, se, df), rel=REL, abs=1e-15), got
    if n is not None:
        assert est.n == n
    if method is not None:
        assert est.method == method


def _cluster(groups, statistic, n_boot: int, seed: int) -> tuple[float, ...]:
    """stats.cluster_bootstrap replayed: models drawn, then each drawn model's items (a draw per model)."""
    raw = [a for a in (_clean(g) for g in groups) if len(a)]
    value = float(statistic(np.concatenate(raw)))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(raw), len(raw))
        boots.append(statistic(np.concatenate([raw[k][rng.integers(0, len(raw[k]), len(raw[k]))] for k in picks])))
    return _t(value, boots, len(raw))


CLUSTER = f"two-level cluster bootstrap (models, then inputs); {T}"


def _seeds_t(values) -> tuple[float, ...]:
    a = _clean(values)
    se = a.std(ddof=1) / math.sqrt(len(a))
    half = sps.t.ppf(0.975, len(a) - 1) * se
    return a.mean(), a.mean() - half, a.mean() + half


def _same_seeds(est: Estimate, values):
    value, low, high = _seeds_t(values)
    assert (est.value, est.low, est.high) == pytest.approx((value, low, high), rel=REL, abs=1e-15)
    assert est.n == len(_clean(values))


# =========================================================================== H1

H1_MODELS = [("mnist", "mlp", 2), ("mnist", "mlp", 0), ("mnist", "mlp", 1), ("mnist", "cnn", 0), ("mnist", "cnn", 3),
             ("fashion_mnist", "mlp", 1), ("fashion_mnist", "mlp", 0)]
H1_PATHS = {"mnist": 5, "fashion_mnist": 4}


def _h1_claim() -> pd.DataFrame:
    """Seven models on two data sets (five and four shared paths, listed in a shuffled order); the untrained
    network flips on the same paths for every model of a data set, except fashion_mnist/mlp/0 (never)."""
    rng = np.random.default_rng(7)
    z1 = {d: np.round(rng.uniform(0.0, 0.08, n), 3) for d, n in H1_PATHS.items()}
    nflip = {"mnist": np.array([1, 0, 1, 1, 0.0]), "fashion_mnist": np.array([1, 1, 0, 1.0])}
    rows = []
    for k, (d, a, s) in enumerate(H1_MODELS):
        n = H1_PATHS[d]
        order = rng.permutation(n)
        zone = np.round(rng.uniform(0.0, 0.5, n), 3)
        zone[k % n] = 0.1  # exactly at MID_ZONE
        zu = np.round(rng.uniform(0.2, 0.5, n), 3)
        has = (rng.uniform(size=n) < 0.8).astype(float)
        has[0] = 1.0
        abs_first = np.where(has > 0, np.round(rng.uniform(0, 0.5, n), 3), np.nan)
        uf = np.zeros(n) if (d, a, s) == ("fashion_mnist", "mlp", 0) else nflip[d]
        to = np.round(rng.uniform(0, 0.3, n), 3)
        to[1] = np.nan
        for p in order:
            rows.append({"dataset": d, "arch": a, "seed": s, "path": p, "zone": zone[p], "zone_untrained": zu[p],
                         "zone_1nn": z1[d][p], "closed": zu[p] - zone[p], "gap": zu[p] - z1[d][p],
                         "gain": zu[p] - zone[p] + 0.001, "to_1nn": to[p], "untrained_flip": uf[p],
                         "third_class": float(rng.uniform() < 0.3), "abs_first": abs_first[p], "has_flip": has[p],
                         "first_mid": float(rng.uniform() < 0.5), "distance": float(rng.uniform(1, 5))})
    return pd.DataFrame(rows)


def _h1_paths() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for d, a, s in H1_MODELS[:4]:
        for kind in (CONTROL_KIND, TEST_KIND, "train-train, different"):
            for p in range(3 + s % 2):
                first = np.nan if rng.uniform() < 0.3 else float(np.round(rng.uniform(), 3))
                last = first if np.isnan(first) else float(np.round(min(1.0, first + rng.uniform(0, 0.3)), 3))
                rows.append({"dataset": d, "arch": a, "seed": s, "kind": kind, "path": p, "first_flip": first,
                             "last_flip": last, "has_flip": float(np.isfinite(first))})
    return pd.DataFrame(rows)


def _groups(frame: pd.DataFrame, column: str) -> list[np.ndarray]:
    """One array per model, models in order of appearance (the fixtures list strata contiguously)."""
    return [g[column].to_numpy(float) for _, g in frame.groupby(["dataset", "arch", "seed"], sort=False)]


def _h1_models(frame: pd.DataFrame) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    out = []
    for (d, a, _), g in frame.groupby(["dataset", "arch", "seed"], sort=False):
        order = np.sort(frame.loc[frame.dataset == d, "path"].unique())
        g = g.groupby("path")[["closed", "gap"]].mean().reindex(order)
        out.append((f"{d}/{a}", d, g["closed"].to_numpy(float), g["gap"].to_numpy(float)))
    return out


def _h1_fractions(models, n_boot: int, seed: int):
    """h1.fractions replayed: per data set one draw of its paths for all its models (in order of first
    appearance), per-model ratios where the mean gap exceeds MIN_GAP, then the models redrawn within strata."""
    rng = np.random.default_rng(seed)
    sizes = {}
    for _, d, c, _ in models:
        sizes.setdefault(d, len(c))
    draws = {d: rng.integers(0, n, (n_boot, n)) for d, n in sizes.items()}
    values, reps = [], []
    for _, d, c, g in models:
        values.append(c.mean() / g.mean() if g.mean() > 1e-3 else np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mc, mg = np.nanmean(c[draws[d]], 1), np.nanmean(g[draws[d]], 1)
        reps.append(np.where(mg > 1e-3, mc / mg, np.nan))
    return stats.stratified_bootstrap(values, np.array(reps), [s for s, *_ in models], seed=seed + 1,
                                      method=h1.FRACTION_METHOD)


def _est_equal(a: Estimate, b: Estimate):
    assert (a.value, a.low, a.high, a.se, a.df) == pytest.approx((b.value, b.low, b.high, b.se, b.df), rel=REL,
                                                                 nan_ok=True)
    assert (a.n, a.method, a.level) == (b.n, b.method, b.level)


def test_h1_measurements_exact():
    claim, paths, n_boot = _h1_claim(), _h1_paths(), 40
    m = h1.measurements(claim, paths, n_boot)

    def check(name, frame, column, statistic=np.mean):
        _same(m[name], *_cluster(_groups(frame, column), statistic, n_boot, 0), method=CLUSTER)
        assert m[name].n == len([g for g in _groups(frame, column) if np.isfinite(g).any()])

    check("zone_gain_vs_untrained", claim, "gain")
    check("zone_trained", claim, "zone")
    check("zone_untrained", claim, "zone_untrained")
    check("distance_to_1nn", claim, "to_1nn")
    check("share_flip_untrained", claim, "untrained_flip")
    check("share_third_class", claim, "third_class")
    check("median_abs_first", claim, "abs_first", np.median)
    flips = claim[claim.untrained_flip > 0]
    check("zone_untrained_where_flips", flips, "zone_untrained")
    assert m["zone_untrained_where_flips"].n == 6
    check("share_first_mid", claim[claim.has_flip > 0], "first_mid")
    mid = claim.assign(mid=(claim.zone <= 0.1).astype(float))
    assert (claim.zone == 0.1).sum() == 7  # every model has a path exactly at MID_ZONE: it counts as mid
    check("share_zone_mid", mid, "mid")
    check("share_flip_same_class", paths[paths.kind == CONTROL_KIND], "has_flip")
    test = paths[paths.kind == TEST_KIND]
    zone = test.assign(zone=np.where(test.first_flip.isna(), 0.5, np.maximum(np.abs(test.first_flip - 0.5),
                                                                              np.abs(test.last_flip - 0.5))))
    check("zone_test_train", zone, "zone")
    # the 1-NN rule: one classifier per data set, bootstrap over its paths (first row of each (dataset, path))
    ref = claim.drop_duplicates(["dataset", "path"])["zone_1nn"].to_numpy()
    boots = ref[np.random.default_rng(0).integers(0, len(ref), (n_boot, len(ref)))].mean(1)
    _same(m["zone_1nn"], *_t(ref.mean(), boots, len(ref)), n=9, method=f"bootstrap; {T}")
    # the primary where the null flips: the models of the paths where their untrained network flips
    _est_equal(m["fraction_where_null_flips"], _h1_fractions(_h1_models(flips), n_boot, 0)[0])
    assert m["fraction_where_null_flips"].n == 6


def test_h1_measurements_without_untrained_flips_report_nan():
    claim = _h1_claim().assign(untrained_flip=0.0)
    m = h1.measurements(claim, _h1_paths(), 20)
    for name in ("fraction_where_null_flips", "zone_untrained_where_flips"):
        assert np.isnan(m[name].value) and m[name].n == 0 and m[name].method == "bootstrap"


def test_h1_estimates_per_stratum_exact():
    claim = _h1_claim()
    pooled, strata = h1._estimates(claim, "zone", n_boot=20)
    _same(pooled, *_cluster(_groups(claim, "zone"), np.mean, 20, 0), n=7, method=CLUSTER)
    assert list(strata) == ["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"]
    for label, est in strata.items():
        d, a = label.split("/")
        sel = claim[(claim.dataset == d) & (claim.arch == a)]
        _same(est, *_cluster(_groups(sel, "zone"), np.mean, 20, 0), n=sel.seed.nunique(), method=CLUSTER)
    med = h1._estimates(claim, "abs_first", n_boot=20, statistic=np.median, strata=False)
    assert med[1] == {}
    _same(med[0], *_cluster(_groups(claim, "abs_first"), np.median, 20, 0), n=7)


def test_h1_primary_and_fractions_exact():
    claim = _h1_claim()
    models = h1._fraction_models(claim)
    want = _h1_models(claim)
    assert [(s, d) for s, d, *_ in models] == [(s, d) for s, d, *_ in want]
    assert [s for s, *_ in models] == ["mnist/mlp"] * 3 + ["mnist/cnn"] * 2 + ["fashion_mnist/mlp"] * 2
    for (_, _, c, g), (_, _, wc, wg) in zip(models, want):
        np.testing.assert_array_equal(c, wc)
        np.testing.assert_array_equal(g, wg)
    pooled, strata = h1.primary(claim, 30)
    wp, ws = _h1_fractions(want, 30, 0)
    _est_equal(pooled, wp)
    assert list(strata) == ["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"]
    for k in strata:
        _est_equal(strata[k], ws[k])
    assert pooled.n == 7 and strata["mnist/cnn"].n == 2 and strata["mnist/cnn"].df == 1
    # the seed reaches both the path draws and the model draws
    p3, s3 = h1.fractions(models, n_boot=30, seed=3)
    w3, ws3 = _h1_fractions(want, 30, 3)
    _est_equal(p3, w3)
    _est_equal(s3["mnist/mlp"], ws3["mnist/mlp"])
    assert p3.se != pooled.se
    # the per-model value is the ratio of the means (not the mean of the ratios)
    c, g = want[0][2], want[0][3]
    assert wp.value == pytest.approx(np.mean([m[2].mean() / m[3].mean() for m in want]), rel=REL)
    assert c.mean() / g.mean() != pytest.approx(np.mean(c / g))


def test_h1_fraction_models_average_repeated_rows_and_align_paths():
    frame = pd.DataFrame({"dataset": ["d"] * 5 + ["e"] * 2, "arch": ["a"] * 3 + ["b"] * 2 + ["a"] * 2,
                          "seed": [0, 0, 0, 1, 1, 0, 0], "path": [2, 0, 2, 5, 0, 7, 3],
                          "closed": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "gap": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    out = h1._fraction_models(frame)
    assert [(s, d) for s, d, *_ in out] == [("d/a", "d"), ("d/b", "d"), ("e/a", "e")]
    np.testing.assert_allclose(out[0][2], [0.2, 0.2, np.nan], rtol=REL)  # paths 0, 2 (mean of two rows), 5
    np.testing.assert_allclose(out[0][3], [2.0, 2.0, np.nan], rtol=REL)
    np.testing.assert_allclose(out[1][2], [0.5, np.nan, 0.4], rtol=REL)
    np.testing.assert_allclose(out[2][2], [0.7, 0.6], rtol=REL)
    np.testing.assert_allclose(out[2][3], [7.0, 6.0], rtol=REL)


def test_h1_fraction_is_one_stratum_of_fractions():
    rng = np.random.default_rng(4)
    models = [(rng.uniform(0, 0.2, 6), rng.uniform(0.1, 0.3, 6)) for _ in range(4)]
    for seed in (0, 2):
        est = h1.fraction(models, n_boot=25, seed=seed)
        want = _h1_fractions([("all", "data", c, g) for c, g in models], 25, seed)[0]
        _est_equal(est, want)
    assert h1.fraction(models, n_boot=25).se != h1.fraction(models, n_boot=26).se


def test_h1_fractions_edges():
    nan = h1.fractions([], n_boot=10)
    assert np.isnan(nan[0].value) and nan[0].n == 0 and nan[0].method == h1.FRACTION_METHOD and nan[1] == {}
    empty = h1.fractions([("s", "d", np.array([]), np.array([]))], n_boot=10)  # no path: left out
    assert empty[1] == {} and empty[0].n == 0
    with pytest.raises(ValueError, match="one value per shared path"):
        h1.fractions([("s", "d", np.ones(3), np.ones(3)), ("s", "d", np.ones(2), np.ones(2))], n_boot=10)
    # two data sets of different sizes are fine; a model with a gap at MIN_GAP is left out (NaN), above it counts
    ok = h1.fractions([("s", "d", np.full(3, 0.1), np.full(3, 1e-3)), ("s", "d", np.full(3, 0.1), np.full(3, 0.2)),
                       ("s", "e", np.full(2, 0.1), np.full(2, 0.4)), ("t", "e", np.full(2, 1e-4), np.full(2, 0.0011))],
                      n_boot=10)
    assert ok[1]["s"].value == pytest.approx((0.5 + 0.25) / 2, rel=REL) and ok[1]["s"].n == 2
    assert ok[1]["t"].value == pytest.approx(1e-4 / 0.0011, rel=REL) and ok[1]["t"].n == 1


def test_h1_model_replicates_exact():
    closed = np.array([0.1, np.nan, 0.3, 0.02])
    gap = np.array([0.2, np.nan, 0.4, 0.001])
    idx = np.array([[0, 2, 3], [1, 1, 1], [3, 3, 3], [0, 1, 0], [2, 2, 1]])
    out = h1._model_replicates(closed, gap, idx)
    want = [(0.1 + 0.3 + 0.02) / 3 / ((0.2 + 0.4 + 0.001) / 3), np.nan, np.nan, 0.1 / 0.2, 0.3 / 0.4]
    np.testing.assert_allclose(out, want, rtol=REL)  # a draw of only missing paths, or a gap at MIN_GAP: NaN
    assert np.isnan(h1._ratio(0.5, h1.MIN_GAP))
    assert h1._ratio(0.5, 0.0010001) == pytest.approx(0.5 / 0.0010001, rel=REL)


def test_h1_flipped_median_and_with_zone():
    assert np.isnan(h1._flipped_median(np.array([])))
    assert h1._flipped_median(np.array([0.4, 0.1, 0.3, 0.2])) == pytest.approx(0.25, rel=REL)
    assert isinstance(h1._flipped_median(np.array([1, 2, 4])), float)
    paths = pd.DataFrame({"first_flip": [0.2, np.nan, 0.45, 0.9], "last_flip": [0.7, np.nan, 0.5, 0.95]})
    out = h1._with_zone(paths)
    np.testing.assert_allclose(out["zone"], [0.3, 0.5, 0.05, 0.45], rtol=REL)
    np.testing.assert_allclose(out["zone"], flip_zone(paths.first_flip, paths.last_flip), rtol=REL)
    assert "zone" not in paths and list(out.columns) == ["first_flip", "last_flip", "zone"]


def test_h1_zone_distance_correlation_exact():
    claim = _h1_claim()
    rho = h1.zone_distance_correlation(claim)
    groups = (claim.dataset + "/" + claim.arch + "/" + claim.seed.astype(str)).to_numpy()
    want = stats.partial_spearman(claim["distance"], claim["zone"], None, groups=groups, n_boot=200, seed=0)
    _est_equal(rho, want)
    assert rho.value == pytest.approx(sps.spearmanr(claim.distance, claim.zone)[0], rel=1e-9)
    assert rho.n == 7
    other = stats.partial_spearman(claim["distance"], claim["zone"], None, groups=groups, n_boot=201, seed=0)
    assert other.se != rho.se


def test_h1_control_estimates_exact():
    # Two models on paths 0..3 of "d"; the controls scan paths 0..2 (path 3 is left out of their primary).
    claim = pd.DataFrame({"dataset": "d", "arch": "mlp", "seed": np.repeat([0, 1], 4), "path": np.tile(range(4), 2),
                          "first_flip": 0.5, "last_flip": 0.5, "has_flip": 1.0, "third_class": 0.0,
                          "abs_first": 0.0, "first_mid": 1.0,
                          "zone_untrained": [0.3, 0.25, 0.4, 0.2, 0.35, 0.3, 0.28, 0.5],
                          "zone_1nn": [0.0, 0.02, 0.05, 0.0] * 2, "mid_1nn": 0.5})
    flips = pd.DataFrame({"control": ["zeta"] * 3 + ["alpha"] * 3, "dataset": "d", "path": [0, 1, 2] * 2,
                          "first_flip": [0.5, 0.4, np.nan, 0.2, 0.3, 0.45], "last_flip": [0.5, 0.6, np.nan, 0.2,
                                                                                        0.35, 0.5],
                          "has_flip": [1, 1, 0, 1, 1, 1.0], "third_class": 0.0})
    out = h1.control_estimates(claim, flips, n_boot=30)
    assert list(out) == ["zeta", "alpha"]  # in order of appearance
    zones = {"zeta": np.array([0.0, 0.1, 0.5]), "alpha": np.array([0.3, 0.2, 0.05])}
    zu = claim.zone_untrained.to_numpy().reshape(2, 4)[:, :3]
    z1 = np.array([0.0, 0.02, 0.05])
    for name, zone in zones.items():
        models = [("d/mlp", "d", zu[k] - zone, zu[k] - z1) for k in range(2)]
        _est_equal(out[name], _h1_fractions(models, 30, 0)[0])
        assert out[name].value == pytest.approx(np.mean([(zu[k] - zone).sum() / (zu[k] - z1).sum()
                                                         for k in range(2)]), rel=REL)


def _capture(monkeypatch):
    seen = {}

    def fake(claim_id, rule, **kw):
        seen.update(claim_id=claim_id, rule=rule, **kw)
        return "entry"
    monkeypatch.setattr(claims, "record_rule", fake)
    return seen


def test_h1_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    pooled, strata = Estimate(0.6, 0.5, 0.7, 7, "m"), {"mnist/mlp": Estimate(0.5, 0.4, 0.6, 3, "m")}
    ctrl = [claims.Control("c", claims.POSITIVE, pooled)]
    out = h1.record(pooled, strata, {"x": pooled}, replicates=7, figures=["f.png"], parameters={"p": 1},
                    notes="n", controls=ctrl)
    assert out == "entry"
    assert seen == {"claim_id": "H1", "rule": h1.RULE, "statement": h1.STATEMENT, "pooled": pooled, "strata": strata,
                    "measurements": {"x": pooled}, "replicates": 7, "figures": ["f.png"], "notebook": h1.NOTEBOOK,
                    "parameters": {"p": 1}, "notes": "n", "controls": ctrl}
    h1.record(pooled, strata, {}, replicates=1, figures=[], parameters={}, notes="")
    assert seen["controls"] == ()


# =========================================================================== S2

def _s2_points() -> pd.DataFrame:
    """Three strata: d/a (5 models, 3 hidden layers, ties, one model with a missing homogeneity: dropped),
    e/b (4 models, 2 layers, one layer's change constant: no correlation there), f/a (one model)."""
    rng = np.random.default_rng(5)
    rows = []
    for d, a, seeds, layers in (("d", "a", range(5), (1, 2, 3)), ("e", "b", (4, 2, 7, 1), (1, 2)),
                                ("f", "a", (0,), (1, 2))):
        for s in seeds:
            for i in layers:
                h = float(np.round(rng.uniform(), 1))  # coarse: ties
                e = 0.3 if (d, i) == ("e", 2) else float(np.round(rng.uniform(), 2))
                rows.append({"dataset": d, "arch": a, "seed": s, "index": i, "homogeneity": h, "excess_change": e})
    out = pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)
    out.loc[(out.dataset == "d") & (out.seed == 3) & (out["index"] == 2), "homogeneity"] = np.nan
    first = pd.DataFrame(rows)[["dataset", "arch"]].drop_duplicates()  # keep the strata in their order
    key = out.dataset.map({d: k for k, d in enumerate(first.dataset)})
    return out.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def _spearman(h: np.ndarray, e: np.ndarray) -> float:
    if np.ptp(h) == 0 or np.ptp(e) == 0:
        return np.nan
    return float(sps.spearmanr(h, e)[0])


def _within_depth(points: pd.DataFrame, n_boot: int, seed: int):
    rng = np.random.default_rng(seed)
    strata, cells, boots, parts = {}, [], [], {}
    for (d, a), sel in points.groupby(["dataset", "arch"], sort=False):
        h = sel.pivot_table(index="seed", columns="index", values="homogeneity").dropna()
        e = sel.pivot_table(index="seed", columns="index", values="excess_change").loc[h.index, h.columns]
        h, e = h.to_numpy(), e.to_numpy()
        m = len(h)
        value = np.array([_spearman(h[:, k], e[:, k]) for k in range(h.shape[1])])
        draws = rng.integers(0, m, (n_boot, m))
        reps = np.array([[_spearman(h[r, k], e[r, k]) for k in range(h.shape[1])] for r in draws])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_reps = np.nanmean(reps, 1)
            strata[f"{d}/{a}"] = (np.nanmean(value), mean_reps, m)
        cells.append(value), boots.append(reps)
        if np.isfinite(value).any() and np.isfinite(mean_reps).sum() >= 2:
            parts[f"{d}/{a}"] = (mean_reps, m, np.isfinite(value).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = np.nanmean(np.concatenate(cells))
        pooled_boots = np.nanmean(np.concatenate(boots, 1), 1)
    total = sum(w for *_, w in parts.values())
    comps = [(w / total) ** 2 * np.nanvar(b, ddof=1) * m / (m - 1) for b, m, w in parts.values()]
    dfs = [m - 1 for _, m, _ in parts.values()]
    df = sum(comps) ** 2 / sum(c ** 2 / f for c, f in zip(comps, dfs))
    se = _clean(pooled_boots).std(ddof=1) * math.sqrt(max(m / (m - 1) for _, m, _ in parts.values()))
    half = sps.t.ppf(0.975, df) * se
    return strata, (value, value - half, value + half, se, df)


def test_s2_within_depth_exact():
    points, n_boot = _s2_points(), 60
    for seed in (0, 4):
        est = s2.within_depth(points, n_boot=n_boot, seed=seed)
        strata, pooled = _within_depth(points, n_boot, seed)
        assert list(est.strata) == ["d/a", "e/b", "f/a"]
        for label, (value, reps, m) in strata.items():
            got = est.strata[label][s2.PRIMARY]
            assert got.n == m and got.method == f"{s2.METHOD}; {T}"
            if m >= 2:
                _same(got, *_t(value, reps, m))
            else:
                assert np.isnan(got.value) and np.isnan(got.low)
        assert est.strata["d/a"][s2.PRIMARY].n == 4  # the model with a missing homogeneity is dropped
        _same(est.pooled[s2.PRIMARY], *pooled, n=10,  # every model of the points, the dropped one too
              method=f"{s2.METHOD}; {T}, Satterthwaite df over strata")
    assert s2.within_depth(points, n_boot=n_boot).pooled[s2.PRIMARY] == s2.within_depth(points, n_boot=n_boot,
                                                                                         seed=0).pooled[s2.PRIMARY]
    assert s2.within_depth(points).pooled == s2.within_depth(points, n_boot=2000, seed=0).pooled  # N_BOOT = 2000
    assert s2.within_depth(points).pooled != s2.within_depth(points, n_boot=1999, seed=0).pooled


def test_s2_within_depth_leaves_a_stratum_with_one_finite_replicate_out_of_the_pooled_weights():
    """A stratum of two models whose replicates give one finite mean (a draw of the same model twice has no
    correlation) has a value but no spread: it is left out of the pooled interval's weights."""
    rows = [{"dataset": d, "arch": "a", "seed": s, "index": i, "homogeneity": h, "excess_change": e}
            for d, seeds in (("d", range(5)), ("g", range(2))) for s in seeds for i in (1, 2)
            for h, e in [((s * 7 + i * 3) % 5 / 5, (s * 3 + i) % 4 / 4 + 0.01 * s)]]
    points, n_boot = pd.DataFrame(rows), 2
    seed = next(k for k in range(100)
                if np.isfinite(_within_depth(points, n_boot, k)[0]["g/a"][1]).sum() == 1)
    strata, pooled = _within_depth(points, n_boot, seed)
    assert np.isfinite(strata["g/a"][0]) and np.isfinite(strata["d/a"][1]).sum() == n_boot
    _same(s2.within_depth(points, n_boot=n_boot, seed=seed).pooled[s2.PRIMARY], *pooled, n=7)


def test_s2_record_without_a_misfit_note_adds_nothing(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    est = stats.StratifiedEstimates({s2.PRIMARY: e, **{k: e for k in s2.REPORTED}}, {})
    params = {"pgd_steps": 10, "n_attack": 20, "som_rows": 4, "som_cols": 4}
    s2.record(est, {}, params, figures=(), eps=0.1, n_models=5)
    assert seen["notes"] == s2.notes(est, params, eps=0.1, n_models=5)
    assert seen["notes"].endswith("logits: " + est.line("logits_excess_change") + ".")


def test_s2_within_depth_empty():
    empty = pd.DataFrame(columns=["dataset", "arch", "seed", "index", "homogeneity", "excess_change"])
    est = s2.within_depth(empty, n_boot=10)
    assert est.strata == {} and np.isnan(est.pooled[s2.PRIMARY].value) and est.pooled[s2.PRIMARY].n == 0
    assert est.pooled[s2.PRIMARY].method == s2.METHOD


def test_s2_row_spearman_and_nanmean():
    h = np.array([[1.0, 2.0, 2.0, 4.0], [3.0, 3.0, 3.0, 3.0], [4.0, 1.0, 3.0, 2.0]])
    e = np.array([[0.1, 0.4, 0.3, 0.2], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    out = s2._row_spearman(h, e)
    assert out[0] == pytest.approx(sps.spearmanr(h[0], e[0])[0], rel=REL)
    assert np.isnan(out[1]) and out[2] == pytest.approx(sps.spearmanr(h[2], e[2])[0], rel=REL)
    assert np.isnan(s2._row_spearman(e, h)[1])
    v = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    np.testing.assert_allclose(s2._nanmean(v, 1), [2.0, np.nan])
    np.testing.assert_allclose(s2._nanmean(v, 0), [1.0, np.nan, 3.0])


LAYERS5 = ["input", "h1", "h2", "h3", "logits"]


def _s2_frames():
    """Model d/a/0 with 5 layers (h1 and h3 tie for the lowest excess MI: the shallower wins), d/a/1 with 3 and
    e/b/2 with 4; rows shuffled, with rows at another eps, attack, network and grid that must be ignored."""
    rng = np.random.default_rng(2)
    changes, metrics = [], []
    spec = {("d", "a", 0): ([0.2, 0.3, 0.5, 0.3, 0.9], LAYERS5),
            ("d", "a", 1): ([0.1, 0.4, 0.2], ["input", "h1", "logits"]),
            ("e", "b", 2): ([0.5, 0.6, 0.1, 0.7], ["input", "h1", "h2", "logits"])}
    for (d, a, s), (mi, layers) in spec.items():
        for i, layer in enumerate(layers):
            base = {"dataset": d, "arch": a, "seed": s, "layer": layer, "index": i}
            for attack, eps in (("pgd", 0.1 + 1e-12), ("pgd", 0.2), ("fgsm", 0.1)):
                changes.append({**base, "attack": attack, "eps": eps, "excess_change": float(rng.uniform()),
                                "adv_accuracy": float(rng.uniform()), "random_accuracy": float(rng.uniform())})
            for network, grid in (("trained", "4x4"), ("untrained", "4x4"), ("trained", "2x2")):
                metrics.append({**base, "network": network, "grid": grid,
                                "excess_mi": mi[i] if (network, grid) == ("trained", "4x4") else -1.0})
    return (pd.DataFrame(changes).sample(frac=1, random_state=0).reset_index(drop=True),
            pd.DataFrame(metrics).sample(frac=1, random_state=1).reset_index(drop=True))


def test_s2_per_model_exact():
    changes, metrics = _s2_frames()
    out = s2.s2_per_model(changes, metrics, eps=0.1, grid="4x4")
    ref = changes[(changes.attack == "pgd") & np.isclose(changes.eps, 0.1)]
    assert list(out.columns) == ["dataset", "arch", "seed", "most_homogeneous", "least_homogeneous", s2.CONTRAST,
                                 "excess_change_most_homogeneous", "excess_change_least_homogeneous",
                                 "input_excess_change", "logits_excess_change", "hidden_excess_change",
                                 "deep_minus_shallow_excess_change", "adv_accuracy", "random_accuracy"]
    first = ref.drop_duplicates(["dataset", "arch", "seed"])[["dataset", "arch", "seed"]]
    assert list(map(tuple, out[["dataset", "arch", "seed"]].to_numpy())) == list(map(tuple, first.to_numpy()))
    picks = {("d", "a", 0): ("h1", "h2"), ("d", "a", 1): ("h1", "h1"), ("e", "b", 2): ("h2", "h1")}
    for row in out.itertuples(index=False):
        sel = ref[(ref.dataset == row.dataset) & (ref.arch == row.arch) & (ref.seed == row.seed)]
        sel = sel.sort_values("index").set_index("layer")
        ch = sel["excess_change"]
        hidden = ch.iloc[1:-1]
        most, least = picks[(row.dataset, row.arch, row.seed)]
        assert (row.most_homogeneous, row.least_homogeneous) == (most, least)
        assert isinstance(row.seed, int)
        got = row._asdict()
        assert got[s2.CONTRAST] == pytest.approx(ch[most] - ch[least], rel=REL, abs=0)
        assert row.excess_change_most_homogeneous == ch[most] and row.excess_change_least_homogeneous == ch[least]
        assert row.input_excess_change == ch.iloc[0] and row.logits_excess_change == ch.iloc[-1]
        assert row.hidden_excess_change == pytest.approx(hidden.mean(), rel=REL)
        assert row.deep_minus_shallow_excess_change == pytest.approx(hidden.iloc[-1] - hidden.iloc[0], rel=REL,
                                                                     abs=0)
        assert row.adv_accuracy == sel["adv_accuracy"].iloc[0]
        assert row.random_accuracy == sel["random_accuracy"].iloc[0]
    assert out.loc[1, s2.CONTRAST] == 0.0  # one hidden layer: the most and the least homogeneous are the same


def test_s2_per_model_needs_a_hidden_layer():
    changes, metrics = _s2_frames()
    keep = ~((changes.seed == 1) & (changes.layer == "h1"))
    with pytest.raises(ValueError, match="d/a/1 has no hidden layer"):
        s2.s2_per_model(changes[keep], metrics, eps=0.1, grid="4x4")


def test_s2_reference_joins_the_trained_codes_at_the_grid():
    changes, metrics = _s2_frames()
    ref = s2._reference(changes, metrics, 0.1, "4x4")
    assert len(ref) == 12 and set(ref.attack) == {"pgd"} and np.allclose(ref.eps, 0.1)
    assert (ref.excess_mi >= 0).all()  # the trained network's 4x4 codes only
    alt = s2._reference(changes, metrics, 0.2, "2x2")
    assert len(alt) == 12 and (alt.excess_mi == -1.0).all() and np.allclose(alt.eps, 0.2)


def test_s2_estimates_exact():
    points = _s2_points()
    per_model = pd.DataFrame({"dataset": ["d"] * 3 + ["e"] * 4, "arch": ["a"] * 3 + ["b"] * 4,
                              **{k: np.random.default_rng(j).uniform(size=7) for j, k in enumerate(s2.REPORTED)}})
    est = s2.s2_estimates(per_model, points, n_boot=30)
    primary = s2.within_depth(points, n_boot=30)
    assert list(est.pooled) == [s2.PRIMARY, *s2.REPORTED]
    assert est.pooled[s2.PRIMARY] == primary.pooled[s2.PRIMARY]
    assert list(est.strata) == ["d/a", "e/b"]
    for label in est.strata:
        assert est.strata[label][s2.PRIMARY] == primary.strata[label][s2.PRIMARY]
        sel = per_model[per_model.dataset == label[0]]
        for k in s2.REPORTED:
            _same_seeds(est.strata[label][k], sel[k])
    for k in s2.REPORTED:
        _same_seeds(est.pooled[k], per_model[k])
    assert s2.s2_estimates(per_model, points).pooled[s2.PRIMARY] == s2.within_depth(points).pooled[s2.PRIMARY]


def test_s2_correlations_exact():
    points = _s2_points().dropna().assign(depth=lambda f: f["index"] / 4)
    out = s2.s2_correlations(points, n_boot=50)
    groups = points["dataset"] + "/" + points["arch"] + "/" + points["seed"].astype(str)
    h, e, d = points["homogeneity"], points["excess_change"], points["depth"]
    assert list(out) == s2.CORRELATIONS
    _est_equal(out[s2.CORRELATIONS[0]], stats.partial_spearman(h, e, None, groups=groups, n_boot=50, seed=0))
    _est_equal(out[s2.CORRELATIONS[1]], stats.partial_spearman(h, e, d, groups=groups, n_boot=50, seed=0))
    _est_equal(s2.s2_correlations(points)[s2.CORRELATIONS[0]],
               stats.partial_spearman(h, e, None, groups=groups, n_boot=1000, seed=0))


def test_s2_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    est = stats.StratifiedEstimates({s2.PRIMARY: e, **{k: e for k in s2.REPORTED}},
                                    {"d/a": {s2.PRIMARY: e, **{k: e for k in s2.REPORTED}}})
    params = {"pgd_steps": 10, "n_attack": 20, "som_rows": 4, "som_cols": 4}
    s2.record(est, {"c": e}, params, figures=("f.png",), eps=0.1, n_models=5, misfit_note="m.")
    assert seen["claim_id"] == "S2" and seen["rule"] is s2.RULE and seen["pooled"] is e
    assert seen["strata"] == {"d/a": e} and seen["measurements"] == {**{k: e for k in s2.REPORTED}, "c": e}
    assert list(seen["measurements"]) == [*s2.REPORTED, "c"] and seen["replicates"] == 5
    assert seen["figures"] == ["f.png"] and seen["notebook"] == s2.NOTEBOOK and seen["parameters"] is params
    assert seen["controls"] == () and seen["notes"] == s2.notes(est, params, eps=0.1, n_models=5, misfit_note="m.")
    assert seen["notes"].endswith("m.") and seen["statement"] == s2.STATEMENT


# =========================================================================== C1

def _c1_tests():
    """d: pixel (9 queries, one NaN), mlp seeds 0-2 (seed 2 all NaN: skipped), cnn seeds 0-1 (seed 1 with another
    length: its own draw); e: pixel (6 queries), mlp seed 0 alone (one model: no interval); f: nothing."""
    rng = np.random.default_rng(3)

    def r(n, shift=0.0):
        return np.round(rng.uniform(0.1, 0.9, n) + shift, 3)

    tests = {("d", "pixel"): r(9), ("d", "mlp/seed0"): r(9, 0.1), ("d", "mlp/seed1"): r(9, 0.2),
             ("d", "mlp/seed2"): np.full(9, np.nan), ("d", "cnn/seed0"): r(9), ("d", "cnn/seed1"): r(7, 0.3),
             ("e", "pixel"): r(6), ("e", "mlp/seed0"): r(6)}
    tests[("d", "pixel")][4] = np.nan
    tests[("d", "mlp/seed1")][0] = np.nan
    helds = {k: r(len(v) + 1) for k, v in tests.items() if k != ("d", "cnn/seed0")}  # held-out pools: own sizes
    return ({k: {"ratio_nn": v} for k, v in tests.items()}, {k: {"ratio_nn": v} for k, v in helds.items()})


def _nanmedians(values, draws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values[draws], axis=-1)


def _c1_effects(tests, datasets, archs, n_boot, helds=None, seed=0):
    """c1.effects replayed: per data set one draw per pool size of its test queries (then of its held-out
    samples) shared by every space, per-space medians, strata of one feature model left out."""
    rng = np.random.default_rng([seed, 5])
    values, reps, labels, units, alone = [], [], [], {}, {}
    for name in datasets:
        spaces = {"pixel": [(name, "pixel")]}
        for arch in archs:
            spaces[arch] = [k for k in tests if k[0] == name and k[1].split("/")[0] == arch]
        spaces = {s: [k for k in ks if k in tests and (helds is None or k in helds)] for s, ks in spaces.items()}
        keys = [k for ks in spaces.values() for k in ks]

        def pool(tables, keys=keys):
            sizes = {k: len(tables[k]["ratio_nn"]) for k in keys}
            pools = {n: rng.integers(0, n, (n_boot, n)) for n in dict.fromkeys(sizes.values())}
            return {k: pools[n] for k, n in sizes.items()}
        td = pool(tests)
        hd = pool(helds) if helds is not None else {}
        for space, ks in spaces.items():
            label, pairs = f"{name}/{space}", []
            for k in ks:
                t = tests[k]["ratio_nn"]
                h = helds[k]["ratio_nn"] if helds is not None else None
                if not np.isfinite(t).any():
                    continue
                value = np.nanmedian(t) - (0.0 if h is None else np.nanmedian(h))
                rep = _nanmedians(t, td[k]) - (0.0 if h is None else _nanmedians(h, hd[k]))
                pairs.append((value, rep))
            if space == "pixel" and pairs:
                units[label] = int(np.isfinite(tests[ks[0]]["ratio_nn"]).sum())
            if space == "pixel" or len(pairs) >= 2:
                values += [v for v, _ in pairs]
                reps += [p for _, p in pairs]
                labels += [label] * len(pairs)
            alone[label] = (pairs[0][0] if len(pairs) == 1 else np.nan, units.get(label, len(pairs)))
    pooled, strata = stats.stratified_bootstrap(values, np.array(reps), labels, seed=seed, method="M",
                                                pool="strata", units=units)
    return pooled, strata, alone


def _c1_check(got, tests, datasets, archs, n_boot, helds=None, seed=0):
    pooled, strata = got
    wp, ws, alone = _c1_effects(tests, datasets, archs, n_boot, helds, seed)
    assert list(strata) == list(alone)
    _same(pooled, wp.value, wp.low, wp.high, wp.se, wp.df, n=wp.n,
          method=wp.method.replace("M", c1.POOLED_METHOD, 1))
    for label, est in strata.items():
        if label in ws:
            w = ws[label]
            method = c1.PIXEL_METHOD if label.endswith("/pixel") else c1.FEATURE_METHOD
            _same(est, w.value, w.low, w.high, w.se, w.df, n=w.n, method=w.method.replace("M", method, 1))
        else:
            value, n = alone[label]
            assert (est.value, est.n) == (pytest.approx(value, rel=REL, nan_ok=True), n)
            assert np.isnan(est.low) and np.isnan(est.high) and np.isnan(est.se)
            assert est.method == (c1.PIXEL_METHOD if label.endswith("/pixel") else c1.FEATURE_METHOD)
    return pooled, strata


def test_c1_effects_exact():
    tests, helds = _c1_tests()
    pooled, strata = _c1_check(c1.effects(tests, ["d", "e", "f"], ["mlp", "cnn"], 40), tests, ["d", "e", "f"],
                               ["mlp", "cnn"], 40)
    assert list(strata) == ["d/pixel", "d/mlp", "d/cnn", "e/pixel", "e/mlp", "e/cnn", "f/pixel", "f/mlp", "f/cnn"]
    assert strata["d/pixel"].n == 8 and strata["d/mlp"].n == 2 and strata["d/cnn"].n == 2  # queries; models
    assert strata["e/pixel"].n == 6 and strata["e/mlp"].n == 1 and strata["e/cnn"].n == 0
    assert strata["e/mlp"].value == pytest.approx(np.median(tests[("e", "mlp/seed0")]["ratio_nn"]), rel=REL)
    assert strata["d/mlp"].value == pytest.approx(np.mean([np.nanmedian(tests[("d", f"mlp/seed{s}")]["ratio_nn"])
                                                           for s in (0, 1)]), rel=REL)
    assert pooled.n == 8 + 2 + 2 + 6 and pooled.value == pytest.approx(
        np.mean([strata[k].value for k in ("d/pixel", "d/mlp", "d/cnn", "e/pixel")]), rel=REL)
    assert np.isnan(strata["f/pixel"].value) and strata["f/pixel"].n == 0
    assert strata["d/pixel"].df == 7 and strata["d/mlp"].df == 1


def test_c1_effects_with_held_out_samples_and_a_seed():
    tests, helds = _c1_tests()
    for seed in (0, 2):
        pooled, strata = _c1_check(c1.effects(tests, ["d", "e"], ["cnn", "mlp"], 30, helds, seed=seed), tests,
                                   ["d", "e"], ["cnn", "mlp"], 30, helds, seed)
    assert list(strata) == ["d/pixel", "d/cnn", "d/mlp", "e/pixel", "e/cnn", "e/mlp"]
    assert strata["d/cnn"].n == 1  # cnn/seed0 has no held-out table: left out
    want = np.nanmedian(tests[("d", "cnn/seed1")]["ratio_nn"]) - np.nanmedian(helds[("d", "cnn/seed1")]["ratio_nn"])
    assert strata["d/cnn"].value == pytest.approx(want, rel=REL)
    assert c1.effects(tests, ["d", "e"], ["cnn", "mlp"], 30, helds)[0] != pooled  # seed 2 differs from 0


def test_c1_effects_without_any_space():
    pooled, strata = c1.effects({}, ["z"], ["mlp"], 10)
    assert np.isnan(pooled.value) and pooled.n == 0 and pooled.method == c1.POOLED_METHOD
    assert list(strata) == ["z/pixel", "z/mlp"] and all(np.isnan(e.value) and e.n == 0 for e in strata.values())
    assert strata["z/pixel"].method == c1.PIXEL_METHOD and strata["z/mlp"].method == c1.FEATURE_METHOD


def _all_equal(a: dict, b: dict):
    assert list(a) == list(b)
    for k in a:
        _est_equal(a[k], b[k])


def test_c1_effect_wrappers_pass_their_arguments():
    tests, helds = _c1_tests()
    both = c1.effects(tests, ["d", "e"], ["mlp"], 25, helds)
    _all_equal(c1.stratum_effects(tests, ["d", "e"], ["mlp"], 25, helds), both[1])
    _est_equal(c1.pooled_effect(tests, ["d", "e"], ["mlp"], 25, helds), both[0])
    _est_equal(c1.pooled_effect(tests, ["d", "e"], ["mlp"], 25, helds, seed=3),
               c1.effects(tests, ["d", "e"], ["mlp"], 25, helds, seed=3)[0])
    _all_equal(c1.stratum_effects(tests, ["d"], ["mlp"], 25), c1.effects(tests, ["d"], ["mlp"], 25)[1])
    _est_equal(c1.stratum_effect(tests, "d", "mlp", 25, helds),
               c1.effects(tests, ["d"], ["mlp"], 25, helds)[1]["d/mlp"])
    _est_equal(c1.stratum_effect(tests, "d", "pixel", 25), c1.effects(tests, ["d"], [], 25)[1]["d/pixel"])


def test_c1_spaces_draw_pools_and_medians():
    tests, helds = _c1_tests()
    assert c1._spaces(tests, None, "d", ["cnn", "mlp", "resnet"]) == {
        "pixel": [("d", "pixel")], "cnn": [("d", "cnn/seed0"), ("d", "cnn/seed1")],
        "mlp": [("d", "mlp/seed0"), ("d", "mlp/seed1"), ("d", "mlp/seed2")], "resnet": []}
    assert c1._spaces(tests, helds, "d", ["cnn"])["cnn"] == [("d", "cnn/seed1")]
    assert c1._spaces(tests, None, "f", []) == {"pixel": []}
    keys = [("d", "pixel"), ("d", "cnn/seed1"), ("d", "mlp/seed0")]
    pools = c1._draw_pools(tests, keys, "test", 5, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    nine, seven = rng.integers(0, 9, (5, 9)), rng.integers(0, 7, (5, 7))
    np.testing.assert_array_equal(pools[("d", "pixel")], nine)
    np.testing.assert_array_equal(pools[("d", "mlp/seed0")], nine)
    np.testing.assert_array_equal(pools[("d", "cnn/seed1")], seven)
    assert list(pools) == keys
    assert c1._draw_pools({("x", "pixel"): {"ratio_nn": np.array([])}}, [("x", "pixel")], "t", 3,
                          np.random.default_rng(0)) == {}
    values = np.array([0.1, np.nan, 0.5, 0.3])
    draws = np.array([[0, 2, 3, 3], [1, 1, 1, 1], [0, 0, 2, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the all-NaN draw must not warn
        out = c1._medians(values, draws)
    np.testing.assert_allclose(out, [0.3, np.nan, 0.1], rtol=REL)
    np.testing.assert_allclose(c1._medians(np.array([0.4, 0.1, 0.2]), draws[:, :3] % 3), [0.4, 0.1, 0.4], rtol=REL)
    np.testing.assert_array_equal(c1._finite([[1.0, np.nan], [np.inf, 2.0]]), [1.0, 2.0])
    r = c1._ratios({("d", "x"): {"ratio_nn": [[0.1, np.nan]]}}, ("d", "x"))
    assert r.dtype == float and r.shape == (2,) and np.isnan(r[1])


def test_c1_median_difference_exact():
    a, b = np.array([0.3, np.nan, 0.8, 0.5, 0.1]), np.array([0.2, 0.6, 0.4])
    est = c1.median_difference(a, b, n_boot=40, seed=2)
    rng = np.random.default_rng(2)
    da, db = rng.integers(0, 4, (40, 4)), rng.integers(0, 3, (40, 3))
    fa = a[np.isfinite(a)]
    boots = np.median(fa[da], 1) - np.median(b[db], 1)
    _same(est, *_t(np.median(fa) - np.median(b), boots, 4), n=4,
          method=f"bootstrap over queries (test and held-out resampled apart); {T}")
    assert c1.median_difference(a, b, n_boot=40) != est
    empty = c1.median_difference([np.nan], b, n_boot=10)
    assert np.isnan(empty.value) and empty.n == 0 and empty.method.startswith("bootstrap over queries")
    assert c1.median_difference(a, [], n_boot=10).n == 4


def test_c1_controls_pass_each_kind(monkeypatch):
    tests, _ = _c1_tests()
    out = c1.controls({claims.NEGATIVE: tests, claims.POSITIVE: tests}, ["d"], ["mlp"], 20)
    assert [(c.name, c.kind) for c in out] == [("another data set's images", claims.POSITIVE),
                                               ("convex combinations", claims.NEGATIVE)]
    assert out[0].estimate == out[1].estimate == c1.pooled_effect(tests, ["d"], ["mlp"], 20)
    assert "ten nearest" in out[1].built and "Fashion-MNIST" in out[0].built
    assert [c.kind for c in c1.controls({claims.NEGATIVE: tests}, ["d"], [], 10)] == [claims.NEGATIVE]


def test_c1_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    c1.record({"d/pixel": e}, e, {"x": e}, replicates=4, parameters={"p": 1}, notes="n")
    assert seen == {"claim_id": "C1", "rule": c1.RULE, "statement": c1.STATEMENT, "pooled": e,
                    "strata": {"d/pixel": e}, "measurements": {"x": e}, "replicates": 4,
                    "figures": [f"figures/{s}.png" for s in c1.FIGURES], "notebook": c1.NOTEBOOK,
                    "parameters": {"p": 1}, "notes": "n", "controls": []}
    c1.record({}, e, {}, replicates=1, parameters={}, figures=("a.png",), controls=(1,))
    assert seen["figures"] == ["a.png"] and seen["controls"] == [1] and seen["notes"] == ""


# =========================================================================== C2

C2_MISFITS = {("true", 1, 16), ("true", 3, 256), ("random", 0, 64), ("random", 2, 16), ("random", 3, 256)}


def _c2_rows():
    """Sweep rows at widths 64, 16, 256 (given unsorted), seeds 0-3, true and random labels; some misfits."""
    rng = np.random.default_rng(9)
    rows = []
    for labels in ("true", "random"):
        for s in range(4):
            for w in (64, 16, 256):
                rows.append({"labels": labels, "seed": s, "width": w, "fitted": (labels, s, w) not in C2_MISFITS,
                             "train_acc": float(np.round(rng.uniform(0.9, 1.0), 3)),
                             "test_acc": float(np.round(rng.uniform(0.05, 0.95), 3))})
    return rows


def _c2_per_sample(rows):
    rng = np.random.default_rng(10)
    return {(r["labels"], r["seed"], r["width"]): {"test_correct": rng.uniform(size=9) < 0.6,
                                                   "agree": rng.uniform(size=5) < 0.5} for r in rows}


def test_c2_measurements_exact():
    rows, n_boot = _c2_rows(), 30
    per_sample = _c2_per_sample(rows)
    outside = np.array([True, False, True, True, False, True, True])
    far, near = np.zeros(9, bool), np.zeros(9, bool)
    far[[1, 4, 8]], near[[0, 2]] = True, True
    m = c2.measurements(rows, per_sample, outside, [64, 16, 256], 64, n_boot, chance=0.2, far=far, near=near)
    keys = []
    frame = pd.DataFrame(rows)
    for w in (16, 64, 256):
        keys += [f"test_acc_true_w{w}", f"fitted_true_w{w}", f"test_acc_random_w{w}", f"fitted_random_w{w}",
                 f"acc_far_true_w{w}", f"acc_near_true_w{w}"]
        for labels in ("true", "random"):
            g = frame[(frame.labels == labels) & (frame.width == w)]
            _same_seeds(m[f"test_acc_{labels}_w{w}"], g.test_acc)
            _same_seeds(m[f"fitted_{labels}_w{w}"], g.fitted.astype(float))
        fitted = [r["seed"] for r in rows if r["labels"] == "true" and r["width"] == w and r["fitted"]]
        _same_seeds(m[f"acc_far_true_w{w}"], [per_sample[("true", s, w)]["test_correct"][far].mean() for s in fitted])
        _same_seeds(m[f"acc_near_true_w{w}"],
                    [per_sample[("true", s, w)]["test_correct"][near].mean() for s in fitted])
    keys += ["test_acc_random_minus_chance_widest_fitted", "train_acc_random_widest_fitted",
             "test_acc_true_widest_minus_next", "agree_1nn_outside_true_widest", "agree_1nn_outside_random_widest",
             "share_outside_sweep_hull"]
    assert list(m) == keys
    chosen = frame[(frame.labels == "random") & (frame.width == 64) & frame.fitted]
    _same_seeds(m["test_acc_random_minus_chance_widest_fitted"], chosen.test_acc - 0.2)
    _same_seeds(m["train_acc_random_widest_fitted"], chosen.train_acc)
    true = frame[frame.labels == "true"].set_index(["seed", "width"]).test_acc
    _same_seeds(m["test_acc_true_widest_minus_next"], [true[(s, 256)] - true[(s, 64)] for s in range(4)])
    for labels in ("true", "random"):
        _same_seeds(m[f"agree_1nn_outside_{labels}_widest"],
                    [per_sample[(labels, s, 256)]["agree"].mean() for s in range(4)])
    flags = outside.astype(float)
    boots = flags[np.random.default_rng(0).integers(0, 7, (n_boot, 7))].mean(1)
    _same(m["share_outside_sweep_hull"], *_t(flags.mean(), boots, 7), n=7)
    # the default chance is 0.1; without far/near no far/near accuracies; without a width no random-label fit
    d = c2.measurements(rows, per_sample, outside, [64, 16, 256], 64, n_boot)
    _same_seeds(d["test_acc_random_minus_chance_widest_fitted"], chosen.test_acc - 0.1)
    assert not any(k.startswith("acc_") for k in d)
    assert not any(k.startswith("acc_") for k in c2.measurements(rows, per_sample, outside, [16, 64], 64, n_boot,
                                                                  far=far))
    none = c2.measurements(rows, per_sample, outside, [16, 64], None, n_boot)
    assert "train_acc_random_widest_fitted" not in none and "test_acc_random_minus_chance_widest_fitted" not in none
    _same_seeds(none["test_acc_true_widest_minus_next"], [true[(s, 64)] - true[(s, 16)] for s in range(4)])


def _c2_family():
    """Correctness keyed (seed, width) on 9 queries: far = last three, near = first three."""
    rng = np.random.default_rng(12)
    far, near = np.zeros(9, bool), np.zeros(9, bool)
    far[6:], near[:3] = True, True
    family = {}
    for s in range(5):
        for w in (8, 32, 128):
            c = np.ones(9, bool)
            c[6 + rng.integers(0, 3, size=1 + (w == 8) + (s % 2))] = False
            c[rng.integers(0, 3)] = rng.uniform() < 0.5
            family[(s, w)] = c
    return family, far, near


def test_c2_gap_exact():
    far, near = np.array([1, 1, 0, 0, 0], bool), np.array([0, 0, 0, 1, 1], bool)
    assert c2.gap(np.array([1, 0, 1, 1, 1]), far, near) == pytest.approx(1.0 - 0.5, rel=REL)
    assert c2.gap([True, True, False, False, True], far, near) == pytest.approx(0.5 - 1.0, rel=REL)
    assert isinstance(c2.gap(np.array([1, 0, 1, 1, 1]), far, near), float)


def test_c2_gap_closed_exact():
    family, far, near = _c2_family()
    fitted = {k: not (k[1] == 8 and k[0] == 1) and not (k[1] == 128 and k[0] == 3) for k in family}
    narrow, wide, est = c2.gap_closed(family, fitted, far, near)
    assert (narrow, wide) == (8, 128)
    seeds = [0, 2, 4]
    g_n = np.array([c2.gap(family[(s, 8)], far, near) for s in seeds])
    g_w = np.array([c2.gap(family[(s, 128)], far, near) for s in seeds])
    _same_seeds(est, (g_n - g_w) / g_n.mean())
    assert est.method == "t across seeds"
    # min_models: at 5, only width 32 has five fitted models: no pair
    assert c2.gap_closed(family, fitted, far, near, min_models=5)[:2] == (None, None)
    at4 = c2.gap_closed(family, fitted, far, near, min_models=4)
    assert at4[:2] == (8, 128)
    all_fit = {k: True for k in family}
    narrow, wide, est = c2.gap_closed(family, all_fit, far, near, min_models=5)
    g_n = np.array([c2.gap(family[(s, 8)], far, near) for s in range(5)])
    g_w = np.array([c2.gap(family[(s, 128)], far, near) for s in range(5)])
    _same_seeds(est, (g_n - g_w) / g_n.mean())


def test_c2_gap_closed_edges():
    family, far, near = _c2_family()
    one_seed = {k: k[0] == 0 or k[1] == 32 for k in family}  # width 8 and 128: one seed each
    assert c2.gap_closed(family, one_seed, far, near, min_models=1)[:2] == (8, 128)
    est = c2.gap_closed(family, one_seed, far, near, min_models=1)[2]
    assert np.isnan(est.value) and est.n == 1 and est.method == "t across seeds"
    two = {k: k[0] in (0, 1) for k in family}
    assert c2.gap_closed(family, two, far, near, min_models=2)[2].n == 2
    assert np.isfinite(c2.gap_closed(family, two, far, near, min_models=2)[2].value)
    flat = {k: np.ones(9, bool) for k in family}  # no narrow gap: nothing to close
    narrow, wide, est = c2.gap_closed(flat, {k: True for k in flat}, far, near)
    assert (narrow, wide, est.n) == (8, 128, 5) and np.isnan(est.value) and np.isnan(est.low)
    empty = c2.gap_closed({}, {}, far, near)
    assert empty[:2] == (None, None) and empty[2].n == 0 and np.isnan(empty[2].value)


class _Fixed(nn.Module):
    """A classifier that answers fixed labels, one per test query (whatever the input)."""

    def __init__(self, labels, tag=None):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.labels, self.tag = torch.as_tensor(labels), tag

    def forward(self, x):
        return nn.functional.one_hot(self.labels[:len(x)], 4).float() + 0 * self.w


def test_c2_correct_exact():
    split = tb.Split(torch.zeros(2, 1, 1, 1), torch.tensor([0, 1]), torch.zeros(4, 1, 1, 1), torch.tensor([0, 1, 2, 3]),
                     4)
    out = c2._correct({(0, 8): _Fixed([0, 1, 0, 3]), (1, 8): _Fixed([1, 1, 2, 0])}, split)
    assert list(out) == [(0, 8), (1, 8)]
    assert out[(0, 8)].tolist() == [True, True, False, True] and out[(1, 8)].tolist() == [False, True, True, False]
    assert isinstance(out[(0, 8)], np.ndarray)


def test_c2_controls_exact(monkeypatch):
    rng = np.random.default_rng(13)
    y_test = torch.as_tensor(rng.integers(0, 3, 9))
    split = tb.Split(torch.zeros(4, 1, 1, 1), torch.tensor([0, 1, 2, 1]), torch.zeros(9, 1, 1, 1), y_test, 9)
    widths, seeds = [8, 32, 128], [0, 1, 2, 3]
    preds = {(s, w): rng.integers(0, 3, 9) for s in seeds for w in (*widths, 4)}
    truth0 = y_test.numpy()
    q = np.arange(9)
    for s in seeds:  # the reach family has a gap to close: narrow wrong on the far queries and on middle query 4,
        preds[(s, 8)] = np.where((q >= 6) | (q == 4), (truth0 + 1) % 3, truth0)  # wide right but for seeds 0, 1
        preds[(s, 32)] = truth0.copy()  # on far query 8 (a gap on the far queries alone differs from one taken
        preds[(s, 128)] = np.where((q == 8) & (s < 2), (truth0 + 1) % 3, truth0)  # on all queries or the near ones)
    seen = {}

    def reach_family(split_, widths_, seeds_, num_classes):
        seen["reach"] = (split_, list(widths_), list(seeds_), num_classes)
        return {(s, w): _Fixed(preds[(s, w)]) for s in seeds_ for w in widths_}

    def pad_mlp(model, width, seed=0):
        seen.setdefault("pad", []).append((model.tag, width, seed))
        return _Fixed(preds[(seed, width)] if width != 128 else preds[(seed, 4)])
    monkeypatch.setattr(c2.ctl, "reach_family", reach_family)
    monkeypatch.setattr(c2.ctl, "pad_mlp", pad_mlp)
    fitted = {(s, w): not (w == 8 and s == 2) for s in seeds for w in widths}  # width 8: three fitted seeds
    results = {("true", s, 8): SimpleNamespace(model=_Fixed(preds[(s, 8)], tag=s)) for s in seeds}
    far, near = np.zeros(9, bool), np.zeros(9, bool)
    far[6:], near[:3] = True, True
    out, families = c2.controls(split, results, fitted, widths, seeds, far, near)
    assert seen["reach"] == (split, widths, seeds, 3)  # classes: the largest label + 1
    assert seen["pad"] == [(s, w, s) for s in (0, 1, 3) for w in (32, 128)]
    truth = y_test.numpy()
    reach = {(s, w): preds[(s, w)] == truth for s in seeds for w in widths}
    padded = {(s, w): (preds[(s, w)] if w != 128 else preds[(s, 4)]) == truth for s in (0, 1, 3) for w in widths}
    assert list(families) == ["reach", "padded"]
    for name, want in (("reach", reach), ("padded", padded)):
        assert list(families[name]) == list(want)
        for k in want:
            np.testing.assert_array_equal(families[name][k], want[k])
    assert [(c.name, c.kind) for c in out] == [("reach-limited 1-NN", claims.POSITIVE),
                                               ("zero-readout padding", claims.NEGATIVE)]
    _est_equal(out[0].estimate, c2.gap_closed(reach, {k: True for k in reach}, far, near)[2])
    assert out[0].estimate.value == pytest.approx(5 / 6)  # 2/3 of the gap closed for seeds 0 and 1, all for 2 and 3
    _est_equal(out[1].estimate, c2.gap_closed(padded, {k: True for k in padded}, far, near)[2])
    assert out[0].built.startswith("the 1-NN rule answering") and out[1].built.startswith("each seed's narrowest")
    # no width with three fitted seeds: no padded family, its control is NaN
    seen.clear()
    out, families = c2.controls(split, results, {k: k[0] == 0 for k in fitted}, widths, seeds, far, near)
    assert families["padded"] == {} and "pad" not in seen and np.isnan(out[1].estimate.value)


def test_c2_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    params = {"sweep_dataset": "fashion_mnist"}
    c2.record(e, {"x": e}, parameters=params, notes="n")
    assert seen == {"claim_id": "C2", "rule": c2.RULE, "statement": c2.STATEMENT, "pooled": e,
                    "strata": {"fashion_mnist/mlp": e}, "measurements": {"x": e}, "replicates": 5,
                    "figures": [f"figures/{s}.png" for s in c2.FIGURES], "notebook": c2.NOTEBOOK,
                    "parameters": params, "notes": "n", "controls": []}
    c2.record(e, {}, parameters=params, figures=("a.png",), controls=(1,))
    assert seen["figures"] == ["a.png"] and seen["controls"] == [1] and seen["notes"] == ""


# =========================================================================== H2

def _h2_rows() -> pd.DataFrame:
    """mnist/mlp (3 seeds), mnist/cnn (2 fitted seeds and one not fitted), fashion_mnist/mlp (3 seeds): each
    model's rows are its data set's test inputs (10 and 8), with the data set's pixel 1-NN labels."""
    rng = np.random.default_rng(21)
    n = {"mnist": 10, "fashion_mnist": 8}
    label = {d: rng.integers(0, 4, k) for d, k in n.items()}
    nn_ = {d: np.where(rng.uniform(size=k) < 0.5, label[d], rng.integers(0, 4, k)) for d, k in n.items()}
    frames = []
    for d, a, s, fit in (("mnist", "mlp", 0, True), ("mnist", "mlp", 1, True), ("mnist", "mlp", 2, True),
                         ("mnist", "cnn", 4, True), ("mnist", "cnn", 1, False), ("mnist", "cnn", 2, True),
                         ("fashion_mnist", "mlp", 0, True), ("fashion_mnist", "mlp", 1, True),
                         ("fashion_mnist", "mlp", 2, True)):
        k = n[d]
        pred = np.where(rng.uniform(size=k) < 0.4, nn_[d], np.where(rng.uniform(size=k) < 0.5, label[d],
                                                                    rng.integers(0, 4, k)))
        frames.append(pd.DataFrame({"dataset": d, "arch": a, "seed": s, "label": label[d], "pred": pred,
                                    "pixel_nn": nn_[d], "correct": (pred == label[d]).astype(float),
                                    "agree_pixel": (pred == nn_[d]).astype(float),
                                    "agree_feature": (rng.uniform(size=k) < 0.7).astype(float), "fitted": fit}))
    return pd.concat(frames, ignore_index=True)


def _h2_random() -> pd.DataFrame:
    return pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2, 3], "labels": ["true", "random"] * 3 + ["random"],
                         "fitted": [True, True, True, True, False, True, True],
                         "train_acc": [0.99, 0.97, 0.995, 0.991, 0.5, 0.993, 0.98],
                         "test_acc": [0.85, 0.11, 0.8, 0.13, 0.3, 0.08, 0.12],
                         "share_first_mid": [0.5, 0.3, 0.4, 0.2, 0.1, 0.25, 0.35]})


def test_h2_measurements_exact():
    rows, random, n_boot = _h2_rows(), _h2_random(), 30
    m = h2.measurements(rows, random, n_boot=n_boot)
    assert list(m) == ["shared_error_kappa_pixel_1nn", "shared_error_kappa_net_vs_net", "shared_error_share_pixel_1nn",
                       "shared_error_expected_pixel_1nn", "agreement_pixel_1nn", "agreement_pixel_floor",
                       "agreement_feature_1nn", "test_accuracy", "random_labels_train_acc",
                       "random_labels_test_acc_minus_chance", "random_labels_share_first_mid",
                       "true_labels_share_first_mid"]
    _est_equal(m["shared_error_kappa_pixel_1nn"],
               kp.kappa_by_stratum(kp.error_groups(rows, "pixel_nn"), n_boot=n_boot, seed=0)[0])
    _est_equal(m["shared_error_kappa_net_vs_net"],
               kp.kappa_by_stratum(kp.error_groups(rows, "net"), n_boot=n_boot, seed=0)[0])
    pixel = [g for gs in kp.error_groups(rows, "pixel_nn").values() for g in gs]
    assert len(pixel) == 8
    fitted = rows[rows.fitted]
    models = [g for _, g in fitted.groupby(["dataset", "arch", "seed"], sort=False)]
    for name, groups in (("shared_error_share_pixel_1nn", [g.same for g in pixel]),
                         ("shared_error_expected_pixel_1nn", [g.expected for g in pixel]),
                         ("agreement_pixel_1nn", [g.agree_pixel for g in models]),
                         ("agreement_pixel_floor", [np.full(len(g), g.correct.mean() + (g.pixel_nn == g.label).mean()
                                                            - 1.0) for g in models]),
                         ("agreement_feature_1nn", [g.agree_feature for g in models]),
                         ("test_accuracy", [g.correct for g in models])):
        _same(m[name], *_cluster(groups, np.mean, n_boot, 0), n=8, method=CLUSTER)
    rnd = random[(random.labels == "random") & random.fitted]
    _same_seeds(m["random_labels_train_acc"], rnd.train_acc)
    _same_seeds(m["random_labels_test_acc_minus_chance"], rnd.test_acc - 0.1)
    _same_seeds(m["random_labels_share_first_mid"], rnd.share_first_mid)
    _same_seeds(m["true_labels_share_first_mid"], random[(random.labels == "true") & random.fitted].share_first_mid)
    given = Estimate(0.3, 0.2, 0.4, 8, "x")
    both = h2.measurements(rows, random, n_boot=n_boot, net_pooled=given, raw_pooled=Estimate(0.1, 0, 0.2, 8, "y"))
    assert both["shared_error_kappa_net_vs_net"] is given and both["shared_error_kappa_pixel_1nn"].method == "y"


def test_h2_fitted_and_per_model():
    rows = _h2_rows()
    assert len(h2._fitted(rows)) == len(rows) - 10 and h2._fitted(rows).fitted.all()
    bare = rows.drop(columns="fitted")
    assert h2._fitted(bare) is bare
    per = h2._per_model(rows, "correct")
    models = [g for _, g in rows[rows.fitted].groupby(["dataset", "arch", "seed"], sort=False)]
    assert len(per) == 8
    for got, g in zip(per, models):
        np.testing.assert_array_equal(got, g.correct.to_numpy(float))
    assert len(h2._per_model(bare, "correct")) == 9


def test_h2_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    h2.record(e, {"a/b": e}, {"x": e}, replicates=5, figures=["f.png"], parameters={"p": 1}, notes="n",
              controls=[1])
    assert seen == {"claim_id": "H2", "rule": h2.RULE, "statement": h2.STATEMENT, "pooled": e, "strata": {"a/b": e},
                    "measurements": {"x": e}, "replicates": 5, "figures": ["f.png"], "notebook": h2.NOTEBOOK,
                    "parameters": {"p": 1}, "notes": "n", "controls": [1]}
    h2.record(e, {}, {}, replicates=1, figures=[], parameters={}, notes="")
    assert seen["controls"] == ()


# =========================================================================== S1

def _s1_metrics() -> pd.DataFrame:
    """d/a/0: five layers, trained and untrained at 4x4, both at 2x2 on the end layers; d/a/1: one hidden layer
    (first = last: no rise), untrained falls; e/b/5: no untrained code set (NaN); rows shuffled."""
    rng = np.random.default_rng(31)
    rows = []
    spec = {("d", "a", 0): (LAYERS5, True), ("d", "a", 1): (["input", "h1", "logits"], True),
            ("e", "b", 5): (["input", "c1", "c2", "c3", "logits"], False)}
    for (d, a, s), (layers, twin) in spec.items():
        for network in ("trained", "untrained") if twin else ("trained",):
            for grid in ("4x4", "2x2"):
                for i, layer in enumerate(layers):
                    if grid == "2x2" and layer not in (layers[1], layers[-2]):
                        continue
                    rows.append({"dataset": d, "arch": a, "seed": s, "network": network, "grid": grid, "index": i,
                                 "layer": layer, "excess_mi": float(np.round(rng.uniform(-0.1, 0.6), 3)),
                                 **{k: float(np.round(rng.uniform(), 3)) for k in s1.DELTAS}})
    frame = pd.DataFrame(rows)
    frame.loc[(frame.seed == 1) & (frame.network == "untrained") & (frame.grid == "4x4"), "excess_mi"] = 0.2
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _s1_value(frame, d, a, s, network, grid, layer, col="excess_mi"):
    sel = frame[(frame.dataset == d) & (frame.arch == a) & (frame.seed == s) & (frame.network == network)
                & (frame.grid == grid) & (frame.layer == layer)][col]
    return float(sel.iloc[0]) if len(sel) else np.nan


def test_s1_per_model_exact():
    metrics = _s1_metrics()
    out = s1.s1_per_model(metrics, grid="4x4", alt_grid="2x2")
    assert list(out.columns) == ["dataset", "arch", "seed", "shallow", "deep", "excess_mi_rise_trained",
                                 "excess_mi_rise_untrained", s1.PRIMARY, s1.ALT, *[f"delta_{k}" for k in s1.DELTAS]]
    firsts = metrics.drop_duplicates(["dataset", "arch", "seed"])[["dataset", "arch", "seed"]]
    assert list(map(tuple, out[["dataset", "arch", "seed"]].to_numpy())) == list(map(tuple, firsts.to_numpy()))
    ends = {("d", "a", 0): ("h1", "h3"), ("d", "a", 1): ("h1", "h1"), ("e", "b", 5): ("c1", "c3")}
    for row in out.to_dict("records"):
        key = (row["dataset"], row["arch"], row["seed"])
        sh, dp = ends[key]
        assert (row["shallow"], row["deep"]) == (sh, dp) and type(row["seed"]) is int

        def rise(network, grid, col="excess_mi", key=key, sh=sh, dp=dp):
            return _s1_value(metrics, *key, network, grid, dp, col) - _s1_value(metrics, *key, network, grid, sh, col)
        tr, un = rise("trained", "4x4"), rise("untrained", "4x4")
        assert row["excess_mi_rise_trained"] == pytest.approx(tr, rel=REL, abs=0)
        assert row["excess_mi_rise_untrained"] == pytest.approx(un, rel=REL, nan_ok=True, abs=0)
        assert row[s1.PRIMARY] == pytest.approx(tr - max(0.0, un) if np.isfinite(un) else np.nan, rel=REL,
                                                nan_ok=True, abs=0)
        alt_t, alt_u = rise("trained", "2x2"), rise("untrained", "2x2")
        assert row[s1.ALT] == pytest.approx(alt_t - max(0.0, alt_u) if np.isfinite(alt_u) else np.nan, rel=REL,
                                            nan_ok=True, abs=0)
        for k in s1.DELTAS:
            assert row[f"delta_{k}"] == pytest.approx(rise("trained", "4x4", k), rel=REL, abs=0)
    one, bare, full = (out[out.seed == s].iloc[0] for s in (1, 5, 0))
    assert one["excess_mi_rise_trained"] == 0.0 and one[s1.PRIMARY] == 0.0  # one hidden layer: no rise
    assert np.isnan(bare[s1.PRIMARY]) and np.isfinite(bare["excess_mi_rise_trained"])  # no untrained code set
    assert full["excess_mi_rise_untrained"] > 0 and full[s1.PRIMARY] < full["excess_mi_rise_trained"]
    no_alt = s1.s1_per_model(metrics, grid="4x4")
    assert no_alt[s1.ALT].isna().all()
    pd.testing.assert_frame_equal(no_alt.drop(columns=s1.ALT), out.drop(columns=s1.ALT))


def test_s1_rise_and_beyond_nulls():
    metrics = _s1_metrics()
    sel = metrics[metrics.seed == 0]
    want = _s1_value(metrics, "d", "a", 0, "untrained", "4x4", "h2") - _s1_value(metrics, "d", "a", 0, "untrained",
                                                                                  "4x4", "h1")
    assert s1._rise(sel, "untrained", "4x4", "h1", "h2") == pytest.approx(want, rel=REL)
    want = _s1_value(metrics, "d", "a", 0, "trained", "4x4", "h3", "purity") - _s1_value(
        metrics, "d", "a", 0, "trained", "4x4", "input", "purity")
    assert s1._rise(sel, "trained", "4x4", "input", "h3", "purity") == pytest.approx(want, rel=REL)
    assert np.isnan(s1._rise(sel, "trained", "2x2", "h1", "h2"))  # no h2 at 2x2
    assert np.isnan(s1._rise(sel, "trained", "9x9", "h1", "h3"))
    assert s1._beyond_nulls(0.3, 0.1) == pytest.approx(0.2, rel=REL)
    assert s1._beyond_nulls(0.3, -0.1) == 0.3 and s1._beyond_nulls(0.3, 0.0) == 0.3
    assert np.isnan(s1._beyond_nulls(0.3, float("nan"))) and np.isnan(s1._beyond_nulls(float("nan"), 0.1))


def test_s1_estimates_exact():
    rng = np.random.default_rng(41)
    per_model = pd.DataFrame({"dataset": ["e", "d", "e", "d", "e"], "arch": ["b", "a", "b", "a", "b"],
                              **{k: rng.uniform(size=5) for k in [s1.PRIMARY, *s1.REPORTED]}})
    per_model.loc[0, s1.ALT] = np.nan
    est = s1.s1_estimates(per_model)
    assert list(est.pooled) == [s1.PRIMARY, *s1.REPORTED] and list(est.strata) == ["e/b", "d/a"]
    for k in [s1.PRIMARY, *s1.REPORTED]:
        _same_seeds(est.pooled[k], per_model[k])
        for label in est.strata:
            _same_seeds(est.strata[label][k], per_model[per_model.dataset == label[0]][k])


def test_s1_record_passes_everything(monkeypatch):
    seen = _capture(monkeypatch)
    e = Estimate(0.4, 0.3, 0.5, 5, "m")
    est = stats.StratifiedEstimates({k: e for k in [s1.PRIMARY, *s1.REPORTED]},
                                    {"d/a": {k: e for k in [s1.PRIMARY, *s1.REPORTED]}})
    params = {"alt_rows": 2, "alt_cols": 2, "archs": ["mlp"], "datasets": ["d"], "seeds": [0], "som_rows": 4,
              "som_cols": 4, "n_samples": 10, "n_shuffles": 3}
    s1.record(est, params, figures=("f.png",), n_models=5, misfit_note="m.", controls=[1])
    assert seen["claim_id"] == "S1" and seen["rule"] is s1.RULE and seen["pooled"] is e
    assert seen["strata"] == {"d/a": e} and list(seen["measurements"]) == s1.REPORTED
    assert seen["replicates"] == 5 and seen["figures"] == ["f.png"] and seen["notebook"] == s1.NOTEBOOK
    assert seen["parameters"] is params and seen["controls"] == [1] and seen["statement"] == s1.STATEMENT
    assert seen["notes"] == s1.notes(est, params, n_models=5, misfit_note="m.") and seen["notes"].endswith("m.")
    s1.record(est, params, figures=[], n_models=1)
    assert seen["controls"] == () and not seen["notes"].endswith("m.")


def _c1_measure_tables():
    tests, helds = _c1_tests()
    rng = np.random.default_rng(51)
    for tables in (tests, helds):
        for t in tables.values():
            n = len(t["ratio_nn"])
            t["inside"] = rng.uniform(size=n) < 0.3
            t["ratio_other"] = np.round(rng.uniform(0, 1, n), 3)
            t["label_change"] = rng.uniform(size=n) < 0.4
    rows = [{"dataset": "d", "arch": "mlp", "seed": 0, "fitted": True, "pixel_change_test": 0.2,
             "pixel_change_held": 0.1},
            {"dataset": "d", "arch": "mlp", "seed": 1, "pixel_change_test": 0.5, "pixel_change_held": 0.3},
            {"dataset": "d", "arch": "mlp", "seed": 2, "fitted": False, "pixel_change_test": 0.9,
             "pixel_change_held": 0.9},
            {"dataset": "d", "arch": "cnn", "seed": 0, "fitted": True, "pixel_change_test": 0.4},
            {"dataset": "d", "arch": "cnn", "seed": 1, "fitted": True, "pixel_change_test": 0.7,
             "pixel_change_held": 0.2},
            {"dataset": "e", "arch": "mlp", "seed": 0, "fitted": True, "pixel_change_test": 0.3,
             "pixel_change_held": 0.6}]
    return tests, helds, rows


def _boot(values, statistic, n_boot):
    a = _clean(values)
    boots = statistic(a[np.random.default_rng(0).integers(0, len(a), (n_boot, len(a)))], axis=1)
    return _t(float(statistic(a)), boots, len(a))


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")
def test_c1_measurements_exact():
    tests, helds, rows = _c1_measure_tables()
    n_boot = 25
    m = c1.measurements(tests, helds, rows, ["d", "e"], ["mlp", "cnn"], n_boot)
    keys = ["test_minus_heldout_pooled"]
    _est_equal(m["test_minus_heldout_pooled"], c1.effects(tests, ["d", "e"], ["mlp", "cnn"], n_boot, helds)[0])
    for label, est in c1.effects(tests, ["d", "e"], ["mlp", "cnn"], n_boot, helds)[1].items():
        keys.append(f"test_minus_heldout_{label.replace('/', '_')}")
        _est_equal(m[keys[-1]], est)
    for name in ("d", "e"):
        pix = (name, "pixel")
        for which, tables in (("test", tests), ("heldout", helds)):
            keys += [f"outside_{which}_{name}_pixel", f"median_hull_over_nn_{which}_{name}_pixel"]
            _same(m[keys[-2]], *_boot((~tables[pix]["inside"]).astype(float), np.mean, n_boot))
            _same(m[keys[-1]], *_boot(tables[pix]["ratio_nn"], np.median, n_boot))
        keys.append(f"median_hull_over_other_class_test_{name}_pixel")
        _same(m[keys[-1]], *_boot(tests[pix]["ratio_other"], np.median, n_boot))
        for arch in ("mlp", "cnn"):
            fitted = [r for r in rows if r["dataset"] == name and r["arch"] == arch and r.get("fitted", True)]
            for which, column in (("test", "pixel_change_test"), ("heldout", "pixel_change_held")):
                keys.append(f"label_change_{which}_{name}_pixel_by_{arch}")
                values = [r[column] for r in fitted if column in r]
                if len(values) >= 2:
                    _same_seeds(m[keys[-1]], values)
                else:
                    assert m[keys[-1]].n == len(values)
                    assert m[keys[-1]].value == pytest.approx(values[0] if values else np.nan, nan_ok=True)
        for arch in ("mlp", "cnn"):
            for which, tables in (("test", tests), ("heldout", helds)):
                ks = [k for k in tables if k[0] == name and k[1].split("/")[0] == arch]
                keys += [f"outside_{which}_{name}_{arch}", f"median_hull_over_nn_{which}_{name}_{arch}",
                         f"label_change_{which}_{name}_{arch}"]
                for key, values in zip(keys[-3:], ([1 - tables[k]["inside"].mean() for k in ks],
                                                   [np.nanmedian(tables[k]["ratio_nn"]) for k in ks],
                                                   [tables[k]["label_change"].mean() for k in ks])):
                    if len(_clean(values)) >= 2:
                        _same_seeds(m[key], values)
                    else:
                        assert m[key].n == len(_clean(values))
    assert list(m) == keys
    assert m["label_change_test_d_pixel_by_mlp"].value == pytest.approx(0.35, rel=REL)  # seeds 0, 1: not the misfit
    assert m["label_change_heldout_d_pixel_by_cnn"].n == 1  # seed 0 has no held-out change


def test_h1_fraction_on_a_subset_of_paths_reads_each_model_s_own_paths():
    """Models that scan different subsets of the shared paths (NaN elsewhere) each give the mean of their own
    paths' closed over gap; a plain mean made every such model NaN (fraction_where_null_flips read n = 0)."""
    nan = np.nan
    models = [("s", "d", np.array([0.1, nan, 0.3, 0.2]), np.array([0.4, nan, 0.5, 0.4])),
              ("s", "d", np.array([nan, 0.2, 0.2, 0.1]), np.array([nan, 0.5, 0.4, 0.3])),
              ("s", "d", np.array([0.3, 0.1, nan, nan]), np.array([0.6, 0.4, nan, nan]))]
    pooled, strata = h1.fractions(models, n_boot=200, seed=0)
    expected = [0.6 / 1.3, 0.5 / 1.2, 0.4 / 1.0]
    assert strata["s"].n == 3 and strata["s"].value == pytest.approx(np.mean(expected), rel=1e-12)
    assert np.isfinite(strata["s"].low) and strata["s"].low < strata["s"].value < strata["s"].high
