"""Where a classifier changes its decision along straight lines in input space.

Both public searches walk segments ``x(t) = start + t * (end - start)``, ``t`` in
``[0, 1]``, for a batch of ``N`` segments at once:

- :func:`scan_paths` takes ``start = a`` and ``end = b`` (two samples) and finds every
  ``t`` where the argmax class changes;
- :func:`boundary_distance` takes ``start = x`` and ``end = x + max_eps * d`` and finds
  the first change, i.e. Tramèr et al.'s ``MD_d(f, x) = min{eps > 0 : f(x + eps d) != f(x)}``
  up to ``max_eps``.

Algorithm (shared core):

1. Coarse scan: evaluate the logits at ``grid`` evenly spaced ``t`` on every segment,
   ``N * grid`` rows fed to the model in chunks of at most ``chunk`` rows.
2. Every adjacent pair of grid points whose classes differ brackets at least one
   change. All brackets of all segments are refined together, one batched forward
   pass per round over the probe points of all open brackets, until each bracket is
   at most ``tol`` wide (in ``t``); the reported flip is its midpoint. A bracket
   ``[lo, hi]`` always has ``class(lo) = c_lo != class(hi)``, and a probe ``p`` keeps
   ``[lo, p]`` if ``class(p) != c_lo`` and ``[p, hi]`` otherwise, so it shrinks onto a
   change point.

   - ``refine="bisect"``: the probe is the midpoint; ``log2(1 / ((grid - 1) tol))``
     rounds, one row each.
   - ``refine="secant"`` (default): the margin ``g(t) = z_{c_lo} - max_{k != c_lo} z_k``
     is > 0 at ``lo`` and <= 0 at ``hi``, and its root is the flip. Two probes are
     placed ``tol / 2`` apart around the root of the line through ``g(lo)`` and
     ``g(hi)``. For ReLU networks ``g`` is piecewise linear in ``t``, so this usually
     closes the bracket after one or two rounds (2-4 rows instead of ~9). A secant
     round that fails to halve the bracket is followed by one bisection round, which
     bounds the worst case (e.g. piecewise-constant logits) at 3 rows per halving.
3. A coarse interval may hold more than one change, e.g. A -> B -> C through a third
   class B. Refinement then converges to one of them (the bracket's right class is B,
   not C). When that happens a new bracket is opened from the converged point to the
   coarse interval's right end (classes B and C, logits already known, no extra
   forward) and refined in the following rounds, so every change that refinement
   *sees* is reported and the class sequence along the path is complete.

Limitation: a detour that leaves and re-enters the same class between two adjacent
grid points (A -> B -> A within ``1 / (grid - 1)`` in ``t``) is invisible to the coarse
scan and to refinement, so flips closer together than the grid spacing can be missed.
``benchmarks/bench_boundary.py`` measures how often this happens against a 4001-point
grid.

Default ``grid=17``: on the MNIST MLP of the benchmark (2 x 500 pairs) every grid
from 17 to 33 gave the same flip count as a 4001-point grid on all paths, and grid 17
was the only one to stay clearly above the 5x goal on a loaded machine: ~8.8x fewer
rows and ~6x less wall time than a 201-point grid (grid 25: 6.7x / ~5x, grid 33:
5.4x / ~4.5x; the coarse scan dominates the cost). The price is blindness to
detours narrower than 1/16; pass a larger ``grid`` where those matter. Memory: the
coarse logits (``N * grid * C`` values) are kept on the input device.

Callers pass models in eval mode (dropout / batch norm would otherwise make the
class at a point random); the functions never change the mode and run under
``torch.no_grad()``. Results are returned on the CPU.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Model = Callable[[Tensor], Tensor]


@dataclass
class PathScan:
    """Decision changes found by :func:`scan_paths` along ``N`` segments ``a -> b``."""

    first_flip: Tensor  # float64 (N,), NaN where the class never changes
    last_flip: Tensor  # float64 (N,), NaN where the class never changes
    n_flips: Tensor  # int64 (N,)
    flips: list[Tensor]  # N sorted float64 tensors of flip positions t
    classes: list[list[int]]  # class ids met along each path, in order, no repeats in a row
    start_class: Tensor  # int64 (N,), class at t = 0
    end_class: Tensor  # int64 (N,), class at t = 1
    forward_passes: int  # rows evaluated by the model, summed over all forward calls

    @property
    def passes_third_class(self) -> Tensor:
        """Bool (N,): the path meets a class other than its two end classes."""
        ends = zip(self.start_class.tolist(), self.end_class.tolist())
        return torch.tensor(
            [any(c not in pair for c in seq) for seq, pair in zip(self.classes, ends)],
            dtype=torch.bool,
        )


@dataclass
class BoundaryDistance:
    """Minimum distances to the decision boundary found by :func:`boundary_distance`."""

    distance: Tensor  # float64 (N,), inf where the class does not change within max_eps
    new_class: Tensor  # int64 (N,), class at x + distance * d, -1 where none
    forward_passes: int  # rows evaluated by the model, summed over all forward calls


@dataclass
class DenseFlips:
    """Decision changes between adjacent points of a dense, evenly spaced grid."""

    n_flips: Tensor  # int64 (N,)
    first_flip: Tensor  # float64 (N,), midpoint of the first changing grid interval, NaN if none
    last_flip: Tensor  # float64 (N,), midpoint of the last changing grid interval, NaN if none
    forward_passes: int


@dataclass
class _Flips:
    """Raw output of the core: one row per change found, sorted by (path, t)."""

    path: Tensor  # int64 (F,)
    lo: Tensor  # float64 (F,), last t known to have the old class
    hi: Tensor  # float64 (F,), first t known to have the new class
    new_class: Tensor  # int64 (F,), class at hi
    start_class: Tensor  # int64 (N,)
    end_class: Tensor  # int64 (N,)
    forward_passes: int


class _Segments:
    """Batched logits at arbitrary points ``start[i] + t * (end[i] - start[i])``."""

    def __init__(self, model: Model, start: Tensor, end: Tensor, chunk: int, clip: bool) -> None:
        self.model, self.start, self.delta = model, start, end - start
        self.chunk, self.clip = chunk, clip
        self.forward_passes = 0

    def logits(self, path: Tensor, t: Tensor, *, argmax: bool = False) -> Tensor:
        """Logits (M, C), or classes (M,) with ``argmax``, at ``t[k]`` on segment ``path[k]``, in chunks."""
        out = []
        for lo in range(0, path.numel(), self.chunk):
            idx, tk = path[lo : lo + self.chunk], t[lo : lo + self.chunk]
            tk = tk.to(self.start.dtype).view(-1, *([1] * (self.start.dim() - 1)))
            out.append(self._run(torch.addcmul(self.start[idx], tk, self.delta[idx]), argmax))
        return self._cat(out, argmax)

    def grid(self, ts: Tensor, *, argmax: bool = False) -> Tensor:
        """Logits (N, G, C), or classes (N, G), at the same ``G`` positions ``ts`` on every segment."""
        n, g = self.start.shape[0], ts.numel()
        if g > self.chunk:  # one segment does not fit in a chunk: address points one by one
            path = torch.arange(n, device=ts.device).repeat_interleave(g)
            out = self.logits(path, ts.repeat(n), argmax=argmax)
            return out.view(n, g, *out.shape[1:])
        # Whole segments per chunk, built by broadcasting: no gather of start / delta rows.
        tv = ts.to(self.start.dtype).view(1, g, *([1] * (self.start.dim() - 1)))
        out = []
        for p0 in range(0, n, self.chunk // g):
            s, d = self.start[p0 : p0 + self.chunk // g, None], self.delta[p0 : p0 + self.chunk // g, None]
            out.append(self._run(torch.addcmul(s, tv, d).flatten(0, 1), argmax))
        out = self._cat(out, argmax)
        return out.view(n, g, *out.shape[1:])

    def _run(self, x: Tensor, argmax: bool) -> Tensor:
        """One forward call on the rows ``x``, counted."""
        if self.clip:
            x = x.clamp(0.0, 1.0)
        z = self.model(x)
        self.forward_passes += x.shape[0]
        return z.argmax(dim=1) if argmax else z

    def _cat(self, out: list[Tensor], argmax: bool) -> Tensor:
        """Concatenate chunk outputs; an empty batch gives an empty tensor."""
        if out:
            return torch.cat(out)
        shape = (0,) if argmax else (0, 0)
        return torch.empty(shape, dtype=torch.long if argmax else self.start.dtype, device=self.start.device)


def _check_args(a: Tensor, b: Tensor, grid: int, chunk: int) -> None:
    """Raise ValueError on endpoints or grid settings the search cannot handle."""
    if a.shape != b.shape:
        raise ValueError(f"endpoints must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 2:
        raise ValueError(f"expected a batch of shape (N, *input_shape), got {tuple(a.shape)}")
    if grid < 2:
        raise ValueError(f"grid must be >= 2 (both ends of the segment), got {grid}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")


def _coarse(seg: _Segments, grid: int, *, argmax: bool = False) -> Tensor:
    """Logits (N, grid, C), or classes (N, grid), at ``grid`` evenly spaced t on every segment."""
    ts = torch.linspace(0.0, 1.0, grid, dtype=torch.float64, device=seg.start.device)
    return seg.grid(ts, argmax=argmax)


def _gap(z: Tensor, ref: Tensor) -> Tensor:
    """``z[ref] - max_{k != ref} z[k]`` per row, in float64: > 0 where ``ref`` wins."""
    z = z.to(torch.float64)
    own = z.gather(1, ref[:, None]).squeeze(1)
    return own - z.scatter(1, ref[:, None], float("-inf")).amax(dim=1)


def _probes(br: dict[str, Tensor], tol: float) -> tuple[Tensor, Tensor]:
    """The one or two points at which each open bracket is evaluated this round.

    A bisection bracket probes its midpoint. A secant bracket probes ``tol / 2`` apart
    around the root of the linear interpolation of the margin ``_gap(z, c_lo)``: if
    the margin is close to linear there (true for ReLU nets on short intervals) the
    flip falls between the two probes and the bracket closes in a single round.
    """
    lo, hi = br["lo"], br["hi"]
    c_lo = br["z_lo"].argmax(1)
    g_lo, g_hi = _gap(br["z_lo"], c_lo), _gap(br["z_hi"], c_lo)
    root = lo + (hi - lo) * g_lo / (g_lo - g_hi)
    root = torch.where(torch.isfinite(root), root, (lo + hi) / 2)
    p1 = torch.where(br["sec"], (root - tol / 4).clamp(lo, hi), (lo + hi) / 2)
    p2 = torch.where(br["sec"], (root + tol / 4).clamp(lo, hi), hi)
    return p1, p2


def _step(seg: _Segments, br: dict[str, Tensor], tol: float, secant: bool) -> dict[str, Tensor]:
    """One refinement round: a single batched forward over the probes of all open brackets."""
    p1, p2 = _probes(br, tol)
    sec = br["sec"]
    z = seg.logits(torch.cat([br["path"], br["path"][sec]]), torch.cat([p1, p2[sec]]))
    n = p1.numel()
    z1, z2 = z[:n], br["z_hi"].clone()
    z2[sec] = z[n:]  # a bisection bracket's second probe is its right end, already known
    c_lo = br["z_lo"].argmax(1)
    left = z1.argmax(1) != c_lo
    right = ~left & (z2.argmax(1) == c_lo)
    mid = ~left & ~right
    width = br["hi"] - br["lo"]
    out = dict(br)
    out["lo"] = torch.where(right, p2, torch.where(mid, p1, br["lo"]))
    out["hi"] = torch.where(left, p1, torch.where(mid, p2, br["hi"]))
    out["z_lo"] = torch.where(right[:, None], z2, torch.where(mid[:, None], z1, br["z_lo"]))
    out["z_hi"] = torch.where(left[:, None], z1, torch.where(mid[:, None], z2, br["z_hi"]))
    # A secant round that failed to halve the bracket hands over to bisection once,
    # which bounds the cost on margins far from linear (at most 3 rows per halving).
    out["sec"] = (~sec | (out["hi"] - out["lo"] <= width / 2)) & secant
    return out


def _refine(
    seg: _Segments, br: dict[str, Tensor], tol: float, *, secant: bool, follow: bool
) -> dict[str, Tensor]:
    """Shrink all brackets together until width <= tol; return the closed brackets.

    ``br`` holds ``path, lo, hi, z_lo, z_hi`` (logits at the ends), ``sec`` (use a
    secant round next; never set when ``secant`` is False) and the coarse right end
    ``r, z_r``. With ``follow``, a closed bracket whose right class is not the class
    at ``r`` opens a new bracket ``[hi, r]`` so that every change inside the coarse
    interval is reported.
    """
    done: list[dict[str, Tensor]] = []
    while br["path"].numel():
        mid = (br["lo"] + br["hi"]) / 2
        # The second test stops brackets that float64 cannot split any further.
        closed = (br["hi"] - br["lo"] <= tol) | (mid <= br["lo"]) | (mid >= br["hi"])
        if closed.any():
            fin = {k: v[closed] for k, v in br.items()}
            done.append(fin)
            br = {k: v[~closed] for k, v in br.items()}
            more = fin["z_hi"].argmax(1) != fin["z_r"].argmax(1)
            if follow and more.any():
                nxt = {k: v[more] for k, v in fin.items()}
                nxt["lo"], nxt["z_lo"], nxt["hi"], nxt["z_hi"] = nxt["hi"], nxt["z_hi"], nxt["r"], nxt["z_r"]
                nxt["sec"] = torch.full_like(nxt["sec"], secant)
                br = {k: torch.cat([br[k], nxt[k]]) for k in br}
            continue  # re-test: a new bracket may already be narrow enough
        br = _step(seg, br, tol, secant)
    if not done:
        return br
    return {k: torch.cat([d[k] for d in done]) for k in done[0]}


def _search(
    model: Model, start: Tensor, end: Tensor, *, grid: int, tol: float, chunk: int,
    refine: str = "secant", clip: bool = False, first_only: bool = False,
) -> _Flips:
    """Shared core: coarse scan then batched refinement of the changing intervals."""
    if refine not in ("secant", "bisect"):
        raise ValueError(f"refine must be 'secant' or 'bisect', got {refine!r}")
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    n = start.shape[0]
    seg = _Segments(model, start, end, chunk, clip)
    if n == 0:
        empty = torch.empty(0, dtype=torch.long)
        return _Flips(empty, empty.double(), empty.double(), empty, empty, empty, 0)
    with torch.no_grad():
        z = _coarse(seg, grid)
        cls = z.argmax(2)
        p, j = (cls[:, 1:] != cls[:, :-1]).nonzero(as_tuple=True)
        if first_only:
            # nonzero() lists brackets sorted by (path, j): keep each path's first.
            keep = torch.ones_like(p, dtype=torch.bool)
            keep[1:] = p[1:] != p[:-1]
            p, j = p[keep], j[keep]
        step = 1.0 / (grid - 1)
        br = {"path": p, "lo": j.to(torch.float64) * step, "hi": (j + 1).to(torch.float64) * step,
              "z_lo": z[p, j], "z_hi": z[p, j + 1],
              "sec": torch.full_like(p, refine == "secant", dtype=torch.bool)}
        br["r"], br["z_r"] = br["hi"].clone(), br["z_hi"].clone()
        out = _refine(seg, br, tol, secant=refine == "secant", follow=not first_only)
    order = torch.argsort(out["lo"], stable=True)
    order = order[torch.argsort(out["path"][order], stable=True)]
    return _Flips(
        path=out["path"][order].cpu(), lo=out["lo"][order].cpu(), hi=out["hi"][order].cpu(),
        new_class=out["z_hi"][order].argmax(1).cpu(), start_class=cls[:, 0].cpu(),
        end_class=cls[:, -1].cpu(), forward_passes=seg.forward_passes,
    )


def _first_last(path: Tensor, t: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Per-path min and max of ``t`` grouped by ``path``; NaN for paths without entries."""
    first = torch.full((n,), float("inf"), dtype=torch.float64).scatter_reduce(0, path, t, "amin")
    last = torch.full((n,), float("-inf"), dtype=torch.float64).scatter_reduce(0, path, t, "amax")
    none = torch.bincount(path, minlength=n) == 0
    return first.masked_fill(none, float("nan")), last.masked_fill(none, float("nan"))


