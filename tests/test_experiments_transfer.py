"""Tests for halfway_utils.experiments.transfer (notebook 03, claims H3 and H4).

Every model here is a hand-written linear 2-class model on 1x1x2 inputs whose boundary is a
known hyperplane, so distances, flip points and transfer outcomes are known by hand.
"""
from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from halfway_utils.evidence import stats
from halfway_utils.experiments import transfer as tr
from halfway_utils.infra import params


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


def linear2(w: list[float], b: float) -> nn.Module:
    """Two classes on 1x1x2 inputs: class 1 where w.x + b > 0 (a hyperplane boundary)."""
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        wt = torch.tensor(w)
        lin.weight.copy_(torch.stack([-wt, wt]) / 2)
        lin.bias.copy_(torch.tensor([-b, b]) / 2)
    return nn.Sequential(nn.Flatten(), lin).eval()


def pts(*rows: tuple[float, float]) -> torch.Tensor:
    """Points (x0, x1) as a (N, 1, 1, 2) image batch."""
    return torch.tensor(rows, dtype=torch.float32).view(-1, 1, 1, 2)


def two_models() -> dict[str, nn.Module]:
    """Boundaries x0 = 1 ("mlp/s0") and x0 = 1.5 ("mlp/s1"); class 1 beyond them."""
    return {"mlp/s0": linear2([1.0, 0.0], -1.0), "mlp/s1": linear2([1.0, 0.0], -1.5)}


def line_zoo(name: str = "toy") -> tr.Zoo:
    """Two hyperplane models, three test inputs (the third misclassified by mlp/s0) and a
    training set of class 0 at x0 = 0 and class 1 at x0 = 2."""
    x_train = pts(*[(0.0, 0.1 * k) for k in range(5)], *[(2.0, 0.1 * k) for k in range(5)])
    y_train = torch.tensor([0] * 5 + [1] * 5)
    return tr.Zoo(name, two_models(), pts((0.0, 0.0), (0.0, 0.4), (1.2, 0.0)), torch.tensor([0, 0, 0]),
                  x_train, y_train, {"mlp/s0": "key-a", "mlp/s1": "key-b"})


# --------------------------------------------------------------------------- building blocks


def test_unit_and_zero_rows():
    d = torch.tensor([[[[3.0, 4.0]]], [[[0.0, 2.0]]]])
    u = tr.unit(d)
    assert torch.allclose(u.flatten(1).norm(dim=1), torch.ones(2))
    assert torch.allclose(u[0].flatten(), torch.tensor([0.6, 0.8]))
    with pytest.raises(ValueError, match="all-zero"):
        tr.unit(torch.zeros(1, 1, 1, 2))


def test_legitimate_directions_point_to_other_class():
    x = pts((0.0, 0.0))
    y = torch.tensor([0])
    x_train = pts((0.1, 0.0), (0.0, 2.0), (3.0, 0.0))
    y_train = torch.tensor([0, 1, 2])
    d, idx, dist = tr.legitimate_directions(x, y, x_train, y_train)
    assert idx.item() == 1 and dist.item() == pytest.approx(2.0)
    assert torch.allclose(d.flatten(), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="another class"):
        tr.legitimate_directions(x, y, x_train[:1], y_train[:1])


def test_adversarial_and_random_directions():
    x = torch.zeros(3, 1, 1, 2)
    x_adv = pts((0.0, 0.0), (0.3, 0.4), (0.0, -1.0))
    d, ok = tr.adversarial_directions(x, x_adv)
    assert ok.tolist() == [False, True, True]
    assert torch.isnan(d[0]).all() and torch.allclose(d[1].flatten(), torch.tensor([0.6, 0.8]))
    r1, r2 = tr.random_directions(torch.zeros(5, 1, 4, 4), 3), tr.random_directions(torch.zeros(5, 1, 4, 4), 3)
    assert torch.equal(r1, r2) and torch.allclose(r1.flatten(1).norm(dim=1), torch.ones(5))
    assert not torch.equal(r1, tr.random_directions(torch.zeros(5, 1, 4, 4), 4))


