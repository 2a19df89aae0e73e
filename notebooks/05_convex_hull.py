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
# 2101.09849; see [docs/papers.md](../docs/papers.md); the reading is ours, the paper's experiments are not
# public): *test samples lie considerably outside the convex hull of the training set, in pixel
# space and in the representations that networks learn, so a model must extrapolate; and
# over-parameterized networks fit random labels, so the training regime, not the data alone,
# decides how the domain outside the hull is partitioned.*
#
# **C1 · test samples outside the hull.** For each test query: the exact distance to the convex
# hull of the training set (`hull.distance`: column generation with a certified duality gap) over
# the distance to the nearest training sample (hull/NN), in pixel space and in the penultimate
# feature space of the zoo's fitted models. The ratio lies between 0 and 1 by construction: **0** for a
# query inside the hull (a convex combination of training samples: the *null*), **1** when the hull is
# no closer than the nearest training sample (the *ideal* of "considerably outside": interpolating the
# training set brings nothing over copying its nearest sample).
# *Rule:* primary = median hull/NN of the test queries; **supported** when its whole 95% interval lies
# above the margin **0.25**, **weaker than claimed** when it lies above the null's band but not wholly
# above the margin, **no effect** when it lies within the band **0 ± 0.1**, inconclusive otherwise;
# decided per (dataset, space) stratum (pixel, mlp, cnn, resnet) and pooled (mean of the strata).
# Pixel space is one space per data set (interval over queries); a feature space is one per fitted
# model, five models per arch (t interval over models).
# *Controls*, through the same hull code and estimator: **positive**, the other data set's test images
# against each training hull (Fashion-MNIST against MNIST and vice versa: built far from every training
# image); **negative**, per test query the convex combination of its ten nearest training samples
# (built inside the hull). *Reported, not judged:* the same median for as many **held-out training
# samples** (is "outside" specific to test data, or true of any new draw? Under an i.i.d. split it is the
# latter by construction, so this can no longer decide the claim), the shares outside, and whether the
# model's label changes at the query's projection on the hull.
#
# **C2 · over-parameterization.** A width sweep of the `mlp`, trained with true and with random
# labels on more samples than input dimensions (1000 > 784), every model trained until its
# training accuracy reaches 0.99 (the epochs are a cap; a width that does not get there is
# reported as not fitted). The paper's reading: over-parameterized networks extrapolate well, and this
# is why width helps. We test how the networks' behaviour *outside the hull* depends on width at equal
# training fit: the sweep's test samples are split into thirds by their distance to the training hull,
# and the accuracy on the nearest third minus the farthest third (the far-near gap) is compared across
# widths. *Primary:* the share of the narrowest fitted width's gap that the widest width closes,
# (gap narrow − gap wide) / mean gap narrow, one value per seed fitted at both widths (t interval across
# seeds). **0** = width leaves the gap as it is (*null*, band ± 0.1), **1** = the widest net is as
# accurate far outside the hull as near it (*ideal*); negative when width helps the near queries more.
# Supported above the margin **0.25**. *Controls*, through the same functions: **positive**, the 1-NN
# rule with a reach (a fixed class beyond a radius that grows with "width", from the median training
# nearest-neighbour distance to unbounded: width helps exactly the far queries); **negative**, each
# seed's narrowest fitted mlp padded to every wider width with zero-readout units (wider, the same
# function). The random-label fit, the old primary (random labels are drawn independently of the
# images, so a random-label net is at chance in expectation whatever its width: it could not fail),
# is reported.
#
# **Profiles.** The defaults are the *quick* profile: the zoo's 1,000-sample subsets and seeds
# 0-4 (notebook 00 trains them), 100 test queries and 100 held-out training samples, a sweep
# over five seeds (one random labeling each) whose 1,000 test samples are C2's queries.
# `notebooks/params/paper/05_convex_hull.yaml` uses 50,000 training samples (10,000 left to be
# held out), 1,000 queries and widths up to 4096 (meant for a GPU).

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1, 2, 3, 4]
n_train = 1000
n_test = 1000
n_queries = 100
n_control_queries = 100  # queries of each C1 control (the first ones; all of them in the quick profile)
train_sizes = [250, 500, 1000, 2000]
pca_dims = [2, 5, 10, 20, 50, 100]
sweep_dataset = "mnist"
widths = [4, 16, 64, 256]
sweep_seeds = [0, 1, 2, 3, 4]
sweep_n_train = 1000
sweep_n_test = 1000
sweep_epochs_true = 60
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
ex.check_parameters(P)

