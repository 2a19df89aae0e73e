"""Notebook 02's name and its parameter rules."""
from __future__ import annotations

from ...data import DATASETS
from ...infra import params as p
from ...zoo import ARCH_KW
from .. import common

NOTEBOOK = "02_generalization"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot",
    random_datasets=p.list_of(p.one_of(*DATASETS)),
    random_archs=p.list_of(p.one_of(*ARCH_KW)),
    random_seeds=p.list_of(p.integer(0)),
    random_n_train=p.integer(10, 60000, none=True),
    random_epochs=p.integer(1, 10000),
    widths=p.list_of(p.integer(1, 100000)),
    width_dataset=p.one_of(*DATASETS),
    width_n_train=p.integer(10, 60000, none=True),
    width_seeds=p.list_of(p.integer(0)),
    width_epochs=p.integer(1, 10000),
    n_pairs=p.integer(10, 100000),
    kernel_bandwidth=p.number(0.001, 100.0),
    kernel_sweep=p.list_of(p.number(0.001, 100.0)),
    oracle_seeds=p.list_of(p.integer(0)),
)
