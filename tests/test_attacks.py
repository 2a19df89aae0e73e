"""Tests for halfway_utils.attacks on a tiny MLP trained on synthetic 28x28 data."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from halfway_utils.infra import store as cache
from halfway_utils.methods import attacks as A
from halfway_utils.models import predict

N_TEST = 200
EPS_GRID = (0.0, 0.08, 0.11, 0.14, 0.17, 0.2, 0.3)
SLACK = 0.02  # success rates may dip by this much between neighbouring eps (noise)


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten fixed binary prototypes at varying contrast over uniform noise, in [0, 1], shape (n, 1, 28, 28)."""
    protos = (torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(123)) < 0.3).float()
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=gen)
    contrast = 0.2 + 0.2 * torch.rand(n, 1, 1, 1, generator=gen)
    x = contrast * protos[y] + (1 - contrast) * torch.rand(n, 1, 28, 28, generator=gen)
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def setup(one_thread_module) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 784-64-10 MLP trained for 300 Adam steps, and held-out inputs it classifies."""
    torch.manual_seed(0)
    x, y = synthetic(2000, seed=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, len(x), (128,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()
    xt, yt = synthetic(N_TEST, seed=1)
    assert (predict(model, xt) == yt).float().mean() > 0.95
    return model, xt, yt


def test_success_rises_with_eps_and_pgd_beats_fgsm(setup):
    model, x, y = setup
    rates = {name: [] for name in ("fgsm", "pgd")}
    for eps in EPS_GRID:
        for name in rates:
            rates[name].append(A.success_rate(model, A.attack(name, model, x, y, eps), y, x))
    for name, r in rates.items():
        assert r[0] == 0.0, name
        assert all(b >= a - SLACK for a, b in zip(r, r[1:])), (name, r)
        assert r[-1] > 0.9, (name, r)
        assert 0.0 < max(r) and min(r[1:]) < 0.9, (name, r)  # the grid spans the transition
    assert all(p >= f - SLACK for f, p in zip(rates["fgsm"], rates["pgd"])), rates
    assert sum(rates["pgd"]) > sum(rates["fgsm"])


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("linf", 0.3), ("l2", 1.0), ("l2", 3.0)])
def test_norm_budget_range_device_dtype(setup, norm, eps):
    model, x, y = setup
    adv = A.pgd(model, x, y, eps, norm=norm, steps=5, batch_size=64)  # several chunks
    assert adv.shape == x.shape and adv.dtype == x.dtype and adv.device == x.device
    assert adv.min() >= 0 and adv.max() <= 1
    assert A.perturbation_norms(x, adv, norm).max() <= eps + 1e-6
    if norm == "linf":
        fg = A.fgsm(model, x, y, eps)
        assert fg.min() >= 0 and fg.max() <= 1
        assert A.perturbation_norms(x, fg, "linf").max() <= eps + 1e-6


def test_float64_inputs_come_back_float64(setup):
    model, x, y = setup
    adv = A.pgd(model, x.double(), y, 0.1, steps=3)
    assert adv.dtype == torch.float64
    assert A.perturbation_norms(x.double(), adv, "linf").max() <= 0.1 + 1e-6


def _hand_pgd(model, x, y, eps, alpha, steps, norm):
    """Madry et al.'s PGD without random start, written out here: ascend the loss, project, clip."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adv), y)
        grad, = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            if norm == "linf":
                adv = adv + alpha * grad.sign()
                delta = (adv - x).clamp(-eps, eps)
            else:
                g = grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10
                delta = adv + alpha * grad / g - x
                scale = (eps / delta.flatten(1).norm(dim=1)).clamp(max=1.0).view(-1, 1, 1, 1)
                delta = delta * scale
            adv = (x + delta).clamp(0, 1)
    return adv.detach()


