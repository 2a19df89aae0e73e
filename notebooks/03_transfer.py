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
# # 03 · Shared boundaries and the transfer of adversarial examples
#
# **Our reading of the claim.** *Meet You Halfway* (BenShmuel 2022) explains why adversarial
# examples transfer between models; only its abstract is public, so the hypotheses below are
# our reading of it (`../shared/PAPERS.md`), not the paper's words:
#
# - **H3 shared boundaries.** "Independently trained networks (other seeds, widths,
#   architectures) put their boundaries at nearly the same places: the distance between two
#   models' boundaries is small compared with the distance from a sample to either boundary."
# - **H4 transfer.** "Because the boundaries are shared, adversarial examples crafted on one
#   model cross the others' boundaries too; transfer should rise with boundary agreement
#   between a pair of models, and adversarial points should land near the shared halfway
#   boundary."
#
# **What we measure.** With the method of Tramèr et al. (arXiv 1704.03453): for test inputs
# and unit directions *d* of three kinds (legitimate: toward the nearest training sample of
# another class; adversarial: the PGD perturbation of a source model; random: Gaussian), the
# minimum distance to each model's boundary MD_d(f, x) and the inter-boundary distance
# ID = |MD_d(f1, x) − MD_d(f2, x)| of every model pair. Transfer matrices of FGSM and PGD
# (L∞) over ε, counted on the inputs that source and target both classify correctly.
#
# **Decision rules** (95% intervals):
# - H3 is supported if the median over inputs of ID / MD along legitimate directions (MD: the
#   mean of the pair's two distances; per input, the median over model pairs) is below 0.5, i.e.
#   two models' boundaries are closer to each other than either is to the data point.
# - H4 is supported if (a) the rank correlation between a pair's boundary agreement (minus
#   the median ID/MD along legitimate directions) and its transfer rate at ε_ref is positive,
#   and (b) off-diagonal PGD examples fool targets more often than random sign noise of the
#   same L∞ size. Where adversarial points land on the segment to the nearest training sample
#   of the adversarial class is measured and reported, not part of the rule.

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1]
n_inputs = 200
attack_names = ["pgd", "fgsm"]
eps_list = [0.05, 0.1, 0.2]
eps_ref = 0.1
pgd_steps = 10
max_eps_legitimate = 12.0
max_eps_adversarial = 12.0
max_eps_random = 60.0
grid = 17
n_boundary = 100
n_paths = 200
seed = 0
device = None
torch_threads = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import transfer
from halfway_utils.infra import params

P = params.validate(locals(), transfer.PARAMETERS)
transfer.check_parameters(P)

# %% [markdown]
# Imports, the project's figure style and the figure log for the claims ledger.

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from halfway_utils.infra import plotting

plotting.set_style()
figs = plotting.Figures()
if torch_threads is not None:  # on a shared, loaded CPU one thread is several times faster than two
    torch.set_num_threads(torch_threads)
clock = time.perf_counter()

# %% [markdown]
# ## Models and inputs
# The zoo of notebook 00 (and its other seeds), loaded from the cache. A data set that is not
# on this machine (CIFAR-10 needs internet) is skipped with the reason. The inputs are the
# first `n_inputs` samples of the zoo's test subset.

# %%
zoos, model_table = transfer.load_zoos(datasets, archs, seeds, n_inputs, device)
model_table

# %% [markdown]
# ## Adversarial sets
# One attack per (source model, attack, ε), cached on disk: a transfer matrix over N models
# costs N attacks and N² evaluations. PGD takes `pgd_steps` steps from a seeded random start.

# %%
adv, hits = transfer.adversarial_sets(zoos, attack_names, eps_list, pgd_steps=pgd_steps, seed=seed)
print(f"{len(hits)} adversarial sets, {sum(hits)} from the cache")

# %% [markdown]
# ## Transfer matrices
# Success rate of each source's adversarial inputs on each target, over the inputs that both
# classify correctly; the diagonal is the white-box attack. A control: random sign noise of
# the same L∞ size on each target.

# %%
outcomes, rates = transfer.transfer_rates(zoos, adv, attack_names, eps_list)
noise, noise_rates = transfer.sign_noise(zoos, eps_list, seed)
rates = pd.concat([rates, noise_rates], ignore_index=True)
rates.pivot_table(index=["dataset", "attack", "eps"], columns="kind", values="success").round(3)

# %% [markdown]
# Heatmaps of the PGD transfer matrices, one per ε: rows are sources, columns targets.