def test_min_distances_and_inter_boundary_on_hyperplanes():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = torch.zeros(2, 1, 1, 2)
    d = pts((1.0, 0.0), (0.0, 1.0))  # second: parallel to both boundaries
    md = tr.min_distances(models, x, d, max_eps=4.0)
    assert md["a"][0].item() == pytest.approx(1.0, abs=1e-3)
    assert md["b"][0].item() == pytest.approx(1.5, abs=1e-3)
    assert math.isinf(md["a"][1].item())
    table = tr.inter_boundary(md)
    row = table.iloc[0]
    assert row["id"] == pytest.approx(0.5, abs=2e-3)
    assert row["ratio"] == pytest.approx(0.5 / 1.25, abs=2e-3)
    assert table["both_found"].tolist() == [True, False] and np.isnan(table["ratio"].iloc[1])
    nan_dir = torch.full_like(d, float("nan"))
    assert torch.isnan(tr.min_distances(models, x, nan_dir, max_eps=1.0)["a"]).all()


def test_transfer_outcomes_mask_and_matrix():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = pts((0.0, 0.0), (0.0, 0.0), (1.2, 0.0))
    y = torch.tensor([0, 0, 0])  # the third is misclassified by "a" (x0 > 1): dropped for "a"
    x_adv = {"a": pts((1.2, 0.0), (0.5, 0.0), (1.2, 0.0)), "b": pts((1.6, 0.0), (1.2, 0.0), (2.0, 0.0))}
    out = tr.transfer_outcomes(models, x, y, x_adv)
    assert out.shape == (2, 2, 3)
    assert np.isnan(out[0, :, 2]).all() and np.isnan(out[:, 0, 2]).all()
    assert out[1, 1, 2] == 1.0
    m = tr.transfer_matrix(out, ["a", "b"], ["a", "b"])
    assert m.loc["a", "a"] == pytest.approx(0.5) and m.loc["a", "b"] == pytest.approx(0.0)
    assert m.loc["b", "a"] == pytest.approx(1.0) and m.loc["b", "b"] == pytest.approx(2 / 3)


def test_flip_points_pairs_and_projection():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    a, b = pts((0.0, 0.0)), pts((2.0, 0.0))
    flips = tr.flip_points(models, a, b)
    assert flips["a"].item() == pytest.approx(0.5, abs=1e-3)
    gaps = tr.flip_disagreement(flips)
    assert gaps["mean_flip_gap"].iloc[0] == pytest.approx(0.25, abs=2e-3)
    t, perp = tr.segment_projection(a, pts((0.5, 0.5)), b)
    assert t.item() == pytest.approx(0.25) and perp.item() == pytest.approx(math.sqrt(0.5))
    t0, p0 = tr.segment_projection(a, a, b)
    assert t0.item() == 0 and torch.isnan(p0).all()


# --------------------------------------------------------------------------- parameters, models


def test_parameters_rules_and_cross_checks():
    defaults = {"profile": "quick", "datasets": ["mnist"], "archs": ["mlp", "cnn"], "seeds": [0, 1],
                "n_inputs": 200, "attack_names": ["pgd", "fgsm"], "eps_list": [0.05, 0.1], "eps_ref": 0.1,
                "pgd_steps": 10, "max_eps_legitimate": 12.0, "max_eps_adversarial": 12.0,
                "max_eps_random": 60.0, "grid": 1000, "n_boundary": 100, "n_paths": 200, "seed": 0,
                "device": None, "torch_threads": None}
    P = params.validate(defaults, tr.PARAMETERS)
    assert list(P) == list(tr.PARAMETERS) and set(P) == set(defaults)
    tr.check_parameters(P)
    for bad in ({"grid": 1001}, {"n_paths": 9}, {"eps_ref": 0.0}, {"torch_threads": 0}):
        with pytest.raises(params.ParameterError):
            params.validate({**defaults, **bad}, tr.PARAMETERS)
    for bad, message in (({"eps_ref": 0.2}, "eps_ref"), ({"attack_names": ["fgsm"]}, "PGD"),
                         ({"archs": ["mlp"], "seeds": [0, 1]}, "3 model pairs")):
        with pytest.raises(params.ParameterError, match=message):
            tr.check_parameters({**P, **bad})


