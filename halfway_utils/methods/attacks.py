"""Adversarial attacks: a thin, pinned wrapper over torchattacks 3.3.0.

Models take inputs in ``[0, 1]`` (any normalisation lives inside the model), which is
what torchattacks assumes by default. Every attack here

- returns a tensor on ``x``'s device with ``x``'s dtype, clipped to ``[0, 1]``;
- keeps the perturbation within ``eps`` in its norm (up to float rounding);
- works in chunks of ``batch_size`` samples;
- runs the model in eval mode and restores every submodule's ``training`` flag after;
- freezes the parameters' ``requires_grad`` during the attack (so no ``.grad`` is
  accumulated into the model) and restores the flags after;
- is deterministic for a given ``seed`` and ``batch_size``: random starts run inside
  :func:`torch.random.fork_rng`, so the caller's global RNG is not disturbed.

FGSM, PGD (L-inf and L2) and CW call torchattacks. DeepFool defaults to a batched
re-implementation of torchattacks' DeepFool (same iteration, same per-step overshoot;
gradients of all logits for the whole batch at once instead of per-sample Jacobians);
``impl="torchattacks"`` runs the original.

Minimum-norm attacks (DeepFool, CW) take an optional L2 budget ``eps``: samples whose
perturbation exceeds it are returned unperturbed, so a success always lies in budget.

:func:`adversarial_set` caches adversarial inputs on disk, keyed by model, attack,
eps, resolved keyword arguments and data, so a transfer matrix over N models costs N
attacks and N^2 evaluations.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torchattacks
from torch import Tensor, nn

from ..infra import store
from ..models import eval_mode, predict

__all__ = [
    "ATTACKS",
    "VERSION",
    "adversarial_set",
    "attack",
    "cw",
    "deepfool",
    "fgsm",
    "perturbation_norms",
    "pgd",
    "success_rate",
]

#: Bump when the output of any attack for the same arguments changes (invalidates the cache).
VERSION = 1
PINNED_TORCHATTACKS = "3.3.0"
NORMS = ("linf", "l2")
DEFAULT_BATCH_SIZE = 512

if torchattacks.__version__ != PINNED_TORCHATTACKS:  # pragma: no cover - environment check
    import warnings

    warnings.warn(
        f"halfway_utils.attacks is pinned to torchattacks {PINNED_TORCHATTACKS}, "
        f"found {torchattacks.__version__}; results may differ",
        stacklevel=2,
    )


# --------------------------------------------------------------------------- helpers


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first parameter."""
    param = next(model.parameters())
    return param.device, param.dtype


@contextlib.contextmanager
def _attack_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and frozen parameters for the duration; every flag restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG (CPU and ``device``) inside a forked RNG state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _check_inputs(x: Tensor, y: Tensor) -> None:
    """Reject inputs that the attacks cannot handle."""
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating tensor in [0, 1], got {x.dtype}")
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"expected x of shape (N, ...) and y of shape (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got [{x.min().item():.4g}, {x.max().item():.4g}]; "
                         "normalisation belongs inside the model")


def _check_norm(norm: str) -> str:
    """Normalise a norm name to 'linf' or 'l2'."""
    name = norm.lower()
    if name not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    return name


def _run_chunked(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    run: Callable[[Tensor, Tensor], Tensor],
    batch_size: int,
    seed: int | None = None,
) -> Tensor:
    """Apply ``run(x_chunk, y_chunk)`` chunk by chunk on the model's device; output like ``x``."""
    _check_inputs(x, y)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device, dtype = _model_device_dtype(model)
    out = torch.empty_like(x)
    rng = _seeded(seed, device) if seed is not None else contextlib.nullcontext()
    with _attack_mode(model), rng:
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].detach().to(device=device, dtype=dtype)
            yb = y[start:start + batch_size].detach().to(device=device, dtype=torch.long)
            adv = run(xb, yb).detach().clamp_(0.0, 1.0)
            out[start:start + batch_size] = adv.to(device=x.device, dtype=x.dtype)
    return out


def _revert_over_budget(x: Tensor, x_adv: Tensor, eps: float | None) -> Tensor:
    """Replace adversarial inputs whose L2 perturbation exceeds ``eps`` by the clean ones."""
    if eps is None or math.isinf(eps):
        return x_adv
    over = perturbation_norms(x, x_adv, "l2") > eps
    x_adv[over] = x[over]
    return x_adv


# --------------------------------------------------------------------------- attacks


