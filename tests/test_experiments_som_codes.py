"""Tests of halfway_utils.experiments.som_codes: the zoo's SOM codes and the S1/S2 experiment.

The experiment functions run on hand-made codes and tables, and on a tiny hand-written
StagedNet whose boundary is known: class 1 iff x1 + x2 > 1, on two pixels.
"""
import json
import math
import re
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils import data, models, zoo
from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.claims import INCONCLUSIVE, NO_EFFECT, SUPPORTED, WEAKER
from halfway_utils.experiments import som_codes
from halfway_utils.experiments.som_codes import controls, perturbed_codes, s1, s2, zoo_codes
from halfway_utils.infra import params
from halfway_utils.methods.codes import INPUT

T_975_4 = 2.7764451051977987  # Student t quantile 0.975 with 4 degrees of freedom
QUICK = {"profile": "quick", "datasets": ["mnist", "fashion_mnist"], "archs": ["mlp", "cnn"],
         "seeds": [0, 1, 2, 3, 4], "n_samples": 1000, "n_attack": 200, "som_rows": 10, "som_cols": 10,
         "alt_rows": 5, "alt_cols": 5, "som_epochs": 10, "n_shuffles": 20, "attacks_used": ["fgsm", "pgd"],
         "eps_values": [0.05, 0.1, 0.2], "pgd_steps": 10, "n_train": 1000, "n_test": 1000, "device": None,
         "torch_threads": None}


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
    return {("toy", "lin", 3): zoo_codes.fit_codes(linear_net(), x, y, rows=1, cols=2, seed=3, epochs=5)}


# --- parameters -------------------------------------------------------------------------------

def test_parameters_are_the_notebook_rules():
    assert list(som_codes.PARAMETERS) == ["profile", "datasets", "archs", "n_train", "n_test", "device", "seeds",
                                          "n_samples", "n_attack", "som_rows", "som_cols", "alt_rows", "alt_cols",
                                          "som_epochs", "n_shuffles", "attacks_used", "eps_values", "pgd_steps",
                                          "torch_threads"]
    assert params.validate(QUICK, som_codes.PARAMETERS) == QUICK
    for name, bad in [("seeds", [0, 1]), ("n_samples", 99), ("n_samples", 10001), ("n_attack", 19),
                      ("som_rows", 1), ("som_cols", 101), ("alt_rows", 1), ("alt_cols", 101), ("som_epochs", 0),
                      ("som_epochs", 201), ("n_shuffles", 0), ("attacks_used", ["cw"]), ("eps_values", [0.1, 0.2]),
                      ("eps_values", [0.0005, 0.1, 0.2]), ("eps_values", [0.1, 0.2, 1.5]), ("pgd_steps", 0),
                      ("pgd_steps", 1001), ("n_train", 9), ("n_test", 10001), ("profile", "slow"), ("device", "tpu"),
                      ("torch_threads", 0)]:
        with pytest.raises(params.ParameterError, match=name):
            params.validate({**QUICK, name: bad}, som_codes.PARAMETERS)
    for name, edge in [("n_samples", 100), ("n_samples", 10000), ("n_attack", 10000), ("som_rows", 2),
                       ("som_cols", 100), ("eps_values", [0.001, 0.5, 1.0]), ("n_train", None), ("n_test", None),
                       ("torch_threads", 1)]:
        params.validate({**QUICK, name: edge}, som_codes.PARAMETERS)


# --- fitting and the clean code table -----------------------------------------------------------

def test_fit_codes_separates_the_two_clusters(tiny):
    f = tiny[("toy", "lin", 3)]
    assert list(f.clean) == [INPUT, "fc1", "logits"]
    assert f.mapper.n_units == 2 and f.mapper.seed == 3 and f.grid == "1x2"
    for layer, codes in f.clean.items():
        # one unit per cluster: the code is a bijection of the class
        assert set(codes[f.y == 0].tolist()) | set(codes[f.y == 1].tolist()) == {0, 1}, layer
        assert len(set(codes[f.y == 0].tolist())) == 1 and len(set(codes[f.y == 1].tolist())) == 1, layer
        assert torch.equal(codes, f.mapper.codes(f.x)[layer])


def test_fit_codes_with_untrained_twin_and_other_grid():
    x, y = two_clusters()
    given = {}
    f = zoo_codes.fit_codes(linear_net(), x, y, rows=1, cols=2, seed=3, epochs=5, untrained=linear_net(),
                            alt_grid=(2, 1), given=given)
    assert list(f.all_code_sets()) == [("trained", "1x2"), ("untrained", "1x2"), ("trained", "2x1"),
                                       ("untrained", "2x1")]
    assert list(f.code_sets[("untrained", "1x2")]) == [INPUT, "fc1", "logits"]
    assert list(f.code_sets[("trained", "2x1")]) == ["fc1"]  # first = last hidden layer here
    assert given[(1, 2)][INPUT] is f.mapper.soms[INPUT]  # the pixel SOM, kept for the next model
    g = zoo_codes.fit_codes(linear_net(), x, y, rows=1, cols=2, seed=3, epochs=5, given=given)
    assert g.mapper.soms[INPUT] is f.mapper.soms[INPUT] and torch.equal(g.clean[INPUT], f.clean[INPUT])
    assert zoo_codes.end_layers(["input", "a", "b", "c", "logits"]) == ["a", "c"]
    with pytest.raises(ValueError):
        zoo_codes.end_layers(["input", "logits"])


def test_the_untrained_twin_is_the_seeded_initialization():
    """code_zoo codes zoo.untrained beside each model: the config's epoch-0 network, RNG untouched."""
    config = zoo.config("mnist", "mlp", 3)
    a, b = zoo.untrained(config, "cpu"), zoo.untrained(config, "cpu")
    state = torch.get_rng_state()
    c = zoo.untrained(config.replace(seed=4), "cpu")
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is not touched
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    assert not a.training


