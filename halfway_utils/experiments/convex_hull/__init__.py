"""Notebook 05: do test samples lie outside the convex hull of the training set? (paper 3, C1/C2)

What the notebook measures:

- **C1** For the test queries and as many held-out training samples (training-split samples not in
  the hull's training subset): the exact distance to the convex hull of the training set, the
  distance to the nearest training sample, and whether the model's label changes at the query's
  projection on the hull; in pixel space and in the penultimate features of the zoo's fitted models.
  The primary is the median hull/NN ratio of the test queries minus that of the held-out ones,
  decided per (dataset, space) stratum and pooled. A training-size sweep of the pixel hull is reported.
- **C2** A width sweep of the ``mlp`` trained to the zoo's target training accuracy with true and with
  random labels over several labelings; the primary is the random-label test accuracy minus chance at
  the widest width whose random-label models fit.

Modules:

- :mod:`.parameters`: ``NOTEBOOK``, ``PARAMETERS`` and :func:`check_parameters`.
- :mod:`.tables`: the splits (``Split``, held-out samples) and the per-query hull tables, in pixel and
  feature space, and their summaries.
- :mod:`.sizes`: the training-size sweep of the pixel hull (reported).
- :mod:`.sweep`: the width sweep and its outside-hull agreement with the 1-NN (C2's measurements).
- :mod:`.c1`, :mod:`.c2`: each claim's estimates, rule, notes and ledger record.
- :mod:`.figures`: every figure of the notebook.
- :mod:`.results`: :func:`write_results`.
"""
from . import c1, c2
from .figures import (
    figure_c1_effect,
    figure_hull_vs_nn,
    figure_ratio_distributions,
    figure_train_size,
    figure_width_sweep,
)
from .parameters import NOTEBOOK, PARAMETERS, check_parameters
from .results import write_results
from .sizes import train_size_sweep
from .sweep import sweep_agreement, sweep_hull, width_sweep
from .tables import feature_tables, load_split, pixel_tables, ratio_frame, summarize

__all__ = [
    "NOTEBOOK", "PARAMETERS", "c1", "c2", "check_parameters", "feature_tables", "figure_c1_effect",
    "figure_hull_vs_nn", "figure_ratio_distributions", "figure_train_size", "figure_width_sweep", "load_split",
    "pixel_tables", "ratio_frame", "summarize", "sweep_agreement", "sweep_hull", "train_size_sweep",
    "width_sweep", "write_results",
]
