"""The model zoo: ``build(name, **kw)`` for ``mlp``, ``cnn`` and ``resnet``.

Every model takes inputs in [0, 1] and normalises them itself, so attacks and
boundary searches work in pixel space. A model is a sequence of named stages;
``activations(x)`` returns each stage's output (the SOM notebook reads them) and
``features(x)`` the penultimate one (the 1-NN and convex-hull notebooks use it).
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch
from torch import nn


class Normalize(nn.Module):
    """Subtract a per-channel mean and divide by a per-channel std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class StagedNet(nn.Module):
    """A classifier made of named stages; the last stage gives the logits."""

    def __init__(self, normalize: Normalize, stages: OrderedDict[str, nn.Module]):
        super().__init__()
        self.normalize = normalize
        self.stages = nn.ModuleDict(stages)

    @property
    def layer_names(self) -> list[str]:
        """Names of the stages, input side first; the last is ``logits``."""
        return list(self.stages.keys())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        for stage in self.stages.values():
            x = stage(x)
        return x

    def activations(self, x: torch.Tensor, layers: list[str] | None = None,
                    flatten: bool = True) -> OrderedDict[str, torch.Tensor]:
        """Outputs of the named stages (all by default), flattened to (N, features)."""
        wanted = self.layer_names if layers is None else list(layers)
        unknown = set(wanted) - set(self.layer_names)
        if unknown:
            raise ValueError(f"unknown layer(s) {sorted(unknown)}; this model has {self.layer_names}")
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        h = self.normalize(x)
        last = max(self.layer_names.index(name) for name in wanted)
        for index, (name, stage) in enumerate(self.stages.items()):
            h = stage(h)
            if name in wanted:
                out[name] = h.flatten(1) if flatten else h
            if index == last:
                break
        return OrderedDict((name, out[name]) for name in wanted)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation (the input to the logits stage), flattened."""
        return self.activations(x, [self.layer_names[-2]])[self.layer_names[-2]]


def _default_stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # MNIST-like statistics for grey input, CIFAR-10's for colour.
    if channels == 1:
        return (0.1307,), (0.3081,)
    return (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _normalize(in_shape: tuple[int, int, int], mean, std) -> Normalize:
    default_mean, default_std = _default_stats(in_shape[0])
    return Normalize(tuple(mean or default_mean), tuple(std or default_std))


def mlp(in_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10, width: int = 256,
        depth: int = 2, mean=None, std=None) -> StagedNet:
    """Fully connected ReLU network with ``depth`` hidden layers of ``width`` units."""
    _check_positive(width=width, depth=depth)
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    fan_in = in_shape[0] * in_shape[1] * in_shape[2]
    for i in range(depth):
        first = [nn.Flatten()] if i == 0 else []
        stages[f"fc{i + 1}"] = nn.Sequential(*first, nn.Linear(fan_in, width), nn.ReLU())
        fan_in = width
    stages["logits"] = nn.Linear(fan_in, num_classes)
    return StagedNet(_normalize(in_shape, mean, std), stages)


def cnn(in_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10, width: int = 16,
        hidden: int = 128, mean=None, std=None) -> StagedNet:
    """LeNet-like net: two conv+pool blocks (``width``, 2x``width`` channels), one hidden FC layer."""
    _check_positive(width=width, hidden=hidden)
    channels, height, _ = in_shape
    spatial = ((height // 2) // 2) ** 2
    stages = OrderedDict(
        conv1=nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        conv2=nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        fc=nn.Sequential(nn.Flatten(), nn.Linear(2 * width * spatial, hidden), nn.ReLU()),
        logits=nn.Linear(hidden, num_classes),
    )
    return StagedNet(_normalize(in_shape, mean, std), stages)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(in_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10, width: int = 16,
           blocks: int = 1, mean=None, std=None) -> StagedNet:
    """Small ResNet: a stem and three stages (``width``, 2x, 4x channels) of ``blocks`` blocks each."""
    _check_positive(width=width, blocks=blocks)
    widths = (width, 2 * width, 4 * width)
    stages: OrderedDict[str, nn.Module] = OrderedDict(
        stem=nn.Sequential(nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU()))
    cin = width
    for i, cout in enumerate(widths):
        layers = [BasicBlock(cin if b == 0 else cout, cout, 1 if (i == 0 or b > 0) else 2)
                  for b in range(blocks)]
        stages[f"stage{i + 1}"] = nn.Sequential(*layers)
        cin = cout
    stages["pool"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    stages["logits"] = nn.Linear(cin, num_classes)
    return StagedNet(_normalize(in_shape, mean, std), stages)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


MODELS: dict[str, Callable[..., StagedNet]] = {"mlp": mlp, "cnn": cnn, "resnet": resnet}


def build(name: str, **kw) -> StagedNet:
    """Build a registered model; ``in_shape``, ``num_classes`` and the architecture's options as keywords."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    try:
        return MODELS[name](**kw)
    except TypeError as err:
        raise ValueError(f"bad options for model {name!r}: {err}") from err


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every submodule in eval mode for the duration; each module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


# Inference batch: on a CPU, batches of 256 run 2-3x faster than 1024 or more (benchmarks/bench_train.py).
EVAL_BATCH = 256

def is_conv(model: nn.Module) -> bool:
    """True when the model has a 2-D convolution."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def fast_layout(model: nn.Module) -> nn.Module:
    """A conv net in channels_last (its convolutions run faster on a CPU); any other model as it is."""
    return model.to(memory_format=torch.channels_last) if is_conv(model) else model


def fast_inputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Image batches in the layout that suits ``model`` (channels_last for a conv net)."""
    return x.contiguous(memory_format=torch.channels_last) if is_conv(model) and x.dim() == 4 else x


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    return param.device, param.dtype


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Argmax class of each input, batched, eval mode, as a LongTensor on ``x``'s device."""
    device, dtype = _device_dtype(model)
    if len(x) == 0:
        return torch.empty(0, dtype=torch.long, device=x.device)
    with eval_mode(model), torch.no_grad():
        return torch.cat([model(x[i:i + batch_size].to(device=device, dtype=dtype)).argmax(1).to(x.device)
                          for i in range(0, len(x), batch_size)])


def embed(model: StagedNet, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Penultimate features of each input, batched, eval mode, as float32 on ``x``'s device."""
    device, dtype = _device_dtype(model)
    if len(x) == 0:
        return torch.empty(0, 0, device=x.device)
    with eval_mode(model), torch.no_grad():
        return torch.cat([model.features(x[i:i + batch_size].to(device=device, dtype=dtype)).float().to(x.device)
                          for i in range(0, len(x), batch_size)])
