"""Tests of halfway_utils.experiments.convex_hull (notebook 05, claims C1/C2) on hand-made inputs."""
import json
from collections import OrderedDict
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils import models
from halfway_utils.evidence.claims import NOT_SUPPORTED, SUPPORTED
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments import convex_hull as ex
from halfway_utils.infra.params import ParameterError, validate

matplotlib.use("Agg")

SQUARE = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)


def _images(points):
    """(N, 2) points as (N, 1, 1, 2) float32 "images"."""
    return torch.tensor(np.asarray(points), dtype=torch.float32).view(-1, 1, 1, 2)


def _square_split():
    """The unit square's corners as training set; queries: its centre and (3, 0.5), then a test-only sample."""
    return ex.Split(_images(SQUARE), torch.tensor([0, 1, 0, 1]),
                    _images([[0.5, 0.5], [3.0, 0.5], [0.9, 0.1]]), torch.tensor([0, 1, 1]), n_queries=2)


def _doubling_net():
    """A StagedNet whose penultimate features are 2x its (1, 1, 2) input; logits 0."""
    fc = nn.Linear(2, 2)
    logits = nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight.copy_(2 * torch.eye(2))
        fc.bias.zero_()
        logits.weight.zero_()
        logits.bias.zero_()
    stages = OrderedDict(fc1=nn.Sequential(nn.Flatten(), fc), logits=logits)
    return models.StagedNet(models.Normalize((0.0,), (1.0,)), stages)


