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
# # 02 · Generalization by the halfway partition (H2)
#
# **Our reading of the claim.** *Meet You Halfway* (BenShmuel 2022) says its framework explains
# why networks generalize. Only the abstract is public to us; the hypothesis tested here is
# **our reading** of it (H2 in `../shared/PAPERS.md`):
#
# > A network labels unseen inputs by the halfway partition of its training set: an input gets
# > the label of the training samples it is nearer to, in input space and more so in the
# > network's own feature space. Control: with random training labels the boundary still sits
# > halfway between training points, yet test accuracy falls to chance.
#
# **What we measure.** For each zoo model, the agreement of its test predictions with the label
# of the nearest training sample (1-NN, with the labels the model was trained on) in pixel space
# and in the model's penultimate feature space, next to its test accuracy. Controls: the same
# architectures trained on random labels (train accuracy, test accuracy and notebook 01's H1
# statistic), and a width sweep of the MLP (accuracy and the H1 statistic per width).
#
# **Decision rule.** Pooled over the true-label models and their test samples: agreement with
# the feature-space 1-NN label above 0.9 **and** feature-space agreement above pixel-space
# agreement (paired difference > 0), both on the whole 95% bootstrap interval. The random-label
# and width results are reported as measurements and notes; they do not enter the verdict.

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1]
n_train = 2000
n_test = 2000
random_datasets = ["mnist"]
random_archs = ["mlp", "cnn"]
random_seeds = [0, 1]
random_n_train = 500
random_epochs = 60
widths = [8, 32, 256]
width_dataset = "mnist"
width_seeds = [0, 1]
n_pairs = 300
grid = 17
n_boot = 1000
device = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import generalization
from halfway_utils.infra import params

P = params.validate(locals(), generalization.PARAMETERS)

# %% [markdown]
# Imports and the project's figure style; `figs` logs every saved figure for the ledger.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from halfway_utils import zoo
from halfway_utils.infra import plotting

plotting.set_style()
figs = plotting.Figures()

# %% [markdown]
# ## Data and pixel-space 1-NN
# Every model of a data set shares the training and test subsets, so the pixel-space 1-NN
# labels are computed once per data set.

# %%
data = generalization.load_data(datasets + random_datasets + [width_dataset], arch=archs[0],
                                n_train=n_train, n_test=n_test)
pd.Series(generalization.pixel_accuracy(data), name="pixel 1-NN test accuracy").round(3)

# %% [markdown]
# ## Agreement with 1-NN, true labels
# For each zoo model: test accuracy, and the share of test samples whose predicted label equals
# the label of the nearest training sample in pixel space and in the model's feature space.

# %%
agree, per_sample = generalization.agreement_runs(zoo.grid(datasets, archs, seeds, n_train=n_train, n_test=n_test),
                                                  data, device=device)
agree.groupby(["dataset", "arch"])[list(generalization.AGREEMENT_KEYS)].mean().round(3)

# %% [markdown]
# Bars: mean over seeds of the three shares, per architecture and data set; the dashed line is
# the rule's 0.9.

# %%
names = {"correct": "test accuracy", "agree_pixel": "agrees with pixel 1-NN",
         "agree_feature": "agrees with feature 1-NN"}
m = agree.melt(id_vars=["dataset", "arch", "seed"], value_vars=list(names), var_name="measure")
m["measure"] = m["measure"].map(names)
g = sns.catplot(data=m, x="arch", y="value", hue="measure", col="dataset", kind="bar",
                errorbar=("pi", 100), height=3.2, aspect=1.2)
g.set(ylim=(0.5, 1.0))
g.set_titles("{col_name}")
g.set_axis_labels("", "share of test samples")
for ax in g.axes.flat:
    ax.axhline(0.9, color="grey", ls="--", lw=0.8)
g.figure.suptitle("Test predictions vs the nearest training sample's label (bars: mean over seeds)", y=1.04)
figs.save(g.figure, "02_agreement")
plt.show()

# %% [markdown]
# ## Random labels: memorize, then measure H1
# The MLP (the CNN too in the paper profile) trained on random labels of a smaller subset
# (`random_n_train`, so that it memorizes within the CPU budget) for `random_epochs` epochs, next
# to the same subset with true labels. Random labels should reach ~100% train accuracy and
# chance test accuracy. We then measure notebook 01's H1 statistic
# (pairs of different *training* labels) and the 1-NN agreement, next to the true-label model.

# %%
random_table, curves = generalization.random_label_runs(
    random_datasets, random_archs, random_seeds, data, n_train=random_n_train, n_test=n_test,
    epochs=random_epochs, n_pairs=n_pairs, grid=grid, device=device)
