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
# our reading of it ([docs/papers.md](../docs/papers.md)), not the paper's words:
#
# - **H3 shared boundaries.** Independently trained networks (other seeds, architectures) put
#   their boundaries at nearly the same places: the distance between two models' boundaries is
#   small compared with the distance from a sample to either boundary.
# - **H4 transfer.** Because the boundaries are shared, adversarial examples crafted on one
#   model cross the others' boundaries too: along the source's adversarial direction the
#   target's boundary lies nearly as near as the source's own, and transfer rises with
#   boundary agreement.
#
# **What we measure.** With the method of Tramèr et al. (arXiv 1704.03453): for test inputs
# and unit directions *d* of three kinds (legitimate: toward the nearest training sample of
# another class; adversarial: a source model's PGD perturbation; random: Gaussian), the minimum
# distance MD_d(f, x) to each model's boundary, searched on points clipped to [0, 1], and the
# inter-boundary distance ID = |MD_d(f1, x) − MD_d(f2, x)| of each model pair, relative to the
# pair's mean MD; for H4, also along sign noise of L∞ size ε_ref. A boundary beyond the search
# range (`max_eps_*`) is *censored*: it counts at `max_eps` (it lies at least that far), it is
# not dropped. Transfer matrices of FGSM and PGD
# (L∞) over ε, on the inputs that source and target both classify correctly.
#
# **The nulls.**
# - H3: *unrelated boundaries*, a permutation null: model A's distance on input i is paired with
#   model B's on another input j of the same class and direction kind (both ways round). Along a
#   legitimate direction both boundaries lie on the same short segment, so ID/MD is small even for
#   unrelated boundaries; the raw ratio cannot tell shared from unrelated, the ratio to this null
#   can. We take the stronger form for legitimate directions: distances divided by the segment's
#   length (positions t on the segment), so the null places two boundaries independently on a
#   segment of the *same* length; pairing raw distances of segments of different lengths would
#   make unrelated boundaries look further apart than they are and the test easier to pass.
# - H4: *unrelated boundaries*: for the target, the source's adversarial direction is no better
#   than a random direction shaped like the attack, sign noise of the same L∞ size ε_ref (clipped
#   to [0, 1]). (Reported beside it: where PGD points land against a random perturbation of the
#   same L2 norm, the former primary.)
#
# **Decision rules** (registered in `halfway_utils/experiments/transfer/h3.py` and `h4.py`; decided on the
# whole 95% interval, per stratum and pooled, on fitted models only; a model that missed its
# target training accuracy is named and excluded):
# - **H3**, primary `h3_shared_boundaries`: per model pair, 1 − (median over inputs of ID/MD) / (the
#   permutation null's), averaged over pairs: **0** is the null (unrelated boundaries), **1** the ideal
#   (identical boundaries: a model against itself). Supported when the whole interval is above the
#   margin **0.5**; *no effect* when it lies within the band **0.1** of the null. Strata: (dataset,
#   direction kind), pooled as the mean over strata. Pairs: every same-arch pair and `n_cross`
#   cross-arch partners per model; intervals from a crossed bootstrap that redraws models (within each
#   architecture) and inputs, so the model is the unit.
# - **H4**, primary `h4_adversarial_direction_shared`: per oriented model pair (source → target, each
#   pair measured along one member's PGD directions at ε_ref) the median over inputs of
#   log(MD_sign / MD_adv) of the target, over the same for the source itself: **0** when the source's
#   adversarial direction is no better than sign noise for the target (unrelated boundaries), **1**
#   when the target's boundary lies as near along it as the source's own (shared boundaries).
#   Supported above the margin **0.5**; *no effect* within the band **0.2**. Strata: (dataset, same-arch
#   or cross-arch pair), pooled as the mean over strata; crossed bootstrap over models and inputs.
#   Where PGD points land on the segment to the adversarial class (the former primary), transfer over
#   sign noise and transfer against boundary agreement are reported, not judged.
#
# **Margins, anchored before the numbers.** Both margins are *half of the way from the null to the
# ideal*: boundaries nearer to identical than to unrelated (H3; the same point as the earlier
# observed/null < 0.5), and a shared boundary that explains at least half of the source's own
# advantage along its adversarial direction (H4, in log distance). We do not anchor to the ceiling
# that replicate networks reach: same-arch replicates are themselves part of the zoo the claims are
# about, so dividing by them would make the same-arch pairs 1 by construction; their value is reported
# beside the verdict (H3's `..._same_arch` splits, H4's same-arch strata). The bands say what counts
# as *no effect*: a tenth of the way for H3; a fifth for H4, because networks fitted to random labels
# on the same images meet an adversarial direction a little sooner than sign noise (about 0.05:
# sensitivity to image-like directions, not a shared boundary), which a tenth could not hold.
#
# **Controls.** Beside the zoo, one source per data set (its first fitted model) is measured by the
# same code against a *positive* control, copies of itself with Gaussian weight noise of
# `control_noise` × each tensor's std (the same boundary, moved a little), and a *negative* control,
# networks of its architecture fitted to random labels (`train.py`, `labels="random"`): boundaries
# that follow no class structure. A network trained with its class *names* permuted would not do:
# a boundary is where the predicted class changes, which relabelling leaves in place. The positive
# must read *supported* and the negative *no effect*.
#
# The four verdicts: *supported* (the whole interval beyond the margin), *weaker than claimed* (beyond
# the null, short of the margin), *no effect* (within the band around the null, or on its wrong
# side), *inconclusive* (an interval across a reference). Each is a result, not a failure.

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn", "resnet"]
seeds = [0, 1, 2, 3, 4]
n_train = 1000
n_test = 1000
n_inputs = 100
attack_names = ["pgd"]
eps_list = [0.1]  # one ε in the quick profile (the paper profile sweeps five)
eps_ref = 0.1
pgd_steps = 10
max_eps_legitimate = 12.0
max_eps_adversarial = 12.0
max_eps_random = 60.0
grid = 17
n_boundary = 50
n_cross = 2
n_paths = 50
n_boot = 1000
seed = 0
control_seeds = [0, 1, 2, 3, 4]  # replicate control models of each kind (H3, H4)
control_noise = 0.02  # the positive control's weight noise, x each tensor's std
control_n_train = 1000  # the negative control's random-label training subset
device = None
torch_threads = 1  # None: torch's default (the paper profile's GPU run)

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

