"""Notebook 01 (claim H1): where a trained network's decision flips between two samples.

On the straight segment ``x(t) = (1 - t) a + t b`` between two training samples of different
classes, does a trained network switch its decision near ``t = 0.5``? For every fitted model of
the zoo the notebook scans three kinds of pairs (train-train of different classes: the claim;
train-train of the same class: a control; test-train of different classes: off the training set),
scans the claim's pairs again with the same network untrained (the null) and with the 1-NN rule
of the training subset (the Voronoi bisector: what "exactly halfway" looks like) and with the
claim's controls (classifiers built to meet halfway or not to), follows one
model from checkpoint to checkpoint, and records H1 by its registered rule.

Modules:

- :mod:`.parameters`: ``NOTEBOOK`` and ``PARAMETERS``;
- :mod:`.pairs`: the pair kinds, the shared subsets, the seeded pairs and the symmetric flip zone;
- :mod:`.scan`: the scans of every fitted model, its untrained twin and the 1-NN rule, and the
  claim's per-path table;
- :mod:`.history`: the boundary history of one model retrained with checkpoints;
- :mod:`.morph`: one path seen by each model;
- :mod:`.controls`: the claim's controls, classifiers built to meet halfway (a kernel machine of
  small bandwidth, the 1-NN rule) or not to (a 1-NN rule that favours one class of each pair);
- :mod:`.h1`: the claim: its primary, reported measurements, rule, notes and ledger entry;
- :mod:`.figures`: the notebook's figures;
- :mod:`.results`: the results file.
"""
from __future__ import annotations

from . import controls, h1
from .controls import scan_controls
from .figures import (
    figure_either_side,
    figure_first_last,
    figure_flip_distributions,
    figure_gain,
    figure_history,
    figure_morph,
)
from .history import boundary_history, train_history
from .morph import morph_path
from .pairs import CLAIM_KIND, draw_pairs, load_sets
from .parameters import NOTEBOOK, PARAMETERS
from .results import write_results
from .scan import claim_paths, model_means, scan_models

__all__ = [
    "CLAIM_KIND",
    "NOTEBOOK",
    "PARAMETERS",
    "boundary_history",
    "claim_paths",
    "controls",
    "draw_pairs",
    "figure_either_side",
    "figure_first_last",
    "figure_flip_distributions",
    "figure_gain",
    "figure_history",
    "figure_morph",
    "h1",
    "load_sets",
    "model_means",
    "morph_path",
    "scan_controls",
    "scan_models",
    "train_history",
    "write_results",
]