def test_load_zoos_without_any_data_set(monkeypatch, capsys):
    monkeypatch.setattr(tr.data, "available", lambda name: False)
    with pytest.raises(RuntimeError, match="no data set available"):
        tr.load_zoos(["mnist"], ["mlp"], [0], 10)
    assert "skipping mnist" in capsys.readouterr().out


def test_pair_kind():
    assert tr.pair_kind("cnn/s0", "cnn/s0") == "white-box"
    assert tr.pair_kind("cnn/s0", "cnn/s1") == "same arch"
    assert tr.pair_kind("cnn/s0", "mlp/s0") == "other arch"


# --------------------------------------------------------------------------- transfer


def test_adversarial_sets_fgsm_on_a_hyperplane_is_cached(output):
    z = line_zoo()
    z.x = pts((0.2, 0.5), (0.6, 0.5))
    z.y = torch.tensor([0, 0])
    assert tr.attack_kw("pgd", 7, 3) == {"steps": 7, "seed": 3} and tr.attack_kw("fgsm", 7, 3) == {}
    adv, hits = tr.adversarial_sets({"toy": z}, ["fgsm"], [0.1, 0.3], pgd_steps=5, seed=0)
    assert sorted(adv) == sorted(("toy", "fgsm", e, k) for e in (0.1, 0.3) for k in z.models)
    assert hits == [False] * 4
    # The loss gradient points along +x0 only (the boundary is x0 = const): one step of eps along x0.
    expected = pts((0.5, 0.5), (0.9, 0.5))
    assert torch.allclose(adv["toy", "fgsm", 0.3, "mlp/s0"], expected, atol=1e-6)
    _, hits = tr.adversarial_sets({"toy": z}, ["fgsm"], [0.1, 0.3], pgd_steps=5, seed=0)
    assert hits == [True] * 4


