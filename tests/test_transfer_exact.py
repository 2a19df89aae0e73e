"""Pins exact values of transfer.h3 and transfer.h4 (rows, blocks, estimates, landing points, ledger entries)."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from halfplanes import linear2, pts
from scipy import stats as sps

from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.stats import Estimate
from halfway_utils.experiments.transfer import h3, h4
from halfway_utils.methods.boundary import scan_paths
from halfway_utils.methods.perturb import matched_norm_noise

REL = 1e-12
CROSSED = "crossed bootstrap (models within arch, and inputs)"
T_SUFFIX = "; bootstrap SE, t(models - 1)"
POOLED_METHOD = CROSSED + ", mean over strata" + T_SUFFIX + ", Satterthwaite df over strata"
LOCK = json.loads((Path(h3.__file__).parents[2] / "evidence" / "rules.lock.json").read_text())


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    """The ledger of one test goes to its own folder."""
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "out" / "results" / "claims"


# --------------------------------------------------------------------------- independent re-derivations


def replay_draws(names, n_boot, rng):
    """Model counts redrawn within each arch (groups in first-appearance order), as the bootstrap draws them."""
    groups: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        groups.setdefault(name.split("/")[0], []).append(k)
    counts = np.zeros((n_boot, len(names)))
    for idx in groups.values():
        picks = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        for pos, k in enumerate(idx):
            counts[:, k] = (picks == pos).sum(1)
    return counts


def replay_crossed(obs, null, names, keys, counts, draws):
    """Mean over pairs of median(obs) / median(null), and the same per replicate (inputs redrawn, pairs
    weighted by the product of their models' counts)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if not len(obs):
            return float("nan"), np.full(len(counts), np.nan)
        value = float(np.nanmean(np.nanmedian(obs, 1) / np.nanmedian(null, 1)))
        ia = [names.index(a) for a, _ in keys]
        ib = [names.index(b) for _, b in keys]
        boots = np.empty(len(draws))
        for r in range(len(draws)):
            e = np.nanmedian(obs[:, draws[r]], 1) / np.nanmedian(null[:, draws[r]], 1)
            w = counts[r, ia] * counts[r, ib]
            ok = np.isfinite(e)
            boots[r] = np.sum(e[ok] * w[ok]) / np.sum(w[ok])
    return value, boots


def t_bounds(value, boots, df, inflate, level=0.95):
    """(low, high, se) of value +- t(df) sd(finite boots) sqrt(inflate)."""
    b = np.asarray(boots, float)
    se = float(np.std(b[np.isfinite(b)], ddof=1) * math.sqrt(inflate))
    half = sps.t.ppf(0.5 + level / 2, df) * se
    return value - half, value + half, se


def assert_estimate(est, value, low, high, se, df, n, method):
    assert est.value == pytest.approx(value, rel=REL)
    assert est.low == pytest.approx(low, rel=REL) and est.high == pytest.approx(high, rel=REL)
    assert est.se == pytest.approx(se, rel=REL) and est.df == pytest.approx(df, rel=REL)
    assert (est.n, est.method, est.level) == (n, method, 0.95)


def pooled_expected(values, boots, dofs, nanmean):
    """value, low, high, se, df of the mean over strata (weights 1 / S), Satterthwaite df."""
    s = len(values)
    value = float(np.mean(values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pb = np.nanmean(boots, axis=0) if nanmean else np.mean(boots, axis=0)
    comps = np.array([(1 / s) ** 2 * np.nanvar(b, ddof=1) * infl for b, (_, infl) in zip(boots, dofs)])
    dfs = np.array([d for d, _ in dofs])
    df = comps.sum() ** 2 / (comps ** 2 / dfs).sum()
    low, high, se = t_bounds(value, pb, df, max(infl for _, infl in dofs))
    return value, low, high, se, df


# --------------------------------------------------------------------------- H3 fixture


D1 = ["mlp/s0", "mlp/s1", "mlp/s2", "cnn/s0", "cnn/s1"]  # groups 3 + 2: df 3, inflate max(3/2, 2) = 2 (squared 4)
D2 = ["mlp/s0", "mlp/s1", "cnn/s0"]  # groups 2 + 1: df 1, inflate 2 (squared 4)
INPUTS = {"d1": np.array([2, 4, 5, 7, 9, 11, 12]), "d2": np.array([0, 1, 3, 6, 8])}
H3_PAIRS = {
    ("d1", "legitimate"): [("mlp/s0", "mlp/s1"), ("mlp/s0", "mlp/s2"), ("mlp/s1", "mlp/s2"), ("cnn/s0", "cnn/s1"),
                           ("mlp/s0", "cnn/s0"), ("mlp/s1", "cnn/s1"), ("mlp/s2", "cnn/s0")],
    ("d1", "adversarial"): [("mlp/s1", "mlp/s0"), ("cnn/s1", "cnn/s0"), ("cnn/s0", "mlp/s2"), ("mlp/s1", "cnn/s1")],
    ("d1", "random"): [("mlp/s0", "cnn/s0"), ("mlp/s1", "cnn/s1"), ("mlp/s2", "cnn/s1")],  # cross-arch only
    ("d2", "legitimate"): [("mlp/s0", "mlp/s1"), ("mlp/s0", "cnn/s0")],  # a star around mlp/s0: not dyadic
    ("d2", "random"): [("mlp/s0", "cnn/s0")],  # one pair; no adversarial rows in d2
}
H3_DOF = {"d1/legitimate": (3.0, 4.0), "d1/adversarial": (3.0, 4.0), "d1/random": (3.0, 4.0),
          "d2/legitimate": (1.0, 2.0), "d2/random": (1.0, 2.0)}


def h3_fixture():
    """Rows of H3 (d2 listed first, random before legitimate) and the (P, N) arrays behind each stratum."""
    rng = np.random.default_rng(7)
    arrays, frames = {}, []
    for (name, kind), pairs in sorted(H3_PAIRS.items(), key=lambda kv: (kv[0][0] != "d2", kv[0][1] != "random")):
        inputs = INPUTS[name]
        obs = (0.1 + 0.05 * rng.uniform(size=(len(pairs), 1))) * rng.lognormal(0.0, 1.0, (len(pairs), len(inputs)))
        null = (0.6 + 0.2 * rng.uniform(size=(len(pairs), 1))) * rng.lognormal(0.0, 0.4, (len(pairs), len(inputs)))
        censored = rng.uniform(size=obs.shape) < 0.2
        if (name, kind) == ("d1", "legitimate"):
            obs[1, 3] = np.nan  # a NaN ratio (an unmoved input)
        keep = np.ones(obs.shape, bool)
        if (name, kind) == ("d1", "adversarial"):
            keep[2, 4] = False  # a row missing: the block holds NaN there
            obs[2, 4] = null[2, 4] = np.nan
        arrays[name, kind] = (obs, null)
        for p, (a, b) in enumerate(pairs):
            order = np.arange(len(inputs))[::-1]  # inputs listed backwards: the block sorts them
            frames.append(pd.DataFrame({"dataset": name, "direction": kind, "model_a": a, "model_b": b,
                                        "input": inputs[order], "obs": obs[p, order], "null": null[p, order],
                                        "censored": censored[p, order]})[keep[p, order]])
    return pd.concat(frames, ignore_index=True), arrays, {"d1": D1, "d2": D2}


def h3_expected(arrays, models, n_boot, seed):
    """Strata, pooled and reported of H3 re-derived from the arrays by the documented draws."""
    rng = np.random.default_rng(seed)
    raw, boots, split = {}, {}, {}
    for name, names in models.items():
        counts = replay_draws(names, n_boot, rng)
        draws = rng.integers(0, len(INPUTS[name]), size=(n_boot, len(INPUTS[name])))
        for kind in ("legitimate", "adversarial", "random"):
            if (name, kind) not in arrays:
                continue
            obs, null = arrays[name, kind]
            keys = H3_PAIRS[name, kind]
            raw[f"{name}/{kind}"], boots[f"{name}/{kind}"] = replay_crossed(obs, null, names, keys, counts, draws)
            for pk, same in (("same_arch", True), ("other_arch", False)):
                rows = [i for i, (a, b) in enumerate(keys) if (a.split("/")[0] == b.split("/")[0]) == same]
                split.setdefault((kind, pk), []).append(
                    replay_crossed(obs[rows], null[rows], names, [keys[i] for i in rows], counts, draws))
    return raw, boots, split


# --------------------------------------------------------------------------- H3 tests


def test_h3_block_orders_pairs_and_inputs_and_takes_a_subset():
    rows, arrays, _ = h3_fixture()
    block = rows[(rows["dataset"] == "d1") & (rows["direction"] == "adversarial")]
    obs, null, keys = h3._block(block, INPUTS["d1"])
    assert keys == H3_PAIRS["d1", "adversarial"]
    np.testing.assert_array_equal(obs, arrays["d1", "adversarial"][0])
    np.testing.assert_array_equal(null, arrays["d1", "adversarial"][1])
    # A subset of pairs in a given order, and inputs beyond the block's (NaN columns).
    wider = np.array([1, *INPUTS["d1"]])
    obs2, null2, keys2 = h3._block(block, wider, [("cnn/s0", "mlp/s2"), ("mlp/s1", "mlp/s0")])
    assert keys2 == [("cnn/s0", "mlp/s2"), ("mlp/s1", "mlp/s0")] and obs2.shape == (2, 8)
    assert np.isnan(obs2[:, 0]).all() and np.isnan(null2[:, 0]).all()
    np.testing.assert_array_equal(obs2[:, 1:], arrays["d1", "adversarial"][0][[2, 0]])
    np.testing.assert_array_equal(null2[:, 1:], arrays["d1", "adversarial"][1][[2, 0]])
    assert obs2.dtype == np.float64


@pytest.mark.parametrize("n_boot, seed", [(40, 3), (23, 11)])
def test_h3_estimates_strata_pooled_and_reported_exactly(n_boot, seed):
    rows, arrays, models = h3_fixture()
    strata, pooled, reported = h3.h3_estimates(rows, models, n_boot=n_boot, seed=seed)
    raw, boots, split = h3_expected(arrays, models, n_boot, seed)
    assert list(strata) == ["d1/legitimate", "d1/adversarial", "d1/random", "d2/legitimate", "d2/random"]
    for key, est in strata.items():
        df, inflate = H3_DOF[key]
        value = 1 - raw[key]
        low, high, se = t_bounds(value, 1 - boots[key], df, inflate)
        assert_estimate(est, value, low, high, se, df, len(models[key[:2]]), CROSSED + T_SUFFIX)
    assert np.isnan(boots["d2/random"]).any()  # a replicate without the one pair: NaN, dropped with the pool's
    keys = list(strata)
    value, low, high, se, df = pooled_expected([1 - raw[k] for k in keys], [1 - boots[k] for k in keys],
                                               [H3_DOF[k] for k in keys], nanmean=False)
    assert_estimate(pooled, value, low, high, se, df, 8, POOLED_METHOD)
    # Reported: the same- and cross-arch splits, averaged over data sets (no same-arch pair along random).
    split_keys = [f"h3_shared_boundaries_{kind}_{pk}" for kind in ("legitimate", "adversarial") for pk in
                  ("same_arch", "other_arch")] + ["h3_shared_boundaries_random_other_arch"]
    descriptive = [f"{m}_{kind}" for kind in ("legitimate", "adversarial", "random")
                   for m in ("median_id_over_md", "median_null_id_over_md", "share_censored")]
    assert list(reported) == split_keys + descriptive
    for (kind, pk), parts in split.items():
        key = f"h3_shared_boundaries_{kind}_{pk}"
        if key not in reported:
            assert (kind, pk) == ("random", "same_arch") and np.isnan([v for v, _ in parts]).all()
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            v = 1 - float(np.nanmean([v for v, _ in parts]))
            b = 1 - np.nanmean([b for _, b in parts], axis=0)
        low, high, se = t_bounds(v, b, 7, 8 / 7)
        assert_estimate(reported[key], v, low, high, se, 7, 8, CROSSED + T_SUFFIX)
    for kind in ("legitimate", "adversarial", "random"):
        block = rows[rows["direction"] == kind]
        for name, want in (("median_id_over_md", np.nanmedian(block["obs"])),
                           ("median_null_id_over_md", np.nanmedian(block["null"])),
                           ("share_censored", block["censored"].to_numpy().mean())):
            est = reported[f"{name}_{kind}"]
            assert est.value == pytest.approx(want, rel=REL) and est.n == len(block)
            assert np.isnan(est.low) and np.isnan(est.high) and est.method == "point value (descriptive)"


def test_h3_estimates_seed_and_n_boot_change_the_intervals_not_the_values():
    rows, _, models = h3_fixture()
    a = h3.h3_estimates(rows, models, n_boot=40, seed=3)
    b = h3.h3_estimates(rows, models, n_boot=40, seed=4)
    c = h3.h3_estimates(rows, models, n_boot=41, seed=3)
    for other in (b, c):
        assert other[1].value == a[1].value and other[1].se != a[1].se
        assert [e.value for e in other[0].values()] == [e.value for e in a[0].values()]
        assert [e.se for e in other[0].values()] != [e.se for e in a[0].values()]


def test_h3_rows_two_data_sets_orientation_alignment_and_skipped_pairs():
    # Inputs listed out of order with their own labels, lengths and caps; a sign block (not H3's) ignored;
    # a pair whose model was not searched is skipped, the next one kept; adversarial pairs oriented.
    def frame(name, kind, src, model, md, labels, length, cap, order):
        return pd.DataFrame({"dataset": name, "direction": kind, "source": src, "model": model,
                             "input": np.array([10, 20, 30, 40])[order], "label": np.array(labels)[order],
                             "md": np.array(md)[order], "cap": np.array(cap)[order],
                             "length": np.array(length)[order]})
    labels, caps, length, nan4 = [0, 1, 0, 1], [3.0, 3.0, 4.0, 4.0], [2.0, 4.0, 5.0, 8.0], [np.nan] * 4
    a_md, b_md, c_md = [1.0, 2.0, np.inf, 3.0], [0.5, 3.0, 2.0, np.inf], [1.5, 1.0, 2.5, 2.0]
    mds = pd.concat([
        frame("z", "random", "-", "a/s0", a_md, labels, nan4, caps, [3, 1, 0, 2]),
        frame("z", "random", "-", "b/s0", b_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("z", "sign", "-", "a/s0", a_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("z", "sign", "-", "b/s0", b_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("z", "adversarial", "b/s0", "a/s0", a_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("z", "adversarial", "b/s0", "b/s0", c_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("z", "adversarial", "a/s0", "a/s0", c_md, labels, nan4, caps, [1, 0, 3, 2]),  # a later source
        frame("z", "adversarial", "a/s0", "b/s0", a_md, labels, nan4, caps, [0, 1, 2, 3]),
        frame("a", "legitimate", "-", "a/s0", a_md, labels, length, caps, [2, 0, 3, 1]),
        frame("a", "legitimate", "-", "b/s1", c_md, labels, length, caps, [0, 1, 2, 3]),
        frame("a", "legitimate", "-", "b/s0", b_md, labels, length, caps, [1, 3, 0, 2]),
    ], ignore_index=True)
    pairs = {"z": [("a/s0", "b/s0"), ("a/s0", "x/s9")],
             "a": [("a/s0", "x/s9"), ("a/s0", "b/s0"), ("b/s1", "b/s0")]}
    rows = h3.h3_rows(mds, pairs)
    assert list(rows.columns) == ["dataset", "direction", "source", "model_a", "model_b", "kind", "input", "label",
                                  "obs", "null", "censored"]
    got = rows[["dataset", "direction", "source", "model_a", "model_b", "kind"]].drop_duplicates().values.tolist()
    assert got == [["z", "random", "-", "a/s0", "b/s0", "other arch"],
                   ["z", "adversarial", "b/s0", "b/s0", "a/s0", "other arch"],
                   ["z", "adversarial", "a/s0", "a/s0", "b/s0", "other arch"],
                   ["a", "legitimate", "-", "a/s0", "b/s0", "other arch"],
                   ["a", "legitimate", "-", "b/s1", "b/s0", "same arch"]]
    assert rows.index.tolist() == list(range(20))
    assert rows["input"].tolist() == [10, 20, 30, 40] * 5 and rows["label"].tolist() == labels * 5
    assert rows["censored"].tolist() == [False, False, True, True, False, False, True, False, False, False, True, False,
                                         False, False, True, True, False, False, False, True]

    def ratio(x, y):
        return np.abs(x - y) / ((x + y) / 2)

    def null(x, y):  # the two inputs of each label pair with each other, both ways
        out = np.empty(4)
        for i, j in ((0, 2), (1, 3), (2, 0), (3, 1)):
            out[i] = np.median([ratio(x[i], y[j]), ratio(x[j], y[i])])
        return out

    a_t, b_t, c_t = (np.array([v if np.isfinite(v) else c for v, c in zip(md, caps)]) for md in (a_md, b_md, c_md))
    scale = np.array(length)
    cases = [(a_t, b_t), (c_t, a_t), (c_t, a_t), (a_t / scale, b_t / scale), (c_t / scale, b_t / scale)]
    for k, (x, y) in enumerate(cases):
        part = rows.iloc[4 * k:4 * k + 4]
        np.testing.assert_allclose(part["obs"], ratio(x, y), rtol=REL)
        np.testing.assert_allclose(part["null"], null(x, y), rtol=REL)


# --------------------------------------------------------------------------- H4 fixture


E0 = ["mlp/s7", "cnn/s7"]  # a data set with no rows: skipped by the primary, drawn by the reported measures
H4_PAIRS = {
    ("d1", "same arch"): [("mlp/s0", "mlp/s1"), ("mlp/s2", "mlp/s0"), ("mlp/s1", "mlp/s2"), ("cnn/s1", "cnn/s0")],
    ("d1", "other arch"): [("mlp/s0", "cnn/s0"), ("cnn/s1", "mlp/s1"), ("mlp/s2", "cnn/s1")],
    ("d2", "same arch"): [("mlp/s1", "mlp/s0")],  # one pair (not dyadic); d2 has no cross-arch rows
}
H4_DOF = {"d1/same arch": (3.0, 4.0), "d1/other arch": (3.0, 4.0), "d2/same arch": (1.0, 2.0)}


def h4_fixture():
    """Rows of H4 (other-arch rows first) and the (P, N) toward / own arrays of each stratum."""
    rng = np.random.default_rng(5)
    arrays, frames = {}, []
    for (name, kind), pairs in sorted(H4_PAIRS.items(), key=lambda kv: (kv[0][1] != "other arch", kv[0][0])):
        inputs = INPUTS[name]
        own = rng.uniform(1.0, 2.0, (len(pairs), len(inputs)))
        toward = own * rng.uniform(0.2, 0.9, (len(pairs), 1)) + 0.3 * rng.standard_normal(own.shape)
        if (name, kind) == ("d1", "same arch"):
            toward[0, 2] = np.nan
        arrays[name, kind] = (toward, own)
        for p, (s, t) in enumerate(pairs):
            frames.append(pd.DataFrame({"dataset": name, "source": s, "target": t, "kind": kind,
                                        "input": inputs[::-1], "toward": toward[p, ::-1], "own": own[p, ::-1]}))
    return pd.concat(frames, ignore_index=True), arrays, {"e0": E0, "d1": D1, "d2": D2}


def h4_expected(arrays, models, n_boot, seed):
    rng = np.random.default_rng(seed)
    raw, boots = {}, {}
    for name, names in models.items():
        if not any(key[0] == name for key in arrays):
            continue
        counts = replay_draws(names, n_boot, rng)
        draws = rng.integers(0, len(INPUTS[name]), size=(n_boot, len(INPUTS[name])))
        for kind in ("same arch", "other arch"):
            if (name, kind) in arrays:
                toward, own = arrays[name, kind]
                raw[f"{name}/{kind}"], boots[f"{name}/{kind}"] = replay_crossed(
                    toward, own, names, H4_PAIRS[name, kind], counts, draws)
    return raw, boots


def landing_fixture():
    """Landing rows of four sources over two data sets, listed d2 before d1 and cnn before mlp."""
    rng = np.random.default_rng(9)
    frames = []
    for name, source, n in (("d2", "mlp/s1", 4), ("d1", "cnn/s0", 6), ("d1", "mlp/s0", 5), ("d2", "mlp/s0", 3)):
        frames.append(pd.DataFrame({"dataset": name, "source": source, "arch": source.split("/")[0],
                                    **{c: rng.uniform(0.0, 1.0, n) for c in
                                       ("t", "perp", "flip_t", "t_random", "perp_random", "landing",
                                        "landing_random", "t_bound")}}))
    return pd.concat(frames, ignore_index=True)


def pair_fixture():
    """Per (data set, kind): d1 has 4 same-arch and exactly 3 cross-arch pairs, d2 exactly 3 same-arch and 2 cross
    (below the minimum of 3), e0 one pair."""
    rng = np.random.default_rng(11)
    pairs = [("d1", "mlp/s0", "mlp/s1"), ("d1", "mlp/s0", "mlp/s2"), ("d1", "mlp/s1", "mlp/s2"),
             ("d1", "cnn/s0", "cnn/s1"), ("d1", "mlp/s0", "cnn/s0"), ("d1", "mlp/s1", "cnn/s1"),
             ("d1", "mlp/s2", "cnn/s1"), ("d2", "mlp/s0", "mlp/s1"), ("d2", "mlp/s1", "mlp/s0"),
             ("d2", "mlp/s0", "mlp/s1"), ("d2", "mlp/s0", "cnn/s0"), ("d2", "mlp/s1", "cnn/s0"),
             ("e0", "mlp/s7", "cnn/s7")]
    n = len(pairs)
    return pd.DataFrame({"dataset": [p[0] for p in pairs], "model_a": [p[1] for p in pairs],
                         "model_b": [p[2] for p in pairs],
                         "kind": ["same arch" if p[1][:3] == p[2][:3] else "other arch" for p in pairs],
                         "legit_effect": rng.uniform(0.2, 1.0, n), "flip_gap": rng.uniform(0.0, 0.3, n),
                         "transfer": rng.uniform(0.0, 1.0, n), "noise": rng.uniform(0.0, 0.2, n)})


def spearman_w(values, w):
    a, b = np.repeat(values[:, 0], w.astype(int)), np.repeat(values[:, 1], w.astype(int))
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(sps.spearmanr(a, b).statistic)


def mean_w(values, w):
    return float(np.sum(values * w) / np.sum(w)) if np.sum(w) else float("nan")


# --------------------------------------------------------------------------- H4 tests


@pytest.mark.parametrize("n_boot, seed", [(40, 2), (27, 13)])
def test_h4_primary_strata_and_pooled_exactly(n_boot, seed):
    rows, arrays, models = h4_fixture()
    strata, pooled = h4.h4_primary(rows, models, n_boot=n_boot, seed=seed)
    raw, boots = h4_expected(arrays, models, n_boot, seed)
    assert list(strata) == ["d1/same arch", "d1/other arch", "d2/same arch"]
    for key, est in strata.items():
        df, inflate = H4_DOF[key]
        low, high, se = t_bounds(raw[key], boots[key], df, inflate)
        assert_estimate(est, raw[key], low, high, se, df, len(models[key[:2]]), CROSSED + T_SUFFIX)
    assert np.isnan(boots["d2/same arch"]).any()  # a replicate without the one pair: NaN, skipped in the pool
    keys = list(strata)
    value, low, high, se, df = pooled_expected([raw[k] for k in keys], [boots[k] for k in keys],
                                               [H4_DOF[k] for k in keys], nanmean=True)
    assert_estimate(pooled, value, low, high, se, df, 10, POOLED_METHOD)


def test_h4_primary_without_rows_and_with_one_stratum():
    rows, _, models = h4_fixture()
    strata, pooled = h4.h4_primary(rows.iloc[:0], models, n_boot=30, seed=0)
    assert strata == {} and np.isnan([pooled.value, pooled.low, pooled.high]).all()
    assert (pooled.n, pooled.method) == (10, CROSSED)
    strata, pooled = h4.h4_primary(rows[rows["dataset"] == "d2"], {"d2": D2}, n_boot=30, seed=0)
    assert list(strata) == ["d2/same arch"] and pooled.value == strata["d2/same arch"].value and pooled.n == 3
    # One stratum of the pool: its df and the pooled SE from the same replicates.
    assert pooled.df == pytest.approx(1.0, rel=REL) and pooled.se == pytest.approx(strata["d2/same arch"].se, rel=REL)


def test_h4_primary_an_input_one_kind_lacks_reads_as_missing_there():
    """An input that one kind of pair never scanned (its rows absent) counts as a missing value in that kind's
    block, exactly as rows that hold NaN would: both kinds are read over the data set's inputs."""
    rows, _, models = h4_fixture()
    gone = (rows["dataset"] == "d1") & (rows["kind"] == "same arch") & (rows["input"] == rows["input"].max())
    dropped, as_nan = rows[~gone], rows.assign(toward=rows["toward"].mask(gone), own=rows["own"].mask(gone))
    strata, pooled = h4.h4_primary(dropped, models, n_boot=40, seed=2)
    want_strata, want_pooled = h4.h4_primary(as_nan, models, n_boot=40, seed=2)
    assert strata == want_strata and pooled == want_pooled
    assert strata["d1/same arch"] != h4.h4_primary(rows, models, n_boot=40, seed=2)[0]["d1/same arch"]


def test_h4_source_groups_in_first_appearance_order():
    landing = landing_fixture()
    groups = h4._source_groups(landing, "t_bound")
    want = [landing.loc[(landing["dataset"] == d) & (landing["source"] == s), "t_bound"].to_numpy()
            for d, s in (("d2", "mlp/s1"), ("d1", "cnn/s0"), ("d1", "mlp/s0"), ("d2", "mlp/s0"))]
    assert len(groups) == 4 and all(g.dtype == np.float64 for g in groups)
    for g, w in zip(groups, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("n_boot, seed", [(40, 1), (31, 6)])
def test_h4_estimates_reported_exactly(n_boot, seed):
    rows, _, models = h4_fixture()
    landing, pairs = landing_fixture(), pair_fixture()
    strata, pooled, reported = h4.h4_estimates(rows, landing, pairs, models, n_boot=n_boot, seed=seed)
    s2, p2 = h4.h4_primary(rows, models, n_boot=n_boot, seed=seed)
    assert strata == s2 and pooled == p2
    per_kind = [f"{m}_{k}" for k in ("same_arch", "other_arch") for m in
                ("transfer", "transfer_minus_noise", "spearman_agreement_transfer", "spearman_flip_agreement_transfer")]
    cols = ("landing", "landing_random", "t", "flip_t", "t_bound", "perp", "perp_random")
    assert list(reported) == ["median_toward", "median_own", "landing_vs_random", *[f"median_{c}" for c in cols],
                              "perpendicular_share_vs_random", *per_kind]
    for c in ("toward", "own"):
        est = reported[f"median_{c}"]
        assert est.value == pytest.approx(np.nanmedian(rows[c]), rel=REL) and est.n == len(rows)
        assert np.isnan(est.low) and np.isnan(est.high) and est.method == "point value (descriptive)"
    order = (("d2", "mlp/s1"), ("d1", "cnn/s0"), ("d1", "mlp/s0"), ("d2", "mlp/s0"))

    def groups(fn):
        return [fn(landing[(landing["dataset"] == d) & (landing["source"] == s)]) for d, s in order]
    boot = {"statistic": np.median, "n_boot": n_boot, "seed": seed}
    assert reported["landing_vs_random"] == stats.cluster_bootstrap(
        groups(lambda g: (g["landing"] - g["landing_random"]).to_numpy()), **boot)
    assert reported["perpendicular_share_vs_random"] == stats.cluster_bootstrap(
        groups(lambda g: (g["perp"] - g["perp_random"]).to_numpy()), **boot)
    for c in cols:
        assert reported[f"median_{c}"] == stats.cluster_bootstrap(groups(lambda g, c=c: g[c].to_numpy()), **boot)
    assert reported["landing_vs_random"].n == 4 and reported["landing_vs_random"].df == 3
    # Per kind of pair: only (data set, kind) cells of at least 3 pairs; one draw of models per data set.
    rng = np.random.default_rng(seed)
    got: dict[str, list] = {}
    for name, names in models.items():
        counts = replay_draws(names, n_boot, rng)
        for kind in ("same arch", "other arch"):
            sub = pairs[(pairs["dataset"] == name) & (pairs["kind"] == kind)]
            if len(sub) < 3:
                continue
            ia, ib = [names.index(a) for a in sub["model_a"]], [names.index(b) for b in sub["model_b"]]
            w = counts[:, ia] * counts[:, ib]
            tr = sub["transfer"].to_numpy()
            k = kind.replace(" ", "_")
            measures = {f"transfer_{k}": (tr, mean_w),
                        f"transfer_minus_noise_{k}": (tr - sub["noise"].to_numpy(), mean_w),
                        f"spearman_agreement_transfer_{k}": (np.column_stack([-sub["legit_effect"].to_numpy(), tr]),
                                                             spearman_w),
                        f"spearman_flip_agreement_transfer_{k}": (np.column_stack([-sub["flip_gap"].to_numpy(), tr]),
                                                                  spearman_w)}
            for m, (values, fn) in measures.items():
                got.setdefault(m, []).append((fn(values, np.ones(len(sub))), np.array([fn(values, r) for r in w])))
    assert sorted(got) == sorted(per_kind)
    assert len(got["transfer_same_arch"]) == 2 and len(got["transfer_other_arch"]) == 1
    for key, parts in got.items():
        value = float(np.mean([v for v, _ in parts]))
        low, high, se = t_bounds(value, np.mean([b for _, b in parts], axis=0), 9, 10 / 9)
        assert_estimate(reported[key], value, low, high, se, 9, 10,
                        "bootstrap over models (within arch), mean over data sets" + T_SUFFIX)
    d1 = pairs[(pairs["dataset"] == "d1") & (pairs["kind"] == "other arch")]
    assert reported["transfer_other_arch"].value == pytest.approx(d1["transfer"].mean(), rel=REL)


def test_h4_estimates_below_three_pairs_reports_no_kind():
    rows, _, models = h4_fixture()
    pairs = pair_fixture()
    two = pairs[pairs["dataset"] == "d2"].iloc[[0, 1, 3, 4]]  # 2 same-arch and 2 cross-arch pairs
    _, _, reported = h4.h4_estimates(rows, landing_fixture(), two, models, n_boot=20, seed=0)
    assert not any(k.startswith(("transfer", "spearman")) for k in reported)


def test_h4_rows_two_data_sets_skips_and_alignment():
    # Sign distances on more inputs than the adversarial block (listed in another order); a target without
    # sign distances and a source without them are skipped; the white-box row is not a pair.
    def frame(name, kind, src, model, inputs, md, cap):
        return pd.DataFrame({"dataset": name, "direction": kind, "source": src, "model": model, "input": inputs,
                             "label": 0, "md": md, "cap": cap, "length": np.nan})
    mds = pd.concat([
        frame("z", "sign", "-", "a/s0", [3, 1, 2, 0], [8.0, 4.0, np.inf, 6.0], 50.0),
        frame("z", "sign", "-", "b/s0", [0, 1, 2, 3], [5.0, 7.0, 9.0, 3.0], 50.0),
        frame("z", "sign", "-", "a/s1", [0, 1, 2, 3], [2.0, 2.0, 2.0, 2.0], 50.0),
        frame("z", "adversarial", "a/s0", "a/s0", [2, 1], [0.5, 1.0], 10.0),
        frame("z", "adversarial", "a/s0", "b/s0", [1, 2], [np.inf, 3.0], 10.0),
        frame("z", "adversarial", "a/s0", "a/s1", [1, 2], [1.0, 0.25], 10.0),
        frame("z", "adversarial", "a/s0", "c/s0", [1, 2], [1.0, 1.0], 10.0),  # no sign distances: skipped
        frame("z", "adversarial", "c/s0", "c/s0", [1, 2], [1.0, 1.0], 10.0),  # source without sign: skipped
        frame("z", "adversarial", "c/s0", "a/s0", [1, 2], [1.0, 1.0], 10.0),
        frame("a", "sign", "-", "a/s0", [0], [4.0], 50.0),
        frame("a", "sign", "-", "b/s0", [0], [6.0], 50.0),
        frame("a", "adversarial", "b/s0", "b/s0", [0], [2.0], 10.0),
        frame("a", "adversarial", "b/s0", "a/s0", [0], [1.0], 10.0),
        frame("a", "adversarial", "a/s0", "a/s0", [0], [0.5], 10.0),  # a later source, after b/s0
        frame("a", "adversarial", "a/s0", "b/s0", [0], [4.0], 10.0),
    ], ignore_index=True)
    rows = h4.h4_rows(mds)
    assert list(rows.columns) == ["dataset", "source", "target", "kind", "input", "toward", "own"]
    assert rows[["dataset", "source", "target", "kind"]].values.tolist() == [
        ["z", "a/s0", "a/s1", "same arch"], ["z", "a/s0", "a/s1", "same arch"],
        ["z", "a/s0", "b/s0", "other arch"], ["z", "a/s0", "b/s0", "other arch"],
        ["a", "b/s0", "a/s0", "other arch"], ["a", "a/s0", "b/s0", "other arch"]]
    assert rows["input"].tolist() == [1, 2, 1, 2, 0, 0] and rows.index.tolist() == list(range(6))
    np.testing.assert_allclose(rows["own"], np.log([4.0 / 1.0, 50.0 / 0.5, 4.0 / 1.0, 50.0 / 0.5, 6.0 / 2.0,
                                                    4.0 / 0.5]), rtol=REL)
    np.testing.assert_allclose(rows["toward"], np.log([2.0 / 1.0, 2.0 / 0.25, 7.0 / 10.0, 9.0 / 3.0, 4.0 / 1.0,
                                                       6.0 / 4.0]), rtol=REL)
    empty = h4.h4_rows(mds[mds["direction"] == "sign"])
    assert empty.empty and list(empty.columns) == ["dataset", "source", "target", "kind", "input", "toward", "own"]


# --------------------------------------------------------------------------- landing points


def landing_case():
    model = linear2([1.0, 0.0], -0.5)  # class 1 where x0 > 0.5
    x = pts((0.1, 0.2), (0.2, 0.7), (0.7, 0.1), (0.1, 0.5))
    y = torch.tensor([0, 0, 0, 0])  # the third is misclassified
    x_adv = pts((0.6, 0.3), (0.8, 0.4), (0.9, 0.1), (0.3, 0.5))  # the fourth does not fool
    x_train = pts((0.0, 0.0), (0.9, 0.9), (1.0, 0.3), (0.2, 0.9))
    y_train = torch.tensor([0, 1, 1, 0])
    return model, x, y, x_adv, x_train, y_train


def test_landing_points_exact_rows_and_default_seed():
    model, x, y, x_adv, x_train, y_train = landing_case()
    got = h4.landing_points(model, x, y, x_adv, x_train, y_train, grid=9, seed=4)
    assert list(got.columns) == ["t", "perp", "flip_t", "segment_l2", "t_random", "perp_random", "landing",
                                 "landing_random", "t_bound"]
    hit = [0, 1]
    xh = x[hit].flatten(1).double()
    n = x_train[[2, 1]]  # nearest class-1 samples: (1, 0.3) and (0.9, 0.9)
    seg, delta = (n - x[hit]).flatten(1).double(), (x_adv[hit] - x[hit]).flatten(1).double()  # float32 differences
    t = (delta * seg).sum(1) / (seg * seg).sum(1)
    perp = (delta - t[:, None] * seg).norm(dim=1) / delta.norm(dim=1)
    step = (matched_norm_noise(x[hit], x_adv[hit], seed=4) - x[hit]).flatten(1).double()
    tr_ = (step * seg).sum(1) / (seg * seg).sum(1)
    perp_r = (step - tr_[:, None] * seg).norm(dim=1) / step.norm(dim=1)
    flip = scan_paths(model, x[hit], x_train[[2, 1]], grid=9).first_flip.double()
    np.testing.assert_allclose(got["t"], t.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["perp"], perp.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["segment_l2"], (n.flatten(1).double() - xh).norm(dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(got["t_random"], tr_.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["perp_random"], perp_r.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["flip_t"], flip.numpy(), rtol=REL)
    np.testing.assert_allclose(got["flip_t"], ((0.5 - xh[:, 0]) / seg[:, 0]).numpy(), atol=1e-3)
    np.testing.assert_allclose(got["landing"], (t / flip).numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["landing_random"], (tr_ / flip).numpy(), rtol=1e-9)
    bound = delta.abs().amax(1) * seg.abs().sum(1) / (seg * seg).sum(1)
    np.testing.assert_allclose(got["t_bound"], bound.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["t_bound"], [0.5 * 1.0 / 0.82, 0.6 * 0.9 / 0.53], rtol=1e-6)
    default = h4.landing_points(model, x, y, x_adv, x_train, y_train, grid=9)
    seed0 = h4.landing_points(model, x, y, x_adv, x_train, y_train, grid=9, seed=0)
    pd.testing.assert_frame_equal(default, seed0)
    assert not np.allclose(default["t_random"], got["t_random"])


def test_landing_points_no_hit_and_missing_adversarial_class():
    model, x, y, x_adv, x_train, y_train = landing_case()
    none = h4.landing_points(model, x[2:], y[2:], x_adv[2:], x_train, y_train, grid=9)
    assert none.empty and list(none.columns) == ["t", "perp", "flip_t", "segment_l2", "t_random", "perp_random",
                                                 "landing", "landing_random", "t_bound"]
    with pytest.raises(ValueError, match="some adversarial class has no training sample"):
        h4.landing_points(model, x, y, x_adv, x_train, torch.zeros(4, dtype=torch.long), grid=9)


# --------------------------------------------------------------------------- record


def _est(value, se, df, n):
    half = sps.t.ppf(0.975, df) * se
    return Estimate(value, value - half, value + half, n, "m", se, df)


STRATA = {"d1/a": _est(0.8, 0.05, 3.0, 5), "d1/b": _est(0.05, 0.02, 3.0, 3), "d2/c": _est(0.7, 0.01, 1.0, 2)}
MODELS = {"d1": D1, "d2": D2}
FIGS = ["figs/03_controls.png", "figs/other.png", "figs/03_boundary_distances_d1.png",
        "figs/03_transfer_matrix_d1.png", "figs/03_landing_and_agreement.png", "figs/03_transfer_vs_eps.png"]


def expected_rows(rule):
    level = 1 - 0.05 / 2  # two strata with at least 3 models
    out = []
    for name, e in STRATA.items():
        judged = e.n >= 3
        half = sps.t.ppf(0.5 + level / 2, e.df) * e.se if judged else None
        low, high = (e.value - half, e.value + half) if judged else (e.low, e.high)
        out.append((name, e.value, low, high, e.n, level if judged else None, e.low, e.high))
    return out


@pytest.mark.parametrize("module, verdicts, stems, notes_extra", [
    (h3, ["supported", "inconclusive", "too few models"],
     ["03_boundary_distances_d1.png", "03_controls.png"], {"archs": ["mlp", "cnn"], "seeds": [0, 1, 2],
                                                           "n_boundary": 7}),
    (h4, ["supported", "no effect", "too few models"],
     ["03_landing_and_agreement.png", "03_transfer_vs_eps.png", "03_transfer_matrix_d1.png", "03_controls.png"],
     {"eps_ref": 0.1, "pgd_steps": 10})])
def test_record_writes_the_strata_rule_and_controls(ledger, module, verdicts, stems, notes_extra):
    claim_id = module.__name__.rsplit(".", 1)[1].upper()
    P = {"profile": "quick", **notes_extra}
    pooled = _est(0.62, 0.03, 4.0, 8)
    controls = [claims.Control("copy", claims.POSITIVE, _est(0.95, 0.01, 2.0, 3), "noisy copies"),
                claims.Control("random labels", claims.NEGATIVE, _est(0.3, 0.04, 2.0, 3), "random labels")]
    measured = {"median_x": Estimate(0.25, float("nan"), float("nan"), 9, "point value (descriptive)")}
    c = module.record(STRATA, pooled, measured, P, MODELS, FIGS, "Excluded: mlp/s9.", controls)
    assert (c.id, c.verdict, c.replicates, c.notebook, c.primary) == (claim_id, "supported", 8, "03_transfer",
                                                                     module.PRIMARY)
    assert c.figures == stems and c.rule == str(module.RULE) and c.statement == module.STATEMENT
    assert c.rule_hash == module.RULE.fingerprint() == LOCK[claim_id]["hash"]
    assert c.notes == module.notes(P, MODELS, "Excluded: mlp/s9.") and "Excluded: mlp/s9." in c.notes
    assert [r["verdict"] for r in c.strata] == verdicts
    for row, (name, value, low, high, n, level, low95, high95) in zip(c.strata, expected_rows(module.RULE)):
        assert (row["stratum"], row["n"], row["level"], row["family_level"]) == (name, n, level, level)
        assert row["value"] == value and row["low95"] == low95 and row["high95"] == high95
        assert row["low"] == pytest.approx(low, rel=REL) and row["high"] == pytest.approx(high, rel=REL)
    assert [(r["name"], r["kind"], r["verdict"], r["as_built"], r["built"]) for r in c.controls] == [
        ("copy", "positive", "supported", True, "noisy copies"),
        ("random labels", "negative", "weaker than claimed", False, "random labels")]
    assert list(c.measurements) == ["median_x", module.PRIMARY]
    assert c.measurements[module.PRIMARY] == pooled.as_dict()
    assert (c.margin, c.null_value, c.band, c.ideal, c.op) == (0.5, 0.0, module.RULE.band, 1.0, ">")
    saved = json.loads((ledger / f"{claim_id}.json").read_text())
    assert saved["rule_hash"] == LOCK[claim_id]["hash"] and saved["verdict"] == "supported"
    assert [s["verdict"] for s in saved["strata"]] == verdicts and saved["replicates"] == 8
    assert [s["as_built"] for s in saved["controls"]] == [True, False]
    assert "CONTROLS READ WRONG" in saved["sentence"]


def test_record_defaults_and_too_few_models(ledger):
    few = {k: Estimate(e.value, e.low, e.high, 2, "m", e.se, e.df) for k, e in STRATA.items()}
    P = {"profile": "quick", "archs": [], "seeds": [], "n_boundary": 5}
    c = h3.record(few, _est(0.62, 0.03, 4.0, 8), {}, P, {"d": ["mlp/s0", "mlp/s1"]}, [])
    assert c.verdict == "too few models" and c.controls == [] and c.replicates == 2 and c.figures == []
    assert c.notes == h3.notes(P, {"d": ["mlp/s0", "mlp/s1"]}, "")
    c4 = h4.record(few, _est(0.62, 0.03, 4.0, 8), {}, {"profile": "quick", "eps_ref": 0.1, "pgd_steps": 3},
                   {"d": ["mlp/s0"], "e": ["cnn/s0", "cnn/s1"]}, [])
    assert c4.verdict == "too few models" and c4.controls == [] and c4.replicates == 3
    assert c4.notes == h4.notes({"eps_ref": 0.1, "pgd_steps": 3}, {"d": ["mlp/s0"], "e": ["cnn/s0", "cnn/s1"]}, "")


def test_point_values():
    for module in (h3, h4):
        e = module._point(np.float32(0.25), np.int64(7))
        assert (e.value, e.n, e.method) == (0.25, 7, "point value (descriptive)")
        assert type(e.value) is float and type(e.n) is int and np.isnan(e.low) and np.isnan(e.high)
