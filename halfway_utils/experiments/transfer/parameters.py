"""Notebook 03's name, its parameter rules and the checks across them."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...infra import params as p
from .. import common

NOTEBOOK = "03_transfer"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "n_boot",
    n_inputs=p.integer(10, 10000),
    attack_names=p.list_of(p.one_of("pgd", "fgsm")),
    eps_list=p.list_of(p.number(0.001, 1.0)),
    eps_ref=p.number(0.001, 1.0),
    pgd_steps=p.integer(1, 1000),
    max_eps_legitimate=p.number(0.01, 1000.0),
    max_eps_adversarial=p.number(0.01, 1000.0),
    max_eps_random=p.number(0.01, 1000.0),
    grid=p.integer(3, 1000),  # this notebook's bound, not the shared one
    n_boundary=p.integer(5, 10000),
    n_cross=p.integer(0, 1000),
    n_paths=p.integer(10, 100000),
    seed=p.integer(0),
    control_seeds=p.list_of(p.integer(0)),  # replicate control models of each kind (H3, H4)
    control_noise=p.number(0.0, 1.0),  # weight noise of the positive control's copies, x each tensor's std
    control_n_train=p.integer(100, 100000),  # training subset of the negative control's random-label networks
    torch_threads=common.SHARED["torch_threads"],
)


def check_parameters(P: Mapping[str, Any]) -> None:
    """The checks across parameters that single rules cannot express; raises ParameterError."""
    problems = []
    if P["n_test"] is not None and P["n_inputs"] > P["n_test"]:
        problems.append(f"n_inputs={P['n_inputs']} must be at most n_test={P['n_test']} (the test inputs attacked)")
    if P["eps_ref"] not in P["eps_list"]:
        problems.append(f"eps_ref={P['eps_ref']} must be one of eps_list={P['eps_list']}")
    if "pgd" not in P["attack_names"]:
        problems.append("the H3/H4 analysis uses PGD: keep 'pgd' in attack_names")
    if len(P.get("control_seeds", [0, 1])) < 2:
        problems.append("the controls need at least 2 control_seeds (replicate control models)")
    if len(P["seeds"]) < 2:
        problems.append("same-arch model pairs need at least 2 seeds (the claims want 5)")
    if problems:
        raise p.ParameterError("invalid notebook parameters:\n" + "\n".join(f"  {m}" for m in problems))


def claim_figures(names: Iterable[str], stems: Sequence[str]) -> list[str]:
    """The logged figure paths whose file name starts with one of ``stems``, in the order of ``stems``."""
    names = list(names)
    return [n for stem in stems for n in names if Path(n).name.startswith(stem)]
