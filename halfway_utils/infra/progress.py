"""Stage lines: where a long notebook is, for the terminal and the run's log.

A notebook run by ``./run_all.sh`` has ``HALFWAY_PROGRESS`` set to a file; :func:`stage`
appends one line to it (the elapsed time since the kernel started, then the message),
and the runner prints each new line as it arrives and keeps them in the notebook's log.
Nothing goes into the notebook's outputs. Without the variable (a live notebook, a
test) :func:`stage` writes to stderr when interactive and is silent otherwise.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .device import interactive

_START = time.monotonic()
ENV = "HALFWAY_PROGRESS"


def elapsed() -> str:
    """Time since this process imported the module, as ``m:ss``."""
    seconds = int(time.monotonic() - _START)
    return f"{seconds // 60}:{seconds % 60:02d}"


def stage(message: str) -> None:
    """Report one stage of a long computation (a line in the run's terminal and log)."""
    line = f"[{elapsed()}] {message}"
    target = os.environ.get(ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    elif interactive():
        print(line, file=sys.stderr, flush=True)


def read_new(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines appended to ``path`` since byte ``offset``, and the new offset."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    return complete.decode("utf-8", "replace").splitlines(), offset + len(complete)
