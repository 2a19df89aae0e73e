"""Tests of halfway_utils.experiments.boundaries (notebook 01, claim H1) on hand-made inputs.

The models are one linear layer on 1x1x2 inputs whose boundaries are known exactly, so each
flip point, share and zone below is computed by hand. The known-answer tests of the H1 rule
feed it synthetic flips where the claim is true (a bisector against uniform flips) and false
(uniform flips, or the untrained network itself) and check the verdict of each stratum; the
controls (kernel machine, 1-NN, favoured 1-NN) are scanned on a small Gaussian data set of four
classes against random linear "untrained" networks and must read as built.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from halfway_utils import zoo
from halfway_utils.evidence import claims
from halfway_utils.evidence.claims import INCONCLUSIVE, NO_EFFECT, SUPPORTED, WEAKER
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments import boundaries as bd
from halfway_utils.experiments.boundaries import controls as ct
from halfway_utils.experiments.boundaries import figures as fg
from halfway_utils.experiments.boundaries import h1, morph, results
from halfway_utils.experiments.boundaries import history as hist
from halfway_utils.experiments.boundaries import pairs as pr
from halfway_utils.experiments.boundaries import scan as sc
from halfway_utils.infra.params import ParameterError, validate
from halfway_utils.train import train

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


def constant() -> nn.Module:
    """Class 0 everywhere (an untrained network that never flips)."""
    return linear([[0.0, 0.0], [0.0, 0.0]], [1.0, 0.0])


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
    out = {"kind": kind, "first_flip": first, "last_flip": first, "abs_first": a, "has_flip": has.astype(float),
           "first_mid": ((first >= 0.4) & (first <= 0.6)).astype(float), "third_class": 0.0,
           "path": np.arange(len(a)), "distance": 1.0}
    return pd.DataFrame({**out, **cols})


def flips_frame(first, last, **tags) -> pd.DataFrame:
    """A per-path frame of the claim's kind from first and last flips (NaN: no flip)."""
    first, last = np.asarray(first, dtype=float), np.asarray(last, dtype=float)
    has = np.isfinite(first)
    return pd.DataFrame({"kind": CLAIM, "first_flip": first, "last_flip": last, "abs_first": np.abs(first - 0.5),
                         "first_mid": ((first >= 0.4) & (first <= 0.6)).astype(float),
                         "has_flip": has.astype(float), "third_class": 0.0, "path": np.arange(len(first)),
                         "distance": np.linspace(1, 2, len(first)), **tags})


def synthetic_scan(trained, untrained, nearest=None) -> sc.ZooScan:
    """A ZooScan from flips: ``trained`` / ``untrained`` map (dataset, arch, seed) -> (first, last)."""
    paths = pd.concat([flips_frame(*fl, dataset=d, arch=a, seed=s) for (d, a, s), fl in trained.items()],
                      ignore_index=True)
    nulls = pd.concat([flips_frame(*fl, dataset=d, arch=a, seed=s) for (d, a, s), fl in untrained.items()],
                      ignore_index=True)
    n = {d: len(fl[0]) for (d, _, _), fl in trained.items()}
    nearest = nearest or {d: (np.full(k, 0.5), np.full(k, 0.5)) for d, k in n.items()}
    ref = pd.concat([flips_frame(*fl, dataset=d) for d, fl in nearest.items()], ignore_index=True)
    return sc.ZooScan([], pd.DataFrame(), paths, {}, nulls, ref, [])


def uniform_flips(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, 1, n)
    return t, t


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    torch.manual_seed(0)


# --- parameters and pairs ---------------------------------------------------------------------

GOOD = {"profile": "quick", "datasets": ["mnist", "fashion_mnist"], "archs": ["mlp", "cnn", "resnet"],
        "seeds": [0, 1, 2, 3, 4], "n_train": 1000, "n_test": 1000, "n_pairs": 120,
        "n_control_pairs": 50, "n_control_paths": 120, "grid": 17, "history_arch": "mlp", "history_dataset": "mnist",
        "history_epochs": [0, 1, 2, 4, 6, 10],
        "n_boot": 1000, "device": None}


def test_parameters_are_the_notebooks_rules():
    assert set(bd.PARAMETERS) == set(GOOD)
    assert validate(GOOD, bd.PARAMETERS) == GOOD
    assert validate({**GOOD, "n_pairs": 10, "history_epochs": [1000], "n_train": None}, bd.PARAMETERS)
    for bad in ({"n_pairs": 9}, {"n_pairs": 100001}, {"n_control_pairs": 9}, {"history_epochs": [1001]},
                {"history_epochs": [-1]}, {"history_arch": "vit"}, {"history_dataset": "cifar"}, {"grid": 2},
                {"n_boot": 99}, {"n_test": 10001}, {"n_train": 60001}):
        with pytest.raises(ParameterError):
            validate({**GOOD, **bad}, bd.PARAMETERS)


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
    fewer = bd.draw_pairs(split, 50, 20)
    assert [len(fewer[k][2]) for k in fewer] == [50, 20, 20]
    assert np.array_equal(fewer[CLAIM][2], pairs[CLAIM][2])  # the claim's pairs do not depend on n_control


def test_load_sets_uses_one_split_per_data_set(monkeypatch):
    calls = []

    def fake_split(cfg, split):
        calls.append((cfg.dataset, cfg.arch, cfg.n_train, cfg.n_test, cfg.data_seed, split))
        return torch.full((2, 1, 1, 2), float(len(calls))), torch.tensor([0, 1])

    monkeypatch.setattr(pr, "load_split", fake_split)
    sets = bd.load_sets(["mnist", "fashion_mnist"], "cnn", n_train=20, n_test=10)
    assert calls == [("mnist", "cnn", 20, 10, 0, "train"), ("mnist", "cnn", 20, 10, 0, "test"),
                     ("fashion_mnist", "cnn", 20, 10, 0, "train"), ("fashion_mnist", "cnn", 20, 10, 0, "test")]
    assert sets["fashion_mnist"]["test"][0][0, 0, 0, 0].item() == 4.0


# --- the symmetric statistic and the reference classifiers ------------------------------------

