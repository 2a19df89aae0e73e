"""Distance from query points to the convex hull of a training set, with a certificate.

The distance from a query ``q`` to the convex hull of the rows of ``D`` (n, d) is the
quadratic program

    min_a ||D^T a - q||_2   subject to   a >= 0,  sum(a) = 1.

``distance`` solves it by *column generation* (a working-set method), which scales to
n = 60,000 points in d = 784 dimensions and to hundreds of queries:

1. The working set ``W`` of each query starts as its ``init`` nearest training points.
2. The small QP over ``W`` (Hessian ``(W - q)(W - q)^T``, a few hundred columns at most)
   is solved exactly on the CPU in float64 by DAQP, a dual active-set solver.
3. With ``p = D^T a`` the current closest point and ``r = p - q``, ``p`` is optimal over
   the *whole* set iff ``D_i . r >= p . r`` for every ``i``. All ``D_i . r`` come from one
   matrix product ``D @ R`` for all unfinished queries at once (torch: GPU if present).
4. The points with the most negative ``(D_i - p) . r`` join ``W``; repeat from 2.

Stopping rule and certificate. The Frank-Wolfe (duality) gap

    gap = p . r - min_i D_i . r = max_i (p - D_i) . r  >= 0

bounds the suboptimality: ``dist^2 - dist*^2 <= 2 gap``. Better, ``r`` defines a
separating hyperplane, so every point of the hull is at least
``lower_bound = (min_i D_i . r - q . r) / ||r|| = ||r|| - gap / ||r||`` from ``q``:
the true distance lies in ``[lower_bound, distance]``. A query stops when
``gap <= tol * scale`` with ``scale = max(radius^2, ||r||^2)``, ``radius`` being the RMS
distance of the training points to their centroid (so ``tol`` is relative to the data
scale, and to the squared distance for far queries).

Precision. Everything is computed on centred data (``D - centroid``). The QPs, the closest
point and the final gap are float64. For float32 data the scans run in float32 until the
float32 gap is within its rounding bound, then switch to float64 scans, so the reported
``gap``/``lower_bound`` always come from a float64 scan over all ``n`` points: the
certificate is honest whatever the input dtype.

References: ``nnls_distance`` (SciPy NNLS on a penalised system, slow but independent) and
``cvxpy_distance`` (small cases only; cvxpy is a development dependency).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..infra.device import pick_device

__all__ = [
    "HullDistance",
    "distance",
    "nnls_distance",
    "cvxpy_distance",
]

ArrayLike = Any  # numpy array, torch tensor or nested sequence
_SCAN_ELEMENTS = 1 << 25  # max n * queries elements of one scan product (128 MiB float32)
_F32_SLACK = 8.0  # safety factor on the float32 rounding bound of a dot product
# DAQP's defaults stop at gaps ~1e-6 to 1e-8, too loose for the certificate: its primal
# tolerance accepts weights down to -1e-6 (clipping them leaves the solution suboptimal),
# and the proximal-point iterations it uses for singular Hessians (more working points
# than dimensions, duplicated rows) need a tight fixed-point tolerance.
_DAQP_SETTINGS = {"primal_tol": 1e-12, "eta_prox": 1e-14}


@dataclass
class HullDistance:
    """Distances of m queries to the convex hull of n points, with certificates.

    ``weights`` is a SciPy CSR matrix (m, n): row j holds the convex weights ``a`` of
    query j (>= 0, summing to 1), so ``weights @ points`` gives the closest points.
    The true distance lies in ``[lower_bound, distance]``; ``gap`` is the Frank-Wolfe
    duality gap (``dist^2 - dist*^2 <= 2 gap``), computed in float64 over all points.
    """

    distance: np.ndarray
    lower_bound: np.ndarray
    gap: np.ndarray
    inside: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    working_set_size: np.ndarray
    weights: sp.csr_matrix
    closest: np.ndarray
    radius: float
    tol: float
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.distance)

    def support(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and weights of the training points spanning query j's closest point."""
        row = self.weights.getrow(j)
        return row.indices.copy(), row.data.copy()


