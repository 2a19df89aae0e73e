# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Where the boundary sits between two training samples (H1)
#
# **Our reading of the claim.** *Meet You Halfway* (BenShmuel 2022) explains generalization and
# transfer by where decision boundaries lie. Only its abstract is public to us, so the
# hypothesis tested here is **our reading** of it (H1 in `../shared/PAPERS.md`):
#
# > On the straight segment x(t) = (1-t)·a + t·b between two training samples a, b of different
# > classes, a trained network switches its decision near t = 0.5: the two samples meet halfway.
#
# **What we measure.** For every model of the zoo (mlp, cnn, resnet on MNIST and Fashion-MNIST,
# several seeds) we scan pairs of samples with `boundary.scan_paths` and record every flip point
# t: train-train pairs of different classes (the claim), same-class pairs (a control: most
# should never flip) and test-train pairs (does it hold off the training set?). We also count
# paths that pass through a third class, compare first and last flips, relate the flip point to
# the pair's distance ||a-b||, and follow the flips of one model epoch by epoch.
#
# **Decision rule.** Pooled over all models, on train-train pairs of different classes:
# the median of |first flip − 0.5| is below 0.1 **and** more than half of the first flips lie in
# [0.4, 0.6], both on the whole 95% bootstrap interval. The ledger computes the verdict.
# The computations live in `halfway_utils/experiments/boundaries.py`, the rule is
# `boundaries.H1_CONDITIONS` there.

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1]
n_train = 2000
n_test = 2000
n_pairs = 300
grid = 17
history_arch = "mlp"
history_dataset = "mnist"
history_epochs = [0, 1, 2, 4, 6, 10]
n_boot = 1000
device = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import boundaries
from halfway_utils.infra import params

P = params.validate(locals(), boundaries.PARAMETERS)

# %% [markdown]
# Imports and the project's figure style; `figs` logs every saved figure for the ledger.

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from halfway_utils.infra import plotting
from halfway_utils.infra.device import interactive

plotting.set_style()
figs = plotting.Figures()

# %% [markdown]
# ## Data and pairs
# All models of one data set share the same training and test subsets (`data_seed=0`), so the
# same pairs are scanned by every model: differences between models are not sampling noise.
# Three kinds: train-train of different classes, train-train of the same class, test-train of
# different classes.

# %%
sets = boundaries.load_sets(datasets, archs[0], n_train=n_train, n_test=n_test)
pairs = {name: boundaries.draw_pairs(sets[name], n_pairs) for name in datasets}
print({k: len(v[2]) for k, v in pairs[datasets[0]].items()}, "pairs per model")

# %% [markdown]
# ## Scan every model on every pair
# One batched scan per (model, pair kind) finds every flip along each segment (coarse grid of
# `grid` points, then refinement to 1e-4 in t). Models come from the zoo's cache.

# %%
scan = boundaries.scan_zoo(datasets, archs, seeds, sets, pairs, n_train=n_train, n_test=n_test, grid=grid,
                           device=device)
boundaries.model_means(scan.table)

# %% [markdown]
# ## Where the first and last flips fall
# Histograms of the first and last flip for both kinds of different-class pairs, per data set and
# architecture, pooled over seeds. The claim wants a peak at t = 0.5 (dashed band: [0.4, 0.6]).

# %%
figs.save(boundaries.figure_flip_distributions(scan.paths), "01_flip_distributions")
plt.show()

# %% [markdown]
# ## Controls: same-class pairs and third classes
# Share of paths with any flip, share passing a third class and mean number of flips, by pair
# kind. Same-class pairs should mostly stay in their class; many third-class detours would mean
# the segment leaves the two classes' regions rather than meeting halfway.

# %%
metrics = {"share_flip": "share of paths that flip", "share_third_class": "share through a third class",
           "mean_n_flips": "mean number of flips"}
m = scan.table.melt(id_vars=["dataset", "arch", "seed", "kind"], value_vars=list(metrics), var_name="metric")
m["metric"] = m["metric"].map(metrics)
g = sns.catplot(data=m, x="arch", y="value", hue="kind", col="metric", row="dataset", kind="bar",
                errorbar=("pi", 100), height=2.5, aspect=1.2, sharey=False, margin_titles=True)