def test_flip_zone_is_symmetric_and_counts_paths_without_flip():
    first = np.array([0.5, 0.2, 0.45, np.nan, 0.1])
    last = np.array([0.5, 0.8, 0.7, np.nan, 0.3])
    np.testing.assert_allclose(pr.flip_zone(first, last), [0.0, 0.3, 0.2, 0.5, 0.4])
    np.testing.assert_allclose(pr.flip_zone(first, last, no_flip=0.25)[3], 0.25)
    # Swapping a and b maps t -> 1 - t and the first flip to the last: the zone does not move.
    np.testing.assert_allclose(pr.flip_zone(1 - last, 1 - first), pr.flip_zone(first, last))
    np.testing.assert_allclose(pr.flip_mid(first, last), [0.5, 0.5, 0.575, np.nan, 0.2])
    assert pr.NO_FLIP_ZONE == 0.5 and pr.UNIFORM_ZONE == pytest.approx(np.mean(np.abs(np.linspace(0, 1, 100001)
                                                                                      - 0.5)), abs=1e-4)


def test_the_null_is_the_epoch_zero_checkpoint():
    for arch in ("mlp", "resnet"):
        config = zoo.config("mnist", arch, 3, n_train=20, n_test=20, epochs=1)
        start = train(config, checkpoints=[0], use_cache=False, device="cpu").model_at(0).state_dict()
        state = torch.get_rng_state()
        net = zoo.untrained(config, "cpu")
        assert torch.equal(torch.get_rng_state(), state)  # a forked RNG: no later draw changes
        assert not net.training
        assert all(torch.equal(start[k], v) for k, v in net.state_dict().items())


# --- scanning ---------------------------------------------------------------------------------

def test_scan_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    with sc.scan_threads(1):
        assert torch.get_num_threads() == 1
    with sc.scan_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), sc.scan_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == before



def test_scan_model_rows_and_paths_from_known_boundaries():
    # Boundary at x0 = 0.5. Pairs: (0,0)->(1,0.75): t = 0.5; (0.2,0)->(1,0): t = 0.3/0.8 = 0.375;
    # (1,0)->(0,0): t = 0.5; (0,0)->(0.4,0): no flip.
    x = points((0, 0), (1, 0.75), (0.2, 0), (1, 0), (0.4, 0))
    split = {"train": (x, torch.zeros(5, dtype=torch.long))}
    pairs = {CLAIM: ("train", "train", np.array([0, 2, 3, 0]), np.array([1, 3, 0, 4]))}
    rows, frames = sc.scan_model(threshold(0.5), split, pairs, grid=17,
                                 key={"dataset": "mnist", "arch": "mlp", "seed": 3}, test_acc=0.9)
    (row,), (paths,) = rows, frames
    assert list(row)[:5] == ["dataset", "arch", "seed", "kind", "test_acc"] and "per_path" not in row
    assert (row["dataset"], row["arch"], row["seed"], row["kind"], row["test_acc"]) == ("mnist", "mlp", 3, CLAIM, 0.9)
    assert row["n_paths"] == 4 and row["share_flip"] == 0.75 and row["share_third_class"] == 0.0
    assert row["share_first_mid"] == pytest.approx(2 / 3)
    assert row["median_abs_first"] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(paths["first_flip"][:3], [0.5, 0.375, 0.5], atol=1e-3)
    assert np.isnan(paths["first_flip"][3]) and paths["has_flip"].tolist() == [1, 1, 1, 0]
    np.testing.assert_allclose(paths["distance"], [1.25, 0.8, 1.0, 0.4], rtol=1e-6)
    assert paths["path"].tolist() == [0, 1, 2, 3]
    assert (paths["kind"] == CLAIM).all() and (paths["seed"] == 3).all()


def test_scan_model_sees_a_third_class_on_the_way():
    # (0,0)->(1,0) crosses class 2 between x0 = 0.25 and 0.75: two flips, first 0.25, last 0.75.
    x = points((0, 0), (1, 0))
    split = {"train": (x, torch.tensor([0, 1])), "test": (x, torch.tensor([0, 1]))}
    pairs = {TEST: ("test", "train", np.array([0]), np.array([1]))}
    rows, frames = sc.scan_model(three_bands(), split, pairs, grid=17, key={}, test_acc=1.0)
    np.testing.assert_allclose(frames[0][["first_flip", "last_flip"]].to_numpy()[0], [0.25, 0.75], atol=1e-3)
    assert frames[0]["n_flips"][0] == 2 and frames[0]["third_class"][0] == 1.0
    assert pr.flip_zone(frames[0]["first_flip"], frames[0]["last_flip"])[0] == pytest.approx(0.25, abs=1e-3)


def fake_zoo(monkeypatch, thresholds, untrained_nets, misfit=()):
    """``(fitted, misfits)`` as zoo.load splits them: each (dataset, arch, seed) of ``thresholds`` a result
    with its threshold model (``misfit`` ones not fitted); zoo.untrained gives ``untrained_nets[seed]``."""
    results = [SimpleNamespace(model=net, config=zoo.config(*key, n_train=80, n_test=80), fitted=key not in misfit,
                               final={"test_acc": 0.1 * (key[2] + 1), "train_acc": 0.5})
               for key, net in thresholds.items()]
    monkeypatch.setattr(zoo, "untrained", lambda config, device=None: untrained_nets[config.seed])
    return zoo.fitted(results)


