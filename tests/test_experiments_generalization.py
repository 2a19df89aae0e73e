"""Tests for halfway_utils.experiments.generalization (notebook 02, claim H2).

Hand-made two-feature models with a known boundary (class 1 where x0 > t), hand-placed
training and test points, and hand-computed answers; no training and no data sets (the
runs' ``train`` and ``load_split`` are replaced by fakes). The decision rule gets
known-answer tests on synthetic predictions: networks that share errors among themselves and
copy the 1-NN rule give "supported", ones whose errors are independent of the 1-NN's "no
effect", ones that copy it on a fifth of its errors "weaker than claimed". The controls (an RBF
kernel machine and a noisy oracle) run on small Gaussian data sets beside small trained MLPs.
"""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
import torch
from torch import nn

from halfway_utils import zoo
from halfway_utils.evidence import claims, stats
from halfway_utils.experiments import generalization as gen
from halfway_utils.experiments.generalization import agreement as agr
from halfway_utils.experiments.generalization import ceiling as cl
from halfway_utils.experiments.generalization import control_systems as cs
from halfway_utils.experiments.generalization import controls as ctl
from halfway_utils.experiments.generalization import h2
from halfway_utils.experiments.generalization import kappa as kp
from halfway_utils.experiments.generalization import results as res
from halfway_utils.infra import params
from halfway_utils.methods import segments
from halfway_utils.models import Normalize, StagedNet, predict
from halfway_utils.train import TrainResult


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def threshold_net(t: float) -> StagedNet:
    """Inputs (N, 1, 1, 2); penultimate feature x0; class 1 exactly where x0 > t."""
    fc = nn.Linear(2, 1)
    logits = nn.Linear(1, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0.0]]))
        fc.bias.zero_()
        logits.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        logits.bias.copy_(torch.tensor([t, -t]))
    stages = OrderedDict(fc=nn.Sequential(nn.Flatten(), fc), logits=logits)
    return StagedNet(Normalize((0.0,), (1.0,)), stages).eval()


def points(*xy: tuple[float, float]) -> torch.Tensor:
    return torch.tensor(xy, dtype=torch.float32).view(-1, 1, 1, 2)


# Training set: A=(0,0) label 0, B=(1,0) label 1, C=(0.2,3) label 0 (far off in x1).
X_TRAIN = points((0.0, 0.0), (1.0, 0.0), (0.2, 3.0))
Y_TRAIN = torch.tensor([0, 1, 0])
# q1: everything agrees. q2: pixel NN is C (0), feature NN (x0 only) is B (1), predicted 1.
# q3: predicted 0 (x0 = 0.45 < 0.5) though its label is 1; pixel NN A (0), feature NN C (0).
X_TEST = points((0.1, 0.0), (0.65, 3.0), (0.45, 0.0))
Y_TEST = torch.tensor([0, 1, 1])
EXPECTED = {"correct": [1, 1, 0], "agree_pixel": [1, 0, 1], "agree_feature": [1, 1, 1],
            "feature_nn_correct": [1, 1, 0]}

# Four training corners for the H1 statistic; the boundary x0 = 0.3 sits at t = 0.3 on the
# segments from x0 = 0 to x0 = 1 and at t = 0.7 on the reverse ones.
CORNERS = points((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))


def test_parameters_are_the_notebooks_rules():
    assert list(gen.PARAMETERS) == [
        "profile", "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot", "device",
        "random_datasets", "random_archs", "random_seeds", "random_n_train", "random_epochs", "widths",
        "width_dataset", "width_n_train", "width_seeds", "width_epochs", "n_pairs", "kernel_bandwidth",
        "kernel_sweep", "oracle_seeds"]
    good = {"profile": "quick", "datasets": ["mnist"], "archs": ["mlp"], "seeds": [0], "n_train": 2000,
            "n_test": None, "grid": 17, "n_boot": 100, "device": None, "random_datasets": ["mnist"],
            "random_archs": ["cnn"], "random_seeds": [1], "random_n_train": 500, "random_epochs": 60,
            "widths": [1, 100000], "width_dataset": "fashion_mnist", "width_n_train": 1000,
            "width_seeds": [0], "width_epochs": 200,
            "n_pairs": 10, "kernel_bandwidth": 0.25, "kernel_sweep": [0.1, 2], "oracle_seeds": [0, 1]}
    assert params.validate(good, gen.PARAMETERS) == good
    for name, bad in [("n_pairs", 9), ("n_pairs", 100001), ("random_epochs", 0), ("widths", [0]),
                      ("random_n_train", 60001), ("random_n_train", 9), ("width_dataset", "cifar"),
                      ("random_archs", ["vgg"]), ("random_seeds", [-1]), ("grid", 2), ("n_boot", 99),
                      ("width_epochs", 0), ("width_n_train", 5), ("kernel_bandwidth", 0),
                      ("kernel_sweep", []), ("oracle_seeds", [-1])]:
        with pytest.raises(params.ParameterError, match=name):
            params.validate({**good, name: bad}, gen.PARAMETERS)


def test_nn_labels_is_the_1nn_rule_on_the_cpu():
    out = agr.nn_labels(X_TRAIN, Y_TRAIN, X_TEST)
    assert out.device.type == "cpu" and out.tolist() == [0, 0, 0]
    out = agr.nn_labels(torch.tensor([[0.0], [1.0], [0.2]]), Y_TRAIN, torch.tensor([[0.1], [0.65], [0.45]]))
    assert out.tolist() == [0, 1, 0]


