"""Pins the exact tables and small selectors of the claim modules (H1, H2, H4, C1, C2, S2) on hand-made frames."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from halfplanes import linear2, pts
from scipy import stats as sps

from halfway_utils import data
from halfway_utils.evidence import stats
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments.boundaries import h1
from halfway_utils.experiments.boundaries.pairs import CLAIM_KIND, CONTROL_KIND, TEST_KIND
from halfway_utils.experiments.convex_hull import c1, c2
from halfway_utils.experiments.generalization import h2
from halfway_utils.experiments.som_codes import s2
from halfway_utils.experiments.transfer import h4
from halfway_utils.experiments.transfer.bundles import Bundle

NAN = float("nan")

# --- H1: stratum_table, attainable, n_models -----------------------------------------------------------

CLAIM_COLUMNS = ["dataset", "arch", "seed", "path", "closed", "gap", "gain", "zone", "zone_untrained", "zone_1nn",
                 "to_1nn", "untrained_flip", "third_class"]
# Seven models in three strata, rows interleaved (strata keep their order of appearance: mnist/mlp, mnist/cnn,
# fashion_mnist/mlp). Per-model means in the comments; "fr" is mean(closed) / mean(gap).
CLAIM_ROWS = [
    # M1 mnist/mlp/0: fr 0.15/0.3 = 0.5, gain .2, zone .15, zu .35, z1 .05, to .3, uf .5, tc 0
    ("mnist", "mlp", 0, 0, 0.2, 0.4, 0.1, 0.1, 0.3, 0.0, 0.2, 1.0, 0.0),
    ("mnist", "mlp", 0, 1, 0.1, 0.2, 0.3, 0.2, 0.4, 0.1, 0.4, 0.0, 0.0),
    # M2 mnist/cnn/0: fr 0.1/0.3 = 1/3, gain .1, zone .25, zu .3, z1 .1, to .2, uf 1, tc .5
    ("mnist", "cnn", 0, 0, 0.1, 0.3, 0.05, 0.3, 0.35, 0.05, 0.1, 1.0, 1.0),
    # M3 mnist/mlp/1: fr 0.2/0.3 = 2/3, gain .1, zone .3, zu .45, z1 0, to .6, uf 0, tc 1
    ("mnist", "mlp", 1, 0, 0.3, 0.3, 0.05, 0.4, 0.45, 0.0, 0.5, 0.0, 1.0),
    ("mnist", "cnn", 0, 1, 0.1, 0.3, 0.15, 0.2, 0.25, 0.15, 0.3, 1.0, 0.0),
    # M4 fashion_mnist/mlp/0: gap exactly MIN_GAP -> fraction NaN (0.8 if the cut were >=), gain .003, zone .1,
    # zu .25, z1 .248, to .1, uf .5, tc .5
    ("fashion_mnist", "mlp", 0, 0, 0.0008, 0.001, 0.002, 0.1, 0.25, 0.248, 0.05, 0.0, 0.0),
    ("mnist", "mlp", 1, 1, 0.1, 0.3, 0.15, 0.2, 0.45, 0.0, 0.7, 0.0, 1.0),
    ("fashion_mnist", "mlp", 0, 1, 0.0008, 0.001, 0.004, 0.1, 0.25, 0.248, 0.15, 1.0, 1.0),
    # M5 mnist/cnn/1: fr 0.1/0.2 = 0.5, gain .2, zone .1, zu .3, z1 .1, to .1, uf .5, tc 0
    ("mnist", "cnn", 1, 0, 0.2, 0.2, 0.2, 0.05, 0.3, 0.1, 0.0, 1.0, 0.0),
    ("mnist", "cnn", 1, 1, 0.0, 0.2, 0.2, 0.15, 0.3, 0.1, 0.2, 0.0, 0.0),
    # M6 mnist/cnn/2: gap below MIN_GAP -> fraction NaN; gain 0, zone .3, zu .3, z1 .3, to .4, uf 0, tc 1
    ("mnist", "cnn", 2, 0, 0.0, 0.0005, 0.0, 0.3, 0.3, 0.3, 0.4, 0.0, 1.0),
    ("mnist", "cnn", 2, 1, 0.0, 0.0005, 0.0, 0.3, 0.3, 0.3, 0.4, 0.0, 1.0),
    # M7 fashion_mnist/mlp/1: gap just above MIN_GAP, fr 0.001/0.002 = 0.5; gain .001, zone .2, zu .2, z1 .198,
    # to .2, uf 1, tc 0
    ("fashion_mnist", "mlp", 1, 0, 0.001, 0.002, 0.001, 0.2, 0.2, 0.198, 0.2, 1.0, 0.0),
]


def _claim() -> pd.DataFrame:
    return pd.DataFrame(CLAIM_ROWS, columns=CLAIM_COLUMNS)


def _paths() -> pd.DataFrame:
    """Per-path frame of every kind: only the same-class control paths count for share_flip_same_class."""
    rows = [("mnist", "cnn", 2, CONTROL_KIND, 1.0), ("mnist", "mlp", 0, CONTROL_KIND, 1.0),
            ("mnist", "mlp", 0, CONTROL_KIND, 0.0), ("mnist", "cnn", 0, CONTROL_KIND, 1.0),
            ("mnist", "cnn", 0, CONTROL_KIND, 1.0), ("mnist", "mlp", 1, CONTROL_KIND, 0.0),
            ("mnist", "mlp", 1, CONTROL_KIND, 0.0), ("mnist", "mlp", 1, CONTROL_KIND, 1.0),
            ("mnist", "cnn", 1, CONTROL_KIND, 0.0), ("mnist", "cnn", 2, CONTROL_KIND, 0.0),
            ("mnist", "cnn", 2, CONTROL_KIND, 0.0), ("mnist", "cnn", 2, CONTROL_KIND, 0.0),
            ("fashion_mnist", "mlp", 1, CONTROL_KIND, 1.0),
            # other kinds: would change every share if they were counted (M4 has no control path: NaN)
            ("fashion_mnist", "mlp", 0, TEST_KIND, 1.0), ("fashion_mnist", "mlp", 1, TEST_KIND, 0.0),
            ("mnist", "mlp", 0, CLAIM_KIND, 1.0), ("mnist", "cnn", 1, CLAIM_KIND, 1.0),
            ("mnist", "cnn", 1, TEST_KIND, 1.0)]
    return pd.DataFrame(rows, columns=["dataset", "arch", "seed", "kind", "has_flip"])


def test_h1_stratum_table_exact_frame():
    table = h1.stratum_table(_claim(), _paths())
    expected = pd.DataFrame(
        {"models": [2, 3, 2],
         "fraction": [0.583, 0.417, 0.5],  # (1/2 + 2/3)/2; mean(1/3, 1/2) (M6 NaN); M7 only (M4 at the cut)
         "gain": [0.15, 0.1, 0.002],
         "zone": [0.225, 0.217, 0.15],
         "zone_untrained": [0.4, 0.3, 0.225],
         "zone_1nn": [0.025, 0.167, 0.223],
         "distance_to_1nn": [0.45, 0.233, 0.15],
         "share_flip_untrained": [0.25, 0.5, 0.75],
         "share_third_class": [0.5, 0.5, 0.25],
         "share_flip_same_class": [0.417, 0.417, 1.0]},  # (1/2 + 1/3)/2; (1 + 0 + 1/4)/3; M7 only
        index=["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"])
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=0, atol=1e-12)


def test_h1_stratum_table_no_control_paths_and_all_fractions_undefined():
    claim = _claim()
    claim = claim[claim["dataset"] == "fashion_mnist"].assign(gap=0.001)  # both models at the cut: NaN
    table = h1.stratum_table(claim, _paths().iloc[:0])
    assert table.index.tolist() == ["fashion_mnist/mlp"] and table["models"].tolist() == [2]
    assert np.isnan(table.loc["fashion_mnist/mlp", "fraction"])
    assert np.isnan(table.loc["fashion_mnist/mlp", "share_flip_same_class"])


def test_h1_attainable_exact_frame():
    claim = _claim()
    claim = claim[~((claim["arch"] == "cnn") & (claim["seed"] == 2))]  # M6 sits at the bisector: no range
    table = h1.attainable(claim)
    # per model lowest = (null - 0.5) / (null - ideal), highest = null / (null - ideal), then the stratum mean:
    # mnist/mlp: M1 (-0.5, 7/6), M3 (-1/9, 1); mnist/cnn: M2 = M5 (-1, 1.5);
    # fashion_mnist/mlp: M4 (-125, 125), M7 (-150, 100)
    expected = pd.DataFrame({"lowest": [-0.306, -1.0, -137.5], "highest": [1.083, 1.5, 112.5],
                             "null": [0.0, 0.0, 0.0], "band": [0.1, 0.1, 0.1], "margin": [0.5, 0.5, 0.5]},
                            index=["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"])
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=0, atol=1e-9)
    assert (h1.RULE.null_value, h1.RULE.band, h1.RULE.margin) == (0.0, 0.1, 0.5)


def test_h1_n_models_counts_distinct_dataset_arch_seed():
    assert h1.n_models(_claim()) == 7
    # models differing in one key only: dropping any key from the count would give 3
    frame = pd.DataFrame({"dataset": ["mnist", "mnist", "mnist", "mnist", "fashion_mnist"],
                          "arch": ["mlp", "mlp", "mlp", "cnn", "mlp"], "seed": [0, 0, 1, 0, 0]})
    count = h1.n_models(frame)
    assert count == 4 and type(count) is int
    assert h1.n_models(frame.iloc[:0]) == 0


# --- H2: strata_table ----------------------------------------------------------------------------------

def _agree() -> pd.DataFrame:
    rows = [("fashion_mnist", "cnn", 0, True, 0.8, 0.7, 0.9), ("mnist", "mlp", 0, True, 0.9, 0.85, 0.99),
            ("fashion_mnist", "cnn", 1, True, 0.6, 0.5, 0.7), ("mnist", "cnn", 0, True, 0.9, 0.8, 0.95),
            ("fashion_mnist", "cnn", 2, False, 0.1, 0.0, 0.2), ("mnist", "mlp", 1, True, 0.95, 0.8, 0.97),
            ("mnist", "cnn", 1, False, 0.2, 0.1, 0.3), ("mnist", "cnn", 2, True, 0.96, 0.82, 0.91),
            ("mnist", "cnn", 3, True, 0.93, 0.84, 0.93)]
    return pd.DataFrame(rows, columns=["dataset", "arch", "seed", "fitted", "correct", "agree_pixel",
                                       "agree_feature"])


PIXEL = {"fashion_mnist/cnn": Estimate(0.4, 0.3, 0.5, 2, "k"), "mnist/mlp": Estimate(0.6, 0.55, 0.65, 2, "k")}
NET = {"mnist/mlp": Estimate(0.7, 0.66, 0.74, 2, "n"), "mnist/cnn": Estimate(0.8, 0.77, 0.83, 3, "n")}


def _h2_expected(primary: tuple[list[float], list[float], list[float]]) -> pd.DataFrame:
    test_acc = [0.7, 0.925, 0.93]  # the fitted models only
    return pd.DataFrame({
        "stratum": ["fashion_mnist/cnn", "mnist/mlp", "mnist/cnn"], "models": [3, 2, 4], "fitted": [2, 2, 3],
        "primary": primary[0], "primary_low": primary[1], "primary_high": primary[2],
        "kappa_pixel_1nn": [0.4, 0.6, NAN], "low": [0.3, 0.55, NAN], "high": [0.5, 0.65, NAN],
        "kappa_net_vs_net": [NAN, 0.7, 0.8], "net_low": [NAN, 0.66, 0.77], "net_high": [NAN, 0.74, 0.83],
        "test_acc": test_acc, "pixel_1nn_acc": [NAN, 0.9, 0.9], "agree_pixel": [0.6, 0.825, 0.82],
        "agreement_floor": [NAN, 0.925 + 0.9 - 1, 0.93 + 0.9 - 1], "agree_feature": [0.8, 0.98, 0.93]})


def test_h2_strata_table_exact_frame_without_primary():
    table = h2.strata_table(_agree(), PIXEL, NET, {"mnist": 0.9})  # no pixel 1-NN accuracy for fashion_mnist
    pd.testing.assert_frame_equal(table, _h2_expected(([NAN] * 3, [NAN] * 3, [NAN] * 3)), check_exact=False,
                                  rtol=0, atol=1e-12)


def test_h2_strata_table_exact_frame_with_primary():
    primary = {"mnist/cnn": Estimate(0.5, 0.45, 0.56, 3, "p"), "mnist/mlp": Estimate(0.2, 0.1, 0.3, 2, "p"),
               "other/mlp": Estimate(9.0, 8.0, 10.0, 5, "p")}
    table = h2.strata_table(_agree(), PIXEL, NET, {"mnist": 0.9, "other": 0.5}, primary)
    expected = _h2_expected(([NAN, 0.2, 0.5], [NAN, 0.1, 0.45], [NAN, 0.3, 0.56]))
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=0, atol=1e-12)


# --- H4: landing_table, landing_medians, landing_bound ---------------------------------------------------

def _bundles() -> tuple[dict[str, Bundle], dict[tuple, torch.Tensor]]:
    """Two data sets: on "d" both sources fool on some inputs, on "e" the first source is never fooled."""
    x_train = pts((0.1, 0.0), (0.9, 0.0), (0.9, 0.8), (0.0, 0.9))
    y_train = torch.tensor([0, 1, 1, 1])
    x, y = pts((0.0, 0.0), (0.1, 0.1), (0.2, 0.0)), torch.tensor([0, 0, 0])
    d = Bundle("d", {"mlp/s0": linear2([1.0, 0.0], -0.5), "cnn/s1": linear2([1.0, 0.0], -0.25)}, x, y,
               x_train, y_train, {})
    e = Bundle("e", {"mlp/s2": linear2([1.0, 0.0], -0.8), "cnn/s0": linear2([1.0, 1.0], -0.6)}, x, y,
               x_train, y_train, {})
    near = pts((0.6, 0.1), (0.3, 0.1), (0.7, 0.0))  # mlp/s0 fooled on inputs 0 and 2, cnn/s1 on all three
    adv = {("d", "pgd", 0.1, "mlp/s0"): near, ("d", "pgd", 0.1, "cnn/s1"): near,
           ("e", "pgd", 0.1, "mlp/s2"): near, ("e", "pgd", 0.1, "cnn/s0"): pts((0.3, 0.4), (0.2, 0.1), (0.5, 0.5)),
           ("d", "pgd", 0.2, "mlp/s0"): x, ("d", "pgd", 0.2, "cnn/s1"): x,  # another eps: never used
           ("e", "pgd", 0.2, "mlp/s2"): x, ("e", "pgd", 0.2, "cnn/s0"): x}
    return {"d": d, "e": e}, adv


def test_h4_landing_table_exact_frame():
    bundles, adv = _bundles()
    table = h4.landing_table(bundles, adv, eps_ref=0.1, grid=9, seed=2)
    parts = []
    for name, source in (("d", "mlp/s0"), ("d", "cnn/s1"), ("e", "cnn/s0")):
        b = bundles[name]
        pts_ = h4.landing_points(b.models[source], b.x, b.y, adv[name, "pgd", 0.1, source], b.x_train, b.y_train,
                                 grid=9, seed=2)
        parts.append(pts_.assign(dataset=name, source=source, arch=source.split("/")[0]))
    expected = pd.concat(parts, ignore_index=True)[["dataset", "source", "arch", *parts[0].columns[:9]]]
    assert len(expected) == 2 + 3 + 2
    pd.testing.assert_frame_equal(table, expected)
    assert table.index.tolist() == list(range(7))
    assert table[["dataset", "source", "arch"]].values.tolist() == [
        ["d", "mlp/s0", "mlp"]] * 2 + [["d", "cnn/s1", "cnn"]] * 3 + [["e", "cnn/s0", "cnn"]] * 2
    # the seed reaches landing_points: another seed moves the random perturbation, not the attack's point
    other = h4.landing_table(bundles, adv, eps_ref=0.1, grid=9)
    assert not np.allclose(other["t_random"], table["t_random"])
    np.testing.assert_allclose(other["t"], table["t"])


LANDING_COLUMNS = ["t", "flip_t", "landing", "landing_random", "perp", "perp_random", "segment_l2", "t_bound"]


def _landing() -> pd.DataFrame:
    rows = [  # dataset, t, flip_t, landing, landing_random, perp, perp_random, segment_l2, t_bound
        ("m", 0.1, 0.5, 0.2, 0.01, 0.9, 0.8, 2.0, 0.25),    # bound / flip exactly 0.5: reaches half
        ("f", 0.2, 0.4, 0.5, 0.02, 0.7, 0.6, 3.0, 0.1),     # 0.25
        ("m", 0.3, 0.6, 0.5, 0.03, 0.5, 0.4, 4.0, 0.294),   # 0.49: does not
        ("c", 0.05, 0.5, 0.1, 0.04, 0.3, 0.2, 1.0, 0.3),    # 0.6
        ("m", 0.2, 0.2, 1.0, 0.05, 0.6, 0.7, 5.0, 0.12),    # 0.6
        ("f", 0.4, 0.8, 0.5, 0.06, 0.8, 0.9, 6.0, 0.5),     # 0.625
        ("m", 0.1, 1.0, 0.1, 0.07, 0.2, 0.1, 7.0, 0.2),     # 0.2
        ("c", 0.15, 0.3, 0.5, 0.08, 0.4, 0.3, 8.0, 0.03),   # 0.1
        ("f", 0.6, 0.6, 1.0, 0.09, 0.1, 0.2, 9.0, 0.12),    # 0.2
    ]
    frame = pd.DataFrame(rows, columns=["dataset", *LANDING_COLUMNS])
    return frame.assign(source="mlp/s0", arch="mlp", perp_effect=99.0)  # extra columns are not summarised


def test_h4_landing_medians_exact_frame():
    got = h4.landing_medians(_landing())
    expected = pd.DataFrame(
        {"t": [0.1, 0.4, 0.15], "flip_t": [0.4, 0.6, 0.55], "landing": [0.3, 0.5, 0.35],
         "landing_random": [0.06, 0.06, 0.04], "perp": [0.35, 0.7, 0.55], "perp_random": [0.25, 0.6, 0.55],
         "segment_l2": [4.5, 6.0, 4.5], "t_bound": [0.165, 0.12, 0.225]},
        index=pd.Index(["c", "f", "m"], name="dataset"))
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-12)


def test_h4_landing_bound_exact_frame():
    got = h4.landing_bound(_landing())
    expected = pd.DataFrame(
        {"t_bound_median": [0.165, 0.12, 0.225], "t_bound_max": [0.3, 0.5, 0.294],
         "flip_t_median": [0.4, 0.6, 0.55],
         "bound_over_flip_median": [0.35, 0.25, 0.495],  # c: (0.6, 0.1); f: (0.25, 0.625, 0.2); m: 0.5,0.49,0.6,0.2
         "share_bound_reaches_half_flip": [0.5, 1 / 3, 0.5]},  # m: 0.5 (the cut) and 0.6 of four
        index=pd.Index(["c", "f", "m"], name="dataset"))
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-12)


def test_h4_landing_bound_reach_just_below_half_does_not_count():
    frame = _landing()
    below = frame.assign(t_bound=np.where(frame["dataset"] == "m", 0.5 * frame["flip_t"] - 1e-9, frame["t_bound"]))
    assert h4.landing_bound(below).loc["m", "share_bound_reaches_half_flip"] == 0.0
    at = frame.assign(t_bound=0.5 * frame["flip_t"])
    assert h4.landing_bound(at)["share_bound_reaches_half_flip"].tolist() == [1.0, 1.0, 1.0]


# --- C2: chance_level, far_near, width_pair, gaps_by_width, widest_fitted --------------------------------

def test_c2_chance_level(monkeypatch):
    assert c2.chance_level("mnist") == 0.1 and c2.chance_level("fashion_mnist") == 0.1
    monkeypatch.setattr(data, "info", lambda name: type("Info", (), {"classes": ("a", "b", "c", "d")})())
    assert c2.chance_level("four") == 0.25


def test_c2_chance_level_unknown_dataset():
    with pytest.raises(data.DataError):
        c2.chance_level("nope")


def test_c2_far_near_thirds_with_ties():
    h = [0.5, 2.0, 0.1, 2.0, 0.3, 0.1, 1.0, 3.0, 0.2, 0.1]  # 10 queries: thirds of 3
    far, near = c2.far_near(h)
    assert far.dtype == bool and near.dtype == bool
    assert far.tolist() == [False, True, False, True, False, False, False, True, False, False]
    assert near.tolist() == [False, False, True, False, False, True, False, False, False, True]
    far, near = c2.far_near(np.array([1.0, 0.0]))  # fewer than three: no third
    assert far.tolist() == [False, False] and near.tolist() == [False, False]
    far, near = c2.far_near((0.3, 0.1, 0.2))
    assert far.tolist() == [True, False, False] and near.tolist() == [False, True, False]


def test_c2_width_pair_boundaries():
    def fitted(counts: dict[int, int], seeds: int = 5) -> dict[tuple[int, int], bool]:
        return {(s, w): s < n for w, n in counts.items() for s in range(seeds)}

    # 3 fitted (the minimum) qualifies, 2 does not; misfits are not counted
    assert c2.width_pair(fitted({4: 2, 16: 3, 64: 5, 256: 3, 1024: 2})) == (16, 256)
    assert c2.width_pair(fitted({16: 3, 64: 3})) == (16, 64)  # exactly two widths
    assert c2.width_pair(fitted({16: 3, 64: 2})) == (None, None)  # one qualifying width
    assert c2.width_pair({}) == (None, None)
    # min_models given: 2 qualifies, 1 does not
    assert c2.width_pair(fitted({4: 2, 16: 1, 64: 2, 256: 1}), min_models=2) == (4, 64)
    assert c2.width_pair(fitted({4: 2, 16: 1, 64: 1}), 2) == (None, None)
    got = c2.width_pair({(0, np.int64(8)): True, (1, 8): True, (2, 8): True, (0, 32): True, (1, 32): True,
                         (2, 32): True})
    assert got == (8, 32) and all(type(w) is int for w in got)


def test_c2_gaps_by_width_order_and_exclusions():
    far = np.array([False, False, True, True])
    near = np.array([True, True, False, False])

    def c(near_ok: int, far_ok: int) -> np.ndarray:
        return np.array([1] * near_ok + [0] * (2 - near_ok) + [1] * far_ok + [0] * (2 - far_ok))

    correct = {(1, 64): c(2, 0), (0, 64): c(2, 1), (1, 16): c(1, 0), (2, 16): c(2, 2), (2, 64): c(1, 1),
               (3, 16): c(0, 2), (3, 64): c(2, 2)}
    fitted = {(2, 64): False, (1, 16): True, (3, 16): True}  # missing keys count as fitted
    got = c2.gaps_by_width(correct, fitted, far, near)
    # seed 0 has no width 16: sorting by (seed, width) would put 64 first
    assert list(got.items()) == [(16, [0.5, 0.0, -1.0]), (64, [0.5, 1.0, 0.0])]
    assert c2.gaps_by_width({}, {}, far, near) == {}


def _sweep(random_acc: dict[int, list[float]], *, unfitted: dict[int, int] | None = None) -> list[dict]:
    """Sweep rows: per width, random-label models at ``random_acc[width]`` (the first ``unfitted[width]`` not
    fitted), and fitted true-label models at every width that would qualify everywhere if counted."""
    rows = []
    for w, accs in random_acc.items():
        for s, acc in enumerate(accs):
            rows.append({"labels": "random", "seed": s, "width": w, "fitted": s >= (unfitted or {}).get(w, 0),
                         "test_acc": acc, "train_acc": 1.0})
    for w in (8, 16, 64, 256, 1024):
        for s in range(4):
            rows.append({"labels": "true", "seed": s, "width": w, "fitted": True, "test_acc": 0.9, "train_acc": 1.0})
    return rows


def test_c2_widest_fitted_boundaries():
    # width 256: four models, one misfit -> 3 fitted (the minimum); 1024: 3 rows, one misfit -> 2
    rows = _sweep({16: [0.3, 0.2, 0.25, 0.35], 256: [0.9, 0.2, 0.3, 0.28], 1024: [0.1, 0.1, 0.1]},
                  unfitted={256: 1, 1024: 1})
    width, est = c2.widest_fitted(rows, 0.25)
    assert width == 256 and type(width) is int
    assert est == stats.across_seeds([0.2 - 0.25, 0.3 - 0.25, 0.28 - 0.25])
    assert est.n == 3 and est.value == pytest.approx(0.01)
    # min_models given: two fitted now qualify at 1024
    width, est = c2.widest_fitted(rows, 0.1, min_models=2)
    assert width == 1024 and est.n == 2 and est.value == pytest.approx(0.0)
    # nowhere min_models fitted random-label models (true-label rows do not count)
    width, est = c2.widest_fitted(_sweep({16: [0.3, 0.2], 64: [0.1, 0.2, 0.3]}, unfitted={64: 1}), 0.1)
    assert width is None
    assert np.isnan(est.value) and np.isnan(est.low) and np.isnan(est.high)
    assert (est.n, est.method) == (0, "t across seeds")


# --- S2: middle_eps, homogeneity_points ------------------------------------------------------------------

def test_s2_middle_eps():
    assert s2.middle_eps([0.3]) == 0.3
    assert s2.middle_eps((0.2, 0.1)) == 0.2  # the upper middle of an even count
    assert s2.middle_eps([0.3, 0.05, 0.1]) == 0.1
    assert s2.middle_eps([0.4, 0.1, 0.3, 0.2]) == 0.3
    assert s2.middle_eps([0.5, 0.02, 0.3, 0.05, 0.1]) == 0.1
    assert s2.middle_eps([0.6, 0.5, 0.4, 0.3, 0.2, 0.1]) == 0.4


MODELS = {("mnist", "mlp", 0): ["input", "h1", "h2", "logits"], ("mnist", "cnn", 1): ["input", "c1", "c2", "c3",
                                                                                       "logits"],
          ("fashion_mnist", "mlp", 0): ["input", "h1", "logits"]}


def _s2_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    changes, metrics = [], []
    for m, (key, layers) in enumerate(MODELS.items()):
        for index, layer in enumerate(layers):
            base = dict(zip(["dataset", "arch", "seed"], key)) | {"layer": layer, "index": index}
            for attack, eps, scale in (("pgd", 0.1 + 0.2, 1.0), ("pgd", 0.2, 10.0), ("fgsm", 0.3, 100.0)):
                changes.append({**base, "attack": attack, "eps": eps,
                                "excess_change": scale * (0.1 * index + 0.01 * m)})
            for network, grid, offset in (("trained", "4x4", 0.0), ("untrained", "4x4", 0.5), ("trained", "2x2", 0.7)):
                metrics.append({**base, "network": network, "grid": grid, "excess_mi": offset + 0.05 * index + 0.1 * m})
    return pd.DataFrame(changes), pd.DataFrame(metrics)


def test_s2_homogeneity_points_exact_frame():
    changes, metrics = _s2_frames()
    got = s2.homogeneity_points(changes, metrics, eps=0.3, grid="4x4")  # 0.1 + 0.2 != 0.3 exactly: isclose
    rows = [  # dataset, arch, seed, layer, index, excess_change, excess_mi (trained, 4x4) — hidden layers only
        ("mnist", "mlp", 0, "h1", 1, 0.1, 0.05), ("mnist", "mlp", 0, "h2", 2, 0.2, 0.1),
        ("mnist", "cnn", 1, "c1", 1, 0.11, 0.15), ("mnist", "cnn", 1, "c2", 2, 0.21, 0.2),
        ("mnist", "cnn", 1, "c3", 3, 0.31, 0.25), ("fashion_mnist", "mlp", 0, "h1", 1, 0.12, 0.25)]
    expected = pd.DataFrame(rows, columns=["dataset", "arch", "seed", "layer", "index", "excess_change",
                                           "excess_mi"])
    expected.insert(5, "attack", "pgd")
    expected.insert(6, "eps", 0.1 + 0.2)
    expected["homogeneity"] = 1 - expected["excess_mi"]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-12)
    assert got["homogeneity"].tolist() == pytest.approx([0.95, 0.9, 0.85, 0.8, 0.75, 0.75])


def test_s2_homogeneity_points_other_grid_and_eps():
    changes, metrics = _s2_frames()
    got = s2.homogeneity_points(changes, metrics, eps=0.2, grid="2x2")
    assert got["excess_change"].tolist() == pytest.approx([1.0, 2.0, 1.1, 2.1, 3.1, 1.2])
    assert got["homogeneity"].tolist() == pytest.approx([0.25, 0.2, 0.15, 0.1, 0.05, 0.05])
    assert got.index.tolist() == list(range(6))
    assert s2.homogeneity_points(changes, metrics, eps=0.05, grid="4x4").empty


# --- C1: median_ratio, median_difference -----------------------------------------------------------------

T_METHOD = "bootstrap SE, t(models - 1)"


def _t(value: float, boots: np.ndarray, n: int, method: str) -> Estimate:
    """The t interval a bootstrap SE gives, written out: se = sd(boots) sqrt(n / (n - 1)), df = n - 1."""
    se = float(np.std(boots, ddof=1) * math.sqrt(n / (n - 1)))
    half = float(sps.t.ppf(0.975, n - 1) * se)
    return Estimate(value, value - half, value + half, n, f"{method}; {T_METHOD}", se, float(n - 1), 0.95)


def _close(got: Estimate, want: Estimate) -> None:
    assert (got.n, got.method, got.level) == (want.n, want.method, want.level)
    np.testing.assert_allclose([got.value, got.low, got.high, got.se, got.df],
                               [want.value, want.low, want.high, want.se, want.df], rtol=1e-12, atol=1e-15)


def test_c1_median_ratio_is_a_bootstrap_of_the_median():
    values = [0.2, 0.9, np.nan, 0.4, 0.6, 0.1, np.inf, 0.35]
    finite = np.array([0.2, 0.9, 0.4, 0.6, 0.1, 0.35])
    rng = np.random.default_rng(0)
    boots = np.median(finite[rng.integers(0, 6, size=(300, 6))], axis=1)
    got = c1.median_ratio(values, n_boot=300)
    _close(got, _t(0.375, boots, 6, "bootstrap"))
    assert got.value == pytest.approx(0.375)  # the median, not the mean (0.425)
    empty = c1.median_ratio([np.nan], n_boot=50)
    assert np.isnan(empty.value) and empty.n == 0


def _diff_boots(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    da = rng.integers(0, len(a), (n_boot, len(a)))
    db = rng.integers(0, len(b), (n_boot, len(b)))
    return np.median(a[da], axis=1) - np.median(b[db], axis=1)


def test_c1_median_difference_exact_estimate_and_seed():
    method = "bootstrap over queries (test and held-out resampled apart)"
    a_raw = [0.5, 0.7, np.nan, 0.9, 0.6, np.inf, 0.8]
    b_raw = np.array([[0.1, 0.3], [0.2, -np.inf]])  # flattened, the infinite value dropped
    a, b = np.array([0.5, 0.7, 0.9, 0.6, 0.8]), np.array([0.1, 0.3, 0.2])
    got = c1.median_difference(a_raw, b_raw, n_boot=400)
    _close(got, _t(0.7 - 0.2, _diff_boots(a, b, 400, 0), 5, method))
    seeded = c1.median_difference(a_raw, b_raw, n_boot=400, seed=7)
    _close(seeded, _t(0.5, _diff_boots(a, b, 400, 7), 5, method))
    assert seeded.se != got.se


def test_c1_median_difference_empty_samples():
    method = "bootstrap over queries (test and held-out resampled apart)"
    no_a = c1.median_difference([np.nan], [0.1, 0.2], n_boot=50)
    assert np.isnan(no_a.value) and np.isnan(no_a.low) and np.isnan(no_a.high)
    assert (no_a.n, no_a.method) == (0, method)
    no_b = c1.median_difference([0.4, 0.5, 0.6], [], n_boot=50)  # n is a's size even when b is empty
    assert np.isnan(no_b.value) and np.isnan(no_b.low) and np.isnan(no_b.high)
    assert (no_b.n, no_b.method) == (3, method)
    one = c1.median_difference([0.4], [0.1, 0.3], n_boot=50)  # one query in a: a value, no interval
    assert one.value == pytest.approx(0.2) and one.n == 1 and np.isnan(one.low) and np.isnan(one.high)


def test_attainable_leaves_out_a_model_whose_null_sits_at_the_ideal():
    """A model with no way to go (null == ideal) is NaN in the attainable range, as in the primary, not ±inf."""
    rows = [{"dataset": "mnist", "arch": "mlp", "seed": s, "zone_untrained": null, "zone_1nn": ideal}
            for s, null, ideal in ((0, 0.4, 0.1), (1, 0.3, 0.3), (2, 0.45, 0.05))]
    table = h1.attainable(pd.DataFrame(rows))
    assert table.loc["mnist/mlp", "highest"] == pytest.approx(round((0.4 / 0.3 + 0.45 / 0.4) / 2, 3))
    assert table.loc["mnist/mlp", "lowest"] == pytest.approx(round((-0.1 / 0.3 + -0.05 / 0.4) / 2, 3))


def test_landing_table_without_a_successful_example_is_empty():
    assert h4.landing_table({}, {}, eps_ref=0.1, grid=9).empty
