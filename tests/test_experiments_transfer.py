"""Tests for halfway_utils.experiments.transfer (notebook 03, claims H3 and H4).

Most models here are hand-written linear 2-class models on 1x1x2 inputs whose boundary is a
known hyperplane, so distances, flip points and transfer outcomes are known by hand. The
decision rules get known-answer tests on synthetic distances: shared boundaries must give
"supported", unrelated ones "no effect" (H3, H4). The controls run at small sizes through the
real measurement code on 3-class linear models in six dimensions: a noisy copy of the source
must read "supported", unrelated boundaries "no effect".
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from halfplanes import linear, linear2, pts
from torch import nn

from halfway_utils import zoo
from halfway_utils.evidence import claims, stats
from halfway_utils.experiments import transfer as tr
from halfway_utils.experiments.transfer import adversarial, agreement, bundles, controls, distances, h3, h4
from halfway_utils.experiments.transfer.bundles import Bundle
from halfway_utils.infra import params
from halfway_utils.methods import attacks
from halfway_utils.methods.directions import id_over_md
from halfway_utils.methods.perturb import matched_norm_noise


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture
def output(tmp_path, monkeypatch):
    """Results, figures and caches of one test go to its own folder."""
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "out"


def two_models() -> dict[str, nn.Module]:
    """Boundaries x0 = 1 ("mlp/s0") and x0 = 1.5 ("mlp/s1"); class 1 beyond them."""
    return {"mlp/s0": linear2([1.0, 0.0], -1.0), "mlp/s1": linear2([1.0, 0.0], -1.5)}


def line_bundle(name: str = "toy") -> Bundle:
    """Two hyperplane models, three test inputs (the third misclassified by mlp/s0) and a
    training set of class 0 at x0 = 0 and class 1 at x0 = 2."""
    x_train = pts(*[(0.0, 0.1 * k) for k in range(5)], *[(2.0, 0.1 * k) for k in range(5)])
    y_train = torch.tensor([0] * 5 + [1] * 5)
    return Bundle(name, two_models(), pts((0.0, 0.0), (0.0, 0.4), (1.2, 0.0)), torch.tensor([0, 0, 0]),
                  x_train, y_train, {"mlp/s0": "key-a", "mlp/s1": "key-b"})


def unit_bundle() -> Bundle:
    """Like :func:`line_zoo` inside [0, 1]: boundaries x0 = 0.5 ("mlp/s0") and x0 = 0.75 ("cnn/s0"),
    inputs at x0 = 0 (classes 0) and training samples of class 1 at x0 = 1."""
    x_train = pts(*[(0.0, 0.1 * k) for k in range(5)], *[(1.0, 0.1 * k) for k in range(5)])
    y_train = torch.tensor([0] * 5 + [1] * 5)
    models = {"mlp/s0": linear2([1.0, 0.0], -0.5), "cnn/s0": linear2([1.0, 0.0], -0.75)}
    return Bundle("toy", models, pts((0.0, 0.0), (0.0, 0.4), (0.9, 0.0)), torch.tensor([0, 0, 0]),
                  x_train, y_train, {k: k for k in models})


# --------------------------------------------------------------------------- transfer outcomes and flip points


def test_transfer_outcomes_mask_and_matrix():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = pts((0.0, 0.0), (0.0, 0.0), (1.2, 0.0))
    y = torch.tensor([0, 0, 0])  # the third is misclassified by "a" (x0 > 1): dropped for "a"
    x_adv = {"a": pts((1.2, 0.0), (0.5, 0.0), (1.2, 0.0)), "b": pts((1.6, 0.0), (1.2, 0.0), (2.0, 0.0))}
    out = adversarial.transfer_outcomes(models, x, y, x_adv)
    assert out.shape == (2, 2, 3)
    assert np.isnan(out[0, :, 2]).all() and np.isnan(out[:, 0, 2]).all()
    assert out[1, 1, 2] == 1.0
    m = adversarial.transfer_matrix(out, ["a", "b"], ["a", "b"])
    assert m.loc["a", "a"] == pytest.approx(0.5) and m.loc["a", "b"] == pytest.approx(0.0)
    assert m.loc["b", "a"] == pytest.approx(1.0) and m.loc["b", "b"] == pytest.approx(2 / 3)


def test_flip_points_and_their_disagreement():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    a, b = pts((0.0, 0.0)), pts((2.0, 0.0))
    flips = agreement.flip_points(models, a, b)
    assert flips["a"].item() == pytest.approx(0.5, abs=1e-3)
    gaps = agreement.flip_disagreement(flips)
    assert gaps["mean_flip_gap"].iloc[0] == pytest.approx(0.25, abs=2e-3)


# --------------------------------------------------------------------------- parameters, models, pairs


def defaults() -> dict:
    return {"profile": "quick", "datasets": ["mnist"], "archs": ["mlp", "cnn"], "seeds": [0, 1], "n_boot": 1000,
            "n_train": 1000, "n_test": 1000, "n_inputs": 200, "attack_names": ["pgd", "fgsm"],
            "eps_list": [0.05, 0.1], "eps_ref": 0.1, "pgd_steps": 10, "max_eps_legitimate": 12.0,
            "max_eps_adversarial": 12.0, "max_eps_random": 60.0,
            "grid": 1000, "n_boundary": 100, "n_cross": 2, "n_paths": 200, "seed": 0, "device": None,
            "torch_threads": None, "control_seeds": [0, 1, 2], "control_noise": 0.02, "control_n_train": 1000}


def test_parameters_rules_and_cross_checks():
    P = params.validate(defaults(), tr.PARAMETERS)
    assert list(P) == list(tr.PARAMETERS) and set(P) == set(defaults())
    tr.check_parameters(P)
    for bad in ({"grid": 1001}, {"n_paths": 9}, {"eps_ref": 0.0}, {"torch_threads": 0}, {"n_cross": -1},
                {"n_boot": 10}, {"control_noise": 2.0}, {"control_seeds": []}):
        with pytest.raises(params.ParameterError):
            params.validate({**defaults(), **bad}, tr.PARAMETERS)
    for bad, message in (({"eps_ref": 0.2}, "eps_ref"), ({"attack_names": ["fgsm"]}, "PGD"),
                         ({"seeds": [0]}, "2 seeds"), ({"n_test": 100}, "n_inputs"),
                         ({"control_seeds": [0]}, "control_seeds")):
        with pytest.raises(params.ParameterError, match=message):
            tr.check_parameters({**P, **bad})


def test_load_bundles_without_any_data_set(monkeypatch, capsys):
    monkeypatch.setattr(bundles.data, "available", lambda name: False)
    with pytest.raises(RuntimeError, match="no data set available"):
        tr.load_bundles(["mnist"], ["mlp"], [0], 10)
    assert "skipping mnist" in capsys.readouterr().out


def test_load_bundle_from_the_zoo_in_grid_order_without_misfits(monkeypatch):
    # zoo.load gives (fitted, misfits); the bundle keeps the fitted models in the zoo's grid order,
    # names the misfit, and its table lists every model in grid order.
    def fake(arch, seed, fitted):
        config = zoo.config("mnist", arch, seed, n_train=100, n_test=50)
        return SimpleNamespace(config=config, model=linear2([1.0, 0.0], -float(seed)), fitted=fitted,
                               final={"train_acc": 1.0 if fitted else 0.5, "test_acc": 0.9}, cache_hit=True)
    results = [fake("mlp", 0, True), fake("mlp", 1, False), fake("cnn", 0, True), fake("cnn", 1, True)]
    calls = []

    def load(datasets, archs, seeds, **kw):
        calls.append((list(datasets), list(archs), list(seeds), kw))
        return [r for r in results if r.fitted], [r for r in results if not r.fitted]
    monkeypatch.setattr(bundles.zoo, "load", load)
    monkeypatch.setattr(bundles, "load_split", lambda config, split: (torch.zeros(20, 1, 1, 2),
                                                                      torch.arange(20) % 2))
    b, rows = bundles.load_bundle("mnist", ["mlp", "cnn"], [0, 1], 5, n_train=100, n_test=50)
    assert calls == [(["mnist"], ["mlp", "cnn"], [0, 1], {"n_train": 100, "n_test": 50, "device": None})]
    assert list(b.models) == ["mlp/s0", "cnn/s0", "cnn/s1"] and len(b.x) == 5 and len(b.x_train) == 20
    assert b.keys["cnn/s1"] == results[3].config.key and "mlp/mnist/seed1" in b.excluded
    assert [r["model"] for r in rows] == ["mlp/s0", "mlp/s1", "cnn/s0", "cnn/s1"]
    assert [r["fitted"] for r in rows] == [True, False, True, True] and {r["cache"] for r in rows} == {"hit"}


def test_excluded_note():
    z = line_bundle()
    assert "none excluded" in tr.excluded_note({"toy": z})
    z.excluded = "Excluded, not fitted: mlp/s3 (train acc 0.950 < 0.99)."
    assert tr.excluded_note({"toy": z}) == "toy: Excluded, not fitted: mlp/s3 (train acc 0.950 < 0.99)."


def test_pair_kind_and_arch():
    assert tr.pair_kind("cnn/s0", "cnn/s0") == "white-box"
    assert tr.pair_kind("cnn/s0", "cnn/s1") == "same arch"
    assert tr.pair_kind("cnn/s0", "mlp/s0") == "other arch"
    assert bundles.arch_of("resnet/s4") == "resnet"


def test_model_pairs_all_same_arch_and_balanced_cross_arch():
    names = [f"{a}/s{s}" for a in ("mlp", "cnn", "resnet") for s in range(5)]
    pairs = tr.model_pairs(names, 2)
    kinds = [tr.pair_kind(a, b) for a, b in pairs]
    assert kinds.count("same arch") == 30 and kinds.count("other arch") == 30
    assert kinds[:30] == ["same arch"] * 30  # same-arch pairs first
    assert len(set(pairs)) == len(pairs)
    cross = [p for p, k in zip(pairs, kinds) if k == "other arch"]
    partners = {n: sum(n in p for p in cross) for n in names}
    assert set(partners.values()) == {4}  # 2 partners in each of the 2 other archs
    assert ("mlp/s0", "cnn/s0") in cross and ("mlp/s0", "cnn/s1") in cross and ("mlp/s0", "cnn/s2") not in cross
    assert len(tr.model_pairs(names, 5)) == 30 + 75 and len(tr.model_pairs(names, 9)) == 105
    assert len(tr.model_pairs(names, 0)) == 30
    uneven = tr.model_pairs(["mlp/s0", "mlp/s1", "cnn/s0"], 1)  # a misfit left one cnn
    assert uneven == [("mlp/s0", "mlp/s1"), ("mlp/s0", "cnn/s0"), ("mlp/s1", "cnn/s0")]


def test_orient_balances_the_sources():
    names = [f"m/s{k}" for k in range(5)]
    pairs = tr.model_pairs(names, 0)
    oriented = bundles.orient(pairs)
    assert [frozenset(p) for p in oriented] == [frozenset(p) for p in pairs]
    counts = pd.Series([a for a, _ in oriented]).value_counts()
    assert set(counts.index) == set(names) and counts.max() - counts.min() <= 1 + 1
    assert bundles.orient([("a", "b"), ("a", "c"), ("b", "c")]) == [("a", "b"), ("c", "a"), ("b", "c")]


# --------------------------------------------------------------------------- transfer


def test_adversarial_sets_fgsm_on_a_hyperplane_is_cached(output):
    z = line_bundle()
    z.x = pts((0.2, 0.5), (0.6, 0.5))
    z.y = torch.tensor([0, 0])
    assert adversarial.attack_kw("pgd", 7, 3) == {"steps": 7, "seed": 3} and adversarial.attack_kw("fgsm", 7, 3) == {}
    adv, hits = tr.adversarial_sets({"toy": z}, ["fgsm"], [0.1, 0.3], pgd_steps=5, seed=0)
    assert sorted(adv) == sorted(("toy", "fgsm", e, k) for e in (0.1, 0.3) for k in z.models)
    assert hits == [False] * 4
    # The loss gradient points along +x0 only (the boundary is x0 = const): one step of eps along x0.
    expected = pts((0.5, 0.5), (0.9, 0.5))
    assert torch.allclose(adv["toy", "fgsm", 0.3, "mlp/s0"], expected, atol=1e-6)
    _, hits = tr.adversarial_sets({"toy": z}, ["fgsm"], [0.1, 0.3], pgd_steps=5, seed=0)
    assert hits == [True] * 4


def test_transfer_rates_long_table():
    z = line_bundle()
    adv = {("toy", "pgd", 0.1, "mlp/s0"): pts((1.2, 0.0), (1.6, 0.0), (0.0, 0.0)),
           ("toy", "pgd", 0.1, "mlp/s1"): pts((0.0, 0.0), (1.6, 0.0), (2.0, 0.0))}
    outcomes, rates = tr.transfer_rates({"toy": z}, adv, ["pgd"], [0.1])
    assert list(outcomes) == [("toy", "pgd", 0.1)] and outcomes["toy", "pgd", 0.1].shape == (2, 2, 3)
    assert len(rates) == 4 and list(rates.columns) == ["dataset", "attack", "eps", "source", "target", "kind",
                                                       "success"]
    got = {(r.source, r.target): (r.kind, r.success) for r in rates.itertuples()}
    # Inputs 0 and 1 count for every pair; input 2 only for (mlp/s1, mlp/s1).
    assert got["mlp/s0", "mlp/s0"] == ("white-box", 1.0)  # both points cross x0 = 1
    assert got["mlp/s0", "mlp/s1"] == ("same arch", 0.5)  # only 1.6 crosses x0 = 1.5
    assert got["mlp/s1", "mlp/s0"] == ("same arch", 0.5)
    assert got["mlp/s1", "mlp/s1"][1] == pytest.approx(2 / 3)


def test_sign_noise_draws_one_stream_and_masks_clean_errors():
    near = Bundle("near", {"edge": linear2([1.0, 0.0], -0.05), "far": linear2([1.0, 0.0], -0.5)},
                  torch.zeros(40, 1, 1, 2), torch.zeros(40, dtype=torch.long), torch.zeros(1, 1, 1, 2),
                  torch.zeros(1, dtype=torch.long), {})
    wrong = Bundle("wrong", {"edge": linear2([1.0, 0.0], -0.05)}, pts((0.0, 0.0), (0.9, 0.0)),
                   torch.tensor([0, 0]), torch.zeros(1, 1, 1, 2), torch.zeros(1, dtype=torch.long), {})
    noise, rows = tr.sign_noise({"near": near, "wrong": wrong}, [0.1], seed=4)
    gen = torch.Generator().manual_seed(4)
    positive = torch.randn((40, 1, 1, 2), generator=gen)[:, 0, 0, 0] > 0  # x0 -> 0.1 crosses 0.05
    second = torch.randn((2, 1, 1, 2), generator=gen)[0, 0, 0, 0] > 0  # the next draw is the next set's
    np.testing.assert_array_equal(noise["near", 0.1][0], positive.numpy().astype(float))
    np.testing.assert_array_equal(noise["near", 0.1][1], np.zeros(40))  # 0.1 never reaches 0.5
    assert noise["wrong", 0.1][0, 0] == float(second) and np.isnan(noise["wrong", 0.1][0, 1])
    assert rows["success"].tolist() == pytest.approx([positive.float().mean().item(), 0.0, float(second)])
    assert set(rows["kind"]) == {"noise"} and set(rows["source"]) == {"-"}
    assert rows["target"].tolist() == ["edge", "far", "edge"]


# --------------------------------------------------------------------------- H3


def test_boundary_inputs_first_n_correct():
    x = pts((0.0, 0.0), (1.2, 0.0), (0.5, 0.0), (0.1, 0.0))
    y = torch.tensor([0, 0, 0, 0])
    assert distances.boundary_inputs(two_models(), x, y, 5).tolist() == [True, False, True, True]
    assert distances.boundary_inputs(two_models(), x, y, 2).tolist() == [True, False, True, False]


def test_boundary_distances_and_h3_rows_on_hyperplanes(capsys):
    # Boundaries x0 = 0.5 and 0.75 from x0 = 0: along a direction with x0 part d0 the distances
    # are 0.5 / d0 and 0.75 / d0, so ID / MD = 0.25 / 0.625 = 0.4 whatever the direction.
    z = unit_bundle()
    pairs = {"toy": [("mlp/s0", "cnn/s0")]}
    adv = {("toy", "pgd", 0.1, "mlp/s0"): pts((0.3, 0.4), (0.3, 0.8), (0.9, 0.0)),  # both along (0.6, 0.8)
           ("toy", "pgd", 0.1, "cnn/s0"): pts((0.5, 0.0), (0.0, 0.4), (0.9, 0.0))}  # 2nd: no move
    mds = tr.boundary_distances({"toy": z}, adv, pairs, eps_ref=0.1, n_boundary=10, max_eps_legitimate=2.0,
                                max_eps_adversarial=2.0, max_eps_random=3.0, grid=17, seed=0)
    assert "toy: 2 inputs classified correctly by all 2 models" in capsys.readouterr().out
    legit = mds[mds["direction"] == "legitimate"].set_index(["model", "input"])
    assert legit.loc["mlp/s0", "md"].tolist() == pytest.approx([0.5, 0.5], abs=1e-3)  # toward (1, 0), (1, 0.4)
    assert legit.loc["cnn/s0", "md"].tolist() == pytest.approx([0.75, 0.75], abs=1e-3)
    assert legit["length"].tolist() == pytest.approx([1.0] * 4) and set(legit["cap"]) == {2.0}
    adv_md = mds[(mds["direction"] == "adversarial") & (mds["source"] == "mlp/s0")]
    assert adv_md["md"].tolist() == pytest.approx([0.5 / 0.6, 0.5 / 0.6, 0.75 / 0.6, 0.75 / 0.6], abs=1e-3)
    # One source per pair (orient: mlp/s0), so cnn/s0's PGD directions are not searched.
    assert len(mds) == 4 * 2 * 2  # (legitimate, random, sign, adversarial) x 2 models x 2 inputs
    sign = mds[mds["direction"] == "sign"].pivot(index="input", columns="model", values="md")
    # Sign noise moves x0 by 0.1 or not at all (clipped at 0): where it moves, both boundaries are met.
    assert ((sign["cnn/s0"] / sign["mlp/s0"]).dropna().to_numpy() == pytest.approx(1.5, abs=1e-2))
    assert set(mds["source"]) == {"-", "mlp/s0"} and mds["label"].tolist() == [0] * len(mds)
    rows = tr.h3_rows(mds, pairs)
    got = rows.groupby(["direction", "source"])[["model_a", "model_b"]].first()
    assert got.loc[("adversarial", "mlp/s0")].tolist() == ["mlp/s0", "cnn/s0"]
    assert got.loc[("legitimate", "-")].tolist() == ["mlp/s0", "cnn/s0"]
    measured = rows[~rows["censored"] & rows["obs"].notna()]
    assert len(measured) >= 4 and measured["obs"].to_numpy() == pytest.approx(0.4, abs=2e-3)
    assert set(rows["kind"]) == {"other arch"}
    # With cnn/s0 as the source, its unmoved second input has no direction: NaN, not a distance.
    flipped = {"toy": [("cnn/s0", "mlp/s0")]}
    mds2 = tr.boundary_distances({"toy": z}, adv, flipped, eps_ref=0.1, n_boundary=10, max_eps_legitimate=2.0,
                                 max_eps_adversarial=2.0, max_eps_random=3.0, grid=17, seed=0)
    unmoved = tr.h3_rows(mds2, flipped).query("source == 'cnn/s0' and input == 1")
    assert len(unmoved) == 1 and np.isnan(unmoved["obs"]).all()
    # Two inputs of one class with equal distances: the null equals the observed ratio.
    legit_rows = rows[rows["direction"] == "legitimate"]
    assert legit_rows["null"].to_numpy() == pytest.approx(0.4, abs=2e-3)
    summary = tr.boundary_summary(mds, rows)
    assert summary.loc[("toy", "legitimate"), "median_md"] == pytest.approx(0.625, abs=1e-3)
    assert summary.loc[("toy", "legitimate"), "censored"] == 0.0


def test_h3_rows_censor_and_scale_legitimate_positions():
    # One pair, four inputs of one class. Legitimate distances are divided by the segment length,
    # so two boundaries both at t = 0.5 on segments of lengths 2 and 4 are at the same place.
    base = {"dataset": "d", "direction": "legitimate", "source": "-", "label": 0, "cap": 3.0}
    md_a, md_b, length = [1.0, 2.0, np.inf, 1.0], [1.0, 2.0, 1.5, 2.0], [2.0, 4.0, 3.0, 4.0]
    mds = pd.DataFrame([{**base, "model": m, "input": i, "md": v[i], "length": length[i]}
                        for m, v in (("a/s0", md_a), ("b/s0", md_b)) for i in range(4)])
    rows = tr.h3_rows(mds, {"d": [("a/s0", "b/s0")]})
    assert rows["censored"].tolist() == [False, False, True, False]
    # Input 2: a is censored at cap 3 -> position 1.0 against 0.5; input 3: 0.25 against 0.5.
    np.testing.assert_allclose(rows["obs"], [0.0, 0.0, 0.5 / 0.75, 0.25 / 0.375])
    ta, tb = np.array([0.5, 0.5, 1.0, 0.25]), np.array([0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(rows["null"], stats.permutation_null(ta, tb, np.zeros(4), id_over_md))


def synthetic_mds(shared: bool, *, n_seeds: int = 5, n_inputs: int = 60, seed: int = 0
                  ) -> tuple[pd.DataFrame, dict, dict]:
    """Distances of two archs x ``n_seeds`` models, along all three direction kinds.

    ``shared``: every model's boundary sits at the input's own distance (up to 2% noise);
    otherwise each model draws its boundary independently for each input (unrelated boundaries).
    """
    rng = np.random.default_rng(seed)
    names = [f"{a}/s{s}" for a in ("mlp", "cnn") for s in range(n_seeds)]
    pairs = {"d": tr.model_pairs(names, 2)}
    labels = np.arange(n_inputs) % 5
    length = rng.uniform(4.0, 8.0, n_inputs)
    frames = []
    for kind, cap in (("legitimate", 12.0), ("adversarial", 12.0), ("random", 20.0)):
        base = rng.uniform(0.2, 0.8, n_inputs) * (length if kind == "legitimate" else 10.0)
        sources = names if kind == "adversarial" else ["-"]
        for src in sources:
            members = names if src == "-" else sorted({src, *[b for a, b in pairs["d"] if a == src],
                                                       *[a for a, b in pairs["d"] if b == src]})
            for m in members:
                if shared:
                    md = base * (1 + 0.02 * rng.standard_normal(n_inputs))
                else:
                    md = rng.uniform(0.2, 0.8, n_inputs) * (length if kind == "legitimate" else 10.0)
                md = np.where(md > 0.95 * cap, np.inf, md)
                frames.append(pd.DataFrame({"dataset": "d", "direction": kind, "source": src, "model": m,
                                            "input": np.arange(n_inputs), "label": labels, "md": md, "cap": cap,
                                            "length": length if kind == "legitimate" else np.nan}))
    return pd.concat(frames, ignore_index=True), pairs, {"d": names}


@pytest.mark.parametrize("shared, verdict", [(True, "supported"), (False, "no effect")])
def test_h3_known_answers(output, shared, verdict):
    mds, pairs, models = synthetic_mds(shared)
    rows = tr.h3_rows(mds, pairs)
    strata, pooled, reported = tr.h3_estimates(rows, models, n_boot=300, seed=0)
    assert list(strata) == ["d/legitimate", "d/adversarial", "d/random"]
    assert pooled.value == pytest.approx(np.mean([e.value for e in strata.values()]))
    # 1 - observed / null: near 1 for shared boundaries, near 0 for unrelated ones.
    assert (pooled.value > 0.9) if shared else (-0.2 < pooled.value < 0.1)
    assert "h3_shared_boundaries_legitimate_same_arch" in reported and "median_null_id_over_md_random" in reported
    P = {"profile": "quick", "archs": ["mlp", "cnn"], "seeds": [0, 1, 2, 3, 4], "n_boundary": 60}
    c = tr.h3.record(strata, pooled, reported, P, models, ["figures/03_boundary_distances.png"], "none excluded")
    # Pooled over the three strata the verdict is clear; a stratum of 60 inputs may straddle the band.
    assert c.verdict == verdict and {row["verdict"] for row in c.strata} <= {verdict, "inconclusive"}
    saved = json.loads((output / "results" / "claims" / "H3.json").read_text())
    assert saved["primary"] == "h3_shared_boundaries" and saved["primary"] in saved["measurements"]
    assert saved["margin"] == 0.5 and saved["replicates"] == 10 and "unrelated boundaries" in saved["null"]
    assert (saved["null_value"], saved["band"], saved["ideal"]) == (0.0, 0.1, 1.0)
    assert "half of the way" in saved["margin_reason"] and saved["scale"].startswith("0 = unrelated")
    assert saved["rule_changes"][-1].startswith("2026-12-04: ") and saved["sentence"].startswith("H3")
    assert [s["stratum"] for s in saved["strata"]] == ["d/legitimate", "d/adversarial", "d/random"]
    assert saved["rule_changes"] and "issue 13" in saved["rule_changes"][0]
    assert c.figures == ["03_boundary_distances.png"]


def test_h3_rows_use_the_source_of_each_adversarial_block():
    # Pairs listed (a, b) but searched along b's directions: the rows are oriented (b, a).
    base = {"dataset": "d", "direction": "adversarial", "label": 0, "cap": 3.0, "length": np.nan}
    mds = pd.DataFrame([{**base, "source": "b/s0", "model": m, "input": i, "md": v}
                        for m, vals in (("a/s0", [1.0, 2.0]), ("b/s0", [1.0, 1.0])) for i, v in enumerate(vals)])
    rows = tr.h3_rows(mds, {"d": [("a/s0", "b/s0")]})
    assert rows[["model_a", "model_b"]].drop_duplicates().values.tolist() == [["b/s0", "a/s0"]]
    np.testing.assert_allclose(rows["obs"], [0.0, 1.0 / 1.5])


def test_h3_inconclusive_when_the_interval_straddles_the_margin(output):
    # Half the models share the input's boundary, half draw it independently: the per-pair
    # ratios spread on both sides of 0.5 and two models per arch cannot settle it.
    mds_shared, pairs, models = synthetic_mds(True, n_seeds=2, n_inputs=30, seed=1)
    mds_indep, _, _ = synthetic_mds(False, n_seeds=2, n_inputs=30, seed=1)
    mixed = pd.concat([mds_shared[mds_shared["model"].str.endswith("s0")],
                       mds_indep[mds_indep["model"].str.endswith("s1")]], ignore_index=True)
    strata, pooled, _ = tr.h3_estimates(tr.h3_rows(mixed, pairs), models, n_boot=300, seed=0)
    assert pooled.low < 0.5 < pooled.high
    c = tr.h3.record(strata, pooled, {}, {"profile": "quick", "archs": [], "seeds": [], "n_boundary": 30},
                     models, [])
    assert c.verdict == "inconclusive"


# --------------------------------------------------------------------------- H4


def test_flip_gaps_on_hyperplanes():
    # Segments between x0 = 0 and x0 = 2 in either direction: flips at x0 = 1 and 1.5, a gap of 0.25 in t.
    gaps = agreement.flip_gaps(line_bundle(), n_paths=12, grid=17, seed=3)
    assert gaps[["model_a", "model_b"]].values.tolist() == [["mlp/s0", "mlp/s1"]]
    assert gaps["n"].item() == 12 and gaps["mean_flip_gap"].item() == pytest.approx(0.25, abs=2e-3)


def test_pair_table_by_hand():
    models = {k: linear2([1.0, 0.0], -1.0) for k in ("m/s0", "m/s1", "n/s0")}
    z = Bundle("d1", models, pts((0.0, 0.0)), torch.tensor([0]), line_bundle().x_train, line_bundle().y_train, {})
    out = np.zeros((3, 3, 4))
    out[0, 1] = [1, 1, 0, np.nan]  # m/s0 -> m/s1: 2 / 3
    out[1, 0] = [1, 0, 0, 0]  # m/s1 -> m/s0: 1 / 4
    out[2, 0] = [1, 1, 1, 1]  # n/s0 -> m/s0: 1
    noise = {("d1", 0.1): np.array([[0.0, 1.0], [0.0, 0.0], [1.0, np.nan]])}
    rows = pd.DataFrame({"dataset": "d1", "direction": "legitimate", "model_a": ["m/s0"] * 2 + ["m/s1"] * 2,
                         "model_b": ["m/s1"] * 2 + ["n/s0"] * 2, "obs": [0.1, 0.3, 0.4, 0.4],
                         "null": [0.4, 0.4, 0.4, 0.4]})
    pairs = {"d1": [("m/s0", "m/s1"), ("m/s1", "n/s0"), ("n/s0", "m/s0")]}
    got = tr.pair_table({"d1": z}, rows, pairs, {("d1", "pgd", 0.1): out}, noise, eps_ref=0.1, n_paths=10, grid=17,
                        seed=0)
    assert got["pair"].tolist() == ["m/s0 | m/s1", "m/s1 | n/s0", "n/s0 | m/s0"]
    assert got["kind"].tolist() == ["same arch", "other arch", "other arch"]
    np.testing.assert_allclose(got["legit_effect"][:2], [0.5, 1.0])  # median obs 0.2 / 0.4, 0.4 / 0.4
    assert np.isnan(got["legit_effect"][2])  # no legitimate rows for that pair
    np.testing.assert_allclose(got["transfer"], [(2 / 3 + 1 / 4) / 2, 0.0, 0.5])
    np.testing.assert_allclose(got["noise"], [(0.5 + 0.0) / 2, (0.0 + 1.0) / 2, (1.0 + 0.5) / 2])
    np.testing.assert_allclose(got["flip_gap"], 0.0, atol=1e-9)  # identical models flip at the same t


def test_landing_points_and_table():
    model = linear2([1.0, 0.0], -1.0)
    x = pts((0.0, 0.0), (0.0, 0.0), (1.5, 0.0))
    y = torch.tensor([0, 0, 0])  # third: misclassified on clean input, not counted
    x_adv = pts((1.2, 0.3), (0.5, 0.0), (2.0, 0.0))  # second: does not fool
    x_train = pts((0.1, 0.0), (2.0, 0.0), (2.0, 3.0), (-2.5, 0.0))
    y_train = torch.tensor([0, 1, 1, 1])
    got = h4.landing_points(model, x, y, x_adv, x_train, y_train, grid=17, seed=1)
    assert len(got) == 1
    row = got.iloc[0]
    assert row["segment_l2"] == pytest.approx(2.0)  # to (2, 0), not the nearer sample of the clean class
    assert row["t"] == pytest.approx(1.2 * 2 / 4) and row["perp"] == pytest.approx(0.3 / math.hypot(1.2, 0.3))
    assert row["flip_t"] == pytest.approx(0.5, abs=1e-3)
    assert row["landing"] == pytest.approx(0.6 / 0.5, abs=2e-3)
    # The most an L-inf step of 1.2 moves t along s = (2, 0): 1.2 * 2 / 4 = 0.6 (here reached: delta along s).
    assert row["t_bound"] == pytest.approx(0.6) and row["t"] <= row["t_bound"] + 1e-9
    # The null: a random perturbation of exactly the attack's L2 norm inside [0, 1], seeded by seed.
    xr = matched_norm_noise(x[:1], x_adv[:1], seed=1)
    assert (xr - x[:1]).norm().item() == pytest.approx(math.hypot(1.2, 0.3), rel=1e-6)
    assert row["t_random"] == pytest.approx(xr.flatten()[0].item() * 2 / 4, abs=1e-6)
    assert row["perp_random"] == pytest.approx(xr.flatten()[1].item() / math.hypot(1.2, 0.3), abs=1e-6)
    assert row["landing_random"] == pytest.approx(row["t_random"] / row["flip_t"])
    assert len(h4.landing_points(model, x[1:2], y[1:2], x_adv[1:2], x_train, y_train, grid=17)) == 0
    z = Bundle("d", {"m/s0": model}, x, y, x_train, y_train, {})
    table = tr.landing_table({"d": z}, {("d", "pgd", 0.1, "m/s0"): x_adv}, eps_ref=0.1, grid=17, seed=1)
    assert list(table.columns)[:4] == ["dataset", "source", "arch", "t"]
    assert table[["dataset", "source", "arch"]].values.tolist() == [["d", "m/s0", "m"]]
    assert tr.landing_medians(table).loc["d", "t"] == pytest.approx(0.6)


def synthetic_landing(centre: float, *, spread: float = 0.1, n_seeds: int = 5, n_examples: int = 80,
                      seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Landing fractions ``centre`` +- ``spread`` of PGD points (random ones near 0) for two archs x
    ``n_seeds`` source models, and a pair table in which transfer rises with agreement."""
    rng = np.random.default_rng(seed)
    names = [f"{a}/s{s}" for a in ("mlp", "cnn") for s in range(n_seeds)]
    frames = []
    for name in names:
        flip = rng.uniform(0.3, 0.6, n_examples)
        offset = 0.05 * rng.standard_normal()  # models differ a little
        landing = centre + offset + spread * rng.standard_normal(n_examples)
        random = 0.02 * rng.standard_normal(n_examples)
        frames.append(pd.DataFrame({"dataset": "d", "source": name, "arch": bundles.arch_of(name), "t": landing * flip,
                                    "flip_t": flip, "landing": landing, "landing_random": random,
                                    "perp": rng.uniform(0.9, 1.0, n_examples), "perp_random": 0.999,
                                    "t_random": random * flip, "segment_l2": 5.0, "t_bound": 0.3 * flip}))
    pairs = tr.model_pairs(names, 2)
    agree = rng.uniform(0.2, 1.0, len(pairs))
    table = pd.DataFrame({"dataset": "d", "model_a": [a for a, _ in pairs], "model_b": [b for _, b in pairs],
                          "kind": [tr.pair_kind(a, b) for a, b in pairs], "legit_effect": agree,
                          "flip_gap": agree / 5, "transfer": 1 - agree + 0.01 * rng.standard_normal(len(pairs)),
                          "noise": 0.05})
    return pd.concat(frames, ignore_index=True), table, {"d": names}


