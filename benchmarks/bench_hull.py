"""Benchmark halfway_utils.hull.distance against the NNLS (and cvxpy) references.

Cases (queries are MNIST test images, the hull is spanned by MNIST training images):

- ``pixels-<n>``: raw pixels, 784 dims, for each n in ``--n`` (10,000 and 60,000 by default);
- ``pca128-<n>``: the same images projected on their top 128 principal components (a stand-in
  for a learned 64-512-dim feature space), at the largest n;
- ``gauss-cvxpy``: Gaussian n=1000, d=50, a few queries, against cvxpy/Clarabel as well.

Our solver runs on all ``--queries`` queries in one batch; the slow NNLS reference runs on
the first queries until ``--ref-budget`` seconds per case are used (at least one). The time
ratio compares the reference's seconds per query with ours (batched, and on the reference's
queries alone). Writes a markdown table to stdout and JSON to ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/bench_hull.py --n 10000 60000 --queries 200
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine, version  # noqa: E402

from halfway_utils.infra.device import pick_device  # noqa: E402
from halfway_utils.methods import hull  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hull.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[10000, 60000],
                   help="training-set sizes for the pixel cases (max 60000)")
    p.add_argument("--queries", type=int, default=200, help="test images per case (ours)")
    p.add_argument("--ref-queries", type=int, default=8, help="max queries for the NNLS reference")
    p.add_argument("--ref-budget", type=float, default=40.0,
                   help="seconds of NNLS per case before stopping (at least one query)")
    p.add_argument("--pca", type=int, default=128, help="dimension of the PCA feature case (0: skip)")
    p.add_argument("--no-cvxpy", action="store_true", help="skip the cvxpy comparison")
    p.add_argument("--device", default=None, help="torch device for the scans (default: auto)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return p.parse_args(argv)


def load_mnist(split: str, n: int) -> np.ndarray:
    """Flattened float32 MNIST pixels (n, 784); a balanced subset unless n is the split."""
    from halfway_utils.data import load

    images, _ = load("mnist", split, n=None if n >= (60000 if split == "train" else 10000) else n)
    return images.reshape(len(images), -1).numpy()


def pca(D: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Project both sets on the top-k principal components of D (float32)."""
    mean = D.mean(axis=0, dtype=np.float64)
    Dc = torch.from_numpy(D.astype(np.float64) - mean)
    _, _, V = torch.pca_lowrank(Dc, q=k, center=False, niter=4)
    V = V.numpy()
    return ((Dc.numpy() @ V).astype(np.float32), ((Q - mean) @ V).astype(np.float32))


def run_case(name: str, D: np.ndarray, Q: np.ndarray, args: argparse.Namespace,
             with_cvxpy: bool = False) -> dict:
    """Ours on all queries, NNLS (and optionally cvxpy) on the first ones; one result row."""
    t0 = time.perf_counter()
    res = hull.distance(D, Q, device=args.device)
    ours_s = time.perf_counter() - t0
    D64, Q64 = D.astype(np.float64), Q.astype(np.float64)
    ref, ref_times = [], []
    for q in Q64[: args.ref_queries]:
        t0 = time.perf_counter()
        ref.append(hull.nnls_distance(D64, q)[0])
        ref_times.append(time.perf_counter() - t0)
        if sum(ref_times) > args.ref_budget:
            break
    k = len(ref)
    t0 = time.perf_counter()
    hull.distance(D, Q[:k], device=args.device)  # timed alone, on the reference queries only
    alone_s = time.perf_counter() - t0
    ref = np.array(ref)
    rel = np.abs(res.distance[:k] - ref) / np.maximum(ref, 1e-12)
    row = {
        "case": name, "n": int(D.shape[0]), "d": int(D.shape[1]), "dtype": str(D.dtype),
        "queries": int(len(Q)), "ref_queries": k,
        "ours_s_per_query": ours_s / len(Q), "ours_alone_s_per_query": alone_s / k,
        "nnls_s_per_query": float(np.mean(ref_times)),
        "speedup_batched": float(np.mean(ref_times)) / (ours_s / len(Q)),
        "speedup_alone": float(np.mean(ref_times)) / (alone_s / k),
        "max_rel_diff_nnls": float(rel.max()),
        "max_abs_diff_nnls": float(np.abs(res.distance[:k] - ref).max()),
        "ours_minus_nnls_max": float((res.distance[:k] - ref).max()),
        "all_converged": bool(res.converged.all()),
        "max_gap": float(res.gap.max()), "max_rel_bound_width": float(
            ((res.distance - res.lower_bound) / np.maximum(res.distance, 1e-12)).max()),
        "mean_distance": float(res.distance.mean()),
        "inside_fraction": float(res.inside.mean()),
        "iterations_mean": float(res.iterations.mean()), "iterations_max": int(res.iterations.max()),
        "working_set_max": int(res.working_set_size.max()),
        "support_max": int(res.weights.getnnz(axis=1).max()),
    }
    if with_cvxpy:
        row.update(cvxpy_row(D64, Q64, res.distance))
    return row