g.set_titles(row_template="{row_name}", col_template="{col_name}")
g.set_axis_labels("", "")
g.figure.suptitle("Controls (bars: mean over seeds, whiskers: range)", y=1.03)
figs.save(g.figure, "01_controls")
plt.show()

# %% [markdown]
# ## First vs last flip, and the flip point vs the pair's distance
# Left: where a path flips more than once, how far apart the first and last flips are (paths with
# one flip lie on the diagonal). Right:
# is the first flip nearer the middle for close pairs than for distant ones? (Spearman ρ of
# |first − 0.5| with ||a − b||, train-train pairs of different classes, all models pooled.)

# %%
rho = boundaries.first_flip_correlation(scan.paths)
figs.save(boundaries.figure_first_last(scan.paths, rho), "01_first_last_distance")
plt.show()

# %% [markdown]
# ## Boundary history: does the flip migrate toward 0.5 during training?
# One model is retrained with checkpoints; the same train-train pairs are scanned at each
# checkpoint (epoch 0 is the untrained network).

# %%
hres = boundaries.train_history(history_dataset, history_arch, history_epochs, n_train=n_train,
                                n_test=n_test, device=device)
_, _, ia, ib = pairs[history_dataset][boundaries.CLAIM_KIND]
history = boundaries.boundary_history(hres, sets[history_dataset]["train"][0], ia, ib, history_epochs,
                                      grid=grid, n_boot=n_boot)
history.table.round(3)

# %% [markdown]
# The median |first flip − 0.5| with its interval, the share in [0.4, 0.6] and the train accuracy per
# checkpoint (left); the first flips per checkpoint (right).

# %%
figs.save(boundaries.figure_history(history), "01_boundary_history")
plt.show()

# %% [markdown]
# ## One path, seen by each model
# The images morph from a to b in 9 frames; below, each seed-0 model's probability of a's class
# (solid) and of b's class (dashed) along t. Run live, a slider moves along the path.

# %%
path = boundaries.morph_path(scan.models, sets[datasets[0]], pairs[datasets[0]], datasets[0], archs, seeds[0])
figs.save(boundaries.figure_morph(path), "01_morph_path")
plt.show()
if interactive():
    import ipywidgets as widgets

    def show_point(t=0.5):
        """The image at t and each model's prediction there."""
        k = int(round(t * 100))
        fig, axes = plt.subplots(1, 2, figsize=(7, 2.8), gridspec_kw={"width_ratios": [1, 2]})
        axes[0].imshow(path.segment[k, 0], cmap="gray", vmin=0, vmax=1)
        axes[0].axis("off")
        axes[0].set_title(f"t = {path.ts[k]:.2f}")
        for i, arch in enumerate(archs):
            axes[1].bar(np.arange(len(path.classes)) + 0.27 * (i - 1), path.probs[arch][k], width=0.27, label=arch)
        axes[1].set(xticks=range(len(path.classes)), xticklabels=path.classes, ylim=(0, 1))
        axes[1].tick_params(axis="x", labelrotation=45, labelsize=7)
        axes[1].legend(fontsize=7)
        plt.show()

    widgets.interact(show_point, t=widgets.FloatSlider(0.5, min=0, max=1, step=0.01))

# %% [markdown]
# ## Record the claim
# Pooled over every model: median |first flip − 0.5| and the share of first flips in [0.4, 0.6]
# on train-train pairs of different classes, with bootstrap intervals over paths.

# %%
measurements = boundaries.measurements(scan.paths, rho, n_boot)
claim = boundaries.record_claim(measurements, figures=figs.names, parameters=P,
                                notes=boundaries.claim_notes(scan.table, history))

# %% [markdown]
# Per-model values with intervals across seeds go to the results file with the per-path summaries
# and the history.

# %%
per_model = boundaries.per_model(scan.table)
boundaries.save(scan, per_model, history, measurements, P)

# %% [markdown]
# ## Verdict
# Computed by the ledger from the intervals above; then each model's values across seeds.

# %%
print(claim.summary())
for name, vals in per_model.items():
    print(f"  {name:22s} " + "  ".join(f"{k}={v}" for k, v in vals.items()))
