"""Execute the notebooks with papermill, one after another, surviving failures.

``./run_all.sh [--profile quick|full|paper] [--yes] [NOTEBOOK ...] [-p NAME=VALUE ...]``
(``python -m halfway_utils.infra.runner`` with the same arguments)

Each notebook runs in a fresh kernel with the parameters of the chosen profile
(``notebooks/params/<profile>/<notebook>.yaml``; the quick profile is the
notebooks' own defaults), then the ``-p`` overrides on top (each VALUE is read as
YAML: ``-p seeds=[3,4] -p n_pairs=100 -p device=null``). An override goes to every
selected notebook that has the parameter; a name no selected notebook has, or a value
that fails a notebook's own parameter rules, stops the run (exit 2) before anything
executes. The executed notebook goes to ``results/executed/`` and its log to
``results/logs/``. A failing notebook is reported and the next one runs; the exit
status is non-zero if any failed. A summary table is printed and written to
``results/run_summary.json`` with the machine and the times.

The quick profile writes ``figures/`` and ``results/`` at the output root; any other
profile writes them under ``runs/<profile>/``. A full or paper run first prints its plan
(the zoo's models, their sizes, the estimated training time measured on this device);
on a machine without a GPU the paper profile stops after the plan unless ``--yes`` is
given. While a notebook runs, its stage lines (``infra.progress.stage``) are printed
with the elapsed time and kept in its log; each notebook's line shows the time it took
in the last run of the same profile. The run ends by building the static site
(``site/``, or ``runs/<profile>/site/``) from the executed notebooks and the ledger.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml

from . import outputs, progress, store
from .params import PROFILES
from .paths import REPO_ROOT, cache_root, results_dir
from .store import write_json

NOTEBOOKS = REPO_ROOT / "notebooks"


class UsageError(ValueError):
    """A bad command line: an unknown notebook or parameter, or a value its rules refuse."""


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
            raise UsageError(f"[run_all] no notebook matches {wanted!r}; have: {[p.stem for p in found]}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def parameters(notebook: Path, profile: str) -> dict[str, Any]:
    """The profile's parameters for a notebook (empty for quick: the notebook's defaults)."""
    values: dict[str, Any] = {"profile": profile}
    path = notebook.parent / "params" / profile / f"{notebook.stem}.yaml"
    if profile != "quick" and path.exists():
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings as a dict, each VALUE read as YAML (so ``[3,4]`` is a list)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"[run_all] -p takes NAME=VALUE (e.g. -p seeds=[3,4]), got {item!r}")
        try:
            out[name.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise UsageError(f"[run_all] -p {item!r}: the value is not valid YAML ({err})") from None
    return out


def _code_cells(notebook: Path) -> list[str]:
    import nbformat

    return [c.source for c in nbformat.read(notebook, 4).cells if c.cell_type == "code"]


def defaults(notebook: Path) -> dict[str, Any]:
    """The notebook's own parameters: its ``parameters`` cell, evaluated."""
    namespace: dict[str, Any] = {}
    exec(_code_cells(notebook)[0], namespace)  # noqa: S102 - the project's own notebook
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def plan_parameters(selected: list[Path], profile: str, overrides: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    """Each notebook's parameters (profile, then overrides), checked by the notebook's own rules first."""
    from .params import ParameterError

    known = {nb: defaults(nb) for nb in selected}
    unknown = sorted(set(overrides) - set().union(*known.values())) if known else sorted(overrides)
    if unknown:
        valid = sorted(set().union(*known.values()) - {"profile"}) if known else []
        raise UsageError(f"[run_all] unknown parameter(s) {unknown} for {[nb.stem for nb in selected]}; "
                         f"valid names: {', '.join(valid)}")
    plan = {}
    for nb, names in known.items():
        values = {**parameters(nb, profile), **{k: v for k, v in overrides.items() if k in names}}
        check = _code_cells(nb)[1] if len(_code_cells(nb)) > 1 else ""
        if len(values) > 1 and "validate(" in check:  # the notebook's own rules, before any run
            try:
                exec(check, {**names, **values})  # noqa: S102 - the notebook's validation cell
            except ParameterError as err:
                raise UsageError(f"[run_all] {nb.stem}: {err}") from None
        plan[nb] = values
    return plan


def preflight(names: tuple[str, ...] = ("mnist", "fashion_mnist")) -> bool:
    """Stop before any notebook runs when a data set is missing, naming the fetch command."""
    from .. import data

    missing = [name for name in names if not data.available(name)]
    if missing:
        print(f"[run_all] data missing: {', '.join(missing)}. Fetch it with:\n"
              f"    python -m halfway_utils.data fetch {' '.join(missing)}", file=sys.stderr, flush=True)
    return not missing


class StageEcho:
    """Prints the stage lines a kernel appends to its progress file, while the notebook runs."""

    def __init__(self, path: Path, name: str, out: Any, interval: float = 1.0):
        self.path, self.name, self.out, self.interval = path, name, out, interval
        self.lines: list[str] = []
        self._offset, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _drain(self) -> None:
        new, self._offset = progress.read_new(self.path, self._offset)
        for line in new:
            self.lines.append(line)
            print(f"[run_all]   {self.name} {line}", file=self.out, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def __enter__(self) -> StageEcho:
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()


def run_one(notebook: Path, values: dict[str, Any], timeout: int | None) -> dict[str, Any]:
    """Execute one notebook; return its row of the summary."""
    import papermill as pm

    executed = results_dir("executed") / notebook.name
    log_path = results_dir("logs") / f"{notebook.stem}.log"
    stages = results_dir("logs") / f"{notebook.stem}.progress"
    start = time.perf_counter()
    status, error = "ok", ""
    terminal = sys.stdout
    with environment(**{progress.ENV: str(stages)}), open(log_path, "w") as log, redirect_stdout(log), \
            redirect_stderr(log), StageEcho(stages, notebook.stem, terminal) as echo:  # the kernel inherits ENV
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=values,
                                cwd=str(notebook.parent), kernel_name="python3", log_output=True,
                                progress_bar=False, execution_timeout=timeout)
        except Exception as err:  # noqa: BLE001 - any failure is reported, the run goes on
            last = str(err).strip().splitlines()[-1][:300] if str(err).strip() else ""
            status, error = "FAILED", f"{type(err).__name__}: {last}"
            traceback.print_exc()
    with open(log_path, "a") as log:
        log.write("".join(f"[stage] {line}\n" for line in echo.lines))
    return {"notebook": notebook.stem, "status": status, "seconds": round(time.perf_counter() - start, 1),
            "log": str(log_path), "executed": str(executed), "error": error}


def last_timings(summary: Path) -> dict[str, float]:
    """Seconds per notebook of the last run that wrote ``summary`` (only the notebooks that passed)."""
    try:
        rows = json.loads(Path(summary).read_text())["notebooks"]
        return {r["notebook"]: float(r["seconds"]) for r in rows if r.get("status") == "ok"}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def machine() -> dict[str, Any]:
    """The machine a run's times belong to: the results' provenance, plus cores, device and platform."""
    import torch

    from .device import pick_device
    from .store import provenance

    device = pick_device()
    return {**provenance(), "cores": os.cpu_count(), "device": device.type,
            "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
            "cpu": platform.processor() or platform.machine(), "platform": platform.platform()}


def print_plan(plan: dict[Path, dict[str, Any]], profile: str, last: dict[str, float]) -> None:
    """The zoo models the run will train, with sizes and estimated time (full and paper profiles)."""
    from .. import plan as planning  # the model layer: only the runner, the top entry point, reaches up

    configs = planning.run_configs(plan.values())
    results_file = results_dir() / "00_data_and_models.json"
    planned = planning.plan(configs, results_file=results_file)
    print(f"[run_all] {profile} profile: " + planning.describe(
        planned, {nb.stem: last[nb.stem] for nb in plan if nb.stem in last}), flush=True)


def refuse_paper_on_cpu(profile: str, yes: bool) -> bool:
    """True (and says why) when the paper profile would start hours of CPU work without ``--yes``."""
    from .device import pick_device

    if profile != "paper" or yes or pick_device().type != "cpu":
        return False
    print("[run_all] the paper profile is meant for a GPU and this machine has none: stopping after the plan. "
          "Run it anyway with --yes, or use --profile full (the full training sets, sized for a CPU).",
          file=sys.stderr, flush=True)
    return True


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The run's summary as a fixed-width text table."""
    lines = [f"{'notebook':<28} {'status':<7} {'seconds':>8}"]
    lines += [f"{r['notebook']:<28} {r['status']:<7} {r['seconds']:>8.1f}" for r in rows]
    lines.append(f"{'total':<28} {'':<7} {sum(r['seconds'] for r in rows):>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected notebooks and print the summary; non-zero exit if any failed."""
    parser = argparse.ArgumentParser(prog="./run_all.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="names or numeric prefixes (default: all)")
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    parser.add_argument("--dir", type=Path, default=NOTEBOOKS, help="notebook folder (default: notebooks/)")
    parser.add_argument("--no-preflight", action="store_true", help="skip the data check")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter on top of the profile (repeatable; VALUE is YAML)")
    parser.add_argument("--yes", action="store_true", help="run the paper profile even without a GPU")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    parser.add_argument("--no-site", action="store_true", help="do not build the static site at the end")
    args = parser.parse_args(argv)
    try:
        selected = notebooks(args.notebooks, args.dir)
        overrides = parse_overrides(args.param)
        plan = plan_parameters(selected, args.profile, overrides)
    except UsageError as err:
        print(err, file=sys.stderr, flush=True)
        return 2
    if not args.no_preflight and not preflight():
        return 2
    # A profile other than quick writes under runs/<profile>/, a run with other parameters than its
    # profile's under runs/<profile>+<hash>/; the kernels inherit both variables.
    differs = run_differences(plan)
    root = outputs.run_root(args.profile, differs)
    if differs:
        print(f"[run_all] {outputs.sentence({'profile': args.profile, 'differs': differs})}\n"
              f"[run_all] outputs go to {root} (the project's record, figures/ and the README are left alone)",
              flush=True)
    with environment(HALFWAY_OUTPUT=str(root), **{outputs.RUN_ROOT: str(root)}), store.terminated_as_exit():
        sweep_debris(root)
        try:
            if differs:
                outputs.write_variant(root, args.profile, differs)
            return run(args, selected, overrides, plan, differs)
        finally:
            sweep_debris(root, own=True)


def run_differences(plan: dict[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every parameter whose value in this run differs from what its profile declares (committed files)."""
    differs: dict[str, dict[str, Any]] = {}
    for nb, values in plan.items():
        differs.update(outputs.differences(nb.stem, values, nb.parent))
    return differs


def sweep_debris(root: Path, *, own: bool = False) -> None:
    """Remove what interrupted writers left: temp files of dead processes, half-built sites."""
    folders = {Path(f).resolve() for f in (root, REPO_ROOT, cache_root())}
    for folder in folders:
        if not any(other in folder.parents for other in folders):  # a folder inside another is walked with it
            store.sweep_temporaries(folder, own=own)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore the old values."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(args: argparse.Namespace, selected: list[Path], overrides: dict[str, Any],
        plan: dict[Path, dict[str, Any]], differs: dict[str, dict[str, Any]] | None = None) -> int:
    """The run itself, once the command line is known to be good: plan, notebooks, summary."""
    last = last_timings(results_dir() / "run_summary.json")
    if args.profile != "quick" or args.plan_only:
        print_plan(plan, args.profile, last)
        if args.plan_only:
            return 0
        if refuse_paper_on_cpu(args.profile, args.yes):
            return 2
    os.environ.setdefault("HALFWAY_QUIET", "1")  # kernels inherit it: no progress bars
    # Idle OpenMP threads sleep instead of spinning: beside one other busy 2-thread job on this
    # 2-core CPU, spinning trained the MLP at 522 images/s and passive waits at 13,689.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The inline backend, so that each executed notebook (and its site page) carries its figures.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Kernel specs start 'python': make it the Python that runs this (the project's env).
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    # ...and let it import this checkout's halfway_utils even where it is not installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    rows, begin = [], time.perf_counter()
    for notebook in selected:
        extra = {k: v for k, v in plan[notebook].items() if k in overrides}
        hint = f"; last run {last[notebook.stem]:.0f}s" if notebook.stem in last else ""
        print(f"[run_all] {notebook.stem} ({args.profile}{', ' + str(extra) if extra else ''}{hint}) ...",
              flush=True)
        row = run_one(notebook, plan[notebook], args.timeout)
        print(f"[run_all] {notebook.stem}: {row['status']} in {row['seconds']:.1f}s"
              + (f"\n          {row['error']}\n          log: {row['log']}" if row["error"] else ""),
              flush=True)
        rows.append(row)
    write_json({"profile": args.profile, "overrides": overrides, "differs": differs or {}, "machine": machine(),
                "seconds": round(time.perf_counter() - begin, 1), "notebooks": rows},
               results_dir() / "run_summary.json")
    print("\n" + summary_table(rows), flush=True)
    failed = [r["notebook"] for r in rows if r["status"] != "ok"]
    if not args.no_site:
        from .site import build as build_site  # the entry point renders the evidence layer's ledger

        try:
            print(f"[run_all] site: {build_site().as_uri()}", flush=True)
        except Exception as err:  # noqa: BLE001 - the notebooks' summary stands; the failure is reported
            print(f"[run_all] site not built: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            failed.append("site")
    if failed:
        print(f"\n[run_all] {len(failed)} notebook(s) failed: {', '.join(failed)} "
              f"(logs in {results_dir('logs')})", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
