"""Parameter rules that every notebook shares; each experiment module extends them.

An experiment declares ``PARAMETERS = common.rules(...)``: the shared rules it uses plus
its own. Its notebook validates its parameters cell against it in one line,
``P = params.validate(locals(), module.PARAMETERS)``, and the profile tests check every
``notebooks/params/<profile>/*.yaml`` against the same table without running anything.
:func:`in_grid_order` lists the models of :func:`halfway_utils.zoo.load` (fitted first) in the grid's order.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..data import DATASETS
from ..infra import params as p
from ..infra.params import Rule
from ..train import TrainResult
from ..zoo import ARCH_KW

DEVICES = (None, "cpu", "cuda", "mps")

SHARED: dict[str, Rule] = {
    "profile": p.profile(),
    "datasets": p.list_of(p.one_of(*DATASETS)),
    "archs": p.list_of(p.one_of(*ARCH_KW)),
    "seeds": p.list_of(p.integer(0)),
    "n_train": p.integer(10, 60000, none=True),
    "n_test": p.integer(10, 10000, none=True),
    "grid": p.integer(3, 1001),
    "n_boot": p.integer(100, 100000),
    "device": p.one_of(*DEVICES),
    "torch_threads": p.integer(1, 256, none=True),  # None: torch's default
}


def rules(*shared: str, **own: Rule) -> dict[str, Rule]:
    """The named shared rules (``profile`` and ``device`` always) followed by ``own``."""
    unknown = [name for name in shared if name not in SHARED]
    if unknown:
        raise KeyError(f"no shared rule for {unknown}; shared rules: {list(SHARED)}")
    names = ["profile", *[n for n in shared if n not in ("profile", "device")], "device"]
    return {**{name: SHARED[name] for name in names}, **own}


def in_grid_order(results: Iterable[TrainResult], datasets: Sequence[str], archs: Sequence[str],
                  seeds: Sequence[int]) -> list[TrainResult]:
    """``results`` in the order :func:`halfway_utils.zoo.grid` lists their configs: data set, then arch, then seed."""
    rank = {key: k for k, key in enumerate((d, a, s) for d in datasets for a in archs for s in seeds)}
    return sorted(results, key=lambda r: rank[(r.config.dataset, r.config.arch, r.config.seed)])
