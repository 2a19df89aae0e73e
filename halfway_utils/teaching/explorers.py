"""One explorer per notebook: a figure of its central idea that a slider moves.

Each figure function takes the objects its notebook has already computed and the slider's value
and returns a matplotlib Figure; :func:`explorer` shows it under ipywidgets controls in a live
notebook and draws it once, at the default value, under papermill, CI or a pipe (where widgets
cannot run), so a notebook's explorer cell is one call and holds no ``def``::

    explorers.explorer(explorers.epsilon_figure, bundles["mnist"], 10, eps=(0.0, 0.3, 0.01, 0.1))

A control is a tuple ``(low, high, step)`` or ``(low, high, step, value)`` (a slider; integers
give an integer slider), or a list of options or ``choice(options, value)`` (a dropdown, or a
selection slider when the options are numbers). Without a value the figure function's own
default is used where it is valid, else ``low`` or the first option.

- 01 :func:`path_figure`: the image at t on a path between two training samples, each model's softmax;
- 02 :func:`shared_error_figure`: a test input the pixel 1-NN rule gets wrong, its nearest
  training sample and whether each network makes the same error (H2's shared-error kappa);
- 03 :func:`epsilon_figure`: a PGD image at eps from one source model and every model's prediction;
- 04 :func:`occupancy_figure`: the SOM occupancy by class at a chosen layer and the depth profile;
- 05 :func:`hull_figure`: hull and nearest-neighbour distance of one test image against the first
  n training samples.
"""
from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import ListedColormap

from .. import data
from ..experiments.boundaries.morph import MorphPath
from ..experiments.convex_hull.tables import Split
from ..experiments.generalization.agreement import DataSet
from ..experiments.som_codes.zoo_codes import N_CLASSES, FittedModel
from ..experiments.transfer.bundles import Bundle
from ..infra import device
from ..infra.plotting import PALETTE
from ..methods import attacks, hull, neighbors
from ..methods.codes import code_metrics, occupancy


@dataclass(frozen=True)
class Choice:
    """Options for a dropdown or selection slider, starting at ``value``."""

    options: tuple
    value: Any


def choice(options: Sequence[Any], value: Any) -> Choice:
    """Options starting at ``value`` (which must be one of them)."""
    if value not in options:
        raise ValueError(f"{value!r} is not one of the options {list(options)}")
    return Choice(tuple(options), value)


Control = tuple | list | Choice


# --- the explorer ---------------------------------------------------------------------------------

def _live() -> bool:
    """Widgets can run: an interactive session inside a Jupyter kernel (not papermill, CI or a terminal)."""
    return device.interactive() and "ipykernel" in sys.modules


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def default_values(fn: Callable[..., Any], controls: Mapping[str, Control]) -> dict[str, Any]:
    """The value each control starts at: its own, else ``fn``'s default when valid, else its low end / first option."""
    signature = inspect.signature(fn).parameters
    values = {}
    for name, control in controls.items():
        own = signature[name].default if name in signature else inspect.Parameter.empty
        if isinstance(control, Choice):
            values[name] = control.value
        elif isinstance(control, list):
            if not control:
                raise ValueError(f"control {name!r} has no options")
            values[name] = own if own is not inspect.Parameter.empty and own in control else control[0]
        elif isinstance(control, tuple) and len(control) in (3, 4) and all(map(_is_number, control)):
            low, high = control[0], control[1]
            value = control[3] if len(control) == 4 else own
            values[name] = value if _is_number(value) and low <= value <= high else low
        else:
            raise ValueError(f"control {name!r} must be (low, high, step[, value]) or a list of options, "
                             f"got {control!r}")
    return values


def widgets_for(controls: Mapping[str, Control], values: Mapping[str, Any]) -> dict[str, Any]:
    """An ipywidgets control per entry, starting at ``values``; they update on release (figures retrain, attack)."""
    import ipywidgets as widgets

    out = {}
    for name, control in controls.items():
        if isinstance(control, (list, Choice)):
            options = list(control.options if isinstance(control, Choice) else control)
            kind = widgets.SelectionSlider if all(map(_is_number, options)) else widgets.Dropdown
            out[name] = kind(options=options, value=values[name], description=name)
        else:
            low, high, step = control[:3]
            whole = all(isinstance(v, (int, np.integer)) for v in (low, high, step))
            kind = widgets.IntSlider if whole else widgets.FloatSlider
            out[name] = kind(value=values[name], min=low, max=high, step=step, description=name,
                             continuous_update=False)
    return out