def test_scan_models_loops_every_fitted_model_over_every_kind(monkeypatch):
    fitted, misfits = fake_zoo(monkeypatch, {("mnist", "mlp", s): threshold(c) for s, c in enumerate((0.5, 0.3, 0.6))},
                               {0: threshold(0.8), 1: constant(), 2: threshold(0.1)}, misfit={("mnist", "mlp", 2)})
    x = points((0, 0), (1, 0), (0.9, 0))
    split = {"train": (x, torch.tensor([0, 1, 1]))}
    pairs = {"mnist": {CLAIM: ("train", "train", np.array([0, 0]), np.array([1, 2])),
                       SAME: ("train", "train", np.array([1]), np.array([2]))}}
    scan = sc.scan_models(fitted, misfits, {"mnist": split}, pairs, grid=9)
    assert list(scan.models) == [("mnist", "mlp", 0), ("mnist", "mlp", 1)]
    assert [r.config.label for r in scan.misfits] == ["mlp/mnist/seed2"]
    assert [(r["seed"], r["kind"]) for r in scan.rows] == [(0, CLAIM), (0, SAME), (1, CLAIM), (1, SAME)]
    assert scan.table["test_acc"].tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2])
    assert len(scan.paths) == 6 and scan.paths.index.tolist() == list(range(6))
    # Seed 1's boundary at 0.3: (0,0)->(1,0) flips at 0.3, (0,0)->(0.9,0) at 1/3.
    seed1 = scan.paths[(scan.paths["seed"] == 1) & (scan.paths["kind"] == CLAIM)]
    np.testing.assert_allclose(seed1["first_flip"], [0.3, 1 / 3], atol=1e-3)
    assert scan.paths[scan.paths["kind"] == SAME]["has_flip"].tolist() == [0.0, 0.0]
    # The untrained networks scan the claim's pairs only: seed 0's at 0.8, seed 1's never flips.
    assert (scan.untrained["kind"] == CLAIM).all() and scan.untrained["seed"].tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(scan.untrained["first_flip"][:2], [0.8, 0.8 / 0.9], atol=1e-3)
    assert scan.untrained["has_flip"].tolist() == [1.0, 1.0, 0.0, 0.0]
    # The 1-NN rule of {(0,0): 0, (1,0): 1, (0.9,0): 1}: bisectors at 0.5 and at 0.45 / 0.9 = 0.5.
    assert scan.nearest["dataset"].tolist() == ["mnist", "mnist"]
    np.testing.assert_allclose(scan.nearest["first_flip"], [0.45, 0.5], atol=1e-3)