def _check_eps(eps: float | None, required: bool) -> None:
    """Reject a negative, NaN or (where required) missing budget."""
    if eps is None:
        if required:
            raise ValueError("this attack needs an eps")
        return
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Tensor:
    """Fast gradient sign method (L-inf, one step of size ``eps``) via torchattacks.FGSM."""
    _check_eps(eps, required=True)
    if eps == 0:
        _check_inputs(x, y)
        return x.detach().clone()
    atk = torchattacks.FGSM(model, eps=eps)
    return _run_chunked(model, x, y, atk, batch_size)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    steps: int = 10,
    alpha: float | None = None,
    norm: str = "linf",
    random_start: bool = True,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Tensor:
    """Projected gradient descent (torchattacks.PGD / PGDL2); ``alpha`` defaults to 2.5*eps/steps."""
    norm = _check_norm(norm)
    _check_eps(eps, required=True)
    if eps == 0:  # torchattacks' L2 projection divides 0 by 0
        _check_inputs(x, y)
        return x.detach().clone()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    alpha = 2.5 * eps / steps if alpha is None else alpha
    if norm == "linf":
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    else:
        atk = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    return _run_chunked(model, x, y, atk, batch_size, seed=seed if random_start else None)


def _deepfool_batched(model: nn.Module, x: Tensor, y: Tensor, steps: int, overshoot: float, box_aware: bool) -> Tensor:
    """torchattacks' DeepFool iteration, vectorised over the batch; ``box_aware``: step only in free pixels."""
    x_adv = x.clone()
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xa = x_adv[idx].clone().requires_grad_(True)
        logits = model(xa)
        ya = y[idx]
        fooled = logits.argmax(1) != ya
        active[idx[fooled]] = False
        keep = ~fooled
        if not keep.any():
            break
        # Gradient of each logit w.r.t. the input for the whole batch: one backward per class of
        # the batch sum (samples are independent in eval mode). Faster on CPU than is_grads_batched.
        k = logits.shape[1]
        grads = torch.stack(
            [torch.autograd.grad(logits[:, j].sum(), xa, retain_graph=j < k - 1)[0] for j in range(k)], 1
        )[keep]  # (m, k, *input)
        logits = logits.detach()[keep]
        yk, rows = ya[keep], torch.arange(int(keep.sum()), device=x.device)
        f_prime = logits - logits[rows, yk].unsqueeze(1)  # (m, k)
        w_prime = grads - grads[rows, yk].unsqueeze(1)  # (m, k, *input)
        if box_aware:  # drop pixels pinned at 0 or 1 that the step towards class k would push out
            xk = xa.detach()[keep].unsqueeze(1)
            w_prime = w_prime.masked_fill(((xk <= 0) & (w_prime < 0)) | ((xk >= 1) & (w_prime > 0)), 0.0)
        w_norm = w_prime.flatten(2).norm(p=2, dim=2).clamp_min(1e-12)  # (m, k)
        value = f_prime.abs() / w_norm
        value[rows, yk] = math.inf
        hat = value.argmin(1)
        scale = f_prime[rows, hat].abs() / w_norm[rows, hat] ** 2
        delta = scale.view(-1, *([1] * (x.ndim - 1))) * w_prime[rows, hat]
        moved, old = idx[keep], xa.detach()[keep]
        new = (old + (1 + overshoot) * delta).clamp(0.0, 1.0)
        x_adv[moved] = new
        # An unchanged iterate (exact logit tie, or a step wholly clipped away) stays unchanged
        # in every later step, so stop iterating it: same output, less work.
        active[moved[(new == old).flatten(1).all(1)]] = False
    return x_adv