@pytest.mark.parametrize("norm,eps", [("linf", 0.15), ("l2", 2.0)])
def test_pgd_and_fgsm_agree_with_a_hand_written_attack(setup, norm, eps):
    model, x, y = setup
    x, y = x[:200], y[:200]
    ours = A.pgd(model, x, y, eps, steps=7, norm=norm, random_start=False)
    ref = _hand_pgd(model, x, y, eps, 2.5 * eps / 7, 7, norm)
    assert (ours - ref).abs().max() < 1e-5
    one_step = _hand_pgd(model, x, y, 0.1, 0.1, 1, "linf")  # FGSM is PGD with one full step
    assert (A.fgsm(model, x, y, 0.1) - one_step).abs().max() < 1e-5


def test_seeded_and_global_rng_untouched(setup):
    model, x, y = setup
    for norm, eps in (("linf", 0.1), ("l2", 1.0)):
        state = torch.get_rng_state()
        a = A.pgd(model, x, y, eps, norm=norm, seed=3)
        assert torch.equal(torch.get_rng_state(), state)
        b = A.pgd(model, x, y, eps, norm=norm, seed=3)
        c = A.pgd(model, x, y, eps, norm=norm, seed=4)
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_deepfool_batched_matches_torchattacks(setup):
    model, x, y = setup
    xs, ys = x[:16], y[:16]
    ours = A.deepfool(model, xs, ys)
    ref = A.deepfool(model, xs, ys, impl="torchattacks")
    fooled_ours = predict(model, ours) != ys
    fooled_ref = predict(model, ref) != ys
    assert (fooled_ours == fooled_ref).float().mean() >= 0.9
    n_ours, n_ref = A.perturbation_norms(xs, ours, "l2"), A.perturbation_norms(xs, ref, "l2")
    assert ((n_ours - n_ref).abs() <= 1e-3 * n_ref + 1e-5).float().mean() >= 0.9


def test_min_norm_attacks_find_small_perturbations(setup):
    model, x, y = setup
    xs, ys = x[:64], y[:64]
    pgd_l2 = A.pgd(model, xs, ys, 6.0, norm="l2", steps=20)
    pgd_norm = A.perturbation_norms(xs, pgd_l2, "l2")
    for name, kw in (("deepfool", {}), ("cw", {"c": 10.0, "steps": 100, "lr": 0.05})):
        adv = A.attack(name, model, xs, ys, None, **kw)
        assert adv.min() >= 0 and adv.max() <= 1
        fooled = predict(model, adv) != ys
        assert fooled.float().mean() >= 0.8, name
        norms = A.perturbation_norms(xs, adv, "l2")[fooled]
        assert norms.median() < pgd_norm.median(), (name, norms.median(), pgd_norm.median())


def test_min_norm_budget_reverts_large_perturbations(setup):
    model, x, y = setup
    xs, ys = x[:32], y[:32]
    free = A.perturbation_norms(xs, A.deepfool(model, xs, ys), "l2")
    budget = free.median().item()
    adv = A.attack("deepfool", model, xs, ys, budget)
    norms = A.perturbation_norms(xs, adv, "l2")
    assert norms.max() <= budget + 1e-6
    assert torch.equal(norms == 0, free > budget)


def test_model_modes_and_requires_grad_restored(setup):
    model, x, y = setup
    model.train()
    model[1].eval()
    model[3].weight.requires_grad_(False)
    model.zero_grad(set_to_none=True)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    try:
        for name, eps in (("fgsm", 0.1), ("pgd", 0.1), ("deepfool", None), ("cw", None)):
            kw = {"steps": 2} if name != "fgsm" else {}
            A.attack(name, model, x[:8], y[:8], eps, **kw)
            assert [m.training for m in model.modules()] == modes, name
            assert [p.requires_grad for p in model.parameters()] == flags, name
            assert all(p.grad is None for p in model.parameters()), name
    finally:
        model.eval()
        model[3].weight.requires_grad_(True)