def test_claim_paths_pairs_each_path_with_its_untrained_net_and_the_one_nn_rule():
    scan = synthetic_scan({("mnist", "cnn", 0): ([0.5, 0.2, np.nan], [0.5, 0.8, np.nan]),
                           ("mnist", "cnn", 1): ([0.4, 0.5, 0.6], [0.4, 0.5, 0.6])},
                          {("mnist", "cnn", 0): ([0.1, np.nan, 0.3], [0.1, np.nan, 0.9]),
                           ("mnist", "cnn", 1): ([np.nan] * 3, [np.nan] * 3)},
                          {"mnist": ([0.5, 0.45, np.nan], [0.5, 0.55, np.nan])})
    claim = sc.claim_paths(scan)
    assert len(claim) == 6 and claim[sc.KEYS].duplicated().sum() == 0
    np.testing.assert_allclose(claim["zone"], [0.0, 0.3, 0.5, 0.1, 0.0, 0.1])
    np.testing.assert_allclose(claim["zone_untrained"], [0.4, 0.25, 0.4, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(claim["gain"], [0.4, -0.05, -0.1, 0.15, 0.25, 0.15])
    np.testing.assert_allclose(claim["zone_1nn"], [0.0, 0.05, 0.5, 0.0, 0.05, 0.5])
    np.testing.assert_allclose(claim["to_1nn"], [0.0, 0.0, np.nan, 0.1, 0.0, np.nan])
    assert claim["untrained_flip"].tolist() == [1, 0, 1, 0, 0, 0]


def test_model_means_averages_seeds_per_kind_data_set_and_arch():
    table = pd.DataFrame({"kind": [CLAIM, CLAIM, SAME], "dataset": "mnist", "arch": "mlp", "seed": [0, 1, 0],
                          "share_flip": [1.0, 0.5, 0.0], "median_abs_first": [0.1, 0.2, np.nan],
                          "share_first_mid": [0.5, 0.25, np.nan], "share_third_class": [0.0, 1.0, 0.0],
                          "mean_n_flips": [1.0, 2.0, 0.0]})
    means = sc.model_means(table)
    assert list(means.columns) == sc.SUMMARY_COLUMNS
    assert means.loc[(CLAIM, "mnist", "mlp")].tolist() == [0.75, 0.15, 0.375, 0.5, 1.5]


# --- intervals over models and the H1 rule: known answers --------------------------------------

STRATA = [("mnist", "mlp"), ("mnist", "resnet"), ("fashion_mnist", "cnn")]


def known(trained_maker, untrained_maker, n=300, seeds=range(5)) -> pd.DataFrame:
    """claim_paths of a synthetic zoo: every stratum of STRATA, five models, ``n`` paths each."""
    rng = np.random.default_rng(7)
    keys = [(d, a, s) for d, a in STRATA for s in seeds]
    trained = {k: trained_maker(rng, n, k) for k in keys}
    untrained = {k: untrained_maker(rng, n, k, trained[k]) for k in keys}
    return sc.claim_paths(synthetic_scan(trained, untrained))


def decide(claim: pd.DataFrame, tmp_path, monkeypatch) -> claims.Claim:
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    pooled, strata = h1.primary(claim, n_boot=300)
    return h1.record(pooled, strata, {"zone_trained": Estimate(0.1, 0.0, 0.2, 3, "b")},
                     replicates=h1.n_models(claim), figures=["figures/01_a.png"],
                     parameters={"profile": "quick"}, notes="n")


def test_uniform_flips_against_uniform_flips_are_no_effect(tmp_path, monkeypatch):
    # 1,000 paths: a stratum's t interval over five models (t(4), issue 21) must fit inside the band of 0.1.
    claim = known(lambda rng, n, k: uniform_flips(rng, n), lambda rng, n, k, tr: uniform_flips(rng, n), n=1000)
    result = decide(claim, tmp_path, monkeypatch)
    assert result.verdict == NO_EFFECT
    assert [row["verdict"] for row in result.strata] == [NO_EFFECT] * 3
    assert abs(result.measurements["fraction_to_bisector"]["value"]) < 0.08


def test_the_untrained_network_itself_is_not_supported(tmp_path, monkeypatch):
    # A "trained" model identical to its untrained network: the gain is 0 on every path, even
    # where the flips are all at 0.5 (a null that is already halfway cannot be beaten).
    claim = known(lambda rng, n, k: (np.full(n, 0.5), np.full(n, 0.5)) if k[1] == "mlp" else uniform_flips(rng, n),
                  lambda rng, n, k, tr: tr)
    assert (claim["gain"] == 0).all()
    result = decide(claim, tmp_path, monkeypatch)
    assert result.verdict == NO_EFFECT
    # Where the untrained network already sits at the bisector (mlp: zone 0 = the 1-NN's) the fraction is
    # undefined: that stratum cannot be decided, the others read no effect.
    assert [row["verdict"] for row in result.strata] == [INCONCLUSIVE, NO_EFFECT, NO_EFFECT]


def test_a_trained_net_without_flips_against_an_untrained_one_without_flips_is_no_effect(tmp_path, monkeypatch):
    # Neither flips: trained 0.5 (no boundary) against the null's 0.25 credit: a gain of -0.25.
    none = (lambda rng, n, k: (np.full(n, np.nan), np.full(n, np.nan)))
    claim = known(none, lambda rng, n, k, tr: tr)
    assert claim["gain"].tolist() == pytest.approx([-0.25] * len(claim))
    result = decide(claim, tmp_path, monkeypatch)  # -0.25 / (0.25 - 0): a fraction of -1, the wrong side
    assert result.verdict == NO_EFFECT and result.measurements["fraction_to_bisector"]["value"] == pytest.approx(-1)


def test_a_bisector_against_uniform_flips_is_supported(tmp_path, monkeypatch):
    bisector = (lambda rng, n, k: (np.full(n, 0.5), np.full(n, 0.5)))
    claim = known(bisector, lambda rng, n, k, tr: uniform_flips(rng, n))
    result = decide(claim, tmp_path, monkeypatch)
    assert result.verdict == SUPPORTED and [row["verdict"] for row in result.strata] == [SUPPORTED] * 3
    assert result.measurements["fraction_to_bisector"]["value"] == pytest.approx(1.0)  # the bisector's own zone
    # Against an untrained network that never flips, the bisector gains exactly the 0.25 credit.
    claim = known(bisector, lambda rng, n, k, tr: (np.full(n, np.nan), np.full(n, np.nan)))
    assert claim["gain"].tolist() == pytest.approx([0.25] * len(claim))
    assert decide(claim, tmp_path, monkeypatch).verdict == SUPPORTED


def test_each_stratum_is_decided_on_its_own(tmp_path, monkeypatch):
    # mnist/mlp: a bisector; mnist/resnet: a detour a -> c -> b at 0.2 and 0.8 (zone 0.3, worse than
    # uniform); fashion_mnist/cnn: models that disagree (fractions 1 or 0 by seed): a wide interval.
    def trained(rng, n, key):
        d, arch, seed = key
        if arch == "mlp" or (arch == "cnn" and seed % 2 == 0):
            return np.full(n, 0.5), np.full(n, 0.5)
        if arch == "resnet":
            return np.full(n, 0.2), np.full(n, 0.8)
        return uniform_flips(rng, n)

    claim = known(trained, lambda rng, n, k, tr: uniform_flips(rng, n) if k[1] != "cnn" or k[2] % 2 == 0 else tr)
    result = decide(claim, tmp_path, monkeypatch)
    verdicts = {row["stratum"]: row["verdict"] for row in result.strata}
    assert verdicts == {"mnist/mlp": SUPPORTED, "mnist/resnet": NO_EFFECT,
                        "fashion_mnist/cnn": INCONCLUSIVE}
    assert claims.by_stratum(result.strata) == ("supported for mnist/mlp; no effect for mnist/resnet; "
                                                "inconclusive for fashion_mnist/cnn")
    assert all(row["n"] == 5 for row in result.strata)


@pytest.mark.parametrize(("trained", "verdict"), [("bisector", SUPPORTED), ("untrained", NO_EFFECT)])
def test_known_answers_through_the_whole_scan(monkeypatch, trained, verdict):
    # Pairs a = (0.5 - d, y), b = (0.5 + d, y'): a boundary at x0 = 0.5 is their bisector (flip at t = 0.5).
    # The untrained networks are thresholds at 0.1 ... 0.9 (flips anywhere) or constant (no flip).
    rng = np.random.default_rng(3)
    d, y = rng.uniform(0.05, 0.5, 40), rng.uniform(0, 1, (40, 2))
    x = points(*zip(0.5 - d, y[:, 0]), *zip(0.5 + d, y[:, 1]))
    split = {"train": (x, torch.tensor([0] * 40 + [1] * 40))}
    pairs = {"mnist": {CLAIM: ("train", "train", np.arange(40), np.arange(40, 80))}}
    nulls = {s: constant() if s == 4 else threshold(0.1 + 0.2 * s) for s in range(5)}
    nets = {("mnist", "mlp", s): threshold(0.5) if trained == "bisector" else nulls[s] for s in range(5)}
    fitted, misfits = fake_zoo(monkeypatch, nets, nulls)
    monkeypatch.setattr(sc, "scan_nearest", lambda sets, pairs, grid, device=None: flips_frame(
        np.full(40, 0.5), np.full(40, 0.5), dataset="mnist"))
    scan = sc.scan_models(fitted, misfits, {"mnist": split}, pairs, grid=17)
    pooled, strata = h1.primary(sc.claim_paths(scan), n_boot=300)
    assert h1.RULE.judge(pooled) == h1.RULE.judge(strata["mnist/mlp"]) == verdict
    if trained == "bisector":
        assert sc.claim_paths(scan)["zone"].max() < 1e-3
    else:  # where the copy of the null never flips it gets 0.5 against the null's 0.25: it never gains
        assert sc.claim_paths(scan)["gain"].max() < 1e-3


def test_primary_resamples_models_not_paths():
    # Five models whose fractions are -0.4, 0.0, 0.4, 0.8, 1.2, with no spread within a model:
    # the interval comes from the models alone and is wide, however many paths each has.
    claim = pd.DataFrame({"dataset": "mnist", "arch": "mlp", "seed": np.repeat(range(5), 1000),
                          "path": np.tile(range(1000), 5), "closed": np.repeat([-0.1, 0.0, 0.1, 0.2, 0.3], 1000),
                          "gap": 0.25})
    pooled, strata = h1.primary(claim, n_boot=500)
    assert list(strata) == ["mnist/mlp"] and pooled.n == 5 and strata["mnist/mlp"].n == 5
    assert pooled.value == pytest.approx(0.4) and pooled.low < 0.0 and pooled.high > 0.8
    assert h1.RULE.judge(pooled) == INCONCLUSIVE


def test_the_ledger_entry_has_the_rule_and_its_history(tmp_path, monkeypatch):
    claim = known(lambda rng, n, k: (np.full(n, 0.5), np.full(n, 0.5)), lambda rng, n, k, tr: uniform_flips(rng, n),
                  n=50)
    decide(claim, tmp_path, monkeypatch)
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    assert stored["primary"] == "fraction_to_bisector" and stored["primary"] in stored["measurements"]
    assert stored["margin"] == 0.5 and "untrained" in stored["null"] and stored["replicates"] == 15
    assert (stored["null_value"], stored["band"], stored["ideal"]) == (0.0, 0.1, 1.0)
    assert "halfway" in stored["margin_reason"] and "1-NN" in stored["scale"] and stored["controls"] == []
    assert len(stored["rule_changes"]) == 3 and stored["rule_changes"][2].startswith("2026-12-04: intervals")
    assert [row["stratum"] for row in stored["strata"]] == ["mnist/mlp", "mnist/resnet", "fashion_mnist/cnn"]
    assert stored["rule_changes"] and stored["rule_changes"][0].startswith("2026-12-01: was (median |first flip")
    assert stored["notebook"] == "01_halfway_boundaries" and stored["statement"] == h1.STATEMENT
    assert stored["figures"] == ["01_a.png"] and h1.RULE.strata == ("dataset", "arch")


# --- the primary's fraction, its range and its controls -----------------------------------------

def test_fraction_means_per_model_ratios_and_resamples_models_then_paths():
    models = [(np.array([0.1, 0.3]), np.array([0.2, 0.2])), (np.array([0.0, 0.0]), np.array([0.25, 0.25])),
              (np.array([0.1, 0.1]), np.array([0.0, 0.0]))]  # the third: null at the ideal, undefined
    est = h1.fraction(models, n_boot=300)
    assert est.value == pytest.approx((1.0 + 0.0) / 2) and est.n == 2 and "shared paths jointly" in est.method
    assert est.low <= est.value <= est.high
    assert np.isnan(h1.fraction(models[2:], n_boot=100).value)
    one = h1.fraction(models[:1], n_boot=100)
    assert one.value == pytest.approx(1.0) and np.isnan(one.low)
    # Paths vary within a model: the interval is not a point even when models agree.
    rng = np.random.default_rng(0)
    noisy = [(rng.normal(0.1, 0.1, 50), np.full(50, 0.25)) for _ in range(5)]
    est = h1.fraction(noisy, n_boot=300)
    assert est.high - est.low > 0.05 and est.low < 0.4 < est.high


def test_the_primary_can_land_on_each_side(tmp_path, monkeypatch):
    # Three constructed zoos on the same nulls (uniform flips) and bisector (zone 0): trained flips at the middle
    # (1: supported), a quarter of the way from the middle... (zone 0.15: a fraction 0.4, weaker than claimed),
    # and a fifth of the way from one end (zone 0.3: below the null, no effect).
    out = {}
    for zone in (0.0, 0.15, 0.3):
        claim = known(lambda rng, n, k, z=zone: (np.full(n, 0.5 - z), np.full(n, 0.5 - z)),
                      lambda rng, n, k, tr: uniform_flips(rng, n))
        out[zone] = decide(claim, tmp_path, monkeypatch)
    assert [out[z].verdict for z in (0.0, 0.15, 0.3)] == [SUPPORTED, WEAKER, NO_EFFECT]
    assert out[0.15].measurements["fraction_to_bisector"]["value"] == pytest.approx(0.4, abs=0.05)
    # The bound the notebook prints: on these paths the primary runs from about -1 to 1.
    rng = np.random.default_rng(1)
    claim = known(lambda r, n, k: uniform_flips(rng, n), lambda r, n, k, tr: uniform_flips(rng, n), n=200)
    table = h1.attainable(claim)
    assert (table["lowest"] < -0.8).all() and (table["highest"] > 0.9).all()
    assert (table["lowest"] < h1.RULE.null_value - h1.RULE.band).all() and (table["highest"] > h1.RULE.margin).all()


def test_favoured_nearest_neighbor_and_kernel_machine_put_known_boundaries():
    x = points((0, 0), (1, 0))
    y = torch.tensor([0, 1])
    split = {"train": (x, y)}
    pairs = {CLAIM: ("train", "train", np.array([0, 1]), np.array([1, 0]))}
    for model, flips in ((ct.FavouredNearestNeighbor(x, y, 4.0).eval(), [0.8, 0.2]),
                         (ct.FavouredNearestNeighbor(x, y, 1.0).eval(), [0.5, 0.5]),
                         (ct.KernelMachine(x, y, 0.3).eval(), [0.5, 0.5])):
        _, (frame_,) = sc.scan_model(model, split, pairs, grid=17, key={}, test_acc=1.0)
        np.testing.assert_allclose(frame_["first_flip"], flips, atol=1e-3)
        assert (model(x).argmax(1) == y).all()  # both fit their training samples
    # A third sample of class 0 near the middle pulls the kernel machine's boundary toward b; the favoured
    # rule never lets a third class win against the two nearest.
    x3, y3 = points((0, 0), (1, 0), (0.45, 0.3)), torch.tensor([0, 1, 0])
    assert ct.KernelMachine(x3, y3, 0.3)(points((0.5, 0)))[0].argmax() == 0
    with pytest.raises(ValueError):
        ct.FavouredNearestNeighbor(x, y, 0.5)
    assert ct.bandwidth(points((0, 0), (3, 0), (3, 4)), 0.5) == pytest.approx(1.5)  # median NN distance 3


def toy_zoo(monkeypatch, n_per_class: int = 30, dim: int = 6, n_pairs: int = 60, n_models: int = 5):
    """Four Gaussian classes in ``dim`` dimensions, five random linear 'untrained' networks (the nulls) and the
    claim's pairs, scanned through scan_models: ``(sets, pairs, claim)``."""
    gen = torch.Generator().manual_seed(0)
    centres = 3.0 * torch.randn(4, dim, generator=gen)
    y = torch.arange(4).repeat_interleave(n_per_class)
    x = (centres[y] + torch.randn(len(y), dim, generator=gen)).view(-1, 1, 1, dim)
    split = {"train": (x, y), "test": (x[::3], y[::3])}
    sets = {"mnist": split}
    pairs = {"mnist": bd.draw_pairs(split, n_pairs, 10)}

    def random_linear(seed: int) -> nn.Module:
        torch.manual_seed(100 + seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(dim, 10)).eval()

    nets = {("mnist", "mlp", s): random_linear(10 + s) for s in range(n_models)}
    fitted, misfits = fake_zoo(monkeypatch, nets, {s: random_linear(s) for s in range(n_models)})
    scan = sc.scan_models(fitted, misfits, sets, pairs, grid=17)
    return sets, pairs, sc.claim_paths(scan)


def test_the_controls_read_as_built_through_the_real_scan(monkeypatch, tmp_path):
    sets, pairs, claim = toy_zoo(monkeypatch)
    assert claim["untrained_flip"].between(0, 1).all() and 0 < claim["zone_untrained"].std()
    flips = bd.scan_controls(sets, pairs, grid=17, ratios=ct.RATIOS, bandwidths=ct.BANDWIDTHS)
    assert set(flips["control"]) >= set(ct.recorded()) and (flips.groupby("control").size() == 60).all()
    family = h1.control_estimates(claim, flips, n_boot=300)
    assert family[ct.CHECK].value == pytest.approx(1.0)  # the ideal measured against itself
    controls = ct.as_controls(family)
    assert [(c.name, c.kind) for c in controls] == list(ct.recorded().items())
    rows = [c.row(h1.RULE) for c in controls]
    # Five toy nulls that disagree widely: the negative's t interval over them reaches past the band (the quick
    # ledger's real one reads no effect, tests/test_record.py); here it must not read supported.
    assert [r["verdict"] for r in rows][:2] == [SUPPORTED, SUPPORTED]
    assert rows[2]["verdict"] in (NO_EFFECT, INCONCLUSIVE)
    assert rows[2]["high"] < h1.RULE.margin
    assert all(r["built"] for r in rows) and family[ct.name(ct.NEGATIVE, 4.0)].value < 0
    # The favoured family falls as its ratio grows: real classifiers on both sides of the rule.
    ratios = [family[ct.name(ct.NEGATIVE, r)].value for r in ct.RATIOS]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] > h1.RULE.band
    # record passes the controls to the ledger
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    pooled, strata = h1.primary(claim, n_boot=200)
    entry = h1.record(pooled, strata, {}, replicates=5, figures=[], parameters={"profile": "quick"}, notes="",
                      controls=controls)
    assert [c["as_built"] for c in entry.controls][:2] == [True, True]


def test_stand_in_keeps_the_nulls_and_the_ideal():
    scan = synthetic_scan({("mnist", "cnn", 0): ([0.2, 0.5], [0.2, 0.5]), ("mnist", "cnn", 1): ([0.4, 0.4],) * 2},
                          {("mnist", "cnn", 0): ([0.1, 0.1], [0.1, 0.1]), ("mnist", "cnn", 1): ([np.nan] * 2,) * 2})
    claim = sc.claim_paths(scan)
    flips = flips_frame([0.5, np.nan], [0.5, np.nan], dataset="mnist")
    out = sc.stand_in(claim, flips)
    assert len(out) == 4 and out["zone_untrained"].tolist() == claim["zone_untrained"].tolist()
    np.testing.assert_allclose(out["zone"], [0.0, 0.5, 0.0, 0.5])
    np.testing.assert_allclose(out["closed"], [0.4, -0.1, 0.25, -0.25])
    np.testing.assert_allclose(out["gap"], claim["gap"])


def test_control_design_sentences():
    text = ct.design([ct.CHECK, ct.name(ct.POSITIVE, 0.25), ct.name(ct.NEGATIVE, 4)])
    assert "bisector" in text[ct.CHECK] and "0.25 times the median" in text["kernel machine, h = 0.25 NN"]
    assert "0.2 of the way" in text["favoured 1-NN, ratio 4"]


# --- reported measurements --------------------------------------------------------------------

def test_measurements_pool_models_and_report_the_controls():
    scan = synthetic_scan({("mnist", "cnn", 0): ([0.5, 0.2, np.nan, 0.45], [0.5, 0.8, np.nan, 0.45]),
                           ("mnist", "cnn", 1): ([0.4, 0.5, 0.6, 0.5], [0.4, 0.5, 0.6, 0.5])},
                          {("mnist", "cnn", 0): ([0.1] * 4, [0.1] * 4), ("mnist", "cnn", 1): ([np.nan] * 4,) * 2})
    scan.paths.loc[scan.paths.index[:2], "third_class"] = 1.0
    same = frame(SAME, [0.1, np.nan, np.nan, np.nan]).assign(dataset="mnist", arch="cnn", seed=0)
    test = frame(TEST, [0.4, 0.1, np.nan, 0.0]).assign(dataset="mnist", arch="cnn", seed=0)
    paths = pd.concat([scan.paths, same, test], ignore_index=True)
    claim = sc.claim_paths(scan)
    m = h1.measurements(claim, paths, n_boot=200)
    assert list(m) == ["zone_gain_vs_untrained", "fraction_where_null_flips", "zone_untrained_where_flips",
                       "zone_trained", "zone_untrained", "zone_1nn", "distance_to_1nn", "share_zone_mid",
                       "share_flip_untrained", "share_third_class", "share_flip_same_class", "zone_test_train",
                       "median_abs_first", "share_first_mid"]
    assert m["zone_trained"].value == pytest.approx((0.0 + 0.3 + 0.5 + 0.05 + 0.1 + 0 + 0.1 + 0) / 8)
    assert m["zone_trained"].n == 2 and "cluster" in m["zone_trained"].method
    # Only seed 0's untrained network flips (zone 0.4 on its four paths); the 1-NN zones are 0, 0.05, 0.5, 0.
    assert m["zone_untrained_where_flips"].value == pytest.approx(0.4) and m["zone_untrained_where_flips"].n == 1
    closed, gap = 0.4 - np.array([0.0, 0.3, 0.5, 0.05]), 0.4 - np.array([0.0, 0.0, 0.0, 0.0])
    assert m["fraction_where_null_flips"].value == pytest.approx(closed.mean() / gap.mean())
    assert m["zone_gain_vs_untrained"].value == pytest.approx(claim["gain"].mean())
    assert m["zone_untrained"].value == pytest.approx((0.4 * 4 + 0.25 * 4) / 8)
    assert m["zone_1nn"].value == pytest.approx(0.0) and m["zone_1nn"].n == 4  # one rule, four paths
    assert m["share_zone_mid"].value == pytest.approx(6 / 8)
    assert m["share_flip_untrained"].value == 0.5 and m["share_third_class"].value == 0.25
    assert m["share_flip_same_class"].value == 0.25 and m["zone_test_train"].value == pytest.approx(
        (0.4 + 0.1 + 0.5 + 0.0) / 4)
    assert m["median_abs_first"].value == pytest.approx(0.05)  # of the 7 paths that flip
    for name, est in m.items():  # the controls have one model here: no interval
        assert est.n < 2 or est.low <= est.value + 1e-12 <= est.high + 2e-12, name


def test_stratum_table_means_per_model_then_per_stratum():
    scan = synthetic_scan({("mnist", "mlp", 0): ([0.5, 0.3], [0.5, 0.3]), ("mnist", "mlp", 1): ([0.4, 0.4],) * 2,
                           ("mnist", "cnn", 0): ([0.5, 0.5], [0.5, 0.5])},
                          {k: ([np.nan] * 2,) * 2 for k in [("mnist", "mlp", 0), ("mnist", "mlp", 1),
                                                             ("mnist", "cnn", 0)]})
    same = frame(SAME, [0.1, np.nan]).assign(dataset="mnist", arch="mlp", seed=0)
    table = h1.stratum_table(sc.claim_paths(scan), pd.concat([scan.paths, same], ignore_index=True))
    assert table.index.tolist() == ["mnist/mlp", "mnist/cnn"] and table["models"].tolist() == [2, 1]
    assert table.loc["mnist/mlp", "zone"] == pytest.approx(0.1) and table.loc["mnist/cnn", "zone"] == 0.0
    assert table.loc["mnist/mlp", "gain"] == pytest.approx(0.15)
    # Fractions: mnist/mlp seeds (0.25 - 0.1) / 0.25 each; mnist/cnn at the bisector, 1.
    assert table.columns[:2].tolist() == ["models", "fraction"]
    assert table.loc["mnist/mlp", "fraction"] == pytest.approx(0.6) and table.loc["mnist/cnn", "fraction"] == 1.0
    assert table.loc["mnist/mlp", "share_flip_same_class"] == 0.5  # only seed 0 has control paths
    assert np.isnan(table.loc["mnist/cnn", "share_flip_same_class"])


def test_zone_distance_correlation_resamples_models():
    claim = pd.DataFrame({"dataset": "mnist", "arch": "mlp", "seed": [0, 0, 0, 1, 1, 1],
                          "distance": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "zone": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]})
    rho = h1.zone_distance_correlation(claim)
    assert rho.value == pytest.approx(1.0) and rho.n == 2 and "cluster" in rho.method


