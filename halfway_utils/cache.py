"""Atomic, checksummed on-disk cache entries.

An entry is one file: a magic header, the SHA-256 of the payload, then the payload
(``torch.save`` bytes). Writes go to a temporary file in the same directory and are
renamed into place, so a reader never sees half an entry and two writers of the
same key cannot interleave. A truncated or corrupted file fails the checksum and is
reported as :class:`CorruptCacheEntry`; :func:`load_or_build` then rebuilds it.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from .paths import cache_root

log = logging.getLogger(__name__)

MAGIC = b"HALFWAY-CACHE-1\n"
T = TypeVar("T")


class CorruptCacheEntry(RuntimeError):
    """A cache file exists but cannot be trusted (truncated, edited or foreign)."""


def config_key(config: Any) -> str:
    """Stable 16-hex-digit key for a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def entry_path(kind: str, key: str) -> Path:
    """Path of the cache entry ``key`` in the cache section ``kind``."""
    return cache_root() / kind / f"{key}.pt"


def save(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC)
            handle.write(hashlib.sha256(payload).digest())
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
