"""Tests that catch wrong science: each one fails when a one-line bug in the decision path is patched in.

Each fixture can tell the right computation from the wrong one: three or more classes (the nearest
wrong-class sample is not of the adversarial class), per-pair values that vary within a pair
(median != mean), held-out samples that differ from the queries, twins whose activations differ
from the trained network's, strata with very different values. Exact interval bounds are not
asserted (the interval code is being rewritten); point values, which inputs a function reads, and
interval widths against the nominal 95% level are.
"""
import json
import math
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from halfway_utils import data, models, zoo
from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.claims import NO_EFFECT, SUPPORTED
from halfway_utils.experiments import som_codes
from halfway_utils.experiments.convex_hull import c1
from halfway_utils.experiments.convex_hull import tables as hull_tables
from halfway_utils.experiments.generalization import ceiling, kappa
from halfway_utils.experiments.som_codes import perturbed_codes, s1, zoo_codes
from halfway_utils.experiments.transfer import h3, h4
from halfway_utils.methods.codes import INPUT
from halfway_utils.methods.perturb import matched_norm_noise

Z975 = sps.norm.ppf(0.975)


# -------------------------------------------------------------------------- small networks with known answers

def centre_net(centres, hidden_weight=None, hidden_bias=None) -> models.StagedNet:
    """Two pixels -> ``fc1`` (identity unless given) -> logits of the nearest centre (of ``fc1``'s output):
    logit_c = 2 <h, c> - |c|^2, so the argmax is the nearest centre."""
    c = torch.as_tensor(centres, dtype=torch.float32)
    fc1 = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    logits = nn.Linear(2, len(c))
    with torch.no_grad():
        fc1[1].weight.copy_(torch.eye(2) if hidden_weight is None else torch.as_tensor(hidden_weight))
        fc1[1].bias.copy_(torch.zeros(2) if hidden_bias is None else torch.as_tensor(hidden_bias))
        logits.weight.copy_(2 * c)
        logits.bias.copy_(-(c * c).sum(1))
    return models.StagedNet(models.Normalize((0.0,), (1.0,)), OrderedDict(fc1=fc1, logits=logits)).eval()


CENTRES3 = [[0.2, 0.2], [0.8, 0.8], [0.2, 0.8]]


def collapsed_twin() -> models.StagedNet:
    """The same architecture with ``fc1`` sending every input to one point: its hidden codes are constant."""
    return centre_net(CENTRES3, hidden_weight=torch.zeros(2, 2), hidden_bias=torch.tensor([0.5, 0.5]))