# --- history ----------------------------------------------------------------------------------

def test_history_config_trains_to_the_last_checkpoint_without_early_stop():
    cfg = hist.history_config("mnist", "mlp", [0, 2, 4], n_train=100, n_test=50)
    assert (cfg.dataset, cfg.arch, cfg.seed, cfg.epochs, cfg.n_train, cfg.n_test) == ("mnist", "mlp", 0, 4, 100, 50)
    assert cfg.target_acc is None and zoo.config("mnist", "mlp").target_acc == zoo.TARGET_ACC
    assert hist.history_config("mnist", "cnn", [0, 25], n_train=None, n_test=None).epochs == 25


def test_checkpoint_row_counts_paths_without_flip_in_the_zone():
    summary = {"per_path": {"first_flip": np.array([0.4, np.nan, 0.2, 0.3]),
                            "last_flip": np.array([0.4, np.nan, 0.8, 0.3]),
                            "abs_first": np.array([0.1, np.nan, 0.3, 0.2])},
               "share_first_mid": 0.5, "share_flip": 0.75, "share_third_class": 0.25}
    row = hist.checkpoint_row(summary, epoch=4, train_acc=0.8, n_boot=200)
    assert list(row) == ["epoch", "train_acc", "zone", "low", "high", "median_abs_first", "share_first_mid",
                         "share_flip", "share_third_class"]
    assert row["zone"] == pytest.approx((0.1 + 0.5 + 0.3 + 0.2) / 4) and row["median_abs_first"] == pytest.approx(0.2)
    assert row["low"] < row["zone"] < row["high"]  # a t interval over 4 paths may reach past the values' range
    assert (row["epoch"], row["train_acc"], row["share_flip"], row["share_third_class"]) == (4, 0.8, 0.75, 0.25)


