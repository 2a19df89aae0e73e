"""Tests for halfway_utils.transfer: directions, inter-boundary distances, transfer tables."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from halfway_utils import transfer as tr


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def linear2(w: list[float], b: float) -> nn.Module:
    """Two classes on 1x1x2 inputs: class 1 where w.x + b > 0 (a hyperplane boundary)."""
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        wt = torch.tensor(w)
        lin.weight.copy_(torch.stack([-wt, wt]) / 2)
        lin.bias.copy_(torch.tensor([-b, b]) / 2)
    return nn.Sequential(nn.Flatten(), lin).eval()


def test_unit_and_zero_rows():
    d = torch.tensor([[[[3.0, 4.0]]], [[[0.0, 2.0]]]])
    u = tr.unit(d)
    assert torch.allclose(u.flatten(1).norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="all-zero"):
        tr.unit(torch.zeros(1, 1, 1, 2))


def test_nearest_index_respects_mask():
    x = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    ref = torch.tensor([[0.1, 0.0], [1.0, 0.0], [5.0, 4.0]])
    idx, dist = tr.nearest_index(x, ref)
    assert idx.tolist() == [0, 2] and dist[0].item() == pytest.approx(0.1)
    allowed = torch.tensor([[False, True, True], [True, True, False]])
    idx, _ = tr.nearest_index(x, ref, allowed)
    assert idx.tolist() == [1, 1]
    with pytest.raises(ValueError, match="no admissible"):
        tr.nearest_index(x, ref, torch.zeros(2, 3, dtype=torch.bool))


def test_legitimate_directions_point_to_other_class():
    x = torch.tensor([[[[0.0, 0.0]]]])
    y = torch.tensor([0])
    x_train = torch.tensor([[[[0.1, 0.0]]], [[[0.0, 2.0]]], [[[3.0, 0.0]]]])
    y_train = torch.tensor([0, 1, 2])
    d, idx, dist = tr.legitimate_directions(x, y, x_train, y_train)
    assert idx.item() == 1 and dist.item() == pytest.approx(2.0)
    assert torch.allclose(d.flatten(), torch.tensor([0.0, 1.0]))


def test_adversarial_and_random_directions():
    x = torch.zeros(3, 1, 1, 2)
    x_adv = torch.tensor([[[[0.0, 0.0]]], [[[0.3, 0.4]]], [[[0.0, -1.0]]]])
    d, ok = tr.adversarial_directions(x, x_adv)
    assert ok.tolist() == [False, True, True]
    assert torch.isnan(d[0]).all() and torch.allclose(d[1].flatten(), torch.tensor([0.6, 0.8]))
    r1, r2 = tr.random_directions(torch.zeros(5, 1, 4, 4), 3), tr.random_directions(torch.zeros(5, 1, 4, 4), 3)
    assert torch.equal(r1, r2) and torch.allclose(r1.flatten(1).norm(dim=1), torch.ones(5))
    assert not torch.equal(r1, tr.random_directions(torch.zeros(5, 1, 4, 4), 4))


def test_min_distances_and_inter_boundary_on_hyperplanes():
    # Boundaries x0 = 1 and x0 = 1.5; from the origin along +x0 the distances are 1 and 1.5.
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = torch.zeros(2, 1, 1, 2)
    d = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])  # second: parallel to both boundaries
    md = tr.min_distances(models, x, d, max_eps=4.0)
    assert md["a"][0].item() == pytest.approx(1.0, abs=1e-3)
    assert md["b"][0].item() == pytest.approx(1.5, abs=1e-3)
    assert math.isinf(md["a"][1].item())
    table = tr.inter_boundary(md)
    row = table.iloc[0]
    assert row["id"] == pytest.approx(0.5, abs=2e-3)
    assert row["ratio"] == pytest.approx(0.5 / 1.25, abs=2e-3)
    assert table["both_found"].tolist() == [True, False] and np.isnan(table["ratio"].iloc[1])
    nan_dir = torch.full_like(d, float("nan"))
    assert torch.isnan(tr.min_distances(models, x, nan_dir, max_eps=1.0)["a"]).all()


def test_transfer_outcomes_mask_and_matrix():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = torch.tensor([[[[0.0, 0.0]]], [[[0.0, 0.0]]], [[[1.2, 0.0]]]])
    y = torch.tensor([0, 0, 0])  # the third is misclassified by "a" (x0 > 1): dropped for "a"
    x_adv = {"a": torch.tensor([[[[1.2, 0.0]]], [[[0.5, 0.0]]], [[[1.2, 0.0]]]]),
             "b": torch.tensor([[[[1.6, 0.0]]], [[[1.2, 0.0]]], [[[2.0, 0.0]]]])}
    out = tr.transfer_outcomes(models, x, y, x_adv)
    assert out.shape == (2, 2, 3)
    assert np.isnan(out[0, :, 2]).all() and np.isnan(out[:, 0, 2]).all()
    assert out[1, 1, 2] == 1.0
    m = tr.transfer_matrix(out, ["a", "b"], ["a", "b"])
    assert m.loc["a", "a"] == pytest.approx(0.5) and m.loc["a", "b"] == pytest.approx(0.0)
    assert m.loc["b", "a"] == pytest.approx(1.0) and m.loc["b", "b"] == pytest.approx(2 / 3)


def test_flip_points_pairs_and_projection():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    a = torch.zeros(1, 1, 1, 2)
    b = torch.tensor([[[[2.0, 0.0]]]])
    flips = tr.flip_points(models, a, b)
    assert flips["a"].item() == pytest.approx(0.5, abs=1e-3)
    gaps = tr.flip_disagreement(flips)
    assert gaps["mean_flip_gap"].iloc[0] == pytest.approx(0.25, abs=2e-3)
    i, j = tr.random_pairs(torch.tensor([0, 0, 1, 2]), 20, seed=1)
    assert len(i) == 20 and (torch.tensor([0, 0, 1, 2])[i] != torch.tensor([0, 0, 1, 2])[j]).all()
    t, perp = tr.segment_projection(a, torch.tensor([[[[0.5, 0.5]]]]), b)
    assert t.item() == pytest.approx(0.25) and perp.item() == pytest.approx(math.sqrt(0.5))
    t0, p0 = tr.segment_projection(a, a, b)
    assert t0.item() == 0 and torch.isnan(p0).all()
