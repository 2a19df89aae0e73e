"""The matched-norm random perturbation (halfway_utils.methods.perturb)."""
from __future__ import annotations

import pytest
import torch

from halfway_utils.methods.perturb import matched_norm_noise


def test_matched_norm_noise_has_the_attacks_l2_norm_inside_the_box():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(50, 1, 8, 8, generator=gen)
    x[:10] = 0.0  # black images: half of every random direction is clipped away
    sign = torch.sign(torch.randn(x.shape, generator=gen))
    x_adv = (x + 0.1 * sign).clamp(0, 1)
    noise = matched_norm_noise(x, x_adv, seed=3)
    assert noise.shape == x.shape and float(noise.min()) >= 0 and float(noise.max()) <= 1
    target = (x_adv - x).flatten(1).norm(dim=1)
    assert (noise - x).flatten(1).norm(dim=1) == pytest.approx(target.tolist(), rel=1e-5)
    assert torch.equal(noise, matched_norm_noise(x, x_adv, seed=3))
    assert not torch.equal(noise, matched_norm_noise(x, x_adv, seed=4))
    assert torch.equal(matched_norm_noise(x, x.clone(), seed=3), x)  # a zero perturbation stays zero
    # the same step by bisection on the clipped norm, which grows with the step
    flat, adv = x.flatten(1).double(), x_adv.flatten(1).double()
    u = torch.randn(flat.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lo, hi = torch.zeros(len(flat), dtype=torch.float64), torch.full((len(flat),), 100.0, dtype=torch.float64)
    for _ in range(100):
        mid = (lo + hi) / 2
        short = ((flat + mid[:, None] * u).clamp(0, 1) - flat).norm(dim=1) < (adv - flat).norm(dim=1)
        lo, hi = torch.where(short, mid, lo), torch.where(short, hi, mid)
    assert torch.allclose(noise.flatten(1).double(), (flat + hi[:, None] * u).clamp(0, 1), atol=1e-6)
    # a norm the box cannot hold: the farthest point along the direction, every pixel at a face
    black = torch.zeros(3, 1, 8, 8)
    far = matched_norm_noise(black, torch.ones_like(black), seed=1)
    u = torch.randn((3, 64), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(far.flatten(1), (u > 0).float())
    # the direction is random: it is not the attack's sign pattern
    cos = torch.nn.functional.cosine_similarity((noise - x).flatten(1)[10:], (x_adv - x).flatten(1)[10:])
    assert float(cos.abs().mean()) < 0.3
    with pytest.raises(ValueError):
        matched_norm_noise(x, x_adv[:3], seed=0)


def test_matched_norm_noise_keeps_the_dtype_and_is_deterministic():
    x = torch.rand(4, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    x_adv = (x + 0.05).clamp(0, 1)
    noise = matched_norm_noise(x, x_adv, seed=0)
    assert noise.dtype == x.dtype
    assert torch.equal(noise, matched_norm_noise(x.clone(), x_adv.clone(), seed=0))
