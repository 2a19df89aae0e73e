"""Benchmark scan_paths against dense grids on MNIST pairs.

Trains a 784-256-256-10 MLP (Adam, 3 epochs, seed 0) on 2000 MNIST training images,
then, on pairs of images of different classes (train-train, and test-test as a
check), runs side by side:
(a) ``scan_paths`` (coarse grid + batched refinement) in several settings, (b) a
201-point dense grid and (c) a 4001-point dense grid used as ground truth for flip
counts and positions. Dense grids place a flip at the midpoint of the grid interval
that holds it, so errors against (c) include its own half spacing (1.25e-4).
Timings are medians of 5 interleaved repeats with 1 torch thread by default.

    python benchmarks/bench_boundary.py [--pairs 500] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import fit, machine  # noqa: E402

from halfway_utils.data import load  # noqa: E402
from halfway_utils.methods.boundary import dense_grid_flips, scan_paths  # noqa: E402

REPEATS = 5
TRUTH_POINTS = 4001
DENSE_POINTS = 201


def train_mlp(x: torch.Tensor, y: torch.Tensor, epochs: int = 3, seed: int = 0) -> nn.Module:
    """784-256-256-10 ReLU MLP trained with the benchmarks' Adam loop; eval mode."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    return fit(model, x, y, epochs, seed)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy."""
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def different_class_pairs(y: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded index pairs (i, j) with y[i] != y[j]."""
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(len(y), (4 * n,), generator=gen)
    j = torch.randint(len(y), (4 * n,), generator=gen)
    keep = (y[i] != y[j]).nonzero().squeeze(1)[:n]
    return i[keep], j[keep]


def timed(fn):
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compare(model: nn.Module, a: torch.Tensor, b: torch.Tensor, configs: list[tuple[int, str]],
            tol: float) -> dict[str, dict]:
    """Run each (grid, refine) config of ours, the 201-grid and the 4001-grid; summarise per config."""
    times: dict[str, list[float]] = {"dense201": []}
    results = {}
    for _ in range(REPEATS):  # interleaved so load from other processes hits all alike
        results["dense201"], s = timed(lambda: dense_grid_flips(model, a, b, DENSE_POINTS))
        times["dense201"].append(s)
        for grid, refine in configs:
            key = f"grid={grid}, {refine}"
            results[key], s = timed(lambda g=grid, r=refine: scan_paths(model, a, b, grid=g, tol=tol, refine=r))
            times.setdefault(key, []).append(s)
    truth, truth_s = timed(lambda: dense_grid_flips(model, a, b, TRUTH_POINTS))
    dense, dense_s = results.pop("dense201"), statistics.median(times.pop("dense201"))
    has = ~torch.isnan(truth.first_flip)
    err_dense = (dense.first_flip - truth.first_flip)[has].abs()
    rows = {}
    for key, ours in results.items():
        ours_s = statistics.median(times[key])
        err_ours = (ours.first_flip - truth.first_flip)[has].abs()
        rows[key] = {
            "pairs": len(a), "grid": int(key.split(",")[0][5:]), "refine": key.split(", ")[1], "tol": tol,
            "forward_passes": {"ours": ours.forward_passes, "dense201": dense.forward_passes,
                               "truth4001": truth.forward_passes},
            "forward_ratio_dense201_over_ours": dense.forward_passes / ours.forward_passes,
            "wall_s_median": {"ours": ours_s, "dense201": dense_s, "truth4001_once": truth_s},
            "wall_ratio_dense201_over_ours": dense_s / ours_s,
            "same_flip_count_as_4001": {"ours": (ours.n_flips == truth.n_flips).float().mean().item(),
                                        "dense201": (dense.n_flips == truth.n_flips).float().mean().item()},
            "first_flip_abs_err_vs_4001": {
                "ours_max": err_ours.max().item(), "ours_median": err_ours.median().item(),
                "dense201_max": err_dense.max().item(), "dense201_median": err_dense.median().item()},
            "truth_flips": {"mean": truth.n_flips.float().mean().item(), "max": int(truth.n_flips.max()),
                            "share_with_more_than_one": (truth.n_flips > 1).float().mean().item()},
            "share_third_class_ours": ours.passes_third_class.float().mean().item(),
        }
    return rows


def markdown(rows: dict[str, dict]) -> str:
    """One markdown table, a column per configuration."""
    lines = ["| metric | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    spec = [
        ("pairs", lambda r: r["pairs"]),
        ("forward rows, ours", lambda r: r["forward_passes"]["ours"]),
        ("forward rows, 201-grid", lambda r: r["forward_passes"]["dense201"]),
        ("forward ratio 201-grid / ours", lambda r: f"{r['forward_ratio_dense201_over_ours']:.2f}x"),
        ("wall median ours (s)", lambda r: f"{r['wall_s_median']['ours']:.3f}"),
        ("wall median 201-grid (s)", lambda r: f"{r['wall_s_median']['dense201']:.3f}"),
        ("wall ratio 201-grid / ours", lambda r: f"{r['wall_ratio_dense201_over_ours']:.2f}x"),
        ("same flip count as 4001, ours", lambda r: f"{r['same_flip_count_as_4001']['ours']:.1%}"),
        ("same flip count as 4001, 201-grid", lambda r: f"{r['same_flip_count_as_4001']['dense201']:.1%}"),
        ("max / median first-flip err, ours", lambda r: "{ours_max:.1e} / {ours_median:.1e}".format(
            **r["first_flip_abs_err_vs_4001"])),
        ("max / median first-flip err, 201-grid", lambda r: "{dense201_max:.1e} / {dense201_median:.1e}".format(
            **r["first_flip_abs_err_vs_4001"])),
        ("mean flips per path (4001)", lambda r: f"{r['truth_flips']['mean']:.2f}"),
        ("paths with > 1 flip (4001)", lambda r: f"{r['truth_flips']['share_with_more_than_one']:.1%}"),
        ("paths via a third class (ours)", lambda r: f"{r['share_third_class_ours']:.1%}"),
    ]
    for name, get in spec:
        lines.append(f"| {name} | " + " | ".join(str(get(r)) for r in rows.values()) + " |")
    return "\n".join(lines)


def goals(row: dict) -> dict:
    """The issue's goals: >= 5x fewer rows and wall time than the 201-grid, >= 95% same flip count."""
    return {"forward_ratio_ge_5": row["forward_ratio_dense201_over_ours"] >= 5,
            "wall_ratio_ge_5": row["wall_ratio_dense201_over_ours"] >= 5,
            "same_flip_count_ge_95pct": row["same_flip_count_as_4001"]["ours"] >= 0.95}


def main(argv: list[str] | None = None) -> int:
    """Train, benchmark, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500, help="pairs per pair set")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "boundary.json")
    parser.add_argument("--configs", nargs="+", default=["17:secant", "25:secant", "33:secant", "33:bisect"],
                        help="scan_paths settings to compare, as GRID:REFINE; the first is the default")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps timings stable on a shared machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    x, y = load("mnist", "train", n=2000)
    xt, yt = load("mnist", "test", n=2000)
    model = train_mlp(x, y)
    configs = [(int(c.split(":")[0]), c.split(":")[1]) for c in args.configs]
    results = {}
    for name, (images, labels) in {"train-train": (x, y), "test-test": (xt, yt)}.items():
        i, j = different_class_pairs(labels, args.pairs)
        results[name] = compare(model, images[i], images[j], configs, args.tol)
        print(f"\n### {name} pairs of different classes\n\n{markdown(results[name])}")

    default = f"grid={configs[0][0]}, {configs[0][1]}"
    result = {
        "machine": machine(note="shared machine, other jobs running; wall ratios are noisy"),
        "model": {"arch": "784-256-256-10", "train_n": len(x), "epochs": 3, "seed": 0,
                  "test_accuracy": accuracy(model, xt, yt)},
        "pairs": "different classes, seed 0; train-train from load('mnist', 'train', n=2000), "
                 "test-test from load('mnist', 'test', n=2000)",
        "default_config": default,
        "goals_default_train_train": goals(results["train-train"][default]),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\ntest accuracy {result['model']['test_accuracy']:.3f}; "
          f"goals ({default}, train-train): {result['goals_default_train_train']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