# %% [markdown]
# Imports and the project's figure style.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from halfway_utils import zoo
from halfway_utils.infra import outputs, plotting

outputs.route("05_convex_hull", P)  # the profile's record, or runs/<profile>+<hash>/ if a value differs
plotting.set_style()
figs = plotting.Figures()
start_time = time.perf_counter()

# %% [markdown]
# ## C1 · Pixel space
# The training set is the zoo's class-balanced subset; the queries are the first `n_queries`
# samples of the zoo's test subset; beside them (reported: specific to test data or not?) as many
# held-out training samples (the class-balanced draw of `n_train + n_queries` minus the training subset). For each
# query: hull distance, NN distance, distance to the nearest training sample of another class.

# %%
splits = {name: ex.load_split(name, n_train, n_test, n_queries) for name in datasets}
tables, held = ex.pixel_tables(splits, tol=hull_tol, device=device)
ex.summarize(tables, held).round(3)

# %% [markdown]
# ## C1 · Feature space of trained models
# The same measurement on the penultimate features (`models.embed`, eval mode) of the zoo's
# models: training set, test queries and held-out training queries are mapped by the model, then
# the hull is taken there. Each model also labels the hull projections (in its feature space, and
# in pixel space). A model that missed the zoo's target training accuracy is named and excluded.

# %%
model_tables, model_held, model_rows, misfits = ex.feature_tables(
    splits, archs, seeds, n_train=n_train, n_test=n_test, tol=hull_tol, device=device, pixel=(tables, held))
tables.update(model_tables)
held.update(model_held)
summaries = ex.summarize(tables, held)
print(zoo.misfit_note(misfits) or "Every zoo model reached its target training accuracy.")
display(pd.DataFrame(model_rows))
summaries.round(3)

# %% [markdown]
# ## Hull distance against nearest-neighbour distance
# Each dot is a test query, each cross a held-out training sample (first seed of each arch). On
# the diagonal the hull is no closer than the nearest training point; at the bottom the query is
# inside the hull. The hull can never be farther than the NN.

# %%
spaces = ["pixel"] + [f"{a}/seed{seeds[0]}" for a in archs if (datasets[0], f"{a}/seed{seeds[0]}") in tables]
figs.save(ex.figure_hull_vs_nn(tables, held, datasets, spaces), "05_hull_vs_nn")
plt.show()

# %% [markdown]
# ## Distributions of the ratio, test against held-out training samples
# hull distance / NN distance per query, all models of an arch together (this plot pools
# queries; the verdict below does not).

# %%
figs.save(ex.figure_ratio_distributions(ex.ratio_frame(tables, held)), "05_ratio_distributions")
plt.show()

# %% [markdown]
# ## A bigger training set, a bigger hull (reported)
# Pixel space, class-balanced training subsets of growing size, the same test queries: does the
# hull grow enough to catch the queries, and how does its distance compare with the NN distance?

# %%
size_rows = ex.train_size_sweep(splits, tables, train_sizes, tol=hull_tol, device=device)
sizes = pd.DataFrame(size_rows)
figs.save(ex.figure_train_size(sizes, train_sizes, n_queries), "05_train_size")
plt.show()
sizes.round(3)

# %% [markdown]
# Explore one test image: run live, sliders set the training-set size (the first n samples, so the
# sets are nested and the hull only grows) and the query; it shows the nearest training sample, the
# closest point of the hull and both distances against n. Under papermill: the whole training set.

# %%
from halfway_utils.teaching import explorers

hull_split = splits[datasets[0]]
n_max = len(hull_split.x_train)
explorers.explorer(explorers.hull_figure, hull_split, n_train=(10, n_max, 10, n_max), query=(0, n_queries - 1, 1))
plt.show()

# %% [markdown]
# ## C1 · Controls and why the primary can land on either side
# The controls go through the same hull code (`hull_table`) and the same estimators as the zoo, in
# pixel space and in the feature space of every fitted model (the other data set's images embedded by
# the model; the convex combinations built from the embedded test query's nearest training features).
# The negative control sits at 0 (its queries are convex combinations, inside the hull by construction),
# the positive one (another data set's images) above the margin. Below, the same test queries and
# training set projected on the training set's top principal components: in few dimensions the test
# queries lie inside the hull and the primary reads 0 ("no effect"); it leaves the band only as the
# dimension grows. So the measurement does not fix the verdict, but read it for what it is: with 1,000
# training samples the queries leave the hull after a few tens of dimensions, so "considerably outside"
# in pixel space and in the learned feature spaces (tens to hundreds of dimensions) is what high
# dimension gives any new sample (the held-out training samples read the same, reported below), not a
# property of test data.

