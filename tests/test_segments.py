"""Tests of halfway_utils.methods.segments: pair sampling, scanning pairs, flip summaries."""
import numpy as np
import pytest
import torch
from torch import nn

from halfway_utils.methods import segments as halfway
from halfway_utils.methods.boundary import scan_paths


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


def test_pair_distance_is_the_pixel_distance_of_each_pair():
    x = torch.zeros(3, 1, 2, 2)
    x[1] = 1.0  # ||x1 - x0|| = sqrt(4) = 2
    x[2, 0, 0, 0] = 3.0  # ||x2 - x0|| = 3, ||x2 - x1|| = sqrt(4 + 1 + 1 + 1) = sqrt(7)
    d = halfway.pair_distance(x, x, np.array([0, 0, 1, 2]), np.array([1, 2, 2, 2]))
    np.testing.assert_allclose(d, [2.0, 3.0, np.sqrt(7.0), 0.0], rtol=1e-6)


def test_scan_model_pairs_scans_the_indexed_segments():
    a = torch.zeros(3, 1, 2, 2)
    a[:, 0, 0, 0] = torch.tensor([0.0, 0.2, 0.9])
    b = torch.ones(2, 1, 2, 2)
    b[1, 0, 0, 0] = 0.5
    # segments a[0] -> b[0] (0 to 1) and a[1] -> b[1] (0.2 to 0.5): the first coordinate crosses
    # 0.4 at t = 0.4 and at t = (0.4 - 0.2) / 0.3 = 2/3; a[2] -> b[0] (0.9 to 1) never does.
    scan = halfway.scan_model_pairs(Threshold(0.4), a, b, np.array([0, 1, 2]), np.array([0, 1, 0]))
    np.testing.assert_allclose(scan.first_flip[:2].numpy(), [0.4, 2 / 3], atol=1e-3)
    assert np.isnan(scan.first_flip[2].item()) and scan.n_flips.tolist() == [1, 1, 0]


def test_pair_flips_summarises_the_scan():
    a, b = torch.zeros(4, 1, 1, 1), torch.ones(4, 1, 1, 1)
    s = halfway.pair_flips(Threshold(0.45), a, b, np.arange(4), np.arange(4))
    assert s["share_flip"] == 1.0 and s["share_first_mid"] == 1.0
    assert abs(s["median_abs_first"] - 0.05) < 1e-3 and abs(s["median_first"] - 0.45) < 1e-3
