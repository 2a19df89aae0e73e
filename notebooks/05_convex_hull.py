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
# # 05 · Test samples outside the convex hull, and over-parameterization
#
# **Our reading of the claim** (paper 3, Yousefzadeh, arXiv 2203.10366, with the method of
# 2101.09849; see `../shared/PAPERS.md`; the reading is ours, the paper's experiments are not
# public): *test samples lie considerably outside the convex hull of the training set, in pixel
# space and in the representations that networks learn, so a model must extrapolate; and
# over-parameterization and the training regime decide how the domain outside the hull is
# partitioned; networks can fit random labels.*
#
# - **C1** For test queries we compute the exact distance to the convex hull of the training set
#   (`hull.distance`: column generation with a certified duality gap), the distance to the nearest
#   training sample (NN) and to the nearest training sample of *another* class, in pixel space and
#   in the penultimate feature space of trained zoo models. We also grow the training set
#   (pixel space) to see whether queries stay outside a bigger hull.
#   *Decision rule:* C1 is supported if, in every space (pixel and each model's features, each data
#   set), the 95% bootstrap interval of the share of queries outside the hull lies above 0.9 **and**
#   the interval of the median ratio hull distance / NN distance lies above 0.5 (the hull is not
#   much closer than the nearest training point: "considerably outside"). It is refuted if any
#   interval lies wholly on the wrong side.
# - **C2** A width sweep of the `mlp` from under- to over-parameterized, trained with true and
#   with random labels; train and test accuracy, and how test queries outside the hull are
#   labelled compared with their nearest training point (1-NN in pixel space, with the labels
#   the model was trained on).
#   *Decision rule:* C2 is supported if at the largest width the random-label model fits its
#   training set (train accuracy interval > 0.95) while its test accuracy stays near chance
#   (interval < 0.2), and with true labels the test accuracy at the largest width is not worse
#   than at the next smaller width by more than 3 points (paired interval of the difference > −0.03).
#
# **Profiles.** The defaults are the *quick* profile (the zoo's 2,000-sample training sets,
# 200 queries, a small sweep). `notebooks/params/paper/05_convex_hull.yaml` uses the full
# 60,000-sample training sets, 1,000 queries and more seeds (meant for a GPU).

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn"]
seeds = [0]
n_train = 2000
n_test = 2000
n_queries = 200
train_sizes = [250, 500, 1000, 2000]
sweep_dataset = "mnist"
widths = [4, 16, 64, 256]
sweep_n_train = 300
sweep_n_test = 1000
sweep_epochs_true = 30
sweep_epochs_random = 100
hull_tol = 1e-6
n_boot = 2000
device = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import convex_hull as ex
from halfway_utils.infra import params

P = params.validate(locals(), ex.PARAMETERS)
ex.check_query_counts(P)

# %% [markdown]
# Imports and the project's figure style.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from halfway_utils.infra import plotting
from halfway_utils.infra.store import save_results

plotting.set_style()
figs = plotting.Figures()
start_time = time.perf_counter()

# %% [markdown]
# ## C1 · Pixel space
# The training set is the zoo's class-balanced subset; the queries are the first `n_queries`
# samples of the zoo's test subset. For each query: hull distance, NN distance, distance to the
# nearest training sample of another class.

# %%
splits = {name: ex.load_split(name, n_train, n_test, n_queries) for name in datasets}
tables = ex.pixel_tables(splits, tol=hull_tol, device=device)
ex.summarize(tables).round(3)

# %% [markdown]
# ## C1 · Feature space of trained models
# The same measurement on the penultimate features (`models.embed`, eval mode) of the zoo's
# models: the training set and the queries are mapped by the model, then the hull is taken there.

# %%
model_tables, model_rows = ex.feature_tables(splits, archs, seeds, n_train=n_train, n_test=n_test,
                                             tol=hull_tol, device=device)
tables.update(model_tables)
summaries = ex.summarize(tables)
display(pd.DataFrame(model_rows))
summaries.round(3)

# %% [markdown]
# ## Hull distance against nearest-neighbour distance
# Each dot is a test query. On the diagonal the hull is no closer than the nearest training
# point; at the bottom the query is inside the hull. The hull can never be farther than the NN.

# %%
spaces = ["pixel"] + [f"{a}/seed{seeds[0]}" for a in archs]
fig, axes = plt.subplots(1, len(spaces), figsize=(4.2 * len(spaces), 4), squeeze=False)
for ax, space in zip(axes[0], spaces):
    for name in datasets:
        t = tables[(name, space)]
        scale = np.median(t["nn"])  # each data set in units of its median NN distance
        ax.scatter(t["nn"] / scale, t["hull"] / scale, s=9, alpha=0.6, label=name)
    lim = ax.get_xlim()[1]
    ax.plot([0, lim], [0, lim], color="grey", lw=1, ls="--", label="hull = NN")
    ax.set(xlim=(0, None), ylim=(0, None), title=space,
           xlabel="NN distance / median NN", ylabel="hull distance / median NN")
axes[0][0].legend(fontsize=9)
fig.suptitle("Test queries: distance to the training hull vs to the nearest training sample", y=1.02)
fig.tight_layout()
figs.save(fig, "05_hull_vs_nn")
plt.show()

