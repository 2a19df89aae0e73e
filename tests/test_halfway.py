"""Tests of halfway_utils.halfway: pair sampling, flip summaries, 1-NN labels."""
import numpy as np
import pytest
import torch
from torch import nn

from halfway_utils import halfway
from halfway_utils.boundary import scan_paths


def test_sample_pairs_different_and_same():
    labels = np.repeat(np.arange(5), 20)
    a, b = halfway.sample_pairs(labels, n=300, kind="different", seed=1)
    assert len(a) == len(b) == 300
    assert (labels[a] != labels[b]).all()
    a, b = halfway.sample_pairs(labels, n=300, kind="same", seed=1)
    assert (labels[a] == labels[b]).all() and (a != b).all()


def test_sample_pairs_seeded_and_two_sets():
    la, lb = np.arange(10) % 3, np.arange(7) % 3
    p1 = halfway.sample_pairs(la, lb, n=50, seed=3)
    p2 = halfway.sample_pairs(la, lb, n=50, seed=3)
    assert all((x == y).all() for x, y in zip(p1, p2))
    assert p1[0].max() < 10 and p1[1].max() < 7
    assert (la[p1[0]] != lb[p1[1]]).all()


def test_sample_pairs_errors():
    with pytest.raises(ValueError):
        halfway.sample_pairs(np.zeros(10), n=5, kind="different")
    with pytest.raises(ValueError):
        halfway.sample_pairs(np.arange(3), n=5, kind="odd")
    with pytest.raises(ValueError):
        halfway.sample_pairs(np.arange(3), n=5, kind="same")  # every class has one sample


class Threshold(nn.Module):
    """Class 1 where the first input coordinate exceeds a threshold, else class 0."""

    def __init__(self, at: float):
        super().__init__()
        self.at = at

    def forward(self, x):
        v = x.flatten(1)[:, :1] - self.at
        return torch.cat([-v, v], dim=1)


def test_flip_summary_halfway_model():
    a = torch.zeros(8, 1, 2, 2)
    b = torch.ones(8, 1, 2, 2)
    s = halfway.flip_summary(scan_paths(Threshold(0.5), a, b))
    assert s["n_paths"] == 8 and s["share_flip"] == 1.0 and s["share_first_mid"] == 1.0
    assert s["median_abs_first"] < 1e-3 and s["share_third_class"] == 0.0
    assert s["per_path"]["first_flip"].shape == (8,)


def test_flip_summary_off_centre_and_no_flip():
    a = torch.zeros(4, 1, 2, 2)
    b = torch.ones(4, 1, 2, 2)
    b[2:] = 0.1  # these paths never cross 0.8
    s = halfway.flip_summary(scan_paths(Threshold(0.8), a, b))
    assert s["share_flip"] == 0.5
    assert abs(s["median_abs_first"] - 0.3) < 1e-3 and s["share_first_mid"] == 0.0
    assert np.isnan(s["per_path"]["first_flip"][2:]).all()


def test_nearest_neighbor_labels():
    train_x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train_y = torch.tensor([0, 1, 2])
    query = torch.tensor([[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [0.1, 0.0]])
    out = halfway.nearest_neighbor_labels(train_x, train_y, query, chunk=3)
    assert out.tolist() == [0, 1, 2, 0]


def test_predict_features_and_distance():
    torch.manual_seed(0)
    from halfway_utils.models import mlp
    model = mlp((1, 4, 4), num_classes=3, width=5).eval()
    x = torch.rand(7, 1, 4, 4)
    assert halfway.predict(model, x, chunk=3).shape == (7,)
    assert halfway.features(model, x, chunk=3).shape == (7, 5)
    d = halfway.pair_distance(x, x, np.array([0, 1]), np.array([0, 2]))
    assert d[0] == 0 and d[1] > 0
    scan = halfway.scan_model_pairs(model, x, x, np.array([0, 1]), np.array([3, 2]))
    assert scan.first_flip.shape == (2,)
