"""Everything halfway writes to disk: atomic files, checksummed cache entries, JSON results.

One writer, :func:`atomic_write`, puts bytes in place: a temporary file in the same
directory, fsync, rename; the temporary file is removed if anything fails, so a reader
never sees half a file and two writers of the same path cannot interleave.

Cache entries (trained models, adversarial sets) are one file each: a magic header, the
SHA-256 of the payload, then the payload (``torch.save`` bytes). A truncated or edited
file fails the checksum and is reported as :class:`CorruptCacheEntry`;
:func:`load_or_build` then rebuilds it. Results are JSON with their provenance.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .paths import REPO_ROOT, cache_root, results_dir

log = logging.getLogger(__name__)

MAGIC = b"HALFWAY-CACHE-1\n"
T = TypeVar("T")


class CorruptCacheEntry(RuntimeError):
    """A cache file exists but cannot be trusted (truncated, edited or foreign)."""


def atomic_write(path: Path, payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` atomically: temp file, fsync, rename; temp removed on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = payload.encode() if isinstance(payload, str) else payload
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- cache

def config_key(config: Any) -> str:
    """Stable 16-hex-digit key for a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def entry_path(kind: str, key: str) -> Path:
    """Path of the cache entry ``key`` in the cache section ``kind``."""
    return cache_root() / kind / f"{key}.pt"


def save(obj: Any, path: Path) -> None:
    """Write ``obj`` as a checksummed cache entry at ``path``, atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    atomic_write(path, MAGIC + hashlib.sha256(payload).digest() + payload)


def load(path: Path) -> Any:
    """Read an entry written by :func:`save`; raise CorruptCacheEntry if it fails its checksum."""
    path = Path(path)
    raw = path.read_bytes()
    header = len(MAGIC) + 32
    if len(raw) < header or not raw.startswith(MAGIC):
        raise CorruptCacheEntry(f"{path}: not a halfway cache entry (bad header)")
    digest, payload = raw[len(MAGIC):header], raw[header:]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCacheEntry(f"{path}: checksum mismatch (truncated or corrupted)")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


def load_or_build(path: Path, build: Callable[[], T], *, use_cache: bool = True) -> tuple[T, bool]:
    """Return ``(value, hit)``: the cached value, or ``build()`` saved atomically on a miss.

    A corrupt entry is logged, deleted and rebuilt.
    """
    path = Path(path)
    if use_cache and path.exists():
        try:
            return load(path), True
        except CorruptCacheEntry as err:
            log.warning("%s; rebuilding it", err)
            path.unlink(missing_ok=True)
    value = build()
    if use_cache:
        save(value, path)
    return value, False


# ----------------------------------------------------------------------------- results

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
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    return atomic_write(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


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