def synthetic_h4(effect: float, *, n_seeds: int = 5, n_inputs: int = 60, seed: int = 0
                 ) -> tuple[pd.DataFrame, dict]:
    """Adversarial and sign-noise distances of two archs x ``n_seeds`` models, each pair searched along its
    oriented source's directions: a target's log advantage along them is ``effect`` (+- 0.03 per pair) times
    the source's own; sign-noise distances vary by model and input, five classes."""
    rng = np.random.default_rng(seed)
    names = [f"{a}/s{s}" for a in ("mlp", "cnn") for s in range(n_seeds)]
    labels = np.arange(n_inputs) % 5
    sign = {m: 10.0 * np.exp(0.3 * rng.standard_normal(n_inputs)) for m in names}
    base = {"dataset": "d", "input": np.arange(n_inputs), "label": labels, "length": np.nan}
    frames = [pd.DataFrame({**base, "direction": "sign", "source": "-", "model": m, "md": sign[m], "cap": 60.0})
              for m in names]
    own = {m: np.exp(0.3 * rng.standard_normal(n_inputs)) for m in names}
    for src, tgt in bundles.orient(tr.model_pairs(names, 2)):
        e = effect + 0.03 * rng.standard_normal()
        adv = sign[tgt] ** (1 - e) * own[src] ** e * np.exp(0.05 * rng.standard_normal(n_inputs))
        for m, md in ((src, own[src]), (tgt, adv)):
            frames.append(pd.DataFrame({**base, "direction": "adversarial", "source": src, "model": m, "md": md,
                                        "cap": 12.0}))
    mds = pd.concat(frames, ignore_index=True)
    return mds.drop_duplicates(["direction", "source", "model", "input"], ignore_index=True), {"d": names}


