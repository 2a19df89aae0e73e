"""H2's positive and negative controls: two classifiers measured by the zoo's own kappa code.

- Positive, :class:`KernelMachine`: an RBF (Parzen-window) kernel classifier of the zoo's training
  subset, ``logit_c = log sum_{i: y_i = c} exp(-|x - x_i|^2 / (2 s^2))``, with a small bandwidth
  ``s`` (a declared fraction of the median distance from a training sample to its nearest other
  one): a classifier built to label an input by the training samples nearest to it.
- Negative, :class:`NoisyOracle`: returns each test input's true label with the zoo networks'
  per-class accuracy and otherwise a wrong label drawn from their class-confusion rates,
  independently of the input and its neighbours: the networks' accuracy and confusions, with
  errors that owe nothing to input-space proximity (one system per seed, like the zoo).

Both are ``nn.Module`` s returning logits, predicted by :func:`halfway_utils.models.predict` like
the networks; :func:`control_rows` tabulates their per-sample rows in the zoo's layout,
:func:`control_estimates` decides them on the zoo's scale (:func:`.ceiling.against_ceiling`) and
:func:`bandwidth_sweep` moves the kernel machine's bandwidth from the 1-NN rule to a wide kernel.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ...evidence import claims
from ...models import predict
from .agreement import DataSet
from .ceiling import against_ceiling
from .kappa import error_groups

POSITIVE, NEGATIVE = "rbf_kernel_machine", "noisy_oracle"
NN_SAMPLE = 2000  # training samples whose nearest-neighbour distance sets the bandwidth's unit


def median_nn_distance(x: Tensor, sample: int = NN_SAMPLE) -> float:
    """Median over the first ``sample`` training rows of the distance to their nearest other row."""
    flat = x.flatten(1).float().cpu()
    rows = []
    for lo in range(0, min(sample, len(flat)), 500):
        d = torch.cdist(flat[lo:min(lo + 500, sample)], flat)
        d[torch.arange(len(d)), torch.arange(lo, lo + len(d))] = float("inf")
        rows.append(d.min(1).values)
    return float(torch.cat(rows).median())


class KernelMachine(nn.Module):
    """RBF Parzen-window classifier of ``(x, y)`` with bandwidth ``bandwidth`` (distances in float32,
    weights in float64, blocks of queries)."""

    BLOCK = 1 << 23

    def __init__(self, x: Tensor, y: Tensor, bandwidth: float, n_classes: int = 10) -> None:
        super().__init__()
        labels = torch.as_tensor(y).long().to(x.device)
        # The samples sorted by class (stably), so that each class is one slice of the distances: the
        # same numbers as gathering it by a mask, 2.1x faster for five bandwidths (1,000 MNIST queries).
        order = torch.sort(labels, stable=True).indices
        flat = x.flatten(1).float()[order]
        self.points = nn.Parameter(flat, requires_grad=False)  # a parameter: predict finds its device
        self.register_buffer("sq_norms", (flat ** 2).sum(1))
        self.register_buffer("labels", labels[order])
        self.bandwidth, self.n_classes = float(bandwidth), int(n_classes)
        ends = torch.bincount(self.labels, minlength=self.n_classes).cumsum(0).tolist()
        self.slices = [slice(lo, hi) for lo, hi in zip([0, *ends[:-1]], ends)]

    def logits(self, x: Tensor, bandwidths: Sequence[float]) -> list[Tensor]:
        """Logits (N, n_classes) for each of ``bandwidths``, one pass over the distances:
        log of each class's summed RBF weights (-inf: no sample of the class)."""
        q = x.flatten(1).to(self.points.dtype)
        outs = [torch.full((len(q), self.n_classes), float("-inf"), dtype=torch.float64, device=q.device)
                for _ in bandwidths]
        step = max(1, self.BLOCK // max(1, len(self.points)))
        for lo in range(0, len(q), step):
            b = q[lo:lo + step]
            d2 = ((b ** 2).sum(1, keepdim=True) - 2 * b @ self.points.T + self.sq_norms).clamp_min(0).double()
            for out, s in zip(outs, bandwidths):
                a = -d2 / (2 * float(s) ** 2)
                for c, cls in enumerate(self.slices):
                    if cls.stop > cls.start:
                        out[lo:lo + step, c] = torch.logsumexp(a[:, cls], 1)
        return outs

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes) at the machine's own bandwidth."""
        return self.logits(x, [self.bandwidth])[0].to(self.points.dtype)


