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
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .paths import REPO_ROOT, cache_root, results_dir

log = logging.getLogger(__name__)

MAGIC = b"HALFWAY-CACHE-1\n"
TEMP_SUFFIX = ".tmp"  # atomic_write's temp files: .<name>.<pid>.<random>.tmp beside the target
BUILDING = ".building-"  # a folder being built (the site): .<name>.building-<pid>
_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")
_SKIP = {".git", ".venv", "node_modules", "data", "__pycache__", ".pytest_cache"}
T = TypeVar("T")


class CorruptCacheEntry(RuntimeError):
    """A cache file exists but cannot be trusted (truncated, edited or foreign)."""


@contextmanager
def terminated_as_exit() -> Iterator[None]:
    """Inside the block SIGTERM raises SystemExit, so ``finally`` clauses (temp files) run as on Ctrl-C.

    Only in the main thread (elsewhere signals cannot be handled); the old handler is restored after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def atomic_write(path: Path, payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` atomically: temp file, fsync, rename; temp removed on error or SIGTERM."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = payload.encode() if isinstance(payload, str) else payload
    with terminated_as_exit():
        return _write_replace(path, data)


def _write_replace(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
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


def writer_alive(pid: int) -> bool:
    """True while process ``pid`` runs (the writer of a temp file or a half-built folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(folder: Path, *, own: bool = False) -> list[Path]:
    """Remove temp files and half-built folders under ``folder`` whose writer is gone; return them.

    A writer is gone when its process no longer runs (``own=True`` counts this process as gone:
    at the end of a run nothing of its own is still being written).
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed

    def gone(pid: int) -> bool:
        return (own and pid == os.getpid()) or not writer_alive(pid)

    for here, dirs, files in os.walk(folder):
        for name in list(dirs):
            pid = name.rpartition(BUILDING)[2]
            if name.startswith(".") and BUILDING in name and pid.isdigit() and gone(int(pid)):
                shutil.rmtree(Path(here) / name, ignore_errors=True)
                removed.append(Path(here) / name)
        dirs[:] = [d for d in dirs if d not in _SKIP and (Path(here) / d) not in removed]
        for name in files:
            match = _TEMP.match(name)
            if match and gone(int(match.group(1))):
                (Path(here) / name).unlink(missing_ok=True)
                removed.append(Path(here) / name)
    return removed


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


def git(*args: str, root: Path | None = None) -> str | None:
    """``git -C root ARGS``'s output (root: the repository), or None when git is missing, times out or fails."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT if root is None else root), *args], capture_output=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode(errors="replace") if out.returncode == 0 else None


# What a run writes into the checkout (its record and the README's verdict block): not code, so a run's
# own outputs do not make the tree it ran on count as edited.
OUTPUTS = tuple(f":(exclude){p}" for p in ("results", "figures", "runs", "site", "README.md"))


def code_state() -> dict[str, Any]:
    """The code a result came from: the commit, whether the tree differed from it, and a hash of the difference.

    ``git_dirty`` counts edits to tracked files and untracked files git does not ignore, outside what
    runs write (``results/``, ``figures/``, ``runs/``, ``site/`` and the README, :data:`OUTPUTS`);
    ``git_diff_sha256`` hashes ``git diff HEAD`` plus the untracked files' names and contents
    (16 hex digits; None when clean), so two edited trees can be told apart.
    """
    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None, "git_diff_sha256": None}
    diff = git("diff", "HEAD", "--binary", "--", ".", *OUTPUTS) or ""
    untracked = [n for n in (git("ls-files", "--others", "--exclude-standard", "-z", "--", ".", *OUTPUTS)
                             or "").split("\0") if n]
    digest = hashlib.sha256(diff.encode())
    for name in sorted(untracked):
        digest.update(name.encode())
        try:
            digest.update((REPO_ROOT / name).read_bytes())
        except OSError:
            pass
    dirty = bool(diff or untracked)
    return {"git_commit": commit.strip() or None, "git_dirty": dirty,
            "git_diff_sha256": digest.hexdigest()[:16] if dirty else None}


def provenance() -> dict[str, Any]:
    """Code version and machine: git commit with its dirty flag and diff hash, torch, device, platform."""
    return {**code_state(), "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cuda": torch.cuda.is_available(),
            "threads": torch.get_num_threads()}


def save_results(name: str, data: dict[str, Any], parameters: dict[str, Any] | None = None) -> Path:
    """Write ``results/<name>.json`` with the numbers, the parameters and provenance."""
    payload = {"name": name, "parameters": parameters or {}, "provenance": provenance(), "results": data}
    return write_json(payload, results_dir() / f"{name}.json")