def test_h4_rows_by_hand():
    # Source a, target b, two inputs; b's sign distance on input 1 is censored (counts at 60).
    base = {"dataset": "d", "label": 0, "length": np.nan}
    mds = pd.DataFrame([{**base, "direction": "adversarial", "source": "a/s0", "model": m, "input": i, "md": v,
                         "cap": 12.0} for m, vals in (("a/s0", [1.0, 2.0]), ("b/s0", [4.0, 3.0]))
                        for i, v in enumerate(vals)] +
                       [{**base, "direction": "sign", "source": "-", "model": m, "input": i, "md": v, "cap": 60.0}
                        for m, vals in (("a/s0", [10.0, 20.0]), ("b/s0", [8.0, np.inf])) for i, v in enumerate(vals)])
    rows = tr.h4_rows(mds)
    assert rows[["source", "target", "kind"]].drop_duplicates().values.tolist() == [["a/s0", "b/s0", "other arch"]]
    np.testing.assert_allclose(rows["toward"], [np.log(8 / 4), np.log(60 / 3)])
    np.testing.assert_allclose(rows["own"], [np.log(10 / 1), np.log(20 / 2)])


@pytest.mark.parametrize("effect, verdict", [(1.0, "supported"), (0.0, "no effect"), (0.3, "weaker than claimed")])
def test_h4_known_answers_land_on_either_side(output, effect, verdict):
    mds, models = synthetic_h4(effect)
    landing, pairs, _ = synthetic_landing(0.2)
    rows = tr.h4_rows(mds)
    strata, pooled, reported = tr.h4_estimates(rows, landing, pairs, models, n_boot=300, seed=0)
    assert list(strata) == ["d/same arch", "d/other arch"] and pooled.n == len(models["d"])
    assert pooled.value == pytest.approx(effect, abs=0.05)
    assert pooled.value == pytest.approx(np.mean([e.value for e in strata.values()]))
    P = {"profile": "quick", "eps_ref": 0.1, "pgd_steps": 10}
    c = tr.h4.record(strata, pooled, reported, P, models, ["figures/03_landing_and_agreement.png",
                                                           "figures/03_transfer_matrix_d.png",
                                                           "figures/03_controls.png"])
    assert c.verdict == verdict and {row["verdict"] for row in c.strata} == {verdict}
    assert c.figures == ["03_landing_and_agreement.png", "03_transfer_matrix_d.png", "03_controls.png"]
    saved = json.loads((output / "results" / "claims" / "H4.json").read_text())
    assert saved["primary"] == "h4_adversarial_direction_shared" and saved["primary"] in saved["measurements"]
    assert (saved["null_value"], saved["band"], saved["margin"], saved["ideal"]) == (0.0, 0.2, 0.5, 1.0)
    assert {s["stratum"] for s in saved["strata"]} == {"d/same arch", "d/other arch"}
    assert saved["rule_changes"][-1].startswith("2026-12-04: ") and "landing_vs_random" in saved["measurements"]


