"""Property tests (hypothesis): known answers that hold for every input, not only for a hand-picked one.

- :func:`stats.permutation_null`: measurements that are the same function of the class for every input
  are exchangeable within a class, so the null equals the observed relation exactly (ratio 1).
- :func:`perturb.matched_norm_noise`: the perturbation has exactly the attack's L2 norm per sample.
- :func:`stats.across_seeds`: the interval holds the mean, is symmetric and is equivariant under
  affine maps of the data (a shift moves it, leaving its width; a scale scales its width).
- :func:`stats.model_draws`: every replicate redraws each group's models, as many as the group has.
- :func:`claims.judge_interval`: moving the margin further from the null never makes a verdict stronger.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.claims import INCONCLUSIVE, NO_EFFECT, SUPPORTED, WEAKER
from halfway_utils.methods.perturb import matched_norm_noise

SETTINGS = settings(max_examples=50, deadline=None, database=None)
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


# --------------------------------------------------------------------------- permutation_null

def id_over_md(a, b):
    """A relation of two positive distances: min / max (1 when equal)."""
    return np.minimum(a, b) / np.maximum(a, b)


@SETTINGS
@given(labels=st.lists(st.integers(0, 3), min_size=2, max_size=30),
       per_class=st.lists(st.tuples(st.floats(0.1, 10.0), st.floats(0.1, 10.0)), min_size=4, max_size=4),
       relation=st.sampled_from([id_over_md, lambda a, b: np.abs(a - b), lambda a, b: a * b + 1.0]))
def test_permutation_null_equals_the_observed_relation_when_measurements_depend_on_the_class_only(
        labels, per_class, relation):
    labels = np.asarray(labels)
    a = np.array([per_class[k][0] for k in labels])
    b = np.array([per_class[k][1] for k in labels])
    null = stats.permutation_null(a, b, labels, relation)
    observed = relation(a, b)
    counts = np.bincount(labels, minlength=4)
    alone = counts[labels] == 1
    assert np.isnan(null[alone]).all()  # no other input of its class: no null
    np.testing.assert_allclose(null[~alone], observed[~alone], rtol=1e-12, atol=1e-12)
    if relation is id_over_md and (~alone).any():
        effect = stats.pair_effects(observed[None, ~alone], null[None, ~alone])
        assert effect[0] == pytest.approx(1.0)


@SETTINGS
@given(n=st.integers(4, 20), seed=st.integers(0, 2 ** 16), n_classes=st.integers(2, 4))
def test_permutation_null_uses_only_inputs_of_the_same_class(n, seed, n_classes):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    a, b = rng.uniform(0.1, 5, n), rng.uniform(0.1, 5, n)
    null = stats.permutation_null(a, b, labels, id_over_md)
    for i in range(n):
        others = [j for j in range(n) if j != i and labels[j] == labels[i]]
        if not others:
            assert math.isnan(null[i])
            continue
        values = [id_over_md(a[i], b[j]) for j in others] + [id_over_md(a[j], b[i]) for j in others]
        assert null[i] == pytest.approx(np.median(values))


# --------------------------------------------------------------------------- matched_norm_noise

@SETTINGS
@given(shape=st.sampled_from([(3, 1, 4, 4), (2, 3, 2, 2), (5, 10), (1, 1, 8, 8), (4, 2, 3)]),
       fractions=st.lists(st.floats(0.0, 0.99), min_size=5, max_size=5), seed=st.integers(0, 2 ** 31 - 1),
       attack_seed=st.integers(0, 2 ** 16), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matched_norm_noise_has_the_attack_norm_per_sample(shape, fractions, seed, attack_seed, dtype):
    """Inputs in [0.25, 0.75]: the box holds at least 0.25 sqrt(d) along any direction, so every norm below
    it is supported and must be met exactly."""
    g = torch.Generator().manual_seed(attack_seed)
    x = (0.25 + 0.5 * torch.rand(shape, generator=g, dtype=torch.float64)).to(dtype)
    d = int(np.prod(shape[1:]))
    direction = torch.randn(shape, generator=g, dtype=torch.float64)
    direction = direction / direction.flatten(1).norm(dim=1).view(-1, *[1] * (len(shape) - 1))
    norms = torch.tensor(fractions[:shape[0]], dtype=torch.float64) * 0.25 * math.sqrt(d)
    x_adv = (x.double() + norms.view(-1, *[1] * (len(shape) - 1)) * direction).to(dtype)
    noise = matched_norm_noise(x, x_adv, seed=seed)
    assert noise.shape == x.shape and noise.dtype == x.dtype
    assert float(noise.min()) >= 0.0 and float(noise.max()) <= 1.0
    want = (x_adv.double() - x.double()).flatten(1).norm(dim=1)
    got = (noise.double() - x.double()).flatten(1).norm(dim=1)
    tol = 1e-9 if dtype == torch.float64 else 2e-6 * math.sqrt(d)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=tol, rtol=1e-5)
    assert torch.equal(noise, matched_norm_noise(x, x_adv, seed=seed))  # seeded
    assert torch.equal(matched_norm_noise(x, x, seed=seed), x)  # no attack, no noise


@SETTINGS
@given(n=st.integers(1, 4), d=st.integers(2, 12), seed=st.integers(0, 2 ** 16))
def test_matched_norm_noise_reaches_the_norm_from_the_box_faces(n, d, seed):
    """Inputs on the faces of the box (0 or 1): clipping binds at once on about half the coordinates."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, d, generator=g) < 0.5).double()
    step = 0.3 * torch.rand(n, d, generator=g, dtype=torch.float64)
    x_adv = (1 - x) * step + x * (1 - step)  # inward from each face
    want = (x_adv - x).norm(dim=1)
    noise = matched_norm_noise(x, x_adv, seed=seed)
    got = (noise - x).norm(dim=1)
    # along the drawn direction the box holds a norm of at most the farthest point's; met exactly below that
    assert (got <= want + 1e-9).all()
    assert float(noise.min()) >= 0.0 and float(noise.max()) <= 1.0


