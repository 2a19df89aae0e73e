"""Benchmark halfway_utils.som.SOM against MiniSom, side by side, at matched quality.

For each input dimension, N "layer activations" are built (``--data mnist``:
MNIST training images, used as they are for 784-D and passed through a seeded
random ReLU layer for the other sizes, which gives sparse, non-negative,
class-structured vectors like a hidden layer's; ``--data synthetic`` or when
MNIST is unavailable: the same ReLU layer over 10 Gaussian clusters).

Both libraries are run at several budgets in one process, one after the
other, with the same thread count:

* MiniSom 2.3.6 (``sigma=--minisom-sigma``, ``learning_rate=0.5``):
  ``pca_weights_init``, ``train(x, k * N, random_order=True)`` for each ``k`` in
  ``--minisom-passes``, then the codes with its vectorised
  ``_distance_from_weights(x).argmin(1)``. Its time is train + codes; its PCA
  init is left out (reported as ``init_s``), which favours MiniSom.
* Ours: ``SOM(rows, cols, dim, seed, sigma_end=s).fit(x, epochs=e)`` (PCA init
  included) then ``bmu(x)``, for each ``s`` in ``--sigma-ends`` (0.5 is the
  library default; 0.3 trades some of our much lower TE for QE) and ``e`` in
  ``--epochs``; time is the median of ``--repeats`` runs.

Matched quality: the MiniSom reference is its cheapest run whose QE is within
2 % of the best MiniSom QE over all its runs; ours is our cheapest run with
``QE <= QE_ref`` and ``TE <= TE_ref``. The speed-up is ``time_ref / time_ours``.
When no run of ours matches, the row says so and no ratio is given.

    python benchmarks/bench_som.py --n 5000 --dims 64,256,784
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import machine, version  # noqa: E402

from halfway_utils.methods.som import SOM  # noqa: E402

QE_MATCH = 1.02


def _base_data(n: int, kind: str, seed: int) -> tuple[np.ndarray, str]:
    if kind == "mnist":
        try:
            from halfway_utils.data import load

            x, _ = load("mnist", "train", n=n, seed=seed)
            return x.reshape(n, -1).numpy().astype(np.float32), "mnist"
        except Exception as exc:  # noqa: BLE001 - fall back to synthetic data
            print(f"MNIST unavailable ({exc!r}); using synthetic clusters", file=sys.stderr)
    rng = np.random.RandomState(seed)
    centres = rng.rand(10, 784) * (rng.rand(10, 784) < 0.2)
    y = rng.randint(0, 10, n)
    x = np.clip(centres[y] + 0.15 * rng.randn(n, 784), 0, 1)
    return x.astype(np.float32), "synthetic"


def activations(base: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """``base`` if ``dim`` equals its width, else a seeded random ReLU layer of ``dim`` units."""
    if dim == base.shape[1]:
        return base
    g = torch.Generator().manual_seed(seed + dim)
    w = torch.randn(base.shape[1], dim, generator=g) / base.shape[1] ** 0.5
    b = 0.1 * torch.randn(dim, generator=g)
    x = torch.relu((torch.from_numpy(base) - 0.13) @ w + b)
    return x.numpy().astype(np.float32)


def bench_ours(x: np.ndarray, rows: int, cols: int, epochs: int, seed: int,
               repeats: int = 3, sigma_end: float = 0.5) -> dict:
    fits, bmus = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        som = SOM(rows, cols, x.shape[1], seed=seed, sigma_end=sigma_end).fit(x, epochs=epochs)
        t1 = time.perf_counter()
        codes = som.bmu(x)
        t2 = time.perf_counter()
        fits.append(t1 - t0)
        bmus.append(t2 - t1)
    totals = [f + b for f, b in zip(fits, bmus)]
    i = int(np.argsort(totals)[len(totals) // 2])  # the median run
    return {"fit_s": fits[i], "bmu_s": bmus[i], "total_s": totals[i],
            "qe": som.quantization_error(x), "te": som.topographic_error(x),
            "units_used": int(torch.unique(codes).numel()), "epochs": epochs,
            "sigma_end": sigma_end}


def bench_minisom(x: np.ndarray, rows: int, cols: int, passes: float, sigma: float,
                  seed: int) -> dict:
    from minisom import MiniSom

    xd = x.astype(np.float64)
    iters = max(1, int(round(passes * len(x))))
    t_init = time.perf_counter()
    m = MiniSom(rows, cols, x.shape[1], sigma=sigma, learning_rate=0.5, random_seed=seed)
    m.pca_weights_init(xd)
    t0 = time.perf_counter()
    m.train(xd, iters, random_order=True)
    t1 = time.perf_counter()
    codes = m._distance_from_weights(xd).argmin(1)
    t2 = time.perf_counter()
    # total_s leaves out MiniSom's PCA init (reported as init_s) while ours
    # includes it: the speed-up is conservative.
    return {"init_s": t0 - t_init, "fit_s": t1 - t0, "bmu_s": t2 - t1, "total_s": t2 - t0,
            "qe": float(m.quantization_error(xd)), "te": float(m.topographic_error(xd)),
            "units_used": int(np.unique(codes).size), "passes": passes,
            "iterations": iters, "sigma": sigma}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="samples (default 5000)")
    p.add_argument("--dims", default="64,256,784", help="comma-separated input dims")
    p.add_argument("--rows", type=int, default=10)
    p.add_argument("--cols", type=int, default=10)
    p.add_argument("--epochs", default="2,3,4,5,6,8,10,12,16,20",
                   help="our batch-SOM epoch counts to try (default 2,3,4,5,6,8,10,12,16,20)")
    p.add_argument("--sigma-ends", default="0.5,0.3",
                   help="our final radii to try (default 0.5 = the library default, and 0.3)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of ours per setting (median)")
    p.add_argument("--minisom-passes", default="0.1,0.3,1,3",
                   help="MiniSom iterations as multiples of N (default 0.1,0.3,1,3)")
    p.add_argument("--minisom-sigma", type=float, default=1.0,
                   help="MiniSom sigma (default 1.0, MiniSom's own default)")
    p.add_argument("--data", choices=("mnist", "synthetic"), default="mnist")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "som.json"))
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    dims = [int(d) for d in args.dims.split(",") if d.strip()]
    passes = sorted(float(k) for k in args.minisom_passes.split(",") if k.strip())
    base, data_kind = _base_data(args.n, args.data, args.seed)

    sigma_ends = [float(v) for v in args.sigma_ends.split(",") if v.strip()]
    epoch_list = sorted(int(e) for e in args.epochs.split(",") if e.strip())
    # warm-up (first-call allocations, lazy imports) so neither side pays it
    SOM(args.rows, args.cols, 8, seed=0).fit(np.random.RandomState(0).rand(200, 8), epochs=2)

    rows_out = []
    for dim in dims:
        x = activations(base, dim, args.seed)
        ms = [bench_minisom(x, args.rows, args.cols, k, args.minisom_sigma, args.seed) for k in passes]
        ours = [bench_ours(x, args.rows, args.cols, e, args.seed, args.repeats, se)
                for se in sigma_ends for e in epoch_list]
        best_qe = min(r["qe"] for r in ms)
        ref = min((r for r in ms if r["qe"] <= QE_MATCH * best_qe), key=lambda r: r["total_s"])
        ok = [r for r in ours if r["qe"] <= ref["qe"] and r["te"] <= ref["te"]]
        match = min(ok, key=lambda r: r["total_s"]) if ok else None
        rows_out.append({
            "dim": dim, "n": len(x), "data": data_kind if dim == base.shape[1] else f"relu({data_kind})",
            "minisom_runs": ms, "ours_runs": ours, "minisom_best_qe": best_qe,
            "minisom_ref": ref, "ours_match": match,
            "speedup": (ref["total_s"] / match["total_s"]) if match else None,
        })
        print(f"\n### dim {dim} ({rows_out[-1]['data']}, N={len(x)})\n", flush=True)
        print("| run | time s | QE | TE | units used |\n|---|---:|---:|---:|---:|")
        for r in ms:
            tag = " **ref**" if r is ref else ""
            print(f"| MiniSom {r['passes']:g} pass ({r['iterations']} it){tag} | {r['total_s']:.3f} | "
                  f"{r['qe']:.4f} | {r['te']:.3f} | {r['units_used']} |")
        for r in ours:
            tag = " **match**" if r is match else ""
            print(f"| ours {r['epochs']} epochs, sigma_end {r['sigma_end']:g}{tag} | {r['total_s']:.3f} | "
                  f"{r['qe']:.4f} | {r['te']:.3f} | {r['units_used']} |", flush=True)

    result = {"machine": machine(numpy=np.__version__, minisom=version("minisom"), torch_threads=args.threads),
              "config": {k: v for k, v in vars(args).items() if k != "out"},
              "qe_match_factor": QE_MATCH, "results": rows_out}

    print(f"\nSOM {args.rows}x{args.cols}, N={args.n}, threads={args.threads}; MiniSom sigma="
          f"{args.minisom_sigma:g}, lr=0.5. Ref: cheapest MiniSom run within {QE_MATCH:g}x of its best QE; "
          f"ours: cheapest run with QE <= ref QE and TE <= ref TE.\n")
    print("| dim | MiniSom ref | s | QE | TE | ours | s | QE | TE | speed-up |")
    print("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in rows_out:
        m, o = r["minisom_ref"], r["ours_match"]
        left = (f"| {r['dim']} | {m['passes']:g} pass | {m['total_s']:.3f} | {m['qe']:.4f} | {m['te']:.3f} ")
        if o is None:
            print(left + "| no match | | | | - |")
        else:
            print(left + f"| {o['epochs']} ep, sigma_end {o['sigma_end']:g} | {o['total_s']:.3f} | "
                  f"{o['qe']:.4f} | {o['te']:.3f} | {r['speedup']:.1f}x |")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