def test_h4_inconclusive_with_two_models_near_the_margin():
    mds, models = synthetic_h4(0.5, n_seeds=2, n_inputs=30, seed=2)
    _, pooled = h4.h4_primary(tr.h4_rows(mds), models, n_boot=300, seed=0)
    assert h4.RULE.judge(pooled) == "inconclusive" and pooled.low < 0.5 < pooled.high


def test_h4_reported_measurements_by_kind_of_pair():
    landing, pairs, models = synthetic_landing(0.2)
    mds, _ = synthetic_h4(0.5)
    _, _, reported = tr.h4_estimates(tr.h4_rows(mds), landing, pairs, models, n_boot=300, seed=0)
    for kind in ("same_arch", "other_arch"):
        for measure in ("transfer", "transfer_minus_noise", "spearman_agreement_transfer",
                        "spearman_flip_agreement_transfer"):
            assert f"{measure}_{kind}" in reported
        # Transfer falls with the pair's ratio (lower ratio: boundaries closer) in the synthetic table.
        assert reported[f"spearman_agreement_transfer_{kind}"].value > 0.9
        assert reported[f"spearman_agreement_transfer_{kind}"].low > 0.5
    same = pairs[pairs["kind"] == "same arch"]
    assert reported["transfer_same_arch"].value == pytest.approx(same["transfer"].mean())
    assert reported["transfer_minus_noise_same_arch"].value == pytest.approx(same["transfer"].mean() - 0.05)
    # The perpendicular share against random: PGD's (0.9-1.0) below random's 0.999.
    assert reported["perpendicular_share_vs_random"].high < 0
    assert reported["median_landing_random"].value == pytest.approx(0.0, abs=0.01)
    # The former primary, reported: the same two-level bootstrap over source models as before.
    groups = [(g["landing"] - g["landing_random"]).to_numpy()
              for _, g in landing.groupby(["dataset", "source"], sort=False)]
    assert reported["landing_vs_random"] == stats.cluster_bootstrap(groups, statistic=np.median, n_boot=300, seed=0)