# %%
control_start = time.perf_counter()
c1_control_tables = ex.c1_control_tables(splits, tol=hull_tol, device=device, archs=archs, seeds=seeds,
                                         n_train=n_train, n_test=n_test, n_queries=n_control_queries)
c1_controls = ex.c1.controls(c1_control_tables, datasets, archs, n_boot)
dims = ex.dimension_sweep(splits, pca_dims, tol=hull_tol, device=device)
c1_control_seconds = time.perf_counter() - control_start
figs.save(ex.figure_dimension_sweep(dims, ex.c1.MARGIN, ex.c1.BAND), "05_dimension_sweep")
plt.show()
display(pd.DataFrame(dims).round(3))
pd.DataFrame([{"control": c.name, "kind": c.kind, "stratum": stratum, "value": e.value, "low": e.low,
               "high": e.high, "verdict": ex.c1.RULE.judge(e)}
              for c in c1_controls for kind in [c.kind]
              for stratum, e in [*ex.c1.stratum_effects(c1_control_tables[kind], datasets, archs, n_boot).items(),
                                 ("pooled", c.estimate)]]).round(3)

# %% [markdown]
# ## C1 · Verdict
# **The margin's reason.** The ratio is 0 inside the hull and 1 when the hull is no closer than the
# nearest training sample. "Considerably outside" needs at least a quarter of the way from the one to the
# other (0.25): below it, the hull's closest point recovers more than three quarters of the query's
# distance to its nearest training sample, and the query is nearly interpolated. The band (± 0.1, a tenth
# of the way) is where a query counts as touching the hull. Both were fixed from the scale before the
# numbers. The primary per (dataset, space) stratum and pooled, beside the controls, against the null's
# band and the margin; the test-minus-held-out difference is reported beside it (is "outside" specific to
# test data?).

# %%
c1_strata = ex.c1.stratum_effects(tables, datasets, archs, n_boot)
c1_pooled = ex.c1.pooled_effect(tables, datasets, archs, n_boot)
figs.save(ex.figure_c1_effect(c1_strata, c1_pooled, c1_controls, ex.c1.RULE), "05_c1_effect")
plt.show()
c1_measurements = ex.c1.measurements(tables, held, model_rows, datasets, archs, n_boot)
c1_claim = ex.c1.record(c1_strata, c1_pooled, c1_measurements, replicates=len(model_rows) - len(misfits),
                        parameters=P, notes=ex.c1.notes(P, model_rows, misfits), controls=c1_controls)
print(c1_claim.summary())

# %% [markdown]
# ## C2 · Width sweep with true and random labels
# `mlp` (two hidden layers) of growing width on `sweep_n_train` class-balanced samples of
# `sweep_dataset`, one random labeling per seed. Every model trains until it reaches the zoo's
# target training accuracy, up to the cap; test accuracy is always against the true test labels.
# (With the zoo's subsets and caps, the width-256 true-label nets are the zoo's own mlps.)

# %%
sweep_models, sweep_rows = ex.width_sweep(
    sweep_dataset, widths, sweep_seeds, epochs_true=sweep_epochs_true, epochs_random=sweep_epochs_random,
    n_train=sweep_n_train, n_test=sweep_n_test, device=device)
sweep = pd.DataFrame(sweep_rows)
sweep

# %% [markdown]
# ## C2 · Queries outside the sweep's hull, labelled like their nearest training point?
# Pixel-space hull of the sweep's training set (C1's table when the subsets are the same); for
# queries outside it, the share whose predicted class equals the (trained-on) label of the nearest
# training sample. With random labels, a share above chance (0.1) means memorized labels extend
# outward from the training points.

# %%
sweep_split, sweep_table = ex.sweep_hull(splits, tables, P, device=device)
agree_rows, per_sample = ex.sweep_agreement(sweep_models, sweep_split, sweep_table)
agreement = pd.DataFrame(agree_rows)
outside_sw = ~sweep_table["inside"]
print(f"{outside_sw.mean():.3f} of {n_queries} queries lie outside the hull of "
      f"{sweep_n_train} training samples (median hull/NN {np.median(sweep_table['ratio_nn']):.2f})")
agreement.round(3)

# %% [markdown]
# ## Accuracy and 1-NN agreement against width
# Left: train (dashed) and test (solid) accuracy, means over seeds, a ring where some model missed
# its target; right: agreement of the prediction on outside-hull queries with the label of their
# nearest training sample. Chance is 0.1.

# %%
figs.save(ex.figure_width_sweep(sweep, agreement, widths, sweep_dataset, sweep_n_train), "05_width_sweep")
plt.show()