def test_code_zoo_codes_every_fitted_model_and_excludes_misfits(monkeypatch):
    x, y = two_clusters(5)
    loads, trained = [], []

    def fake_train(config, device=None):
        trained.append((config.dataset, config.arch, config.seed, config.n_train, device))
        fitted = not (config.arch == "cnn" and config.seed == 7)
        return SimpleNamespace(model=linear_net(), fitted=fitted, config=config, final={"train_acc": 0.5})

    def fake_load(dataset, split, n=None, seed=None):
        loads.append((dataset, split, n, seed))
        return x, y

    monkeypatch.setattr(zoo, "train", fake_train)
    monkeypatch.setattr(zoo, "untrained", lambda config, device=None: linear_net())
    monkeypatch.setattr(data, "load", fake_load)
    fitted, misfits = som_codes.code_zoo(["mnist"], ["mlp", "cnn"], [4, 7], n_train=100, n_test=50, n_samples=10,
                                         rows=1, cols=2, epochs=2, alt_grid=(2, 1), device="cpu")
    assert list(fitted) == [("mnist", "mlp", 4), ("mnist", "mlp", 7), ("mnist", "cnn", 4)]
    assert [(m.config.arch, m.config.seed) for m in misfits] == [("cnn", 7)]
    assert "cnn/mnist/seed7" in zoo.misfit_note(misfits)
    assert trained == [("mnist", a, s, 100, "cpu") for a in ("mlp", "cnn") for s in (4, 7)]
    assert loads == [("mnist", "test", 10, 0)]  # one sample per data set
    assert [f.mapper.seed for f in fitted.values()] == [4, 7, 4]  # each SOM uses its model's seed
    assert all(f.x is x and f.y is y for f in fitted.values())
    assert all(("untrained", "1x2") in f.code_sets and ("untrained", "2x1") in f.code_sets for f in fitted.values())
    # models of one seed share the pixel SOM
    assert fitted[("mnist", "mlp", 4)].mapper.soms[INPUT] is fitted[("mnist", "cnn", 4)].mapper.soms[INPUT]


def test_clean_accuracy_counts_the_known_boundary():
    x = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.6, 0.6], [0.3, 0.3]]).view(4, 1, 1, 2)
    y = torch.tensor([0, 1, 0, 0])  # the third is on the class-1 side
    f = zoo_codes.FittedModel(linear_net(), None, OrderedDict(), x, y)
    assert som_codes.clean_accuracy({("d", "a", 0): f}) == {("d", "a", 0): 0.75}


def test_code_metrics_table_by_hand():
    clean = OrderedDict(input=torch.tensor([0, 0, 1, 1]), fc1=torch.tensor([0, 1, 2, 3]),
                        logits=torch.tensor([2, 2, 2, 2]))
    f = zoo_codes.FittedModel(None, SimpleNamespace(rows=2, cols=2), clean, None, torch.tensor([0, 0, 1, 1]),
                              code_sets={("untrained", "2x2"): OrderedDict(fc1=torch.tensor([3, 3, 3, 3]))})
    table = som_codes.code_metrics_table({("mnist", "mlp", 5): f}, n_shuffles=3)
    assert list(table.columns) == ["dataset", "arch", "seed", "network", "grid", "layer", "index", "depth",
                                   *som_codes.METRICS, "normalized_mi_shuffled", "excess_mi"]
    assert table["layer"].tolist() == ["input", "fc1", "logits", "fc1"] and table["index"].tolist() == [0, 1, 2, 1]
    assert table["network"].tolist() == ["trained"] * 3 + ["untrained"] and (table["grid"] == "2x2").all()
    assert table["depth"].tolist() == [0.0, 0.5, 1.0, 0.5]
    assert (table["dataset"] == "mnist").all() and (table["seed"] == 5).all()
    expected = {  # H(code), log2(4) = 2, H(label) = 1 bit
        "units_used_frac": [0.5, 1.0, 0.25, 0.25],
        "normalized_entropy": [0.5, 1.0, 0.0, 0.0],
        "class_conditional_entropy_bits": [0.0, 1.0, 0.0, 0.0],
        "purity": [1.0, 1.0, 0.5, 0.5],
        "normalized_mi": [1.0, 1.0, 0.0, 0.0],
        "shared_units_frac": [0.0, 0.0, 1.0, 1.0],
    }
    for k, v in expected.items():
        assert table[k].tolist() == pytest.approx(v), k
    # fc1 gives every input its own unit: any labeling is read off it, so its shuffled MI is 1 too
    assert table["normalized_mi_shuffled"].tolist()[1] == pytest.approx(1.0)
    assert table["excess_mi"].tolist()[1:] == pytest.approx([0.0, 0.0, 0.0])
    assert table["excess_mi"].tolist()[0] == pytest.approx(1 - table["normalized_mi_shuffled"][0])


# --- estimates per stratum -------------------------------------------------------------------------

def test_stratified_t_interval_over_models_per_stratum_and_pooled():
    per_model = pd.DataFrame({"dataset": ["m"] * 5 + ["f"] * 5, "arch": "mlp", "seed": list(range(5)) * 2,
                              "v": [0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 1.0, 1.0, 1.0, np.nan]})
    est = stats.stratified(per_model, ["v"])
    assert list(est.strata) == ["m/mlp", "f/mlp"]
    e = est.strata["m/mlp"]["v"]
    half = T_975_4 * np.std([0.1, 0.2, 0.3, 0.4, 0.5], ddof=1) / math.sqrt(5)
    assert (e.value, e.low, e.high, e.n) == pytest.approx((0.3, 0.3 - half, 0.3 + half, 5))
    assert est.of("v")["f/mlp"].n == 4 and est.of("v")["f/mlp"].low == pytest.approx(1.0)  # NaN dropped
    assert est.pooled["v"].n == 9 and est.pooled["v"].value == pytest.approx(np.nanmean(per_model["v"]))
    assert list(est.table().index) == ["m/mlp", "f/mlp", "pooled"]
    assert est.line("v") == f"m/mlp {e}; f/mlp {est.of('v')['f/mlp']}"


