"""Tests of halfway_utils.experiments.boundaries (notebook 01, claim H1) on hand-made inputs.

The models are one linear layer on 1x1x2 inputs whose boundaries are known exactly, so each
flip point, share and median below is computed by hand.
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils.evidence.claims import NOT_SUPPORTED, SUPPORTED
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments import boundaries as bd
from halfway_utils.infra.params import ParameterError, validate

matplotlib.use("Agg")

CLAIM, SAME, TEST = "train-train, different", "train-train, same", "test-train, different"


def linear(weight: list[list[float]], bias: list[float]) -> nn.Module:
    """A one-layer classifier on (N, 1, 1, 2) inputs with the given weight rows and biases."""
    lin = nn.Linear(2, len(bias))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(weight))
        lin.bias.copy_(torch.tensor(bias))
    return nn.Sequential(nn.Flatten(), lin).eval()


def threshold(c: float) -> nn.Module:
    """Two classes: class 1 where the first coordinate exceeds ``c``, else class 0."""
    return linear([[-1.0, 0.0], [1.0, 0.0]], [c, -c])


def three_bands() -> nn.Module:
    """Class 0 for x0 < 0.25, class 2 for 0.25 < x0 < 0.75, class 1 for x0 > 0.75."""
    return linear([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], [0.25, -0.75, 0.0])


def points(*xy: tuple[float, float]) -> torch.Tensor:
    """Inputs of shape (N, 1, 1, 2)."""
    return torch.tensor(xy, dtype=torch.float32).view(-1, 1, 1, 2)


def frame(kind: str, abs_first: list[float], **cols: list[float]) -> pd.DataFrame:
    """A per-path frame of one pair kind; NaN in ``abs_first`` marks a path that never flips."""
    a = np.asarray(abs_first, dtype=float)
    has = np.isfinite(a)
    first = np.where(has, 0.5 - a, np.nan)
    out = {"kind": kind, "first_flip": first, "abs_first": a, "has_flip": has.astype(float),
           "first_mid": ((first >= 0.4) & (first <= 0.6)).astype(float), "third_class": 0.0}
    return pd.DataFrame({**out, **cols})


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    torch.manual_seed(0)


# --- parameters and pairs ---------------------------------------------------------------------

def test_parameters_are_the_notebooks_rules():
    assert set(bd.PARAMETERS) == {"profile", "datasets", "archs", "seeds", "n_train", "n_test", "n_pairs",
                                  "grid", "history_arch", "history_dataset", "history_epochs", "n_boot",
                                  "device"}
    good = {"profile": "quick", "datasets": ["mnist", "fashion_mnist"], "archs": ["mlp", "cnn", "resnet"],
            "seeds": [0, 1], "n_train": 2000, "n_test": 2000, "n_pairs": 300, "grid": 17,
            "history_arch": "mlp", "history_dataset": "mnist", "history_epochs": [0, 1, 2, 4, 6, 10],
            "n_boot": 1000, "device": None}
    assert validate(good, bd.PARAMETERS) == good
    assert validate({**good, "n_pairs": 10, "history_epochs": [1000], "n_train": None}, bd.PARAMETERS)
    for bad in ({"n_pairs": 9}, {"n_pairs": 100001}, {"history_epochs": [1001]}, {"history_epochs": [-1]},
                {"history_arch": "vit"}, {"history_dataset": "cifar"}, {"grid": 2}, {"n_boot": 99},
                {"n_test": 10001}, {"n_train": 60001}):
        with pytest.raises(ParameterError):
            validate({**good, **bad}, bd.PARAMETERS)


def test_draw_pairs_kinds_relations_and_seeds():
    y_train = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_test = torch.tensor([0, 1, 1, 2])
    split = {"train": (torch.zeros(10, 1, 1, 2), y_train), "test": (torch.zeros(4, 1, 1, 2), y_test)}
    pairs = bd.draw_pairs(split, 50)
    assert list(pairs) == [CLAIM, SAME, TEST]
    sa, sb, ia, ib = pairs[CLAIM]
    assert (sa, sb) == ("train", "train") and len(ia) == len(ib) == 50
    assert (y_train[ia] != y_train[ib]).all()
    _, _, ia, ib = pairs[SAME]
    assert (y_train[ia] == y_train[ib]).all() and (ia != ib).all()  # never a sample with itself
    sa, sb, ia, ib = pairs[TEST]
    assert (sa, sb) == ("test", "train") and ia.max() < 4 and (y_test[ia] != y_train[ib]).all()
    again = bd.draw_pairs(split, 50)
    assert all((pairs[k][2] == again[k][2]).all() and (pairs[k][3] == again[k][3]).all() for k in pairs)
    # Each kind has its own seed: the two train-train kinds do not start from the same draws.
    assert not np.array_equal(pairs[CLAIM][2][:10], pairs[SAME][2][:10])


def test_load_sets_uses_one_split_per_data_set(monkeypatch):
    calls = []

    def fake_split(cfg, split):
        calls.append((cfg.dataset, cfg.arch, cfg.n_train, cfg.n_test, cfg.data_seed, split))
        return torch.full((2, 1, 1, 2), float(len(calls))), torch.tensor([0, 1])

    monkeypatch.setattr(bd, "load_split", fake_split)
    sets = bd.load_sets(["mnist", "fashion_mnist"], "cnn", n_train=20, n_test=10)
    assert calls == [("mnist", "cnn", 20, 10, 0, "train"), ("mnist", "cnn", 20, 10, 0, "test"),
                     ("fashion_mnist", "cnn", 20, 10, 0, "train"), ("fashion_mnist", "cnn", 20, 10, 0, "test")]
    assert sets["fashion_mnist"]["test"][0][0, 0, 0, 0].item() == 4.0


# --- scanning ---------------------------------------------------------------------------------

def test_scan_model_rows_and_paths_from_known_boundaries():
    # Boundary at x0 = 0.5. Pairs: (0,0)->(1,0.75): t = 0.5; (0.2,0)->(1,0): t = 0.3/0.8 = 0.375;
    # (1,0)->(0,0): t = 0.5; (0,0)->(0.4,0): no flip.
    x = points((0, 0), (1, 0.75), (0.2, 0), (1, 0), (0.4, 0))
    split = {"train": (x, torch.zeros(5, dtype=torch.long))}
    pairs = {CLAIM: ("train", "train", np.array([0, 2, 3, 0]), np.array([1, 3, 0, 4]))}
    rows, frames = bd.scan_model(threshold(0.5), split, pairs, grid=17,
                                 key={"dataset": "mnist", "arch": "mlp", "seed": 3}, test_acc=0.9)
    (row,), (paths,) = rows, frames
    assert list(row)[:5] == ["dataset", "arch", "seed", "kind", "test_acc"] and "per_path" not in row
    assert (row["dataset"], row["arch"], row["seed"], row["kind"], row["test_acc"]) == ("mnist", "mlp", 3, CLAIM, 0.9)
    assert row["n_paths"] == 4 and row["share_flip"] == 0.75 and row["share_third_class"] == 0.0
    assert row["share_first_mid"] == pytest.approx(2 / 3)
    assert row["median_abs_first"] == pytest.approx(0.0, abs=1e-3)
    assert row["mean_n_flips"] == 0.75
    np.testing.assert_allclose(paths["first_flip"][:3], [0.5, 0.375, 0.5], atol=1e-3)
    assert np.isnan(paths["first_flip"][3]) and paths["has_flip"].tolist() == [1, 1, 1, 0]
    np.testing.assert_allclose(paths["distance"], [1.25, 0.8, 1.0, 0.4], rtol=1e-6)
    assert (paths["kind"] == CLAIM).all() and (paths["seed"] == 3).all()


def test_scan_model_sees_a_third_class_on_the_way():
    # (0,0)->(1,0) crosses class 2 between x0 = 0.25 and 0.75: two flips, first 0.25, last 0.75.
    x = points((0, 0), (1, 0))
    split = {"train": (x, torch.tensor([0, 1])), "test": (x, torch.tensor([0, 1]))}
    pairs = {TEST: ("test", "train", np.array([0]), np.array([1]))}
    rows, frames = bd.scan_model(three_bands(), split, pairs, grid=17, key={}, test_acc=1.0)
    np.testing.assert_allclose(frames[0][["first_flip", "last_flip"]].to_numpy()[0], [0.25, 0.75], atol=1e-3)
    assert frames[0]["n_flips"][0] == 2 and frames[0]["third_class"][0] == 1.0
    assert rows[0]["share_third_class"] == 1.0 and rows[0]["median_abs_first"] == pytest.approx(0.25, abs=1e-3)


def test_scan_zoo_loops_every_model_over_every_kind(monkeypatch):
    thresholds = {("mnist", "mlp", 0): 0.5, ("mnist", "mlp", 1): 0.3}

    def fake_train(config, device=None):
        return SimpleNamespace(model=threshold(thresholds[(config.dataset, config.arch, config.seed)]),
                               final={"test_acc": 0.1 * (config.seed + 1)})

    monkeypatch.setattr(bd, "train", fake_train)
    x = points((0, 0), (1, 0), (0.9, 0))
    split = {"train": (x, torch.tensor([0, 1, 1]))}
    pairs = {"mnist": {CLAIM: ("train", "train", np.array([0, 0]), np.array([1, 2])),
                       SAME: ("train", "train", np.array([1]), np.array([2]))}}
    scan = bd.scan_zoo(["mnist"], ["mlp"], [0, 1], {"mnist": split}, pairs, n_train=3, n_test=3, grid=9)
    assert list(scan.models) == [("mnist", "mlp", 0), ("mnist", "mlp", 1)]
    assert [(r["seed"], r["kind"]) for r in scan.rows] == [(0, CLAIM), (0, SAME), (1, CLAIM), (1, SAME)]
    assert scan.table["test_acc"].tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2])
    assert len(scan.paths) == 6 and scan.paths.index.tolist() == list(range(6))
    # Seed 1's boundary at 0.3: (0,0)->(1,0) flips at 0.3, (0,0)->(0.9,0) at 1/3.
    seed1 = scan.paths[(scan.paths["seed"] == 1) & (scan.paths["kind"] == CLAIM)]
    np.testing.assert_allclose(seed1["first_flip"], [0.3, 1 / 3], atol=1e-3)
    assert scan.paths[scan.paths["kind"] == SAME]["has_flip"].tolist() == [0.0, 0.0]


def test_model_means_averages_seeds_per_kind_data_set_and_arch():
    table = pd.DataFrame({"kind": [CLAIM, CLAIM, SAME], "dataset": "mnist", "arch": "mlp", "seed": [0, 1, 0],
                          "share_flip": [1.0, 0.5, 0.0], "median_abs_first": [0.1, 0.2, np.nan],
                          "share_first_mid": [0.5, 0.25, np.nan], "share_third_class": [0.0, 1.0, 0.0],
                          "mean_n_flips": [1.0, 2.0, 0.0]})
    means = bd.model_means(table)
    assert list(means.columns) == bd.SUMMARY_COLUMNS
    assert means.loc[(CLAIM, "mnist", "mlp")].tolist() == [0.75, 0.15, 0.375, 0.5, 1.5]


def test_first_flip_correlation_uses_only_flipping_claim_pairs():
    claim = frame(CLAIM, [0.05, 0.1, 0.2, 0.3, np.nan], distance=[1.0, 2.0, 3.0, 4.0, 0.0])
    other = frame(SAME, [0.4, 0.3], distance=[0.5, 9.0])  # would break the perfect ordering
    rho = bd.first_flip_correlation(pd.concat([claim, other], ignore_index=True))
    assert rho.value == pytest.approx(1.0) and rho.n == 4
    reverse = bd.first_flip_correlation(frame(CLAIM, [0.3, 0.2, 0.1], distance=[1.0, 2.0, 3.0]))
    assert reverse.value == pytest.approx(-1.0)


# --- history ----------------------------------------------------------------------------------

def test_history_config_trains_at_least_the_zoo_epochs():
    cfg = bd.history_config("mnist", "mlp", [0, 2, 4], n_train=100, n_test=50)
    assert (cfg.dataset, cfg.arch, cfg.seed, cfg.epochs, cfg.n_train, cfg.n_test) == ("mnist", "mlp", 0, 10, 100, 50)
    assert bd.history_config("mnist", "cnn", [0, 25], n_train=None, n_test=None).epochs == 25


def test_checkpoint_row_median_ignores_paths_without_flip():
    summary = {"per_path": {"abs_first": np.array([0.1, np.nan, 0.3, 0.2])}, "share_first_mid": 0.5,
               "share_flip": 0.75, "share_third_class": 0.25}
    row = bd.checkpoint_row(summary, epoch=4, train_acc=0.8, n_boot=200)
    assert list(row) == ["epoch", "train_acc", "median_abs_first", "low", "high", "share_first_mid",
                         "share_flip", "share_third_class"]
    assert row["median_abs_first"] == pytest.approx(0.2)
    assert 0.1 <= row["low"] <= 0.2 <= row["high"] <= 0.3
    assert (row["epoch"], row["train_acc"], row["share_flip"], row["share_third_class"]) == (4, 0.8, 0.75, 0.25)


def test_boundary_history_scans_each_checkpoint():
    at = {0: 0.9, 2: 0.6, 5: 0.5}  # boundary x0 = c at each epoch: the flip of (0,0)->(1,0) is at c
    result = SimpleNamespace(model_at=lambda e: threshold(at[e]), config=SimpleNamespace(label="mlp/mnist/seed0"),
                             history={"epoch": [0, 1, 2, 5], "train_acc": [0.1, 0.5, 0.7, 0.9]})
    x = points((0, 0), (1, 0), (0.95, 0))
    # pairs (0,0)->(1,0) and (0,0)->(0.95,0): the second flips at c / 0.95 while c < 0.95
    history = bd.boundary_history(result, x, np.array([0, 0]), np.array([1, 2]), [5, 0, 2], grid=17, n_boot=100)
    assert history.label == "mlp/mnist/seed0" and history.n_pairs == 2
    assert history.table["epoch"].tolist() == [5, 0, 2]
    assert history.table["train_acc"].tolist() == [0.9, 0.1, 0.7]
    expected = {5: [0.5, 0.5 / 0.95], 0: [0.9, 0.9 / 0.95], 2: [0.6, 0.6 / 0.95]}
    for row in history.rows:
        median = np.median(np.abs(np.array(expected[row["epoch"]]) - 0.5))
        assert row["median_abs_first"] == pytest.approx(median, abs=1e-3)
    assert history.rows[0]["share_first_mid"] == 1.0 and history.rows[1]["share_first_mid"] == 0.0
    np.testing.assert_allclose(history.first_flips["first_flip"], [0.5, 0.5 / 0.95, 0.9, 0.9 / 0.95, 0.6,
                                                                  0.6 / 0.95], atol=1e-3)


# --- claim H1 ---------------------------------------------------------------------------------

def test_measurements_pool_the_right_paths():
    claim = frame(CLAIM, [0.0, 0.05, 0.2, 0.3, np.nan], third_class=[0.0, 1.0, 0.0, 1.0, 1.0])
    same = frame(SAME, [0.1, np.nan, np.nan, np.nan])
    test = frame(TEST, [0.4, 0.1, 0.2, np.nan])
    paths = pd.concat([claim, same, test], ignore_index=True)
    rho = Estimate(0.3, 0.2, 0.4, 4, "spearman, paired bootstrap")
    m = bd.measurements(paths, rho, n_boot=200)
    assert list(m) == ["median_abs_first", "share_first_mid", "share_flip_different", "share_flip_same_class",
                       "share_third_class", "median_abs_first_test_train", "spearman_abs_first_vs_distance"]
    assert (m["median_abs_first"].value, m["median_abs_first"].n) == (pytest.approx(0.125), 4)
    assert (m["share_first_mid"].value, m["share_first_mid"].n) == (0.5, 4)  # first flips 0.5, 0.45 in band
    assert (m["share_flip_different"].value, m["share_flip_different"].n) == (0.8, 5)
    assert (m["share_flip_same_class"].value, m["share_flip_same_class"].n) == (0.25, 4)
    assert m["share_third_class"].value == 0.6
    assert (m["median_abs_first_test_train"].value, m["median_abs_first_test_train"].n) == (pytest.approx(0.2), 3)
    assert m["spearman_abs_first_vs_distance"] is rho
    for est in m.values():
        assert est.low <= est.value <= est.high


def test_per_model_and_arch_means_use_claim_pairs_only():
    table = pd.DataFrame({
        "kind": [CLAIM, CLAIM, CLAIM, CLAIM, SAME], "dataset": ["mnist", "mnist", "fashion_mnist", "fashion_mnist",
                                                               "mnist"],
        "arch": "cnn", "seed": [0, 1, 0, 1, 0], "median_abs_first": [0.1, 0.2, 0.3, 0.5, 9.0],
        "share_first_mid": [0.6, 0.4, 0.2, 0.2, 9.0], "share_third_class": [0.1, 0.3, 0.0, 0.0, 9.0]})
    models = bd.per_model(table)
    assert list(models) == ["cnn/fashion_mnist", "cnn/mnist"]
    est = models["cnn/mnist"]["median_abs_first"]
    half = sps.t.ppf(0.975, 1) * np.std([0.1, 0.2], ddof=1) / math.sqrt(2)
    assert (est.value, est.low, est.high, est.n) == (pytest.approx(0.15), pytest.approx(0.15 - half),
                                                     pytest.approx(0.15 + half), 2)
    assert models["cnn/fashion_mnist"]["share_first_mid"].value == pytest.approx(0.2)
    means = bd.arch_means(table)
    assert means.loc["cnn"].tolist() == pytest.approx([0.275, 0.35, 0.1])


def test_claim_notes_text():
    table = pd.DataFrame({"kind": [CLAIM, CLAIM, SAME], "dataset": "mnist", "arch": ["mlp", "cnn", "cnn"],
                          "seed": 0, "median_abs_first": [0.1234, 0.05, 1.0], "share_first_mid": [0.456, 0.7, 1.0],
                          "share_third_class": [0.25, 0.0, 1.0]})
    rows = [{"epoch": 0, "median_abs_first": 0.3}, {"epoch": 10, "median_abs_first": 0.12345}]
    history = bd.History("mlp/mnist/seed0", rows, pd.DataFrame(rows), pd.DataFrame(), 2)
    assert bd.claim_notes(table, history) == (
        "By architecture (train-train, different classes; mean over data sets and seeds): "
        "cnn: median |t-0.5| 0.050, share in [0.4,0.6] 0.70, third class 0.00; "
        "mlp: median |t-0.5| 0.123, share in [0.4,0.6] 0.46, third class 0.25. "
        "History of mlp/mnist/seed0: median |t-0.5| by epoch 0: 0.300, 10: 0.123.")


@pytest.mark.parametrize(("median", "share", "verdict"), [
    (Estimate(0.05, 0.04, 0.09, 10, "b"), Estimate(0.7, 0.6, 0.8, 10, "b"), SUPPORTED),
    (Estimate(0.13, 0.12, 0.14, 10, "b"), Estimate(0.7, 0.6, 0.8, 10, "b"), NOT_SUPPORTED),
    (Estimate(0.05, 0.04, 0.09, 10, "b"), Estimate(0.37, 0.35, 0.39, 10, "b"), NOT_SUPPORTED),
    (Estimate(0.09, 0.08, 0.11, 10, "b"), Estimate(0.7, 0.6, 0.8, 10, "b"), "inconclusive"),
])
def test_record_claim_applies_the_h1_rule(tmp_path, monkeypatch, median, share, verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    claim = bd.record_claim({"median_abs_first": median, "share_first_mid": share},
                            figures=["figures/01_a.png", "figures/01_b.png"], parameters={"profile": "quick"},
                            notes="n")
    assert claim.verdict == verdict
    assert claim.rule == "(median_abs_first < 0.1) and (share_first_mid > 0.5) on the 95% intervals"
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    assert stored["verdict"] == verdict and stored["figures"] == ["01_a.png", "01_b.png"]
    assert stored["notebook"] == "01_halfway_boundaries" and stored["statement"] == bd.H1_STATEMENT


def test_save_writes_the_results_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    scan = bd.ZooScan([{"arch": "mlp", "median_abs_first": 0.1}], pd.DataFrame(), pd.DataFrame(), {})
    history = bd.History("h", [{"epoch": 0}], pd.DataFrame(), pd.DataFrame(), 1)
    bd.save(scan, {"mlp/mnist": {"x": Estimate(1.0, 0.5, 1.5, 2, "t")}}, history,
            {"m": Estimate(0.2, 0.1, 0.3, 5, "bootstrap")}, {"profile": "quick"})
    stored = json.loads((tmp_path / "results" / "01_halfway_boundaries.json").read_text())
    assert stored["parameters"] == {"profile": "quick"}
    assert stored["results"]["per_model_seed"] == [{"arch": "mlp", "median_abs_first": 0.1}]
    assert stored["results"]["history"] == [{"epoch": 0}]
    assert stored["results"]["measurements"]["m"]["value"] == 0.2
    assert stored["results"]["per_model_across_seeds"]["mlp/mnist"]["x"]["high"] == 1.5


# --- the morph path and figures ---------------------------------------------------------------

def test_morph_path_probabilities_along_the_first_pair():
    x = points((0, 0), (1, 0), (0.3, 0.3))
    split = {"train": (x, torch.tensor([4, 7, 1]))}
    pairs = {CLAIM: ("train", "train", np.array([0, 2]), np.array([1, 0]))}
    models = {("mnist", "mlp", 0): threshold(0.5), ("mnist", "cnn", 0): threshold(0.25),
              ("mnist", "mlp", 1): threshold(0.9)}
    path = bd.morph_path(models, split, pairs, "mnist", ["mlp", "cnn"], 0)
    assert (path.class_a, path.class_b) == (4, 7) and path.classes[4] == "4"
    assert path.segment.shape == (101, 1, 1, 2) and torch.equal(path.segment[0], x[0])
    assert torch.allclose(path.segment[100], x[1]) and list(path.probs) == ["mlp", "cnn"]
    # logits (c - t, t - c): p(class 1) = sigmoid(2 (t - c))
    ts = torch.linspace(0, 1, 101)
    assert torch.allclose(path.probs["mlp"][:, 1], torch.sigmoid(2 * (ts - 0.5)), atol=1e-6)
    assert torch.allclose(path.probs["cnn"][:, 1], torch.sigmoid(2 * (ts - 0.25)), atol=1e-6)


def test_figures_build():
    paths = pd.concat([frame(k, [0.0, 0.1, 0.2, np.nan]) for k in (CLAIM, SAME, TEST)], ignore_index=True)
    paths = paths.assign(last_flip=paths["first_flip"] + 0.1, distance=np.arange(len(paths), dtype=float),
                         dataset="mnist", arch="mlp")
    rho = Estimate(0.1, 0.0, 0.2, 9, "s")
    rows = [{"epoch": e, "train_acc": 0.5, "median_abs_first": 0.2, "low": 0.1, "high": 0.3,
             "share_first_mid": 0.4} for e in (0, 1)]
    history = bd.History("h", rows, pd.DataFrame(rows),
                         pd.DataFrame({"epoch": [0, 0, 1, 1], "first_flip": [0.2, 0.4, 0.5, 0.6]}), 2)
    morph = bd.MorphPath("mnist", torch.zeros(1, 2, 2), torch.ones(1, 2, 2), 0, 1, tuple("0123456789"),
                         torch.linspace(0, 1, 101), torch.zeros(101, 1, 2, 2), {"mlp": torch.full((101, 10), 0.1)})
    for fig in (bd.figure_flip_distributions(paths), bd.figure_first_last(paths, rho), bd.figure_history(history),
                bd.figure_morph(morph, t_mark=0.3)):
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        matplotlib.pyplot.close(fig)