# --------------------------------------------------------------------------- figures and results


def test_figures_and_results_file(output):
    z = line_bundle()
    rates = pd.DataFrame([{"dataset": "toy", "attack": a, "eps": e, "source": s, "target": t, "kind": k,
                           "success": 0.5} for a in ("pgd",) for e in (0.1, 0.2) for s in z.models
                          for t in z.models for k in (tr.pair_kind(s, t),)])
    fig = tr.figure_transfer_matrix(rates, "toy", list(z.models), [0.1, 0.2])
    assert len(fig.axes) == 3  # two heatmaps and one colour bar
    assert len(tr.figure_transfer_vs_eps(rates).axes) == 1
    mds, pairs, models = synthetic_mds(False, n_seeds=2, n_inputs=10)
    rows = tr.h3_rows(mds, pairs)
    assert len(tr.figure_boundary_distances(mds, rows, ["d"]).axes) == 2
    landing, pair_rows, _ = synthetic_landing(0.3, n_seeds=2, n_examples=10)
    assert len(tr.figure_landing_and_agreement(landing, pair_rows, 0.1).axes) == 3
    summary = tr.boundary_summary(mds, rows)
    assert set(summary.columns) == {"censored", "median_md", "median_id_over_md", "median_null_id_over_md"}
    strata, pooled, reported = tr.h3_estimates(rows, models, n_boot=100, seed=0)
    c = tr.h3.record(strata, pooled, reported, {"profile": "quick", "archs": [], "seeds": [], "n_boundary": 10},
                     models, [])
    bound = tr.landing_bound(landing)
    assert bound.loc["d", "share_bound_reaches_half_flip"] == 0.0  # t_bound = 0.3 flip_t in the fixture
    mds4, models4 = synthetic_h4(0.8, n_seeds=2, n_inputs=10)
    s4, p4 = h4.h4_primary(tr.h4_rows(mds4), models4, n_boot=100, seed=0)
    found = {"H3": (strata, pooled, [claims.Control("copy", claims.POSITIVE, pooled, "x")]),
             "H4": (s4, p4, [claims.Control("copy", claims.NEGATIVE, p4, "x")])}
    assert len(tr.figure_controls(found, {"H3": h3.RULE, "H4": h4.RULE}).axes) == 2
    table = tr.control_table({k: v[2] for k, v in found.items()}, {"H3": h3.RULE, "H4": h4.RULE})
    assert table["claim"].tolist() == ["H3", "H4"] and table["as_built"].tolist() == [False, False]
    path = tr.write_results(rates, summary, pair_rows, landing, [c], 1.5, {"profile": "quick"}, controls=table)
    saved = json.loads(path.read_text())["results"]
    assert saved["landing_bound"][0]["dataset"] == "d" and len(saved["controls"]) == 2
    assert saved["landing_median"][0]["dataset"] == "d" and "landing_random" in saved["landing_median"][0]
    assert len(saved["transfer"]) == 8 and saved["seconds"] == 1.5
    assert [s["stratum"] for s in saved["claims"]["H3"]["strata"]] == list(strata)
    plt.close("all")