def explorer(fn: Callable[..., plt.Figure], *objects: Any, **controls: Control) -> plt.Figure | None:
    """``fn(*objects, **values)`` under live controls in a notebook, or drawn once at the defaults.

    Returns the static Figure (None when the widgets are shown: they draw their own figures).
    """
    values = default_values(fn, controls)
    if not _live():
        return fn(*objects, **values)
    import ipywidgets as widgets
    from IPython.display import display

    def show(**chosen: Any) -> None:
        fig = fn(*objects, **chosen)
        display(fig)
        plt.close(fig)  # shown once: the inline backend would draw an open figure again

    display(widgets.interactive(show, **widgets_for(controls, values)))
    return None


def show_image(ax: plt.Axes, image: torch.Tensor, title: str) -> None:
    """One (C, H, W) image in [0, 1] without axes: grey for one channel, colour for three."""
    img = torch.as_tensor(image).detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy()
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


# --- 01: a path between two training samples ---------------------------------------------------------

def path_figure(path: MorphPath, t: float = 0.5) -> plt.Figure:
    """The image at ``t`` on notebook 01's morph path and each model's class probabilities there."""
    k = int(round(float(np.clip(t, 0.0, 1.0)) * (len(path.ts) - 1)))
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.9), gridspec_kw={"width_ratios": [1, 2.2]})
    show_image(axes[0], path.segment[k], f"t = {float(path.ts[k]):.2f}\n{path.classes[path.class_a]} → "
               f"{path.classes[path.class_b]}")
    n, width = max(len(path.probs), 1), 0.8 / max(len(path.probs), 1)
    for i, (arch, probs) in enumerate(path.probs.items()):
        axes[1].bar(np.arange(len(path.classes)) + width * (i - (n - 1) / 2), probs[k].cpu().numpy(), width=width,
                    label=arch)
    axes[1].set(xticks=range(len(path.classes)), ylim=(0, 1), ylabel="softmax")
    axes[1].set_xticklabels(path.classes, rotation=45, ha="right", fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- 02: where the pixel 1-NN rule errs ---------------------------------------------------------------

OUTCOMES = ("same error as the 1-NN", "correct", "another error")


def nn_errors(d: DataSet) -> np.ndarray:
    """Indices of the test inputs that the pixel 1-NN rule labels wrongly (H2's primary looks only there)."""
    return np.flatnonzero((d.pixel_nn != d.y_test).numpy())


def error_outcomes(per_sample: pd.DataFrame, dataset: str, i: int) -> pd.DataFrame:
    """What each model of notebook 02's table predicts on test input ``i`` of ``dataset``: one row per
    (arch, seed) with its prediction and ``outcome``, an index into :data:`OUTCOMES`."""
    rows = per_sample[per_sample["dataset"] == dataset].groupby(["arch", "seed"], sort=False).nth(int(i))
    same = rows["pred"].to_numpy() == rows["pixel_nn"].to_numpy()
    right = rows["pred"].to_numpy() == rows["label"].to_numpy()
    out = rows[["arch", "seed", "label", "pixel_nn", "pred", "fitted"]].reset_index(drop=True)
    return out.assign(outcome=np.where(same, 0, np.where(right, 1, 2)))


def shared_error_figure(data_sets: Mapping[str, DataSet], per_sample: pd.DataFrame, dataset: str,
                        k: int = 0) -> plt.Figure:
    """The ``k``-th test input the pixel 1-NN rule gets wrong, its nearest training sample, and what each
    model of notebook 02's zoo predicts there: the 1-NN's wrong label, the right one or another."""
    d, classes = data_sets[dataset], data.info(dataset).classes
    errors = nn_errors(d)
    k = int(np.clip(k, 0, len(errors) - 1))
    i = int(errors[k])
    j = int(neighbors.nearest(d.x_test[i:i + 1], d.x_train)[0][0])
    rows = error_outcomes(per_sample, dataset, i)
    archs, seeds = list(dict.fromkeys(rows["arch"])), sorted(set(rows["seed"]))
    grid = np.full((len(archs), len(seeds)), np.nan)
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.2), gridspec_kw={"width_ratios": [1, 1, 2.4]})
    for ax, img, title in ((axes[0], d.x_test[i], f"test input: {classes[int(d.y_test[i])]}"),
                           (axes[1], d.x_train[j], f"nearest training sample:\n{classes[int(d.y_train[j])]} "
                                                    "(the 1-NN's label)")):
        show_image(ax, img, title)
    for r in rows.itertuples():
        a, s = archs.index(r.arch), seeds.index(r.seed)
        grid[a, s] = r.outcome
        axes[2].text(s, a, classes[int(r.pred)] + ("" if r.fitted else "\n(not fitted)"), ha="center",
                     va="center", fontsize=7)
    colours = sns.color_palette(PALETTE, 8)
    axes[2].imshow(grid, cmap=ListedColormap([colours[1], colours[2], colours[7]]), vmin=-0.5, vmax=2.5,
                   aspect="auto", alpha=0.7)
    axes[2].set(xticks=range(len(seeds)), yticks=range(len(archs)), yticklabels=archs)
    axes[2].set_xticklabels([f"seed {s}" for s in seeds], fontsize=8)
    axes[2].grid(False)
    axes[2].set_title(f"each model's prediction: {int((rows.outcome == 0).sum())} of {len(rows)} make the 1-NN's "
                      "error\n(orange: the same error, green: correct, grey: another error)", fontsize=9)
    fig.suptitle(f"{dataset}: input {k + 1} of the {len(errors)} test inputs the pixel 1-NN rule gets wrong",
                 fontsize=10)
    fig.tight_layout()
    return fig


