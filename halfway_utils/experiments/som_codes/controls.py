"""Controls of S1 and S2: real networks built to have, or to lack, each claim's property.

Each control is a :class:`ConstructedNet`: named hidden layers computed by fixed modules from
the pixels, and the logits of a fitted zoo model (so the attack of S2 is the attack on that
model). Its layers are coded by the same SOM code as the zoo's (:func:`~.zoo_codes.fit_codes`)
and measured by the same functions (:func:`~.zoo_codes.code_metrics_table`,
:func:`~.perturbed_codes.attack_codes`), then decided by the same rule.

- S1 (:func:`s1_control_models`): *positive*, the first hidden layer is the untrained twin's
  (random features of the pixels) and the last a fixed readout of the fitted classifier's
  class probabilities (class information rises by construction); *negative*, the first hidden
  layer is the fitted model's own and the last a random orthogonal ReLU projection of it (by
  the data-processing inequality it cannot gain class information). The untrained twin of
  the zoo model is each control's twin, as in the zoo.
- S2 (:func:`s2_control_models`): a family of networks (one per share in :data:`SHARES`) whose
  one hidden layer sets a base channel beside a channel of the pixels *whitened within a class*
  (each class's mean and covariance removed), open for that share of the inputs (a label-blind
  :class:`Gate`) and then dominating the SOM. *Positive*: base = the pixels, which the attack
  changes little beyond noise; the channel is whitened within the class the attacked model
  decides, so it is homogeneous and jumps wherever the attack flips the decision: the larger the
  share, the more homogeneous the codes and the more the attack changes them, by construction.
  *Negative*: base = the fitted model's last hidden layer, which the attack changes most; the
  channel is the pixels whitened over the whole sample, tied to no decision: the larger the
  share, the more homogeneous the codes and the less the attack changes them.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from ... import zoo
from ...evidence import claims, stats
from . import s1, s2
from .perturbed_codes import attack_codes
from .zoo_codes import FittedModel, ModelKey, code_metrics_table, fit_codes, grid_name

N_COMPONENTS = 4  # dimensions of the class-conditionally whitened channel
SHARES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # S2's control family: the share of inputs the channel is open for
CHANNEL_WEIGHT = 4.0  # the open channel's weight beside the base channel: it dominates the SOM where open


class ConstructedNet(nn.Module):
    """Hidden layers ``layers`` (each a module of the pixels), then the logits of ``base``."""

    def __init__(self, base: nn.Module, layers: OrderedDict[str, nn.Module]) -> None:
        super().__init__()
        self.base = base
        self.hidden = nn.ModuleDict(layers)

    @property
    def layer_names(self) -> list[str]:
        """The hidden layers in depth order, then ``logits``."""
        return [*self.hidden.keys(), "logits"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of ``base``."""
        return self.base(x)

    def activations(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Every layer's activations of ``x``, flattened to ``(N, features)``."""
        out = OrderedDict((name, m(x).flatten(1)) for name, m in self.hidden.items())
        out["logits"] = self.base(x)
        return out


class Stage(nn.Module):
    """The activations of ``model`` (a StagedNet) at its layer ``layer``."""

    def __init__(self, model: nn.Module, layer: str) -> None:
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The activations at ``layer``."""
        return self.model.activations(x, [self.layer])[self.layer]


class Readout(nn.Module):
    """The class probabilities (softmax of the logits) of a fitted classifier: nearly one-hot on its class."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The class probabilities."""
        return torch.softmax(self.model(x), dim=1)


class RandomProjection(nn.Module):
    """``ReLU(Q h)`` with ``h = inner(x)`` and ``Q`` a seeded random orthogonal matrix (fixed)."""

    def __init__(self, inner: nn.Module, width: int, seed: int) -> None:
        super().__init__()
        self.inner = inner
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("q", torch.linalg.qr(torch.randn(width, width, generator=g)).Q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projected activations."""
        return torch.relu(self.inner(x).flatten(1) @ self.q.T)


class Recentred(nn.Module):
    """Pixels whitened within the class that ``decide`` gives: ``diag(l_c)^-1/2 V_c^T (x - m_c)``.

    Per class ``c``: ``m_c`` the mean and ``V_c``, ``l_c`` the top principal axes and variances
    of the sample's pixels that ``decide`` puts in ``c``; every class's channel has mean 0 and
    identity covariance on that sample, so the class shows only through higher moments.
    """

    def __init__(self, decide: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, n_classes: int,
                 k: int = N_COMPONENTS) -> None:
        super().__init__()
        self.decide = decide
        flat = x.flatten(1).double()
        with torch.no_grad():
            c = decide(x).cpu()
        means, bases = [], []
        for cls in range(n_classes):
            rows = flat[c == cls]
            if len(rows) < k + 1:  # a class the rule never gives: the sample's own statistics
                rows = flat
            mean = rows.mean(0)
            _, s, vt = torch.linalg.svd(rows - mean, full_matrices=False)
            scale = (s[:k] / max(len(rows) - 1, 1) ** 0.5).clamp_min(1e-6)
            means.append(mean)
            bases.append(vt[:k] / scale[:, None])
        self.register_buffer("means", torch.stack(means).float())
        self.register_buffer("bases", torch.stack(bases).float())  # (classes, k, pixels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The whitened pixels, ``(N, k)``."""
        c = self.decide(x).detach()
        d = x.flatten(1) - self.means[c]
        return torch.einsum("nkp,np->nk", self.bases[c], d)


class Gate(nn.Module):
    """1 for the inputs whose projection on a seeded random pixel pattern lies below its ``share`` quantile on
    ``x`` (a fixed, label-blind split of the input space), else 0."""

    def __init__(self, x: torch.Tensor, share: float, seed: int) -> None:
        super().__init__()
        u = torch.randn(x[0].numel(), generator=torch.Generator().manual_seed(int(seed)))
        proj = x.flatten(1).float() @ u
        edge = torch.tensor(float("-inf") if share <= 0 else float("inf") if share >= 1 else
                            float(torch.quantile(proj, share)))
        self.register_buffer("u", u)
        self.register_buffer("edge", edge)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1)`` of 0 and 1."""
        return (x.flatten(1) @ self.u <= self.edge).float()[:, None]


class Mix(nn.Module):
    """``[a(x) / rms(a), weight * gate(x) * b(x) / rms(b)]``: two channels, each of unit mean square on the fit
    sample, the second open only where ``gate`` is 1."""

    def __init__(self, a: nn.Module, b: nn.Module, gate: nn.Module, weight: float, x: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b, self.gate, self.weight = a, b, gate, float(weight)
        with torch.no_grad():
            ra = a(x).flatten(1).square().sum(1).mean().sqrt().clamp_min(1e-12)
            rb = b(x).flatten(1).square().sum(1).mean().sqrt().clamp_min(1e-12)
        self.register_buffer("scales", torch.stack([ra, rb]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Both channels, side by side."""
        return torch.cat([self.a(x).flatten(1) / self.scales[0],
                          self.weight * self.gate(x) * self.b(x).flatten(1) / self.scales[1]], 1)


def argmax_of(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The decision of ``model``: its arg-max class."""
    return lambda x: model(x).argmax(1)


def no_decision(x: torch.Tensor) -> torch.Tensor:
    """Every input in class 0: :class:`Recentred` then whitens the pixels over the whole sample."""
    return torch.zeros(len(x), dtype=torch.long, device=x.device)


def s1_control_models(model: nn.Module, untrained: nn.Module, x: torch.Tensor, *, seed: int
                      ) -> dict[str, tuple[ConstructedNet, nn.Module]]:
    """S1's ``{"positive"|"negative": (control network, its untrained twin)}`` from one zoo model (a StagedNet)
    and its untrained twin; ``x`` is a batch of inputs (its first one sizes the random projection)."""
    first, last = model.layer_names[0], model.layer_names[-2]
    with torch.no_grad():
        dim = Stage(model, first)(x[:1].to(next(model.parameters()).device)).flatten(1).shape[1]
    twin = ConstructedNet(untrained, OrderedDict(h1=Stage(untrained, first), h2=Stage(untrained, last))).eval()
    positive = ConstructedNet(model, OrderedDict(h1=Stage(untrained, first), h2=Readout(model))).eval()
    negative = ConstructedNet(model, OrderedDict(h1=Stage(model, first),
                                                 h2=RandomProjection(Stage(model, first), dim, seed))).eval()
    return {"positive": (positive, twin), "negative": (negative, twin)}


def s2_control_models(model: nn.Module, x: torch.Tensor, y: torch.Tensor, shares: Sequence[float], *,
                      n_classes: int = 10, seed: int = 0) -> dict[str, list[ConstructedNet]]:
    """S2's ``{"positive"|"negative": [network per share]}``: one hidden layer, a base channel beside a
    class-conditionally whitened channel (weight :data:`CHANNEL_WEIGHT`) open for a share of the inputs (a
    label-blind :class:`Gate`). Positive: base = the pixels (which the attack changes little beyond noise),
    channel re-centred on the model's decision; negative: base = the fitted model's last hidden layer (which
    the attack changes most), channel re-centred on a nearest-class-mean rule on the pixels."""
    bases = {"positive": nn.Flatten(), "negative": Stage(model, model.layer_names[-2])}
    out: dict[str, list[ConstructedNet]] = {}
    for kind, decide in [("positive", argmax_of(model)), ("negative", no_decision)]:
        channel = Recentred(decide, x, n_classes)
        out[kind] = [ConstructedNet(model, OrderedDict(mix=Mix(bases[kind], channel, Gate(x, q, seed), CHANNEL_WEIGHT,
                                                               x))).eval() for q in shares]
    return out


def code_controls(nets: Mapping[ModelKey, tuple[nn.Module, nn.Module | None]], x: torch.Tensor,
                  y: torch.Tensor, *, rows: int, cols: int, epochs: int, given: dict | None = None
                  ) -> dict[ModelKey, FittedModel]:
    """Code each control ``{key: (network, twin or None)}`` with SOMs as the zoo's are (SOM seed = key's seed;
    ``given``: pixel SOMs to share, as in :func:`~.zoo_codes.fit_codes`)."""
    given = {} if given is None else given
    return {key: fit_codes(net, x, y, rows=rows, cols=cols, seed=key[2], epochs=epochs, untrained=twin,
                           given=given) for key, (net, twin) in nets.items()}


def control_keys(fitted: Mapping[ModelKey, FittedModel], prefer: str = "mlp") -> list[ModelKey]:
    """The zoo models the controls are built from: the first data set's ``prefer`` models (else its first arch)."""
    dataset = next(iter(fitted))[0]
    archs = [k[1] for k in fitted if k[0] == dataset]
    arch = prefer if prefer in archs else archs[0]
    return [k for k in fitted if k[:2] == (dataset, arch)]


def control_name(kind: str, key: ModelKey) -> str:
    """How a control's stratum is named: ``"positive control (mnist)"``, beside the arch."""
    return f"{kind} control ({key[0]})"


def s1_controls(fitted: Mapping[ModelKey, FittedModel], *, n_train: int | None, n_test: int | None, rows: int,
                cols: int, epochs: int, n_shuffles: int, untrained: Mapping[ModelKey, nn.Module] | None = None
                ) -> tuple[pd.DataFrame, list[claims.Control]]:
    """S1's controls built from the zoo models of :func:`control_keys`, measured as the zoo is.

    Each model's untrained twin is ``untrained[key]``, by default the zoo's (:func:`halfway_utils.zoo.untrained`).
    Returns the per-model table of :func:`~.s1.s1_per_model` for the controls and one
    :class:`~halfway_utils.evidence.claims.Control` per kind (t-interval over the models).
    """
    keys = control_keys(fitted)
    nets: dict[ModelKey, tuple[nn.Module, nn.Module | None]] = {}
    for key in keys:
        dataset, arch, seed = key
        model = fitted[key].model
        device = next(model.parameters()).device
        twin = untrained[key] if untrained is not None else \
            zoo.untrained(zoo.config(dataset, arch, seed, n_train=n_train, n_test=n_test), device)
        for kind, pair in s1_control_models(model, twin, fitted[key].x, seed=seed).items():
            nets[(control_name(kind, key), arch, seed)] = pair
    f = fitted[keys[0]]
    coded = code_controls(nets, f.x, f.y, rows=rows, cols=cols, epochs=epochs)
    per_model = s1.s1_per_model(code_metrics_table(coded, n_shuffles=n_shuffles), grid=grid_name(rows, cols))
    out = []
    for kind, built in S1_BUILT.items():
        name = control_name(kind, keys[0])
        values = per_model.loc[per_model.dataset == name, s1.PRIMARY]
        out.append(claims.Control(f"{name}/{keys[0][1]}", kind, stats.across_seeds(values), built))
    return per_model, out


def s2_controls(fitted: Mapping[ModelKey, FittedModel], *, eps: float, pgd_steps: int, n_attack: int, rows: int,
                cols: int, epochs: int, n_shuffles: int, shares: Sequence[float] = SHARES
                ) -> tuple[pd.DataFrame, list[claims.Control]]:
    """S2's controls built from the first model of :func:`control_keys`, one network per share, measured as the
    zoo is (PGD at ``eps``); returns their (model, hidden layer) points and one Control per kind."""
    key = control_keys(fitted)[0]
    f = fitted[key]
    given: dict = {}
    metrics, changes = [], []
    for kind, family in s2_control_models(f.model, f.x, f.y, shares, seed=key[2]).items():
        for k, net in enumerate(family):  # every member with the base model's seed: the same attack and noise
            coded = code_controls({(control_name(kind, key), key[1], key[2]): (net, None)}, f.x, f.y, rows=rows,
                                  cols=cols, epochs=epochs, given=given)
            metrics.append(code_metrics_table(coded, n_shuffles=n_shuffles).assign(seed=k))
            change = attack_codes(coded, ["pgd"], [eps], n_attack=n_attack, pgd_steps=pgd_steps)[0]
            changes.append(change.assign(seed=k))
    points = s2.homogeneity_points(pd.concat(changes, ignore_index=True), pd.concat(metrics, ignore_index=True),
                                   eps=eps, grid=grid_name(rows, cols))
    est = s2.within_depth(points)
    out = [claims.Control(f"{control_name(kind, key)}/{key[1]}", kind,
                          est.of(s2.PRIMARY)[f"{control_name(kind, key)}/{key[1]}"], built)
           for kind, built in S2_BUILT.items()]
    return points, out


S1_BUILT = {
    claims.POSITIVE: "first hidden layer = the untrained twin's (random features of the pixels), last hidden layer "
                     "= the fitted classifier's class probabilities (nearly one-hot on its class): class "
                     "information rises with depth by construction",
    claims.NEGATIVE: "first hidden layer = the fitted model's own, last hidden layer = a random orthogonal ReLU "
                     "projection of it: by the data-processing inequality depth adds no class information",
}
S2_BUILT = {
    claims.POSITIVE: "one hidden layer: the pixels beside, for a growing share of the inputs (a label-blind "
                     "gate), a dominant channel of the pixels whitened within the class the attacked model "
                     "decides: the larger the share, the more homogeneous the codes and the more the attack "
                     "(which flips the decision, so the channel jumps) changes them",
    claims.NEGATIVE: "one hidden layer: the fitted model's last hidden layer beside, for a growing share of the "
                     "inputs, a dominant channel of the pixels whitened over the whole sample, tied to no "
                     "decision: the larger the share, the more homogeneous the codes and the less the attack "
                     "changes them",
}