# --- S1: known answers ------------------------------------------------------------------------------

N_SYN, UNITS = 400, 16  # inputs, units of a 4x4 grid


def random_codes(rng, units=UNITS):
    return torch.from_numpy(rng.integers(0, units, N_SYN))


def class_codes(y, rng):
    return y.clone()  # one unit per class: diverse, class-specific codes


def synthetic_model(seed: int, trained, untrained=None) -> zoo_codes.FittedModel:
    """Codes of a 4-layer model (input, fc1, fc2, logits) at a 4x4 grid and, mod 4, at a 2x2 one.

    ``trained(y, rng)`` and ``untrained(y, rng)`` give the ``(fc1, fc2)`` codes of the trained
    network and of its untrained twin (default: random codes at both layers).
    """
    rng = np.random.default_rng(seed)
    y = torch.from_numpy(np.arange(N_SYN) % 10)
    untrained = untrained or (lambda y, rng: (random_codes(rng), random_codes(rng)))
    t1, t2 = trained(y, rng)
    u1, u2 = untrained(y, rng)
    pixels = random_codes(rng)
    clean = OrderedDict(input=pixels, fc1=t1, fc2=t2, logits=y.clone())
    sets = {("untrained", "4x4"): OrderedDict(input=pixels, fc1=u1, fc2=u2, logits=random_codes(rng)),
            ("trained", "2x2"): OrderedDict(fc1=t1 % 4, fc2=t2 % 4),
            ("untrained", "2x2"): OrderedDict(fc1=u1 % 4, fc2=u2 % 4)}
    return zoo_codes.FittedModel(None, SimpleNamespace(rows=4, cols=4), clean, None, y, code_sets=sets)


def s1_verdicts(monkeypatch, tmp_path, cases: dict[str, tuple]):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    fitted = {(d, "mlp", s): synthetic_model(10 * k + s, *nets) for k, (d, nets) in enumerate(cases.items())
              for s in range(5)}
    metrics = som_codes.code_metrics_table(fitted, n_shuffles=20)
    per_model = som_codes.s1_per_model(metrics, grid="4x4", alt_grid="2x2")
    est = som_codes.s1_estimates(per_model)
    P = {**QUICK, "datasets": list(cases), "archs": ["mlp"], "alt_rows": 2, "alt_cols": 2}
    claim = s1.record(est, P, figures=["figures/04_a.png"], n_models=len(per_model),
                                misfit_note="Excluded, not fitted: none.")
    return claim, per_model


def test_s1_known_answers_per_stratum(monkeypatch, tmp_path):
    # 4,000 inputs per model: the excess MI of random codes then scatters ~0.002 around 0, so that five strata,
    # each read at the family's level (t with 4 df at 99%), land within the band of 0.01 (at 400: ~0.015)
    monkeypatch.setitem(globals(), "N_SYN", 4000)
    claim, per_model = s1_verdicts(monkeypatch, tmp_path, {
        # shallow codes random (classes share units), deep codes one unit per class; the twin random
        "deep_codes_the_class": (lambda y, rng: (random_codes(rng), class_codes(y, rng)),),
        # the trained network's codes are as random as its twin's at both layers
        "like_the_untrained": (lambda y, rng: (random_codes(rng), random_codes(rng)),),
        # both layers code the class: diverse already at the shallow layer, no rise
        "diverse_everywhere": (lambda y, rng: (class_codes(y, rng), class_codes(y, rng)),),
        # the twin loses the class with depth; the trained network keeps it and does not rise: the
        # twin's fall must not count as a rise (the primary takes max(0, untrained rise))
        "twin_falls": (lambda y, rng: (class_codes(y, rng), class_codes(y, rng)),
                       lambda y, rng: (class_codes(y, rng), random_codes(rng))),
        # the twin rises more than the trained network (whose deep codes are a third random): depth
        # alone does it
        "twin_rises_more": (lambda y, rng: (random_codes(rng), torch.where(torch.from_numpy(
                                rng.random(N_SYN) < 0.33), random_codes(rng), class_codes(y, rng))),
                            lambda y, rng: (random_codes(rng), class_codes(y, rng)))})
    assert per_model[["shallow", "deep"]].drop_duplicates().values.tolist() == [["fc1", "fc2"]]
    verdicts = {row["stratum"]: row["verdict"] for row in claim.strata}
    assert verdicts == {"deep_codes_the_class/mlp": SUPPORTED, "like_the_untrained/mlp": NO_EFFECT,
                        "diverse_everywhere/mlp": NO_EFFECT, "twin_falls/mlp": NO_EFFECT,
                        "twin_rises_more/mlp": NO_EFFECT}
    by = per_model.set_index("dataset")
    assert (by.loc["deep_codes_the_class", s1.PRIMARY] > 0.8).all()
    assert (by.loc["deep_codes_the_class", s1.ALT] > 0.3).all()
    assert (by.loc["twin_falls", "excess_mi_rise_untrained"] < -0.8).all()
    assert by.loc["twin_falls", s1.PRIMARY].tolist() == pytest.approx([0.0] * 5)
    assert (by.loc["twin_rises_more", s1.PRIMARY] < -0.1).all()
    assert (by.loc["twin_rises_more", "excess_mi_rise_trained"] > 0.3).all()  # a rise, but less than the twin's
    assert claim.primary == s1.PRIMARY and claim.margin == 0.02 and claim.replicates == 25
    assert claim.null.startswith("the same codes with shuffled labels")
    assert claim.rule_changes and "-0.0066" in claim.rule_changes[0]
    assert claim.rule_changes[-1].startswith("2026-12-04: ") and claim.band == 0.01 and claim.ideal == 1.0
    assert claim.null_value == 0.0 and "fiftieth" in claim.margin_reason and claim.sentence.startswith("S1")
    assert list(claim.measurements) == [*s1.REPORTED, s1.PRIMARY]
    assert claim.figures == ["04_a.png"] and "25 fitted models" in claim.notes and claim.notes.endswith("none.")
    assert "at 2x2 (reported)" in claim.notes
    assert (tmp_path / "results" / "claims" / "S1.json").exists()


