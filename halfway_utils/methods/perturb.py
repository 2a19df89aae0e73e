"""Random perturbations matched to an attack: the null that an attack's effect is measured against.

:func:`matched_norm_noise` perturbs each input in a seeded random direction by exactly the
L2 norm of the attack's perturbation of that input, after clipping to the pixel box
``[0, 1]``; an effect of the attack beyond that of this noise is an effect of its direction,
not of its size.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["matched_norm_noise"]


def matched_norm_noise(x: Tensor, x_adv: Tensor, *, seed: int) -> Tensor:
    """Random perturbations of ``x`` with, per input, the L2 norm of ``x_adv - x``, inside ``[0, 1]``.

    Each input gets a seeded Gaussian direction ``u``, and the step ``c`` solves
    ``||clip(x + c u, 0, 1) - x||_2 = ||x_adv - x||_2`` exactly: coordinate ``i`` moves by
    ``min(c |u_i|, room_i)`` (``room_i`` = the distance to the box face ``u_i`` points at), so
    the squared norm is a sum over the coordinates not yet clipped, ``c^2 sum u_i^2``, plus the
    clipped ones' ``room_i^2``, solved on the segment between sorted breakpoints ``room_i/|u_i|``
    that holds the root. Where the box cannot hold that norm the farthest point along ``u``
    is returned. Computed in float64, returned in ``x``'s dtype.
    """
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv differ in shape: {tuple(x.shape)} vs {tuple(x_adv.shape)}")
    flat = x.detach().flatten(1).double()
    target_sq = (x_adv.detach().flatten(1).double() - flat).square().sum(1)
    u = torch.randn(flat.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    u = u.to(flat.device)
    room = torch.where(u > 0, 1 - flat, flat).clamp_min(0)
    au = u.abs()
    breaks = torch.where(au > 0, room / au.clamp_min(1e-300), torch.inf)
    t, order = breaks.sort(dim=1)
    room_sq, u_sq = room.gather(1, order).square(), au.gather(1, order).square()
    zero = torch.zeros(len(flat), 1, dtype=flat.dtype, device=flat.device)
    clipped = torch.cat([zero, room_sq.cumsum(1)], 1)  # k = 0..d: room^2 of the k first-clipped coordinates
    free = torch.cat([u_sq.flip(1).cumsum(1).flip(1), zero], 1)  # sum of u^2 over the others
    c = ((target_sq[:, None] - clipped).clamp_min(0) / free).sqrt()  # inf where nothing is free
    lower = torch.cat([zero, t], 1)
    upper = torch.cat([t, torch.full_like(zero, torch.inf)], 1)
    inside = (c >= lower) & (c <= upper)
    k = inside.double().argmax(1)  # the first segment that holds the root
    step = c.gather(1, k[:, None]).squeeze(1)
    farthest = torch.where(torch.isfinite(t), t, torch.zeros_like(t)).max(1).values
    step = torch.where(inside.any(1) & torch.isfinite(step), step, farthest)
    step = torch.where(target_sq > 0, step, torch.zeros_like(step))
    return (flat + step[:, None] * u).clamp(0, 1).to(x.dtype).view_as(x)