# %% [markdown]
# ## C2 · Far and near queries across widths, with the controls
# C2's queries are the sweep's whole test subset, in thirds by their pixel-space distance to the sweep's
# training hull. Left: the far-minus-near accuracy gap against width for the zoo's true-label mlps
# (fitted models only) and for both controls; right: the primary beside the controls.
#
# **Why the primary can land on either side.** It is a difference of two gaps, each measured on the same
# queries: it reads 0 when width changes the far and near accuracies alike (the negative control: a
# padded net is the same function, so exactly 0), 1 when the widest net closes the gap (the positive
# control comes close: beyond its reach the narrow 1-NN guesses, and its reach grows with width), and it
# is negative when width helps the near queries more. **The margin's reason:** a quarter of the way from
# the null to the ideal (0.25), the same fraction as C1's, of the narrowest fitted width's own gap
# measured in this run; the band (± 0.1) is a tenth of the way.

# %%
control_start = time.perf_counter()
c2_queries = ex.sweep_queries(sweep_split, tol=hull_tol, device=device)
far, near = ex.c2.far_near(c2_queries["hull"])
zoo_correct, zoo_fitted = ex.c2.zoo_family(per_sample, sweep_rows)
c2_narrow, c2_wide, c2_primary = ex.c2.gap_closed(zoo_correct, zoo_fitted, far, near)
c2_controls, families = ex.c2.controls(sweep_split, sweep_models, zoo_fitted, widths, sweep_seeds, far, near)
c2_control_seconds = time.perf_counter() - control_start
gaps = {"zoo mlp (true labels)": ex.c2.gaps_by_width(zoo_correct, zoo_fitted, far, near),
        **{f"{c.kind}: {c.name}": ex.c2.gaps_by_width(families[key], {}, far, near)
           for c, key in zip(c2_controls, ["reach", "padded"])}}
figs.save(ex.figure_c2_effect(gaps, c2_primary, c2_controls, ex.c2.RULE), "05_c2_effect")
plt.show()
print(f"decided between widths {c2_narrow} and {c2_wide}; controls and C2's queries took "
      f"{c1_control_seconds + c2_control_seconds:.1f} s with C1's")
pd.DataFrame([{"family": name, **{f"w{w}": np.mean(v) for w, v in by_width.items()}}
              for name, by_width in gaps.items()]).round(3)

# %% [markdown]
# ## C2 · Verdict
# The primary (one stratum: `sweep_dataset`, mlp), its controls, and what is reported beside it: the
# accuracies on the far and near thirds per width, and the random-label fit (test accuracy minus chance
# at the widest width whose random-label models fit, and their training accuracy).

# %%
c2_width, _ = ex.c2.widest_fitted(sweep_rows, ex.c2.chance_level(sweep_dataset))
c2_measurements = ex.c2.measurements(sweep_rows, per_sample, outside_sw, widths, c2_width, n_boot,
                                     chance=ex.c2.chance_level(sweep_dataset), far=far, near=near)
c2_claim = ex.c2.record(c2_primary, c2_measurements, parameters=P, controls=c2_controls,
                        notes=ex.c2.notes(P, sweep_rows, c2_width, (c2_narrow, c2_wide)))
print(c2_claim.summary())

# %% [markdown]
# ## Results
# The numbers behind the figures and both verdicts go to `results/05_convex_hull.json`.

# %%
path = ex.write_results(summaries, model_rows, size_rows, sweep_rows, agree_rows, c1_claim, c2_claim,
                        [c2_narrow, c2_wide], seconds=round(time.perf_counter() - start_time, 1), parameters=P,
                        dims=dims, control_seconds=round(c1_control_seconds + c2_control_seconds, 1))
print(f"C1: {c1_claim.verdict}; C2: {c2_claim.verdict}; wrote {path}")

# %% [markdown]
# ## Quick and full side by side
# The same rules on the quick subsets and on the full training sets: C1, C2's verdict in every
# profile with a ledger (a quick run beside the committed full run in `runs/full/`), the models and
# sizes behind each, and every verdict that changes with the scale (why, in the notes below).

# %%
from halfway_utils.evidence import report

scale = report.compare(['C1', 'C2'])
print("\n".join(scale.attrs["changes"]) or "no verdict changes with the scale")
scale

# %% [markdown]
# Why strata differ with the scale: the full profile's feature spaces are the MLP's and the CNN's
# (three models each on 50,000 samples; the ResNet is left out for the budget), so it has no
# ResNet strata. C2's width sweep uses the quick subsets at both scales.
