"""Notebook 01's name and its parameter rules."""
from __future__ import annotations

from ...data import DATASETS
from ...infra import params as p
from ...zoo import ARCH_KW
from .. import common

NOTEBOOK = "01_halfway_boundaries"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot",
    n_pairs=p.integer(10, 100000),
    n_control_pairs=p.integer(10, 100000),
    n_control_paths=p.integer(10, 100000),
    history_arch=p.one_of(*ARCH_KW),
    history_dataset=p.one_of(*DATASETS),
    history_epochs=p.list_of(p.integer(0, 1000)),
)
