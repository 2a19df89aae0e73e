"""Uncertainty: seeded bootstrap intervals and intervals across seeds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval."""

    value: float
    low: float
    high: float
    n: int
    method: str

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON-ready form."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "method": self.method}

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def bootstrap(values: Sequence[float] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
              *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over finite ``values`` (vectorised, seeded)."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "bootstrap")
    rng = np.random.default_rng(seed)
    samples = array[rng.integers(0, len(array), size=(n_boot, len(array)))]
    boots = np.apply_along_axis(statistic, 1, samples) if statistic not in (np.mean, np.median) \
        else statistic(samples, axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    return Estimate(float(statistic(array)), float(low), float(high), len(array), "bootstrap")


def across_seeds(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Estimate:
    """Mean and Student-t interval of one number measured once per seed."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "t across seeds")
    mean = float(array.mean())
    if len(array) == 1:
        return Estimate(mean, float("nan"), float("nan"), 1, "single seed")
    half = float(sps.t.ppf(0.5 + level / 2, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
    return Estimate(mean, mean - half, mean + half, len(array), "t across seeds")


def spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Spearman rank correlation with a paired bootstrap interval."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        return Estimate(float("nan"), float("nan"), float("nan"), len(a), "spearman")
    rho = float(sps.spearmanr(a, b).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        if np.ptp(a[idx]) > 0 and np.ptp(b[idx]) > 0:
            boots.append(sps.spearmanr(a[idx], b[idx]).statistic)
    low, high = np.quantile(boots, [0.025, 0.975]) if boots else (float("nan"),) * 2
    return Estimate(rho, float(low), float(high), len(a), "spearman, paired bootstrap")
