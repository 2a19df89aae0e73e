"""A batched, seeded self-organizing map (SOM) on torch tensors.

The SOM turns a layer's activations into discrete codes: each input's
best-matching unit (BMU), i.e. the grid unit whose weight vector is nearest in
Euclidean distance. Unit ``k`` sits at grid position ``(k // cols, k % cols)``,
the same row-major flattening MiniSom uses for its ``(x, y)`` coordinates, so a
flat index from :meth:`SOM.bmu` can be compared with ``np.ravel_multi_index(
minisom.winner(x), (rows, cols))``.

Training algorithm
------------------
:meth:`SOM.fit` runs the classic *batch* SOM (Kohonen, "Essentials of the
self-organizing map", 2013). Each epoch:

1. BMUs of all samples are found with one GEMM per chunk of ``batch_size``
   rows (``argmin_j ||w_j||^2 - 2 x.w_j``, i.e. the squared distance less the
   per-row constant ``||x||^2``), so memory is bounded;
2. per unit, the sum ``S_k`` and count ``n_k`` of the samples it won are
   accumulated;
3. every unit moves towards the neighbourhood-weighted mean of the data,
   ``target_j = sum_k h(j, k) S_k / sum_k h(j, k) n_k`` with the Gaussian
   neighbourhood ``h(j, k) = exp(-||g_j - g_k||^2 / (2 sigma_t^2))`` on the
   grid coordinates ``g`` (MiniSom's ``gaussian``):
   ``W_j <- W_j + eta_t (target_j - W_j)``.

The radius decays geometrically from ``sigma`` (default ``max(rows, cols)/2``)
to ``sigma_end`` (default 0.5) over the epochs: the large early radius orders
the map, and the last epochs, at ``sigma_t`` ~ 0.5, are close to k-means with a
light topological smoothing. ``eta_t`` rises linearly from ``learning_rate`` in
the first epoch to 1 in the last (``learning_rate=1``: the textbook batch SOM,
``W = target``; the default 0.5 damps the first, large-radius epochs and gives
the same final quality).

Why batch and not online: each epoch is a fixed-point step on the whole data
set made of a few large matrix products, so 10 to 20 epochs reach MiniSom's
quantization error with a lower topographic error (measured in
``tests/test_som.py`` and ``benchmarks/bench_som.py``), with no per-sample
Python loop. A mini-batch online variant (per-batch targets blended with
running per-unit rates) was tried and rejected: at equal cost its
quantization error was 10-20 % higher.

Early epochs on a subsample: the large-radius epochs only need coarse
neighbourhood means, so by default all but the last epoch use a fresh
seeded random subsample of ``max(1000, 10 * n_units)`` rows (see :meth:`SOM.fit`,
``subsample=None`` turns it off). This halves the cost of 10-20 epochs at equal
quality.

Everything runs in float32 on ``device``; the random parts (the subsamples,
``init="sample"``) use a ``torch.Generator`` seeded with ``seed`` at the start of
each ``fit``, so on CPU the same seed, data and arguments give bit-identical
weights.

Exactness of the BMU
--------------------
The GEMM form of the distance cancels large, nearly equal terms. To keep BMUs
identical to an exact nearest-neighbour search, the data and the weights are
first centred on the mean weight (distances are unchanged), and the few rows
whose best GEMM distances are closer than the GEMM's worst-case rounding error
are recomputed with direct differences ``||x - w||`` (see ``SOM._top_units``).
Reported distances (quantization error) are always direct differences.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["SOM"]

# Chunk of samples handled at once when computing BMUs and errors. The
# (chunk, n_units) distance matrix is the largest temporary.
_DEFAULT_CHUNK = 4096
# Above this many samples the PCA axes of the initialization come from a subsample.
_PCA_MAX_SAMPLES = 2048


def _as_tensor(x, device: torch.device) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    return x.to(device=device, dtype=torch.float32)


class SOM:
    """Rectangular self-organizing map with a Gaussian neighbourhood.

    Parameters
    ----------
    rows, cols:
        Grid shape; ``rows * cols`` units, flat index ``r * cols + c``.
    dim:
        Input dimension.
    sigma:
        Initial neighbourhood radius in grid units (default ``max(rows, cols)/2``).
    learning_rate:
        Blend factor of the batch update in the first epoch, in (0, 1]; it rises
        linearly to 1 by the last epoch (see module docstring).
    init:
        ``"pca"``: weights on the plane of the top two principal components,
        spanning ``[-1, 1]`` along each, centred on the data mean (as MiniSom's
        ``pca_weights_init``); ``"sample"``: each unit takes a random training
        sample (seeded).
    seed:
        Seed of the ``torch.Generator`` used for the random parts (re-seeded at
        every ``fit``/``initialize``, so refitting reproduces the same map).
    device:
        Torch device of the weights and all computations (default CPU).
    sigma_end:
        Final neighbourhood radius (default 0.5).
    """

    def __init__(
        self,
        rows: int,
        cols: int,
        dim: int,
        *,
        sigma: float | None = None,
        learning_rate: float = 0.5,
        init: str = "pca",
        seed: int = 0,
        device=None,
        sigma_end: float = 0.5,
    ) -> None:
        for name, value in (("rows", rows), ("cols", cols), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if init not in ("pca", "sample"):
            raise ValueError(f"init must be 'pca' or 'sample', got {init!r}")
        if sigma is None:
            sigma = max(rows, cols) / 2.0
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
        if not (math.isfinite(sigma_end) and sigma_end > 0):
            raise ValueError(f"sigma_end must be a positive finite number, got {sigma_end!r}")
        if not (0 < learning_rate <= 1):
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate!r}")
        self.rows, self.cols, self.dim = int(rows), int(cols), int(dim)
        self.n_units = self.rows * self.cols
        self.sigma = float(sigma)
        self.sigma_end = float(min(sigma_end, sigma))
        self.learning_rate = float(learning_rate)
        self.init = init
        self.seed = int(seed)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        r = torch.arange(self.rows, dtype=torch.float32).repeat_interleave(self.cols)
        c = torch.arange(self.cols, dtype=torch.float32).repeat(self.rows)
        self._grid = torch.stack([r, c], dim=1).to(self.device)  # (K, 2)
        self._grid_sqdist = (self._grid[:, None, :] - self._grid[None, :, :]).square().sum(2)  # (K, K), exact
        self._w: torch.Tensor | None = None
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ state
    @property
    def weights(self) -> torch.Tensor:
        """Weights as a ``(rows, cols, dim)`` float32 tensor (a view)."""
        self._require_fitted()
        return self._w.view(self.rows, self.cols, self.dim)

    @weights.setter
    def weights(self, value) -> None:
        w = _as_tensor(value, self.device)
        if tuple(w.shape) not in ((self.rows, self.cols, self.dim), (self.n_units, self.dim)):
            raise ValueError(
                f"weights must have shape ({self.rows}, {self.cols}, {self.dim}), got {tuple(w.shape)}"
            )
        if not torch.isfinite(w).all():
            raise ValueError("weights contain NaN or inf")
        self._w = w.reshape(self.n_units, self.dim).clone()

    def _require_fitted(self) -> None:
        if self._w is None:
            raise RuntimeError("SOM has no weights yet: call fit() or initialize() first")

    def grid_coords(self, units) -> torch.Tensor:
        """``(row, col)`` of flat unit indices, as a LongTensor ``(..., 2)``."""
        units = torch.as_tensor(units, device=self.device).long()
        return torch.stack([units // self.cols, units % self.cols], dim=-1)

    def neighbourhood(self, sigma: float) -> torch.Tensor:
        """Gaussian neighbourhood matrix ``h[j, k]`` on the grid, ``(K, K)``."""
        return torch.exp(-self._grid_sqdist / (2.0 * sigma * sigma))

    # ------------------------------------------------------------ validation
    def _check_data(self, x, *, min_samples: int = 1) -> torch.Tensor:
        x = _as_tensor(x, self.device)
        if x.ndim != 2:
            raise ValueError(f"data must be 2-D (n_samples, dim), got shape {tuple(x.shape)}")
        if x.shape[1] != self.dim:
            raise ValueError(f"data has {x.shape[1]} features, SOM expects dim={self.dim}")
        if x.shape[0] < min_samples:
            raise ValueError(f"need at least {min_samples} sample(s), got {x.shape[0]}")
        # one reduction is much cheaper than isfinite() on every element; a
        # non-finite sum (NaN/inf present, or float32 overflow) gets the full check
        if x.numel() and not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
            raise ValueError("data contain NaN or inf")
        return x

    @staticmethod
    def _check_positive_int(name: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return int(value)

    # ---------------------------------------------------------------- init
    def initialize(self, x, *, generator: torch.Generator | None = None) -> SOM:
        """Set the initial weights from data ``x`` (``init`` chosen in ``__init__``).

        ``"pca"`` uses the data mean and the top two principal axes; above
        ``2048`` samples the axes are estimated on a seeded subsample of 2048
        rows (ample for an initialization, and the cost no longer grows with N).
        """
        x = self._check_data(x)
        gen = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        if self.init == "sample":
            idx = torch.randint(0, x.shape[0], (self.n_units,), generator=gen)
            self._w = x[idx.to(self.device)].clone()
            return self
        if self.dim < 2:
            raise ValueError("PCA initialization needs dim >= 2; use init='sample'")
        mean = x.mean(0).double()
        if x.shape[0] < 2:
            pcs = torch.zeros(2, self.dim, dtype=torch.float64, device=self.device)
        else:
            xs = x
            if x.shape[0] > _PCA_MAX_SAMPLES:
                rows = torch.randperm(x.shape[0], generator=gen)[:_PCA_MAX_SAMPLES]
                xs = x[rows.sort().values.to(self.device)]
            pcs = self._top2_components(xs, xs.mean(0).double(), gen)
        c1 = torch.linspace(-1, 1, self.rows, dtype=torch.float64, device=self.device)
        c2 = torch.linspace(-1, 1, self.cols, dtype=torch.float64, device=self.device)
        if self.rows == 1:
            c1 = torch.full_like(c1, -1.0)
        if self.cols == 1:
            c2 = torch.full_like(c2, -1.0)
        w = mean + c1.repeat_interleave(self.cols)[:, None] * pcs[0] + c2.repeat(self.rows)[:, None] * pcs[1]
        self._w = w.float().contiguous()
        return self

    def _top2_components(self, x: torch.Tensor, mean: torch.Tensor,
                         gen: torch.Generator) -> torch.Tensor:
        """Unit-norm first and second principal axes of ``x``, ``(2, dim)`` float64.

        ``dim <= 64``: exact ``eigh`` of the float64 covariance, as MiniSom
        does. Larger ones: seeded block subspace
        iteration (10 vectors, Rayleigh-Ritz, products with the centred data in
        float32, never forming the covariance) until the top two Ritz values
        settle to 1e-4, which is far cheaper than the ``N * dim**2`` covariance
        and accurate to ~1e-3 in the axes, plenty for an initialization. Each axis' sign is fixed
        so that its largest-magnitude entry is positive.
        """
        n, d = x.shape
        if d <= 64:
            xc = x.double() - mean
            cov = xc.T @ xc / (n - 1)
            pcs = torch.linalg.eigh(cov)[1][:, [-1, -2]].T
        else:
            xc = x - mean.float()
            q = min(d, 10)
            v = torch.randn(d, q, generator=gen, dtype=torch.float64).to(self.device)
            v = torch.linalg.qr(v).Q

            def apply(v: torch.Tensor) -> torch.Tensor:  # covariance times v
                return (xc.T @ (xc @ v.float())).double() / (n - 1)

            av = apply(v)
            prev = None
            for _ in range(100):
                ritz = torch.linalg.eigvalsh(v.T @ av)[-2:]
                if prev is not None and torch.allclose(ritz, prev, rtol=1e-4, atol=0):
                    break
                prev = ritz
                v = torch.linalg.qr(av).Q
                av = apply(v)
            evecs = torch.linalg.eigh(v.T @ av)[1]
            pcs = (v @ evecs[:, [-1, -2]]).T
        # eigh's sign is arbitrary: fix it so the result is reproducible
        flip = torch.sign(pcs[torch.arange(2), pcs.abs().argmax(1)])
        return pcs * flip[:, None]

    # ---------------------------------------------------------------- fit
    def _sigma_at(self, epoch: int, epochs: int) -> float:
        if epochs == 1:
            return self.sigma_end
        frac = epoch / (epochs - 1)
        return self.sigma * (self.sigma_end / self.sigma) ** frac

    def _eta_at(self, epoch: int, epochs: int) -> float:
        if epochs == 1:
            return 1.0
        frac = epoch / (epochs - 1)
        return self.learning_rate + (1.0 - self.learning_rate) * frac

    def fit(self, x, epochs: int = 10, batch_size: int = 512, *,
            subsample: int | str | None = "auto", full_epochs: int = 1,
            init_weights: bool = True) -> SOM:
        """Train the map on ``x`` (``(N, dim)``) with the batch SOM; returns ``self``.

        ``batch_size``: samples whose BMUs are found in one GEMM (bounds memory;
        the update itself uses the whole epoch, so the result does not depend on
        it beyond float rounding).

        ``subsample``: the early, large-radius epochs only need coarse
        neighbourhood means, so all but the last ``full_epochs`` epochs use a
        fresh seeded random subsample of this many rows (``"auto"``:
        ``max(1000, 10 * n_units)``; ``None``: every epoch sees all the data,
        the textbook batch SOM). With the defaults this halves the training time
        at 10 epochs with no loss of quality; data no larger than the subsample
        are always used whole.

        ``init_weights=False`` continues from the current weights.
        Same seed, data and arguments give bit-identical weights on CPU.
        """
        epochs = self._check_positive_int("epochs", epochs)
        batch_size = self._check_positive_int("batch_size", batch_size)
        if isinstance(full_epochs, bool) or not isinstance(full_epochs, (int, np.integer)) or full_epochs < 0:
            raise ValueError(f"full_epochs must be a non-negative integer, got {full_epochs!r}")
        if subsample == "auto":
            subsample = max(1000, 10 * self.n_units)
        elif subsample is not None:
            subsample = self._check_positive_int("subsample", subsample)
        x = self._check_data(x)
        n = x.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        if init_weights or self._w is None:
            self.initialize(x, generator=gen)
        self.history = []
        w = self._w
        ones = torch.ones(min(batch_size, n), dtype=torch.float32, device=self.device)
        for epoch in range(epochs):
            sigma = self._sigma_at(epoch, epochs)
            eta = self._eta_at(epoch, epochs)
            xe = x
            if subsample is not None and subsample < n and epoch < epochs - full_epochs:
                rows = torch.randperm(n, generator=gen)[:subsample].sort().values
                xe = x.index_select(0, rows.to(self.device))
            sums = torch.zeros_like(w)
            counts = torch.zeros(self.n_units, dtype=torch.float32, device=self.device)
            w_sq = torch.linalg.vector_norm(w, dim=1).square()
            for xb in self._chunks(xe, batch_size):
                b = self._bmu_fast(xb, w, w_sq)
                sums.index_add_(0, b, xb)
                counts.index_add_(0, b, ones[: xb.shape[0]])
            h = self.neighbourhood(sigma)
            num = h @ sums
            den = h @ counts
            # units whose neighbourhood weight underflowed keep their weights
            ok = (den > 1e-12 * den.max())[:, None]
            w = torch.where(ok, w + eta * (num / den.clamp_min(1e-30)[:, None] - w), w)
            self.history.append({"epoch": epoch, "sigma": sigma, "eta": eta, "samples": int(xe.shape[0]),
                                 "units_hit": int((counts > 0).sum())})
        self._w = w.contiguous()
        return self

    # ------------------------------------------------------------ distances
    @staticmethod
    def _chunks(x: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
        for start in range(0, x.shape[0], size):
            yield x[start:start + size]

    @staticmethod
    def _bmu_fast(xb: torch.Tensor, w: torch.Tensor, w_sq: torch.Tensor) -> torch.Tensor:
        """GEMM-only BMU used during training: ``argmin_j ||w_j||^2 - 2 x.w_j``
        (``||x||^2`` is constant per row). Rounding can flip exact near-ties,
        which does not matter for the update."""
        return torch.addmm(w_sq[None, :], xb, w.T, beta=1.0, alpha=-2.0).min(1).indices

    def _top_units(self, x: torch.Tensor, k: int, chunk: int,
                   need_dist: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Exact ``k`` nearest units per sample, sorted: indices ``(N, k)`` and
        Euclidean distances ``(N, k)``.

        The GEMM ranks all units; a row is recomputed with direct differences
        ``||x - w||`` against every unit only when two of its ``k + 1`` best GEMM
        distances are closer than the worst-case float32 rounding error of the
        GEMM (``dim * 2**-24 * (||x_c||^2 + max ||w_c||^2)``, a few rows in
        practice), so the result equals an exact nearest-unit search.
        Among exactly equal distances the lowest unit index comes first, as in
        numpy's ``argmin`` (MiniSom's ``winner``).
        """
        self._require_fitted()
        w = self._w
        k1 = min(k + 1, self.n_units)
        center = w.mean(0)
        wc = w - center
        w_sq = torch.linalg.vector_norm(wc, dim=1).square()
        u = self.dim * 2.0 ** -24
        idx_out, dist_out = [], []
        for xb in self._chunks(x, chunk):
            xc = xb - center
            x_sq = torch.linalg.vector_norm(xc, dim=1).square()
            d = torch.addmm(w_sq[None, :], xc, wc.T, beta=1.0, alpha=-2.0).add_(x_sq[:, None])
            if k1 == 2:  # two min() passes are several times cheaper than topk(2)
                v1, i1 = d.min(1)
                v2 = d.scatter_(1, i1[:, None], float("inf")).min(1).values
                vals, idx = torch.stack([v1, v2], 1), i1[:, None]
            else:
                vals, idx = d.topk(k1, dim=1, largest=False, sorted=True)
            tol = 2.0 * u * (x_sq + w_sq.max()) + 1e-30
            ambiguous = torch.zeros(xb.shape[0], dtype=torch.bool, device=self.device)
            if k1 > 1:
                ambiguous = ((vals[:, 1:] - vals[:, :-1]) <= tol[:, None]).any(1)
            idx = idx[:, :k].clone()
            rows = ambiguous.nonzero().flatten()
            if rows.numel():
                exact = self._direct_sqdist(xb[rows], w)
                # stable sort: lowest index first among exact ties
                idx[rows] = torch.sort(exact, dim=1, stable=True).indices[:, :k]
            idx_out.append(idx)
            if need_dist:
                dist_out.append(torch.stack(
                    [torch.linalg.vector_norm(xb - w[idx[:, j]], dim=1) for j in range(k)], dim=1))
        return torch.cat(idx_out), (torch.cat(dist_out) if need_dist else None)

    def _direct_sqdist(self, xr: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Squared distances by direct differences, ``(len(xr), n_units)``, in bounded memory."""
        step = max(1, int(2 ** 24 // max(1, self.n_units * self.dim)))
        out = [((xs[:, None, :] - w[None]) ** 2).sum(2) for xs in self._chunks(xr, step)]
        return torch.cat(out)

    # ------------------------------------------------------------------ API
    def bmu(self, x, chunk_size: int = _DEFAULT_CHUNK) -> torch.Tensor:
        """Flat index ``r * cols + c`` of each sample's best-matching unit, ``(N,)`` long."""
        x = self._check_data(x, min_samples=0)
        if x.shape[0] == 0:
            return torch.empty(0, dtype=torch.long, device=self.device)
        chunk_size = self._check_positive_int("chunk_size", chunk_size)
        return self._top_units(x, 1, chunk_size, need_dist=False)[0][:, 0]

    def bmu_coords(self, x, chunk_size: int = _DEFAULT_CHUNK) -> torch.Tensor:
        """``(row, col)`` of each sample's BMU, ``(N, 2)`` long."""
        return self.grid_coords(self.bmu(x, chunk_size))

    def quantization_error(self, x, chunk_size: int = _DEFAULT_CHUNK) -> float:
        """Mean Euclidean distance from each sample to its BMU's weight vector
        (MiniSom's ``quantization_error``)."""
        x = self._check_data(x)
        chunk_size = self._check_positive_int("chunk_size", chunk_size)
        dist = self._top_units(x, 1, chunk_size)[1][:, 0]
        return float(dist.double().mean())

    def topographic_error(self, x, chunk_size: int = _DEFAULT_CHUNK) -> float:
        """Share of samples whose first and second BMUs are not adjacent.

        Adjacency follows MiniSom 2.3.6 on a rectangular grid: the two units are
        adjacent when the Euclidean distance of their grid positions is at most
        1.42, i.e. the 8-neighbourhood (diagonals count as adjacent). A 1-unit
        map has no second BMU and returns ``nan`` (MiniSom warns and does the same).
        """
        x = self._check_data(x)
        chunk_size = self._check_positive_int("chunk_size", chunk_size)
        if self.n_units == 1:
            return float("nan")
        idx = self._top_units(x, 2, chunk_size, need_dist=False)[0]
        rc = self.grid_coords(idx).float()  # (N, 2, 2)
        gap = (rc[:, 0] - rc[:, 1]).norm(dim=1)
        return float((gap > 1.42).double().mean())

    def __repr__(self) -> str:
        state = "fitted" if self._w is not None else "unfitted"
        return (f"SOM({self.rows}x{self.cols}, dim={self.dim}, sigma={self.sigma:g}, "
                f"learning_rate={self.learning_rate:g}, init={self.init!r}, seed={self.seed}, {state})")
