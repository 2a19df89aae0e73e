"""Tests of halfway_utils.methods.neighbors against a brute-force numpy search."""
import numpy as np
import pytest
import torch

from halfway_utils.methods import segments
from halfway_utils.methods.neighbors import NearestNeighbor, nearest, nearest_labels


def _brute(q: np.ndarray, r: np.ndarray, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    if allowed is not None:
        d = np.where(allowed, d, np.inf)
    idx = d.argmin(1)
    dist = d[np.arange(len(q)), idx]
    return np.where(np.isinf(dist), -1, idx), dist


def test_nearest_matches_brute_force_in_blocks_and_shapes():
    rng = np.random.default_rng(0)
    q, r = rng.standard_normal((37, 2, 3, 3)), rng.standard_normal((101, 2, 3, 3))
    idx, dist = nearest(torch.from_numpy(q), torch.from_numpy(r), chunk=5)
    want_idx, want_dist = _brute(q.reshape(37, -1), r.reshape(101, -1))
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_allclose(dist.numpy(), want_dist, rtol=1e-12)
    assert idx.dtype == torch.long and dist.dtype == torch.float64


def test_a_mask_restricts_the_references():
    r = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    q = torch.tensor([[1.0, 2.0], [9.0, 1.0], [1.0, 8.0]])
    allowed = torch.tensor([[False, True, True], [True, False, True], [False, False, False]])
    idx, dist = nearest(q, r, allowed=allowed)
    assert idx.tolist() == [2, 0, -1]  # the third query has no admissible reference
    np.testing.assert_allclose(dist[:2].numpy(), [np.hypot(1, 8), np.hypot(9, 1)])
    assert torch.isinf(dist[2])
    with pytest.raises(ValueError, match="allowed must have shape"):
        nearest(q, r, allowed=allowed[:, :2])


def test_class_relations_same_and_other():
    rng = np.random.default_rng(1)
    r, q = rng.standard_normal((60, 4)), rng.standard_normal((25, 4))
    yr, yq = rng.integers(0, 3, 60), rng.integers(0, 3, 25)
    for relation, allowed in (("same", yq[:, None] == yr[None, :]), ("other", yq[:, None] != yr[None, :])):
        idx, dist = nearest(q, r, labels=(yq, yr), relation=relation, chunk=7)
        want_idx, want_dist = _brute(q, r, allowed)
        np.testing.assert_array_equal(idx.numpy(), want_idx)
        np.testing.assert_allclose(dist.numpy(), want_dist, rtol=1e-12)
    with pytest.raises(ValueError, match="relation"):
        nearest(q, r, labels=(yq, yr), relation="near")


def test_float32_search_reports_exact_float64_distances():
    rng = np.random.default_rng(2)
    r = (rng.random((500, 64)) + 100.0).astype(np.float32)  # far from 0: centring matters in float32
    q = (rng.random((20, 64)) + 100.0).astype(np.float32)
    idx, dist = nearest(q, r, dtype=torch.float32)
    want_idx, want_dist = _brute(q.astype(np.float64), r.astype(np.float64))
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_allclose(dist.numpy(), want_dist, rtol=1e-12)


def test_nearest_labels_is_the_one_nn_rule():
    train_x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train_y = torch.tensor([0, 1, 2])
    query = torch.tensor([[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [0.1, 0.0]])
    assert nearest_labels(train_x, train_y, query, chunk=3).tolist() == [0, 1, 2, 0]
    assert nearest_labels(train_x.numpy(), np.array([5, 6, 7]), query).tolist() == [5, 6, 7, 5]


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match="reference set is empty"):
        nearest(torch.zeros(2, 3), torch.zeros(0, 3))
    with pytest.raises(ValueError, match="features per row"):
        nearest(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="one entry per query"):
        nearest(torch.zeros(2, 3), torch.zeros(4, 3), labels=(torch.zeros(3), torch.zeros(4)))


def _points(*xy: tuple[float, float]) -> torch.Tensor:
    """Inputs of shape (N, 1, 1, 2)."""
    return torch.tensor(xy, dtype=torch.float32).view(-1, 1, 1, 2)


def test_nearest_neighbor_is_the_one_nn_rule_and_flips_at_the_bisector():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(0, 1, (40, 1, 1, 2)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 40))
    rule = NearestNeighbor(x, y, n_classes=4)
    q = torch.tensor(rng.uniform(0, 1, (50, 1, 1, 2)), dtype=torch.float32)
    nearest_rows = torch.cdist(q.flatten(1), x.flatten(1)).argmin(1)
    logits = rule(q)
    assert logits.shape == (50, 4) and torch.isinf(logits[:, 3]).all()  # class 3 has no sample
    assert torch.equal(logits.argmax(1), y[nearest_rows])
    small = NearestNeighbor(x, y)
    small.BLOCK = 7  # blocks of queries give the same logits
    torch.testing.assert_close(small(q), logits[:, :3])
    # Two samples: the boundary between them is the bisector, t = 0.5 on the segment; a third
    # sample of another class near the segment's middle takes over a band around it.
    two = _points((0, 0), (1, 0.5))
    path = segments.pair_flips(NearestNeighbor(two, torch.tensor([0, 1])), two, two, np.array([0]), np.array([1]),
                               grid=17)["per_path"]
    assert path["first_flip"][0] == pytest.approx(0.5, abs=1e-4) and path["n_flips"][0] == 1
    three = _points((0, 0), (1, 0), (0.5, 0.1))
    path = segments.pair_flips(NearestNeighbor(three, torch.tensor([0, 1, 2])), three, three,
                               np.array([0]), np.array([1]), grid=17)["per_path"]
    # boundary 0-2 where t^2 = (t - 0.5)^2 + 0.01: t = 0.26; 2-1 symmetric at 0.74
    np.testing.assert_allclose([path["first_flip"][0], path["last_flip"][0]], [0.26, 0.74], atol=1e-3)
