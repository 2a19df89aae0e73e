"""Toy models with a known boundary, shared by the direction and transfer tests."""
import torch
from torch import nn


def linear2(w: list[float], b: float) -> nn.Module:
    """Two classes on 1x1x2 inputs: class 1 where w.x + b > 0 (a hyperplane boundary)."""
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        wt = torch.tensor(w)
        lin.weight.copy_(torch.stack([-wt, wt]) / 2)
        lin.bias.copy_(torch.tensor([-b, b]) / 2)
    return nn.Sequential(nn.Flatten(), lin).eval()


def pts(*rows: tuple[float, float]) -> torch.Tensor:
    """Points (x0, x1) as a (N, 1, 1, 2) image batch."""
    return torch.tensor(rows, dtype=torch.float32).view(-1, 1, 1, 2)


def linear(w: list[list[float]] | torch.Tensor, b: list[float] | torch.Tensor) -> nn.Module:
    """K classes on 1x1xD inputs: logits ``W x + b`` (K x D weights), boundaries where two logits tie."""
    wt, bt = torch.as_tensor(w, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    lin = nn.Linear(wt.shape[1], wt.shape[0])
    with torch.no_grad():
        lin.weight.copy_(wt)
        lin.bias.copy_(bt)
    return nn.Sequential(nn.Flatten(), lin).eval()
