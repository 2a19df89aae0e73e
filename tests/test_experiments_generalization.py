"""Tests for halfway_utils.experiments.generalization (notebook 02, claim H2).

Hand-made two-feature models with a known boundary (class 1 where x0 > t), hand-placed
training and test points, and hand-computed answers; no training and no data sets (the
runs' ``train`` and ``load_split`` are replaced by fakes).
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
import torch
from torch import nn

from halfway_utils import zoo
from halfway_utils.experiments import generalization as gen
from halfway_utils.infra import params
from halfway_utils.methods import segments
from halfway_utils.models import Normalize, StagedNet
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
        "width_dataset", "width_seeds", "n_pairs"]
    good = {"profile": "quick", "datasets": ["mnist"], "archs": ["mlp"], "seeds": [0], "n_train": 2000,
            "n_test": None, "grid": 17, "n_boot": 100, "device": None, "random_datasets": ["mnist"],
            "random_archs": ["cnn"], "random_seeds": [1], "random_n_train": 500, "random_epochs": 60,
            "widths": [1, 100000], "width_dataset": "fashion_mnist", "width_seeds": [0], "n_pairs": 10}
    assert params.validate(good, gen.PARAMETERS) == good
    for name, bad in [("n_pairs", 9), ("n_pairs", 100001), ("random_epochs", 0), ("widths", [0]),
                      ("random_n_train", 60001), ("random_n_train", 9), ("width_dataset", "cifar"),
                      ("random_archs", ["vgg"]), ("random_seeds", [-1]), ("grid", 2), ("n_boot", 99)]:
        with pytest.raises(params.ParameterError, match=name):
            params.validate({**good, name: bad}, gen.PARAMETERS)


def test_nn_labels_is_the_1nn_rule_on_the_cpu():
    out = gen.nn_labels(X_TRAIN, Y_TRAIN, X_TEST)
    assert out.device.type == "cpu" and out.tolist() == [0, 0, 0]
    out = gen.nn_labels(torch.tensor([[0.0], [1.0], [0.2]]), Y_TRAIN, torch.tensor([[0.1], [0.65], [0.45]]))
    assert out.tolist() == [0, 1, 0]


def test_agreement_known_answers():
    ag = gen.agreement(threshold_net(0.5), X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    assert set(ag) == set(gen.AGREEMENT_KEYS)
    for key, want in EXPECTED.items():
        assert ag[key].dtype == np.float64
        assert ag[key].tolist() == want, key


def test_agreement_uses_given_pixel_labels():
    # All-ones "pixel" labels: agreement then follows the predictions (0, 1, 0).
    ag = gen.agreement(threshold_net(0.5), X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, pixel=torch.ones(3, dtype=torch.long))
    assert ag["agree_pixel"].tolist() == [0, 1, 0]
    assert ag["agree_feature"].tolist() == EXPECTED["agree_feature"]


def test_agreement_uses_the_models_training_labels():
    # Swapping the training labels turns every 1-NN label around: agreements flip, accuracy does not.
    ag = gen.agreement(threshold_net(0.5), X_TRAIN, 1 - Y_TRAIN, X_TEST, Y_TEST)
    assert ag["correct"].tolist() == EXPECTED["correct"]
    assert ag["agree_pixel"].tolist() == [0, 1, 0]
    assert ag["agree_feature"].tolist() == [0, 0, 0]
    assert ag["feature_nn_correct"].tolist() == [0, 0, 1]


def _result(labels: str = "true", n_train: int = 3, t: float = 0.5, train_labels=Y_TRAIN, seed: int = 0,
            arch: str = "mlp", dataset: str = "mnist", **kw) -> TrainResult:
    epochs = 2 if labels == "random" else None
    cfg = zoo.config(dataset, arch, seed, n_train=n_train, n_test=3, labels=labels, epochs=epochs, **kw)
    history = {"epoch": [1, 2], "train_acc": [0.5, 0.9 + seed / 100], "test_acc": [0.3, 0.6 + seed / 100]}
    return TrainResult(model=threshold_net(t), config=cfg, history=history, train_labels=train_labels)


def _data(n_train: int = 3, pixel: torch.Tensor | None = None) -> gen.DataSet:
    pix = gen.nn_labels(X_TRAIN, Y_TRAIN, X_TEST) if pixel is None else pixel
    return gen.DataSet(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, pix, n_train)


def test_model_agreement_reuses_pixel_labels_only_for_the_same_true_label_subset(monkeypatch):
    monkeypatch.setattr(gen, "load_split", lambda config, split: (X_TRAIN, Y_TRAIN))
    sentinel = torch.ones(3, dtype=torch.long)  # not the real pixel 1-NN labels (0, 0, 0)
    same = gen.model_agreement(_result("true", n_train=3), _data(3, sentinel))
    assert same["agree_pixel"].tolist() == [0, 1, 0]
    other_size = gen.model_agreement(_result("true", n_train=4), _data(3, sentinel))
    assert other_size["agree_pixel"].tolist() == EXPECTED["agree_pixel"]
    random = gen.model_agreement(_result("random", n_train=3), _data(3, sentinel))
    assert random["agree_pixel"].tolist() == EXPECTED["agree_pixel"]


def test_pixel_accuracy():
    assert gen.pixel_accuracy({"mnist": _data(), "fashion_mnist": _data(pixel=Y_TEST)}) == {
        "mnist": pytest.approx(1 / 3), "fashion_mnist": 1.0}


def test_h1_statistic_boundary_off_the_middle():
    s = gen.h1_statistic(threshold_net(0.3), CORNERS, torch.tensor([0, 0, 1, 1]), n_pairs=40, grid=17)
    assert "per_path" not in s
    assert s["n_paths"] == 40
    assert s["share_flip"] == 1.0 and s["share_third_class"] == 0.0 and s["mean_n_flips"] == 1.0
    assert s["median_abs_first"] == pytest.approx(0.2, abs=1e-3)
    assert s["share_first_mid"] == 0.0
    ia, ib = segments.sample_pairs(np.array([0, 0, 1, 1]), n=40, kind="different", seed=gen.H1_SEED)
    first = np.where(ia < 2, 0.3, 0.7)  # pairs from x0 = 0 to x0 = 1 flip at t = 0.3, the reverse at 0.7
    assert s["median_first"] == pytest.approx(np.median(first), abs=1e-3)


def test_h1_statistic_pairs_by_training_labels_not_by_class():
    # Labels across the boundary's direction: only pairs that differ in x0 cross it.
    labels = np.array([0, 1, 0, 1])
    s = gen.h1_statistic(threshold_net(0.5), CORNERS, labels, n_pairs=60, grid=17)
    ia, ib = segments.sample_pairs(labels, n=60, kind="different", seed=1)
    x0 = CORNERS.flatten(1)[:, 0].numpy()
    assert (labels[ia] != labels[ib]).all()
    assert 0 < s["share_flip"] < 1
    assert s["share_flip"] == pytest.approx(np.mean(x0[ia] != x0[ib]))
    assert s["share_first_mid"] == 1.0 and s["median_abs_first"] == pytest.approx(0.0, abs=1e-3)


def test_agreement_runs_tables(monkeypatch):
    monkeypatch.setattr(gen, "load_split", lambda config, split: (X_TRAIN, Y_TRAIN))
    monkeypatch.setattr(gen, "train", lambda config, device=None: _result(
        n_train=config.n_train, seed=config.seed, arch=config.arch, dataset=config.dataset))
    configs = zoo.grid(["mnist"], ["mlp", "cnn"], [0, 1], n_train=3, n_test=3)
    agree, per_sample = gen.agreement_runs(configs, {"mnist": _data()})
    assert agree[["arch", "seed"]].values.tolist() == [["mlp", 0], ["mlp", 1], ["cnn", 0], ["cnn", 1]]
    assert agree["correct"].tolist() == [pytest.approx(2 / 3)] * 4
    assert agree["agree_pixel"].tolist() == [pytest.approx(2 / 3)] * 4
    assert agree["agree_feature"].tolist() == [1.0] * 4
    assert len(per_sample) == 12 and per_sample["agree_pixel"].tolist() == EXPECTED["agree_pixel"] * 4
    assert per_sample["arch"].tolist() == ["mlp"] * 6 + ["cnn"] * 6


def test_random_label_runs_rows_and_curves(monkeypatch):
    random_labels = torch.tensor([0, 1, 0, 1])
    monkeypatch.setattr(gen, "load_split", lambda config, split: (CORNERS, torch.tensor([0, 0, 1, 1])))
    monkeypatch.setattr(gen, "train", lambda config, device=None: _result(
        config.labels, n_train=config.n_train, t=0.3, seed=config.seed, arch=config.arch,
        train_labels=random_labels if config.labels == "random" else torch.tensor([0, 0, 1, 1])))
    data = {"mnist": gen.DataSet(CORNERS, torch.tensor([0, 0, 1, 1]), X_TEST, Y_TEST, torch.zeros(3).long(), 4)}
    table, curves = gen.random_label_runs(["mnist"], ["mlp"], [0, 1], data, n_train=4, n_test=3, epochs=2,
                                          n_pairs=40, grid=17)
    assert table[["seed", "labels"]].values.tolist() == [[0, "true"], [0, "random"], [1, "true"], [1, "random"]]
    assert table["epochs"].tolist() == [zoo.EPOCHS["mlp"], 2, zoo.EPOCHS["mlp"], 2]
    assert table["train_acc"].tolist() == [0.9, 0.9, 0.91, 0.91]
    true, rand = table[table.labels == "true"], table[table.labels == "random"]
    assert (true["share_flip"] == 1.0).all() and (true["median_abs_first"] - 0.2).abs().max() < 1e-3
    ia, ib = segments.sample_pairs(random_labels.numpy(), n=40, kind="different", seed=1)
    assert rand["share_flip"].tolist() == [pytest.approx(np.mean((ia < 2) != (ib < 2)))] * 2
    # Curves: random-label models only, train and test per epoch.
    assert len(curves) == 2 * 2 * 2 and set(curves["split"]) == {"train", "test"}
    assert curves.query("seed == 1 and split == 'test'")["accuracy"].tolist() == [0.3, 0.61]


def test_width_runs_rows(monkeypatch):
    monkeypatch.setattr(gen, "load_split", lambda config, split: (CORNERS, torch.tensor([0, 0, 1, 1])))
    monkeypatch.setattr(gen, "train", lambda config, device=None: _result(
        n_train=config.n_train, t=0.3, seed=config.seed, train_labels=torch.tensor([0, 0, 1, 1]),
        width=dict(config.arch_kw)["width"]))
    data = {"mnist": gen.DataSet(CORNERS, torch.tensor([0, 0, 1, 1]), X_TEST, Y_TEST, torch.zeros(3).long(), 4)}
    table = gen.width_runs([8, 32], [0, 1], data, dataset="mnist", n_train=4, n_test=3, n_pairs=20, grid=17)
    assert table[["width", "seed"]].values.tolist() == [[8, 0], [8, 1], [32, 0], [32, 1]]
    assert table["test_acc"].tolist() == [0.6, 0.61, 0.6, 0.61]
    assert (table["n_paths"] == 20).all() and (table["share_first_mid"] == 0.0).all()
    # Pixel labels come from the data set (all zeros) since n_train and labels match; predictions are 0, 1, 1.
    assert table["agree_pixel"].tolist() == [pytest.approx(1 / 3)] * 4


def _random_table() -> pd.DataFrame:
    return pd.DataFrame({"labels": ["true", "random", "true", "random", "random"],
                         "train_acc": [0.9, 1.0, 0.8, 0.98, 0.99], "test_acc": [0.85, 0.1, 0.8, 0.12, 0.11],
                         "median_abs_first": [0.1, 0.2, 0.12, 0.22, 0.24],
                         "share_first_mid": [0.5, 0.3, 0.4, 0.2, 0.1]})


def test_claim_measurements_pool_pair_and_split():
    # Feature and pixel agreement both average 0.5, and every sample has the same gain of 0:
    # a paired bootstrap gives a zero-width interval, an unpaired one would not.
    per_sample = pd.DataFrame({"agree_feature": [1.0, 0.0] * 50, "agree_pixel": [1.0, 0.0] * 50,
                               "correct": [1.0] * 90 + [0.0] * 10})
    m = gen.claim_measurements(per_sample, _random_table(), n_boot=200)
    assert list(m) == ["agreement_feature_1nn", "agreement_pixel_1nn", "agreement_gain_feature_minus_pixel",
                       "test_accuracy", "random_labels_train_acc", "random_labels_test_acc",
                       "random_labels_share_first_mid", "true_labels_share_first_mid"]
    gain = m["agreement_gain_feature_minus_pixel"]
    assert (gain.value, gain.low, gain.high, gain.n) == (0.0, 0.0, 0.0, 100)
    assert m["agreement_feature_1nn"].value == 0.5 and m["agreement_feature_1nn"].low < 0.5
    assert m["test_accuracy"].value == pytest.approx(0.9) and m["test_accuracy"].method == "bootstrap"
    train = m["random_labels_train_acc"]
    values = np.array([1.0, 0.98, 0.99])
    half = sps.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert train.value == pytest.approx(0.99) and train.n == 3
    assert (train.low, train.high) == (pytest.approx(0.99 - half), pytest.approx(0.99 + half))
    assert m["random_labels_share_first_mid"].value == pytest.approx(0.2)
    assert m["true_labels_share_first_mid"].value == pytest.approx(0.45)
    assert m["true_labels_share_first_mid"].n == 2


def test_per_model_across_seeds_keys_and_values():
    agree = pd.DataFrame({"dataset": ["mnist"] * 2 + ["fashion_mnist"] * 2, "arch": ["mlp", "mlp", "cnn", "cnn"],
                          "seed": [0, 1, 0, 1], "correct": [0.9, 0.8, 0.7, 0.7],
                          "agree_pixel": [0.5, 0.7, 0.6, 0.6], "agree_feature": [1.0, 0.9, 0.8, 0.6]})
    out = gen.per_model_across_seeds(agree)
    assert list(out) == ["cnn/fashion_mnist", "mlp/mnist"]
    assert out["mlp/mnist"]["correct"].value == pytest.approx(0.85)
    assert out["cnn/fashion_mnist"]["agree_feature"].value == pytest.approx(0.7)
    assert out["cnn/fashion_mnist"]["agree_pixel"].low == pytest.approx(0.6)  # no spread across seeds


def test_control_notes_text():
    widths = pd.DataFrame({"width": [8, 8, 32], "seed": [0, 1, 0], "test_acc": [0.6, 0.7, 0.9],
                           "agree_feature": [0.5, 0.6, 0.95], "share_first_mid": [0.3, 0.4, 0.45]})
    notes = gen.control_notes(_random_table(), widths, archs=["mlp", "cnn", "resnet"], random_archs=["mlp"],
                              random_datasets=["mnist"], random_n_train=500, random_epochs=60)
    assert notes == (
        "Random labels (mlp on mnist, n_train=500, 60 epochs; cnn, resnet left out of the random-label runs "
        "for the CPU budget): random: train acc 0.990, test acc 0.110, median |t-0.5| 0.220, share in "
        "[0.4,0.6] 0.20; true: train acc 0.850, test acc 0.825, median |t-0.5| 0.110, share in [0.4,0.6] 0.45. "
        "Width sweep: w=8: test 0.650, agree_feature 0.550, share in [0.4,0.6] 0.35; w=32: test 0.900, "
        "agree_feature 0.950, share in [0.4,0.6] 0.45.")
    notes = gen.control_notes(_random_table(), widths, archs=["mlp"], random_archs=["mlp"],
                              random_datasets=["mnist"], random_n_train=500, random_epochs=60)
    assert notes.startswith("Random labels (mlp on mnist, n_train=500, 60 epochs): random:")


@pytest.mark.parametrize(("feature", "gain", "verdict"), [
    ((0.95, 0.92, 0.97), (0.05, 0.01, 0.08), "supported"),
    ((0.95, 0.92, 0.97), (-0.05, -0.08, -0.01), "not supported"),
    ((0.85, 0.80, 0.89), (0.05, 0.01, 0.08), "not supported"),
    ((0.90, 0.89, 0.91), (0.05, 0.01, 0.08), "inconclusive"),
])
def test_record_claim_rule_and_verdict(tmp_path, monkeypatch, feature, gain, verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    est = lambda v: gen.stats.Estimate(v[0], v[1], v[2], 10, "bootstrap")
    measurements = {"agreement_feature_1nn": est(feature), "agreement_gain_feature_minus_pixel": est(gain),
                    "test_accuracy": est((0.5, 0.0, 1.0))}
    claim = gen.record_claim(measurements, figures=["figures/02_agreement.png"], parameters={"profile": "quick"},
                             notes="n")
    assert claim.verdict == verdict
    assert claim.rule == ("(agreement_feature_1nn > 0.9) and (agreement_gain_feature_minus_pixel > 0) "
                          "on the 95% intervals")
    stored = json.loads((tmp_path / "results" / "claims" / "H2.json").read_text())
    assert stored["verdict"] == verdict and stored["notebook"] == "02_generalization"
    assert stored["figures"] == ["02_agreement.png"] and stored["statement"] == gen.STATEMENT


def test_save_run_writes_records(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    agree = pd.DataFrame({"dataset": ["mnist"], "arch": ["mlp"], "seed": [0], "correct": [0.5]})
    table = pd.DataFrame({"width": [8], "share_first_mid": [float("nan")]})
    path = gen.save_run(agree, {}, table, table, {"x": gen.stats.Estimate(1.0, 0.5, 1.5, 2, "m")}, {"profile": "q"})
    results = json.loads(path.read_text())["results"]
    assert results["agreement"] == [{"dataset": "mnist", "arch": "mlp", "seed": 0, "correct": 0.5}]
    assert results["width_sweep"] == [{"width": 8, "share_first_mid": None}]
    assert results["measurements"]["x"]["value"] == 1.0