def test_boundary_history_scans_each_checkpoint():
    at = {0: 0.9, 2: 0.6, 5: 0.5}  # boundary x0 = c at each epoch: the flip of (0,0)->(1,0) is at c
    result = SimpleNamespace(model_at=lambda e: threshold(at[e]), config=SimpleNamespace(label="mlp/mnist/seed0"),
                             history={"epoch": [0, 1, 2, 5], "train_acc": [0.1, 0.5, 0.7, 0.9]})
    x = points((0, 0), (1, 0), (0.95, 0))
    # pairs (0,0)->(1,0) and (0,0)->(0.95,0): the second flips at c / 0.95 while c < 0.95
    history = hist.boundary_history(result, x, np.array([0, 0]), np.array([1, 2]), [5, 0, 2], grid=17, n_boot=100)
    assert history.label == "mlp/mnist/seed0" and history.n_pairs == 2
    assert history.table["epoch"].tolist() == [5, 0, 2]
    assert history.table["train_acc"].tolist() == [0.9, 0.1, 0.7]
    expected = {5: [0.5, 0.5 / 0.95], 0: [0.9, 0.9 / 0.95], 2: [0.6, 0.6 / 0.95]}
    for row in history.rows:
        assert row["zone"] == pytest.approx(np.mean(np.abs(np.array(expected[row["epoch"]]) - 0.5)), abs=1e-3)
    assert history.rows[0]["share_first_mid"] == 1.0 and history.rows[1]["share_first_mid"] == 0.0
    np.testing.assert_allclose(history.mids["mid"], [0.5, 0.5 / 0.95, 0.9, 0.9 / 0.95, 0.6, 0.6 / 0.95], atol=1e-3)


