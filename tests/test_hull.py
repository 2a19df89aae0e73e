"""Tests of halfway_utils.hull: distance to the convex hull against independent references."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from halfway_utils import data
from halfway_utils.methods import hull
from halfway_utils.methods.neighbors import nearest


def _gaussian(n: int, d: int, m: int, seed: int = 0, spread: float = 1.5):
    """Random Gaussian training rows and queries (some inside, most outside the hull)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), spread * rng.standard_normal((m, d))


def _convex_combos(D: np.ndarray, m: int, seed: int = 1) -> np.ndarray:
    """Queries that are random convex combinations of rows of D (inside the hull)."""
    rng = np.random.default_rng(seed)
    A = rng.dirichlet(np.ones(len(D)), size=m)
    return A @ D


def _reference(D: np.ndarray, Q: np.ndarray) -> np.ndarray:
    return np.array([hull.nnls_distance(D, q)[0] for q in Q])


def _true_gap(D: np.ndarray, q: np.ndarray, p: np.ndarray) -> float:
    """Frank-Wolfe gap max_i (p - D_i).r recomputed from scratch in float64."""
    r = p - q
    return float(np.max((p - D) @ r))


@pytest.mark.parametrize("n,d", [(200, 5), (500, 20), (2000, 100), (1000, 50)])
def test_matches_nnls_reference(n: int, d: int) -> None:
    D, Q = _gaussian(n, d, 6, seed=n + d)
    res = hull.distance(D, Q)
    ref = _reference(D, Q)
    assert res.converged.all()
    np.testing.assert_allclose(res.distance, ref, rtol=1e-6, atol=1e-6)
    # our distance is feasible, so it can only undercut the reference by rounding
    assert np.all(res.distance <= ref + 1e-9)


def test_n_greater_than_d_and_d_greater_than_n() -> None:
    for n, d in [(1500, 8), (40, 300)]:
        D, Q = _gaussian(n, d, 5, seed=7)
        res = hull.distance(D, Q)
        np.testing.assert_allclose(res.distance, _reference(D, Q), rtol=1e-6, atol=1e-6)
        assert res.converged.all()


def test_queries_inside_hull_are_zero() -> None:
    D, _ = _gaussian(300, 10, 0, seed=3)
    Q = _convex_combos(D, 8)
    res = hull.distance(D, Q)
    assert np.all(res.distance < 1e-6)
    assert res.inside.all()
    assert np.all(res.gap <= 1e-6)


def test_outside_queries_are_not_inside() -> None:
    D, Q = _gaussian(200, 30, 5, seed=4, spread=3.0)
    res = hull.distance(D, Q)
    assert not res.inside.any()
    assert np.all(res.lower_bound > 0)


def test_certificate_is_honest() -> None:
    D, Q = _gaussian(800, 25, 6, seed=5)
    res = hull.distance(D, Q)
    ref = _reference(D, Q)
    assert np.all(res.gap >= 0)
    assert np.all(res.gap <= res.tol * np.maximum(res.radius**2, res.distance**2))
    # lower bound <= true distance <= reported distance
    assert np.all(res.lower_bound <= ref + 1e-9)
    assert np.all(res.lower_bound <= res.distance)
    rng = np.random.default_rng(0)
    for j, q in enumerate(Q):
        p = res.closest[j]
        assert _true_gap(D, q, p) <= res.gap[j] + 1e-9
        a = res.weights.getrow(j).toarray().ravel()
        worse = 0.5 * a + 0.5 * rng.dirichlet(np.ones(len(D)))  # another feasible point
        assert np.linalg.norm(worse @ D - q) > res.distance[j]


def test_certificate_honest_when_stopped_early() -> None:
    D, Q = _gaussian(3000, 40, 5, seed=6)
    res = hull.distance(D, Q, max_iter=1, init=2)
    ref = _reference(D, Q)
    assert np.all(res.lower_bound <= ref + 1e-9)
    assert np.all(res.distance >= ref - 1e-9)
    for j, q in enumerate(Q):  # gap reported is the true gap of the returned point
        assert _true_gap(D, q, res.closest[j]) <= res.gap[j] + 1e-9


