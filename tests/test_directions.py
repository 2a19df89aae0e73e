"""Tests for halfway_utils.methods.directions: unit directions of three kinds, the distance to each
model's boundary along them, censoring, ID/MD and the projection on a segment.

The models are hand-written linear 2-class models on 1x1x2 inputs whose boundary is a known
hyperplane, so distances are known by hand.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from halfplanes import linear2, pts

from halfway_utils.methods import directions


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def test_unit_and_zero_rows():
    d = torch.tensor([[[[3.0, 4.0]]], [[[0.0, 2.0]]]])
    u = directions.unit(d)
    assert torch.allclose(u.flatten(1).norm(dim=1), torch.ones(2))
    assert torch.allclose(u[0].flatten(), torch.tensor([0.6, 0.8]))
    with pytest.raises(ValueError, match="all-zero"):
        directions.unit(torch.zeros(1, 1, 1, 2))


def test_legitimate_directions_point_to_other_class():
    x = pts((0.0, 0.0))
    y = torch.tensor([0])
    x_train = pts((0.1, 0.0), (0.0, 2.0), (3.0, 0.0))
    y_train = torch.tensor([0, 1, 2])
    d, idx, dist = directions.legitimate_directions(x, y, x_train, y_train)
    assert idx.item() == 1 and dist.item() == pytest.approx(2.0)
    assert torch.allclose(d.flatten(), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="another class"):
        directions.legitimate_directions(x, y, x_train[:1], y_train[:1])


def test_adversarial_and_random_directions():
    x = torch.zeros(3, 1, 1, 2)
    x_adv = pts((0.0, 0.0), (0.3, 0.4), (0.0, -1.0))
    d, ok = directions.adversarial_directions(x, x_adv)
    assert ok.tolist() == [False, True, True]
    assert torch.isnan(d[0]).all() and torch.allclose(d[1].flatten(), torch.tensor([0.6, 0.8]))
    like = torch.zeros(5, 1, 4, 4)
    r1, r2 = directions.random_directions(like, 3), directions.random_directions(like, 3)
    assert torch.equal(r1, r2) and torch.allclose(r1.flatten(1).norm(dim=1), torch.ones(5))
    assert not torch.equal(r1, directions.random_directions(like, 4))


def test_min_distances_clip_and_inter_boundary_on_hyperplanes():
    models = {"a": linear2([1.0, 0.0], -1.0), "b": linear2([1.0, 0.0], -1.5)}
    x = torch.zeros(2, 1, 1, 2)
    d = pts((1.0, 0.0), (0.0, 1.0))  # second: parallel to both boundaries
    md = directions.min_distances(models, x, d, max_eps=4.0, clip=False)
    assert md["a"][0].item() == pytest.approx(1.0, abs=1e-3)
    assert md["b"][0].item() == pytest.approx(1.5, abs=1e-3)
    assert math.isinf(md["a"][1].item())
    # Clipped to [0, 1] (the default) the points never pass x0 = 1: both boundaries are censored.
    clipped = directions.min_distances(models, x, d, max_eps=4.0)
    assert math.isinf(clipped["a"][0].item()) and math.isinf(clipped["b"][0].item())
    table = directions.inter_boundary(md)
    row = table.iloc[0]
    assert row["id"] == pytest.approx(0.5, abs=2e-3)
    assert row["ratio"] == pytest.approx(0.5 / 1.25, abs=2e-3)
    assert table["both_found"].tolist() == [True, False] and np.isnan(table["ratio"].iloc[1])
    nan_dir = torch.full_like(d, float("nan"))
    assert torch.isnan(directions.min_distances(models, x, nan_dir, max_eps=1.0)["a"]).all()


def test_censor_and_id_over_md():
    np.testing.assert_array_equal(directions.censor(np.array([1.0, np.inf, np.nan]), 5.0), [1.0, 5.0, np.nan])
    np.testing.assert_array_equal(directions.censor(np.array([np.inf, np.inf]), np.array([2.0, 3.0])), [2.0, 3.0])
    r = directions.id_over_md(np.array([1.0, 2.0, 1.0]), np.array([3.0, 2.0, np.nan]))
    assert r[0] == pytest.approx(1.0) and r[1] == 0.0 and np.isnan(r[2])
    # Scale-free: distances and positions on a segment give the same ratio.
    assert directions.id_over_md(2.0, 6.0) == pytest.approx(directions.id_over_md(0.2, 0.6))


def test_segment_projection():
    a, b = pts((0.0, 0.0)), pts((2.0, 0.0))
    t, perp = directions.segment_projection(a, pts((0.5, 0.5)), b)
    assert t.item() == pytest.approx(0.25) and perp.item() == pytest.approx(math.sqrt(0.5))
    t0, p0 = directions.segment_projection(a, a, b)
    assert t0.item() == 0 and torch.isnan(p0).all()
    with pytest.raises(ValueError, match="coincides"):
        directions.segment_projection(a, b, a)