# --- notes and results ------------------------------------------------------------------------

def test_notes_text():
    strata = pd.DataFrame({"zone": [0.1234, 0.3], "zone_untrained": [0.25, 0.25], "zone_1nn": [0.0, 0.001]},
                          index=["mnist/mlp", "mnist/resnet"])
    rows = [{"epoch": 0, "zone": 0.3}, {"epoch": 10, "zone": 0.12345}]
    history = hist.History("mlp/mnist/seed0", rows, pd.DataFrame(rows), pd.DataFrame(), 2)
    text = ("Mean flip zone max(|first - 0.5|, |last - 0.5|) of the train-train pairs of different classes, mean "
            "over models: mnist/mlp: trained 0.123, untrained 0.250, 1-NN 0.000; mnist/resnet: trained 0.300, "
            "untrained 0.250, 1-NN 0.001. History of mlp/mnist/seed0, mean flip zone by epoch 0: 0.300, 10: 0.123.")
    assert h1.notes(strata, history) == text
    misfit = SimpleNamespace(config=zoo.config("mnist", "cnn", 4), final={"train_acc": 0.95})
    assert h1.notes(strata, history, [misfit]) == (
        "Excluded, not fitted: cnn/mnist/seed4 (train acc 0.950 < 0.99). " + text)


