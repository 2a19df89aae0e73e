"""Tests of halfway_utils.experiments.som_codes: per-layer SOM codes and the S1/S2 experiment.

The experiment functions run on hand-made codes and tables, and on a tiny hand-written
StagedNet whose boundary is known: class 1 iff x1 + x2 > 1, on two pixels.
"""
import math
from collections import OrderedDict
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils import data, models
from halfway_utils.evidence.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments import som_codes
from halfway_utils.experiments.som_codes import INPUT, LayerCodes, first_change, layer_activations
from halfway_utils.infra import params

T_975_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom
QUICK = {"profile": "quick", "datasets": ["mnist", "fashion_mnist"], "archs": ["mlp", "cnn"], "seeds": [0, 1],
         "n_samples": 1000, "n_attack": 200, "som_rows": 10, "som_cols": 10, "som_epochs": 10,
         "attacks_used": ["fgsm", "pgd"], "eps_values": [0.05, 0.1, 0.2], "pgd_steps": 10, "n_train": 2000,
         "n_test": 2000, "device": None}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = models.build("mlp", width=16, depth=2)
    x = torch.rand(120, 1, 28, 28)
    return model, x


def linear_net() -> models.StagedNet:
    """Two pixels; ``fc1`` is the identity; logits ``(1 - s, s - 1)`` with ``s = x1 + x2``."""
    fc1 = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    logits = nn.Linear(2, 2)
    with torch.no_grad():
        fc1[1].weight.copy_(torch.eye(2))
        fc1[1].bias.zero_()
        logits.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
        logits.bias.copy_(torch.tensor([1.0, -1.0]))
    return models.StagedNet(models.Normalize((0.0,), (1.0,)), OrderedDict(fc1=fc1, logits=logits)).eval()