def scan_paths(
    model: Model, a: Tensor, b: Tensor, *, grid: int = 17, tol: float = 1e-4, chunk: int = 4096,
    refine: str = "secant",
) -> PathScan:
    """Find every t in [0, 1] where the argmax class of ``model`` changes on (1 - t) a + t b.

    ``refine="bisect"`` uses plain bisection instead of the secant-guided rounds.
    """
    _check_args(a, b, grid, chunk)
    n = a.shape[0]
    res = _search(model, a, b, grid=grid, tol=tol, chunk=chunk, refine=refine)
    t = (res.lo + res.hi) / 2
    counts = torch.bincount(res.path, minlength=n)
    flips = list(torch.split(t, counts.tolist()))
    news = torch.split(res.new_class, counts.tolist())
    classes = [_dedupe([s, *c.tolist()]) for s, c in zip(res.start_class.tolist(), news)]
    first, last = _first_last(res.path, t, n)
    return PathScan(
        first_flip=first, last_flip=last, n_flips=counts, flips=flips, classes=classes,
        start_class=res.start_class, end_class=res.end_class, forward_passes=res.forward_passes,
    )


def _dedupe(seq: list[int]) -> list[int]:
    """Drop consecutive repeats."""
    return [c for i, c in enumerate(seq) if i == 0 or c != seq[i - 1]]