def test_s1_identical_trained_and_untrained_codes_give_exactly_zero():
    fitted = {("d", "mlp", s): synthetic_model(s, lambda y, rng: (random_codes(rng), class_codes(y, rng)))
              for s in range(5)}
    for f in fitted.values():  # the untrained twin is the trained network itself, at one grid only
        f.code_sets = {("untrained", "4x4"): f.clean}
    per_model = som_codes.s1_per_model(som_codes.code_metrics_table(fitted, n_shuffles=5), grid="4x4")
    assert per_model[s1.PRIMARY].tolist() == pytest.approx([0.0] * 5)
    assert per_model[s1.ALT].isna().all()
    est = som_codes.s1_estimates(per_model).pooled[s1.PRIMARY]
    assert s1.RULE.judge(est) == NO_EFFECT


@pytest.mark.parametrize("values, verdict", [([0.05, 0.06, 0.04, 0.05, 0.05], SUPPORTED),
                                             ([0.0, 0.04, 0.01, 0.03, 0.02], INCONCLUSIVE),
                                             ([0.01, 0.012, 0.011, 0.013, 0.012], WEAKER),
                                             ([0.0, 0.005, -0.005, 0.0, 0.002], NO_EFFECT),
                                             ([-0.05, -0.06, -0.04, -0.05, -0.05], NO_EFFECT)])
def test_s1_rule_margin(values, verdict):
    per_model = pd.DataFrame({"dataset": "d", "arch": "a", "seed": range(5), s1.PRIMARY: values,
                              **{k: 0.0 for k in s1.REPORTED}})
    est = som_codes.s1_estimates(per_model)
    assert s1.RULE.judge(est.pooled[s1.PRIMARY]) == verdict
    assert s1.RULE.judge(est.of(s1.PRIMARY)["d/a"]) == verdict


# --- S2: attacks, random perturbations and codes -----------------------------------------------------

def test_adversarial_moves_to_the_corner_of_the_box():
    x, y = two_clusters(4)
    model = linear_net()
    for name in ("fgsm", "pgd"):
        x_adv = perturbed_codes.adversarial(model, x, y, name, 0.4, pgd_steps=10, seed=0)
        # the loss gradient has sign (+, +) for class 0 and (-, -) for class 1 everywhere
        step = torch.where(y == 0, 0.4, -0.4).view(-1, 1, 1, 1)
        assert torch.allclose(x_adv, x + step, atol=1e-6), name
    with pytest.raises(ValueError):
        perturbed_codes.adversarial(model, x, y, "cw", 0.4, pgd_steps=10, seed=0)


def test_layer_change_rates_and_departure_shares_by_hand():
    clean = OrderedDict(a=torch.tensor([0, 1, 2, 3, 4]), b=torch.tensor([0, 1, 2, 3, 4]),
                        c=torch.tensor([5, 5, 5, 5, 5]))
    adv = OrderedDict(a=torch.tensor([0, 9, 2, 3, 9]), b=torch.tensor([0, 9, 7, 3, 4]),
                      c=torch.tensor([5, 5, 5, 6, 6]))
    assert perturbed_codes.layer_change_rates(clean, adv) == [
        {"layer": "a", "index": 0, "depth": 0.0, "change_rate": 0.4},
        {"layer": "b", "index": 1, "depth": 0.5, "change_rate": 0.4},
        {"layer": "c", "index": 2, "depth": 1.0, "change_rate": 0.4}]
    # first change per input: never, a, b, c, a
    shares = perturbed_codes.departure_shares(clean, adv)
    assert [(r["first_layer"], r["index"]) for r in shares] == [("never", -1), ("a", 0), ("b", 1), ("c", 2)]
    assert [r["share"] for r in shares] == pytest.approx([0.2, 0.4, 0.2, 0.2])


def test_attack_codes_on_the_known_boundary(tiny):
    changes, departures = som_codes.attack_codes(tiny, ["fgsm", "pgd"], [0.05, 0.4], n_attack=10, pgd_steps=10)
    assert len(changes) == 2 * 2 * 3 and len(departures) == 2 * 2 * 4
    assert list(changes.columns) == ["dataset", "arch", "seed", "attack", "eps", "layer", "index", "depth",
                                     "change_rate", "random_change_rate", "excess_change", "adv_accuracy",
                                     "random_accuracy", "l2"]
    assert changes[["attack", "eps"]].drop_duplicates().values.tolist() == [
        ["fgsm", 0.05], ["fgsm", 0.4], ["pgd", 0.05], ["pgd", 0.4]]
    small, large = changes[changes.eps == 0.05], changes[changes.eps == 0.4]
    # eps 0.05 moves a point 0.05 * sqrt(2) towards the boundary; the random one as far: same unit everywhere
    assert (small.change_rate == 0).all() and (small.random_change_rate == 0).all()
    assert (small.adv_accuracy == 1).all() and (small.random_accuracy == 1).all()
    assert small.l2.to_numpy() == pytest.approx(0.05 * math.sqrt(2), rel=1e-4)
    # eps 0.4 takes (0.2, 0.2) to (0.6, 0.6), past x1 + x2 = 1 and nearer the other cluster's unit
    assert (large.change_rate == 1).all() and (large.adv_accuracy == 0).all()
    assert np.allclose(changes.excess_change, changes.change_rate - changes.random_change_rate)
    never = departures[departures.first_layer == "never"].set_index(["attack", "eps"])["share"]
    assert never.to_dict() == {("fgsm", 0.05): 1.0, ("fgsm", 0.4): 0.0, ("pgd", 0.05): 1.0, ("pgd", 0.4): 0.0}
    at_input = departures[(departures.index == 0) & (departures.eps == 0.4)]
    assert (at_input.share == 1).all() and (at_input.first_layer == INPUT).all()