def two_clusters(n: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Classes alternate: class 0 near (0.2, 0.2), class 1 near (0.8, 0.8), jitter below 0.02."""
    y = torch.arange(2 * n) % 2
    jitter = (torch.rand(2 * n, 2, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.04
    x = (0.2 + 0.6 * y.float())[:, None] + jitter
    return x.view(2 * n, 1, 1, 2), y


@pytest.fixture(scope="module")
def tiny():
    x, y = two_clusters()
    return {("toy", "lin", 3): som_codes.fit_codes(linear_net(), x, y, rows=1, cols=2, seed=3, epochs=5)}


# --- LayerCodes and first_change -----------------------------------------------------------

def test_layer_activations_shapes_and_modes(setup):
    model, x = setup
    model.train()
    acts = layer_activations(model, x, batch_size=50)
    assert list(acts) == [INPUT, *model.layer_names]
    assert acts[INPUT].shape == (120, 784)
    assert torch.equal(acts[INPUT], x.flatten(1))
    assert acts["fc1"].shape == (120, 16) and acts["logits"].shape == (120, 10)
    with torch.no_grad():
        model.eval()
        assert torch.allclose(acts["logits"], model(x), atol=1e-5)
        model.train()
    assert model.training  # restored
    model.eval()


def test_fit_codes_are_reproducible_and_consistent(setup):
    model, x = setup
    a = LayerCodes(model, 3, 4, seed=1, epochs=5)
    codes_fit = a.fit(x)
    assert list(codes_fit) == [INPUT, *model.layer_names]
    for name, c in codes_fit.items():
        assert c.shape == (120,) and c.dtype == torch.long
        assert 0 <= int(c.min()) and int(c.max()) < 12
        assert torch.equal(c, a.codes(x)[name])  # codes of the fitted sample, read again
    b = LayerCodes(model, 3, 4, seed=1, epochs=5)
    for name, c in b.fit(x).items():
        assert torch.equal(c, codes_fit[name])
    assert a.n_units == 12


def test_layer_selection_and_errors(setup):
    model, x = setup
    lc = LayerCodes(model, 2, 2, layers=["fc2"], epochs=2)
    with pytest.raises(RuntimeError):
        lc.codes(x)
    assert list(lc.fit(x)) == ["fc2"]
    with pytest.raises(ValueError):
        LayerCodes(model, 2, 2, layers=["nope"])


def test_first_change():
    clean = OrderedDict(a=torch.tensor([0, 1, 2, 3]), b=torch.tensor([0, 1, 2, 3]))
    adv = OrderedDict(a=torch.tensor([0, 5, 2, 3]), b=torch.tensor([0, 1, 7, 3]))
    assert first_change(clean, adv).tolist() == [-1, 0, 1, -1]
    with pytest.raises(ValueError):
        first_change(clean, OrderedDict(b=adv["b"], a=adv["a"]))
    assert np.all(first_change(clean, clean) == -1)


# --- parameters -------------------------------------------------------------------------------

def test_parameters_are_the_notebook_rules():
    assert list(som_codes.PARAMETERS) == ["profile", "datasets", "archs", "n_train", "n_test", "device", "seeds",
                                          "n_samples", "n_attack", "som_rows", "som_cols", "som_epochs",
                                          "attacks_used", "eps_values", "pgd_steps"]
    assert params.validate(QUICK, som_codes.PARAMETERS) == QUICK
    for name, bad in [("seeds", [0]), ("n_samples", 99), ("n_samples", 10001), ("n_attack", 19),
                      ("som_rows", 1), ("som_cols", 101), ("som_epochs", 0), ("som_epochs", 201),
                      ("attacks_used", ["cw"]), ("eps_values", [0.1, 0.2]), ("eps_values", [0.0005, 0.1, 0.2]),
                      ("eps_values", [0.1, 0.2, 1.5]), ("pgd_steps", 0), ("pgd_steps", 1001), ("n_train", 9),
                      ("n_test", 10001), ("profile", "slow"), ("device", "tpu")]:
        with pytest.raises(params.ParameterError, match=name):
            params.validate({**QUICK, name: bad}, som_codes.PARAMETERS)
    for name, edge in [("n_samples", 100), ("n_samples", 10000), ("n_attack", 10000), ("som_rows", 2),
                       ("som_cols", 100), ("eps_values", [0.001, 0.5, 1.0]), ("n_train", None), ("n_test", None)]:
        params.validate({**QUICK, name: edge}, som_codes.PARAMETERS)


# --- fitting and the clean code table -----------------------------------------------------------

def test_fit_codes_separates_the_two_clusters(tiny):
    f = tiny[("toy", "lin", 3)]
    assert list(f.clean) == [INPUT, "fc1", "logits"]
    assert f.mapper.n_units == 2 and f.mapper.seed == 3
    for layer, codes in f.clean.items():
        # one unit per cluster: the code is a bijection of the class
        assert set(codes[f.y == 0].tolist()) | set(codes[f.y == 1].tolist()) == {0, 1}, layer
        assert len(set(codes[f.y == 0].tolist())) == 1 and len(set(codes[f.y == 1].tolist())) == 1, layer
        assert torch.equal(codes, f.mapper.codes(f.x)[layer])


def test_fit_zoo_loads_every_model_and_the_same_sample(monkeypatch):
    x, y = two_clusters(5)
    loads, trained = [], []

    def fake_train(config, device=None):
        trained.append((config.dataset, config.arch, config.seed, config.n_train, device))
        return SimpleNamespace(model=linear_net())

    def fake_load(dataset, split, n=None, seed=None):
        loads.append((dataset, split, n, seed))
        return x, y

    monkeypatch.setattr(som_codes, "train", fake_train)
    monkeypatch.setattr(data, "load", fake_load)
    fitted = som_codes.fit_zoo(["mnist"], ["mlp", "cnn"], [4, 7], n_train=100, n_test=50, n_samples=10,
                               rows=1, cols=2, epochs=2, device="cpu")
    assert list(fitted) == [("mnist", "mlp", 4), ("mnist", "mlp", 7), ("mnist", "cnn", 4), ("mnist", "cnn", 7)]
    assert trained == [("mnist", a, s, 100, "cpu") for a in ("mlp", "cnn") for s in (4, 7)]
    assert loads == [("mnist", "test", 10, 0)] * 4
    assert [f.mapper.seed for f in fitted.values()] == [4, 7, 4, 7]  # each SOM uses its model's seed
    assert all(f.x is x and f.y is y for f in fitted.values())


def test_clean_accuracy_counts_the_known_boundary():
    x = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.6, 0.6], [0.3, 0.3]]).view(4, 1, 1, 2)
    y = torch.tensor([0, 1, 0, 0])  # the third is on the class-1 side
    f = som_codes.FittedModel(linear_net(), None, OrderedDict(), x, y)
    assert som_codes.clean_accuracy({("d", "a", 0): f}) == {("d", "a", 0): 0.75}


def test_code_metrics_table_by_hand():
    clean = OrderedDict(input=torch.tensor([0, 0, 1, 1]), fc1=torch.tensor([0, 1, 2, 3]),
                        logits=torch.tensor([2, 2, 2, 2]))
    f = som_codes.FittedModel(None, SimpleNamespace(n_units=4), clean, None, torch.tensor([0, 0, 1, 1]))
    table = som_codes.code_metrics_table({("mnist", "mlp", 5): f})
    assert list(table.columns) == ["dataset", "arch", "seed", "layer", "index", "depth", *som_codes.METRICS]
    assert table["layer"].tolist() == ["input", "fc1", "logits"] and table["index"].tolist() == [0, 1, 2]
    assert table["depth"].tolist() == [0.0, 0.5, 1.0]
    assert (table["dataset"] == "mnist").all() and (table["seed"] == 5).all()
    expected = {  # H(code), log2(4) = 2, H(label) = 1 bit
        "units_used_frac": [0.5, 1.0, 0.25],
        "normalized_entropy": [0.5, 1.0, 0.0],
        "class_conditional_entropy_bits": [0.0, 1.0, 0.0],
        "purity": [1.0, 1.0, 0.5],
        "normalized_mi": [1.0, 1.0, 0.0],
        "shared_units_frac": [0.0, 0.0, 1.0],
    }
    for k, v in expected.items():
        assert table[k].tolist() == pytest.approx(v), k


# --- S1 -------------------------------------------------------------------------------------------

def metrics_frame() -> pd.DataFrame:
    """Two models: an MLP (4 layers) and a CNN (5 layers) with known first/last hidden values."""
    rows = []
    for arch, layers in [("mlp", ["input", "fc1", "fc2", "logits"]), ("cnn", ["input", "c1", "c2", "fc", "logits"])]:
        for index, layer in enumerate(layers):
            rows.append({"dataset": "mnist", "arch": arch, "seed": 0, "layer": layer, "index": index,
                         "depth": index / (len(layers) - 1), "normalized_entropy": 0.1 * index,
                         "normalized_mi": 0.5 - 0.1 * index if arch == "mlp" else 0.2 * index,
                         "purity": 1.0 if layer == "logits" else 0.3, "units_used_frac": 0.01 * index})
    return pd.DataFrame(rows).iloc[::-1]  # row order must not matter within a model


def test_s1_deltas_last_minus_first_hidden_layer():
    s1 = som_codes.s1_deltas(metrics_frame())
    assert s1[["arch", "shallow", "deep"]].values.tolist() == [["cnn", "c1", "fc"], ["mlp", "fc1", "fc2"]]
    # mlp: entropy 0.2 - 0.1, MI 0.3 - 0.4; cnn: entropy 0.3 - 0.1, MI 0.6 - 0.2
    assert s1["delta_normalized_entropy"].tolist() == pytest.approx([0.2, 0.1])
    assert s1["delta_normalized_mi"].tolist() == pytest.approx([0.4, -0.1])
    assert s1["delta_purity"].tolist() == pytest.approx([0.0, 0.0])  # logits are not a hidden layer
    assert s1["delta_units_used_frac"].tolist() == pytest.approx([0.02, 0.01])


def test_s1_estimates_t_interval_across_models():
    s1 = pd.DataFrame({"arch": ["a", "b", "c"], "delta_normalized_entropy": [0.1, 0.2, 0.3],
                       "delta_normalized_mi": [1.0, 1.0, 1.0]})
    est = som_codes.s1_estimates(s1)
    assert list(est) == ["delta_normalized_entropy", "delta_normalized_mi"]
    half = T_975_2 * 0.1 / math.sqrt(3)
    e = est["delta_normalized_entropy"]
    assert (e.value, e.low, e.high, e.n) == pytest.approx((0.2, 0.2 - half, 0.2 + half, 3))
    assert (est["delta_normalized_mi"].low, est["delta_normalized_mi"].high) == pytest.approx((1.0, 1.0))


def est(low: float, high: float, n: int = 8) -> Estimate:
    return Estimate((low + high) / 2, low, high, n, "test")


@pytest.mark.parametrize("entropy, mi, verdict", [
    ((0.01, 0.02), (0.1, 0.2), SUPPORTED),
    ((-0.02, -0.01), (0.1, 0.2), NOT_SUPPORTED),  # the baseline's S1: entropy falls with depth
    ((-0.01, 0.02), (0.1, 0.2), INCONCLUSIVE),
    ((0.01, 0.02), (-0.2, -0.1), NOT_SUPPORTED)])
def test_record_s1_rule(monkeypatch, tmp_path, entropy, mi, verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    s1_est = {"delta_normalized_entropy": est(*entropy), "delta_normalized_mi": est(*mi),
              "delta_purity": est(-1.0, -0.5), "delta_units_used_frac": est(-1.0, -0.5)}
    claim = som_codes.record_s1(s1_est, QUICK, figures=["figures/04_a.png"], n_models=8)
    assert claim.verdict == verdict
    assert claim.rule == "(delta_normalized_entropy > 0) and (delta_normalized_mi > 0) on the 95% intervals"
    assert list(claim.measurements) == ["delta_normalized_entropy", "delta_normalized_mi", "delta_purity",
                                        "delta_units_used_frac"]
    assert claim.figures == ["04_a.png"] and claim.notes.startswith("8 models (mlp, cnn x mnist, fashion_mnist")
    assert (tmp_path / "results" / "claims" / "S1.json").exists()


# --- S2: attacks and codes -------------------------------------------------------------------------

def test_adversarial_moves_to_the_corner_of_the_box():
    x, y = two_clusters(4)
    model = linear_net()
    for name in ("fgsm", "pgd"):
        x_adv = som_codes.adversarial(model, x, y, name, 0.4, pgd_steps=10, seed=0)
        # the loss gradient has sign (+, +) for class 0 and (-, -) for class 1 everywhere
        step = torch.where(y == 0, 0.4, -0.4).view(-1, 1, 1, 1)
        assert torch.allclose(x_adv, x + step, atol=1e-6), name
    with pytest.raises(ValueError):
        som_codes.adversarial(model, x, y, "cw", 0.4, pgd_steps=10, seed=0)


def test_layer_change_rates_and_departure_shares_by_hand():
    clean = OrderedDict(a=torch.tensor([0, 1, 2, 3, 4]), b=torch.tensor([0, 1, 2, 3, 4]),
                        c=torch.tensor([5, 5, 5, 5, 5]))
    adv = OrderedDict(a=torch.tensor([0, 9, 2, 3, 9]), b=torch.tensor([0, 9, 7, 3, 4]),
                      c=torch.tensor([5, 5, 5, 6, 6]))
    assert som_codes.layer_change_rates(clean, adv) == [
        {"layer": "a", "index": 0, "depth": 0.0, "change_rate": 0.4},
        {"layer": "b", "index": 1, "depth": 0.5, "change_rate": 0.4},
        {"layer": "c", "index": 2, "depth": 1.0, "change_rate": 0.4}]
    # first change per input: never, a, b, c, a
    shares = som_codes.departure_shares(clean, adv)
    assert [(r["first_layer"], r["index"]) for r in shares] == [("never", -1), ("a", 0), ("b", 1), ("c", 2)]
    assert [r["share"] for r in shares] == pytest.approx([0.2, 0.4, 0.2, 0.2])


def test_attack_codes_on_the_known_boundary(tiny):
    changes, departures = som_codes.attack_codes(tiny, ["fgsm", "pgd"], [0.05, 0.4], n_attack=10, pgd_steps=10)
    assert len(changes) == 2 * 2 * 3 and len(departures) == 2 * 2 * 4
    assert list(changes.columns) == ["dataset", "arch", "seed", "attack", "eps", "layer", "index", "depth",
                                     "change_rate", "adv_accuracy"]
    assert changes[["attack", "eps"]].drop_duplicates().values.tolist() == [
        ["fgsm", 0.05], ["fgsm", 0.4], ["pgd", 0.05], ["pgd", 0.4]]
    small, large = changes[changes.eps == 0.05], changes[changes.eps == 0.4]
    # eps 0.05 moves a point 0.05 towards the boundary: same side, same SOM unit at every layer
    assert (small.change_rate == 0).all() and (small.adv_accuracy == 1).all()
    # eps 0.4 takes (0.2, 0.2) to (0.6, 0.6), past x1 + x2 = 1 and nearer the other cluster's unit
    assert (large.change_rate == 1).all() and (large.adv_accuracy == 0).all()
    never = departures[departures.first_layer == "never"].set_index(["attack", "eps"])["share"]
    assert never.to_dict() == {("fgsm", 0.05): 1.0, ("fgsm", 0.4): 0.0, ("pgd", 0.05): 1.0, ("pgd", 0.4): 0.0}
    at_input = departures[(departures.index == 0) & (departures.eps == 0.4)]
    assert (at_input.share == 1).all() and (at_input.first_layer == INPUT).all()


def test_middle_eps():
    assert som_codes.middle_eps([0.2, 0.05, 0.1]) == 0.1
    assert som_codes.middle_eps([0.4, 0.1, 0.3, 0.2]) == 0.3
    assert som_codes.middle_eps([0.02, 0.05, 0.1, 0.2, 0.3]) == 0.1


# --- S2: the homogeneity-vs-sensitivity points and correlations --------------------------------------

def points_frame(change_of, purity_of=None) -> pd.DataFrame:
    """4 models x 3 layers; homogeneity = depth + a small model/layer offset, change = change_of(h)."""
    rows = []
    for m, (dataset, seed) in enumerate([("mnist", 0), ("mnist", 1), ("fashion_mnist", 0), ("fashion_mnist", 1)]):
        for index in range(3):
            h = index / 2 + 0.01 * m + 0.003 * ((m * index) % 3)
            rows.append({"dataset": dataset, "arch": "mlp", "seed": seed, "index": index, "depth": index / 2,
                         "homogeneity": h, "change_rate": change_of(h),
                         "purity": (purity_of or (lambda v: -v))(h)})
    return pd.DataFrame(rows)


def test_homogeneity_points_joins_pgd_at_eps():
    metrics = pd.DataFrame({"dataset": "d", "arch": "a", "seed": 0, "layer": ["x", "y", "z"], "index": [0, 1, 2],
                            "depth": [0.0, 0.5, 1.0], "normalized_entropy": [0.9, 0.7, 0.8],
                            "purity": [0.1, 0.2, 0.3]})
    changes = pd.concat([metrics[["dataset", "arch", "seed", "layer", "index", "depth"]].assign(
        attack=attack, eps=eps, change_rate=rate, adv_accuracy=0.5)
        for attack, eps, rate in [("pgd", 0.1, [0.2, 0.1, 0.6]), ("pgd", 0.2, [9.0, 9, 9]),
                                  ("fgsm", 0.1, [7.0, 7, 7])]])
    points = som_codes.homogeneity_points(changes, metrics, 0.1)
    assert points["layer"].tolist() == ["x", "y", "z"]
    assert points["change_rate"].tolist() == [0.2, 0.1, 0.6]
    assert points["homogeneity"].tolist() == pytest.approx([0.1, 0.3, 0.2])
    assert set(som_codes.S2_POINT_COLUMNS) <= set(points.columns)
    # ranks minus their least-squares line on the rank of depth (ranks 1, 2, 3)
    for col, values in [("homogeneity_resid", [1, 3, 2]), ("change_resid", [2, 1, 3])]:
        slope, intercept = np.polyfit([1, 2, 3], values, 1)
        assert points[col].tolist() == pytest.approx(np.array(values) - (slope * np.array([1, 2, 3]) + intercept))


def test_s2_estimates_monotone_relation_is_one():
    points = points_frame(lambda h: 2 * h + 0.1)
    est = som_codes.s2_estimates(points, n_boot=200)
    assert list(est) == [som_codes.S2_DECIDED, "spearman_homogeneity_change",
                         "within_position_spearman_homogeneity_change", "partial_spearman_purity_change_given_depth",
                         "spearman_depth_homogeneity", "spearman_depth_change"]
    assert all(e.n == 4 for e in est.values())  # clusters = models
    for name in (som_codes.S2_DECIDED, "spearman_homogeneity_change", "within_position_spearman_homogeneity_change"):
        e = est[name]
        assert (e.value, e.low, e.high) == pytest.approx((1.0, 1.0, 1.0)), name
        assert e.method.endswith("cluster bootstrap")
    purity = est["partial_spearman_purity_change_given_depth"]
    assert (purity.value, purity.high) == pytest.approx((-1.0, -1.0))
    assert est["spearman_depth_homogeneity"].value > 0.9 and est["spearman_depth_change"].value > 0.9


def test_s2_partial_spearman_matches_the_closed_form():
    points = points_frame(lambda h: h)
    points["change_rate"] += 0.3 * np.random.default_rng(1).normal(size=len(points))
    est = som_codes.s2_estimates(points, n_boot=200)
    r_hc = sps.spearmanr(points.homogeneity, points.change_rate).statistic
    r_hd = sps.spearmanr(points.homogeneity, points.depth).statistic
    r_cd = sps.spearmanr(points.change_rate, points.depth).statistic
    partial = (r_hc - r_hd * r_cd) / math.sqrt((1 - r_hd ** 2) * (1 - r_cd ** 2))
    assert est[som_codes.S2_DECIDED].value == pytest.approx(partial)
    assert est["spearman_homogeneity_change"].value == pytest.approx(r_hc)
    assert est["spearman_depth_change"].value == pytest.approx(r_cd)
    e = est[som_codes.S2_DECIDED]
    assert e.low <= e.value <= e.high


@pytest.mark.parametrize("low, high, verdict", [(0.1, 0.5, SUPPORTED), (-0.5, 0.5, INCONCLUSIVE),
                                                (-0.5, -0.1, NOT_SUPPORTED)])
def test_record_s2_rule(monkeypatch, tmp_path, low, high, verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    s2_est = {som_codes.S2_DECIDED: est(low, high), "spearman_homogeneity_change": est(0.5, 0.9),
              "within_position_spearman_homogeneity_change": est(-1, 1),
              "partial_spearman_purity_change_given_depth": est(-1, 1), "spearman_depth_homogeneity": est(0.5, 0.9),
              "spearman_depth_change": est(0.5, 0.9)}
    claim = som_codes.record_s2(s2_est, QUICK, figures=["figures/04_b.png"], eps=0.1, n_points=36)
    assert claim.verdict == verdict
    assert claim.rule == "(partial_spearman_homogeneity_change_given_depth > 0) on the 95% intervals"
    assert list(claim.measurements) == list(s2_est)
    assert "eps=0.1, 10 steps, on 200 test inputs" in claim.notes and "8 models (clusters; 36 points)" in claim.notes


# --- figures ------------------------------------------------------------------------------------------

def test_figures_build(tiny):
    metrics = som_codes.code_metrics_table(tiny)
    changes, departures = som_codes.attack_codes(tiny, ["pgd"], [0.05, 0.4], n_attack=10, pgd_steps=2)
    points = som_codes.homogeneity_points(changes, metrics, 0.4)
    points["change_rate"] = [0.1, 0.5, 0.3]  # not constant, so the correlations are defined
    s2_est = {som_codes.S2_DECIDED: est(-1, 1), "spearman_homogeneity_change": est(-1, 1)}
    figs = [som_codes.figure_code_metrics_depth(metrics, title="t"),
            som_codes.figure_occupancy(tiny, ["toy"], "lin", 3),
            som_codes.figure_change_rate_depth(changes),
            som_codes.figure_first_departure(departures, {"lin": tiny[("toy", "lin", 3)].mapper.layers}, 0.4),
            som_codes.figure_homogeneity(points, s2_est, 0.4)]
    assert [len(f.axes) for f in figs] == [6, 2, 1, 1, 2]
    for f in figs:
        plt.close(f)
