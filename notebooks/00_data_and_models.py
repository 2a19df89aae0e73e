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
# # 00 · Data and the model zoo
#
# Every later notebook stands on two things: the data sets, loaded offline and checked, and a
# zoo of small classifiers (`mlp`, `cnn`, `resnet`) trained once and cached by their config.
# This notebook shows samples of each data set, trains the zoo (or loads it from the cache)
# and reports each model's train and test accuracy, so that the claims tested later are about
# models that actually learned. It tests no claim itself.
#
# **Profiles.** The defaults below are the *quick* profile (class-balanced subsets, few epochs,
# one seed; minutes on a 2-core CPU). `./run_all.sh --profile paper` injects
# `notebooks/params/paper/00_data_and_models.yaml` (full data, more seeds; meant for a GPU).

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1, 2, 3, 4]
n_train = 1000
n_test = 1000
device = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import data_and_models as experiment
from halfway_utils.infra import params

P = params.validate(locals(), experiment.PARAMETERS)

# %% [markdown]
# Imports and the project's figure style.

# %%
import matplotlib.pyplot as plt
import seaborn as sns

from halfway_utils import data, zoo
from halfway_utils.infra import outputs, plotting

outputs.route("00_data_and_models", P)  # the profile's record, or runs/<profile>+<hash>/ if a value differs
plotting.set_style()

# %% [markdown]
# ## Samples of each data set
# Two examples per class from the training split, to see what the models are asked to separate.

# %%
for name in datasets:
    images, labels = data.load(name, "train", n=20, seed=0)
    order = labels.argsort()
    classes = data.info(name).classes
    fig = plotting.image_grid(images[order], [classes[int(i)] for i in labels[order]],
                              title=f"{name}: two training samples per class")
    plotting.save_figure(fig, f"00_samples_{name}")
    plt.show()

# %% [markdown]
# ## Train the zoo
# One model per (data set, architecture, seed), five seeds: the model is the unit of
# replication. Each is trained on the same class-balanced subset (`data_seed=0`) until its
# training accuracy reaches the zoo's target (99%; the epochs are a cap) and cached, so later
# notebooks load it instead of retraining: `zoo.load` is the one way every notebook gets the zoo,
# the fitted models and the misfits apart. The table lists them all, in the grid's order.

# %%
fitted, misfits = zoo.load(datasets, archs, seeds, n_train=n_train, n_test=n_test, device=device)
table, curves = experiment.zoo_tables(experiment.in_grid_order(fitted + misfits, datasets, archs, seeds))
table

# %% [markdown]
# ## Learning curves
# Train and test accuracy per epoch: the gap between them is the generalization the later
# notebooks try to explain.

# %%
grid = sns.relplot(data=curves, x="epoch", y="accuracy", hue="arch", style="split", col="dataset",
                   kind="line", errorbar=("pi", 100), height=3.2, aspect=1.2)
grid.set(ylim=(0, 1.02))
grid.figure.suptitle("The zoo's learning curves", y=1.03)
plotting.save_figure(grid.figure, "00_learning_curves")
plt.show()

# %% [markdown]
# ## Did every model fit?
# Each dot is one model's final train and test accuracy; the dashed line is the target
# training accuracy. A model below it is named here and excluded from every claim.

# %%
long = table.melt(id_vars=["dataset", "arch", "seed"], value_vars=["train_acc", "test_acc"],
                  var_name="split", value_name="accuracy")
grid = sns.catplot(data=long, x="arch", y="accuracy", hue="split", col="dataset", kind="strip",
                   dodge=True, height=3.2, aspect=1.1, size=6)
for ax in grid.axes.flat:
    ax.axhline(table["target_acc"].iloc[0], color="grey", ls="--", lw=0.8)
grid.set(ylim=(0.5, 1.005))
grid.figure.suptitle(f"{len(table)} models, {int(table['fitted'].sum())} fitted", y=1.04)
plotting.save_figure(grid.figure, "00_zoo_accuracy")
plt.show()
print("not fitted (excluded from the claims):", experiment.misfits(table) or "none")

# %% [markdown]
# ## Results
# The numbers behind the figures, with the parameters that produced them, go to
# `results/00_data_and_models.json`. Every model must beat chance by a wide margin.

# %%
learned = experiment.all_learned(table)
path = experiment.write_results(table, P)
print(f"all models above {experiment.LEARNED_FACTOR}x chance on test: {learned}; wrote {path}")
assert learned, "a model of the zoo did not learn: see the table above"