def test_middle_eps():
    assert som_codes.middle_eps([0.2, 0.05, 0.1]) == 0.1
    assert som_codes.middle_eps([0.4, 0.1, 0.3, 0.2]) == 0.3
    assert som_codes.middle_eps([0.02, 0.05, 0.1, 0.2, 0.3]) == 0.1


# --- S2: known answers --------------------------------------------------------------------------------

LAYERS = ["input", "h1", "h2", "h3", "logits"]


def s2_frames(attack_of, random_of, excess_mi, strata=("mnist",), n_seeds=5, jitter=0.0):
    """Change and metric tables for 5-layer models: change rates = attack_of(dataset, layer, seed),
    random_of(dataset, layer); the trained network's excess MI at 4x4 = excess_mi(dataset, layer, seed)."""
    rng = np.random.default_rng(0)
    changes, metrics = [], []
    for dataset in strata:
        for seed in range(n_seeds):
            for index, layer in enumerate(LAYERS):
                a = min(1.0, max(0.0, attack_of(dataset, layer, seed) + jitter * rng.normal()))
                r = random_of(dataset, layer)
                base = {"dataset": dataset, "arch": "cnn", "seed": seed, "layer": layer, "index": index,
                        "depth": index / 4}
                for attack, eps in [("pgd", 0.1), ("pgd", 0.2), ("fgsm", 0.1)]:
                    scale = 1.0 if (attack, eps) == ("pgd", 0.1) else 0.0  # only PGD at eps 0.1 counts
                    changes.append({**base, "attack": attack, "eps": eps, "change_rate": scale * a,
                                    "random_change_rate": scale * r, "excess_change": scale * (a - r),
                                    "adv_accuracy": 0.3, "random_accuracy": 0.9, "l2": 1.0})
                for network, grid in [("trained", "4x4"), ("untrained", "4x4"), ("trained", "2x2")]:
                    value = excess_mi(dataset, layer, seed) if (network, grid) == ("trained", "4x4") else 0.5
                    metrics.append({**base, "network": network, "grid": grid, "excess_mi": value})
    return pd.DataFrame(changes), pd.DataFrame(metrics)


def rising(dataset, layer, seed=0):  # excess MI rises with depth (h1 the most homogeneous), falls with the seed
    return {"input": 0.2, "h1": 0.3, "h2": 0.5, "h3": 0.7, "logits": 0.9}[layer] - 0.02 * seed


def s2_claim(monkeypatch, tmp_path, changes, metrics, controls=()):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    per_model = som_codes.s2_per_model(changes, metrics, eps=0.1, grid="4x4")
    points = som_codes.homogeneity_points(changes, metrics, eps=0.1, grid="4x4")
    est = som_codes.s2_estimates(per_model, points, n_boot=300)
    corr = som_codes.s2_correlations(points, n_boot=200)
    return s2.record(est, corr, QUICK, figures=["figures/04_b.png"], eps=0.1, n_models=len(per_model),
                     controls=controls), per_model, points


DEPTH = {"input": 0.1, "h1": 0.2, "h2": 0.5, "h3": 0.8, "logits": 0.9}  # the excess change grows with depth


def test_s2_known_answers_per_stratum(monkeypatch, tmp_path):
    """Models compared at matched depth: the seed raises homogeneity (rising falls with the seed), and the attack's
    change rises with it, falls with it, or ignores it; within every model the deep layers break most."""
    effect = {"homogeneous_models_break": 0.03, "diverse_models_break": -0.03, "no_better_than_noise": 0.0}
    random = {"homogeneous_models_break": 0.1, "diverse_models_break": 0.1, "no_better_than_noise": 0.3}
    changes, metrics = s2_frames(lambda d, layer, seed: DEPTH[layer] + effect[d] * seed,
                                 lambda d, layer: random[d], rising, strata=list(effect))
    noise = (changes.dataset == "no_better_than_noise") & changes.layer.isin(["h1", "h2", "h3"])
    changes.loc[noise, "change_rate"], changes.loc[noise, "excess_change"] = 0.3, 0.0  # it does what noise does
    claim, per_model, points = s2_claim(monkeypatch, tmp_path, changes, metrics)
    assert (per_model.most_homogeneous == "h1").all() and (per_model.least_homogeneous == "h3").all()
    verdicts = {row["stratum"]: row["verdict"] for row in claim.strata}
    assert verdicts == {"homogeneous_models_break/cnn": SUPPORTED, "diverse_models_break/cnn": NO_EFFECT,
                        "no_better_than_noise/cnn": INCONCLUSIVE}  # constant change: no correlation to read
    rows = {row["stratum"]: row for row in claim.strata}
    assert rows["homogeneous_models_break/cnn"]["value"] == pytest.approx(1.0)
    assert rows["diverse_models_break/cnn"]["value"] == pytest.approx(-1.0)
    # the former primary restates depth: negative in every stratum, whatever the matched-depth relation
    assert (per_model.loc[per_model.dataset != "no_better_than_noise", s2.CONTRAST] < 0).all()
    first = per_model[per_model.dataset == "homogeneous_models_break"]
    assert first["input_excess_change"].to_numpy() == pytest.approx([0.0, 0.03, 0.06, 0.09, 0.12])
    assert first["deep_minus_shallow_excess_change"].to_numpy() == pytest.approx([0.6] * 5)
    assert claim.primary == s2.PRIMARY and claim.margin == 0.3 and claim.band == 0.1 and claim.replicates == 15
    assert claim.ideal == 1.0 and "three tenths" in claim.margin_reason
    assert claim.null.startswith("no relation between homogeneity")
    assert len(claim.rule_changes) == 4 and "b66c9fe" in claim.rule_changes[0]
    assert claim.rule_changes[-1].startswith("2026-12-04: ")
    assert list(claim.measurements) == [*s2.REPORTED, *s2.CORRELATIONS, s2.PRIMARY]
    assert "eps=0.1, 10 steps, on 200 test inputs per model, 15 fitted models" in claim.notes
    assert set(points.layer) == {"h1", "h2", "h3"} and len(points) == 45  # hidden layers only
    assert points["homogeneity"].tolist() == pytest.approx([1 - rising("", r.layer, r.seed)
                                                            for r in points.itertuples()])