random_table[["dataset", "arch", "seed", "labels", "epochs", "train_acc", "test_acc", "agree_feature",
              "median_abs_first", "share_first_mid", "share_third_class"]].round(3)

# %% [markdown]
# Left: the random-label models' learning curves (dashed: chance). Right: test accuracy and the
# H1 statistic, true vs random labels.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
sns.lineplot(data=curves, x="epoch", y="accuracy", hue="arch", style="split", ax=axes[0],
             errorbar=("pi", 100))
axes[0].axhline(0.1, color="grey", ls="--", lw=0.8)
axes[0].set(ylim=(0, 1.02), title="random labels: learning curves")
axes[0].legend(fontsize=8, loc="center right")
mm = random_table.melt(id_vars=["arch", "labels"], value_vars=["test_acc", "share_first_mid", "median_abs_first"],
                       var_name="measure")
mm["group"] = mm["arch"] + " · " + mm["labels"]
sns.barplot(data=mm, x="measure", y="value", hue="group", ax=axes[1], errorbar=("pi", 100))
axes[1].set(ylim=(0, 1), xlabel="", title="H1 statistic and test accuracy, true vs random labels")
axes[1].set_xticks(range(3), ["test accuracy", "first flips\nin [0.4, 0.6]", "median\n|first flip − 0.5|"])
axes[1].legend(fontsize=8)
fig.suptitle(f"Random-label control ({', '.join(random_datasets)}, n_train={random_n_train})")
fig.tight_layout()
figs.save(fig, "02_random_labels")
plt.show()

# %% [markdown]
# ## Width sweep of the MLP
# From under- to over-parameterized: train and test accuracy, 1-NN agreement and the H1
# statistic per width (zoo defaults otherwise).

# %%
widths_table = generalization.width_runs(widths, width_seeds, data, dataset=width_dataset, n_train=n_train,
                                         n_test=n_test, n_pairs=n_pairs, grid=grid, device=device)
widths_table.round(3)

# %% [markdown]
# Left: accuracy and 1-NN agreement per width. Right: the H1 statistic per width (dashed: 0.1).

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
wl = widths_table.melt(id_vars=["width", "seed"], var_name="measure",
                       value_vars=["train_acc", "test_acc", "agree_pixel", "agree_feature"])
wl["measure"] = wl["measure"].map({"train_acc": "train accuracy", "test_acc": "test accuracy",
                                   "agree_pixel": "agrees with pixel 1-NN",
                                   "agree_feature": "agrees with feature 1-NN"})
sns.lineplot(data=wl, x="width", y="value", hue="measure", marker="o", ax=axes[0], errorbar=("pi", 100))
axes[0].set(xscale="log", ylim=(0.5, 1.01), ylabel="share", title="accuracy and 1-NN agreement")
hl = widths_table.melt(id_vars=["width", "seed"], var_name="measure",
                       value_vars=["median_abs_first", "share_first_mid", "share_third_class"])
hl["measure"] = hl["measure"].map({"median_abs_first": "median |first flip − 0.5|",
                                   "share_first_mid": "first flips in [0.4, 0.6]",
                                   "share_third_class": "paths through a third class"})
sns.lineplot(data=hl, x="width", y="value", hue="measure", marker="o", ax=axes[1], errorbar=("pi", 100))
axes[1].axhline(0.1, color="grey", ls="--", lw=0.8)
axes[1].set(xscale="log", ylim=(0, 1), ylabel="", title="H1 statistic (train-train pairs, different labels)")
for ax in axes:
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.minorticks_off()
    ax.legend(fontsize=8)
fig.suptitle(f"MLP width sweep on {width_dataset} (depth 2, n_train={n_train})")
fig.tight_layout()
figs.save(fig, "02_width_sweep")
plt.show()

# %% [markdown]
# ## Record the claim
# Pooled over true-label models and test samples, bootstrap intervals over samples; the
# across-seed interval of each model's agreement goes to the results file.

# %%
measurements = generalization.claim_measurements(per_sample, random_table, n_boot=n_boot)
notes = generalization.control_notes(random_table, widths_table, archs=archs, random_archs=random_archs,
                                     random_datasets=random_datasets, random_n_train=random_n_train,
                                     random_epochs=random_epochs)
claim = generalization.record_claim(measurements, figures=figs.names, parameters=P, notes=notes)
generalization.save_run(agree, generalization.per_model_across_seeds(agree), random_table, widths_table,
                        measurements, P)

# %% [markdown]
# ## Verdict
# Computed by the ledger from the intervals above: the rule, every measurement, and the notes.

# %%
print(claim.summary())
