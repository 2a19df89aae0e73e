"""Notebook 03: do independently trained models share their boundaries (H3), and does that explain
why adversarial examples transfer between them (H4)?

For the zoo's fitted models per data set (architectures x seeds, from the cache), following
Tramèr et al. (arXiv 1704.03453), "The Space of Transferable Adversarial Examples", the notebook
measures adversarial sets (FGSM, PGD L-inf over eps) crafted on each source and their transfer
to each target against random sign noise; the minimum distance to each model's boundary along
legitimate, adversarial and random directions, and per model pair the gap between boundaries
against a permutation null of unrelated boundaries (H3); where successful PGD points land on the
segment to the adversarial class against random perturbations of the same L2 norm, and transfer
against boundary agreement per model pair; along each source's PGD direction, the target's
boundary distance against sign noise of the same size, over the source's own (H4).

Modules:

- :mod:`.parameters`: ``NOTEBOOK``, ``PARAMETERS`` and :func:`check_parameters`;
- :mod:`.bundles`: each data set's fitted models, inputs and training set (:class:`~.bundles.Bundle`,
  built from :func:`halfway_utils.zoo.load`), and the model pairs measured;
- :mod:`.adversarial`: the cached adversarial sets, transfer outcomes and rates, the sign-noise control;
- :mod:`.distances`: distances to each model's boundary along the three direction kinds;
- :mod:`.h3`: H3's rows against the permutation null, its estimates, rule and ledger entry;
- :mod:`.agreement`: per model pair, boundary agreement beside transfer;
- :mod:`.h4`: H4's primary (the target's boundary along the source's PGD direction against sign
  noise, over the source's own), the landing points it replaced with their bound, its estimates,
  rule and ledger entry;
- :mod:`.controls`: H3's and H4's positive (noisy copies of the source) and negative (networks
  fitted to random labels) controls, measured by the same code;
- :mod:`.figures`: the notebook's figures; :mod:`.results`: :func:`write_results`.

The directions and boundary distances are in :mod:`halfway_utils.methods.directions`, the
matched-norm perturbation in :mod:`halfway_utils.methods.perturb`, the bootstraps with models as
the unit and the permutation null in :mod:`halfway_utils.evidence.stats`.
"""
from __future__ import annotations

from . import h3, h4
from .adversarial import adversarial_sets, sign_noise, transfer_rates
from .agreement import pair_table
from .bundles import excluded_note, load_bundles, model_pairs, pair_kind
from .controls import control_distances, control_estimates, control_table
from .distances import boundary_distances, boundary_summary
from .figures import (
    figure_boundary_distances,
    figure_controls,
    figure_landing_and_agreement,
    figure_transfer_matrix,
    figure_transfer_vs_eps,
)
from .h3 import h3_estimates, h3_rows
from .h4 import h4_estimates, h4_rows, landing_bound, landing_medians, landing_table
from .parameters import NOTEBOOK, PARAMETERS, check_parameters
from .results import write_results

__all__ = [
    "NOTEBOOK",
    "PARAMETERS",
    "adversarial_sets",
    "boundary_distances",
    "boundary_summary",
    "check_parameters",
    "control_distances",
    "control_estimates",
    "control_table",
    "excluded_note",
    "figure_boundary_distances",
    "figure_controls",
    "figure_landing_and_agreement",
    "figure_transfer_matrix",
    "figure_transfer_vs_eps",
    "h3",
    "h3_estimates",
    "h3_rows",
    "h4",
    "h4_estimates",
    "h4_rows",
    "landing_bound",
    "landing_medians",
    "landing_table",
    "load_bundles",
    "model_pairs",
    "pair_kind",
    "pair_table",
    "sign_noise",
    "transfer_rates",
    "write_results",
]