def test_s2_within_depth_by_hand():
    """Two layers of three models: rho +1 at one, -0.5 at the other; the value is their mean."""
    points = pd.DataFrame({"dataset": "d", "arch": "a", "seed": [0, 1, 2] * 2, "index": [1] * 3 + [2] * 3,
                           "homogeneity": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3],
                           "excess_change": [0.1, 0.5, 0.9, 0.5, 0.9, 0.1]})
    est = s2.within_depth(points, n_boot=500)
    assert est.of(s2.PRIMARY)["d/a"].value == pytest.approx((1.0 - 0.5) / 2)
    assert est.pooled[s2.PRIMARY].value == pytest.approx(0.25) and est.pooled[s2.PRIMARY].n == 3
    e, one = est.pooled[s2.PRIMARY], est.of(s2.PRIMARY)["d/a"]
    # t intervals, df = models - 1; one stratum: the pooled interval is the stratum's
    assert one.df == 2 and one.high - one.value == pytest.approx(sps.t.ppf(0.975, 2) * one.se) and one.se > 0.1
    assert (e.low, e.high, e.se, e.df) == pytest.approx((one.low, one.high, one.se, one.df))


def test_s2_pooled_interval_weighs_strata_by_their_layers():
    """Two strata drawn apart, one of three layers and one of one: the pooled value weighs their cells (3:1), and
    its SE is that of the weighted mean of independent strata (the largest M / (M - 1) inflation)."""
    rng = np.random.default_rng(4)
    rows = []
    for dataset, layers in (("d", 3), ("e", 1)):
        for seed in range(6):
            for index in range(1, layers + 1):
                h = rng.normal()
                rows.append({"dataset": dataset, "arch": "a", "seed": seed, "index": index, "homogeneity": h,
                             "excess_change": 0.5 * h + rng.normal()})
    est = s2.within_depth(pd.DataFrame(rows), n_boot=3000)
    d, e, pooled = est.of(s2.PRIMARY)["d/a"], est.of(s2.PRIMARY)["e/a"], est.pooled[s2.PRIMARY]
    assert pooled.value == pytest.approx(0.75 * d.value + 0.25 * e.value) and pooled.n == 12
    assert pooled.se == pytest.approx(np.hypot(0.75 * d.se, 0.25 * e.se), rel=0.1)
    assert 5 < pooled.df <= 10  # Satterthwaite over two strata of df 5
    assert pooled.high - pooled.value == pytest.approx(sps.t.ppf(0.975, pooled.df) * pooled.se)


N_SIMS_S2 = 600  # simulated strata per design: a coverage near 0.93 has a standard error of about 0.010


def _s2_strata(rng, n_sims, models, layers, rho):
    """``n_sims`` independent strata (one per "dataset"): per model and hidden layer, (homogeneity, excess change)
    bivariate normal with correlation ``rho``, whose population Spearman correlation is 6/pi asin(rho/2)."""
    he = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], (n_sims, models, layers))
    sim, seed, layer = np.meshgrid(np.arange(n_sims), np.arange(models), np.arange(layers), indexing="ij")
    return pd.DataFrame({"dataset": sim.ravel().astype(str), "arch": "a", "seed": seed.ravel(),
                         "index": layer.ravel() + 1, "homogeneity": he[..., 0].ravel(),
                         "excess_change": he[..., 1].ravel()})


def _s2_coverage(models, layers, rho, seed=0):
    """Share of the per-stratum 95% intervals of :func:`s2.within_depth` that hold the population Spearman."""
    truth = 6 / np.pi * np.arcsin(rho / 2)
    est = s2.within_depth(_s2_strata(np.random.default_rng(seed), N_SIMS_S2, models, layers, rho), n_boot=200)
    return float(np.mean([e.low <= truth <= e.high for e in est.of(s2.PRIMARY).values()]))


@pytest.mark.parametrize("layers, rho", [(2, 0.5), (3, 0.0), (3, 0.8)])
@pytest.mark.coverage
def test_s2_stratum_interval_covers_at_five_models(layers, rho):
    """The quick profile's strata (5 models, 2-3 hidden layers): measured 0.975-0.99 for rho 0, 0.5, 0.8."""
    assert _s2_coverage(5, layers, rho) >= 0.93