# --------------------------------------------------------------------------- controls


def linear_classes(seed: int, *, dim: int = 6, classes: int = 3) -> nn.Module:
    """A linear classifier of ``classes`` classes on 1x1x``dim`` inputs with seeded weights, tied at a seeded
    centre inside [0.35, 0.65]^dim (so every class has a region inside the unit box)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(classes, dim, generator=gen)
    centre = 0.35 + 0.3 * torch.rand(dim, generator=gen)
    return linear(w, -(w @ centre))


class RandomPrototypes(nn.Module):
    """A stand-in for a network fitted to random labels: the nearest of ``n`` seeded points in the unit box,
    each given a seeded random one of ``classes`` labels (logits: minus the distance to each class's nearest)."""

    def __init__(self, seed: int, *, dim: int = 6, classes: int = 3, n: int = 200) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.points = torch.rand(n, dim, generator=gen)
        self.labels = torch.arange(n) % classes
        self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(x.flatten(1), self.points)
        return torch.stack([-d[:, self.labels == k].min(1).values for k in range(self.classes)], 1)


def toy_control_bundle() -> Bundle:
    """A 3-class linear source in six dimensions: 200 inputs inside the box labelled by it, 90 training samples."""
    source = linear_classes(0)
    gen = torch.Generator().manual_seed(1)
    x = (0.15 + 0.7 * torch.rand(200, 1, 1, 6, generator=gen))
    x_train = torch.rand(90, 1, 1, 6, generator=gen)
    y, y_train = source(x).argmax(1), source(x_train).argmax(1)
    assert len(set(y.tolist())) == 3 and len(set(y_train.tolist())) == 3
    return Bundle("toy", {"mlp/s0": source}, x, y, x_train, y_train, {"mlp/s0": "k"})


def test_perturbed_copy_and_random_label_configs(monkeypatch):
    model = linear_classes(0)
    copy = controls.perturbed_copy(model, 0.02, seed=3)
    w, w2 = model[1].weight, copy[1].weight
    assert not torch.equal(w, w2) and ((w2 - w).std() / w.std()).item() == pytest.approx(0.02, rel=0.5)
    assert torch.equal(controls.perturbed_copy(model, 0.02, seed=3)[1].weight, w2)  # seeded
    seen = []
    monkeypatch.setattr(controls, "train", lambda config, device=None: seen.append(config) or
                        SimpleNamespace(model=model))
    got = controls.random_label_models("mnist", "mlp", [0, 4], n_train=500, n_test=100)
    assert list(got) == ["random-labels/s0", "random-labels/s4"]
    assert [(c.labels, c.seed, c.n_train, c.arch) for c in seen] == [("random", 0, 500, "mlp"),
                                                                     ("random", 4, 500, "mlp")]


def test_controls_read_as_built_through_the_real_measurements(output, monkeypatch):
    # Positive: noisy copies of the source; negative: nearest-prototype rules over random labels (boundaries
    # unrelated to the source's), standing in for the random-label networks. Same code and rules as the zoo.
    # Like the random-label networks on MNIST, such rules meet the source's adversarial directions (which point
    # into the data, toward other classes) a little sooner than sign noise (about 0.1 here): inside H4's band.
    z = toy_control_bundle()
    monkeypatch.setattr(controls, "random_label_models", lambda name, arch, seeds, **kw: {
        f"random-labels/s{s}": RandomPrototypes(100 + s) for s in seeds})
    x_adv = attacks.pgd(z.models["mlp/s0"], z.x, z.y, eps=0.1, steps=10, seed=0)
    table, models = tr.control_distances(
        {"toy": z}, {("toy", "pgd", 0.1, "mlp/s0"): x_adv}, seeds=list(range(8)), noise=0.02, n_train=100, n_test=100,
        eps_ref=0.1, n_boundary=200, max_eps_legitimate=3.0, max_eps_adversarial=3.0, max_eps_random=6.0, grid=17,
        seed=0)
    assert set(table["direction"]) == {"legitimate", "adversarial", "random", "sign"}
    assert models["perturbed"]["toy"][0] == "mlp/s0" and len(models["random-labels"]["toy"]) == 9
    assert not table.duplicated(["control", "dataset", "direction", "source", "model", "input"]).any()
    found = tr.control_estimates(table, models, noise=0.02, n_boot=300, seed=0)
    verdicts = {(cid, c.kind): h.RULE.judge(c.estimate) for cid, h in (("H3", h3), ("H4", h4)) for c in found[cid]}
    assert verdicts == {("H3", "positive"): "supported", ("H3", "negative"): "no effect",
                        ("H4", "positive"): "supported", ("H4", "negative"): "no effect"}, {
        (cid, c.kind): c.estimate for cid in found for c in found[cid]}
    # Through record: the ledger holds the controls, each read as built.
    P = {"profile": "quick", "archs": [], "seeds": [], "n_boundary": 200, "eps_ref": 0.1, "pgd_steps": 10}
    est = found["H3"][0].estimate
    c = tr.h3.record({"toy/legitimate": est}, est, {}, P, {"toy": ["mlp/s0"]}, [], controls=found["H3"])
    assert [row["as_built"] for row in c.controls] == [True, True] and claims.control_problems(c.controls) == []
    c4 = tr.h4.record({}, found["H4"][0].estimate, {}, P, {"toy": ["mlp/s0"]}, [], controls=found["H4"])
    assert claims.control_problems(c4.controls) == [] and "controls read as built" in c4.sentence