# --- 03: an adversarial image at eps --------------------------------------------------------------------

def adversarial_predictions(bundle: Bundle, eps: float, source: str, index: int, steps: int = 10
                            ) -> tuple[torch.Tensor, pd.DataFrame]:
    """PGD (L∞, ``steps`` steps, seed 0) at ``eps`` on test input ``index`` from the ``source`` model, and
    every model's class and softmax on the result (``fooled``: not the true label)."""
    x, y = bundle.x[index:index + 1], bundle.y[index:index + 1]
    x_adv = attacks.pgd(bundle.models[source], x, y, float(eps), steps=steps, seed=0)
    rows = []
    with torch.no_grad():
        for name, model in bundle.models.items():
            p = torch.softmax(model(x_adv.to(next(model.parameters()).device)), 1)[0].cpu()
            rows.append({"model": name, "pred": int(p.argmax()), "softmax": float(p.max()),
                         "fooled": int(p.argmax()) != int(y[0])})
    return x_adv, pd.DataFrame(rows)


def epsilon_figure(bundle: Bundle, steps: int = 10, eps: float = 0.1, source: str | None = None, index: int = 0
                   ) -> plt.Figure:
    """Test input ``index``, its PGD image (``steps`` steps) at ``eps`` from ``source`` (default: the bundle's
    first model) and every model's prediction on it: white-box for the source, transfer for the others."""
    source = next(iter(bundle.models)) if source is None else source
    index = int(np.clip(index, 0, len(bundle.x) - 1))
    x_adv, preds = adversarial_predictions(bundle, eps, source, index, steps)
    classes = data.info(bundle.name).classes
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.9 + 0.24 * max(len(preds), 8)),
                             gridspec_kw={"width_ratios": [1, 1, 2.2]})
    for ax, img, title in ((axes[0], bundle.x[index], f"clean: {classes[int(bundle.y[index])]}"),
                           (axes[1], x_adv[0], f"PGD ε = {float(eps):.2f} from {source}")):
        show_image(ax, img, title)
    axes[2].barh(range(len(preds)), preds["softmax"], color=np.where(preds["fooled"], "C3", "C2"))
    for row, r in enumerate(preds.itertuples()):
        axes[2].text(0.02, row, f"{r.model}{' (source)' if r.model == source else ''}: {classes[r.pred]}",
                     va="center", fontsize=7)
    axes[2].set(yticks=[], xlim=(0, 1), xlabel="softmax of the predicted class", ylim=(len(preds) - 0.5, -0.5))
    axes[2].set_title(f"{int(preds['fooled'].sum())} of {len(preds)} models fooled (red)", fontsize=9)
    fig.tight_layout()
    return fig


# --- 04: SOM occupancy by class at one layer ----------------------------------------------------------------

