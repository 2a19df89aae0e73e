"""Execute the notebooks with papermill, one after another, surviving failures.

``python -m halfway_utils.runner [--profile quick|paper] [NOTEBOOK ...]``

Each notebook runs in a fresh kernel with the parameters of the chosen profile
(``notebooks/params/<profile>/<notebook>.yaml``; the quick profile is the
notebooks' own defaults). The executed notebook goes to ``results/executed/`` and
its log to ``results/logs/``. A failing notebook is reported and the next one runs;
the exit status is non-zero if any failed. A summary table is printed and written
to ``results/run_summary.json``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml

from .params import PROFILES
from .paths import REPO_ROOT, results_dir
from .store import write_json

NOTEBOOKS = REPO_ROOT / "notebooks"


def notebooks(selection: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks in run order; ``selection`` matches by name or numeric prefix."""
    found = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return found
    chosen = []
    for wanted in selection:
        stem = Path(wanted).stem
        matches = [p for p in found if p.stem == stem or p.stem.startswith(stem + "_")
                   or p.stem.split("_")[0] == stem]
        if not matches:
            raise SystemExit(f"no notebook matches {wanted!r}; have: {[p.stem for p in found]}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def parameters(notebook: Path, profile: str) -> dict[str, Any]:
    """The profile's parameters for a notebook (empty for quick: the notebook's defaults)."""
    values: dict[str, Any] = {"profile": profile}
    path = notebook.parent / "params" / profile / f"{notebook.stem}.yaml"
    if profile != "quick" and path.exists():
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


def preflight(names: tuple[str, ...] = ("mnist", "fashion_mnist")) -> bool:
    """Stop before any notebook runs when a data set is missing, naming the fetch command."""
    from .. import data

    missing = [name for name in names if not data.available(name)]
    if missing:
        print(f"[run_all] data missing: {', '.join(missing)}. Fetch it with:\n"
              f"    python -m halfway_utils.data fetch {' '.join(missing)}", file=sys.stderr, flush=True)
    return not missing


def run_one(notebook: Path, profile: str, timeout: int | None) -> dict[str, Any]:
    """Execute one notebook; return its row of the summary."""
    import papermill as pm

    executed = results_dir("executed") / notebook.name
    log_path = results_dir("logs") / f"{notebook.stem}.log"
    start = time.perf_counter()
    status, error = "ok", ""
    with open(log_path, "w") as log, redirect_stdout(log), redirect_stderr(log):
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters(notebook, profile),
                                cwd=str(notebook.parent), kernel_name="python3", log_output=True,
                                progress_bar=False, execution_timeout=timeout)
        except Exception as err:  # noqa: BLE001 - any failure is reported, the run goes on
            last = str(err).strip().splitlines()[-1][:300] if str(err).strip() else ""
            status, error = "FAILED", f"{type(err).__name__}: {last}"
            traceback.print_exc()
    return {"notebook": notebook.stem, "status": status, "seconds": round(time.perf_counter() - start, 1),
            "log": str(log_path), "executed": str(executed), "error": error}


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The run's summary as a fixed-width text table."""
    lines = [f"{'notebook':<28} {'status':<7} {'seconds':>8}"]
    lines += [f"{r['notebook']:<28} {r['status']:<7} {r['seconds']:>8.1f}" for r in rows]
    lines.append(f"{'total':<28} {'':<7} {sum(r['seconds'] for r in rows):>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected notebooks and print the summary; non-zero exit if any failed."""
    parser = argparse.ArgumentParser(prog="python -m halfway_utils.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="names or numeric prefixes (default: all)")
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    parser.add_argument("--dir", type=Path, default=NOTEBOOKS, help="notebook folder (default: notebooks/)")
    parser.add_argument("--no-preflight", action="store_true", help="skip the data check")
    args = parser.parse_args(argv)
    if not args.no_preflight and not preflight():
        return 2
    os.environ.setdefault("HALFWAY_QUIET", "1")  # kernels inherit it: no progress bars
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Kernel specs start 'python': make it the Python that runs this (the project's env).
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    # ...and let it import this checkout's halfway_utils even where it is not installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    rows = []
    for notebook in notebooks(args.notebooks, args.dir):
        print(f"[run_all] {notebook.stem} ({args.profile}) ...", flush=True)
        row = run_one(notebook, args.profile, args.timeout)
        print(f"[run_all] {notebook.stem}: {row['status']} in {row['seconds']:.1f}s"
              + (f"\n          {row['error']}\n          log: {row['log']}" if row["error"] else ""),
              flush=True)
        rows.append(row)
    write_json({"profile": args.profile, "notebooks": rows}, results_dir() / "run_summary.json")
    print("\n" + summary_table(rows), flush=True)
    failed = [r["notebook"] for r in rows if r["status"] != "ok"]
    if failed:
        print(f"\n[run_all] {len(failed)} notebook(s) failed: {', '.join(failed)} "
              f"(logs in {results_dir('logs')})", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
