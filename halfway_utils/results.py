"""Writing measured numbers as JSON, atomically, with where they came from."""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .paths import REPO_ROOT, results_dir


def to_jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars and arrays, dataclasses with as_dict, and NaN/inf to JSON."""
    if hasattr(value, "as_dict"):
        return to_jsonable(value.as_dict())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return to_jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(data: Any, path: Path) -> Path:
    """Write JSON atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(to_jsonable(data), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
    return path


def provenance() -> dict[str, Any]:
    """Code version and machine: git commit, torch, device, platform."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"git_commit": commit, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cuda": torch.cuda.is_available(),
            "threads": torch.get_num_threads()}


def save_results(name: str, data: dict[str, Any], parameters: dict[str, Any] | None = None) -> Path:
    """Write ``results/<name>.json`` with the numbers, the parameters and provenance."""
    payload = {"name": name, "parameters": parameters or {}, "provenance": provenance(), "results": data}
    return write_json(payload, results_dir() / f"{name}.json")