# --------------------------------------------------------------------------- across_seeds

values_lists = st.lists(finite, min_size=2, max_size=12).filter(lambda v: np.ptp(v) > 1e-3)


@SETTINGS
@given(values=values_lists)
def test_across_seeds_interval_holds_the_mean_and_is_symmetric(values):
    e = stats.across_seeds(values)
    assert e.value == pytest.approx(np.mean(values), abs=1e-9)
    assert e.low < e.value < e.high
    assert (e.high - e.value) == pytest.approx(e.value - e.low, rel=1e-9, abs=1e-9)
    assert e.n == len(values)


@SETTINGS
@given(values=values_lists, scale=st.floats(0.01, 100.0), shift=finite, flip=st.booleans())
def test_across_seeds_is_affine_equivariant(values, scale, shift, flip):
    a = -scale if flip else scale
    e = stats.across_seeds(values)
    f = stats.across_seeds([a * v + shift for v in values])
    width, width_f = e.high - e.low, f.high - f.low
    assert f.value == pytest.approx(a * e.value + shift, rel=1e-9, abs=1e-6)
    assert width_f == pytest.approx(abs(a) * width, rel=1e-6, abs=1e-6)
    g = stats.across_seeds([v + shift for v in values])  # a shift leaves the width
    assert g.high - g.low == pytest.approx(width, rel=1e-6, abs=1e-6)
    assert g.low == pytest.approx(e.low + shift, rel=1e-9, abs=1e-6)


@SETTINGS
@given(values=values_lists)
def test_across_seeds_is_wider_at_a_higher_level(values):
    e90, e95, e99 = (stats.across_seeds(values, level=lv) for lv in (0.9, 0.95, 0.99))
    assert e90.high - e90.low < e95.high - e95.low < e99.high - e99.low


# --------------------------------------------------------------------------- model_draws

@SETTINGS
@given(groups=st.lists(st.sampled_from(["mlp", "cnn", "resnet", "vit"]), min_size=1, max_size=12),
       n_boot=st.integers(1, 40), seed=st.integers(0, 2 ** 16))