# %%
for name, z in zoos.items():
    figs.save(transfer.figure_transfer_matrix(rates, name, list(z.models), eps_list), f"03_transfer_matrix_{name}")
    plt.show()

# %% [markdown]
# Success against ε, by kind of pair: white-box (diagonal), transfer between seeds of the same
# architecture, transfer across architectures, and the sign-noise control. The band spans the
# pairs of each kind.

# %%
figs.save(transfer.figure_transfer_vs_eps(rates), "03_transfer_vs_eps")
plt.show()

# %% [markdown]
# ## H3: distances to the boundary along three kinds of direction
# For the first `n_boundary` inputs that every model classifies correctly: MD along the legitimate direction (toward
# the nearest training sample of another class), along each source model's PGD direction at
# ε_ref, and along one seeded random direction. Each search stops at its own `max_eps` (L2); an
# input whose boundary lies further is not counted (the share found is printed). Points may
# leave [0, 1], as in Tramèr et al.

# %%
mds, ids = transfer.boundary_distances(
    zoos, adv, eps_ref=eps_ref, n_boundary=n_boundary, max_eps_legitimate=max_eps_legitimate,
    max_eps_adversarial=max_eps_adversarial, max_eps_random=max_eps_random, grid=grid, seed=seed)
summary = transfer.boundary_summary(mds, ids)
summary.round(3)

# %% [markdown]
# MD per model and direction kind (left, log scale) and the ratio ID / MD of every model pair
# (right; below 1 means the two boundaries are closer to each other than to the input).

# %%
figs.save(transfer.figure_boundary_distances(mds, ids, list(zoos)), "03_boundary_distances")
plt.show()

# %% [markdown]
# ## H4: boundary agreement against transfer
# Per unordered model pair: agreement along legitimate directions (median ID/MD, lower is
# closer), the mean gap between first flip points on `n_paths` common train-train segments of
# different classes (the H1 flip points), and the PGD transfer rate at ε_ref averaged over
# both directions of the pair.

# %%
pairs = transfer.pair_table(zoos, ids, outcomes, eps_ref=eps_ref, n_paths=n_paths, grid=grid, seed=seed)
rho_legit, rho_flip = transfer.agreement_correlations(pairs, seed)
print(f"spearman(agreement along legitimate directions, transfer) = {rho_legit}")
print(f"spearman(agreement of H1 flip points, transfer)           = {rho_flip}")
pairs.round(3)

# %% [markdown]
# ## Where adversarial points land
# For each successful PGD example at ε_ref (source fooled), take the nearest training sample n
# of the adversarial class and project the perturbation on the segment x → n: t = 0 at the
# input, 1 at n; a halfway boundary would sit near t = 0.5. We compare t with the source's own
# first flip point on that segment and report the share of the perturbation perpendicular to it.

# %%
landing = transfer.landing_table(zoos, adv, eps_ref=eps_ref, grid=grid)
transfer.landing_medians(landing).round(3)

# %% [markdown]
# Left: agreement against transfer, one point per model pair. Right: where adversarial points
# project on the segment to the nearest training sample of their new class, against the
# source's own flip point on that segment.

# %%
figs.save(transfer.figure_agreement_and_landing(pairs, landing, rho_legit, rho_flip, eps_ref),
          "03_agreement_and_landing")
plt.show()

# %% [markdown]
# ## Claims
# H3 from the legitimate-direction ratios: per input, the median of ID/MD over model pairs,
# then a bootstrap interval of the median over inputs. H4 from the rank correlation over model
# pairs and from the per-input excess of off-diagonal PGD transfer over sign noise at ε_ref.

# %%
h3 = transfer.record_h3(transfer.h3_measurements(ids, seed), P, list(zoos), figs.names)
h4_values = transfer.h4_measurements((rho_legit, rho_flip), outcomes, noise, landing, datasets=list(zoos),
                                     eps_ref=eps_ref, seed=seed)
h4 = transfer.record_h4(h4_values, P, figs.names)

# %% [markdown]
# ## Results
# The numbers behind the figures go to `results/03_transfer.json`; the verdicts are the
# ledger's, computed from the intervals above.

# %%
path = transfer.write_results(rates, summary, pairs, landing, (h3, h4), time.perf_counter() - clock, P)
for c in (h3, h4):
    print(c.summary())
print(f"wrote {path}; {time.perf_counter() - clock:.0f} s")
