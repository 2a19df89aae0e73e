"""Notebook chores: build an .ipynb from a py-percent script, or strip outputs before a commit.

  python scripts/nbtools.py build notebooks/src.py notebooks/NN_name.ipynb
  python scripts/nbtools.py strip notebooks/*.ipynb

In the script, ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
(each line prefixed by ``# ``), and ``# %% tags=["parameters"]`` a tagged code cell.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def build(source: Path, target: Path) -> None:
    """Write ``target`` from the py-percent ``source``."""
    cells, kind, tags, lines = [], None, [], []

    def flush() -> None:
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in text.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            if tags:
                cell.metadata["tags"] = tags
            cells.append(cell)

    for line in source.read_text().splitlines():
        match = HEADER.match(line)
        if match:
            flush()
            kind = "markdown" if match.group("md") else "code"
            tags = json.loads(match.group("tags")) if match.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.write(nb, target)


def strip(path: Path) -> None:
    """Remove outputs, execution counts and papermill metadata in place."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "build":
        build(Path(paths[0]), Path(paths[1]))
    elif command == "strip":
        for p in paths:
            strip(Path(p))
    else:
        raise SystemExit(__doc__)
