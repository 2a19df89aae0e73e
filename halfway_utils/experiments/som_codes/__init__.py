"""Notebook 04: SOM codes across depth, clean and under attack (paper 2, S1 and S2).

Paper 2 (Lee & Vijayan) says shallow layers map inputs onto homogeneous codes and deep layers
onto diverse ones (S1), and that homogeneous codes may underlie the vulnerability to adversarial
perturbations (S2). For every fitted model of the zoo, and for its untrained twin (same
architecture and seed, not trained), the notebook fits one SOM per layer on a fixed clean test
sample and measures the codes per layer, with the MI between code and label above a
shuffled-label null.

- **S1** per (dataset, arch) stratum and pooled, one number per model: the rise from the first to
  the last hidden layer of that excess MI, minus ``max(0,`` the same rise in the untrained twin``)``.
- **S2** under PGD at the middle eps: a layer's excess change is the attack's code change rate minus
  that of random perturbations of the same L2 norm; at matched depth, the Spearman correlation
  across a stratum's models of homogeneity and excess change, averaged over hidden layers.

The model is the unit of replication: Student-t intervals over models (S1), a bootstrap over
models (S2). Each claim also measures a positive and a negative control network by the same code.

Modules:

- :mod:`.parameters`: ``NOTEBOOK`` and ``PARAMETERS``.
- :mod:`.zoo_codes`: the zoo's clean codes (:func:`code_zoo`, ``FittedModel``) and their
  statistics per layer (:func:`code_metrics_table`).
- :mod:`.perturbed_codes`: the codes of attacked and of randomly perturbed inputs (:func:`attack_codes`).
- :mod:`.s1`, :mod:`.s2`: each claim's per-model measurement, estimates, rule, notes and ledger record.
- :mod:`.controls`: each claim's positive and negative control networks, coded and measured as the zoo
  (:func:`s1_controls`, :func:`s2_controls`).
- :mod:`.figures`: every figure of the notebook.
- :mod:`.results`: :func:`write_results`.

The SOM code statistics themselves are in :mod:`halfway_utils.methods.codes`, the matched-norm
random perturbation in :mod:`halfway_utils.methods.perturb`.
"""
from . import s1, s2
from .controls import s1_controls, s2_controls
from .figures import (
    figure_change_rate_depth,
    figure_code_metrics_depth,
    figure_excess_mi,
    figure_first_departure,
    figure_homogeneity,
    figure_occupancy,
)
from .parameters import NOTEBOOK, PARAMETERS
from .perturbed_codes import attack_codes
from .results import write_results
from .s1 import s1_estimates, s1_per_model
from .s2 import homogeneity_points, middle_eps, s2_correlations, s2_estimates, s2_per_model
from .zoo_codes import METRICS, clean_accuracy, code_metrics_table, code_zoo, grid_name

__all__ = [
    "METRICS", "NOTEBOOK", "PARAMETERS", "attack_codes", "clean_accuracy", "code_metrics_table", "code_zoo",
    "figure_change_rate_depth", "figure_code_metrics_depth", "figure_excess_mi", "figure_first_departure",
    "figure_homogeneity", "figure_occupancy", "grid_name", "homogeneity_points", "middle_eps", "s1",
    "s1_controls", "s1_estimates", "s1_per_model", "s2", "s2_controls", "s2_correlations", "s2_estimates",
    "s2_per_model", "write_results",
]