from halfway_utils.infra import outputs, plotting

outputs.route("03_transfer", P)  # the profile's record, or runs/<profile>+<hash>/ if a value differs
plotting.set_style()
figs = plotting.Figures()
if torch_threads is not None:  # on a shared, loaded CPU one thread is several times faster than two
    torch.set_num_threads(torch_threads)
clock = time.perf_counter()

# %% [markdown]
# ## Models, inputs and model pairs
# The zoo of notebook 00 (5 seeds per architecture), loaded from the cache; only fitted models
# count (the excluded ones are named). A data set that is not on this machine (CIFAR-10 needs
# internet) is skipped with the reason. The inputs are the first `n_inputs` samples of the zoo's
# test subset. The model pairs: every same-arch pair and `n_cross` cross-arch partners per model.

# %%
bundles, model_table = transfer.load_bundles(datasets, archs, seeds, n_inputs, device, n_train=n_train,
                                             n_test=n_test)
excluded = transfer.excluded_note(bundles)
models = {name: list(b.models) for name, b in bundles.items()}
pairs = {name: transfer.model_pairs(names, n_cross) for name, names in models.items()}
print(excluded)
print({name: f"{len(v)} pairs ({sum(transfer.pair_kind(a, b) == 'same arch' for a, b in v)} same arch)"
       for name, v in pairs.items()})
model_table

# %% [markdown]
# ## Adversarial sets
# One attack per (source model, attack, ε), cached on disk: a transfer matrix over N models
# costs N attacks and N² evaluations. PGD takes `pgd_steps` steps from a seeded random start.

# %%
adv, hits = transfer.adversarial_sets(bundles, attack_names, eps_list, pgd_steps=pgd_steps, seed=seed)
print(f"{len(hits)} adversarial sets, {sum(hits)} from the cache")

# %% [markdown]
# ## Transfer matrices
# Success rate of each source's adversarial inputs on each target, over the inputs that both
# classify correctly; the diagonal is the white-box attack. A control: random sign noise of
# the same L∞ size on each target.

# %%
outcomes, rates = transfer.transfer_rates(bundles, adv, attack_names, eps_list)
noise, noise_rates = transfer.sign_noise(bundles, eps_list, seed)
rates = pd.concat([rates, noise_rates], ignore_index=True)
rates.pivot_table(index=["dataset", "attack", "eps"], columns="kind", values="success").round(3)

# %% [markdown]
# Heatmaps of the PGD transfer matrices, one per ε: rows are sources, columns targets.

# %%
for name, b in bundles.items():
    figs.save(transfer.figure_transfer_matrix(rates, name, list(b.models), eps_list), f"03_transfer_matrix_{name}")
    plt.show()

# %% [markdown]
# Success against ε, by kind of pair: white-box (diagonal), transfer between seeds of the same
# architecture, transfer across architectures, and the sign-noise control. The band spans the
# pairs of each kind. The quick profile attacks at ε_ref only (one point per kind), to spend its
# time on 5 models per architecture; the paper profile sweeps five ε.

