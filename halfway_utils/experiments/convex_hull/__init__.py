"""Notebook 05: do test samples lie outside the convex hull of the training set? (paper 3, C1/C2)

What the notebook measures:

- **C1** For the test queries and as many held-out training samples (training-split samples not in
  the hull's training subset): the exact distance to the convex hull of the training set, the
  distance to the nearest training sample, and whether the model's label changes at the query's
  projection on the hull; in pixel space and in the penultimate features of the zoo's fitted models.
  The primary is the median hull/NN ratio of the test queries (0 inside the hull, 1 the hull no closer
  than the nearest sample), decided per (dataset, space) stratum and pooled; the test-minus-held-out
  difference, a training-size sweep and a principal-component sweep of the pixel hull are reported.
- **C2** A width sweep of the ``mlp`` trained to the zoo's target training accuracy with true and with
  random labels; the primary is the share of the narrowest fitted width's far-minus-near test accuracy
  gap (thirds by hull distance) that the widest width closes; random-label fitting is reported.

Modules:

- :mod:`.parameters`: ``NOTEBOOK``, ``PARAMETERS`` and :func:`check_parameters`.
- :mod:`.tables`: the splits (``Split``, held-out samples) and the per-query hull tables, in pixel and
  feature space, and their summaries.
- :mod:`.sizes`: the training-size sweep of the pixel hull (reported).
- :mod:`.sweep`: the width sweep and its outside-hull agreement with the 1-NN (C2's measurements).
- :mod:`.c1`, :mod:`.c2`: each claim's estimates, rule, notes and ledger record (with its controls).
- :mod:`.controls`: the systems built to have or lack each claim's property.
- :mod:`.figures`: every figure of the notebook.
- :mod:`.results`: :func:`write_results`.
"""
from . import c1, c2
from .controls import c1_control_tables
from .figures import (
    figure_c1_effect,
    figure_c2_effect,
    figure_dimension_sweep,
    figure_hull_vs_nn,
    figure_ratio_distributions,
    figure_train_size,
    figure_width_sweep,
)
from .parameters import NOTEBOOK, PARAMETERS, check_parameters
from .results import write_results
from .sizes import dimension_sweep, train_size_sweep
from .sweep import sweep_agreement, sweep_hull, sweep_queries, width_sweep
from .tables import feature_tables, load_split, pixel_tables, ratio_frame, summarize

__all__ = [
    "NOTEBOOK", "PARAMETERS", "c1", "c1_control_tables", "c2", "check_parameters", "dimension_sweep",
    "feature_tables", "figure_c1_effect", "figure_c2_effect", "figure_dimension_sweep", "figure_hull_vs_nn",
    "figure_ratio_distributions", "figure_train_size", "figure_width_sweep", "load_split", "pixel_tables",
    "ratio_frame", "summarize", "sweep_agreement", "sweep_hull", "sweep_queries", "train_size_sweep",
    "width_sweep", "write_results",
]