class NoisyOracle(nn.Module):
    """Knows the labels ``y`` of the inputs ``x``; answers input i with a label drawn once, at
    construction, from ``rates[y_i]`` (a row-stochastic confusion matrix); logits one-hot."""

    def __init__(self, x: Tensor, y: Tensor | np.ndarray, rates: np.ndarray, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        y = np.asarray(y, dtype=np.int64)
        answers = np.array([rng.choice(len(rates), p=rates[c]) for c in y], dtype=np.int64)
        self.keys = {row.tobytes(): i for i, row in enumerate(x.flatten(1).float().cpu().numpy())}
        self.n_classes = len(rates)
        self.register_buffer("answers", torch.as_tensor(answers))
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # predict finds its device and dtype

    def forward(self, x: Tensor) -> Tensor:
        """One-hot logits of the drawn label of each input (KeyError for an input it was not given)."""
        idx = [self.keys[row.tobytes()] for row in x.flatten(1).float().cpu().numpy()]
        return nn.functional.one_hot(self.answers[idx], self.n_classes).to(self.anchor.dtype)


def confusion_rates(per_sample: pd.DataFrame, dataset: str, n_classes: int = 10) -> np.ndarray:
    """P(prediction | true class) of the zoo's fitted networks of ``dataset``, pooled over models."""
    rows = per_sample[(per_sample["dataset"] == dataset) & per_sample.get("fitted", True)]
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (rows["label"].to_numpy(), rows["pred"].to_numpy()), 1.0)
    empty = counts.sum(1) == 0
    counts[empty] = np.eye(n_classes)[empty]
    return counts / counts.sum(1, keepdims=True)


def _rows(name: str, seed: int, d: DataSet, pred: Tensor, dataset: str) -> pd.DataFrame:
    y, pixel = d.y_test.cpu().numpy(), d.pixel_nn.cpu().numpy()
    p = pred.cpu().numpy().astype(np.int64)
    return pd.DataFrame({"dataset": dataset, "arch": name, "seed": seed, "label": y, "pred": p, "pixel_nn": pixel,
                         "correct": (p == y).astype(float), "agree_pixel": (p == pixel).astype(float),
                         "fitted": True})


def control_rows(data: dict[str, DataSet], per_sample: pd.DataFrame, *, datasets: Sequence[str],
                 bandwidth: float, oracle_seeds: Sequence[int]) -> pd.DataFrame:
    """Per test sample, in the zoo's layout (``arch`` the control's name): the kernel machine of
    bandwidth ``bandwidth`` (times the median nearest-neighbour distance) and one noisy oracle per seed."""
    frames = []
    for name in datasets:
        d = data[name]
        s = bandwidth * median_nn_distance(d.x_train)
        frames.append(_rows(POSITIVE, 0, d, predict(KernelMachine(d.x_train, d.y_train, s), d.x_test), name))
        rates = confusion_rates(per_sample, name)
        frames += [_rows(NEGATIVE, seed, d, predict(NoisyOracle(d.x_test, d.y_test, rates, seed), d.x_test), name)
                   for seed in oracle_seeds]
    return pd.concat(frames, ignore_index=True)


def _estimate(rows: pd.DataFrame, per_sample: pd.DataFrame, *, n_boot: int):
    groups = error_groups(rows, "pixel_nn")
    flat = [(stratum, g) for stratum, gs in groups.items() for g in gs]
    return against_ceiling([g for _, g in flat], [s for s, _ in flat], per_sample, n_boot=n_boot)


def control_estimates(rows: pd.DataFrame, per_sample: pd.DataFrame, *, n_boot: int) -> list[claims.Control]:
    """The two controls of ``rows`` (:func:`control_rows`) on the zoo's scale, as the ledger's controls."""
    built = {POSITIVE: (claims.POSITIVE, "an RBF Parzen-window kernel classifier of the zoo's training subset with "
                        "a small bandwidth: it labels an input by the training samples nearest to it in pixel space"),
             NEGATIVE: (claims.NEGATIVE, "a noisy oracle: the true label with the zoo networks' per-class accuracy, "
                        "otherwise a wrong label drawn from their confusion rates, independently of the input's "
                        "neighbours (one per seed)")}
    return [claims.Control(name, kind, _estimate(rows[rows["arch"] == name], per_sample, n_boot=n_boot), text)
            for name, (kind, text) in built.items() if (rows["arch"] == name).any()]


def bandwidth_sweep(data: dict[str, DataSet], per_sample: pd.DataFrame, *, datasets: Sequence[str],
                    factors: Sequence[float], n_boot: int) -> pd.DataFrame:
    """The kernel machine at each bandwidth factor (:meth:`KernelMachine.logits`, the argmax
    :func:`~halfway_utils.models.predict` takes), pooled over ``datasets``: test accuracy, raw
    kappa against the 1-NN and the primary with its interval on the zoo's scale."""
    preds: dict[str, list[Tensor]] = {}
    for name in datasets:  # one pass over each data set's distances for every bandwidth
        d, unit = data[name], median_nn_distance(data[name].x_train)
        machine = KernelMachine(d.x_train, d.y_train, unit)
        preds[name] = [o.argmax(1).cpu() for o in machine.logits(d.x_test.to(machine.points.device),
                                                                  [f * unit for f in factors])]
    rows = []
    for k, f in enumerate(factors):
        table = pd.concat([_rows(POSITIVE, 0, data[name], preds[name][k], name) for name in datasets],
                          ignore_index=True)
        groups = [g for gs in error_groups(table, "pixel_nn").values() for g in gs]
        same, expected = np.concatenate([g.same for g in groups]), np.concatenate([g.expected for g in groups])
        est = _estimate(table, per_sample, n_boot=n_boot)
        o, e = same.mean(), expected.mean()
        rows.append({"factor": f, "test_acc": table["correct"].mean(), "agree_pixel": table["agree_pixel"].mean(),
                     "kappa_pixel_1nn": (o - e) / (1 - e), "primary": est.value, "low": est.low, "high": est.high})
    return pd.DataFrame(rows)