def three_clusters(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes around :data:`CENTRES3`, jitter below 0.03, classes interleaved."""
    y = torch.arange(3 * n) % 3
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(CENTRES3)[y] + (torch.rand(3 * n, 2, generator=g) - 0.5) * 0.06
    return x.view(3 * n, 1, 1, 2), y


# -------------------------------------------------------------------------- 1. S1: the twin's own activations

def _assert_twin_codes_are_its_own(f):
    trained_fc1 = f.clean["fc1"]
    assert len(set(trained_fc1.tolist())) > 1  # the trained network's hidden codes separate the classes
    for key, codes in f.code_sets.items():
        if key[0] == zoo_codes.UNTRAINED:
            # the twin's fc1 sends every input to one point: one code, whatever the trained network does
            assert len(set(codes["fc1"].tolist())) == 1, key
            assert not torch.equal(codes["fc1"], trained_fc1) or len(set(trained_fc1.tolist())) == 1


def test_s1_untrained_twin_is_coded_on_its_own_activations():
    x, y = three_clusters()
    f = zoo_codes.fit_codes(centre_net(CENTRES3), x, y, rows=1, cols=3, seed=1, epochs=5,
                            untrained=collapsed_twin(), alt_grid=(3, 1))
    assert (zoo_codes.UNTRAINED, "1x3") in f.code_sets and (zoo_codes.UNTRAINED, "3x1") in f.code_sets
    _assert_twin_codes_are_its_own(f)
    # ... and S1 reads them: the twin's excess MI at fc1 is 0 (one code), the trained network's is not
    metrics = som_codes.code_metrics_table({("toy", "net", 1): f}, n_shuffles=3)
    fc1 = metrics[(metrics.layer == "fc1") & (metrics.grid == "1x3")].set_index("network")["normalized_mi"]
    assert fc1[zoo_codes.UNTRAINED] == pytest.approx(0.0, abs=1e-9) and fc1[zoo_codes.TRAINED] > 0.5


def test_s1_code_zoo_codes_the_twin_from_zoo_untrained(monkeypatch):
    x, y = three_clusters(6)
    monkeypatch.setattr(zoo, "train", lambda config, device=None: SimpleNamespace(
        model=centre_net(CENTRES3), fitted=True, config=config, final={"train_acc": 1.0}))
    monkeypatch.setattr(zoo, "untrained", lambda config, device=None: collapsed_twin())
    monkeypatch.setattr(data, "load", lambda dataset, split, n=None, seed=None: (x, y))
    fitted, _ = som_codes.code_zoo(["mnist"], ["mlp"], [0, 1], n_train=100, n_test=50, n_samples=len(y), rows=1,
                                   cols=3, epochs=3, alt_grid=(3, 1), device="cpu")
    assert len(fitted) == 2
    for f in fitted.values():
        _assert_twin_codes_are_its_own(f)


# ------------------------------------------------------- 6. S2: the random null is noise, not the clean input

def test_s2_random_null_codes_matched_norm_noise_not_the_clean_input():
    x, y = three_clusters(10)
    f = zoo_codes.fit_codes(centre_net(CENTRES3), x, y, rows=1, cols=3, seed=2, epochs=5)
    fitted = {("toy", "net", 2): f}
    changes, _ = som_codes.attack_codes(fitted, ["fgsm", "pgd"], [0.25, 0.45], n_attack=24, pgd_steps=5)
    xs, ys = f.x[:24], f.y[:24]
    clean = OrderedDict((k, v[:24]) for k, v in f.clean.items())
    for (attack, eps), block in changes.groupby(["attack", "eps"], sort=False):
        x_adv = perturbed_codes.adversarial(f.model, xs, ys, attack, eps, pgd_steps=5, seed=2)
        x_rnd = matched_norm_noise(xs, x_adv, seed=2)
        assert not torch.allclose(x_rnd, xs)
        rnd, rnd_pred = f.mapper.read(x_rnd)
        want = {layer: float((rnd[layer] != clean[layer]).float().mean()) for layer in clean}
        got = block.set_index("layer")["random_change_rate"].to_dict()
        assert got == pytest.approx(want), (attack, eps)
        assert block["random_accuracy"].iloc[0] == pytest.approx(float((rnd_pred == ys).float().mean()))
        np.testing.assert_allclose(block.excess_change, block.change_rate - block.random_change_rate)
    # the fixture can tell noise from the clean input: noise of the attack's norm moves some codes
    assert (changes[changes.eps == 0.45].random_change_rate > 0).any()
    assert (changes[changes.eps == 0.45].random_accuracy < 1).any()


# ------------------------------------------------------- 2. C1: the held-out tables are the held-out samples'

def _ratio_tables(seed: int = 0):
    rng = np.random.default_rng(seed)
    tests = {("d", "pixel"): {"ratio_nn": rng.lognormal(-0.3, 0.4, 80)},
             ("e", "pixel"): {"ratio_nn": rng.lognormal(-1.0, 0.3, 60)}}
    helds = {("d", "pixel"): {"ratio_nn": rng.lognormal(-1.5, 0.5, 70)},
             ("e", "pixel"): {"ratio_nn": rng.lognormal(-0.5, 0.3, 90)}}
    for name, shift in (("d", 0.0), ("e", 0.2)):
        for s in range(3):
            tests[(name, f"mlp/seed{s}")] = {"ratio_nn": rng.uniform(0.4, 0.9, 30) + shift + 0.05 * s}
            helds[(name, f"mlp/seed{s}")] = {"ratio_nn": rng.uniform(0.1, 0.5, 30) + 0.03 * s}
    return tests, helds


def test_c1_held_out_difference_reads_the_held_out_samples():
    tests, helds = _ratio_tables()
    med = {k: float(np.median(t["ratio_nn"])) for k, t in tests.items()}
    med_h = {k: float(np.median(t["ratio_nn"])) for k, t in helds.items()}
    strata = c1.stratum_effects(tests, ["d", "e"], ["mlp"], 200, helds)
    for name in ("d", "e"):
        pix = (name, "pixel")
        assert strata[f"{name}/pixel"].value == pytest.approx(med[pix] - med_h[pix])
        assert abs(strata[f"{name}/pixel"].value) > 0.1
        per_model = [med[(name, f"mlp/seed{s}")] - med_h[(name, f"mlp/seed{s}")] for s in range(3)]
        assert strata[f"{name}/mlp"].value == pytest.approx(np.mean(per_model))
    pooled = c1.pooled_effect(tests, ["d", "e"], ["mlp"], 200, helds)
    assert pooled.value == pytest.approx(np.mean([e.value for e in strata.values()]))
    # the primary itself reads the test queries only
    primary = c1.stratum_effects(tests, ["d", "e"], ["mlp"], 200)
    assert primary["d/pixel"].value == pytest.approx(med[("d", "pixel")])


def test_c1_measurements_report_the_held_out_samples():
    tests, helds = _ratio_tables(1)
    for tables, share in ((tests, 0.3), (helds, 0.8)):
        for t in tables.values():
            n = len(t["ratio_nn"])
            t["inside"] = np.arange(n) < share * n
            t["ratio_other"] = t["ratio_nn"] / 2
            t["label_change"] = np.zeros(n, bool)
    out = c1.measurements(tests, helds, [], ["d", "e"], ["mlp"], 200)
    for name in ("d", "e"):
        pix = (name, "pixel")
        assert out[f"test_minus_heldout_{name}_pixel"].value == pytest.approx(
            np.median(tests[pix]["ratio_nn"]) - np.median(helds[pix]["ratio_nn"]))
        held_median = np.median(helds[pix]["ratio_nn"])
        assert out[f"median_hull_over_nn_heldout_{name}_pixel"].value == pytest.approx(held_median)
        assert out[f"outside_heldout_{name}_pixel"].value == pytest.approx(1 - np.mean(helds[pix]["inside"]))
        assert out[f"outside_test_{name}_pixel"].value == pytest.approx(1 - np.mean(tests[pix]["inside"]))
    assert abs(out["test_minus_heldout_pooled"].value) > 0.1


def test_c1_pixel_tables_measure_the_held_out_samples_not_the_queries():
    rng = np.random.default_rng(0)
    x_train = torch.as_tensor(rng.uniform(0.3, 0.7, (40, 4)), dtype=torch.float32)
    y_train = torch.arange(40) % 3
    x_test = torch.as_tensor(rng.uniform(0.0, 1.0, (12, 4)) ** 3, dtype=torch.float32)  # mostly far outside
    w = rng.dirichlet(np.ones(40), 10)
    x_held = torch.as_tensor(w @ x_train.numpy(), dtype=torch.float32)  # inside the hull
    split = hull_tables.Split(x_train.view(40, 1, 2, 2), y_train, x_test.view(12, 1, 2, 2), torch.arange(12) % 3, 12,
                              x_held.view(10, 1, 2, 2), torch.arange(10) % 3)
    tests, helds = hull_tables.pixel_tables({"toy": split}, tol=1e-10, device="cpu")
    t, h = tests[("toy", "pixel")], helds[("toy", "pixel")]
    assert len(t["hull"]) == 12 and len(h["hull"]) == 10
    assert h["hull"].max() < 1e-3 and np.median(t["hull"]) > 0.05
    want = hull_tables.hull_table(split.x_train, y_train.numpy(), split.x_held, split.y_held.numpy(), tol=1e-10,
                                  device="cpu")
    np.testing.assert_allclose(h["nn"], want["nn"], rtol=1e-5)
    np.testing.assert_array_equal(h["nn_index"], want["nn_index"])


# --------------------------------------------------------------------------- 7. the nominal 95% level

def _normal_grid(n: int, mean: float, sd: float, seed: int) -> np.ndarray:
    """A deterministic normal sample (the quantiles at (i + 1/2)/n), shuffled: no sampling noise in its spread."""
    return np.random.default_rng(seed).permutation(mean + sd * sps.norm.ppf((np.arange(n) + 0.5) / n))


def _assert_95(est, se, what):
    ratio = (est.high - est.low) / (2 * Z975 * se)
    assert 0.9 <= ratio <= 1.25, f"{what}: width {ratio:.3f} of the 95% normal interval (90% would be 0.84)"


def test_intervals_have_the_nominal_95_percent_level():
    n, sd = 2500, 0.2
    a, b = _normal_grid(n, 1.0, sd, 1), _normal_grid(n, 0.4, sd, 2)
    se_mean = a.std(ddof=1) / math.sqrt(n)
    se_median = math.sqrt(math.pi / 2) * sd / math.sqrt(n)
    _assert_95(stats.bootstrap(a), se_mean, "stats.bootstrap, mean")
    _assert_95(stats.bootstrap(a, np.median), se_median, "stats.bootstrap, median")
    _assert_95(c1.median_ratio(a, 2000), se_median, "c1.median_ratio")
    _assert_95(c1.median_difference(a, b, n_boot=2000), se_median * math.sqrt(2), "c1.median_difference")
    tests, helds = {("d", "pixel"): {"ratio_nn": a}}, {("d", "pixel"): {"ratio_nn": b}}
    _assert_95(c1.stratum_effect(tests, "d", "pixel", 2000), se_median, "c1 pixel stratum")
    _assert_95(c1.stratum_effect(tests, "d", "pixel", 2000, helds), se_median * math.sqrt(2), "c1 pixel difference")
    _assert_95(c1.pooled_effect(tests, ["d"], [], 2000), se_median, "c1 pooled, pixel only")
    _assert_95(c1.pooled_effect(tests, ["d"], [], 2000, helds), se_median * math.sqrt(2), "c1 pooled difference")
    _assert_95(stats.share(np.arange(n) % 4 == 0, n_boot=2000), math.sqrt(0.25 * 0.75 / n), "stats.share")
    _assert_95(stats.across_seeds(a), se_mean, "stats.across_seeds")
    boots = _normal_grid(4000, 0.0, 1.0, 3)
    _assert_95(stats.replicate_interval(0.0, boots, 4000, "m"), 1.0, "stats.replicate_interval")
    _assert_95(stats.cluster_bootstrap(np.array_split(a, 500), within=False), se_mean, "stats.cluster_bootstrap")
    # the level argument is honoured: 90% is 1.645 / 1.96 of the width
    e90 = stats.bootstrap(a, level=0.9)
    assert (e90.high - e90.low) / (2 * Z975 * se_mean) == pytest.approx(sps.norm.ppf(0.95) / Z975, abs=0.06)


# -------------------------------------------------------------------- 3. pooled kappa resamples within strata

KAPPAS = {"a/mlp": 0.85, "b/mlp": 0.45, "c/mlp": 0.05}


def _kappa_groups(n_inputs: int = 1500, seed: int = 0):
    """Three strata of four models with very different kappas and little spread within a stratum."""
    rng = np.random.default_rng(seed)
    groups = {}
    for stratum, k in KAPPAS.items():
        rows = []
        for m in range(4):
            e = rng.uniform(0.05, 0.25, n_inputs)  # expected shares vary per input
            p = k + (1 - k) * e  # P(same) = kappa + (1 - kappa) E
            rows.append((f"seed{m}", (rng.random(n_inputs) < p).astype(float), e))
        groups[stratum] = rows
    return groups


def test_pooled_kappa_resamples_models_within_strata():
    groups = _kappa_groups()
    pooled, per = kappa.kappa_by_stratum(groups, n_boot=400, seed=0)
    for stratum, k in KAPPAS.items():
        assert per[stratum].value == pytest.approx(k, abs=0.05)
    all_s = np.concatenate([s for g in groups.values() for _, s, _ in g])
    all_e = np.concatenate([e for g in groups.values() for _, _, e in g])
    assert pooled.value == pytest.approx(kappa.kappa(all_s, all_e))
    widest = max(e.high - e.low for e in per.values())
    assert pooled.high - pooled.low < 3 * widest, (pooled, per)
    # redrawing the models across strata (no strata given) moves the stratum mix, and the pooled kappa
    # with it, in every replicate: the pooled interval of the strata must be far narrower than that
    flat = [(s, e) for g in groups.values() for _, s, e in g]
    across = kappa.kappa_estimate(flat, n_boot=400, seed=0)
    assert pooled.high - pooled.low < (across.high - across.low) / 2, (pooled, across)
    within = kappa.kappa_estimate(flat, [name for name, g in groups.items() for _ in g], n_boot=400, seed=0)
    assert within.value == pytest.approx(pooled.value)
    assert within.high - within.low < (across.high - across.low) / 2


def _per_sample(n_inputs: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Three classes; the 1-NN wrong on a quarter of the inputs. In each (dataset, arch) stratum the four
    networks share a set of errors (a high replicate ceiling), giving the 1-NN's wrong label on a stratum-specific
    share of them (0.9, 0.5, 0.1) and the third class on the rest; each network also errs at random a little."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_inputs) % 3
    nn_wrong = rng.random(n_inputs) < 0.25
    pixel_nn = np.where(nn_wrong, (label + 1) % 3, label)
    frames = []
    for dataset, share in (("a", 0.9), ("b", 0.5), ("c", 0.1)):
        hard = rng.random(n_inputs) < np.where(nn_wrong, 0.6, 0.05)  # hard for the 1-NN, hard for networks
        copies = rng.random(n_inputs) < share
        shared = np.where(copies, (label + 1) % 3, (label + 2) % 3)
        for seed_ in range(4):
            noise = rng.random(n_inputs) < 0.03
            pred = np.where(hard & ~noise, shared, label)
            pred = np.where(~hard & noise, (label + 2) % 3, pred)
            frames.append(pd.DataFrame({"dataset": dataset, "arch": "mlp", "seed": seed_, "label": label,
                                        "pred": pred, "pixel_nn": pixel_nn, "fitted": True}))
    return pd.concat(frames, ignore_index=True)


def test_pooled_primary_of_h2_resamples_units_within_strata():
    per_sample = _per_sample(3000)
    pooled, per = ceiling.primary_by_stratum(per_sample, n_boot=300, seed=0)
    values = [e.value for e in per.values()]
    assert values[0] > values[1] + 0.15 and values[1] > values[2] + 0.15, per  # very different strata
    units = ceiling.zoo_units(per_sample)
    flat = [u for us in units.values() for u in us]
    assert pooled.value == pytest.approx(ceiling.ratio_estimate(flat, n_boot=2).value)
    widest = max(e.high - e.low for e in per.values())
    assert pooled.high - pooled.low < 3 * widest, (pooled, per)
    across = ceiling.ratio_estimate(flat, n_boot=300, seed=0)  # units redrawn across strata
    assert pooled.high - pooled.low < (across.high - across.low) / 2, (pooled, across)


# ----------------------------------------------------------- 4. H4: the segment goes to the adversarial class

H4_CENTRES = [[0.2, 0.5], [0.6, 0.5], [0.2, 0.9]]


def test_h4_segment_goes_to_the_nearest_sample_of_the_adversarial_class():
    model = centre_net(H4_CENTRES)
    x = torch.tensor([[0.20, 0.50], [0.22, 0.47], [0.18, 0.53]])
    x_adv = x + torch.tensor([[0.0, 0.25], [0.02, 0.30], [-0.01, 0.27]])  # each lands in class 2 (centre (0.2, 0.9))
    x_train = torch.tensor([[0.20, 0.45], [0.15, 0.50],  # class 0
                            [0.40, 0.50], [0.42, 0.55],  # class 1: the nearest wrong-class samples
                            [0.20, 0.95], [0.30, 0.98], [0.05, 0.99]])  # class 2: the adversarial class
    y_train = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    y = torch.zeros(3, dtype=torch.long)
    assert models.predict(model, x.view(3, 1, 1, 2)).tolist() == [0, 0, 0]
    assert models.predict(model, x_adv.view(3, 1, 1, 2)).tolist() == [2, 2, 2]
    table = h4.landing_points(model, x.view(3, 1, 1, 2), y, x_adv.view(3, 1, 1, 2), x_train.view(7, 1, 1, 2),
                              y_train, grid=33, seed=0)
    assert len(table) == 3
    d = torch.cdist(x, x_train)
    other = d[:, :4].min(1).values  # nearest of any wrong class: class 1, much nearer
    want_idx = 4 + d[:, 4:].argmin(1)
    n = x_train[want_idx]
    np.testing.assert_allclose(table["segment_l2"], d[torch.arange(3), want_idx].numpy(), rtol=1e-6)
    assert (table["segment_l2"].to_numpy() > other[:].numpy() + 0.1).all()
    seg, delta = (n - x).double(), (x_adv - x).double()
    t = ((delta * seg).sum(1) / (seg * seg).sum(1)).numpy()
    np.testing.assert_allclose(table["t"], t, rtol=1e-5)
    # the first flip along x -> n: the bisector y = 0.7 of centres 0 and 2
    flip = ((0.7 - x[:, 1]) / (n[:, 1] - x[:, 1])).numpy()
    np.testing.assert_allclose(table["flip_t"], flip, atol=2e-3)
    np.testing.assert_allclose(table["landing"], t / table["flip_t"].to_numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- 5. H3: per-pair median, not mean

def _h3_rows(n_inputs: int = 40, seed: int = 0) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Skewed per-input ratios (a long right tail: mean >> median), different in every pair."""
    rng = np.random.default_rng(seed)
    names = ["mlp/s0", "mlp/s1", "cnn/s0", "cnn/s1"]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    frames = []
    for kind in ("legitimate", "adversarial", "random"):
        for p, (a, b) in enumerate(pairs):
            obs = (0.1 + 0.05 * p) * rng.lognormal(0.0, 1.2, n_inputs)
            null = (0.8 + 0.1 * p) * rng.lognormal(0.0, 0.3, n_inputs)
            frames.append(pd.DataFrame({"dataset": "d", "direction": kind, "model_a": a, "model_b": b,
                                        "input": np.arange(n_inputs), "obs": obs, "null": null,
                                        "censored": False}))
    return pd.concat(frames, ignore_index=True), {"d": names}


def test_h3_per_pair_effect_is_a_median_over_inputs():
    rows, models_ = _h3_rows()
    obs = rows.pivot_table(index=["direction", "model_a", "model_b"], columns="input", values="obs")
    null = rows.pivot_table(index=["direction", "model_a", "model_b"], columns="input", values="null")
    want = np.median(obs.to_numpy(), 1) / np.median(null.to_numpy(), 1)
    mean_form = obs.to_numpy().mean(1) / null.to_numpy().mean(1)
    assert np.all(np.abs(mean_form - want) > 0.02)  # the fixture tells a median from a mean
    np.testing.assert_allclose(stats.pair_effects(obs.to_numpy(), null.to_numpy()), want)
    with_nan = obs.to_numpy().copy()
    with_nan[:, 0] = np.nan
    np.testing.assert_allclose(stats.pair_effects(with_nan, null.to_numpy()),
                               np.median(with_nan[:, 1:], 1) / np.median(null.to_numpy(), 1))
    strata, pooled, _ = h3.h3_estimates(rows, models_, n_boot=50, seed=0)
    per_dir = pd.Series(want, index=obs.index).groupby(level="direction").mean()
    for kind in ("legitimate", "adversarial", "random"):
        assert strata[f"d/{kind}"].value == pytest.approx(1 - per_dir[kind])
    assert pooled.value == pytest.approx(1 - per_dir.mean())


# ------------------------------------------------------------- 8. the pooled verdict is the pooled estimate's

def _est(value, half=0.01, n=5):
    return stats.Estimate(value, value - half, value + half, n, "t")


@pytest.mark.parametrize("first, pooled, verdict", [(0.9, -0.05, NO_EFFECT), (-0.05, 0.9, SUPPORTED)])
def test_the_pooled_verdict_is_decided_on_the_pooled_estimate(tmp_path, monkeypatch, first, pooled, verdict):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    strata = {"mnist/mlp": _est(first), "mnist/cnn": _est(0.5), "fashion_mnist/mlp": _est(pooled)}
    assert s1.RULE.judge(strata["mnist/mlp"]) != verdict
    claim = claims.record_rule("S1", s1.RULE, statement="s", pooled=_est(pooled), strata=strata, replicates=15,
                               figures=[], notebook="04", parameters={"profile": "quick"})
    assert claim.verdict == verdict
    stored = json.loads((tmp_path / "results" / "claims" / "S1.json").read_text())
    assert stored["verdict"] == verdict
    assert [row["verdict"] for row in stored["strata"]] == [s1.RULE.judge(e) for e in strata.values()]
    assert stored["measurements"][s1.PRIMARY]["value"] == pooled
    # through a claim module's own record(...)
    est = stats.StratifiedEstimates({k: _est(pooled) for k in [s1.PRIMARY, *s1.REPORTED]},
                                    {name: {k: e for k in [s1.PRIMARY, *s1.REPORTED]} for name, e in strata.items()})
    P = {"profile": "quick", "archs": ["mlp", "cnn"], "datasets": ["mnist", "fashion_mnist"], "seeds": [0, 1],
         "som_rows": 4, "som_cols": 4, "alt_rows": 2, "alt_cols": 2, "n_samples": 100, "n_shuffles": 2}
    assert s1.record(est, P, figures=[], n_models=6).verdict == verdict
    assert json.loads((tmp_path / "results" / "claims" / "S1.json").read_text())["verdict"] == verdict


def test_input_codes_are_shared_by_the_twin():
    """The pixel layer is not a network's: trained and untrained read the same pixel SOM (one code set)."""
    x, y = three_clusters()
    f = zoo_codes.fit_codes(centre_net(CENTRES3), x, y, rows=1, cols=3, seed=1, epochs=5, untrained=collapsed_twin())
    assert torch.equal(f.code_sets[(zoo_codes.UNTRAINED, "1x3")][INPUT], f.clean[INPUT])