# %% [markdown]
# ## Distributions of the ratios
# Left: hull distance / NN distance (1 means the hull is no closer than the nearest point).
# Right: hull distance / distance to the nearest training sample of another class, a yardstick
# for "how far" in terms of the gaps between classes.

# %%
long = ex.ratio_frame(tables)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, column in zip(axes, ["hull / NN", "hull / other-class NN"]):
    sns.boxplot(data=long, x="space", y=column, hue="dataset", ax=ax, fliersize=2)
    ax.axhline(1, color="grey", lw=1, ls="--")
    ax.set(ylim=(0, 1.05), xlabel="")
axes[0].axhline(0.5, color="C3", lw=1, ls=":", label="rule: median > 0.5")
axes[0].legend(fontsize=9, loc="lower left")
axes[1].get_legend().remove()
fig.suptitle("How far outside the hull the test queries lie", y=1.02)
fig.tight_layout()
figs.save(fig, "05_ratio_distributions")
plt.show()

# %% [markdown]
# ## A bigger training set, a bigger hull
# Pixel space, class-balanced training subsets of growing size, the same queries: does the hull
# grow enough to catch the queries, and how does its distance compare with the NN distance?

# %%
size_rows = ex.train_size_sweep(splits, tables, train_sizes, tol=hull_tol, device=device)
sizes = pd.DataFrame(size_rows)
figs.save(ex.figure_train_size(sizes, train_sizes, n_queries), "05_train_size")
plt.show()
sizes.round(3)

# %% [markdown]
# ## C1 · Verdict
# One share-outside and one median-ratio measurement per space and data set; with several seeds
# the feature-space numbers are averaged over seeds (t interval), otherwise bootstrapped over the
# queries.

# %%
c1_measurements = ex.c1_measurements(tables, datasets, archs, n_boot)
c1 = ex.record_c1(c1_measurements, figures=figs.names, parameters=P)
print(c1.summary())

# %% [markdown]
# ## C2 · Width sweep with true and random labels
# `mlp` (two hidden layers) of growing width on a small class-balanced subset of
# `sweep_dataset`, so that the widest nets can memorize random labels within the CPU budget.
# Random labels train longer. Test accuracy is always against the true test labels
# (`sweep_n_test` samples, evaluated every epoch, so kept small in the quick profile).

# %%
sweep_models, sweep_rows = ex.width_sweep(
    sweep_dataset, widths, seeds, epochs_true=sweep_epochs_true, epochs_random=sweep_epochs_random,
    n_train=sweep_n_train, n_test=sweep_n_test, device=device)
sweep = pd.DataFrame(sweep_rows)
sweep

# %% [markdown]
# ## C2 · Queries outside the sweep's hull, labelled like their nearest training point?
# Pixel-space hull of the sweep's training set; for queries outside it, the share whose predicted
# class equals the (trained-on) label of the nearest training sample. With random labels, a share
# above chance (0.1) means memorized labels extend outward from the training points.

# %%
sweep_split = ex.load_split(sweep_dataset, sweep_n_train, sweep_n_test, n_queries)
sweep_table = ex.split_table(sweep_split, tol=hull_tol, device=device)
agree_rows, per_sample = ex.sweep_agreement(sweep_models, sweep_split, sweep_table)
agreement = pd.DataFrame(agree_rows)
outside_sw = ~sweep_table["inside"]
print(f"{outside_sw.mean():.3f} of {n_queries} queries lie outside the hull of "
      f"{sweep_n_train} training samples (median hull/NN {np.median(sweep_table['ratio_nn']):.2f})")
agreement.round(3)

# %% [markdown]
# ## Accuracy and 1-NN agreement against width
# Left: train (dashed) and test (solid) accuracy; right: agreement of the prediction on
# outside-hull queries with the label of their nearest training sample. Chance is 0.1.

# %%
figs.save(ex.figure_width_sweep(sweep, agreement, widths, sweep_dataset, sweep_n_train), "05_width_sweep")
plt.show()

# %% [markdown]
# ## C2 · Verdict
# Intervals bootstrap over samples (pooled over seeds); the true-label difference between the two
# largest widths is paired on the same test samples.

# %%
c2_measurements = ex.c2_measurements(per_sample, outside_sw, widths, seeds, n_boot)
c2 = ex.record_c2(c2_measurements, figures=figs.names[-1:], parameters=P)  # the width-sweep figure
print(c2.summary())

# %% [markdown]
# ## Results
# The numbers behind the figures and both verdicts go to `results/05_convex_hull.json`.

# %%
path = save_results("05_convex_hull", {
    "c1_summary": summaries.to_dict("records"), "models": model_rows,
    "train_size_sweep": size_rows, "width_sweep": sweep_rows, "width_agreement": agree_rows,
    "c1": {"verdict": c1.verdict, "measurements": c1_measurements},
    "c2": {"verdict": c2.verdict, "measurements": c2_measurements},
    "seconds": round(time.perf_counter() - start_time, 1)}, P)
print(f"C1: {c1.verdict}; C2: {c2.verdict}; wrote {path}")
