"""Benchmark the attacks of halfway_utils.attacks on MNIST-shaped inputs and a small CNN.

Trains ``halfway_utils.models.build("cnn")`` (Adam, 1 epoch, seed 0) on MNIST training
images (synthetic 28x28 data if MNIST is not available), then times each attack on
``--n`` test images and reports success rate (over clean-correct samples) and
perturbation norms. Our batched DeepFool and torchattacks' per-sample DeepFool run side
by side on the same inputs, with their agreement. Prints a markdown table and writes JSON.

    python benchmarks/bench_attacks.py [--n 1000] [--threads 1] [--out benchmarks/results/attacks.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchattacks
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import fit, machine  # noqa: E402

from halfway_utils.methods import attacks as A  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "attacks.json"


def load_data(n_train: int, n_test: int) -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST train/test subsets via halfway_utils.data, else synthetic prototype data."""
    try:
        from halfway_utils.data import load

        xtr, ytr = load("mnist", "train", n=n_train)
        xte, yte = load("mnist", "test", n=n_test)
        return "mnist", xtr, ytr, xte, yte
    except Exception as err:  # noqa: BLE001 - any failure means: fall back
        print(f"MNIST unavailable ({err}); using synthetic data", file=sys.stderr)
    protos = (torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(123)) < 0.3).float()

    def make(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 10, (n,), generator=gen)
        return (0.3 * protos[y] + 0.7 * torch.rand(n, 1, 28, 28, generator=gen)).clamp(0, 1), y

    return ("synthetic", *make(n_train, 0), *make(n_test, 1))


def build_cnn() -> nn.Module:
    """The project's small CNN if available, else an equivalent plain-torch LeNet."""
    try:
        from halfway_utils.models import build

        return build("cnn")
    except Exception:  # noqa: BLE001
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )


def timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float, float]:
    """(result, wall seconds, process CPU seconds) of one call; CPU time is less hit by other load."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def summarise(model: nn.Module, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, seconds: float,
              cpu_seconds: float) -> dict:
    """Time, success rate and median perturbation norms, over clean-correct samples (norms: successes only)."""
    fooled = (A.predict(model, adv) != y) & (A.predict(model, x) == y)
    l2 = A.perturbation_norms(x, adv, "l2")[fooled]
    linf = A.perturbation_norms(x, adv, "linf")[fooled]
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "ms_per_input": round(1000 * seconds / len(x), 3),  # wall
        "success_rate": round(A.success_rate(model, adv, y, x_clean=x), 4),
        "median_l2": round(l2.median().item(), 4) if len(l2) else None,
        "median_linf": round(linf.median().item(), 4) if len(linf) else None,
    }


def near_tie_mask(model: nn.Module, adv: torch.Tensor, y: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """Inputs whose true-class logit is within ``tol`` of the best other logit."""
    with torch.no_grad():
        logits = model(adv)
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return (true - other).abs() <= tol


def near_tie(model: nn.Module, adv: torch.Tensor, y: torch.Tensor, tol: float = 1e-4) -> float:
    """Fraction of inputs within ``tol`` of a logit tie with the true class."""
    return round(near_tie_mask(model, adv, y, tol).float().mean().item(), 4)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a markdown table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="test inputs attacked")
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    source, xtr, ytr, x, y = load_data(args.n_train, args.n)
    torch.manual_seed(0)
    model = fit(build_cnn(), xtr, ytr)
    clean_acc = (A.predict(model, x) == y).float().mean().item()
    print(f"data={source} n={len(x)} clean accuracy={clean_acc:.4f}", file=sys.stderr)

    runs: dict[str, tuple[str, Callable[[], torch.Tensor]]] = {
        "fgsm": ("fgsm eps=0.3", lambda: A.fgsm(model, x, y, 0.3)),
        "pgd_linf": ("pgd linf eps=0.3 steps=10", lambda: A.pgd(model, x, y, 0.3, steps=10)),
        "pgd_linf_40": ("pgd linf eps=0.3 steps=40", lambda: A.pgd(model, x, y, 0.3, steps=40)),
        "pgd_l2": ("pgd l2 eps=2.0 steps=10", lambda: A.pgd(model, x, y, 2.0, norm="l2", steps=10)),
        "deepfool_batched": ("deepfool steps=50 (ours, batched)", lambda: A.deepfool(model, x, y)),
        "deepfool_torchattacks": ("deepfool steps=50 (torchattacks)",
                                  lambda: A.deepfool(model, x, y, impl="torchattacks")),
        "deepfool_box_aware": ("deepfool steps=50 box_aware (ours)", lambda: A.deepfool(model, x, y, box_aware=True)),
        "cw_c1": ("cw c=1 steps=100 lr=0.01", lambda: A.cw(model, x, y)),
        "cw_c10": ("cw c=10 steps=100 lr=0.05", lambda: A.cw(model, x, y, c=10.0, lr=0.05)),
    }
    results, advs = {}, {}
    for key, (label, fn) in runs.items():
        adv, seconds, cpu = timed(fn)
        advs[key] = adv
        results[key] = {"label": label, **summarise(model, x, y, adv, seconds, cpu)}
        print(f"{label}: {seconds:.2f}s wall, {cpu:.2f}s CPU", file=sys.stderr)

    ours, ref = advs["deepfool_batched"], advs["deepfool_torchattacks"]
    p_ours, p_ref = A.predict(model, ours), A.predict(model, ref)
    n_ours, n_ref = A.perturbation_norms(x, ours, "l2"), A.perturbation_norms(x, ref, "l2")
    rel = (n_ours - n_ref).abs() / n_ref.clamp_min(1e-12)
    off_tie = ~(near_tie_mask(model, ours, y) | near_tie_mask(model, ref, y))
    agreement = {
        "speedup": round(results["deepfool_torchattacks"]["seconds"] / results["deepfool_batched"]["seconds"], 2),
        "speedup_cpu": round(results["deepfool_torchattacks"]["cpu_seconds"]
                             / results["deepfool_batched"]["cpu_seconds"], 2),
        "same_fooled": round(((p_ours != y) == (p_ref != y)).float().mean().item(), 4),
        "same_adv_class": round((p_ours == p_ref).float().mean().item(), 4),
        "n_off_tie": int(off_tie.sum()),
        "same_fooled_off_tie": round(((p_ours != y) == (p_ref != y))[off_tie].float().mean().item(), 4),
        "median_rel_l2_diff": rel.median().item(),
        "frac_rel_l2_diff_below_1e-3": round((rel <= 1e-3).float().mean().item(), 4),
        "max_abs_input_diff": (ours - ref).abs().max().item(),
        "frac_near_tie_ours": near_tie(model, ours, y),
        "frac_near_tie_torchattacks": near_tie(model, ref, y),
        "frac_near_tie_box_aware": near_tie(model, advs["deepfool_box_aware"], y),
    }

    print(f"\n{source}, {len(x)} inputs, small CNN (clean acc {clean_acc:.3f}), CPU, {args.threads} thread(s)\n")
    print("| attack | wall s | CPU s | ms/input | success | median L2 | median Linf |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results.values():
        print(f"| {r['label']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['ms_per_input']:.2f} "
              f"| {r['success_rate']:.3f} "
              f"| {r['median_l2']} | {r['median_linf']} |")
    print(f"\nDeepFool batched vs torchattacks: {agreement['speedup']}x faster wall, "
          f"{agreement['speedup_cpu']}x CPU; "
          f"same fooled {agreement['same_fooled']:.3f} (on the {agreement['n_off_tie']} inputs not within 1e-4 "
          f"of a logit tie: {agreement['same_fooled_off_tie']:.3f}), "
          f"same adversarial class {agreement['same_adv_class']:.3f}, "
          f"median relative L2 difference {agreement['median_rel_l2_diff']:.2e}, "
          f"max |input difference| {agreement['max_abs_input_diff']:.2e}; inputs ending within 1e-4 of a logit tie: "
          f"ours {agreement['frac_near_tie_ours']:.3f}, torchattacks {agreement['frac_near_tie_torchattacks']:.3f}, "
          f"box_aware {agreement['frac_near_tie_box_aware']:.3f}")

    report = {
        "data": source, "n": len(x), "model": "halfway_utils.models.cnn (1 epoch Adam)",
        "clean_accuracy": clean_acc, "machine": machine(torchattacks=torchattacks.__version__, device="cpu"),
        "attacks": results, "deepfool_agreement": agreement,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
