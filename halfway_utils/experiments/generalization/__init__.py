"""Notebook 02 (claim H2): generalization by the halfway partition.

Does a network label an unseen input like the nearest training sample (the 1-NN rule, the
"halfway" partition of its training set)? Raw agreement with the 1-NN label cannot decide that,
so H2 is decided on the inputs where the two rules can part: the shared-error kappa, on the test
inputs the pixel-space 1-NN rule gets wrong, of the network's errors against the 1-NN's beyond
independent errors, over the same kappa between two networks of different seeds (the ceiling
replicates reach), per (dataset, arch) stratum and pooled, with the model as the unit. A
small-bandwidth RBF kernel machine (positive) and a noisy oracle (negative) are decided by the
same rule; raw agreements, a random-label run and a width sweep of the MLP are reported beside it.

Modules:

- :mod:`.parameters`: ``NOTEBOOK`` and ``PARAMETERS``;
- :mod:`.agreement`: the shared subsets, their pixel 1-NN labels and each model's agreement per test sample;
- :mod:`.kappa`: the shared-error kappa, its two-level bootstrap, per stratum and pooled;
- :mod:`.ceiling`: the primary, that kappa over the replicate ceiling, its joint bootstrap and its reach;
- :mod:`.control_systems`: the positive and negative controls and the kernel machine's bandwidth sweep;
- :mod:`.controls`: the random-label runs, the width sweep and notebook 01's flip summary on their models;
- :mod:`.figures`: the controls figure and the width-sweep figure;
- :mod:`.h2`: the claim: its rule, reported measurements, per-stratum table, notes and ledger entry;
- :mod:`.results`: the results file.
"""
from __future__ import annotations

from ..common import in_grid_order
from . import h2
from .agreement import AGREEMENT_KEYS, agreement_runs, load_data, pixel_accuracy
from .ceiling import primary_by_stratum, reach
from .control_systems import bandwidth_sweep, control_estimates, control_rows
from .controls import CHANCE, random_label_runs, width_runs
from .figures import figure_controls, figure_width_sweep
from .kappa import error_groups, kappa_by_stratum, model_kappas
from .parameters import NOTEBOOK, PARAMETERS
from .results import write_results

__all__ = [
    "AGREEMENT_KEYS",
    "CHANCE",
    "NOTEBOOK",
    "PARAMETERS",
    "agreement_runs",
    "bandwidth_sweep",
    "control_estimates",
    "control_rows",
    "error_groups",
    "figure_controls",
    "figure_width_sweep",
    "h2",
    "in_grid_order",
    "kappa_by_stratum",
    "load_data",
    "model_kappas",
    "pixel_accuracy",
    "primary_by_stratum",
    "random_label_runs",
    "reach",
    "width_runs",
    "write_results",
]