def boundary_distance(
    model: Model, x: Tensor, direction: Tensor, *, max_eps: float, grid: int = 17,
    tol: float = 1e-4, chunk: int = 4096, clip: bool = False, refine: str = "secant",
) -> BoundaryDistance:
    """Smallest eps in (0, max_eps] where the class at x + eps * d differs from the class at x.

    ``d`` is ``direction`` scaled to unit L2 norm per sample (over all input dims).
    ``tol`` is relative to the search range: distances are exact to ``tol * max_eps``
    and are upper bounds (the class at ``x + distance * d`` is ``new_class``, checked).
    Points may leave [0, 1] unless ``clip=True``, which clamps every evaluated point.
    """
    _check_args(x, direction, grid, chunk)
    if not max_eps > 0:
        raise ValueError(f"max_eps must be > 0, got {max_eps}")
    norms = direction.flatten(1).norm(dim=1)
    if (norms == 0).any():
        raise ValueError("direction has an all-zero row; it cannot be normalised")
    d = direction / norms.view(-1, *([1] * (direction.dim() - 1)))
    n = x.shape[0]
    res = _search(model, x, x + max_eps * d, grid=grid, tol=tol, chunk=chunk, refine=refine,
                  clip=clip, first_only=True)
    distance = torch.full((n,), float("inf"), dtype=torch.float64)
    distance[res.path] = res.hi * max_eps
    new_class = torch.full((n,), -1, dtype=torch.long)
    new_class[res.path] = res.new_class
    return BoundaryDistance(distance=distance, new_class=new_class, forward_passes=res.forward_passes)


def dense_grid_flips(
    model: Model, a: Tensor, b: Tensor, points: int = 201, *, chunk: int = 4096
) -> DenseFlips:
    """Reference: count class changes between adjacent points of a ``points``-point grid on a -> b."""
    _check_args(a, b, points, chunk)
    n = a.shape[0]
    seg = _Segments(model, a, b, chunk, clip=False)
    with torch.no_grad():
        cls = _coarse(seg, points, argmax=True)
    p, j = (cls[:, 1:] != cls[:, :-1]).nonzero(as_tuple=True)
    p, t = p.cpu(), (j.cpu().to(torch.float64) + 0.5) / (points - 1)
    first, last = _first_last(p, t, n)
    return DenseFlips(
        n_flips=torch.bincount(p, minlength=n), first_flip=first, last_flip=last,
        forward_passes=seg.forward_passes,
    )
