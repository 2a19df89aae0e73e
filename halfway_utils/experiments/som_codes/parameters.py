"""Notebook 04's name and its parameter rules."""
from __future__ import annotations

from ...infra import params as p
from .. import common

NOTEBOOK = "04_som_codes"

PARAMETERS = common.rules(
    "datasets", "archs", "n_train", "n_test",
    seeds=p.list_of(p.integer(0), min_len=3),
    n_samples=p.integer(100, 10000),
    n_attack=p.integer(20, 10000),
    som_rows=p.integer(2, 100),
    som_cols=p.integer(2, 100),
    alt_rows=p.integer(2, 100),
    alt_cols=p.integer(2, 100),
    som_epochs=p.integer(1, 200),
    n_shuffles=p.integer(1, 1000),
    attacks_used=p.list_of(p.one_of("fgsm", "pgd")),
    eps_values=p.list_of(p.number(0.001, 1.0), min_len=3),
    pgd_steps=p.integer(1, 1000),
    torch_threads=common.SHARED["torch_threads"],
)