def occupancy_figure(fitted: Mapping[tuple[str, str, int], FittedModel], key: tuple[str, str, int],
                     layer: str | None = None) -> plt.Figure:
    """The SOM of ``layer`` (default: the first hidden one) of one model coloured by each unit's majority
    class (opacity = purity, white = unused), beside every layer's purity and normalized MI."""
    f = fitted[key]
    layers = list(f.mapper.layers)
    layer = layers[1] if layer is None else layer
    occ = occupancy(f.clean[layer], f.y, f.mapper.rows, f.mapper.cols, N_CLASSES).numpy()
    hits = occ.sum(-1)
    purity = np.where(hits > 0, occ.max(-1) / np.maximum(hits, 1), 0.0)
    palette = np.array(sns.color_palette("tab10", N_CLASSES))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    axes[0].imshow(np.concatenate([palette[occ.argmax(-1)], purity[..., None]], axis=-1), interpolation="nearest")
    for (r, c), n in np.ndenumerate(hits):
        if n:
            axes[0].text(c, r, str(occ[r, c].argmax()), ha="center", va="center", fontsize=6)
    axes[0].set(xticks=[], yticks=[])
    axes[0].grid(False)
    metrics = pd.DataFrame([code_metrics(f.clean[name], f.y, f.mapper.n_units, N_CLASSES) for name in layers],
                           index=layers)
    axes[0].set_title(f"{'/'.join(map(str, key))} · {layer}\npurity {metrics.loc[layer, 'purity']:.2f}, "
                      f"norm. MI {metrics.loc[layer, 'normalized_mi']:.2f}", fontsize=9)
    for column in ("purity", "normalized_mi"):
        axes[1].plot(range(len(layers)), metrics[column], "o-", label=column.replace("_", " "))
    axes[1].axvline(layers.index(layer), color="grey", ls="--", lw=0.8)
    axes[1].set(xticks=range(len(layers)), ylim=(0, 1.02), ylabel="value")
    axes[1].set_title("every layer (dashed: the one shown)", fontsize=9)
    axes[1].set_xticklabels(layers, rotation=30, ha="right", fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- 05: one test image against a growing training set ---------------------------------------------------------

def hull_sizes(n_max: int, n_min: int = 10, count: int = 8) -> list[int]:
    """Training-set sizes, evenly spaced on a log scale from ``n_min`` to ``n_max``."""
    return sorted({int(round(v)) for v in np.geomspace(min(n_min, n_max), n_max, count)})


def hull_distances(x_train: torch.Tensor, query: torch.Tensor, sizes: Sequence[int], tol: float = 1e-6
                   ) -> pd.DataFrame:
    """Hull and NN distance of one query to the first ``n`` training samples, for each ``n`` (nested sets)."""
    flat, q = x_train.flatten(1).double().numpy(), query.flatten().double().numpy()
    rows = []
    for n in sizes:
        h = hull.distance(flat[:n], q[None], tol=tol)
        index, nn = neighbors.nearest(q[None], flat[:n])
        rows.append({"n_train": n, "hull": float(h.distance[0]), "nn": float(nn[0]), "nn_index": int(index[0]),
                     "closest": h.closest[0]})
    return pd.DataFrame(rows)


def hull_figure(split: Split, n_train: int | None = None, query: int = 0, tol: float = 1e-6) -> plt.Figure:
    """Test image ``query``, its nearest of the first ``n_train`` training samples, its closest point of their
    convex hull, and both distances against the training-set size (the sets are nested: the hull only grows)."""
    n_max = len(split.x_train)
    n = n_max if n_train is None else int(np.clip(n_train, 1, n_max))
    q = split.x_query[int(np.clip(query, 0, len(split.x_query) - 1))]
    curve = hull_distances(split.x_train, q, sorted(set(hull_sizes(n_max)) | {n}), tol)
    now = curve[curve["n_train"] == n].iloc[0]
    shape = tuple(q.shape)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.0), gridspec_kw={"width_ratios": [1, 1, 1, 2]})
    images = ((q, "test image"), (split.x_train[int(now["nn_index"])], f"nearest of {n}: {now['nn']:.2f}"),
              (torch.as_tensor(now["closest"]).reshape(shape), f"closest hull point: {now['hull']:.2f}"))
    for ax, (img, title) in zip(axes, images):
        show_image(ax, img, title)
    axes[3].plot(curve["n_train"], curve["nn"], "s--", label="nearest training sample")
    axes[3].plot(curve["n_train"], curve["hull"], "o-", label="convex hull")
    axes[3].axvline(n, color="grey", ls=":", lw=0.8)
    axes[3].set(xscale="log", xlabel="training samples (the first n)", ylabel="L2 distance (pixels)", ylim=(0, None))
    axes[3].set_title(f"hull / NN = {now['hull'] / now['nn']:.2f} at n = {n}" if now["nn"] > 0 else f"n = {n}",
                      fontsize=9)
    axes[3].legend(fontsize=8)
    fig.tight_layout()
    return fig