# ----------------------------------------------------------------------------- inputs


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    """A numpy view/copy of an array or tensor, float32 kept, everything else float64."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr if arr.dtype == np.float32 else arr.astype(np.float64, copy=False)
    return np.ascontiguousarray(arr)


def _check_inputs(points: ArrayLike, queries: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate shapes and values; returns (points (n,d), queries (m,d), single query?)."""
    D = _to_numpy(points, "points")
    Q = _to_numpy(queries, "queries")
    if D.ndim != 2:
        raise ValueError(f"points must be 2-D (n, d), got shape {D.shape}")
    if D.shape[0] == 0 or D.shape[1] == 0:
        raise ValueError(f"points is empty (shape {D.shape}); the hull needs at least one point")
    single = Q.ndim == 1
    if single:
        Q = Q[None, :]
    if Q.ndim != 2:
        raise ValueError(f"queries must be 1-D (d,) or 2-D (m, d), got shape {Q.shape}")
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"dimension mismatch: points have d={D.shape[1]}, "
                         f"queries have d={Q.shape[1]}")
    for arr, name in ((D, "points"), (Q, "queries")):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    return D, Q, single


# ----------------------------------------------------------------------------- scans


class _Scanner:
    """Holds the centred training set on the device and runs the big products."""

    def __init__(self, D: np.ndarray, device: torch.device) -> None:
        self.points = D
        self.device = device
        self.low = D.dtype == np.float32
        self.n, self.d = D.shape
        base = torch.from_numpy(D).to(device)
        # any fixed centre works (the problem is translation invariant): a float32 mean
        # of float32 data is cheap, and float64 arithmetic uses it exactly from here on
        center = base.mean(dim=0).to(torch.float64)
        self.center = center.cpu().numpy()
        self._t64: torch.Tensor | None = None
        self._t32: torch.Tensor | None = None
        if self.low:  # rounded centred copy: only for the approximate float32 scans
            self._t32 = base - center.to(torch.float32)
            self._base32 = base  # exact data, for the float64 copy made on demand
            sq = (self._t32 * self._t32).sum(dim=1).to(torch.float64)
        else:
            self._t64 = base.clone() if base.data_ptr() == D.ctypes.data else base
            self._t64.sub_(center)
            sq = (self._t64 * self._t64).sum(dim=1)
        self._sq_t = sq
        self.radius = float(torch.sqrt(sq.mean()))
        self.max_norm = float(torch.sqrt(sq.max())) * (1.0 + 1e-5)  # float32 slack

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Exact centred training rows ``idx`` in float64."""
        return self.points[np.asarray(idx)].astype(np.float64) - self.center

    def _matrix(self, precise: bool) -> torch.Tensor:
        if precise and self._t64 is None:  # exact float64 centred copy, made on demand
            self._t64 = self._base32.to(torch.float64)
            self._t64.sub_(torch.from_numpy(self.center).to(self.device))
            del self._base32
        return self._t64 if precise or self._t32 is None else self._t32

    def scan(self, R: np.ndarray, precise: bool, k: int, nearest: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each row r of R (b, d): (min_i g_i, k smallest indices, their g), g = D_i.r.

        With ``nearest`` the score is ``||D_i||^2 - 2 D_i.r`` (squared distance up to a
        constant), used to seed the working sets.
        """
        mat = self._matrix(precise)
        k = min(k, self.n)
        if len(R) == 0:
            return np.zeros(0), np.zeros((0, k), dtype=np.int64), np.zeros((0, k))
        chunk = max(1, _SCAN_ELEMENTS // self.n)
        mins, idxs, vals = [], [], []
        for start in range(0, len(R), chunk):
            rt = torch.from_numpy(np.ascontiguousarray(R[start:start + chunk].T)).to(
                device=self.device, dtype=mat.dtype)
            g = mat @ rt  # (n, b): the one big GEMM
            if nearest:
                g = self._sq_t.to(g.dtype)[:, None] - 2.0 * g
            v, i = torch.topk(g, k, dim=0, largest=False, sorted=True)
            vals.append(v.T.double().cpu().numpy())
            idxs.append(i.T.cpu().numpy())
            mins.append(vals[-1][:, 0])
        return np.concatenate(mins), np.concatenate(idxs), np.concatenate(vals)

    def rounding_bound(self, r_norm: np.ndarray, precise: bool) -> np.ndarray:
        """A generous estimate of the rounding error of one scanned dot product D_i.r.

        It only decides when the float32 scans hand over to float64 ones, so it need
        not be rigorous: the reported certificate always comes from a float64 scan.
        """
        if precise or not self.low:
            eps = np.finfo(np.float64).eps
        elif self.device.type == "cuda" and torch.get_float32_matmul_precision() != "highest":
            eps = 2.0**-10  # TF32 tensor cores (10-bit mantissa)
        else:
            eps = np.finfo(np.float32).eps
        return _F32_SLACK * eps * (np.sqrt(self.d) + 2.0) * self.max_norm * r_norm


# ----------------------------------------------------------------------------- small QP


def _solve_simplex_qp(X: np.ndarray, start: np.ndarray | None, drop: float = 0.0
                      ) -> np.ndarray:
    """argmin_a ||X^T a||^2 over the simplex, for the rows X = W - q (k, d); float64.

    Weights below ``drop`` times the largest are zeroed: DAQP's proximal iterations
    (singular Hessians) leave dust of 1e-17..1e-12 on points off the optimal face.
    """
    k = X.shape[0]
    if k == 1:
        return np.ones(1)
    H = X @ X.T
    scale = float(np.max(np.diag(H)))
    if scale <= 0.0:  # every working point equals the query
        return np.full(k, 1.0 / k)
    a = _daqp_simplex(H / scale, start)
    if a is None:
        a = _nnls_simplex(X / np.sqrt(scale))
    return _project_simplex_clip(a, drop=drop)


def _daqp_simplex(H: np.ndarray, start: np.ndarray | None) -> np.ndarray | None:
    """DAQP on min 0.5 a'Ha s.t. a >= 0, sum a = 1; None when DAQP fails."""
    import daqp

    k = H.shape[0]
    upper = np.concatenate([np.full(k, np.inf), [1.0]])
    lower = np.concatenate([np.zeros(k), [1.0]])
    sense = np.zeros(k + 1, dtype=np.int32)
    sense[-1] = 5  # equality
    kwargs: dict[str, Any] = dict(_DAQP_SETTINGS)
    if start is not None:
        kwargs["primal_start"] = start
    try:
        a, _, flag, _ = daqp.solve(np.ascontiguousarray(H), np.zeros(k), np.ones((1, k)),
                                   upper, lower, sense, **kwargs)
    except Exception:  # noqa: BLE001 - any solver failure falls back to NNLS
        return None
    a = np.asarray(a, dtype=np.float64)
    return a if flag >= 1 and np.isfinite(a).all() else None


def _nnls_simplex(X: np.ndarray) -> np.ndarray:
    """Fallback small solve: NNLS with a heavy sum-to-one row (see ``nnls_distance``)."""
    from scipy.optimize import nnls

    w = 1e4 * max(1.0, float(np.abs(X).max()))
    A = np.vstack([X.T, np.full((1, X.shape[0]), w)])
    b = np.concatenate([np.zeros(X.shape[1]), [w]])
    a, _ = nnls(A, b, maxiter=50 * A.shape[1])
    return a


def _project_simplex_clip(a: np.ndarray, drop: float = 0.0) -> np.ndarray:
    """Clip negatives (and weights below ``drop * max``) and renormalise to sum 1."""
    a = np.clip(a, 0.0, None)
    if drop > 0.0 and a.size:
        a[a < drop * a.max()] = 0.0
    total = a.sum()
    return a / total if total > 0 else np.full(len(a), 1.0 / len(a))


# ----------------------------------------------------------------------------- solver


class _Query:
    """Working set and current iterate of one query (centred coordinates, float64)."""

    def __init__(self, q: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> None:
        self.q = q
        self.idx: list[int] = [int(i) for i in idx]
        self.members = set(self.idx)
        self.X = rows - q  # working rows minus the query
        self.a = np.full(len(self.idx), 1.0 / len(self.idx))
        self.iterations = 0
        self.precise = False
        self.done = False
        self.gap = np.inf
        self.lower = 0.0
        self.certified = False  # gap/lower come from a float64 scan of the current a

    def solve(self, drop: float) -> None:
        """Re-solve the QP over the working set, warm-started from the last weights."""
        self.a = _solve_simplex_qp(self.X, self.weights, drop)
        self.iterations += 1
        self.certified = False

    @property
    def weights(self) -> np.ndarray:
        """Current weights over the working set (zero for points not yet solved over)."""
        a = np.zeros(len(self.idx))
        a[: len(self.a)] = self.a
        return a

    @property
    def r(self) -> np.ndarray:
        """Residual p - q of the current closest point."""
        return self.X[: len(self.a)].T @ self.a

    def add(self, idx: Sequence[int], rows: np.ndarray) -> None:
        """Append new points (indices, centred rows) to the working set."""
        self.idx.extend(int(i) for i in idx)
        self.members.update(int(i) for i in idx)
        self.X = np.vstack([self.X, rows - self.q])


def _certify(query: _Query, r: np.ndarray, gmin: float, precise: bool) -> float:
    """Store the gap and hyperplane lower bound given min_i D_i.r; returns p.r."""
    pr = float(query.a @ (query.X[: len(query.a)] @ r)) + float(query.q @ r)  # p = q + r
    r2 = float(r @ r)
    query.gap = max(pr - gmin, 0.0)
    query.lower = max((gmin - float(query.q @ r)) / np.sqrt(r2), 0.0) if r2 > 0 else 0.0
    query.certified = precise
    return pr


def _update(query: _Query, r: np.ndarray, gmin: float, cand_idx: np.ndarray,
            cand_val: np.ndarray, radius: float, tol: float, precise: bool, bound: float
            ) -> list[int]:
    """Gap/bound bookkeeping for one query after a scan; returns indices to add.

    ``bound`` is the rounding bound of the scan (0 for float64 scans).
    """
    pr = _certify(query, r, gmin, precise)
    r2 = float(r @ r)
    target = tol * max(radius**2, r2)
    if query.gap <= target + bound:
        if precise:
            query.done = query.gap <= target
            return []
        query.precise = True  # float32 says done: confirm with a float64 scan
        return []
    new = [int(i) for i, v in zip(cand_idx, cand_val)
           if v < pr - bound and int(i) not in query.members]
    if not new:  # nothing provably violates: confirm in float64, else stop (stalled)
        if precise:
            query.done = True
        query.precise = True
    return new


def distance(points: ArrayLike, queries: ArrayLike, *, tol: float = 1e-8,
             max_iter: int = 200, init: int = 32, add: int | None = None,
             inside_tol: float = 1e-6, device: str | torch.device | None = None
             ) -> HullDistance:
    """Distance of each query to the convex hull of ``points`` (column generation + DAQP).

    ``points`` (n, d) and ``queries`` (m, d) or (d,) are numpy arrays or torch tensors
    (float32 stays float32 in the big scans; a single query gives arrays of length 1).
    A query stops when its gap is <= ``tol * max(radius^2, distance^2)`` or after
    ``max_iter`` rounds (then ``converged`` is False, the certificate still holds).
    ``init`` nearest points seed each working set, ``add`` (default ``init``) most
    violating points join it per round. ``inside`` is ``distance <= inside_tol * radius``.
    ``device`` runs the scans (default cuda when available, else cpu).
    """
    D, Q, _ = _check_inputs(points, queries)
    if tol <= 0 or max_iter < 1 or init < 1:
        raise ValueError("tol must be > 0, max_iter >= 1 and init >= 1")
    add = init if add is None else add
    scanner = _Scanner(D, pick_device(device))
    Qc = Q.astype(np.float64) - scanner.center
    _, seeds, _ = scanner.scan(Qc, precise=not scanner.low, k=init, nearest=True)
    state = [_Query(Qc[j], seeds[j], scanner.rows(seeds[j])) for j in range(len(Qc))]
    for q in state:
        q.precise = not scanner.low
    for _ in range(max_iter):
        active = [q for q in state if not q.done]
        if not active:
            break
        _iterate(active, scanner, tol, add)
    _certify_all(state, scanner)
    return _result(state, scanner, D.shape[0], tol, inside_tol)


def _iterate(active: list[_Query], scanner: _Scanner, tol: float, add: int) -> None:
    """One round: solve every active QP, scan all points, grow the working sets."""
    drop = min(max(1e-3 * tol, 1e-15), 1e-10)  # weight dust, well below the tolerance
    for q in active:
        q.solve(drop)
    for precise in (False, True):
        group = [q for q in active if q.precise == precise]
        if not group:
            continue
        R = np.stack([q.r for q in group])
        gmin, cand, vals = scanner.scan(R, precise=precise, k=add)
        r_norm = np.linalg.norm(R, axis=1)
        bounds = scanner.rounding_bound(r_norm, precise) if not precise else np.zeros(len(group))
        for j, q in enumerate(group):
            new = _update(q, R[j], float(gmin[j]), cand[j], vals[j], scanner.radius, tol,
                          precise, float(bounds[j]))
            if new:
                q.add(new, scanner.rows(np.asarray(new)))


def _certify_all(state: list[_Query], scanner: _Scanner) -> None:
    """Float64 scan for every query whose gap is not yet from one (early stop, float32)."""
    todo = [q for q in state if not q.certified]
    if not todo:
        return
    R = np.stack([q.r for q in todo])
    gmin, _, _ = scanner.scan(R, precise=True, k=1)
    for q, r, g in zip(todo, R, gmin):
        _certify(q, r, float(g), precise=True)


def _result(state: list[_Query], scanner: _Scanner, n: int, tol: float,
            inside_tol: float) -> HullDistance:
    """Assemble the public result from the per-query states."""
    m = len(state)
    r = np.stack([q.r for q in state]) if m else np.zeros((0, scanner.d))
    dist = np.linalg.norm(r, axis=1)
    rows, cols, vals = [], [], []
    for j, q in enumerate(state):
        a = q.weights
        keep = a > 0
        rows.extend([j] * int(keep.sum()))
        cols.extend(np.asarray(q.idx)[keep].tolist())
        vals.extend(a[keep].tolist())
    weights = sp.csr_matrix((vals, (rows, cols)), shape=(m, n), dtype=np.float64)
    weights.sum_duplicates()
    radius = scanner.radius
    gap = np.array([q.gap for q in state], dtype=np.float64)
    target = tol * np.maximum(radius**2, dist**2)
    return HullDistance(
        distance=dist,
        lower_bound=np.minimum(np.array([q.lower for q in state], dtype=np.float64), dist),
        gap=gap,
        inside=dist <= inside_tol * radius,
        converged=gap <= target,
        iterations=np.array([q.iterations for q in state], dtype=np.int64),
        working_set_size=np.array([len(q.idx) for q in state], dtype=np.int64),
        weights=weights,
        closest=r + np.stack([q.q for q in state]) + scanner.center if m else r,
        radius=radius,
        tol=tol,
        info={"device": str(scanner.device), "n": n, "d": scanner.d,
              "scan_dtype": "float32+float64" if scanner.low else "float64"},
    )


# ----------------------------------------------------------------------------- references


def _centred_single(points: ArrayLike, query: ArrayLike, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """The references' float64 inputs, centred on the points' mean: (D - c, q - c) for one query."""
    D, Q, _ = _check_inputs(points, query)
    if Q.shape[0] != 1:
        raise ValueError(f"{caller} takes a single query")
    D = D.astype(np.float64)
    center = D.mean(axis=0)
    return D - center, Q[0].astype(np.float64) - center


def nnls_distance(points: ArrayLike, query: ArrayLike, *, weight: float = 1e3,
                  maxiter: int | None = None) -> tuple[float, np.ndarray]:
    """Reference (slow): SciPy NNLS on [D^T; w 1^T] a ~ [q; w]; returns (distance, alphas).

    The sum-to-one row has weight ``w = weight * radius`` of the centred data; the
    returned alphas are renormalised to sum exactly 1 and the distance is evaluated at
    them in float64, so it is a feasible (upper-bound) value.
    """
    from scipy.optimize import nnls

    Dc, qc = _centred_single(points, query, "nnls_distance")
    w = weight * max(float(np.sqrt((Dc**2).sum(axis=1).mean())), 1e-12)
    A = np.vstack([Dc.T, np.full((1, Dc.shape[0]), w)])
    b = np.concatenate([qc, [w]])
    a, _ = nnls(A, b, maxiter=maxiter if maxiter is not None else 3 * Dc.shape[0])
    a = _project_simplex_clip(a)
    return float(np.linalg.norm(Dc.T @ a - qc)), a


def cvxpy_distance(points: ArrayLike, query: ArrayLike) -> tuple[float, np.ndarray]:
    """Reference for small cases via cvxpy + Clarabel (dev dependency); (distance, alphas)."""
    import cvxpy as cp

    Dc, qc = _centred_single(points, query, "cvxpy_distance")
    a = cp.Variable(Dc.shape[0], nonneg=True)
    y = cp.Variable(Dc.shape[1])  # residual as a variable: a plain QP for the interior point
    problem = cp.Problem(cp.Minimize(cp.sum_squares(y)), [y == Dc.T @ a - qc, cp.sum(a) == 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    alphas = _project_simplex_clip(np.asarray(a.value, dtype=np.float64))
    return float(np.linalg.norm(Dc.T @ alphas - qc)), alphas