def test_weights_feasible_and_reproduce_closest_point() -> None:
    D, Q = _gaussian(500, 15, 7, seed=8)
    res = hull.distance(D, Q)
    W = res.weights
    assert W.shape == (7, 500)
    assert W.data.min() >= 0
    np.testing.assert_allclose(np.asarray(W.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    np.testing.assert_allclose(W @ D, res.closest, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(W @ D - Q, axis=1), res.distance, atol=1e-10)
    idx, alphas = res.support(0)
    np.testing.assert_allclose(alphas @ D[idx], res.closest[0], atol=1e-10)
    assert np.all(res.working_set_size >= W.getnnz(axis=1))
    assert np.all(res.iterations >= 1)


def test_vertex_query_gives_zero() -> None:
    D, _ = _gaussian(400, 12, 0, seed=9)
    res = hull.distance(D, D[[0, 17, 399]])
    np.testing.assert_allclose(res.distance, 0.0, atol=1e-12)
    assert res.inside.all()


def test_single_point_hull_and_duplicates() -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal(20)
    Q = rng.standard_normal((4, 20)) * 3
    expected = np.linalg.norm(Q - x, axis=1)
    for D in (x[None, :], np.repeat(x[None, :], 50, axis=0)):
        res = hull.distance(D, Q)
        np.testing.assert_allclose(res.distance, expected, rtol=1e-12)
        _, nn = nearest(Q, D)
        np.testing.assert_allclose(res.distance, nn.numpy(), rtol=1e-12)


def test_duplicated_rows_match_reference() -> None:
    D, Q = _gaussian(300, 10, 5, seed=11)
    D = np.vstack([D, D[:150], D[:40]])
    res = hull.distance(D, Q)
    np.testing.assert_allclose(res.distance, _reference(D, Q), rtol=1e-6, atol=1e-6)
    assert res.converged.all()


def test_float32_and_torch_inputs() -> None:
    D, Q = _gaussian(1000, 30, 5, seed=12)
    D32, Q32 = D.astype(np.float32), Q.astype(np.float32)
    ref = _reference(D32.astype(np.float64), Q32.astype(np.float64))
    res32 = hull.distance(D32, Q32)
    np.testing.assert_allclose(res32.distance, ref, rtol=1e-6, atol=1e-6)
    assert res32.converged.all() and res32.distance.dtype == np.float64
    res_t = hull.distance(torch.from_numpy(D32), torch.from_numpy(Q32), device="cpu")
    np.testing.assert_allclose(res_t.distance, res32.distance, rtol=1e-12)
    single = hull.distance(torch.from_numpy(D), torch.from_numpy(Q[0]))
    assert single.distance.shape == (1,)
    np.testing.assert_allclose(single.distance[0], ref[0], rtol=1e-6)


def test_cvxpy_reference_agrees() -> None:
    pytest.importorskip("cvxpy")
    D, Q = _gaussian(150, 8, 2, seed=14)
    res = hull.distance(D, Q)
    for j, q in enumerate(Q):
        dist, alphas = hull.cvxpy_distance(D, q)
        assert alphas.min() >= 0 and abs(alphas.sum() - 1) < 1e-12
        np.testing.assert_allclose(res.distance[j], dist, rtol=1e-4, atol=1e-5)


def test_mnist_subset() -> None:
    if not data.available("mnist"):
        pytest.skip(f"MNIST not available: {data.info('mnist').fetch_hint}")
    train, _ = data.load("mnist", "train", n=500)
    test, _ = data.load("mnist", "test", n=4)
    D = train.reshape(len(train), -1).numpy()
    Q = test.reshape(len(test), -1).numpy()
    assert D.dtype == np.float32
    res = hull.distance(D, Q)
    ref = _reference(D.astype(np.float64), Q.astype(np.float64))
    assert res.converged.all()
    np.testing.assert_allclose(res.distance, ref, rtol=1e-6, atol=1e-6)
    _, nn = nearest(Q, D, dtype=torch.float32)
    assert np.all(res.distance <= nn.numpy() + 1e-9)
    assert not res.inside.any()  # d = 784 > n = 500: test digits lie off the hull


@pytest.mark.parametrize("points,queries,match", [
    (np.zeros((5, 3)), np.zeros((2, 4)), "dimension mismatch"),
    (np.zeros((0, 3)), np.zeros((2, 3)), "empty"),
    (np.zeros(3), np.zeros((2, 3)), "2-D"),
    (np.zeros((5, 3)), np.zeros((2, 3, 1)), "1-D"),
    (np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros((1, 2)), "points contains NaN"),
    (np.zeros((5, 2)), np.array([[np.inf, 0.0]]), "queries contains NaN or inf"),
])
def test_value_errors(points, queries, match) -> None:
    with pytest.raises(ValueError, match=match):
        hull.distance(points, queries)


def test_bad_settings_and_reference_errors() -> None:
    D, Q = _gaussian(10, 3, 2)
    with pytest.raises(ValueError, match="tol"):
        hull.distance(D, Q, tol=0)
    with pytest.raises(ValueError, match="single query"):
        hull.nnls_distance(D, Q)