@pytest.mark.xfail(strict=True, reason="3 models (the full profile's seeds): the t interval over a Spearman "
                   "correlation of three points covers 0.69-0.88 (measured: 2 layers rho 0.5 0.77, 0.8 0.69; 3 "
                   "layers rho 0 0.88, 0.5 0.88, 0.8 0.82); a Fisher-z interval does no better (0.69-0.88)")
@pytest.mark.coverage
def test_s2_stratum_interval_covers_at_three_models():
    assert _s2_coverage(3, 3, 0.5) >= 0.93


@pytest.mark.coverage
def test_s2_percentile_interval_fails_at_three_models(monkeypatch):
    """The former percentile interval from the same replicates: about 0.57 at 3 models, 3 layers, rho 0.5."""
    from halfway_utils.evidence import intervals
    monkeypatch.setattr(stats, "replicate_interval",
                        lambda v, b, n, m, level=0.95, **_: intervals.percentile_interval(v, b, n, m, level))
    assert _s2_coverage(3, 3, 0.5) < 0.8


def test_s2_the_former_contrast_picks_the_homogeneous_layer_by_its_codes_not_its_depth(monkeypatch, tmp_path):
    def falling(dataset, layer, seed):  # excess MI falls with depth: h3 is now the most homogeneous
        return 1 - rising(dataset, layer)
    changes, metrics = s2_frames(lambda d, layer, seed: {"h3": 0.8}.get(layer, 0.2), lambda d, layer: 0.0, falling)
    _, per_model, _ = s2_claim(monkeypatch, tmp_path, changes, metrics)
    assert (per_model.most_homogeneous == "h3").all() and (per_model.least_homogeneous == "h1").all()
    assert per_model[s2.CONTRAST].to_numpy() == pytest.approx(0.6)


def test_s2_inconclusive_when_homogeneity_and_change_vary_at_random(monkeypatch, tmp_path):
    rng = np.random.default_rng(3)
    mi = {(layer, seed): 0.5 + 0.05 * rng.normal() for layer in LAYERS for seed in range(5)}
    changes, metrics = s2_frames(lambda d, layer, seed: 0.5, lambda d, layer: 0.0,
                                 lambda d, layer, seed: mi[(layer, seed)], jitter=0.05)
    claim, _, _ = s2_claim(monkeypatch, tmp_path, changes, metrics)
    assert claim.verdict == INCONCLUSIVE, claim.strata


def test_s2_rule_can_land_on_each_side():
    """The bounds of a rank correlation straddle the null, the band and the margin."""
    for value, verdict in [(1.0, SUPPORTED), (-1.0, NO_EFFECT), (0.05, NO_EFFECT), (0.2, WEAKER)]:
        assert s2.RULE.judge(stats.Estimate(value, value - 0.04, value + 0.04, 5, "t")) == verdict


# --- controls: real networks through the same measurement -------------------------------------------

def low_rank_classes(n, seed, k=4):
    """8x8 images of ``k`` classes: a faint class template, a strong 4-d within-class variation, faint noise."""
    templates = torch.randn(k, 64, generator=torch.Generator().manual_seed(100)).sign()
    basis = torch.linalg.qr(torch.randn(64, 4, generator=torch.Generator().manual_seed(101))).Q.T
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    z = torch.randn(n, 4, generator=g) * 1.2
    x = (0.5 + 0.12 * templates[y] + z @ basis + 0.03 * torch.randn(n, 64, generator=g)).clamp(0, 1)
    return x.view(n, 1, 8, 8), y


@pytest.fixture(scope="module")
def toy_zoo():
    """Five small MLPs fitted to four classes, their SOM codes (4x4) and their untrained twins."""
    (xt, yt), (xs, ys) = low_rank_classes(400, 1), low_rank_classes(400, 2)
    fitted, untrained = {}, {}
    for seed in range(5):
        torch.manual_seed(seed)
        model = models.mlp(in_shape=(1, 8, 8), num_classes=4, width=32, depth=2, mean=(0.5,), std=(0.25,))
        twin = models.mlp(in_shape=(1, 8, 8), num_classes=4, width=32, depth=2, mean=(0.5,), std=(0.25,))
        twin.load_state_dict(model.state_dict())
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
        key = ("toy", "mlp", seed)
        fitted[key] = zoo_codes.fit_codes(model.eval(), xs, ys, rows=4, cols=4, seed=seed, epochs=5)
        untrained[key] = twin.eval()
    return fitted, untrained


def test_s1_controls_read_as_built(toy_zoo):
    fitted, untrained = toy_zoo
    per_model, built = controls.s1_controls(fitted, n_train=None, n_test=None, rows=4, cols=4, epochs=5,
                                            n_shuffles=5, untrained=untrained)
    verdicts = {c.kind: s1.RULE.judge(c.estimate) for c in built}
    assert verdicts == {claims.POSITIVE: SUPPORTED, claims.NEGATIVE: NO_EFFECT}, built
    assert not claims.control_problems([c.row(s1.RULE) for c in built])
    assert len(per_model) == 10 and set(per_model.dataset) == {"positive control (toy)", "negative control (toy)"}
    # the two controls put the primary on both sides of the margin: the rule can read either way
    pos, neg = (c.estimate for c in built)
    assert pos.low > s1.RULE.margin and neg.high < s1.RULE.null_value + s1.RULE.band