def test_agreement_known_answers():
    ag = agr.agreement(threshold_net(0.5), X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    assert set(ag) == set(agr.AGREEMENT_KEYS) | set(agr.LABEL_KEYS)
    for key, want in EXPECTED.items():
        assert ag[key].dtype == np.float64
        assert ag[key].tolist() == want, key
    assert ag["label"].tolist() == [0, 1, 1] and ag["pred"].tolist() == [0, 1, 0]
    assert ag["pixel_nn"].tolist() == [0, 0, 0] and ag["feature_nn"].tolist() == [0, 1, 0]
    assert all(ag[k].dtype == np.int64 for k in agr.LABEL_KEYS)


def test_agreement_uses_given_pixel_labels():
    # All-ones "pixel" labels: agreement then follows the predictions (0, 1, 0).
    ag = agr.agreement(threshold_net(0.5), X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, pixel=torch.ones(3, dtype=torch.long))
    assert ag["agree_pixel"].tolist() == [0, 1, 0] and ag["pixel_nn"].tolist() == [1, 1, 1]
    assert ag["agree_feature"].tolist() == EXPECTED["agree_feature"]


def test_agreement_uses_the_models_training_labels():
    # Swapping the training labels turns every 1-NN label around: agreements flip, accuracy does not.
    ag = agr.agreement(threshold_net(0.5), X_TRAIN, 1 - Y_TRAIN, X_TEST, Y_TEST)
    assert ag["correct"].tolist() == EXPECTED["correct"]
    assert ag["agree_pixel"].tolist() == [0, 1, 0]
    assert ag["agree_feature"].tolist() == [0, 0, 0]
    assert ag["feature_nn_correct"].tolist() == [0, 0, 1]


def _result(labels: str = "true", n_train: int = 3, t: float = 0.5, train_labels=Y_TRAIN, seed: int = 0,
            arch: str = "mlp", dataset: str = "mnist", train_acc: float | None = None, **kw) -> TrainResult:
    epochs = 2 if labels == "random" else None
    cfg = zoo.config(dataset, arch, seed, n_train=n_train, n_test=3, labels=labels, epochs=epochs, **kw)
    final = 0.99 + seed / 1000 if train_acc is None else train_acc
    history = {"epoch": [0, 1, 2], "train_acc": [0.1, 0.5, final], "test_acc": [0.1, 0.3, 0.6 + seed / 100]}
    return TrainResult(model=threshold_net(t), config=cfg, history=history, train_labels=train_labels)


def _data(n_train: int = 3, pixel: torch.Tensor | None = None) -> agr.DataSet:
    pix = agr.nn_labels(X_TRAIN, Y_TRAIN, X_TEST) if pixel is None else pixel
    return agr.DataSet(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, pix, n_train)


def test_model_agreement_reuses_pixel_labels_only_for_the_same_true_label_subset(monkeypatch):
    monkeypatch.setattr(agr, "load_split", lambda config, split: (X_TRAIN, Y_TRAIN))
    sentinel = torch.ones(3, dtype=torch.long)  # not the real pixel 1-NN labels (0, 0, 0)
    same = agr.model_agreement(_result("true", n_train=3), _data(3, sentinel))
    assert same["agree_pixel"].tolist() == [0, 1, 0]
    other_size = agr.model_agreement(_result("true", n_train=4), _data(3, sentinel))
    assert other_size["agree_pixel"].tolist() == EXPECTED["agree_pixel"]
    random = agr.model_agreement(_result("random", n_train=3), _data(3, sentinel))
    assert random["agree_pixel"].tolist() == EXPECTED["agree_pixel"]


def test_model_agreement_uses_a_given_training_subset(monkeypatch):
    def refuse(config, split):
        raise AssertionError("load_split should not be called")
    monkeypatch.setattr(agr, "load_split", refuse)
    ag = agr.model_agreement(_result("random", n_train=3), _data(3), X_TRAIN)
    assert ag["agree_pixel"].tolist() == EXPECTED["agree_pixel"]


def test_pixel_accuracy():
    assert agr.pixel_accuracy({"mnist": _data(), "fashion_mnist": _data(pixel=Y_TEST)}) == {
        "mnist": pytest.approx(1 / 3), "fashion_mnist": 1.0}


# --- the primary statistic ------------------------------------------------------------------------

def test_shared_errors_hand_computed():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    ref = [0, 1, 1, 2, 1, 0, 0, 1]  # wrong on inputs 1, 2, 3 (true 0) and 5, 6 (true 1)
    pred = [0, 1, 2, 0, 1, 0, 1, 1]  # confusion: P(1|0) = P(2|0) = 1/4, P(0|1) = 1/4
    same, expected = kp.shared_errors(pred, ref, y, n_classes=3)
    assert same.tolist() == [1, 0, 0, 1, 0]
    assert expected.tolist() == [0.25] * 5
    assert kp.kappa(same, expected) == pytest.approx((0.4 - 0.25) / 0.75)
    with pytest.raises(ValueError, match="one entry per input"):
        kp.shared_errors(pred, ref[:-1], y, n_classes=3)


def test_kappa_edges():
    assert kp.kappa(np.ones(4), np.full(4, 0.1)) == 1.0
    assert kp.kappa(np.full(4, 0.1), np.full(4, 0.1)) == pytest.approx(0.0)
    assert np.isnan(kp.kappa(np.array([]), np.array([])))
    assert np.isnan(kp.kappa(np.ones(2), np.ones(2)))


def _simulate(kind: str, seeds=range(5), n: int = 800, acc_ref: float = 0.8, acc: float = 0.9,
              stratum_seed: int = 0, dataset: str = "mnist", arch: str = "mlp", shared: float = 0.0,
              copy_rate: float = 0.1) -> pd.DataFrame:
    """Per-sample rows of one stratum: a fixed 1-NN rule (accuracy ``acc_ref``), and per seed a
    network whose errors are independent of it, copy it (``"copy"``), or copy it on half
    (``"half"``) or a ``copy_rate`` (``"partial"``) of the inputs where it errs. With ``shared`` > 0
    each network takes its label from one template network of the stratum (errors independent of
    the 1-NN's) on that share of the inputs: replicates then share errors (a ceiling above 0)."""
    rng = np.random.default_rng(1000 + stratum_seed)
    y = rng.integers(0, 10, n)
    pixel = np.where(rng.random(n) < acc_ref, y, (y + rng.integers(1, 10, n)) % 10)
    template = np.where(rng.random(n) < acc, y, (y + rng.integers(1, 10, n)) % 10)
    frames = []
    for seed in seeds:
        r = np.random.default_rng(seed + 10 * stratum_seed)
        pred = np.where(r.random(n) < acc, y, (y + r.integers(1, 10, n)) % 10)
        pred = np.where(r.random(n) < shared, template, pred)
        if kind == "copy":
            pred = pixel.copy()
        elif kind in ("half", "partial"):
            pred = np.where((pixel != y) & (r.random(n) < (0.5 if kind == "half" else copy_rate)), pixel, pred)
        frames.append(pd.DataFrame({"dataset": dataset, "arch": arch, "seed": seed, "label": y, "pred": pred,
                                    "pixel_nn": pixel, "feature_nn": pred, "correct": (pred == y).astype(float),
                                    "agree_pixel": (pred == pixel).astype(float), "agree_feature": 1.0,
                                    "fitted": True}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(("kind", "around"), [("copy", 1.0), ("independent", 0.0), ("half", 0.5)])
def test_kappa_estimate_known_answers(kind, around):
    groups = kp.error_groups(_simulate(kind))["mnist/mlp"]
    est = kp.kappa_estimate(groups, n_boot=400)
    assert est.n == 5 and est.method.startswith("two-level") and est.df == 4 and np.isfinite(est.se)
    assert est.low <= around <= est.high and abs(est.value - around) < 0.05
    if kind == "copy":
        assert (est.value, est.low, est.high) == (1.0, 1.0, 1.0)


def test_kappa_estimate_resamples_models_not_inputs():
    # Five models, each with every item identical within it but different between them: a bootstrap
    # over pooled inputs would be tight, the model-level one keeps the spread between models.
    groups = [(np.full(200, v), np.zeros(200)) for v in (0.2, 0.4, 0.6, 0.8, 1.0)]
    est = kp.kappa_estimate(groups, n_boot=500, seed=1)
    assert est.value == pytest.approx(0.6) and est.n == 5
    assert est.low < 0.45 and est.high > 0.75
    one = kp.kappa_estimate(groups[:1] + [(np.array([]), np.array([]))], n_boot=10)
    assert one.n == 1 and one.value == pytest.approx(0.2) and np.isnan(one.low)
    assert np.isnan(kp.kappa_estimate([], n_boot=10).value)
    with pytest.raises(ValueError, match="one label per group"):
        kp.kappa_estimate(groups, strata=["a"], n_boot=10)


def test_kappa_estimate_stratified_keeps_each_stratum_in_every_replicate():
    # Stratum a: kappa 1 (two models), stratum b: kappa 0 (two models). Resampled within strata,
    # every replicate holds two models of each: the pooled kappa stays at 0.5.
    groups = [(np.ones(50), np.zeros(50))] * 2 + [(np.zeros(50), np.zeros(50))] * 2
    est = kp.kappa_estimate(groups, ["a", "a", "b", "b"], n_boot=200)
    assert (est.value, est.low, est.high) == (0.5, 0.5, 0.5)
    free = kp.kappa_estimate(groups, n_boot=200)
    assert free.low < 0.5 < free.high


def test_error_groups_pixel_and_network_pairs_and_misfits():
    rows = _simulate("independent", seeds=[0, 1, 2])
    rows.loc[rows.seed == 2, "fitted"] = False
    pixel = kp.error_groups(rows)["mnist/mlp"]
    assert [g.name for g in pixel] == ["seed0", "seed1"]
    net = kp.error_groups(rows, "net")["mnist/mlp"]
    assert [g.name for g in net] == ["seed0 vs seed1", "seed1 vs seed0"]
    m0, m1 = rows[rows.seed == 0], rows[rows.seed == 1]
    same, expected = kp.shared_errors(m0["pred"], m1["pred"], m0["label"])
    assert net[0].same.tolist() == same.tolist() and net[0].expected.tolist() == expected.tolist()
    # each item's input: where the other network errs, among the model's rows (the data set's test inputs)
    assert net[0].ids.tolist() == np.flatnonzero(m1["pred"].to_numpy() != m1["label"].to_numpy()).tolist()
    assert (net[0].dataset, net[0].inputs) == ("mnist", 800)
    assert pixel[0].ids.tolist() == pixel[1].ids.tolist() == np.flatnonzero(
        m0["pixel_nn"].to_numpy() != m0["label"].to_numpy()).tolist()
    single = kp.error_groups(rows[rows.seed == 0], "net")
    assert single == {"mnist/mlp": []}


def test_net_vs_net_kappa_known_answers():
    copy = kp.kappa_by_stratum(kp.error_groups(_simulate("copy"), "net"), n_boot=200)[0]
    assert copy.value == 1.0
    independent = kp.kappa_by_stratum(kp.error_groups(_simulate("independent"), "net"), n_boot=200)[0]
    assert abs(independent.value) < 0.05 and independent.n == 5


def _three_strata(kinds=("copy", "independent", "half"), shared: float = 0.0, **kw) -> pd.DataFrame:
    names = [("mnist", "mlp"), ("mnist", "cnn"), ("fashion_mnist", "mlp")]
    return pd.concat([_simulate(kind, stratum_seed=i, dataset=d, arch=a, shared=shared, **kw)
                      for i, (kind, (d, a)) in enumerate(zip(kinds, names))], ignore_index=True)


def test_kappa_by_stratum_and_model_kappas():
    rows = _three_strata()
    pooled, strata = kp.kappa_by_stratum(kp.error_groups(rows), n_boot=300)
    assert list(strata) == ["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"]
    for est, around in zip(strata.values(), (1.0, 0.0, 0.5)):
        assert est.low <= around <= est.high
    assert pooled.n == 15 and 0.3 < pooled.value < 0.7
    kappas = kp.model_kappas(rows)
    assert len(kappas) == 30 and set(kappas.reference) == {"pixel 1-NN", "another network"}
    copy = kappas.query("stratum == 'mnist/mlp'")
    assert (copy["kappa"] == 1.0).all() and (copy["shared"] == 1.0).all()


@pytest.mark.parametrize(("kinds", "pooled_verdict"), [
    (("copy", "copy", "copy"), "supported"),
    (("independent", "independent", "independent"), "no effect"),
    (("partial", "partial", "partial"), "weaker than claimed"),
    (("copy", "independent", "partial"), None),  # whatever the pooled interval gives
])
def test_record_decides_by_the_rule_per_stratum_and_pooled(tmp_path, monkeypatch, kinds, pooled_verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    # 2000 inputs and a copy rate of 0.15 (primary about 0.3): the strata's family-level intervals (Bonferroni
    # over three, t with 4 df) fit between the band (0.1) and the margin (0.5)
    rows = _three_strata(kinds, shared=0.8, n=2000, copy_rate=0.15)
    pooled, strata = cl.primary_by_stratum(rows, n_boot=300)
    measurements = {"shared_error_kappa_net_vs_net": stats.Estimate(0.7, 0.6, 0.8, 15, "m")}
    # the positive control is one fixed system: its n is its inputs (it reads "too few models" with n = 2)
    controls = [claims.Control("pos", claims.POSITIVE, stats.Estimate(1.2, 1.1, 1.3, 258, "b"), "built to copy"),
                claims.Control("neg", claims.NEGATIVE, stats.Estimate(0.0, -0.03, 0.04, 5, "b"), "independent")]
    claim = h2.record(pooled, strata, measurements, replicates=15, figures=["figures/02_shared_errors.png"],
                      parameters={"profile": "quick"}, notes="n", controls=controls)
    assert claim.verdict == (pooled_verdict or h2.RULE.judge(pooled))
    stored = json.loads((tmp_path / "results" / "claims" / "H2.json").read_text())
    assert stored["primary"] == h2.PRIMARY and stored["primary"] in stored["measurements"]
    assert stored["margin"] == 0.5 and "independent errors" in stored["null"]
    assert (stored["null_value"], stored["band"], stored["ideal"]) == (0.0, 0.1, 1.0)
    assert "replicate" in stored["margin_reason"] and stored["scale"].startswith("0 = independent errors")
    assert stored["replicates"] == 15 and stored["notebook"] == "02_generalization"
    assert [s["stratum"] for s in stored["strata"]] == ["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"]
    want = {"copy": "supported", "independent": "no effect", "partial": "weaker than claimed"}
    assert [s["verdict"] for s in stored["strata"]] == [want[k] for k in kinds]
    assert all(s["n"] == 5 for s in stored["strata"])
    assert [(c["name"], c["verdict"], c["as_built"]) for c in stored["controls"]] == [
        ("pos", "supported", True), ("neg", "no effect", True)]
    assert claims.control_problems(stored["controls"]) == [] and stored["margin_curve"]
    assert len(stored["rule_changes"]) == 3 and "issue 13" in stored["rule_changes"][0]
    assert stored["rule_changes"][1].startswith("2026-12-04: ") and "issue 20" in stored["rule_changes"][1]
    assert "issue 21" in stored["rule_changes"][2]
    assert stored["figures"] == ["02_shared_errors.png"] and stored["statement"] == h2.STATEMENT


# --- the primary on the replicate ceiling's scale --------------------------------------------------

def test_ratio_estimate_known_answers_and_joint_resampling():
    # Numerator kappa 0.3 (E = 0), ceiling 0.6: ratio 0.5 in every replicate when every unit is alike.
    units = [((np.r_[np.ones(30), np.zeros(70)], np.zeros(100)), (np.r_[np.ones(60), np.zeros(40)], np.zeros(100)))]
    est = cl.ratio_estimate(units * 4, n_boot=200)
    assert est.value == pytest.approx(0.5) and est.n == 4 and est.low < 0.5 < est.high  # inputs resampled
    # Units that carry their own ceiling: a model that shares more with the 1-NN shares more with its
    # replicate too; resampled jointly the ratio stays 0.5, resampled apart it would spread.
    joint = [((np.full(50, v), np.zeros(50)), (np.full(50, 2 * v), np.zeros(50))) for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    tight = cl.ratio_estimate(joint, n_boot=300)
    assert (tight.value, tight.low, tight.high) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    apart = cl.ratio_estimate([(a, None) for a, _ in joint] + [(None, b) for _, b in joint],
                              ["num"] * 5 + ["den"] * 5, n_boot=300)
    assert apart.value == pytest.approx(0.5) and apart.low < 0.45 and apart.high > 0.55 and apart.n == 5
    assert np.isnan(cl.ratio_estimate([((np.ones(5), np.zeros(5)), (np.zeros(5), np.zeros(5)))], n_boot=10).value)
    with pytest.raises(ValueError, match="one label per unit"):
        cl.ratio_estimate(units, ["a", "b"], n_boot=10)


def test_the_primary_can_land_on_either_side_and_reach_holds_both_references():
    verdicts = {}
    for kind in ("copy", "independent", "partial"):
        pooled, _ = cl.primary_by_stratum(_simulate(kind, shared=0.8), n_boot=300)
        verdicts[kind] = h2.RULE.judge(pooled)
    assert verdicts == {"copy": "supported", "independent": "no effect", "partial": "weaker than claimed"}
    reach = cl.reach(_simulate("independent", shared=0.8))
    row = reach.iloc[0]
    assert row["lowest"] < 0 and row["highest"] > h2.RULE.margin and 0.5 < row["ceiling"] < 1
    assert row["lowest"] <= row["primary"] <= row["highest"]


def test_zoo_units_pair_each_model_with_its_replicate_and_no_ceiling_alone():
    rows = _simulate("independent", seeds=[0, 1, 2], shared=0.8)
    units = cl.zoo_units(rows)["mnist/mlp"]
    pixel, net = kp.error_groups(rows)["mnist/mlp"], kp.error_groups(rows, "net")["mnist/mlp"]
    assert len(units) == 3
    for (a, b), p, q in zip(units, pixel, net):
        assert a.same.tolist() == p.same.tolist() and b.same.tolist() == q.same.tolist()
        assert a.ids.tolist() == p.ids.tolist() and b.ids.tolist() == q.ids.tolist()
    alone = cl.zoo_units(rows[rows.seed == 0])["mnist/mlp"]
    assert len(alone) == 1 and alone[0][1] is None
    assert np.isnan(cl.primary_by_stratum(rows[rows.seed == 0], n_boot=10)[0].value)


# --- the bootstrap: inputs drawn jointly, models within strata, t intervals, coverage --------------

E_SHARE = 0.1  # the expected share E of every simulated item (constant: the true kappa is (p - E) / (1 - E))


def _true_kappa(p: float) -> float:
    return (p - E_SHARE) / (1 - E_SHARE)


def _items(name: str, same: np.ndarray, ids: np.ndarray, inputs: int, dataset: str = "d") -> kp.Items:
    return kp.Items(name, np.asarray(same, float), np.full(len(same), E_SHARE), np.asarray(ids), dataset, inputs)


def _simulated_units(rng: np.random.Generator, models: int, inputs: int, items: int, sd_model: float,
                     sd_input: float, p_num: tuple[float, ...] = (0.5, 0.4), p_den: float = 0.6
                     ) -> dict[str, list[cl.Unit]]:
    """One data set of ``inputs`` test inputs, the 1-NN wrong on ``items`` of them, and one stratum per
    ``p_num`` of ``models`` models. Against the 1-NN a model gives the 1-NN's label on input i with
    probability ``p + a_model + b_i``; against its replicate (on ``items`` inputs the replicate gets wrong)
    with ``p_den + a'_model + c_i``: a, a' uniform within ``sd_model`` (a' within half of it), b and c
    uniform within ``sd_input`` and shared by every model of the data set; no probability leaves [0, 1]."""
    assert max(p_num) + sd_model + sd_input <= 1 and min(p_num) - sd_model - sd_input >= 0
    assert 0 <= p_den - sd_model / 2 - sd_input and p_den + sd_model / 2 + sd_input <= 1
    ids = np.sort(rng.choice(inputs, items, replace=False))
    b, c = rng.uniform(-sd_input, sd_input, (2, inputs))
    out = {}
    for s, p in enumerate(p_num):
        units = []
        for m in range(models):
            a, a_den = rng.uniform(-sd_model, sd_model), rng.uniform(-sd_model / 2, sd_model / 2)
            den_ids = np.sort(rng.choice(inputs, items, replace=False))
            units.append((_items(f"m{m}", rng.random(items) < p + a + b[ids], ids, inputs),
                          _items(f"m{m}", rng.random(items) < p_den + a_den + c[den_ids], den_ids, inputs)))
        out[f"d/s{s}"] = units
    return out


# (models per stratum, test inputs, inputs the 1-NN gets wrong, spread between models, spread of the inputs)
QUICK_MODELS, QUICK_INPUTS = (5, 1000, 120, 0.3, 0.1), (5, 1000, 120, 0.02, 0.35)
FULL_MODELS, FULL_INPUTS = (3, 2000, 1000, 0.3, 0.1), (3, 2000, 1000, 0.02, 0.35)
N_SIMS, N_BOOT, FLOOR = 600, 150, 0.93  # 600 data sets: a coverage of 0.93 has a standard error of about 0.01


@pytest.mark.parametrize(("design", "narrow_fails"), [(QUICK_MODELS, True), (QUICK_INPUTS, False),
                                                      (FULL_MODELS, True), (FULL_INPUTS, False)],
                         ids=["quick-models", "quick-inputs", "full-models", "full-inputs"])
@pytest.mark.coverage
def test_the_primary_and_the_kappas_cover_their_truth(design, narrow_fails):
    """Coverage of the 95% intervals of the primary (per stratum and pooled) and of the raw kappa against the
    1-NN, from the real estimators, on simulated data sets of the profiles' design. Where models dominate, the
    old two-level percentile interval from the same replicates (:func:`.ceiling.ratio_replicates`) must miss
    the truth too often. Measured (seed 0), t intervals: strata / pooled / kappa, then the
    percentile interval of stratum 0: quick-models 0.98, 0.96 / 0.98 / 0.96, percentile 0.89; quick-inputs
    1.00, 1.00 / 1.00 / 1.00, percentile 0.99; full-models 0.95, 0.94 / 0.97 / 0.93, percentile 0.73;
    full-inputs 1.00, 1.00 / 1.00 / 1.00, percentile 0.97 (conservative where the inputs dominate: the
    items' own noise is counted by both levels)."""
    rng = np.random.default_rng(0)
    truth = {"d/s0": _true_kappa(0.5) / _true_kappa(0.6), "d/s1": _true_kappa(0.4) / _true_kappa(0.6),
             "pooled": _true_kappa(0.45) / _true_kappa(0.6)}
    hits: dict[str, list[bool]] = {key: [] for key in [*truth, "kappa"]}
    narrow = []
    for k in range(N_SIMS):
        units = _simulated_units(rng, *design)
        pooled, per = cl.ratio_by_stratum(units, n_boot=N_BOOT, seed=k)
        for key, est in [*per.items(), ("pooled", pooled)]:
            hits[key].append(est.low <= truth[key] <= est.high)
        _, kappas = kp.kappa_by_stratum({name: [a for a, _ in us] for name, us in units.items()}, n_boot=N_BOOT,
                                        seed=k)
        hits["kappa"].append(kappas["d/s0"].low <= _true_kappa(0.5) <= kappas["d/s0"].high)
        if narrow_fails:
            flat = [(name, u) for name, us in units.items() for u in us]
            reps, _ = cl.ratio_replicates([u for _, u in flat], [name for name, _ in flat], n_boot=N_BOOT, seed=k)
            est = per["d/s0"]
            assert est.se == pytest.approx(np.std(reps["d/s0"], ddof=1) * np.sqrt(design[0] / (design[0] - 1)))
            old = stats.percentile_interval(est.value, reps["d/s0"], design[0], "old")
            narrow.append(old.low <= truth["d/s0"] <= old.high)
    rates = {key: float(np.mean(v)) for key, v in hits.items()}
    assert min(rates.values()) >= FLOOR, (design, rates)
    assert not narrow_fails or np.mean(narrow) < FLOOR, (design, np.mean(narrow))


def test_stratum_intervals_are_t_intervals_from_the_shared_replicates():
    units = _simulated_units(np.random.default_rng(3), *QUICK_MODELS)
    pooled, per = cl.ratio_by_stratum(units, n_boot=400, seed=7)
    flat = [(name, u) for name, us in units.items() for u in us]
    reps, boots = cl.ratio_replicates([u for _, u in flat], [name for name, _ in flat], n_boot=400, seed=7)
    for name, est in per.items():
        se = np.std(reps[name], ddof=1) * np.sqrt(5 / 4)
        half = sps.t.ppf(0.975, 4) * se
        assert (est.n, est.df, est.se) == (5, 4, pytest.approx(se))
        assert (est.low, est.high) == (pytest.approx(est.value - half), pytest.approx(est.value + half))
        assert est.value == pytest.approx(cl.ratio_strata(units[name], n_boot=2, fixed=False)[0].value, abs=1e-12)
    # the pooled interval: the pooled replicates' spread, df between the smallest stratum's (4) and the sum (8)
    assert pooled.se == pytest.approx(np.std(boots, ddof=1) * np.sqrt(5 / 4))
    assert 4 <= pooled.df <= 8 and pooled.n == 10
    # a single stratum: the same numbers as the stratum's own
    alone = cl.ratio_by_stratum({"d/s0": units["d/s0"]}, n_boot=400, seed=7)[0]
    assert alone.value == per["d/s0"].value and alone.df == 4


def test_inputs_are_resampled_jointly_for_every_model_of_a_data_set():
    # Five identical models measured on the same inputs: with one draw of the inputs per replicate for all of
    # them, every replicate of the stratum is one model's, so its spread is one model's input resampling;
    # drawn apart (no input positions) the five draws partly average out: with the models' counts c redrawn,
    # E[sum c^2] / 25 = 9 / 25 = 0.36 of one model's variance.
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(500, 150, replace=False))
    one = _items("m", rng.random(150) < 0.5, ids, 500)
    shared, pooled = kp.unit_replicates([[one]] * 5, ["s"] * 5, n_boot=2000, seed=1)
    single, _ = kp.unit_replicates([[one]], ["s"], n_boot=2000, seed=1)
    np.testing.assert_allclose(kp.kappa_of_sums(shared["s"][:, 0]), kp.kappa_of_sums(single["s"][:, 0]))
    joint = kp.kappa_estimate([one] * 5, n_boot=2000, seed=1)
    apart = kp.kappa_estimate([(one.same, one.expected)] * 5, n_boot=2000, seed=1)
    var_one = np.var(kp.kappa_of_sums(single["s"][:, 0]), ddof=1)
    assert joint.se ** 2 / (5 / 4) == pytest.approx(var_one, rel=1e-9)
    assert 0.28 < apart.se ** 2 / (5 / 4) / var_one < 0.44
    # the same holds for the primary: numerator and ceiling of identical units on shared inputs
    den = _items("m", rng.random(150) < 0.7, np.sort(rng.choice(500, 150, replace=False)), 500)
    five = cl.ratio_strata([(one, den)] * 5, n_boot=2000, seed=1, fixed=False)[0]
    lone = cl.ratio_strata([(one, den)], n_boot=2000, seed=1)[0]  # a fixed system: its inputs as the unit
    assert lone.n == 150 and lone.df == 149
    assert five.se ** 2 / (5 / 4) == pytest.approx(lone.se ** 2 / (150 / 149), rel=1e-9)
    # two data sets are drawn apart, and a data set's models need the same number of test inputs
    other = one._replace(dataset="e")
    reps, _ = kp.unit_replicates([[one], [other]], ["a", "b"], n_boot=500, seed=1)
    assert abs(np.corrcoef(reps["a"][:, 0, 0], reps["b"][:, 0, 0])[0, 1]) < 0.2
    reps, _ = kp.unit_replicates([[one], [one._replace(name="n")]], ["a", "b"], n_boot=500, seed=1)
    np.testing.assert_allclose(reps["a"], reps["b"])
    with pytest.raises(ValueError, match="same number of test inputs"):
        kp.unit_replicates([[one], [one._replace(inputs=501)]], ["a", "a"], n_boot=5)


def test_the_pooled_interval_keeps_models_within_their_strata():
    # Three strata of four models with very different primaries and little spread within each: redrawn within
    # strata every replicate keeps four models of each and the pooled interval stays narrow; redrawn across
    # strata (one stratum) the composition of a replicate moves the pooled value many times more.
    rng = np.random.default_rng(2)
    units = {}
    for name, p in (("d/a", 0.85), ("d/b", 0.5), ("d/c", 0.15)):
        units[name] = _simulated_units(rng, 4, 1000, 600, 0.01, 0.1, p_num=(p,), p_den=0.85)["d/s0"]
    pooled, per = cl.ratio_by_stratum(units, n_boot=400, seed=0)
    values = [e.value for e in per.values()]
    assert values[0] > values[1] + 0.3 and values[1] > values[2] + 0.3, per
    flat = [u for us in units.values() for u in us]
    across = cl.ratio_strata(flat, n_boot=400, seed=0, fixed=False)[0]
    assert pooled.value == pytest.approx(across.value)
    assert across.high - across.low > 5 * (pooled.high - pooled.low), (pooled, across)
    assert pooled.high - pooled.low < max(e.high - e.low for e in per.values())
    # and so does the raw kappa's
    groups = {name: [a for a, _ in us] for name, us in units.items()}
    kpooled, _ = kp.kappa_by_stratum(groups, n_boot=400, seed=0)
    kacross = kp.kappa_estimate([g for gs in groups.values() for g in gs], n_boot=400, seed=0)
    assert kacross.high - kacross.low > 5 * (kpooled.high - kpooled.low)
    assert kp.kappa_estimate([g for gs in groups.values() for g in gs], [n for n, gs in groups.items() for _ in gs],
                             n_boot=400, seed=0) == kpooled


# --- the controls ---------------------------------------------------------------------------------

def _blobs(n: int, seed: int, k: int = 4, d: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of ``k`` overlapping Gaussian classes in ``d`` dimensions, shaped like images."""
    means = torch.randn(k, d, generator=torch.Generator().manual_seed(99)) * 0.5
    y = torch.arange(n) % k
    return (means[y] + torch.randn(n, d, generator=torch.Generator().manual_seed(seed))).view(n, 1, 1, d), y


def _toy_zoo(seeds=range(5)) -> tuple[dict[str, agr.DataSet], pd.DataFrame]:
    """A four-class data set (200 training, 1000 test points) and small MLPs trained on it, in the zoo's layout."""
    (xtr, ytr), (xte, yte) = _blobs(200, 1), _blobs(1000, 2)
    data = {"toy": agr.DataSet(xtr, ytr, xte, yte, agr.nn_labels(xtr, ytr, xte), 200)}
    frames = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Flatten(), nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xtr), ytr).backward()
            opt.step()
        frames.append(pd.DataFrame({"dataset": "toy", "arch": "mlp", "seed": seed, "label": yte.numpy(),
                                    "pred": predict(net, xte).numpy(), "pixel_nn": data["toy"].pixel_nn.numpy(),
                                    "fitted": True}))
    return data, pd.concat(frames, ignore_index=True)


def test_controls_read_as_built_through_the_zoo_s_kappa_code():
    data, zoo_rows = _toy_zoo()
    assert 0.3 < (zoo_rows["pred"] == zoo_rows["label"]).mean() < 0.95  # errors to share, not a trivial task
    rows = cs.control_rows(data, zoo_rows, datasets=["toy"], bandwidth=0.25, oracle_seeds=range(5))
    assert set(rows["arch"]) == {cs.POSITIVE, cs.NEGATIVE} and rows.query("arch == @cs.NEGATIVE")["seed"].nunique() == 5
    controls = cs.control_estimates(rows, zoo_rows, n_boot=300)
    verdicts = {c.kind: h2.RULE.judge(c.estimate) for c in controls}
    # the kernel machine is one fixed system: resampled over its inputs, its n is the inputs it is measured on
    # (where the 1-NN errs); the oracles are five systems; both beside the zoo's ceiling in the same bootstrap
    wrong = int((data["toy"].pixel_nn != data["toy"].y_test).sum())
    assert [c.estimate.n for c in controls] == [wrong, 5] and wrong > 100
    assert all(np.isfinite(c.estimate.df) and c.estimate.df >= 4 for c in controls)
    assert verdicts == {claims.POSITIVE: claims.SUPPORTED, claims.NEGATIVE: claims.NO_EFFECT}
    assert claims.control_problems([c.row(h2.RULE) for c in controls]) == []
    # The oracles have about the networks' accuracy; the zoo itself lands between the controls.
    oracle = rows[rows["arch"] == cs.NEGATIVE]
    assert abs(oracle["correct"].mean() - (zoo_rows["pred"] == zoo_rows["label"]).mean()) < 0.05
    zoo_primary = cl.primary_by_stratum(zoo_rows, n_boot=200)[0].value
    assert controls[1].estimate.high < zoo_primary < controls[0].estimate.low


def test_kernel_machine_small_bandwidth_is_the_1nn_rule_and_absent_classes_are_minus_inf():
    (xtr, ytr), (xte, _) = _blobs(60, 3), _blobs(50, 4)
    labels = torch.where(ytr == 3, torch.zeros_like(ytr), ytr)  # no class 3 left
    machine = cs.KernelMachine(xtr, labels, bandwidth=0.05, n_classes=4)
    assert predict(machine, xte).tolist() == agr.nn_labels(xtr, labels, xte).tolist()
    logits = machine(xte)
    assert logits.shape == (50, 4) and torch.isinf(logits[:, 3]).all() and torch.isfinite(logits[:, :3]).all()
    wide = cs.KernelMachine(xtr, labels, bandwidth=1e3, n_classes=4)
    assert len(set(predict(wide, xte).tolist())) == 1  # a very wide kernel: the most frequent class everywhere


def test_kernel_machine_logits_are_each_class_logsumexp_of_its_own_samples_whatever_their_order():
    (xtr, ytr), (xte, _) = _blobs(90, 4), _blobs(40, 5)
    labels = torch.where(ytr == 1, torch.full_like(ytr, 2), ytr)  # an absent class in the middle, classes interleaved
    machine = cs.KernelMachine(xtr, labels, bandwidth=0.7, n_classes=4)
    d2 = torch.cdist(xte.flatten(1).double(), xtr.flatten(1).double()) ** 2
    for s, got in zip((0.7, 2.0), machine.logits(xte, [0.7, 2.0])):
        for c in range(4):
            mask = labels == c
            absent = torch.full((40,), -torch.inf, dtype=torch.float64)
            want = torch.logsumexp(-d2[:, mask] / (2 * s ** 2), 1) if mask.any() else absent
            assert torch.allclose(got[:, c], want, rtol=1e-5, atol=1e-5), (s, c)


def test_noisy_oracle_draws_from_the_rates_independently_of_the_input():
    x, y = _blobs(4000, 5, k=3)
    rates = np.array([[0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.0, 0.5, 0.5]])
    oracle = cs.NoisyOracle(x, y, rates, seed=0)
    pred = predict(oracle, x).numpy()
    for c in range(3):
        got = np.bincount(pred[y.numpy() == c], minlength=3) / (y.numpy() == c).sum()
        assert np.abs(got - rates[c]).max() < 0.04
    assert predict(oracle, x.flip(0)).tolist() == pred[::-1].tolist()  # answers follow the input
    assert predict(cs.NoisyOracle(x, y, rates, seed=0), x).tolist() == pred.tolist()
    with pytest.raises(KeyError):
        oracle(x[:1] + 1.0)


def test_confusion_rates_and_median_nn_distance():
    rows = pd.DataFrame({"dataset": ["a"] * 4 + ["b"], "label": [0, 0, 0, 1, 0], "pred": [0, 1, 1, 1, 2],
                         "fitted": [True, True, False, True, True]})
    rates = cs.confusion_rates(rows, "a", n_classes=3)
    assert rates.tolist() == [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # class 2 unseen: identity
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0], [15.0]])
    assert cs.median_nn_distance(x) == pytest.approx(2.0)  # nearest: 1, 1, 2, 4, 8
    assert cs.median_nn_distance(x, sample=2) == pytest.approx(1.0)


def test_bandwidth_sweep_moves_from_the_1nn_rule_to_a_wide_kernel():
    data, zoo_rows = _toy_zoo(seeds=range(3))
    sweep = cs.bandwidth_sweep(data, zoo_rows, datasets=["toy"], factors=[0.05, 5.0], n_boot=100)
    assert sweep["factor"].tolist() == [0.05, 5.0]
    assert sweep.loc[0, "agree_pixel"] == pytest.approx(1.0) and sweep.loc[0, "kappa_pixel_1nn"] == pytest.approx(1.0)
    assert sweep.loc[1, "primary"] < sweep.loc[0, "primary"] and (sweep["low"] <= sweep["primary"]).all()


# --- the runs -------------------------------------------------------------------------------------

def test_h1_statistic_boundary_off_the_middle():
    s = ctl.h1_statistic(threshold_net(0.3), CORNERS, torch.tensor([0, 0, 1, 1]), n_pairs=40, grid=17)
    assert "per_path" not in s
    assert s["n_paths"] == 40
    assert s["share_flip"] == 1.0 and s["share_third_class"] == 0.0 and s["mean_n_flips"] == 1.0
    assert s["median_abs_first"] == pytest.approx(0.2, abs=1e-3)
    assert s["share_first_mid"] == 0.0
    ia, ib = segments.sample_pairs(np.array([0, 0, 1, 1]), n=40, kind="different", seed=ctl.H1_SEED)
    first = np.where(ia < 2, 0.3, 0.7)  # pairs from x0 = 0 to x0 = 1 flip at t = 0.3, the reverse at 0.7
    assert s["median_first"] == pytest.approx(np.median(first), abs=1e-3)


def test_h1_statistic_pairs_by_training_labels_not_by_class():
    # Labels across the boundary's direction: only pairs that differ in x0 cross it.
    labels = np.array([0, 1, 0, 1])
    s = ctl.h1_statistic(threshold_net(0.5), CORNERS, labels, n_pairs=60, grid=17)
    ia, ib = segments.sample_pairs(labels, n=60, kind="different", seed=1)
    x0 = CORNERS.flatten(1)[:, 0].numpy()
    assert (labels[ia] != labels[ib]).all()
    assert 0 < s["share_flip"] < 1
    assert s["share_flip"] == pytest.approx(np.mean(x0[ia] != x0[ib]))
    assert s["share_first_mid"] == 1.0 and s["median_abs_first"] == pytest.approx(0.0, abs=1e-3)


def test_agreement_runs_tables_the_models_in_the_order_given(monkeypatch):
    monkeypatch.setattr(agr, "load_split", lambda config, split: (X_TRAIN, Y_TRAIN))
    results = [_result(n_train=3, seed=seed, arch=arch, train_acc=0.5 if (arch, seed) == ("cnn", 1) else None)
               for arch in ("mlp", "cnn") for seed in (0, 1)]
    fitted, misfits = zoo.fitted(results)  # as zoo.load returns them: the misfit last
    assert [r.config.label for r in misfits] == ["cnn/mnist/seed1"]
    models = gen.in_grid_order(fitted[::-1] + misfits, ["mnist"], ["mlp", "cnn"], [0, 1])
    assert models == results  # the grid's order: data set, arch, seed
    agree, per_sample = agr.agreement_runs(models, {"mnist": _data()})
    assert agree[["arch", "seed"]].values.tolist() == [["mlp", 0], ["mlp", 1], ["cnn", 0], ["cnn", 1]]
    assert agree["fitted"].tolist() == [True, True, True, False]
    assert agree["epochs_trained"].tolist() == [2] * 4
    assert agree["correct"].tolist() == [pytest.approx(2 / 3)] * 4
    assert agree["agree_pixel"].tolist() == [pytest.approx(2 / 3)] * 4
    assert agree["agree_feature"].tolist() == [1.0] * 4
    assert len(per_sample) == 12 and per_sample["agree_pixel"].tolist() == EXPECTED["agree_pixel"] * 4
    assert per_sample["arch"].tolist() == ["mlp"] * 6 + ["cnn"] * 6
    assert per_sample["fitted"].tolist() == [True] * 9 + [False] * 3
    assert per_sample["pred"].tolist() == [0, 1, 0] * 4


def test_random_label_runs_rows_and_curves(monkeypatch):
    random_labels = torch.tensor([0, 1, 0, 1])
    monkeypatch.setattr(ctl, "load_split", lambda config, split: (CORNERS, torch.tensor([0, 0, 1, 1])))
    monkeypatch.setattr(ctl, "train", lambda config, device=None: _result(
        config.labels, n_train=config.n_train, t=0.3, seed=config.seed, arch=config.arch,
        train_labels=random_labels if config.labels == "random" else torch.tensor([0, 0, 1, 1]),
        train_acc=0.9 if (config.labels, config.seed) == ("random", 1) else None))
    data = {"mnist": agr.DataSet(CORNERS, torch.tensor([0, 0, 1, 1]), X_TEST, Y_TEST, torch.zeros(3).long(), 4)}
    table, curves = ctl.random_label_runs(["mnist"], ["mlp"], [0, 1], data, n_train=4, n_test=3, epochs=2,
                                          n_pairs=40, grid=17)
    assert table[["seed", "labels"]].values.tolist() == [[0, "true"], [0, "random"], [1, "true"], [1, "random"]]
    assert table["epochs"].tolist() == [zoo.EPOCHS["mlp"], 2, zoo.EPOCHS["mlp"], 2]
    assert table["train_acc"].tolist() == [0.99, 0.99, 0.991, 0.9]
    assert table["fitted"].tolist() == [True, True, True, False]
    true, rand = table[table.labels == "true"], table[table.labels == "random"]
    assert (true["share_flip"] == 1.0).all() and (true["median_abs_first"] - 0.2).abs().max() < 1e-3
    ia, ib = segments.sample_pairs(random_labels.numpy(), n=40, kind="different", seed=1)
    assert rand["share_flip"].tolist() == [pytest.approx(np.mean((ia < 2) != (ib < 2)))] * 2
    # Curves: random-label models only, train and test per epoch.
    assert len(curves) == 2 * 2 * 3 and set(curves["split"]) == {"train", "test"}
    assert curves.query("seed == 1 and split == 'test'")["accuracy"].tolist() == [0.1, 0.3, 0.61]


def test_width_runs_rows(monkeypatch):
    monkeypatch.setattr(ctl, "load_split", lambda config, split: (CORNERS, torch.tensor([0, 0, 1, 1])))
    seen = []

    def fake_train(config, device=None):
        seen.append(config.epochs)
        return _result(n_train=config.n_train, t=0.3, seed=config.seed, train_labels=torch.tensor([0, 0, 1, 1]),
                       width=dict(config.arch_kw)["width"],
                       train_acc=0.5 if dict(config.arch_kw)["width"] == 8 else None)
    monkeypatch.setattr(ctl, "train", fake_train)
    data = {"mnist": agr.DataSet(CORNERS, torch.tensor([0, 0, 1, 1]), X_TEST, Y_TEST, torch.zeros(3).long(), 4)}
    table = ctl.width_runs([8, 32], [0, 1], data, dataset="mnist", n_train=4, n_test=3, n_pairs=20, grid=17,
                           epochs=200)
    assert seen == [200] * 4
    assert table[["width", "seed"]].values.tolist() == [[8, 0], [8, 1], [32, 0], [32, 1]]
    assert table["fitted"].tolist() == [False, False, True, True]
    assert table["test_acc"].tolist() == [0.6, 0.61, 0.6, 0.61]
    assert (table["n_paths"] == 20).all() and (table["share_first_mid"] == 0.0).all()
    # Pixel labels come from the data set (all zeros) since n_train and labels match; predictions are 0, 1, 1.
    assert table["agree_pixel"].tolist() == [pytest.approx(1 / 3)] * 4


# --- the ledger entry -----------------------------------------------------------------------------

def _random_table() -> pd.DataFrame:
    return pd.DataFrame({"dataset": "mnist", "arch": "mlp", "seed": [0, 0, 1, 1, 2],
                         "labels": ["true", "random", "true", "random", "random"],
                         "fitted": [True, True, True, True, False],
                         "train_acc": [0.99, 1.0, 0.996, 0.99, 0.5], "test_acc": [0.85, 0.1, 0.8, 0.12, 0.3],
                         "median_abs_first": [0.1, 0.2, 0.12, 0.22, 0.24],
                         "share_first_mid": [0.5, 0.3, 0.4, 0.2, 0.1]})


def test_measurements_models_as_the_unit():
    rows = _three_strata(("copy", "independent", "independent"))
    m = h2.measurements(rows, _random_table(), n_boot=200)
    assert list(m) == ["shared_error_kappa_pixel_1nn", "shared_error_kappa_net_vs_net", "shared_error_share_pixel_1nn",
                       "shared_error_expected_pixel_1nn", "agreement_pixel_1nn", "agreement_pixel_floor",
                       "agreement_feature_1nn", "test_accuracy", "random_labels_train_acc",
                       "random_labels_test_acc_minus_chance", "random_labels_share_first_mid",
                       "true_labels_share_first_mid"]
    assert m["agreement_pixel_1nn"].n == 15 and m["agreement_pixel_1nn"].method.startswith("two-level")
    assert m["agreement_feature_1nn"].value == 1.0
    floor = m["agreement_pixel_floor"]
    assert floor.value < m["agreement_pixel_1nn"].value
    # Random labels: the fitted labelings only (seed 2 missed its target), minus chance, t across labelings.
    test = m["random_labels_test_acc_minus_chance"]
    values = np.array([0.1, 0.12]) - ctl.CHANCE
    half = sps.t.ppf(0.975, 1) * values.std(ddof=1) / np.sqrt(2)
    assert test.n == 2 and test.value == pytest.approx(0.01)
    assert (test.low, test.high) == (pytest.approx(0.01 - half), pytest.approx(0.01 + half))
    assert m["random_labels_train_acc"].value == pytest.approx(0.995)
    assert m["true_labels_share_first_mid"].value == pytest.approx(0.45)
    given = stats.Estimate(0.3, 0.2, 0.4, 15, "x")
    assert h2.measurements(rows, _random_table(), n_boot=100, net_pooled=given)[
        "shared_error_kappa_net_vs_net"] is given
    assert h2.measurements(rows, _random_table(), n_boot=100, raw_pooled=given)[
        "shared_error_kappa_pixel_1nn"] is given
    assert m["shared_error_kappa_pixel_1nn"].n == 15


def test_strata_table_rows():
    rows = _three_strata()
    rows.loc[(rows.arch == "cnn") & (rows.seed == 4), "fitted"] = False
    agree = rows.groupby(["dataset", "arch", "seed"], sort=False)[["correct", "agree_pixel", "agree_feature",
                                                                   "fitted"]].agg(
        {"correct": "mean", "agree_pixel": "mean", "agree_feature": "mean", "fitted": "first"}).reset_index()
    _, strata = kp.kappa_by_stratum(kp.error_groups(rows), n_boot=100)
    _, net = kp.kappa_by_stratum(kp.error_groups(rows, "net"), n_boot=100)
    table = h2.strata_table(agree, strata, net, {"mnist": 0.8, "fashion_mnist": 0.7})
    assert table["primary"].isna().all()  # no primary given
    primary = {"mnist/mlp": stats.Estimate(0.9, 0.8, 1.0, 5, "m")}
    with_primary = h2.strata_table(agree, strata, net, {"mnist": 0.8, "fashion_mnist": 0.7}, primary)
    assert with_primary.loc[0, ["primary", "primary_low", "primary_high"]].tolist() == [0.9, 0.8, 1.0]
    assert with_primary["primary"].isna().tolist() == [False, True, True]
    assert table["stratum"].tolist() == ["mnist/mlp", "mnist/cnn", "fashion_mnist/mlp"]
    assert table["models"].tolist() == [5, 5, 5] and table["fitted"].tolist() == [5, 4, 5]
    assert table.loc[0, "kappa_pixel_1nn"] == 1.0 and table.loc[0, "kappa_net_vs_net"] == 1.0
    assert table.loc[0, "agreement_floor"] == pytest.approx(table.loc[0, "test_acc"] + 0.8 - 1)
    assert table.loc[2, "pixel_1nn_acc"] == 0.7


def test_notes_text():
    widths = pd.DataFrame({"width": [8, 8, 32], "seed": [0, 1, 0], "fitted": [False, True, True],
                           "train_acc": [0.95, 0.99, 1.0], "test_acc": [0.6, 0.7, 0.9],
                           "share_first_mid": [0.3, 0.4, 0.45]})
    agree = pd.DataFrame({"dataset": "mnist", "arch": ["mlp"] * 5 + ["cnn"] * 5, "seed": list(range(5)) * 2,
                          "fitted": [True] * 9 + [False]})
    misfit = _result(seed=4, arch="cnn", train_acc=0.5)
    notes = h2.notes(agree, _random_table(), widths, [misfit], archs=["mlp", "cnn", "resnet"],
                     random_archs=["mlp"], random_datasets=["mnist"], random_n_train=500)
    assert notes == (
        "Excluded, not fitted: cnn/mnist/seed4 (train acc 0.500 < 0.99). "
        "Strata with fewer than 5 fitted models: mnist/cnn (4). "
        "Random labels (mlp on mnist, n_train=500, one labeling per seed; cnn, resnet left out of the "
        "random-label runs for the CPU budget): true: 2/2 fitted, train acc 0.993, test acc 0.825, median "
        "|t-0.5| 0.110, share in [0.4,0.6] 0.45; random: 2/3 fitted, train acc 0.830, test acc 0.173, median "
        "|t-0.5| 0.220, share in [0.4,0.6] 0.20. "
        "Width sweep: w=8: 1/2 fitted, train 0.970, test 0.650, share in [0.4,0.6] 0.35; w=32: 1/1 fitted, "
        "train 1.000, test 0.900, share in [0.4,0.6] 0.45.")
    notes = h2.notes(agree.assign(fitted=True), _random_table(), widths, [], archs=["mlp"],
                     random_archs=["mlp"], random_datasets=["mnist"], random_n_train=500)
    assert notes.startswith("Random labels (mlp on mnist, n_train=500, one labeling per seed): true:")
    sweep = pd.DataFrame({"factor": [0.25, 2.0], "test_acc": [0.81, 0.64], "primary": [1.384, 0.466],
                          "low": [1.29, 0.385], "high": [1.47, 0.546]})
    notes = h2.notes(agree.assign(fitted=True), _random_table(), widths, [], archs=["mlp"], random_archs=["mlp"],
                     random_datasets=["mnist"], random_n_train=500, bandwidths=sweep)
    assert notes.endswith("RBF kernel machine by bandwidth (in median nearest-neighbour distances; test accuracy, "
                          "primary): 0.25: 0.810, 1.38 [1.29, 1.47]; 2: 0.640, 0.47 [0.39, 0.55].")


def test_rule_is_registered_with_its_change():
    assert str(h2.RULE).startswith("shared_error_kappa_pixel_1nn_over_replicates > 0.5 (half the way from")
    assert str(h2.RULE).endswith("on the whole interval (bootstrap SE, t(models - 1)); null 0 ± 0.1; per (dataset, "
                                 "arch) stratum (family: Bonferroni over the claim's judged strata; pooled at 95%; at "
                                 "least 3 models) and pooled")
    assert h2.RULE.strata == ("dataset", "arch") and h2.RULE.primary == h2.PRIMARY
    assert (h2.RULE.null_value, h2.RULE.band, h2.RULE.ideal, h2.RULE.margin) == (0.0, 0.1, 1.0, 0.5)
    assert h2.RULE.changes[0].startswith("2026-12-01: was feature-space 1-NN agreement > 0.9")
    assert len(h2.RULE.changes) == 3 and h2.RULE.changes[1].startswith("2026-12-04: was the raw kappa > 0.5")


def test_write_results_writes_records(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    agree = pd.DataFrame({"dataset": ["mnist"], "arch": ["mlp"], "seed": [0], "correct": [0.5]})
    table = pd.DataFrame({"width": [8], "share_first_mid": [float("nan")]})
    path = res.write_results(agree, table, table, table, table, {"x": stats.Estimate(1.0, 0.5, 1.5, 2, "m")},
                             {"profile": "q"}, bandwidths=pd.DataFrame({"factor": [0.25], "primary": [1.3]}))
    results = json.loads(path.read_text())["results"]
    assert results["agreement"] == [{"dataset": "mnist", "arch": "mlp", "seed": 0, "correct": 0.5}]
    assert results["width_sweep"] == [{"width": 8, "share_first_mid": None}]
    assert set(results) == {"agreement", "strata", "model_kappas", "random_labels", "width_sweep", "controls",
                            "kernel_bandwidths", "measurements"}
    assert results["controls"] == [] and results["kernel_bandwidths"] == [{"factor": 0.25, "primary": 1.3}]
    assert results["measurements"]["x"]["value"] == 1.0


def test_the_package_exports_what_the_notebook_calls():
    script = Path(__file__).resolve().parent.parent / "notebooks" / f"{gen.NOTEBOOK}.py"
    code = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert set(re.findall(r"\bgeneralization\.([A-Za-z_]\w*)", code)) == set(gen.__all__) - {"NOTEBOOK"}
    assert all(hasattr(gen, name) for name in gen.__all__)
    assert set(re.findall(r"\bgeneralization\.h2\.([A-Za-z_]\w*)", code)) <= set(dir(h2))
    assert all(f'"{stem}"' in code for stem in h2.FIGURES) and h2.RULE.primary == h2.PRIMARY
