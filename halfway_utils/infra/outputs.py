"""Where a run writes: the profile's own record, or a folder of its own when its parameters differ.

The project's record (``results/`` and ``figures/`` for quick, ``runs/<profile>/`` for another
profile, and the README's verdict table) is written only by a run with exactly the parameters its
profile declares in the committed notebooks and ``notebooks/params/<profile>/*.yaml``. A run with
any other value (``./run_all.sh -p ...``, a YAML or parameters cell edited and not committed, or
papermill with ``-p``) writes under ``runs/<profile>+<hash>/`` instead, where ``<hash>`` is a short
hash of the values that differ, and ``results/variant.json`` there says which values and how.

The runner routes a whole run (:func:`run_root`) and tells its kernels through ``HALFWAY_RUN_ROOT``;
a notebook executed by hand routes itself from the parameters it received (:func:`route`).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .paths import REPO_ROOT, output_root
from .store import git, write_json

RUN_ROOT = "HALFWAY_RUN_ROOT"  # set by the runner for its kernels: the run is already routed
NEUTRAL = frozenset({"torch_threads", "show_figures"})  # how to run, not what is measured
VARIANT_FILE = "variant.json"
NOTEBOOKS = REPO_ROOT / "notebooks"


def committed_text(path: Path) -> str | None:
    """The file as committed at HEAD, or as on disk where there is no git history for it."""
    path = Path(path)
    try:
        committed = git("show", f"HEAD:{path.resolve().relative_to(REPO_ROOT).as_posix()}")
    except ValueError:  # outside the repository
        committed = None
    if committed is not None:
        return committed
    return path.read_text() if path.exists() else None


def parameters_cell(script: str) -> str:
    """The source of the ``parameters`` cell of a py:percent notebook script."""
    lines, inside, cell = script.splitlines(), False, []
    for line in lines:
        if line.startswith("# %%"):
            if inside:
                break
            inside = 'tags=["parameters"]' in line
            continue
        if inside:
            cell.append(line)
    if not cell:
        raise ValueError("no cell tagged 'parameters' in the notebook script")
    return "\n".join(cell)


def profile_values(notebook: str, profile: str, folder: Path = NOTEBOOKS) -> dict[str, Any]:
    """A notebook's parameters as its profile declares them in the committed files."""
    script = committed_text(Path(folder) / f"{notebook}.py")
    if script is not None:
        cell = parameters_cell(script)
    else:  # a notebook without its py:percent twin
        import nbformat

        text = committed_text(Path(folder) / f"{notebook}.ipynb")
        if text is None:
            raise FileNotFoundError(f"no notebook {notebook}.py or {notebook}.ipynb in {folder}")
        cells = [c for c in nbformat.reads(text, 4).cells if "parameters" in c.metadata.get("tags", [])]
        cell = cells[0].source if cells else ""
    namespace: dict[str, Any] = {}
    exec(cell, namespace)  # noqa: S102 - the project's own literals
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    if profile != "quick":
        text = committed_text(Path(folder) / "params" / profile / f"{notebook}.yaml")
        values.update(yaml.safe_load(text or "") or {})
    values["profile"] = profile
    return values


def _normal(value: Any) -> Any:
    """Lists and tuples alike, ints and equal floats alike: how papermill and YAML hand values over."""
    return json.loads(json.dumps(value, default=str))


def differences(notebook: str, values: Mapping[str, Any], folder: Path = NOTEBOOKS) -> dict[str, dict[str, Any]]:
    """``{name: {"profile": declared, "run": received}}`` for every measured parameter that differs."""
    declared = profile_values(notebook, str(values.get("profile", "quick")), folder)
    out = {}
    for name, value in values.items():
        if name in NEUTRAL or name == "profile":
            continue
        if name not in declared or _normal(declared[name]) != _normal(value):
            out[name] = {"profile": declared.get(name), "run": value}
    return out


def variant_name(profile: str, differs: Mapping[str, Mapping[str, Any]]) -> str:
    """``<profile>`` for the profile's own parameters, else ``<profile>+<8 hex digits of the differences>``."""
    if not differs:
        return profile
    blob = json.dumps({k: _normal(v["run"]) for k, v in sorted(differs.items())}, sort_keys=True)
    return f"{profile}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def run_root(profile: str, differs: Mapping[str, Mapping[str, Any]] | None = None, base: Path | None = None) -> Path:
    """The folder a run writes ``results/`` and ``figures/`` into."""
    base = output_root() if base is None else Path(base)
    name = variant_name(profile, differs or {})
    return base if name == "quick" else base / "runs" / name


def is_variant(root: Path | None = None) -> bool:
    """True when ``root`` (default: the current output root) holds a run with other parameters."""
    return describe(root) is not None


def describe(root: Path | None = None) -> dict[str, Any] | None:
    """The variant record of a run folder (which parameters differ), or None for a profile's own run."""
    path = (output_root() if root is None else Path(root)) / "results" / VARIANT_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_variant(root: Path, profile: str, differs: Mapping[str, Mapping[str, Any]], notebook: str | None = None
                  ) -> None:
    """Record in ``root/results/variant.json`` which parameters differ from the profile (merged per notebook)."""
    current = describe(root) or {"profile": profile, "differs": {}, "notebooks": {}}
    current["differs"].update({k: dict(v) for k, v in differs.items()})
    if notebook:
        current["notebooks"][notebook] = sorted(differs)
    write_json(current, Path(root) / "results" / VARIANT_FILE)


def sentence(record: Mapping[str, Any] | None) -> str:
    """One line for a report or a page: which parameters this run changed, or ''."""
    if not record:
        return ""
    parts = [f"{k}={json.dumps(v['run'])} (profile: {json.dumps(v['profile'])})"
             for k, v in sorted(record["differs"].items())]
    return (f"Not the project's record: this run of the {record['profile']} profile used other parameters: "
            + "; ".join(parts) + ".")


def route(notebook: str, values: Mapping[str, Any], folder: Path = NOTEBOOKS) -> Path:
    """Point this process's outputs at the right folder for the parameters received; return it.

    Under the runner the run is already routed (``HALFWAY_RUN_ROOT``); a notebook run by hand
    (papermill with ``-p`` or ``-f``) routes itself, so it never writes into the project's record
    with other parameters than its profile's.
    """
    differs = differences(notebook, values, folder)
    profile = str(values.get("profile", "quick"))
    routed = os.environ.get(RUN_ROOT)
    if routed:
        root = Path(routed)
        if differs and not is_variant(root):
            raise RuntimeError(f"{notebook}: parameters {sorted(differs)} differ from the {profile} profile, but the "
                               f"runner routed this run to the profile's record {root}; rerun through ./run_all.sh")
    else:
        root = run_root(profile, differs)
        os.environ["HALFWAY_OUTPUT"] = str(root)
    if differs:
        write_variant(root, profile, differs, notebook)
        print(sentence(describe(root)) + f"\nOutputs go to {root}.")
    return root
