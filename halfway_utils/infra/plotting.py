"""One figure style for the project, and saving figures as PNG and PDF."""
from __future__ import annotations

from pathlib import Path

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "qt", "tk", "macosx")):
    matplotlib.use("Agg")  # headless runs (papermill, CI) need no display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from .paths import figures_dir  # noqa: E402

PALETTE = "colorblind"


def set_style() -> None:
    """The project's seaborn style: white grid, colour-blind palette, readable sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
                         "axes.titlesize": "medium", "figure.autolayout": False})


def save_figure(fig: plt.Figure, name: str) -> list[Path]:
    """Write ``figures/<name>.png`` and ``.pdf`` (reproducible: no timestamps); return the paths."""
    if not name or "/" in name or name.endswith((".png", ".pdf")):
        raise ValueError(f"figure name must be a bare stem like 'h1_flip_points', got {name!r}")
    folder = figures_dir()
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "Creator": None, "Producer": None})
    return [png, pdf]


class Figures:
    """A notebook's figure log: saves each figure and remembers its PNG for the claims ledger."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, fig: plt.Figure, name: str) -> plt.Figure:
        """Save ``fig`` as ``figures/<name>.png`` and ``.pdf`` and log the PNG; returns ``fig``."""
        save_figure(fig, name)
        self.names.append(f"figures/{name}.png")
        return fig


def image_grid(images: torch.Tensor, labels: list[str] | None = None, ncols: int = 10,
               ax_size: float = 1.0, title: str | None = None) -> plt.Figure:
    """A grid of (N, C, H, W) images in [0, 1] with optional captions."""
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * ax_size, nrows * ax_size * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().cpu()
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1))
        if labels is not None:
            ax.set_title(labels[i], fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
