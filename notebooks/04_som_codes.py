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
# # 04 · SOM codes across depth, clean and under attack
#
# **Our reading of the claim.** Lee & Vijayan (arXiv 2205.10952) fit a self-organizing map (SOM)
# to a layer's activations and take each input's best-matching unit as its *code*. They write
# that "shallow layers near the input map onto homogeneous codes ... deep layers near the output
# turn them into diverse codes", and that "homogeneous (compressed) codes may underlie the
# vulnerability to adversarial perturbations" (`../shared/PAPERS.md`, paper 2). The paper fixes
# neither the SOM, the homogeneity measure nor the attack, so what follows is *our* reading:
#
# - **S1.** Per layer (the pixels, then every stage of the model, the last being the logits) we
#   fit one SOM, the same grid and seed for every layer, on the activations of a fixed test
#   sample, and measure the codes: units used, code entropy (overall, normalized by
#   `log2(units)`, and within each class), class purity, mutual information (MI) with the label
#   (normalized by the label entropy) and the share of units hit by several classes.
#   *Decision rule:* "deep layers give more diverse codes than shallow ones" is supported if,
#   per model (architecture × data set × seed), the last hidden layer minus the first hidden
#   layer is > 0 for **both** the normalized code entropy (more varied codes) **and** the
#   normalized MI (more class-specific codes), each on a 95 % t-interval across the models.
#   Either interval wholly below 0 refutes it.
# - **S2.** We attack the inputs with FGSM and PGD (L∞) at several ε and read the adversarial
#   inputs' codes on the SOMs fitted to clean activations. We measure, per layer, the fraction
#   of inputs whose code changes, and per input the first layer where its code leaves the clean
#   one. Both homogeneity and change rate can rise with depth, so a plain correlation over
#   layers would mostly restate depth, and the layers of one model share its SOMs and attack.
#   *Decision rule:* "homogeneous layers are the ones where perturbations take hold" is
#   supported if the **partial** Spearman correlation, over all (model, layer) pairs, between a
#   layer's homogeneity (1 − normalized code entropy) and its code change rate under PGD at the
#   middle ε, **given depth** (the ranks of both residualized on the rank of depth), is > 0 on
#   a 95 % **cluster** bootstrap interval that resamples whole models; an interval wholly below
#   0 refutes it. The raw correlation, the within-position one (arch × layer strata) and the
#   correlations with depth are reported, not decided.
#
# **Profiles.** The defaults are the *quick* profile (1000 test images, a 10×10 map, two
# seeds, 200 attacked inputs); `notebooks/params/paper/04_som_codes.yaml` uses more of each.

# %% tags=["parameters"]
profile = "quick"
datasets = ["mnist", "fashion_mnist"]
archs = ["mlp", "cnn"]
seeds = [0, 1]
n_samples = 1000
n_attack = 200
som_rows = 10
som_cols = 10
som_epochs = 10
attacks_used = ["fgsm", "pgd"]
eps_values = [0.05, 0.1, 0.2]
pgd_steps = 10
n_train = 2000
n_test = 2000
device = None

# %% [markdown]
# Check the parameters first, so a bad value fails here with one clear message.

# %%
from halfway_utils.experiments import som_codes
from halfway_utils.infra import params

P = params.validate(locals(), som_codes.PARAMETERS)
assert n_attack <= n_samples, "n_attack must not exceed n_samples (the attacked inputs are the first of the sample)"
assert "pgd" in attacks_used, "S2's decision uses PGD: keep 'pgd' in attacks_used"

# %% [markdown]
# Imports and the project's figure style; the figures of each claim are logged for its ledger entry.

# %%
import time

import matplotlib.pyplot as plt
import torch

from halfway_utils.infra import plotting
from halfway_utils.infra.store import save_results

plotting.set_style()
torch.manual_seed(0)
start = time.time()
s1_figs, s2_figs = plotting.Figures(), plotting.Figures()
eps_ref = som_codes.middle_eps(eps_values)  # S2's decision uses PGD at the middle eps

# %% [markdown]
# ## Fit one SOM per layer and code the clean sample
# For every model of the zoo we take the same class-balanced test sample and fit a SOM per layer
# (the SOM's seed is the model's seed).

# %%
fitted = som_codes.fit_zoo(datasets, archs, seeds, n_train=n_train, n_test=n_test, n_samples=n_samples,
                           rows=som_rows, cols=som_cols, epochs=som_epochs, device=device)
accuracy = som_codes.clean_accuracy(fitted)
print(f"fitted {sum(len(f.clean) for f in fitted.values())} SOMs in {time.time() - start:.0f} s; clean accuracy:",
      {f"{a}/{d}/s{s}": round(v, 3) for (d, a, s), v in accuracy.items()})

# %% [markdown]
# The code statistics of every layer (`som_codes.code_metrics`), mean over seeds. Depth is the
# layer's position from 0 (pixels) to 1 (logits), so that the MLP's four layers and the CNN's five
# share one axis.

# %%
metrics = som_codes.code_metrics_table(fitted)
metrics.groupby(["dataset", "arch", "index", "layer"])[som_codes.METRICS].mean().round(3)

# %% [markdown]
# ## S1 · Code statistics against depth
# Each line is the mean over seeds; the band spans the seeds. If shallow codes were homogeneous
# and deep ones diverse, entropy and units used would rise with depth.