def test_s2_controls_read_as_built():
    """On a small MNIST MLP (300 training images, 300 SOM inputs, a 6x6 map, 100 attacked inputs): the positive
    family's homogeneity and excess change rise together with the share, the negative's go opposite ways."""
    result = zoo.train(zoo.config("mnist", "mlp", 0, n_train=300, n_test=100), device="cpu")
    x, y = data.load("mnist", "test", n=300, seed=0)
    fitted = {("mnist", "mlp", 0): zoo_codes.fit_codes(result.model.eval(), x, y, rows=6, cols=6, seed=0, epochs=5)}
    points, built = controls.s2_controls(fitted, eps=0.1, pgd_steps=5, n_attack=100, rows=6, cols=6, epochs=5,
                                         n_shuffles=5)
    assert len(points) == 2 * len(controls.SHARES) and set(points.layer) == {"mix"}
    verdicts = {c.kind: s2.RULE.judge(c.estimate) for c in built}
    assert verdicts == {claims.POSITIVE: SUPPORTED, claims.NEGATIVE: NO_EFFECT}, built
    assert not claims.control_problems([c.row(s2.RULE) for c in built])
    for kind in ("positive", "negative"):
        h = points[points.dataset == f"{kind} control (mnist)"].sort_values("seed")["homogeneity"].to_numpy()
        assert h[-1] > h[0] + 0.05, (kind, h)  # the open channel makes the codes more homogeneous


# --- figures ------------------------------------------------------------------------------------------

def test_figures_build(tiny):
    fitted = {(d, "mlp", s): synthetic_model(s, lambda y, rng: (random_codes(rng), class_codes(y, rng)))
              for d in ("m", "f") for s in range(2)}
    metrics = som_codes.code_metrics_table(fitted, n_shuffles=2)
    s1_est = som_codes.s1_estimates(som_codes.s1_per_model(metrics, grid="4x4", alt_grid="2x2"))
    changes, departures = som_codes.attack_codes(tiny, ["pgd"], [0.05, 0.4], n_attack=10, pgd_steps=2)
    s2_changes, s2_metrics = s2_frames(lambda d, layer, seed: 0.5, lambda d, layer: 0.1, rising, jitter=0.1)
    points = som_codes.homogeneity_points(s2_changes, s2_metrics, eps=0.1, grid="4x4")
    s2_est = som_codes.s2_estimates(som_codes.s2_per_model(s2_changes, s2_metrics, eps=0.1, grid="4x4"), points,
                                    n_boot=50)
    tiny_metrics = som_codes.code_metrics_table(tiny, n_shuffles=2)
    control = claims.Control("c/mlp", claims.POSITIVE, stats.across_seeds([0.5, 0.6]), "built")
    figs = [som_codes.figure_code_metrics_depth(tiny_metrics, grid="1x2", title="t"),
            som_codes.figure_excess_mi(metrics, s1_est, grid="4x4", alt_grid="2x2", controls=[control]),
            som_codes.figure_occupancy(tiny, ["toy"], "lin", 3),
            som_codes.figure_change_rate_depth(changes),
            som_codes.figure_first_departure(departures, {"lin": tiny[("toy", "lin", 3)].mapper.layers}, 0.4),
            som_codes.figure_homogeneity(points, s2_est, 0.1, controls=[control], control_points=points)]
    assert [len(f.axes) for f in figs] == [6, 2, 2, 1, 1, 2]
    for f in figs:
        plt.close(f)


# --- the package's interface ---------------------------------------------------------------------------

def test_claim_modules_share_the_uniform_names_and_the_notebook_saves_their_figures():
    for claim in (s1, s2):
        assert isinstance(claim.STATEMENT, str) and claim.PRIMARY == claim.RULE.primary
        assert callable(claim.notes) and callable(claim.record)
    assert som_codes.NOTEBOOK == "04_som_codes" and all(hasattr(som_codes, name) for name in som_codes.__all__)
    source = (Path(__file__).parents[1] / "notebooks" / "04_som_codes.py").read_text()
    for figs, claim in (("s1_figs", s1), ("s2_figs", s2)):
        saved = re.findall(figs + r'\.save\(.*"(04_\w+)"\)', source)
        assert tuple(saved) == claim.FIGURES


def test_write_results_holds_both_claims(monkeypatch, tmp_path, tiny):
    claim1, per_model1 = s1_verdicts(monkeypatch, tmp_path, {"m": (lambda y, rng: (random_codes(rng),
                                                                                       class_codes(y, rng)),)})
    changes, metrics = s2_frames(lambda d, layer, seed: 0.5, lambda d, layer: 0.1, rising, jitter=0.1)
    claim2, per_model2, points = s2_claim(monkeypatch, tmp_path, changes, metrics)
    departures = perturbed_codes.attack_codes(tiny, ["pgd"], [0.4], n_attack=4, pgd_steps=2)[1]
    path = som_codes.write_results(
        accuracy={("m", "mlp", 0): 0.5}, misfit_note="", metrics=metrics, s1_per_model=per_model1,
        s1_est=som_codes.s1_estimates(per_model1), changes=changes, departures=departures,
        s2_per_model=per_model2, s2_est=som_codes.s2_estimates(per_model2, points, n_boot=50),
        s2_correlations={"r": stats.across_seeds([0.1, 0.2])}, points=points, eps=0.1, s1_claim=claim1,
        s2_claim=claim2, seconds=1.0, parameters=QUICK)
    saved = json.loads(path.read_text())
    assert path.name == "04_som_codes.json" and saved["parameters"] == QUICK
    assert set(saved["results"]) == {"clean_accuracy", "excluded", "code_metrics", "s1_per_model", "s1",
                                     "change_rates", "first_departure", "s2_per_model", "s2", "s2_points",
                                     "s1_control_per_model", "s2_control_points", "controls", "verdicts", "seconds"}
    assert saved["results"]["verdicts"] == {"S1": claim1.verdict, "S2": claim2.verdict}
    assert saved["results"]["clean_accuracy"] == [{"dataset": "m", "arch": "mlp", "seed": 0, "accuracy": 0.5}]