def test_model_draws_redraw_each_group_to_its_size(groups, n_boot, seed):
    counts = stats.model_draws(groups, n_boot, np.random.default_rng(seed))
    assert counts.shape == (n_boot, len(groups))
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    labels = np.asarray(groups)
    for group in set(groups):
        members = labels == group
        np.testing.assert_array_equal(counts[:, members].sum(1), np.full(n_boot, members.sum()))
        if members.sum() == 1:
            assert (counts[:, members] == 1).all()  # a model alone in its group is always drawn once
    assert counts.sum() == n_boot * len(groups)


# --------------------------------------------------------------------------- judge_interval

ORDER = {SUPPORTED: 3, WEAKER: 2, INCONCLUSIVE: 1, NO_EFFECT: 0}


@SETTINGS
@given(centre=st.floats(-2, 2), half=st.floats(0.0, 1.0), null=st.floats(-0.5, 0.5), band=st.floats(0.0, 0.3),
       m1=st.floats(0.0, 2.0), extra=st.floats(0.0, 2.0), op=st.sampled_from([">", "<"]))
def test_judge_interval_never_strengthens_as_the_margin_moves_away(centre, half, null, band, m1, extra, op):
    d = 1.0 if op == ">" else -1.0
    near, far = null + d * (band + m1), null + d * (band + m1 + extra)
    est = stats.Estimate(centre, centre - half, centre + half, 5, "t")
    v_near = claims.judge_interval(est, op=op, null_value=null, band=band, margin=near)
    v_far = claims.judge_interval(est, op=op, null_value=null, band=band, margin=far)
    if v_near != SUPPORTED:
        assert v_far != SUPPORTED, (v_near, v_far)
    if v_far == SUPPORTED:
        assert v_near == SUPPORTED
    if v_near == WEAKER:
        assert v_far in (WEAKER, INCONCLUSIVE, NO_EFFECT) and v_far != SUPPORTED
    # no effect is decided by the null and its band alone, whatever the margin
    assert (v_near == NO_EFFECT) == (v_far == NO_EFFECT)


@SETTINGS
@given(centre=st.floats(-2, 2), half=st.floats(0.0, 1.0), margin=st.floats(0.05, 1.0), band=st.floats(0.0, 0.04))
def test_judge_interval_mirrors_under_the_direction_of_the_claim(centre, half, margin, band):
    up = claims.judge_interval(stats.Estimate(centre, centre - half, centre + half, 5, "t"), op=">",
                               null_value=0.0, band=band, margin=margin)
    down = claims.judge_interval(stats.Estimate(-centre, -centre - half, -centre + half, 5, "t"), op="<",
                                 null_value=0.0, band=band, margin=-margin)
    assert up == down
    assume(half > 0)
    wider = claims.judge_interval(stats.Estimate(centre, centre - 2 * half, centre + 2 * half, 5, "t"), op=">",
                                  null_value=0.0, band=band, margin=margin)
    if up != SUPPORTED:
        assert wider != SUPPORTED  # a wider interval of the same centre is never more decisive


@SETTINGS
@given(centre=st.floats(-2, 2), half=st.floats(0.0, 1.0), null=st.floats(-0.5, 0.5), band=st.floats(0.0, 0.3),
       gap=st.floats(0.0, 2.0), op=st.sampled_from([">", "<"]))
def test_judge_interval_verdicts_say_where_the_whole_interval_lies(centre, half, null, band, gap, op):
    d = 1.0 if op == ">" else -1.0
    margin = null + d * (band + gap)
    est = stats.Estimate(centre, centre - half, centre + half, 5, "t")
    verdict = claims.judge_interval(est, op=op, null_value=null, band=band, margin=margin)
    lo, hi = sorted((d * est.low, d * est.high))  # in the claim's direction
    if verdict == SUPPORTED:
        assert lo > d * margin  # the whole interval beyond the margin
    elif verdict == NO_EFFECT:
        assert hi < d * null + band  # the whole interval below the null's band
    elif verdict == WEAKER:
        assert d * null < lo and hi < d * margin  # an effect, short of the margin
    else:
        assert verdict == INCONCLUSIVE and not lo > d * margin and not hi < d * null + band
