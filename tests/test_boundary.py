"""Tests for halfway_utils.boundary: flips along segments and distances to the boundary."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from halfway_utils.methods.boundary import boundary_distance, dense_grid_flips, scan_paths

REFINES = ["secant", "bisect"]


@pytest.fixture(autouse=True)
def _seed(one_thread):
    torch.manual_seed(0)


class Linear2(nn.Module):
    """Two classes split by the hyperplane w.x + b = 0 (class 1 where positive)."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = w.flatten(), b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1) @ self.w + self.b
        return torch.stack([-s, s], dim=1)


class NearestCenter(nn.Module):
    """Class of the nearest centre on the projection s = x[:, 0]; several centres may share a label."""

    def __init__(self, centers: list[float], labels: list[int]):
        super().__init__()
        self.centers, self.labels = torch.tensor(centers), torch.tensor(labels)
        self.n_classes = int(self.labels.max()) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = -(x.flatten(1)[:, :1] - self.centers) ** 2  # (B, centres)
        out = torch.full((len(x), self.n_classes), -1e9)
        return out.scatter_reduce(1, self.labels.expand(len(x), -1), score, "amax")


class Steps(nn.Module):
    """One-hot logits (no margin slope): region k = number of thresholds below x[:, 0] has class labels[k]."""

    def __init__(self, thresholds: list[float], labels: list[int] | None = None):
        super().__init__()
        self.th = torch.tensor(thresholds)
        self.labels = torch.tensor(labels if labels is not None else range(len(thresholds) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = (x.flatten(1)[:, :1] > self.th).sum(1)
        return nn.functional.one_hot(self.labels[k], int(self.labels.max()) + 1).float()


class Counting(nn.Module):
    """Wraps a model and counts the rows it sees."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.rows, self.calls = model, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        self.calls += 1
        return self.model(x)


def segment_1d(s0: list[float], s1: list[float], dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Endpoints whose first coordinate goes s0 -> s1 and whose other coordinates are random."""
    a, b = torch.rand(len(s0), dim), torch.rand(len(s0), dim)
    a[:, 0], b[:, 0] = torch.tensor(s0), torch.tensor(s1)
    return a, b


def random_mlp(d_in: int = 16, classes: int = 6) -> nn.Module:
    """Small random ReLU MLP in eval mode."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, classes)).eval()


@pytest.mark.parametrize("refine", REFINES)
@pytest.mark.parametrize("dim", [2, 784])
def test_linear_flip_at_known_t(dim, refine):
    w = torch.randn(dim)
    a, b = torch.randn(5, dim), torch.randn(5, dim)
    # Shift the endpoints along w so that w.a + 0.5 = -1 and w.b + 0.5 = 3: flip at t = 1/4.
    unit = w / w.dot(w)
    a += (-1.5 - a @ w)[:, None] * unit
    b += (2.5 - b @ w)[:, None] * unit
    res = scan_paths(Linear2(w, 0.5), a, b, tol=1e-4, refine=refine)
    assert res.n_flips.tolist() == [1] * 5
    assert torch.allclose(res.first_flip, torch.full((5,), 0.25, dtype=torch.float64), atol=0.5e-4)
    assert torch.equal(res.first_flip, res.last_flip)
    assert res.start_class.tolist() == [0] * 5 and res.end_class.tolist() == [1] * 5
    assert res.classes == [[0, 1]] * 5


@pytest.mark.parametrize("refine", REFINES)
@pytest.mark.parametrize("model", [NearestCenter([0.1, 0.4, 0.7, 1.0], [0, 1, 2, 3]), Steps([0.25, 0.55, 0.85])],
                         ids=["nearest-center", "steps"])
def test_several_thresholds(model, refine):
    tol = 1e-4
    # 0 -> 1 crosses all three boundaries (0.25, 0.55, 0.85); 0.3 -> 0.5 crosses none; 0.9 -> 0.2 three, reversed.
    a, b = segment_1d([0.0, 0.3, 0.9], [1.0, 0.5, 0.2])
    res = scan_paths(model, a, b, tol=tol, refine=refine)
    assert res.n_flips.tolist() == [3, 0, 3]
    assert torch.allclose(res.flips[0], torch.tensor([0.25, 0.55, 0.85], dtype=torch.float64), atol=tol / 2)
    back = (0.9 - torch.tensor([0.85, 0.55, 0.25], dtype=torch.float64)) / 0.7
    assert torch.allclose(res.flips[2], back, atol=tol / 2)
    assert res.flips[1].numel() == 0
    assert math.isnan(res.first_flip[1]) and math.isnan(res.last_flip[1])
    assert res.first_flip[0] == pytest.approx(0.25, abs=tol / 2)
    assert res.last_flip[0] == pytest.approx(0.85, abs=tol / 2)
    assert res.classes == [[0, 1, 2, 3], [1], [3, 2, 1, 0]]
    assert res.passes_third_class.tolist() == [True, False, True]


@pytest.mark.parametrize("refine", REFINES)
def test_third_class_in_the_middle(refine):
    model = NearestCenter([0.1, 0.4, 0.7], [0, 2, 1])  # boundaries at 0.25 (0 -> 2) and 0.55 (2 -> 1)
    a, b = segment_1d([0.0, 0.0], [0.7, 0.2])
    res = scan_paths(model, a, b, refine=refine)
    assert res.classes == [[0, 2, 1], [0]]
    assert res.n_flips.tolist() == [2, 0]
    assert res.passes_third_class.tolist() == [True, False]
    assert res.flips[0].tolist() == pytest.approx([0.25 / 0.7, 0.55 / 0.7], abs=1e-4)


@pytest.mark.parametrize("refine", REFINES)
def test_two_flips_inside_one_coarse_interval_are_both_found(refine):
    model = NearestCenter([0.1, 0.3, 0.5], [0, 1, 2])  # boundaries at 0.2 and 0.4
    a, b = segment_1d([0.0], [1.0])
    res = scan_paths(model, a, b, grid=2, refine=refine)  # one coarse interval holding both flips
    assert res.classes == [[0, 1, 2]]
    assert res.flips[0].tolist() == pytest.approx([0.2, 0.4], abs=1e-4)


def test_detour_narrower_than_the_grid_is_missed_documented_limitation():
    model = Steps([0.50, 0.51], [0, 1, 0])  # class 1 only on (0.50, 0.51], between grid points 16/32 and 17/32
    a, b = segment_1d([0.0], [1.0])
    assert scan_paths(model, a, b, grid=33).n_flips.tolist() == [0]
    fine = scan_paths(model, a, b, grid=201)  # 0.505 is a grid point
    assert fine.classes == [[0, 1, 0]]
    assert fine.flips[0].tolist() == pytest.approx([0.50, 0.51], abs=1e-4)


def different_class_pairs(model: nn.Module, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random pairs whose ends the model puts in different classes, like training pairs."""
    x = 3 * torch.randn(4 * n, 16)
    with torch.no_grad():
        c = model(x).argmax(1)
    i, j = torch.randint(len(x), (10 * n,)), torch.randint(len(x), (10 * n,))
    keep = (c[i] != c[j]).nonzero().squeeze(1)[:n]
    return x[i[keep]], x[j[keep]]


def _independent_dense_grid(model, a, b, points):
    """Class changes between adjacent points of a dense grid, computed here with plain torch."""
    t = torch.linspace(0, 1, points, dtype=torch.float64).to(a.dtype)
    with torch.no_grad():
        cls = torch.stack([model((1 - t[k]) * a + t[k] * b).argmax(1) for k in range(points)], 1)
    change = cls[:, 1:] != cls[:, :-1]
    mids = (torch.arange(points - 1, dtype=torch.float64) + 0.5) / (points - 1)
    first = torch.where(change, mids, torch.tensor(float("inf"), dtype=torch.float64)).amin(1)
    last = torch.where(change, mids, torch.tensor(float("-inf"), dtype=torch.float64)).amax(1)
    none = ~change.any(1)
    return SimpleNamespace(n_flips=change.sum(1), first_flip=first.masked_fill(none, float("nan")),
                           last_flip=last.masked_fill(none, float("nan")))


def test_the_dense_grid_reference_agrees_with_an_independent_grid():
    model = random_mlp()
    a, b = different_class_pairs(model, 100)
    ref, mine = dense_grid_flips(model, a, b, points=301), _independent_dense_grid(model, a, b, 301)
    assert torch.equal(ref.n_flips, mine.n_flips)
    assert torch.allclose(ref.first_flip, mine.first_flip, equal_nan=True)
    assert torch.allclose(ref.last_flip, mine.last_flip, equal_nan=True)


@pytest.mark.parametrize("refine", REFINES)
def test_agrees_with_dense_grid_on_random_mlp(refine):
    model = random_mlp()
    a, b = different_class_pairs(model, 300)
    assert len(a) == 300
    ours = scan_paths(model, a, b, refine=refine)
    dense = _independent_dense_grid(model, a, b, points=2001)
    same = ours.n_flips == dense.n_flips
    assert (dense.n_flips > 1).float().mean() > 0.2  # the test is not trivial
    assert same.float().mean() >= 0.95
    for got, ref in [(ours.first_flip, dense.first_flip), (ours.last_flip, dense.last_flip)]:
        assert ((got - ref)[same & (dense.n_flips > 0)].abs() <= 1 / 2000).all()
    assert torch.equal(torch.isnan(ours.first_flip), dense.n_flips == 0)
    for flips in ours.flips:
        assert torch.all(flips[1:] > flips[:-1])


@pytest.mark.parametrize("refine", REFINES)
def test_forward_passes_counts_rows_the_model_saw(refine):
    model = Counting(random_mlp())
    a, b = 3 * torch.randn(50, 16), 3 * torch.randn(50, 16)
    res = scan_paths(model, a, b, grid=33, chunk=100, refine=refine)
    assert res.forward_passes == model.rows > 50 * 33
    assert model.calls >= 50 * 33 / 100  # coarse scan in chunks of at most 100 rows
    model.rows = 0
    dist = boundary_distance(model, a, torch.randn(50, 16), max_eps=5.0, refine=refine)
    assert dist.forward_passes == model.rows
    model.rows = 0
    assert dense_grid_flips(model, a, b, points=101).forward_passes == model.rows == 50 * 101


def test_chunk_never_exceeded():
    class MaxBatch(Counting):
        def forward(self, x):
            assert len(x) <= 7
            return super().forward(x)

    a, b = 3 * torch.randn(20, 16), 3 * torch.randn(20, 16)
    scan_paths(MaxBatch(random_mlp()), a, b, chunk=7)


@pytest.mark.parametrize("refine", REFINES)
def test_chunking_does_not_change_results(refine):
    model = random_mlp()
    a, b = 3 * torch.randn(100, 16), 3 * torch.randn(100, 16)
    small = scan_paths(model, a, b, chunk=7, refine=refine)
    big = scan_paths(model, a, b, chunk=4096, refine=refine)
    assert torch.equal(small.n_flips, big.n_flips)
    assert small.classes == big.classes
    assert torch.allclose(small.first_flip, big.first_flip, atol=1e-6, equal_nan=True)
    assert all(torch.allclose(s, g, atol=1e-6) for s, g in zip(small.flips, big.flips))


@pytest.mark.parametrize("refine", REFINES)
def test_boundary_distance_linear_matches_analytic(refine):
    w, bias = torch.randn(784), 0.3
    x = torch.randn(8, 784)
    s = x @ w + bias
    analytic = (s.abs() / w.norm()).double()
    direction = -torch.sign(s)[:, None] * w  # towards the hyperplane; not unit length
    max_eps, tol = float(analytic.max()) * 1.5, 1e-4
    res = boundary_distance(Linear2(w, bias), x, direction, max_eps=max_eps, tol=tol, refine=refine)
    assert torch.allclose(res.distance, analytic, atol=tol * max_eps * 1.01, rtol=1e-5)
    assert torch.all(res.distance >= analytic * (1 - 1e-5))  # the reported point has crossed over
    assert torch.equal(res.new_class, (s <= 0).long())

    short = boundary_distance(Linear2(w, bias), x, direction, max_eps=float(analytic.min()) * 0.5)
    assert torch.isinf(short.distance).all() and short.new_class.tolist() == [-1] * 8


def test_boundary_distance_takes_the_first_change_and_clip():
    model = Steps([1.2, 1.5])  # changes at s = 1.2 and 1.5
    x = torch.zeros(2, 1, 28, 28)
    x[1, 0, 0, 0] = 0.5
    d = torch.zeros_like(x)
    d[:, 0, 0, 0] = 3.0
    res = boundary_distance(model, x, d, max_eps=2.0, grid=5)
    assert res.distance.tolist() == pytest.approx([1.2, 0.7], abs=2e-4)
    assert res.new_class.tolist() == [1, 1]
    clipped = boundary_distance(model, x, d, max_eps=2.0, clip=True)
    assert torch.isinf(clipped.distance).all()


@pytest.mark.parametrize("refine", REFINES)
def test_image_shaped_inputs(refine):
    w = torch.randn(1, 28, 28)
    model = Linear2(w, 0.0)
    a, b = torch.rand(6, 1, 28, 28), torch.rand(6, 1, 28, 28)
    res = scan_paths(model, a, b, refine=refine)
    sa, sb = a.flatten(1) @ w.flatten(), b.flatten(1) @ w.flatten()
    crosses = torch.sign(sa) != torch.sign(sb)
    assert torch.equal(res.n_flips, crosses.long())
    expected = (sa / (sa - sb)).double()
    assert torch.allclose(res.first_flip[crosses], expected[crosses], atol=1e-4)
    dist = boundary_distance(model, a, torch.randn_like(a), max_eps=100.0, refine=refine)
    assert dist.distance.shape == (6,)


def test_empty_batch():
    res = scan_paths(random_mlp(), torch.zeros(0, 16), torch.zeros(0, 16))
    assert res.n_flips.shape == (0,) and res.flips == [] and res.forward_passes == 0


def test_model_mode_is_left_alone():
    model = random_mlp().train()
    scan_paths(model, torch.randn(3, 16), torch.randn(3, 16))
    assert model.training


def test_errors():
    model = random_mlp()
    with pytest.raises(ValueError, match=r"same shape.*\(3, 16\).*\(4, 16\)"):
        scan_paths(model, torch.zeros(3, 16), torch.zeros(4, 16))
    with pytest.raises(ValueError, match="grid must be >= 2"):
        scan_paths(model, torch.zeros(3, 16), torch.ones(3, 16), grid=1)
    with pytest.raises(ValueError, match="tol"):
        scan_paths(model, torch.zeros(3, 16), torch.ones(3, 16), tol=0.0)
    with pytest.raises(ValueError, match="refine"):
        scan_paths(model, torch.zeros(3, 16), torch.ones(3, 16), refine="newton")
    with pytest.raises(ValueError, match="same shape"):
        boundary_distance(model, torch.zeros(3, 16), torch.ones(3, 8), max_eps=1.0)
    with pytest.raises(ValueError, match="all-zero"):
        boundary_distance(model, torch.zeros(3, 16), torch.zeros(3, 16), max_eps=1.0)
    with pytest.raises(ValueError, match="max_eps"):
        boundary_distance(model, torch.zeros(3, 16), torch.ones(3, 16), max_eps=0.0)