def deepfool(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    steps: int = 50,
    overshoot: float = 0.02,
    box_aware: bool = False,
    eps: float | None = None,
    impl: str = "batched",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Tensor:
    """DeepFool (L2, minimum norm); ``impl`` 'batched' (ours) or 'torchattacks'; optional L2 budget ``eps``.

    Default (``box_aware=False``) is torchattacks' iteration: each linearised step, scaled by
    ``1 + overshoot``, is clipped to [0, 1]. Where clipping eats more than the overshoot
    (pixels pinned at 0 or 1, e.g. MNIST) iterates creep up to the boundary and can stall on
    an exact logit tie. ``box_aware=True`` (batched only) computes each step over the pixels
    free to move in its direction, which crosses the boundary in far fewer steps.
    """
    _check_eps(eps, required=False)
    if impl == "batched":
        def run(xb: Tensor, yb: Tensor) -> Tensor:
            return _deepfool_batched(model, xb, yb, steps, overshoot, box_aware)
    elif impl == "torchattacks":
        if box_aware:
            raise ValueError("impl='torchattacks' does not support box_aware=True")
        run = torchattacks.DeepFool(model, steps=steps, overshoot=overshoot)
    else:
        raise ValueError(f"unknown DeepFool impl {impl!r}; valid: batched, torchattacks")
    return _revert_over_budget(x, _run_chunked(model, x, y, run, batch_size), eps)


def cw(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    c: float = 1.0,
    steps: int = 100,
    lr: float = 0.01,
    kappa: float = 0.0,
    eps: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Tensor:
    """Carlini-Wagner L2 via torchattacks.CW (fixed c, no binary search); optional L2 budget ``eps``.

    torchattacks optimises in tanh space from ``atanh(2x - 1)``, so pixels exactly at 0 or 1
    never move; it stops early when the cost summed over the chunk rises (so results depend on
    ``batch_size``); a sample it fails on comes back clean.
    """
    _check_eps(eps, required=False)
    atk = torchattacks.CW(model, c=c, kappa=kappa, steps=steps, lr=lr)
    return _revert_over_budget(x, _run_chunked(model, x, y, atk, batch_size), eps)


#: Attack name -> function; each takes ``(model, x, y)`` and ``eps`` as a keyword (see :func:`attack`).
ATTACKS: dict[str, Callable[..., Tensor]] = {
    "fgsm": fgsm,
    "pgd": pgd,
    "deepfool": deepfool,
    "cw": cw,
}


def _lookup(name: str) -> Callable[..., Tensor]:
    """Registry entry for ``name`` or a ValueError listing valid names."""
    try:
        return ATTACKS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; valid: {', '.join(sorted(ATTACKS))}") from None


def _run(name: str, model: nn.Module, x: Tensor, y: Tensor, eps: float | None, kw: dict[str, Any]) -> Tensor:
    """Look up and run attack ``name``; FGSM and PGD need a finite ``eps``."""
    fn = _lookup(name)
    if eps is None and fn in (fgsm, pgd):
        raise ValueError(f"attack {name!r} needs an eps")
    return fn(model, x, y, eps=eps, **kw)


def attack(name: str, model: nn.Module, x: Tensor, y: Tensor, eps: float | None, **kw: Any) -> Tensor:
    """Run the registered attack ``name`` (see :data:`ATTACKS`) with budget ``eps`` (optional for DeepFool/CW)."""
    return _run(name, model, x, y, eps, kw)


# --------------------------------------------------------------------------- cache


def _resolved_kwargs(fn: Callable[..., Tensor], kw: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``fn`` with defaults filled in (so equal calls share a cache key)."""
    params = inspect.signature(fn).parameters
    unknown = set(kw) - set(params)
    if unknown:
        raise TypeError(f"{fn.__name__}() got unexpected keyword arguments {sorted(unknown)}")
    resolved = {
        name: p.default for name, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }
    resolved.update(kw)
    resolved.pop("eps", None)
    return resolved


def _fingerprint(x: Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    flat = x.detach().to("cpu").contiguous()
    digest = hashlib.sha256(f"{flat.dtype}{tuple(flat.shape)}".encode())
    digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def adversarial_set(
    model: nn.Module,
    model_key: str,
    x: Tensor,
    y: Tensor,
    *,
    attack: str,
    eps: float | None,
    data_key: str,
    use_cache: bool = True,
    **kw: Any,
) -> tuple[Tensor, bool]:
    """Adversarial inputs for ``(model_key, attack, eps, kw, data_key)``, cached on disk; returns (x_adv, hit)."""
    name = attack.lower()
    fn = _lookup(name)
    config = {
        "kind": "adversarial",
        "version": VERSION,
        "torchattacks": torchattacks.__version__,
        "model_key": model_key,
        "attack": name,
        "eps": eps,
        "kwargs": _resolved_kwargs(fn, kw),
        "data_key": data_key,
        "shape": list(x.shape),
        "dtype": str(x.dtype),
    }
    path = store.entry_path("adversarial", store.config_key(config))
    x_print = _fingerprint(x)

    def build() -> dict[str, Any]:
        x_adv = _run(name, model, x, y, eps, kw)
        return {"x_adv": x_adv.detach().cpu(), "x_fingerprint": x_print, "config": config}

    entry, hit = store.load_or_build(path, build, use_cache=use_cache)
    if entry["x_fingerprint"] != x_print:
        raise ValueError(
            f"cache entry {path} was built from different inputs than x under data_key "
            f"{data_key!r}; use a distinct data_key for distinct data"
        )
    return entry["x_adv"].to(device=x.device, dtype=x.dtype), hit


# --------------------------------------------------------------------------- evaluation


def success_rate(
    model: nn.Module,
    x_adv: Tensor,
    y: Tensor,
    x_clean: Tensor | None = None,
    *,
    batch_size: int = 1024,
) -> float:
    """Misclassification rate on ``x_adv``; with ``x_clean``, only over samples classified correctly on it.

    Without ``x_clean`` this is ``1 - robust accuracy`` (clean errors count as successes).
    With ``x_clean`` it is the attack success rate proper; NaN if no clean sample is correct.
    """
    y = y.to(x_adv.device)
    wrong = predict(model, x_adv, batch_size) != y
    if x_clean is None:
        return wrong.float().mean().item() if len(y) else math.nan
    correct = predict(model, x_clean, batch_size) == y.to(x_clean.device)
    correct = correct.to(wrong.device)
    if not correct.any():
        return math.nan
    return wrong[correct].float().mean().item()


def perturbation_norms(x: Tensor, x_adv: Tensor, norm: str = "linf") -> Tensor:
    """Per-sample 'linf' or 'l2' norm of ``x_adv - x``, shape (N,)."""
    norm = _check_norm(norm)
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(1) if norm == "linf" else delta.norm(p=2, dim=1)
