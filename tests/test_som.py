"""Tests of halfway_utils.som (against MiniSom 2.3.6) and halfway_utils.codes.

Quality tolerance against MiniSom (stated here, checked in
``test_quality_comparable_to_minisom``): on the same data, grid and seed, with
10 passes over the data for both (our ``fit(epochs=10)``, MiniSom's
``train(data, 10 * N, random_order=True)`` after ``pca_weights_init``), our map
must reach

    QE_ours <= 1.1 * QE_minisom   and   TE_ours <= TE_minisom + 0.1

for MiniSom with its default ``sigma=1.0`` and with ``sigma=max(rows, cols)/2``
(our default initial radius), both with ``learning_rate=0.5``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from halfway_utils import data
from halfway_utils.methods.codes import code_change_rate, code_metrics, joint_counts, occupancy
from halfway_utils.methods.som import SOM

minisom = pytest.importorskip("minisom")
MiniSom = minisom.MiniSom

ROWS, COLS = 6, 6
QE_FACTOR = 1.1
TE_MARGIN = 0.1


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _blobs(n=600, d=10, k=3, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d) * 5
    y = rng.randint(0, k, n)
    return (centres[y] + rng.randn(n, d)).astype(np.float32), y


_MNIST_CACHE: dict[str, np.ndarray] = {}


def _mnist_1000():
    if "x" not in _MNIST_CACHE:
        if not data.available("mnist"):
            _MNIST_CACHE["skip"] = f"MNIST not available: {data.info('mnist').fetch_hint}"
            _MNIST_CACHE["x"] = None
        else:
            x, _ = data.load("mnist", "train", n=1000)
            _MNIST_CACHE["x"] = x.reshape(len(x), -1).numpy().astype(np.float32)
    if _MNIST_CACHE["x"] is None:
        pytest.skip(_MNIST_CACHE["skip"])
    return _MNIST_CACHE["x"]


def _dataset(name):
    if name == "blobs":
        return _blobs()[0]
    return _mnist_1000()


def _minisom_with(weights: np.ndarray) -> MiniSom:
    rows, cols, dim = weights.shape
    m = MiniSom(rows, cols, dim, random_seed=0)
    m._weights = weights.astype(np.float64)
    return m


# --------------------------------------------------------------------- SOM
@pytest.mark.parametrize("name", ["blobs", "mnist"])
@pytest.mark.parametrize("minisom_sigma", [1.0, max(ROWS, COLS) / 2])
def test_quality_comparable_to_minisom(name, minisom_sigma):
    x = _dataset(name)
    ours = SOM(ROWS, COLS, x.shape[1], seed=0).fit(x, epochs=10)
    qe, te = ours.quantization_error(x), ours.topographic_error(x)

    ref = MiniSom(ROWS, COLS, x.shape[1], sigma=minisom_sigma, learning_rate=0.5, random_seed=0)
    ref.pca_weights_init(x)
    ref.train(x, 10 * len(x), random_order=True)
    qe_ref, te_ref = ref.quantization_error(x), ref.topographic_error(x)

    assert qe <= QE_FACTOR * qe_ref, (qe, qe_ref)
    assert te <= te_ref + TE_MARGIN, (te, te_ref)


@pytest.mark.parametrize("name", ["blobs", "mnist"])
def test_errors_and_bmu_match_minisom_on_same_weights(name):
    x = _dataset(name)
    som = SOM(ROWS, COLS, x.shape[1], init="sample", seed=3).fit(x, epochs=5)
    ref = _minisom_with(som.weights.numpy())
    xd = x.astype(np.float64)

    assert som.quantization_error(x) == pytest.approx(ref.quantization_error(xd), abs=1e-5)
    assert som.topographic_error(x) == pytest.approx(ref.topographic_error(xd), abs=1e-5)

    ours = som.bmu(x, chunk_size=97).numpy()  # odd chunk exercises the chunking
    theirs = np.array([np.ravel_multi_index(ref.winner(v), (ROWS, COLS)) for v in xd])
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(som.bmu_coords(x).numpy(), np.stack(np.unravel_index(theirs, (ROWS, COLS)), 1))


def test_errors_match_minisom_on_untrained_weights():
    x, _ = _blobs(n=300)
    som = SOM(4, 5, x.shape[1], init="pca").fit(x, epochs=1)
    rng = np.random.RandomState(1)
    som.weights = rng.randn(4, 5, x.shape[1]).astype(np.float32) * 3
    ref = _minisom_with(som.weights.numpy())
    assert som.quantization_error(x) == pytest.approx(ref.quantization_error(x.astype(np.float64)), abs=1e-5)
    assert som.topographic_error(x) == pytest.approx(ref.topographic_error(x.astype(np.float64)), abs=1e-5)


def test_topographic_adjacency_rule():
    # 3x3 grid, unit k has weight 10 * e_k, so x = 0.6 w_a + 0.4 w_b has first
    # BMU a and second BMU b. MiniSom (rectangular) counts the 8-neighbourhood,
    # diagonals included, as adjacent.
    w = (np.eye(9, dtype=np.float32) * 10).reshape(3, 3, 9)
    som = SOM(3, 3, 9)
    som.weights = w
    ref = _minisom_with(w)
    cases = {(0, 1): 0.0, (0, 3): 0.0, (0, 4): 0.0, (4, 2): 0.0, (5, 7): 0.0,
             (0, 2): 1.0, (0, 8): 1.0, (1, 7): 1.0, (6, 2): 1.0}
    flat = w.reshape(9, 9)
    for (a, b), expected in cases.items():
        x = (0.6 * flat[a] + 0.4 * flat[b])[None]
        assert som.bmu(x).tolist() == [a]
        assert som.topographic_error(x) == expected == ref.topographic_error(x.astype(np.float64))
    xs = np.stack([0.6 * flat[a] + 0.4 * flat[b] for a, b in cases])
    assert som.topographic_error(xs) == pytest.approx(4 / 9)
    one = SOM(1, 1, 9, init="sample").fit(xs, epochs=1)
    assert math.isnan(one.topographic_error(xs))


def test_pca_init_spans_principal_plane():
    x, _ = _blobs(n=400, d=6)
    som = SOM(5, 4, 6).initialize(x)
    ref = MiniSom(5, 4, 6)
    ref.pca_weights_init(x.astype(np.float64))
    ours = som.weights.numpy().astype(np.float64)
    theirs = ref.get_weights()
    # same grid up to the (arbitrary) sign of each principal component
    ok = any(
        np.allclose(ours, theirs[:: s1, :: s2], atol=1e-4)
        for s1 in (1, -1) for s2 in (1, -1)
    )
    assert ok


def test_pca_init_large_problem_uses_subspace_iteration():
    # 2100 > 2048 samples and 2048 * 320**2 > 2e8: subsampled rows, subspace iteration
    rng = np.random.RandomState(0)
    scales = np.ones(320)
    scales[:2] = (10.0, 5.0)
    x = (rng.randn(2100, 320) * scales @ np.linalg.qr(rng.randn(320, 320))[0]).astype(np.float32)
    som = SOM(3, 3, 320).initialize(x)
    ref = MiniSom(3, 3, 320)
    ref.pca_weights_init(x.astype(np.float64))
    mean = x.astype(np.float64).mean(0)
    ours = som.weights.numpy().astype(np.float64) - mean
    theirs = ref.get_weights() - mean
    # corner (2, 0) - (0, 0) = 2 * pc1, (0, 2) - (0, 0) = 2 * pc2
    for a, b in (((2, 0), (0, 0)), ((0, 2), (0, 0))):
        u, v = ours[a] - ours[b], theirs[a] - theirs[b]
        assert abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v)) > 0.995
        assert np.linalg.norm(u) == pytest.approx(2.0, rel=1e-4)


def test_bmu_exact_under_cancellation_and_ties():
    rng = np.random.RandomState(0)
    # large common offset, tiny spread: the plain GEMM form loses all precision
    x = (1000.0 + 0.01 * rng.randn(300, 8)).astype(np.float32)
    som = SOM(3, 4, 8, init="sample").fit(x, epochs=3)
    w = som.weights.numpy().reshape(-1, 8).astype(np.float64)
    brute = ((x.astype(np.float64)[:, None, :] - w[None]) ** 2).sum(2).argmin(1)
    np.testing.assert_array_equal(som.bmu(x).numpy(), brute)
    ref = _minisom_with(som.weights.numpy())
    assert som.quantization_error(x) == pytest.approx(ref.quantization_error(x.astype(np.float64)), abs=1e-5)
    # exact ties go to the lowest unit index, like numpy's argmin (MiniSom's winner)
    tie = SOM(3, 3, 9)
    tie.weights = (np.eye(9, dtype=np.float32) * 2).reshape(3, 3, 9)
    xt = np.zeros((1, 9), dtype=np.float32)
    xt[0, [3, 5]] = 1.0
    assert tie.bmu(xt).tolist() == [3]
    assert np.ravel_multi_index(_minisom_with(tie.weights.numpy()).winner(xt[0]), (3, 3)) == 3


def test_subsampled_epochs_deterministic_and_as_good():
    x, y = _blobs(n=3000, d=10, k=5, seed=1)
    a = SOM(4, 4, 10, seed=2).fit(x, epochs=8)  # subsample "auto" = 1000 < 3000
    b = SOM(4, 4, 10, seed=2).fit(x, epochs=8)
    full = SOM(4, 4, 10, seed=2).fit(x, epochs=8, subsample=None)
    assert [h["samples"] for h in a.history] == [1000] * 7 + [3000]
    assert torch.equal(a.weights, b.weights)
    assert a.quantization_error(x) <= 1.05 * full.quantization_error(x)
    assert a.topographic_error(x) <= full.topographic_error(x) + 0.05


def test_deterministic_and_seeded():
    x, _ = _blobs()
    a = SOM(ROWS, COLS, 10, init="sample", seed=7).fit(x, epochs=4, batch_size=128)
    b = SOM(ROWS, COLS, 10, init="sample", seed=7).fit(x, epochs=4, batch_size=128)
    c = SOM(ROWS, COLS, 10, init="sample", seed=8).fit(x, epochs=4, batch_size=128)
    assert torch.equal(a.weights, b.weights)
    assert not torch.equal(a.weights, c.weights)
    p = SOM(ROWS, COLS, 10).fit(x, epochs=4)
    q = SOM(ROWS, COLS, 10).fit(torch.from_numpy(x), epochs=4)
    assert torch.equal(p.weights, q.weights)
    assert p.weights.dtype == torch.float32 and p.weights.shape == (ROWS, COLS, 10)
    codes = p.bmu(x)
    assert codes.dtype == torch.long and codes.shape == (len(x),)
    assert int(codes.min()) >= 0 and int(codes.max()) < ROWS * COLS


def test_training_improves_and_orders_blobs():
    x, y = _blobs()
    som = SOM(ROWS, COLS, 10).initialize(x)
    qe0 = som.quantization_error(x)
    som.fit(x, epochs=10)
    assert som.quantization_error(x) < 0.5 * qe0
    m = code_metrics(som.bmu(x), y, ROWS * COLS)
    assert m["purity"] == 1.0  # well separated blobs never share a unit
    assert m["units_used"] > 3


def test_input_validation():
    with pytest.raises(ValueError, match="rows"):
        SOM(0, 3, 2)
    with pytest.raises(ValueError, match="cols"):
        SOM(3, 0, 2)
    with pytest.raises(ValueError, match="dim"):
        SOM(3, 3, 0)
    with pytest.raises(ValueError, match="init"):
        SOM(3, 3, 2, init="random")
    with pytest.raises(ValueError, match="sigma"):
        SOM(3, 3, 2, sigma=-1.0)
    som = SOM(3, 3, 4)
    x = np.random.RandomState(0).randn(20, 4).astype(np.float32)
    with pytest.raises(ValueError, match="features"):
        som.fit(x[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        som.fit(x[0])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        som.fit(bad)
    with pytest.raises(ValueError, match="epochs"):
        som.fit(x, epochs=0)
    with pytest.raises(RuntimeError, match="fit"):
        som.bmu(x)
    som.fit(x, epochs=2)
    with pytest.raises(ValueError, match="NaN"):
        som.bmu(bad)
    with pytest.raises(ValueError, match="features"):
        som.quantization_error(x[:, :2])
    with pytest.raises(ValueError, match="PCA"):
        SOM(2, 2, 1).fit(x[:, :1])
    with pytest.raises(ValueError, match="shape"):
        som.weights = np.zeros((2, 2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="subsample"):
        som.fit(x, subsample=0)


# ------------------------------------------------------------------- codes
def test_code_metrics_single_code():
    m = code_metrics(np.zeros(10, dtype=int), np.arange(10) % 2, n_units=4)
    assert m["units_used"] == 1 and m["units_used_frac"] == 0.25
    assert m["entropy_bits"] == 0.0 and m["mutual_information_bits"] == 0.0
    assert m["normalized_mi"] == 0.0 and m["max_entropy_bits"] == 2.0
    assert m["purity"] == 0.5 and m["shared_units"] == 1 and m["shared_units_frac"] == 1.0
    assert m["class_conditional_entropy_bits"] == 0.0
    assert all(isinstance(v, float) for v in m.values())


def test_code_metrics_codes_equal_labels():
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 0])
    m = code_metrics(labels, labels, n_units=8)
    h = -sum(p * math.log2(p) for p in (0.4, 0.2, 0.2, 0.2))
    assert m["purity"] == 1.0
    assert m["mutual_information_bits"] == pytest.approx(h)
    assert m["entropy_bits"] == pytest.approx(h)
    assert m["label_entropy_bits"] == pytest.approx(h)
    assert m["normalized_mi"] == pytest.approx(1.0)
    assert m["class_conditional_entropy_bits"] == pytest.approx(0.0, abs=1e-12)
    assert m["normalized_entropy"] == pytest.approx(h / 3)
    assert m["shared_units"] == 0 and m["shared_units_frac"] == 0.0


def test_code_metrics_mixed_case():
    # unit 0: classes {0, 0, 1}; unit 1: {1}; unit 2: {0, 1, 2, 2}; unit 3 unused
    codes = [0, 0, 0, 1, 2, 2, 2, 2]
    labels = [0, 0, 1, 1, 0, 1, 2, 2]
    m = code_metrics(codes, labels, n_units=4, n_classes=3)
    assert m["units_used"] == 3 and m["units_used_frac"] == 0.75
    assert m["shared_units"] == 2 and m["shared_units_frac"] == pytest.approx(2 / 3)
    assert m["purity"] == pytest.approx((2 + 1 + 2) / 8)
    h_code = -sum(p * math.log2(p) for p in (3 / 8, 1 / 8, 4 / 8))
    # H(code | class): class 0 -> codes {0,0,2}; class 1 -> {0,1,2}; class 2 -> {2,2}
    h_c0 = -sum(p * math.log2(p) for p in (2 / 3, 1 / 3))
    h_c1 = math.log2(3)
    h_cond = 3 / 8 * h_c0 + 3 / 8 * h_c1 + 2 / 8 * 0.0
    assert m["entropy_bits"] == pytest.approx(h_code)
    assert m["class_conditional_entropy_bits"] == pytest.approx(h_cond)
    assert m["mutual_information_bits"] == pytest.approx(h_code - h_cond)
    h_label = -sum(p * math.log2(p) for p in (3 / 8, 3 / 8, 2 / 8))
    assert m["normalized_mi"] == pytest.approx((h_code - h_cond) / h_label)


def test_code_metrics_single_class_nan_normalized_mi():
    m = code_metrics([0, 1, 2], [0, 0, 0], n_units=3)
    assert m["mutual_information_bits"] == 0.0 and math.isnan(m["normalized_mi"])


def test_code_change_rate_and_occupancy():
    assert code_change_rate(np.array([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0])) == 0.5
    occ = occupancy([0, 0, 5, 5, 5], [1, 1, 0, 2, 2], rows=2, cols=3, n_classes=3)
    assert occ.shape == (2, 3, 3) and occ.dtype == torch.int64
    assert occ[0, 0].tolist() == [0, 2, 0] and occ[1, 2].tolist() == [1, 0, 2]
    assert int(occ.sum()) == 5
    np.testing.assert_array_equal(occ.reshape(6, 3).numpy(), joint_counts([0, 0, 5, 5, 5], [1, 1, 0, 2, 2], 6, 3))


def test_codes_validation():
    with pytest.raises(ValueError, match="length"):
        code_metrics([0, 1], [0], n_units=2)
    with pytest.raises(ValueError, match="n_units"):
        code_metrics([0, 2], [0, 1], n_units=2)
    with pytest.raises(ValueError, match="n_classes"):
        code_metrics([0, 1], [0, 3], n_units=2, n_classes=2)
    with pytest.raises(ValueError, match="integers"):
        code_metrics([0.5, 1.0], [0, 1], n_units=2)
    with pytest.raises(ValueError, match="empty"):
        code_metrics([], [], n_units=2)
    with pytest.raises(ValueError, match="length"):
        code_change_rate([0, 1], [0])
    with pytest.raises(ValueError, match="rows"):
        occupancy([0], [0], rows=0, cols=1, n_classes=1)
