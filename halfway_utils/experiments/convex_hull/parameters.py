"""Notebook 05's name, its parameter rules and the check of its query counts."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import data
from ...infra import params as p
from ...infra.params import ParameterError
from ..common import rules

NOTEBOOK = "05_convex_hull"

PARAMETERS = rules(
    "archs", "seeds", "n_train", "n_test", "n_boot",
    datasets=p.list_of(p.one_of("mnist", "fashion_mnist")),
    n_queries=p.integer(10, 10000),
    n_control_queries=p.integer(10, 10000),
    train_sizes=p.list_of(p.integer(10, 60000)),
    pca_dims=p.list_of(p.integer(1, 784)),
    sweep_dataset=p.one_of(*data.DATASETS),
    widths=p.list_of(p.integer(1, 8192), min_len=2),
    sweep_seeds=p.list_of(p.integer(0)),
    sweep_n_train=p.integer(10, 60000),
    sweep_n_test=p.integer(10, 10000),
    sweep_epochs_true=p.integer(1, 1000),
    sweep_epochs_random=p.integer(1, 5000),
    hull_tol=p.number(1e-12, 1e-2),
)

def check_parameters(parameters: Mapping[str, Any]) -> None:
    """Raise ParameterError when the queries outnumber the samples they are taken from.

    The test queries come from the test subset; as many held-out training samples must be left
    in the training split beside the ``n_train`` that span the hull (so ``n_train`` must be set).
    """
    problems = []
    if parameters["n_test"] is not None and parameters["n_queries"] > parameters["n_test"]:
        problems.append("n_queries must not exceed n_test")
    if parameters["n_queries"] > parameters["sweep_n_test"]:
        problems.append("n_queries must not exceed sweep_n_test")
    for name in parameters["datasets"]:
        size = data.DATASETS[name].sizes["train"]
        if parameters["n_train"] is None or parameters["n_train"] + parameters["n_queries"] > size:
            problems.append(f"n_train + n_queries must not exceed the {size} {name} training samples "
                            "(C1 compares the test queries with as many held-out training samples)")
            break
    if problems:
        raise ParameterError("; ".join(problems))