def test_write_results_writes_the_results_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    misfit = SimpleNamespace(config=zoo.config("mnist", "cnn", 4))
    scan = sc.ZooScan([{"arch": "mlp", "median_abs_first": 0.1}], pd.DataFrame(), pd.DataFrame(), {},
                      misfits=[misfit])
    history = hist.History("h", [{"epoch": 0}], pd.DataFrame(), pd.DataFrame(), 1)
    strata = pd.DataFrame({"models": [5], "gain": [0.2]}, index=["mnist/mlp"])
    results.write_results(scan, strata, history, {"m": Estimate(0.2, 0.1, 0.3, 5, "bootstrap")}, {"profile": "quick"},
                          {"1-NN rule": Estimate(1.0, 1.0, 1.0, 30, "b")})
    stored = json.loads((tmp_path / "results" / "01_halfway_boundaries.json").read_text())
    assert stored["parameters"] == {"profile": "quick"}
    assert stored["results"]["per_model_seed"] == [{"arch": "mlp", "median_abs_first": 0.1}]
    assert stored["results"]["per_stratum"] == [{"stratum": "mnist/mlp", "models": 5, "gain": 0.2}]
    assert stored["results"]["history"] == [{"epoch": 0}] and stored["results"]["excluded"] == ["cnn/mnist/seed4"]
    assert stored["results"]["measurements"]["m"]["value"] == 0.2
    assert stored["results"]["controls"]["1-NN rule"]["value"] == 1.0


# --- the morph path and figures ---------------------------------------------------------------

def test_morph_path_probabilities_along_the_first_pair():
    x = points((0, 0), (1, 0), (0.3, 0.3))
    split = {"train": (x, torch.tensor([4, 7, 1]))}
    pairs = {CLAIM: ("train", "train", np.array([0, 2]), np.array([1, 0]))}
    models = {("mnist", "mlp", 0): threshold(0.5), ("mnist", "cnn", 0): threshold(0.25),
              ("mnist", "mlp", 1): threshold(0.9)}
    path = morph.morph_path(models, split, pairs, "mnist", ["mlp", "cnn", "resnet"], 0)  # no resnet: excluded
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
    rng = np.random.default_rng(0)
    claim = known(lambda r, n, k: uniform_flips(r, n), lambda r, n, k, tr: uniform_flips(rng, n), n=20)
    pooled, strata = h1.primary(claim, n_boot=100)
    rho = Estimate(0.1, 0.0, 0.2, 9, "s")
    rows = [{"epoch": e, "train_acc": 0.5, "zone": 0.2, "low": 0.1, "high": 0.3, "share_flip": 0.4} for e in (0, 1)]
    history = hist.History("h", rows, pd.DataFrame(rows), pd.DataFrame({"epoch": [0, 0, 1, 1],
                                                                        "mid": [0.2, 0.4, 0.5, 0.6]}), 2)
    path = morph.MorphPath("mnist", torch.zeros(1, 2, 2), torch.ones(1, 2, 2), 0, 1, tuple("0123456789"),
                           torch.linspace(0, 1, 101), torch.zeros(101, 1, 2, 2), {"mlp": torch.full((101, 10), 0.1)})
    family = {"1-NN rule": Estimate(1.0, 1.0, 1.0, 3, "b"),
              "favoured 1-NN, ratio 4": Estimate(-0.3, -0.5, -0.1, 3, "b")}
    for fig in (fg.figure_flip_distributions(paths), fg.figure_gain(claim, pooled, strata),
                fg.figure_gain(claim, pooled, strata, family, {"1-NN rule": "positive"}), fg.figure_either_side(family),
                fg.figure_first_last(claim, rho), fg.figure_history(history), fg.figure_morph(path, t_mark=0.3)):
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        matplotlib.pyplot.close(fig)


# --- the package ------------------------------------------------------------------------------

def _notebook_code(name: str) -> str:
    """The code lines of a notebook's py:percent script (comments and markdown left out)."""
    script = Path(__file__).resolve().parent.parent / "notebooks" / f"{name}.py"
    return "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_the_package_exports_what_the_notebook_calls():
    code = _notebook_code(bd.NOTEBOOK)
    called = set(re.findall(r"\bboundaries\.([A-Za-z_]\w*)", code))
    assert called == set(bd.__all__) - {"NOTEBOOK"}
    assert all(hasattr(bd, name) for name in bd.__all__)
    assert set(re.findall(r"\bboundaries\.h1\.([A-Za-z_]\w*)", code)) <= set(dir(h1))
    assert all(f'"{stem}"' in code for stem in h1.FIGURES) and h1.RULE.primary == h1.PRIMARY
