"""Where halfway reads data and writes caches, results and figures.

Every location can be moved with an environment variable, so tests and parallel
runs can write somewhere else than the repository:

- ``HALFWAY_DATA``: data sets (default ``<repo>/data``)
- ``HALFWAY_CACHE``: trained models and adversarial sets (default ``<repo>/cache``)
- ``HALFWAY_OUTPUT``: parent of ``results/`` and ``figures/`` (default ``<repo>``)

The quick profile writes there; any other profile writes under ``runs/<profile>/`` of it, and a
run with other parameters than its profile's under ``runs/<profile>+<hash>/``
(:func:`halfway_utils.infra.outputs.run_root`), so no run overwrites another profile's record.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """Directory holding the data sets in torchvision's layout."""
    return _env_path("HALFWAY_DATA", REPO_ROOT / "data")


def cache_root() -> Path:
    """Directory holding cached models and adversarial sets."""
    return _env_path("HALFWAY_CACHE", REPO_ROOT / "cache")


def output_root() -> Path:
    """Directory under which ``results/`` and ``figures/`` are written."""
    return _env_path("HALFWAY_OUTPUT", REPO_ROOT)


def results_dir(*parts: str) -> Path:
    """``<output>/results/<parts>``, created on demand."""
    path = output_root().joinpath("results", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir() -> Path:
    """``<output>/figures``, created on demand."""
    path = output_root() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path