# %%
figs.save(transfer.figure_transfer_vs_eps(rates), "03_transfer_vs_eps")
plt.show()

# %% [markdown]
# Explore one input: run live, sliders set ε, the source model and the input; PGD (`pgd_steps` steps)
# runs on that one image and every model predicts on the result (red: fooled). Under papermill it is
# drawn once at ε_ref from the first model.

# %%
from halfway_utils.teaching import explorers

b = next(iter(bundles.values()))
explorers.explorer(explorers.epsilon_figure, b, pgd_steps, eps=(0.0, max(0.3, eps_ref), 0.01, eps_ref),
                   source=list(b.models), index=(0, len(b.x) - 1, 1))
plt.show()

# %% [markdown]
# ## H3: distances to the boundary along three kinds of direction
# For the first `n_boundary` inputs that every model classifies correctly: MD along the
# legitimate direction, along each source model's PGD direction at ε_ref (searched for the
# source and its partners), along one seeded random direction, and (H4's null) along one seeded
# sign-noise direction of L∞ size ε_ref; points clipped to [0, 1].
# Then per pair and input the observed ID/MD and the permutation null's. The table gives the
# share censored, the median MD, and the median observed and null ID/MD per direction.

# %%
mds = transfer.boundary_distances(
    bundles, adv, pairs, eps_ref=eps_ref, n_boundary=n_boundary, max_eps_legitimate=max_eps_legitimate,
    max_eps_adversarial=max_eps_adversarial, max_eps_random=max_eps_random, grid=grid, seed=seed)
h3_rows = transfer.h3_rows(mds, pairs)
summary = transfer.boundary_summary(mds, h3_rows)
summary.round(3)

# %% [markdown]
# Left: MD per architecture and direction kind (log scale). Right: per model pair, H3's primary
# 1 − (median ID/MD) / (the null's), coloured by the pair's architectures (0: no closer than
# unrelated boundaries, grey: the no-effect band; dashed: H3's margin; 1: identical boundaries).

# %%
figs.save(transfer.figure_boundary_distances(mds, h3_rows, list(bundles)), "03_boundary_distances")
plt.show()

# %% [markdown]
# ## H4: does the source's adversarial direction cross the target's boundary too?
# Per oriented pair and input, from the same distances: `toward` = log(MD_sign / MD_adv) of the
# target along the source's PGD direction, `own` = the same of the source. The primary is, per
# pair, median `toward` / median `own`. Per data set and kind of pair, the medians:

# %%
h4_rows = transfer.h4_rows(mds)
h4_rows.groupby(["dataset", "kind"])[["toward", "own"]].median().round(3)

# %% [markdown]
# **Why the primary changed: the former one could not pass.** For each successful PGD example at
# ε_ref we take the nearest training sample n of the adversarial class and project the point on
# the segment x → n (t = 0 at the input, 1 at n); the former primary was t over the source's own
# first flip point there, minus the same for a random perturbation of the same L2 norm, against a
# margin of 0.5. But an L∞ step δ moves t at most ‖δ‖∞ ‖s‖₁ / ‖s‖₂² along the segment s = n − x
# (t = ⟨δ, s⟩ / ‖s‖₂² ≤ ‖δ‖∞ ‖s‖₁ / ‖s‖₂²). Computed from the data, per data set: that bound
# (median, max) against the median flip point, and the share of examples whose bound reaches even
# half of their flip point. (The new primary has no such ceiling: it compares distances to the target's
# boundary along whole directions, searched up to `max_eps`, and its controls land at both ends.)

# %%
landing = transfer.landing_table(bundles, adv, eps_ref=eps_ref, grid=grid, seed=seed)
bound = transfer.landing_bound(landing)
share = bound["share_bound_reaches_half_flip"]
print(f"examples whose landing fraction could reach 0.5 at all: {share.round(3).to_dict()}; the former primary, a "
      "median, needs more than half of them there (before the random term is even subtracted), so it "
      + ("could not pass in any data set" if (share < 0.5).all() else "was out of reach where the share is < 0.5"))
pd.concat([bound, transfer.landing_medians(landing)[["landing", "landing_random"]]], axis=1).round(3)

# %% [markdown]
# Per measured model pair: agreement along legitimate directions (the pair's H3 ratio, lower is
# closer), the mean gap between first flip points on `n_paths` train-train segments of different
# classes, the PGD transfer rate at ε_ref over both directions, and the sign-noise rate.

# %%
pair_table = transfer.pair_table(bundles, h3_rows, pairs, outcomes, noise, eps_ref=eps_ref, n_paths=n_paths,
                                 grid=grid, seed=seed)