def _threshold_net():
    """A linear 2-class model on (1, 1, 2) inputs: class 1 exactly when x0 > 0.5."""
    linear = nn.Linear(2, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        linear.bias.copy_(torch.tensor([0.5, -0.5]))
    return nn.Sequential(nn.Flatten(), linear)


def _table(inside, ratio_nn, **extra):
    """A minimal per-query table for the summary and C1 functions."""
    inside = np.asarray(inside, dtype=bool)
    n = len(inside)
    base = {"inside": inside, "ratio_nn": np.asarray(ratio_nn, dtype=float), "hull": np.arange(n, dtype=float),
            "nn": np.arange(n, dtype=float) + 1, "other_class": np.arange(n, dtype=float) + 2,
            "ratio_other": np.full(n, 0.25), "converged": np.ones(n, dtype=bool)}
    return {**base, **extra}


# --- parameters ---------------------------------------------------------------------------------

DEFAULTS = {"profile": "quick", "datasets": ["mnist", "fashion_mnist"], "archs": ["mlp", "cnn"], "seeds": [0],
            "n_train": 2000, "n_test": 2000, "n_queries": 200, "train_sizes": [250, 500, 1000, 2000],
            "sweep_dataset": "mnist", "widths": [4, 16, 64, 256], "sweep_n_train": 300, "sweep_n_test": 1000,
            "sweep_epochs_true": 30, "sweep_epochs_random": 100, "hull_tol": 1e-6, "n_boot": 2000,
            "device": None}


def test_parameters_rules_match_the_notebook():
    assert set(ex.PARAMETERS) == set(DEFAULTS)
    assert validate(DEFAULTS, ex.PARAMETERS) == DEFAULTS
    bad = [("datasets", ["cifar10"]), ("widths", [4]), ("hull_tol", 1e-1), ("n_queries", 9),
           ("sweep_epochs_random", 5001), ("n_train", 60001), ("sweep_dataset", "svhn")]
    for name, value in bad:
        with pytest.raises(ParameterError, match=name):
            validate({**DEFAULTS, name: value}, ex.PARAMETERS)
    assert validate({**DEFAULTS, "n_train": None, "n_test": None, "sweep_dataset": "cifar10"}, ex.PARAMETERS)


def test_check_query_counts():
    ex.check_query_counts(DEFAULTS)
    ex.check_query_counts({**DEFAULTS, "n_test": None})
    with pytest.raises(ParameterError, match="n_test"):
        ex.check_query_counts({**DEFAULTS, "n_test": 100})
    with pytest.raises(ParameterError, match="sweep_n_test"):
        ex.check_query_counts({**DEFAULTS, "sweep_n_test": 150})


# --- per-query tables ---------------------------------------------------------------------------

def test_class_distances_brute_force():
    rng = np.random.default_rng(0)
    D, Q = rng.normal(size=(40, 5)), rng.normal(size=(7, 5))
    y, yq = rng.integers(0, 3, 40), rng.integers(0, 3, 7)
    same, other = ex.class_distances(D, y, Q, yq)
    full = np.linalg.norm(Q[:, None] - D[None], axis=2)
    for j in range(7):
        assert same[j] == pytest.approx(full[j, y == yq[j]].min())
        assert other[j] == pytest.approx(full[j, y != yq[j]].min())


def test_class_distances_missing_class_is_inf():
    D, Q = np.eye(3), np.zeros((1, 3))
    same, other = ex.class_distances(D, np.array([0, 0, 0]), Q, np.array([1]))
    assert np.isinf(same[0]) and other[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ex.class_distances(D, np.array([0, 0]), Q, np.array([1]))


def test_hull_table_inside_and_outside():
    queries = np.array([[0.5, 0.5], [3.0, 0.5]])
    t = ex.hull_table(SQUARE, np.array([0, 1, 0, 1]), queries, np.array([0, 1]), device="cpu")
    assert t["inside"].tolist() == [True, False]
    assert t["hull"][1] == pytest.approx(2.0, abs=1e-6)
    assert t["nn"][1] == pytest.approx(np.hypot(2.0, 0.5))
    assert t["ratio_nn"][1] == pytest.approx(2.0 / np.hypot(2.0, 0.5), abs=1e-6)
    assert t["nn_label"][1] == 1  # nearest point (1, 0) or (1, 1) has label 1
    assert t["other_class"][1] == pytest.approx(np.hypot(3.0, 0.5))  # label 0 at (0, 0) and (0, 1)
    assert t["ratio_other"][1] == pytest.approx(2.0 / np.hypot(3.0, 0.5), abs=1e-6)
    assert (t["hull"] <= t["nn"] + 1e-9).all()  # the hull is never farther than the nearest point


def test_split_queries_are_the_first_test_samples():
    split = _square_split()
    assert split.x_query.shape == (2, 1, 1, 2) and split.y_query.tolist() == [0, 1]
    assert torch.equal(split.x_query, split.x_test[:2])


def test_pixel_tables_one_per_data_set():
    tables = ex.pixel_tables({"mnist": _square_split()}, tol=1e-9, device="cpu")
    assert list(tables) == [("mnist", "pixel")]
    t = tables[("mnist", "pixel")]
    assert t["inside"].tolist() == [True, False]
    assert t["hull"][1] == pytest.approx(2.0, abs=1e-6)
    assert t["nn"][1] == pytest.approx(np.hypot(2.0, 0.5))


def test_feature_tables_use_penultimate_features(monkeypatch):
    configs = []

    def fake_train(config, device=None):
        configs.append(config)
        return SimpleNamespace(model=_doubling_net(), final={"test_acc": 0.5 + config.seed / 10}, cache_hit=True)

    monkeypatch.setattr(ex, "train", fake_train)
    tables, rows = ex.feature_tables({"mnist": _square_split()}, ["mlp"], [0, 1], n_train=4, n_test=3,
                                     tol=1e-9, device="cpu")
    assert list(tables) == [("mnist", "mlp/seed0"), ("mnist", "mlp/seed1")]
    assert [(c.dataset, c.arch, c.seed, c.n_train, c.n_test) for c in configs] == [
        ("mnist", "mlp", 0, 4, 3), ("mnist", "mlp", 1, 4, 3)]
    t = tables[("mnist", "mlp/seed0")]
    # features are 2x the inputs: the doubled square, query (6, 1) is 4 from it and sqrt(17) from (2, 0)
    assert t["inside"].tolist() == [True, False]
    assert t["hull"][1] == pytest.approx(4.0, abs=1e-5)
    assert t["nn"][1] == pytest.approx(np.hypot(4.0, 1.0))
    assert rows == [{"dataset": "mnist", "arch": "mlp", "seed": 0, "feature_dim": 2, "test_acc": 0.5, "cache": "hit"},
                    {"dataset": "mnist", "arch": "mlp", "seed": 1, "feature_dim": 2, "test_acc": 0.6, "cache": "hit"}]


def test_space_summary_and_summarize():
    t = _table([True, False, False, False], [np.nan, 0.2, 0.4, 0.9])
    row = ex.space_summary("mnist", "pixel", t)
    assert row["outside"] == pytest.approx(0.75)
    assert row["median_hull"] == pytest.approx(1.5) and row["median_nn"] == pytest.approx(2.5)
    assert row["median_other_class"] == pytest.approx(3.5) and row["median_hull/other"] == pytest.approx(0.25)
    assert np.isnan(row["median_hull/nn"])  # a NaN ratio (query on a training point) propagates, as before
    assert row["converged"] == 1.0
    frame = ex.summarize({("mnist", "pixel"): t, ("mnist", "mlp/seed0"): _table([False] * 2, [0.5, 0.7])})
    assert frame["space"].tolist() == ["pixel", "mlp/seed0"]
    assert frame["outside"].tolist() == [0.75, 1.0]
    assert frame["median_hull/nn"].iloc[1] == pytest.approx(0.6)


def test_ratio_frame_long_form():
    frame = ex.ratio_frame({("mnist", "pixel"): _table([False] * 2, [0.5, 0.7]),
                            ("fashion_mnist", "cnn/seed3"): _table([False] * 3, [0.1, 0.2, 0.3])})
    assert frame["space"].tolist() == ["pixel"] * 2 + ["cnn"] * 3
    assert frame["dataset"].tolist() == ["mnist"] * 2 + ["fashion_mnist"] * 3
    assert frame["hull / NN"].tolist() == [0.5, 0.7, 0.1, 0.2, 0.3]


def test_size_row_and_sweep_reuses_the_measured_table(monkeypatch):
    t = _table([True, False, False, False], [0.1, 0.2, 0.4, 0.9])
    assert ex.size_row("mnist", 4, t) == pytest.approx(
        {"dataset": "mnist", "n_train": 4, "outside": 0.75, "median_hull": 1.5, "median_nn": 2.5,
         "median_hull/nn": 0.3})
    loads = []

    def fake_load(name, split, n=None, seed=0):
        loads.append((name, split, n, seed))
        return _images(SQUARE[:n]), torch.tensor([0, 1, 0, 1][:n])

    monkeypatch.setattr(ex.data, "load", fake_load)
    rows = ex.train_size_sweep({"mnist": _square_split()}, {("mnist", "pixel"): t}, [3, 4], tol=1e-9, device="cpu")
    assert loads == [("mnist", "train", 3, 0)]  # size 4 is the training set already measured
    assert rows[1]["outside"] == 0.75 and rows[1]["median_hull/nn"] == pytest.approx(0.3)
    # triangle (0,0), (1,0), (0,1): the centre (0.5, 0.5) is on its edge, (3, 0.5) nearest to the vertex (1, 0)
    assert rows[0]["n_train"] == 3 and rows[0]["outside"] == 0.5
    assert rows[0]["median_hull"] == pytest.approx(np.hypot(2.0, 0.5) / 2, abs=1e-5)


def test_figure_train_size_draws_three_panels():
    sizes = ex.pd.DataFrame([ex.size_row(name, n, _table([False, True], [0.5, 0.7]))
                             for name in ["mnist", "fashion_mnist"] for n in [10, 20]])
    fig = ex.figure_train_size(sizes, [10, 20], 2)
    assert len(fig.axes) == 3 and len(fig.axes[1].lines) == 4
    ex.plt.close(fig)


# --- C1 ----------------------------------------------------------------------------------------------

def test_share_and_median_ratio():
    est = ex.share([True, True, False, False], n_boot=500)
    assert est.value == 0.5 and est.n == 4 and 0 <= est.low <= 0.5 <= est.high <= 1
    assert ex.share(np.ones(10, dtype=bool), n_boot=200) == Estimate(1.0, 1.0, 1.0, 10, "bootstrap")
    med = ex.median_ratio([0.2, 0.9, 0.4, np.nan, 0.6], n_boot=300)  # NaN ratios are dropped
    assert med.value == pytest.approx(0.5) and med.n == 4
    assert 0.2 <= med.low <= med.high <= 0.9


def test_c1_estimates_one_seed_bootstraps_over_queries():
    tables = {("mnist", "pixel"): _table([True, False, False, False], [0.1, 0.2, 0.4, 0.9]),
              ("mnist", "mlp/seed0"): _table([False] * 3, [0.5, 0.6, 0.7])}
    outside, ratio = ex.c1_estimates(tables, "mnist", "pixel", n_boot=200)
    assert (outside.value, outside.n, outside.method) == (0.75, 4, "bootstrap")
    assert ratio.value == pytest.approx(0.3) and ratio.n == 4
    outside, ratio = ex.c1_estimates(tables, "mnist", "mlp", n_boot=200)
    assert (outside.value, outside.low, outside.high) == (1.0, 1.0, 1.0) and ratio.value == pytest.approx(0.6)


def test_c1_estimates_several_seeds_use_a_t_interval():
    tables = {("mnist", "mlp/seed0"): _table([True, False], [0.4, 0.6]),
              ("mnist", "mlp/seed1"): _table([False, False], [0.8, 1.0]),
              ("mnist", "mlpx/seed0"): _table([True, True], [0.0, 0.0]),  # another prefix: ignored
              ("fashion_mnist", "mlp/seed0"): _table([True, True], [0.0, 0.0])}
    outside, ratio = ex.c1_estimates(tables, "mnist", "mlp", n_boot=200)
    half = sps.t.ppf(0.975, 1) * np.std([0.5, 1.0], ddof=1) / np.sqrt(2)
    assert outside.method == "t across seeds" and outside.n == 2
    assert (outside.value, outside.low, outside.high) == pytest.approx((0.75, 0.75 - half, 0.75 + half))
    half = sps.t.ppf(0.975, 1) * np.std([0.5, 0.9], ddof=1) / np.sqrt(2)
    assert (ratio.value, ratio.low, ratio.high) == pytest.approx((0.7, 0.7 - half, 0.7 + half))


def test_c1_conditions_and_measurements_cover_every_space():
    conditions = ex.c1_conditions(["mnist", "fashion_mnist"], ["mlp"])
    assert [str(c) for c in conditions] == [
        "outside_pixel_mnist > 0.9", "median_hull_over_nn_pixel_mnist > 0.5",
        "outside_mlp_mnist > 0.9", "median_hull_over_nn_mlp_mnist > 0.5",
        "outside_pixel_fashion_mnist > 0.9", "median_hull_over_nn_pixel_fashion_mnist > 0.5",
        "outside_mlp_fashion_mnist > 0.9", "median_hull_over_nn_mlp_fashion_mnist > 0.5"]
    tables = {(name, space): _table([False] * 4, [0.6, 0.7, 0.8, 0.9])
              for name in ["mnist", "fashion_mnist"] for space in ["pixel", "mlp/seed0"]}
    m = ex.c1_measurements(tables, ["mnist", "fashion_mnist"], ["mlp"], n_boot=200)
    assert list(m) == [c.measurement for c in conditions] + [
        "median_hull_over_other_class_pixel_mnist", "median_hull_over_other_class_pixel_fashion_mnist"]
    assert m["outside_mlp_fashion_mnist"].value == 1.0
    assert m["median_hull_over_nn_pixel_mnist"].value == pytest.approx(0.75)
    assert m["median_hull_over_other_class_pixel_mnist"].value == pytest.approx(0.25)


def test_record_c1_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    params = {**DEFAULTS, "datasets": ["mnist"], "archs": []}
    good = Estimate(0.95, 0.92, 0.99, 200, "bootstrap")
    m = {"outside_pixel_mnist": good, "median_hull_over_nn_pixel_mnist": Estimate(0.7, 0.6, 0.8, 200, "bootstrap")}
    claim = ex.record_c1(m, figures=["figures/05_hull_vs_nn.png"], parameters=params)
    assert claim.verdict == SUPPORTED
    assert claim.rule == "(outside_pixel_mnist > 0.9) and (median_hull_over_nn_pixel_mnist > 0.5) on the 95% intervals"
    assert claim.figures == ["05_hull_vs_nn.png"] and claim.notebook == "05_convex_hull"
    assert claim.notes.startswith("200 test queries against 2000 training samples")
    stored = json.loads((tmp_path / "results" / "claims" / "C1.json").read_text())
    assert stored["verdict"] == SUPPORTED and stored["statement"] == ex.C1_STATEMENT
    m["median_hull_over_nn_pixel_mnist"] = Estimate(0.4, 0.35, 0.45, 200, "bootstrap")
    assert ex.record_c1(m, figures=[], parameters=params).verdict == NOT_SUPPORTED


# --- C2 ----------------------------------------------------------------------------------------------

def test_width_sweep_order_and_epochs(monkeypatch):
    seen = []

    def fake_train(config, device=None):
        seen.append((config.labels, config.seed, dict(config.arch_kw)["width"], config.epochs, config.n_train))
        return SimpleNamespace(model=nn.Linear(dict(config.arch_kw)["width"], 1), cache_hit=False,
                               final={"train_acc": 1.0, "test_acc": 0.1})

    monkeypatch.setattr(ex, "train", fake_train)
    results, rows = ex.width_sweep("mnist", [4, 16], [0, 1], epochs_true=3, epochs_random=7, n_train=30,
                                   n_test=20, device="cpu")
    assert seen == [("true", 0, 4, 3, 30), ("true", 0, 16, 3, 30), ("true", 1, 4, 3, 30), ("true", 1, 16, 3, 30),
                    ("random", 0, 4, 7, 30), ("random", 0, 16, 7, 30), ("random", 1, 4, 7, 30),
                    ("random", 1, 16, 7, 30)]
    assert list(results) == [(lab, s, w) for lab in ["true", "random"] for s in [0, 1] for w in [4, 16]]
    assert rows[1] == {"labels": "true", "seed": 0, "width": 16, "parameters": 17, "train_acc": 1.0,
                       "test_acc": 0.1, "cache": "trained"}


def _threshold_split():
    x_train = _images([[0.0, 0.0], [1.0, 0.0], [0.2, 0.0], [0.9, 0.0]])
    x_test = _images([[0.7, 0.0], [0.1, 0.0], [0.6, 0.0], [0.3, 0.0], [0.8, 0.0]])
    return ex.Split(x_train, torch.tensor([0, 1, 1, 1]), x_test, torch.tensor([1, 1, 0, 0, 1]), n_queries=4)


def test_model_outcomes_with_a_known_boundary():
    split = _threshold_split()  # the model predicts train [0, 1, 0, 1], test [1, 0, 1, 0, 1]
    trained = np.array([0, 1, 1, 1])
    table = {"inside": np.array([False, True, False, False]), "nn_index": np.array([3, 0, 1, 2])}
    out = ex.model_outcomes(_threshold_net(), trained, split, table)
    assert out["train_correct"].tolist() == [True, True, False, True]
    assert out["test_correct"].tolist() == [True, False, False, True, True]
    # outside queries 0, 2, 3 predict 1, 1, 0; their NNs' trained labels are 1, 1, 1; true labels 1, 0, 0
    assert out["agree"].tolist() == [True, True, False]
    assert out["correct_outside"].tolist() == [True, False, True]


def test_sweep_agreement_rows_are_the_means():
    split = _threshold_split()
    table = {"inside": np.array([False, True, False, False]), "nn_index": np.array([3, 0, 1, 2])}
    results = {("true", 0, 4): SimpleNamespace(model=_threshold_net(), train_labels=torch.tensor([0, 1, 1, 1])),
               ("random", 0, 4): SimpleNamespace(model=_threshold_net(), train_labels=torch.tensor([1, 0, 0, 0]))}
    rows, per_sample = ex.sweep_agreement(results, split, table)
    assert list(per_sample) == list(results)
    assert rows[0] == pytest.approx({"labels": "true", "seed": 0, "width": 4,
                                     "agree_with_1nn_outside": 2 / 3, "correct_outside": 2 / 3})
    assert rows[1]["agree_with_1nn_outside"] == pytest.approx(1 / 3)  # NN labels 0, 0, 0 vs predictions 1, 1, 0
    assert per_sample[("random", 0, 4)]["train_correct"].tolist() == [False, False, True, False]


def test_figure_width_sweep_draws_both_panels():
    sweep = ex.pd.DataFrame([{"labels": lab, "width": w, "train_acc": 1.0, "test_acc": 0.5}
                             for lab in ["true", "random"] for w in [4, 16]])
    agreement = ex.pd.DataFrame([{"labels": lab, "width": w, "agree_with_1nn_outside": 0.3}
                                 for lab in ["true", "random"] for w in [4, 16]])
    fig = ex.figure_width_sweep(sweep, agreement, [4, 16], "mnist", 30)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 5  # 2 x (train, test) + chance
    ex.plt.close(fig)


def _per_sample():
    a = {"train_correct": np.array([1, 1, 1, 0], bool), "test_correct": np.array([1, 0, 0], bool),
         "agree": np.array([1, 0], bool)}
    b = {"train_correct": np.array([1, 1, 1, 1], bool), "test_correct": np.array([0, 0, 0], bool),
         "agree": np.array([0, 0, 1], bool)}
    true_big = {"train_correct": np.ones(4, bool), "test_correct": np.array([1, 1, 0], bool),
                "agree": np.array([1, 1], bool)}
    true_mid = {"train_correct": np.ones(4, bool), "test_correct": np.array([1, 0, 1], bool),
                "agree": np.array([0, 1], bool)}
    true_small = {"train_correct": np.zeros(4, bool), "test_correct": np.zeros(3, bool), "agree": np.zeros(2, bool)}
    return {("random", 0, 64): a, ("random", 1, 64): b, ("true", 0, 64): true_big, ("true", 1, 64): true_big,
            ("true", 0, 16): true_mid, ("true", 1, 16): true_mid, ("true", 0, 4): true_small,
            ("true", 1, 4): true_small, ("random", 0, 16): b, ("random", 1, 16): b}


def test_pooled_concatenates_seeds_in_order():
    out = ex.pooled(_per_sample(), "random", 64, "agree", [0, 1])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert ex.pooled(_per_sample(), "random", 64, "agree", [1]).tolist() == [0.0, 0.0, 1.0]


def test_c2_measurements_by_hand():
    outside = np.array([True, True, False, True])
    m = ex.c2_measurements(_per_sample(), outside, [16, 64, 4], [0, 1], n_boot=300)  # widths unsorted
    assert list(m) == ["train_acc_random_widest", "test_acc_random_widest", "test_acc_true_widest_minus_next",
                       "test_acc_true_widest", "agree_1nn_outside_true_widest", "agree_1nn_outside_random_widest",
                       "share_outside_sweep_hull"]
    assert m["train_acc_random_widest"].value == pytest.approx(7 / 8) and m["train_acc_random_widest"].n == 8
    assert m["test_acc_random_widest"].value == pytest.approx(1 / 6)
    # paired per test sample: widest [1, 1, 0] minus width 16 [1, 0, 1] = [0, 1, -1], twice
    diff = m["test_acc_true_widest_minus_next"]
    assert diff.value == pytest.approx(0.0) and diff.n == 6 and -1 <= diff.low <= 0 <= diff.high <= 1
    assert m["test_acc_true_widest"].value == pytest.approx(2 / 3)
    assert m["agree_1nn_outside_true_widest"].value == 1.0
    assert m["agree_1nn_outside_random_widest"].value == pytest.approx(2 / 5)
    assert m["share_outside_sweep_hull"].value == pytest.approx(0.75)


def test_record_c2_rule_and_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    params = {**DEFAULTS, "widths": [4, 64, 16]}
    m = {"train_acc_random_widest": Estimate(0.99, 0.97, 1.0, 300, "bootstrap"),
         "test_acc_random_widest": Estimate(0.1, 0.08, 0.12, 1000, "bootstrap"),
         "test_acc_true_widest_minus_next": Estimate(0.0, -0.02, 0.02, 1000, "bootstrap")}
    claim = ex.record_c2(m, figures=["figures/05_width_sweep.png"], parameters=params)
    assert claim.verdict == SUPPORTED and claim.figures == ["05_width_sweep.png"]
    assert claim.rule == ("(train_acc_random_widest > 0.95) and (test_acc_random_widest < 0.2) and "
                          "(test_acc_true_widest_minus_next > -0.03) on the 95% intervals")
    assert "widest 64 compared with 16" in claim.notes
    assert (tmp_path / "results" / "claims" / "C2.json").exists()
    m["test_acc_random_widest"] = Estimate(0.5, 0.45, 0.55, 1000, "bootstrap")  # learned, not memorized
    assert ex.record_c2(m, figures=[], parameters=params).verdict == NOT_SUPPORTED
