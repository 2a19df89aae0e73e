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
# # 06 · The halfway idea in two dimensions
#
# A notebook to show first: what notebooks 01 and 02 measure in 784 dimensions, drawn in the plane
# where it can be seen. It records no claim and decides nothing; it runs in seconds on a CPU.
#
# **The exact halfway partition.** Label every point of the plane like its nearest training point
# (the 1-NN rule). The plane falls into the training points' *Voronoi cells*, and the boundary
# between two classes is made of pieces of perpendicular bisectors: every point on it is exactly
# halfway between a training point of one class and one of the other. *Meet You Halfway*, as we
# read it ([docs/papers.md](../docs/papers.md)), says that a trained network draws its boundary there too (H1),
# and labels unseen inputs as that partition does (H2).
#
# **What we draw.** A few dozen points in clusters, a small MLP of the zoo (`models.mlp`) trained
# on them, its decision regions over the 1-NN partition, and the flips of notebook 01 on segments
# between training points of different classes: found by the same batched search
# (`methods.segments`, `methods.boundary`), scored by the same flip zone
# max(|first − 0.5|, |last − 0.5|), beside the same network untrained and the 1-NN rule. Then the
# same with random labels, the control of notebook 02. The code is `halfway_utils/teaching/plane.py`.

# %% tags=["parameters"]
profile = "quick"
n_points = 40
n_classes = 3
spread = 0.35
width = 64
depth = 2
epochs = 600
lr = 0.01
resolution = 200
n_segments = 60
n_fresh = 500
seed = 0
device = None
torch_threads = 1

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.infra import params
from halfway_utils.teaching import plane

P = params.validate(locals(), plane.PARAMETERS)
plane.check_parameters(P)

# %% [markdown]
# Imports and the project's figure style; one torch thread (these tensors are tiny).

# %%
import matplotlib.pyplot as plt
import torch

from halfway_utils.infra import outputs, plotting, store
from halfway_utils.teaching import explorers

outputs.route("06_two_dimensions", P)  # the profile's record, or runs/<profile>+<hash>/ if a value differs
plotting.set_style()
figs = plotting.Figures()
if torch_threads is not None:
    torch.set_num_threads(torch_threads)

# %% [markdown]
# ## The points
# `n_points` training points in `n_classes` Gaussian clusters on the unit circle, classes balanced;
# `n_fresh` fresh points from the same clusters stand in for a test set.

# %%
pts = plane.points(n_points, n_classes, spread=spread, seed=seed)
fresh = plane.points(n_fresh, n_classes, spread=spread, seed=seed + 1)
print(f"{n_points} training points, {n_fresh} fresh points, {n_classes} classes")

# %% [markdown]
# ## Train the network and measure it
# The MLP trains on all points (full-batch Adam, `epochs` steps). Then, on a grid over the square
# around the points, its label and the 1-NN label everywhere; and on `n_segments` segments between
# training points of different classes, where each classifier's decision flips.

# %%
true = plane.study(pts, labels="true", width=width, depth=depth, epochs=epochs, lr=lr, seed=seed,
                   resolution=resolution, n_segments=n_segments, device=device)
print(f"train accuracy {true.fit.train_acc:.2f}, fresh accuracy {plane.accuracy(true.fit.model, fresh):.2f}")

# %% [markdown]
# ## The network's regions over the Voronoi partition
# Left: the 1-NN rule, the Voronoi cells (grey) and its class boundary (black), the exact halfway
# partition. Right: the network's regions, with the 1-NN class boundary dashed over them. Near the
# points the two should coincide; far from them no training point decides and they may part.

# %%
figs.save(plane.figure_regions([true]), "06_regions")
plt.show()

# %% [markdown]
# ## Where the decision flips on segments
# Left: some of the segments, with the trained network's first and last flips (x) and the midpoints
# (o). Right: the flip zone per segment for the trained network, the same network untrained and the
# 1-NN rule. The 1-NN rule flips exactly halfway only between neighbouring points: a segment that
# crosses a third point's cell flips at that cell's edges, so even the exact partition scores above 0.

# %%
figs.save(plane.figure_flips([true]), "06_flips")
plt.show()

# %% [markdown]
# ## Random labels
# The same points, each given a random label, and the same network trained on them: it still fits
# every point, and its boundary still sits between training points of different labels, but the
# labels carry nothing about the fresh points, so fresh accuracy drops toward chance (1 /
# `n_classes`; with a few dozen points one labelling can land well away from it).

# %%
shuffled = plane.study(pts, labels="random", width=width, depth=depth, epochs=epochs, lr=lr, seed=seed,
                       resolution=resolution, n_segments=n_segments, device=device)
figs.save(plane.figure_regions([shuffled]), "06_random_labels")
plt.show()

# %% [markdown]
# ## The numbers
# Per labelling: training and fresh accuracy of the network and of the 1-NN rule, how often the
# network's label is the 1-NN label (on the square, and at the fresh points, as notebook 02 measures
# it on test inputs), and the mean flip zone of each classifier (0: every flip at the midpoint).

# %%
table = plane.summary([true, shuffled], fresh)
table.round(3)

# %% [markdown]
# ## Explore
# Run live, the sliders set the number of points, the width and the training length, and the
# labelling; under papermill the figure is drawn once at this notebook's parameters.

# %%
widths = explorers.choice(sorted({2, 4, 8, 16, 64, 256, width}), width)
explorers.explorer(plane.explore, P, n_points=(6, max(120, n_points), 2, n_points), width=widths,
                   epochs=(0, max(2000, epochs), 50, epochs), labels=list(plane.LABELINGS))
plt.show()

# %% [markdown]
# ## Results
# The table goes to `results/06_two_dimensions.json` with the parameters.

# %%
path = store.save_results(plane.NOTEBOOK, {"summary": table.reset_index().to_dict("records"),
                                           "figures": figs.names}, P)
print(f"wrote {path}")