pair_table.groupby(["dataset", "kind"])[["legit_effect", "flip_gap", "transfer", "noise"]].mean().round(3)

# %% [markdown]
# Left: landing fractions of PGD points, of random perturbations of the same norm, and the most an
# L∞ step of that size can reach (the bound above; dashed: the former margin). Middle: perpendicular
# shares against random. Right: boundary agreement against transfer, one point per model pair.

# %%
figs.save(transfer.figure_landing_and_agreement(landing, pair_table, eps_ref), "03_landing_and_agreement")
plt.show()

# %% [markdown]
# ## Controls
# Per data set, the source (the first fitted model) against `len(control_seeds)` noisy copies of
# itself (positive) and as many networks fitted to random labels (negative), each pair searched
# along the source's own PGD directions on the first `n_boundary` inputs the source classifies
# correctly, by the same functions as the zoo; the control models are redrawn as replicates in the
# same crossed bootstrap. Its cost is printed.

# %%
tic = time.perf_counter()
control_mds, control_models = transfer.control_distances(
    bundles, adv, seeds=control_seeds, noise=control_noise, n_train=control_n_train, n_test=n_test or 1000,
    eps_ref=eps_ref, n_boundary=n_boundary, max_eps_legitimate=max_eps_legitimate,
    max_eps_adversarial=max_eps_adversarial, max_eps_random=max_eps_random, grid=grid, seed=seed, device=device)
found = transfer.control_estimates(control_mds, control_models, noise=control_noise, n_boot=n_boot, seed=seed)
control_seconds = time.perf_counter() - tic
print(f"controls: {control_seconds:.0f} s")
controls_table = transfer.control_table(found, {"H3": transfer.h3.RULE, "H4": transfer.h4.RULE})
controls_table.round(3)

# %% [markdown]
# **Why each primary can land on either side.** Both are 0 for unrelated boundaries and 1 for
# identical ones, and nothing in the measurement holds them to either end: the positive control
# (a copy of the source) lands near 1 and the negative control (random-label networks) near 0,
# through the same code and the same rule as the zoo. The figure puts the zoo's strata and pooled
# value beside the controls, against each rule's null with its band (grey), margin (dashed) and
# ideal.

# %%
h3_strata, h3_pooled, h3_reported = transfer.h3_estimates(h3_rows, models, n_boot=n_boot, seed=seed)
h4_strata, h4_pooled, h4_reported = transfer.h4_estimates(h4_rows, landing, pair_table, models, n_boot=n_boot,
                                                          seed=seed)
figs.save(transfer.figure_controls({"H3": (h3_strata, h3_pooled, found["H3"]),
                                    "H4": (h4_strata, h4_pooled, found["H4"])},
                                   {"H3": transfer.h3.RULE, "H4": transfer.h4.RULE}), "03_controls")
plt.show()

# %% [markdown]
# ## Claims
# Each claim is decided by its registered rule on its primary, per stratum and pooled, with its
# controls decided by the same rule; the other numbers are recorded beside it, not judged. Both
# intervals come from the crossed bootstrap over models and inputs.

# %%
h3 = transfer.h3.record(h3_strata, h3_pooled, h3_reported, P, models, figs.names, excluded, controls=found["H3"])
h4 = transfer.h4.record(h4_strata, h4_pooled, h4_reported, P, models, figs.names, excluded, controls=found["H4"])

# %% [markdown]
# ## Results
# The verdicts, per stratum and pooled, as the ledger computed them from the intervals above
# in the four words, with each control's verdict (a control that reads against how it was built is
# flagged "NOT AS BUILT").
# The numbers behind the figures go to `results/03_transfer.json`.

# %%
path = transfer.write_results(rates, summary, pair_table, landing, (h3, h4), time.perf_counter() - clock, P,
                              controls=controls_table)
for c in (h3, h4):
    print(c.summary(), "\n")
print(f"wrote {path}; {time.perf_counter() - clock:.0f} s")

# %% [markdown]
# ## Quick and full side by side
# The same rules on the quick subsets and on the full training sets: H3, H4's verdict in every
# profile with a ledger (a quick run beside the committed full run in `runs/full/`), the models and
# sizes behind each, and every verdict that changes with the scale (why, in the notes below).

# %%
from halfway_utils.evidence import report

scale = report.compare(['H3', 'H4'])
print("\n".join(scale.attrs["changes"]) or "no verdict changes with the scale")
scale

# %% [markdown]
# Why strata may move with the scale: the full profile has one ResNet per data set, so every pair
# with a ResNet rests on one model; H3's strata are direction kinds and H4's the kind of pair over
# all models, so a stratum keeps an interval across models in every profile.
