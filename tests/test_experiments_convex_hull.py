import numpy as np
import pytest
import torch

from halfway_utils import extrapolation as ex
from halfway_utils import models


def test_class_distances_brute_force():
    rng = np.random.default_rng(0)
    D, Q = rng.normal(size=(40, 5)), rng.normal(size=(7, 5))
    y, yq = rng.integers(0, 3, 40), rng.integers(0, 3, 7)
    same, other = ex.class_distances(D, y, Q, yq)
    full = np.linalg.norm(Q[:, None] - D[None], axis=2)
    for j in range(7):
        assert same[j] == pytest.approx(full[j, y == yq[j]].min())
        assert other[j] == pytest.approx(full[j, y != yq[j]].min())


def test_class_distances_missing_class_is_inf():
    D, Q = np.eye(3), np.zeros((1, 3))
    same, other = ex.class_distances(D, np.array([0, 0, 0]), Q, np.array([1]))
    assert np.isinf(same[0]) and other[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ex.class_distances(D, np.array([0, 0]), Q, np.array([1]))


def test_hull_table_inside_and_outside():
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
    queries = np.array([[0.5, 0.5], [3.0, 0.5]])
    t = ex.hull_table(square, np.array([0, 1, 0, 1]), queries, np.array([0, 1]), device="cpu")
    assert t["inside"].tolist() == [True, False]
    assert t["hull"][1] == pytest.approx(2.0, abs=1e-6)
    assert t["nn"][1] == pytest.approx(np.hypot(2.0, 0.5))
    assert t["ratio_nn"][1] == pytest.approx(2.0 / np.hypot(2.0, 0.5), abs=1e-6)
    assert t["nn_label"][1] in (1,)  # nearest point (1, 0) or (1, 1) has label 1
    assert (t["hull"] <= t["nn"] + 1e-9).all()  # the hull is never farther than the nearest point


def test_features_and_predict_batched_eval_mode():
    torch.manual_seed(0)
    model = models.build("mlp", width=8, depth=1).train()
    x = torch.rand(5, 1, 28, 28)
    f = ex.features(model, x, batch_size=2)
    assert f.shape == (5, 8) and f.dtype == np.float32
    p = ex.predict(model, x, batch_size=2)
    assert p.shape == (5,) and model.training  # mode restored
    with torch.no_grad():
        assert (p == model.eval()(x).argmax(1).numpy()).all()