def test_attack_runs_in_eval_mode(setup):
    model, x, y = setup
    drop = nn.Sequential(nn.Dropout(0.9), model).train()
    a = A.pgd(drop, x[:20], y[:20], 0.1, random_start=False)
    assert drop.training and drop[0].training
    assert torch.equal(a, A.pgd(model, x[:20], y[:20], 0.1, random_start=False))


def test_unknown_names_and_bad_arguments(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="valid: cw, deepfool, fgsm, pgd"):
        A.attack("pgdd", model, x, y, 0.1)
    with pytest.raises(ValueError, match="norm"):
        A.pgd(model, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="eps"):
        A.attack("pgd", model, x, y, None)
    with pytest.raises(ValueError, match="eps"):
        A.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        A.pgd(model, x * 2 - 0.5, y, 0.1)


def test_eps_zero_is_identity(setup):
    model, x, y = setup
    for norm in ("linf", "l2"):
        assert torch.equal(A.pgd(model, x, y, 0.0, norm=norm), x)


def test_success_rate(setup):
    model, x, y = setup
    y_wrong = y.clone()
    y_wrong[:50] = (y[:50] + 1) % 10  # 50 labels the model gets "wrong"
    assert A.success_rate(model, x, y_wrong) == pytest.approx(50 / N_TEST)
    assert A.success_rate(model, x, y_wrong, x_clean=x) == 0.0  # restricted to clean-correct samples
    assert math.isnan(A.success_rate(model, x[:50], y_wrong[:50], x_clean=x[:50]))


def test_adversarial_set_cache(setup, tmp_path, monkeypatch):
    model, x, y = setup
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path))
    args = dict(attack="pgd", eps=0.1, data_key="synthetic-test")
    first, hit = A.adversarial_set(model, "mlp-a", x, y, **args)
    assert not hit
    assert torch.equal(first, A.pgd(model, x, y, 0.1))
    again, hit = A.adversarial_set(model, "mlp-a", x, y, **args, steps=10)  # explicit default: same key
    assert hit and torch.equal(again, first)
    files = list((tmp_path / "adversarial").glob("*.pt"))
    assert len(files) == 1

    other, hit = A.adversarial_set(model, "mlp-a", x, y, **args, steps=3)
    assert not hit and not torch.equal(other, first)
    _, hit = A.adversarial_set(model, "mlp-b", x, y, **args)
    assert not hit

    raw = files[0].read_bytes()
    files[0].write_bytes(raw[: len(raw) // 2])  # truncated entry
    rebuilt, hit = A.adversarial_set(model, "mlp-a", x, y, **args)
    assert not hit and torch.equal(rebuilt, first)
    assert cache.load(files[0])["x_adv"].shape == x.shape
    _, hit = A.adversarial_set(model, "mlp-a", x, y, **args)
    assert hit

    fresh, hit = A.adversarial_set(model, "mlp-a", x, y, **args, use_cache=False)
    assert not hit and torch.equal(fresh, first)

    with pytest.raises(ValueError, match="data_key"):
        A.adversarial_set(model, "mlp-a", 1 - x, y, **args)


def test_box_aware_deepfool_crosses_where_clipping_stalls(setup):
    model, x, y = setup
    xb = (x[:48] > 0.5).float()  # binary inputs: every pixel pinned at 0 or 1
    yb = y[:48]
    keep = predict(model, xb) == yb
    xb, yb = xb[keep], yb[keep]
    plain = (predict(model, A.deepfool(model, xb, yb)) != yb).float().mean()
    adv = A.deepfool(model, xb, yb, box_aware=True)
    boxed = (predict(model, adv) != yb).float().mean()
    assert adv.min() >= 0 and adv.max() <= 1
    assert boxed >= 0.95 and boxed >= plain
    with pytest.raises(ValueError, match="box_aware"):
        A.deepfool(model, xb, yb, impl="torchattacks", box_aware=True)