def cvxpy_row(D: np.ndarray, Q: np.ndarray, ours: np.ndarray) -> dict:
    """cvxpy/Clarabel on every query of a small case."""
    t0 = time.perf_counter()
    ref = np.array([hull.cvxpy_distance(D, q)[0] for q in Q])
    secs = (time.perf_counter() - t0) / len(Q)
    return {"cvxpy_s_per_query": secs,
            "max_rel_diff_cvxpy": float((np.abs(ours - ref) / np.maximum(ref, 1e-12)).max())}


def table(rows: list[dict]) -> str:
    """Markdown summary of the result rows."""
    head = ("| case | n | d | queries (ref) | ours s/q (batched) | ours s/q (ref qs) | nnls s/q "
            "| speedup batched / alone | max rel diff vs nnls | max gap | converged | iters mean/max |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['n']} | {r['d']} | {r['queries']} ({r['ref_queries']}) "
            f"| {r['ours_s_per_query']:.4f} | {r['ours_alone_s_per_query']:.4f} "
            f"| {r['nnls_s_per_query']:.3f} | {r['speedup_batched']:.0f}x / {r['speedup_alone']:.0f}x "
            f"| {r['max_rel_diff_nnls']:.1e} | {r['max_gap']:.1e} | {r['all_converged']} "
            f"| {r['iterations_mean']:.1f}/{r['iterations_max']} |")
    for r in rows:
        if "cvxpy_s_per_query" in r:
            lines.append(f"\n{r['case']}: cvxpy/Clarabel {r['cvxpy_s_per_query']:.3f} s/query, "
                         f"max rel diff vs ours {r['max_rel_diff_cvxpy']:.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run every case, print the table, write the JSON."""
    args = parse_args(argv)
    device = str(pick_device(args.device))
    sizes = sorted(min(n, 60000) for n in args.n)
    rows = []
    D_all, Q = load_mnist("train", sizes[-1]), load_mnist("test", args.queries)
    for n in sizes:
        D = D_all if n == len(D_all) else load_mnist("train", n)
        rows.append(run_case(f"pixels-{n}", D, Q, args))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if args.pca:
        Dp, Qp = pca(D_all, Q, args.pca)
        rows.append(run_case(f"pca{args.pca}-{len(D_all)}", Dp, Qp, args))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if not args.no_cvxpy:
        rng = np.random.default_rng(0)
        Dg, Qg = rng.standard_normal((1000, 50)), 1.2 * rng.standard_normal((5, 50))
        rows.append(run_case("gauss-cvxpy", Dg, Qg, args, with_cvxpy=True))
    text = table(rows)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(
        device=device, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS"),
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        numpy=np.__version__, scipy=scipy.__version__, daqp=version("daqp"), cvxpy=version("cvxpy")), "args": {
        k: str(v) for k, v in vars(args).items()}, "results": rows, "table": text}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
