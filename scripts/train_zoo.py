"""Train a profile's zoo ahead of its run, several models at once (one GPU holds many of these small nets).

The notebooks then load the models from the cache (``HALFWAY_CACHE``) instead of training them one by one.
It writes a summary in the manner of a benchmark: every model's epochs, seconds, accuracies and whether it
reached its fit target, with the wall time, the machine and the versions.

    python scripts/train_zoo.py --profile paper --workers 8 --summary zoo.json
    python scripts/train_zoo.py --profile paper --save-configs plan.json   # plan here (needs nbformat) ...
    python scripts/train_zoo.py --configs plan.json --workers 8            # ... train there
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from halfway_utils.infra.params import PROFILES  # noqa: E402
from halfway_utils.train import TrainConfig  # noqa: E402


def profile_configs(profile: str) -> list[TrainConfig]:
    """The zoo models every notebook of a profile asks for, once each (as the runner's plan lists them)."""
    from halfway_utils import plan
    from halfway_utils.infra import runner

    return plan.run_configs(runner.plan_parameters(runner.notebooks([], runner.NOTEBOOKS), profile, {}).values())


def save_configs(configs: list[TrainConfig], path: Path) -> None:
    """Write configs as JSON (what :func:`load_configs` reads)."""
    path.write_text(json.dumps([c.as_dict() for c in configs], indent=1))


def load_configs(path: Path) -> list[TrainConfig]:
    """Read configs written by :func:`save_configs`."""
    return [TrainConfig(**{**d, "arch_kw": dict(d["arch_kw"])}) for d in json.loads(path.read_text())]


def _train_one(config: TrainConfig, device: str | None, threads: int) -> dict[str, Any]:
    """Train (or load) one model in a worker process; its row of the summary."""
    import torch

    from halfway_utils.train import train

    torch.set_num_threads(threads)
    result = train(config, device=device)
    history = result.history
    return {"model": config.label, "key": config.key, "n_train": config.n_train, "cached": result.cache_hit,
            "seconds": round(result.seconds, 2), "epochs": len(history["epoch"]) - 1,
            "train_acc": history["train_acc"][-1], "test_acc": history["test_acc"][-1],
            "target_acc": config.target_acc, "fitted": result.fitted}


def train_all(configs: list[TrainConfig], workers: int, device: str | None = None, threads: int = 1,
              on_row: Callable[[dict[str, Any]], None] = print) -> list[dict[str, Any]]:
    """Train every config, ``workers`` at a time in spawned processes; ``on_row`` sees each row as it ends."""
    if workers <= 1:
        rows = [_train_one(c, device, threads) for c in configs]
        for row in rows:
            on_row(row)
        return rows
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_train_one, c, device, threads): i for i, c in enumerate(configs)}
        done: dict[int, dict[str, Any]] = {}
        for future in as_completed(futures):
            done[futures[future]] = row = future.result()
            on_row(row)
    return [done[i] for i in range(len(configs))]


def main(argv: list[str] | None = None) -> int:
    """Plan or train a profile's zoo and write its summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="paper", help="whose zoo (default: paper)")
    parser.add_argument("--configs", type=Path, help="train the configs in this JSON instead of planning")
    parser.add_argument("--save-configs", type=Path, help="write the planned configs here and stop")
    parser.add_argument("--workers", type=int, default=1, help="models trained at once (default: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker (default: 1)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: HALFWAY_DEVICE, else best)")
    parser.add_argument("--summary", type=Path, help="write the summary JSON here (default: print it)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    configs = load_configs(args.configs) if args.configs else profile_configs(args.profile)
    if args.save_configs:
        save_configs(configs, args.save_configs)
        print(f"{len(configs)} configs written to {args.save_configs}")
        return 0
    from halfway_utils.infra.runner import machine

    start = time.perf_counter()
    rows = train_all(configs, args.workers, args.device, args.threads,
                     on_row=lambda row: print(json.dumps(row), flush=True))
    summary = {"profile": None if args.configs else args.profile, "workers": args.workers,
               "wall_seconds": round(time.perf_counter() - start, 1), "models": rows,
               "fitted": sum(r["fitted"] for r in rows), "machine": machine()}
    text = json.dumps(summary, indent=1)
    if args.summary:
        args.summary.write_text(text)
    print(text if not args.summary else f"{summary['fitted']}/{len(rows)} fitted in {summary['wall_seconds']} s; "
          f"summary in {args.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