# %%
title = f"S1: SOM codes ({som_rows}x{som_cols} map, {n_samples} test images) against depth"
s1_figs.save(som_codes.figure_code_metrics_depth(metrics, title=title), "04_code_metrics_depth")
plt.show()

# %% [markdown]
# ## S1 · Which classes each unit holds, shallow and deep
# For the CNN of seed 0, each cell is a SOM unit coloured by its majority class; the paler the
# cell, the more classes share it (opacity = the unit's purity), white = unused. Left: the first
# hidden layer; right: the last hidden layer.

# %%
show_arch = "cnn" if "cnn" in archs else archs[0]
s1_figs.save(som_codes.figure_occupancy(fitted, datasets, show_arch, seeds[0]), "04_occupancy")
plt.show()

# %% [markdown]
# ## S1 · The measurement
# Per model, the last hidden layer minus the first hidden layer, for the normalized entropy and
# the normalized MI (and purity, reported only). The interval is a t-interval across the
# models (architectures × data sets × seeds).

# %%
s1 = som_codes.s1_deltas(metrics)
s1_est = som_codes.s1_estimates(s1)
for k, e in s1_est.items():
    print(f"{k:28s} {e}  (n={e.n} models)")
s1.round(4)

# %% [markdown]
# ## S2 · Attack the sample and read the codes on the clean SOMs
# FGSM and PGD (L∞, random start, `pgd_steps` steps) at each ε on the first `n_attack` inputs of
# the sample. A code *changes* at a layer when the adversarial input's best-matching unit differs
# from the clean input's, on the SOM fitted to clean activations. The table: adversarial accuracy.

# %%
t0 = time.time()
changes, departures = som_codes.attack_codes(fitted, attacks_used, eps_values, n_attack=n_attack,
                                             pgd_steps=pgd_steps)
print(f"attacks and codes: {time.time() - t0:.0f} s")
changes.groupby(["attack", "eps", "dataset", "arch"])["adv_accuracy"].mean().unstack().round(3)

# %% [markdown]
# ## S2 · Where perturbations change the code
# The share of inputs whose code changes at each layer, against depth (mean over seeds, band
# over seeds). Rows: attack; columns: data set.

# %%
s2_figs.save(som_codes.figure_change_rate_depth(changes), "04_change_rate_depth")
plt.show()

# %% [markdown]
# ## S2 · The first layer where the code leaves the clean one
# Under PGD at the middle ε, the share of inputs whose code first changes at each layer
# ("never": the code is the same at every layer). Mean over seeds.

# %%
layers = {a: fitted[(datasets[0], a, seeds[0])].mapper.layers for a in archs}
s2_figs.save(som_codes.figure_first_departure(departures, layers, eps_ref), "04_first_departure")
plt.show()

# %% [markdown]
# ## S2 · Homogeneity against sensitivity: the measurement
# Each point is one layer of one model: its homogeneity on clean inputs (1 − normalized code
# entropy) and its code change rate under PGD at the middle ε. The decided number is the partial
# Spearman correlation given depth; every interval resamples whole models (clusters), since a
# model's layers share its SOMs and its attack. Reported beside it: the raw correlation, the
# within-position one (strata = arch × layer index, i.e. the same layer compared across data sets
# and seeds), both correlations with depth, and purity (the other sense of "homogeneous").

# %%
joined = som_codes.homogeneity_points(changes, metrics, eps_ref)
s2_est = som_codes.s2_estimates(joined)
for k, e in s2_est.items():
    print(f"{k:48s} {e}  ({e.method}, {e.n} models, {len(joined)} points)")

# %% [markdown]
# ## S2 · Homogeneity against sensitivity: the figure
# Left: the raw relation (colour = depth). Right: the relation S2 is decided on, with depth taken
# out: the rank of homogeneity and the rank of change rate, each minus its linear fit on the rank of
# depth. A positive slope on the right means homogeneous layers change more *than other layers of
# the same depth*; a trend only on the left is depth.

# %%
s2_figs.save(som_codes.figure_homogeneity(joined, s2_est, eps_ref), "04_homogeneity_vs_sensitivity")
plt.show()

# %% [markdown]
# ## Verdicts
# The ledger decides each verdict from the intervals and the rules stated at the top
# (`som_codes.S1_CONDITIONS`, `som_codes.S2_CONDITIONS`).

# %%
s1_claim = som_codes.record_s1(s1_est, P, figures=s1_figs.names, n_models=len(s1))
s2_claim = som_codes.record_s2(s2_est, P, figures=s2_figs.names, eps=eps_ref, n_points=len(joined))

# %% [markdown]
# ## Results
# The numbers behind the figures go to `results/04_som_codes.json`; the verdicts and the numbers
# behind them are printed last.

# %%
path = save_results("04_som_codes", {
    "clean_accuracy": [{"dataset": d, "arch": a, "seed": s, "accuracy": v} for (d, a, s), v in accuracy.items()],
    "code_metrics": metrics.to_dict("records"),
    "s1_per_model": s1.to_dict("records"),
    "s1": s1_est,
    "change_rates": changes.to_dict("records"),
    "first_departure": departures.to_dict("records"),
    "s2": {"eps": eps_ref, **s2_est},
    "s2_points": joined[som_codes.S2_POINT_COLUMNS].to_dict("records"),
    "verdicts": {"S1": s1_claim.verdict, "S2": s2_claim.verdict},
    "seconds": time.time() - start,
}, P)
for claim in (s1_claim, s2_claim):
    print(claim.summary())
print(f"wrote {path} in {time.time() - start:.0f} s")