def test_transfer_rates_long_table():
    z = line_zoo()
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
    near = tr.Zoo("near", {"edge": linear2([1.0, 0.0], -0.05), "far": linear2([1.0, 0.0], -0.5)},
                  torch.zeros(40, 1, 1, 2), torch.zeros(40, dtype=torch.long), torch.zeros(1, 1, 1, 2),
                  torch.zeros(1, dtype=torch.long), {})
    wrong = tr.Zoo("wrong", {"edge": linear2([1.0, 0.0], -0.05)}, pts((0.0, 0.0), (0.9, 0.0)),
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
    assert tr.boundary_inputs(two_models(), x, y, 5).tolist() == [True, False, True, True]
    assert tr.boundary_inputs(two_models(), x, y, 2).tolist() == [True, False, True, False]


def test_boundary_distances_on_hyperplanes(capsys):
    # Boundaries x0 = 1 and 1.5 from x0 = 0: along any direction with a positive x0 part d0 the
    # distances are 1 / d0 and 1.5 / d0, so ID / MD = 0.5 / 1.25 = 0.4 whatever the direction.
    z = line_zoo()
    adv = {("toy", "pgd", 0.1, "mlp/s0"): pts((0.3, 0.4), (0.6, 1.2), (9.0, 9.0)),  # both along (0.6, 0.8)
           ("toy", "pgd", 0.1, "mlp/s1"): pts((0.5, 0.0), (0.0, 0.4), (9.0, 9.0))}  # 2nd: no move
    mds, ids = tr.boundary_distances({"toy": z}, adv, eps_ref=0.1, n_boundary=10, max_eps_legitimate=5.0,
                                     max_eps_adversarial=5.0, max_eps_random=20.0, grid=17, seed=0)
    assert "toy: 2 inputs classified correctly by all 2 models" in capsys.readouterr().out
    legit = mds[mds["direction"] == "legitimate"].set_index(["model", "input"])["md"]
    assert legit["mlp/s0"].tolist() == pytest.approx([1.0, 1.0], abs=1e-3)  # toward (2, 0) and (2, 0.4)
    assert legit["mlp/s1"].tolist() == pytest.approx([1.5, 1.5], abs=1e-3)
    adv_md = mds[(mds["direction"] == "adversarial") & (mds["source"] == "mlp/s0")]
    assert adv_md["md"].tolist() == pytest.approx([1 / 0.6, 1 / 0.6, 1.5 / 0.6, 1.5 / 0.6], abs=1e-3)
    assert len(mds) == 2 * 4 * 2  # (legitimate, random, adversarial x 2 sources) x 2 models x 2 inputs
    # One pair per search; the adversarial ones contain the direction's source.
    pairs = ids.groupby(["direction", "source"])[["model_a", "model_b"]].first()
    assert pairs.loc[("adversarial", "mlp/s1")].tolist() == ["mlp/s1", "mlp/s0"]
    measured = ids[ids["both_found"]]
    assert measured["ratio"].to_numpy() == pytest.approx(0.4, abs=2e-3)
    unmoved = ids[(ids["source"] == "mlp/s1") & (ids["input"] == 1)]
    assert np.isnan(unmoved["ratio"]).all()
    random_d = tr.random_directions(z.x[:2], 0).flatten(1)[:, 0]
    expect_found = (random_d * 20.0 > 1.5).tolist()  # both boundaries within max_eps_random
    assert ids[ids["direction"] == "random"]["both_found"].tolist() == expect_found


def test_boundary_summary_by_hand():
    mds = pd.DataFrame({"dataset": "d", "direction": ["legitimate"] * 4 + ["random"] * 2,
                        "md": [1.0, 3.0, np.inf, 2.0, 5.0, np.inf]})
    ids = pd.DataFrame({"dataset": "d", "direction": ["legitimate"] * 3 + ["random"],
                        "id": [0.1, 0.3, np.nan, 0.5], "ratio": [0.2, 0.4, np.nan, 1.0]})
    s = tr.boundary_summary(mds, ids)
    assert s.loc[("d", "legitimate"), "found"] == 0.75 and s.loc[("d", "legitimate"), "median_md"] == 2.0
    assert s.loc[("d", "random"), "found"] == 0.5 and s.loc[("d", "random"), "median_md"] == 5.0
    assert s.loc[("d", "legitimate"), "median_id"] == pytest.approx(0.2)
    assert s.loc[("d", "legitimate"), "median_ratio"] == pytest.approx(0.3)


def ids_table() -> pd.DataFrame:
    """Three pairs on two inputs of two data sets, legitimate ratios chosen by hand."""
    rows = []
    for dataset, ratios in (("d1", [[0.1, 0.2, 0.9], [0.3, 0.4, 0.5]]), ("d2", [[0.6, 0.7, 0.8], [0.0, 0.1, 0.2]])):
        for i, per_pair in enumerate(ratios):
            for (a, b), r in zip((("m0", "m1"), ("m0", "m2"), ("m1", "m2")), per_pair):
                rows.append({"dataset": dataset, "direction": "legitimate", "source": "-", "model_a": a,
                             "model_b": b, "input": i, "ratio": r, "id": r})
    rows.append({"dataset": "d1", "direction": "random", "source": "-", "model_a": "m0", "model_b": "m1",
                 "input": 0, "ratio": 1.5, "id": 1.5})
    return pd.DataFrame(rows)


def test_per_input_ratio_and_h3_measurements():
    ids = ids_table()
    per_input = tr.per_input_ratio(ids, "legitimate")
    np.testing.assert_allclose(per_input, [0.2, 0.4, 0.7, 0.1])  # medians over the three pairs
    m = tr.h3_measurements(ids, seed=0)
    assert list(m) == ["median_id_over_md_legitimate", "median_id_over_md_adversarial", "median_id_over_md_random"]
    assert m["median_id_over_md_legitimate"].value == pytest.approx(0.3) and m["median_id_over_md_legitimate"].n == 4
    assert m["median_id_over_md_random"].value == 1.5
    assert m["median_id_over_md_adversarial"].n == 0 and math.isnan(m["median_id_over_md_adversarial"].value)


def test_record_h3_verdict_and_figures(output):
    est = lambda v, lo, hi: stats.Estimate(v, lo, hi, 10, "bootstrap")
    P = {"profile": "quick", "archs": ["mlp"], "seeds": [0, 1]}
    figures = ["figures/03_transfer_vs_eps.png", "figures/03_boundary_distances.png"]
    m = {"median_id_over_md_legitimate": est(0.3, 0.2, 0.45), "median_id_over_md_random": est(1.0, 0.9, 1.1)}
    c = tr.record_h3(m, P, ["mnist"], figures)
    assert c.verdict == "supported" and c.figures == ["03_boundary_distances.png"]
    assert c.rule == "(median_id_over_md_legitimate < 0.5) on the 95% intervals"
    assert "['mlp'] x seeds [0, 1] on ['mnist']" in c.notes
    assert json.loads((output / "results" / "claims" / "H3.json").read_text())["verdict"] == "supported"
    m["median_id_over_md_legitimate"] = est(0.6, 0.45, 0.7)
    assert tr.record_h3(m, P, ["mnist"], figures).verdict == "inconclusive"
    m["median_id_over_md_legitimate"] = est(0.6, 0.55, 0.7)
    assert tr.record_h3(m, P, ["mnist"], figures).verdict == "not supported"


# --------------------------------------------------------------------------- H4


def test_flip_gaps_on_hyperplanes():
    # Segments between x0 = 0 and x0 = 2 in either direction: flips at x0 = 1 and 1.5, a gap of 0.25 in t.
    gaps = tr.flip_gaps(line_zoo(), n_paths=12, grid=17, seed=3)
    assert gaps[["model_a", "model_b"]].values.tolist() == [["mlp/s0", "mlp/s1"]]
    assert gaps["n"].item() == 12 and gaps["mean_flip_gap"].item() == pytest.approx(0.25, abs=2e-3)


def test_pair_table_by_hand():
    models = {k: linear2([1.0, 0.0], -1.0) for k in ("m0", "m1", "m2")}
    z = tr.Zoo("d1", models, pts((0.0, 0.0)), torch.tensor([0]), line_zoo().x_train, line_zoo().y_train, {})
    out = np.zeros((3, 3, 4))
    out[0, 1] = [1, 1, 0, np.nan]  # m0 -> m1: 2 / 3
    out[1, 0] = [1, 0, 0, 0]  # m1 -> m0: 1 / 4
    out[2, 0] = [1, 1, 1, 1]  # m2 -> m0: 1
    ids = ids_table()
    pairs = tr.pair_table({"d1": z}, ids, {("d1", "pgd", 0.1): out}, eps_ref=0.1, n_paths=10, grid=17, seed=0)
    assert pairs["pair"].tolist() == ["m0 | m1", "m0 | m2", "m1 | m2"]
    np.testing.assert_allclose(pairs["legit_ratio"], [0.2, 0.3, 0.7])  # medians over d1's two inputs
    np.testing.assert_allclose(pairs["transfer"], [(2 / 3 + 1 / 4) / 2, 0.5, 0.0])
    np.testing.assert_allclose(pairs["flip_gap"], 0.0, atol=1e-9)  # identical models flip at the same t
    assert set(pairs["kind"]) == {"other arch"} and set(pairs["dataset"]) == {"d1"}


def test_agreement_correlations_centre_each_data_set():
    # Within each data set transfer falls as the ratio rises; d2 sits higher on both axes, which
    # pooled without centring would hide the trend.
    transfer = np.array([0.30, 0.21, 0.10, 0.96, 0.80, 0.70])
    offset = np.array([1.0] * 3 + [2.0] * 3)
    pairs = pd.DataFrame({"dataset": ["d1"] * 3 + ["d2"] * 3, "legit_ratio": offset - transfer,
                          "flip_gap": transfer / 2, "transfer": transfer})
    rho_legit, rho_flip = tr.agreement_correlations(pairs, seed=0)
    assert rho_legit.value == pytest.approx(1.0) and rho_flip.value == pytest.approx(-1.0)
    assert rho_legit.n == 6
    assert stats.spearman(-pairs["legit_ratio"], pairs["transfer"]).value < 0  # the uncentred pooled value


def test_landing_points_and_table():
    model = linear2([1.0, 0.0], -1.0)
    x = pts((0.0, 0.0), (0.0, 0.0), (1.5, 0.0))
    y = torch.tensor([0, 0, 0])  # third: misclassified on clean input, not counted
    x_adv = pts((1.2, 0.3), (0.5, 0.0), (2.0, 0.0))  # second: does not fool
    x_train = pts((0.1, 0.0), (2.0, 0.0), (2.0, 3.0), (-2.5, 0.0))
    y_train = torch.tensor([0, 1, 1, 1])
    got = tr.landing_points(model, x, y, x_adv, x_train, y_train, grid=17)
    assert len(got) == 1
    row = got.iloc[0]
    assert row["segment_l2"] == pytest.approx(2.0)  # to (2, 0), not the nearer sample of the clean class
    assert row["t"] == pytest.approx(1.2 * 2 / 4) and row["perp"] == pytest.approx(0.3 / math.hypot(1.2, 0.3))
    assert row["flip_t"] == pytest.approx(0.5, abs=1e-3)
    assert len(tr.landing_points(model, x[1:2], y[1:2], x_adv[1:2], x_train, y_train, grid=17)) == 0
    z = tr.Zoo("d", {"m": model}, x, y, x_train, y_train, {})
    table = tr.landing_table({"d": z}, {("d", "pgd", 0.1, "m"): x_adv}, eps_ref=0.1, grid=17)
    assert list(table.columns) == ["dataset", "source", "t", "perp", "flip_t", "segment_l2"]
    assert table[["dataset", "source"]].values.tolist() == [["d", "m"]]
    assert tr.landing_medians(table).loc["d", "t"] == pytest.approx(0.6)


def test_offdiagonal_rate_and_transfer_minus_noise():
    out = np.array([[[1, 1, 1], [1, 0, np.nan]], [[0, 1, 1], [0, 0, np.nan]]], dtype=float)
    np.testing.assert_allclose(tr.offdiagonal_rate(out), [0.5, 0.5, 1.0])  # pairs (0, 1) and (1, 0)
    noise = np.array([[0.0, 1.0, np.nan], [0.0, 0.0, np.nan]])
    got = tr.transfer_minus_noise(out, noise)
    np.testing.assert_allclose(got[:2], [0.5, 0.0])
    assert np.isnan(got[2])


def test_h4_measurements_and_record(output):
    out = {("d1", "pgd", 0.1): np.array([[[1, 1], [1, 0]], [[0, 1], [1, 1]]], dtype=float),
           ("d2", "pgd", 0.1): np.array([[[1, 1], [0, 0]], [[1, 1], [1, 1]]], dtype=float)}
    noise = {("d1", 0.1): np.array([[0.0, 0.5], [0.0, 0.5]]), ("d2", 0.1): np.zeros((2, 2))}
    landing = pd.DataFrame({"t": [0.1, 0.2, 0.9], "flip_t": [0.5, 0.4, 0.6], "perp": [0.9, 1.0, 0.8]})
    rho = (stats.Estimate(0.2, 0.1, 0.3, 6, "spearman"), stats.Estimate(-0.1, -0.5, 0.3, 6, "spearman"))
    m = tr.h4_measurements(rho, out, noise, landing, datasets=["d1", "d2"], eps_ref=0.1, seed=0)
    assert list(m)[:2] == ["spearman_agreement_transfer", "spearman_flip_agreement_transfer"]
    # Per input off-diagonal rates: d1 (1+0)/2, (0+1)/2 ... d2 (0+1)/2, (0+1)/2.
    assert m["offdiagonal_transfer_rate"].value == pytest.approx(np.mean([0.5, 0.5, 0.5, 0.5]))
    assert m["transfer_minus_noise"].value == pytest.approx(np.mean([0.5, 0.0, 0.5, 0.5]))
    assert m["transfer_minus_noise"].n == 4
    assert m["landing_t_median"].value == 0.2 and m["landing_flip_t_median"].value == 0.5
    assert m["landing_perpendicular_share_median"].value == 0.9
    P = {"profile": "quick", "eps_ref": 0.1, "pgd_steps": 10}
    figures = ["figures/03_transfer_matrix_a.png", "figures/03_transfer_vs_eps.png",
               "figures/03_boundary_distances.png", "figures/03_transfer_matrix_b.png",
               "figures/03_agreement_and_landing.png"]
    c = tr.record_h4(m, P, figures)
    assert c.figures == ["03_agreement_and_landing.png", "03_transfer_vs_eps.png", "03_transfer_matrix_a.png",
                         "03_transfer_matrix_b.png"]
    assert c.rule == "(spearman_agreement_transfer > 0) and (transfer_minus_noise > 0) on the 95% intervals"
    assert m["transfer_minus_noise"].low > 0 and c.verdict == "supported"
    assert "eps_ref=0.1, 10 steps" in c.notes
    m["spearman_agreement_transfer"] = stats.Estimate(-0.2, -0.3, -0.1, 6, "spearman")
    assert tr.record_h4(m, P, figures).verdict == "not supported"


def test_figures_and_results_file(output):
    z = line_zoo()
    rates = pd.DataFrame([{"dataset": "toy", "attack": a, "eps": e, "source": s, "target": t, "kind": k,
                           "success": 0.5} for a in ("pgd",) for e in (0.1, 0.2) for s in z.models
                          for t in z.models for k in (tr.pair_kind(s, t),)])
    fig = tr.figure_transfer_matrix(rates, "toy", list(z.models), [0.1, 0.2])
    assert len(fig.axes) == 3  # two heatmaps and one colour bar
    assert len(tr.figure_transfer_vs_eps(rates).axes) == 1
    mds = pd.DataFrame({"dataset": "toy", "direction": ["legitimate", "adversarial", "random"] * 2,
                        "model": ["mlp/s0"] * 3 + ["mlp/s1"] * 3, "md": [1.0, 2.0, 3.0, 1.5, 2.5, np.inf]})
    ids = pd.DataFrame({"dataset": "toy", "direction": ["legitimate", "adversarial", "random"],
                        "ratio": [0.4, 0.2, np.nan], "id": [0.5, 0.5, np.nan]})
    assert len(tr.figure_boundary_distances(mds, ids, ["toy"]).axes) == 2
    pairs = pd.DataFrame({"dataset": "toy", "kind": "same arch", "legit_ratio": [0.4], "flip_gap": [0.25],
                          "transfer": [0.5], "pair": ["mlp/s0 | mlp/s1"]})
    landing = pd.DataFrame({"dataset": "toy", "source": "mlp/s0", "t": [0.1, 0.6], "flip_t": [0.5, 0.5],
                            "perp": [0.9, 0.8], "segment_l2": [2.0, 2.0]})
    est = stats.Estimate(0.1, -0.2, 0.4, 3, "spearman")
    assert len(tr.figure_agreement_and_landing(pairs, landing, est, est, 0.1).axes) == 3
    summary = tr.boundary_summary(mds, ids)
    path = tr.write_results(rates, summary, pairs, landing, [], 1.5, {"profile": "quick"})
    saved = json.loads(path.read_text())["results"]
    assert saved["landing_median"] == [pytest.approx({"dataset": "toy", "t": 0.35, "flip_t": 0.5, "perp": 0.85,
                                                      "segment_l2": 2.0})]
    assert len(saved["transfer"]) == 8 and saved["seconds"] == 1.5
    plt.close("all")
