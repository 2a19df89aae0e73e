"""Data loading: shapes, ranges, balanced subsets, and clear errors for bad input."""
import shutil

import pytest
import torch

from halfway_utils import data
from halfway_utils.data import DataError


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_load_full_splits(name):
    x, y = data.load(name, "test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == (10000,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert torch.bincount(y).min() >= 800


def test_subset_is_balanced_seeded_and_deterministic():
    x1, y1 = data.load("mnist", "train", n=1003, seed=3)
    x2, y2 = data.load("mnist", "train", n=1003, seed=3)
    x3, _ = data.load("mnist", "train", n=1003, seed=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    counts = torch.bincount(y1, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1003


def test_unknown_name_and_split_list_valid_ones():
    with pytest.raises(DataError, match="valid names: mnist, fashion_mnist, cifar10"):
        data.load("imagenet")
    with pytest.raises(DataError, match="valid splits: train, test"):
        data.load("mnist", "validation")


@pytest.mark.parametrize("n", [0, -5, 2.5, "100", True, 70000])
def test_bad_subset_size(n):
    with pytest.raises(DataError):
        data.load("mnist", "test", n=n)


def _copy_mnist(tmp_path):
    src = data.data_root() / "MNIST" / "raw"
    dst = tmp_path / "MNIST" / "raw"
    shutil.copytree(src, dst)
    return dst


def test_truncated_file_is_reported_with_the_fix(tmp_path, monkeypatch):
    raw = _copy_mnist(tmp_path)
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    data._load_full.cache_clear()
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-100])
    try:
        with pytest.raises(DataError, match="truncated or corrupt.*fetch again"):
            data.load("mnist", "test")
    finally:
        data._load_full.cache_clear()


def test_corrupt_labels_are_reported(tmp_path, monkeypatch):
    raw = _copy_mnist(tmp_path)
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    data._load_full.cache_clear()
    labels = raw / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[8:] = bytes([3]) * (len(blob) - 8)  # every label the same class
    labels.write_bytes(bytes(blob))
    try:
        with pytest.raises(DataError, match="implausible"):
            data.load("mnist", "test")
    finally:
        data._load_full.cache_clear()


def test_missing_data_fails_fast_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    monkeypatch.setenv("HALFWAY_OFFLINE", "1")
    data._load_full.cache_clear()
    try:
        with pytest.raises(DataError, match=r"python -m halfway_utils.data fetch mnist"):
            data.load("mnist", "test")
        with pytest.raises(DataError, match="fetch cifar10"):
            data.load("cifar10", "test")
    finally:
        data._load_full.cache_clear()


def test_fashion_mnist_is_copied_from_the_debian_package(tmp_path, monkeypatch):
    if data._local_source("fashion_mnist") is None:
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    data._load_full.cache_clear()
    try:
        x, y = data.load("fashion_mnist", "test", n=50)
        assert (tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
        assert x.shape == (50, 1, 28, 28)
    finally:
        data._load_full.cache_clear()


def test_cli_check_reports_status(capsys):
    assert data.main(["check", "mnist"]) == 0
    assert "mnist: ok" in capsys.readouterr().out


def _write_cifar(folder, n_per_batch, rng):
    import pickle

    import numpy as np

    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(n_per_batch)]}
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle)


def test_cifar10_reader_and_colour_models(tmp_path, monkeypatch):
    """CIFAR-10's pickle layout is read, checked and fed to a colour model (synthetic, small)."""
    import dataclasses

    import numpy as np

    from halfway_utils import models

    _write_cifar(tmp_path / "cifar-10-batches-py", 40, np.random.default_rng(0))
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    small = dataclasses.replace(data.DATASETS["cifar10"], sizes={"train": 200, "test": 40})
    monkeypatch.setitem(data.DATASETS, "cifar10", small)
    data._load_full.cache_clear()
    try:
        x, y = data.load("cifar10", "train", n=50, seed=0)
        assert x.shape == (50, 3, 32, 32) and torch.bincount(y).tolist() == [5] * 10
        logits = models.build("resnet", in_shape=(3, 32, 32), width=4).eval()(x)
        assert logits.shape == (50, 10)
        (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80truncated")
        data._load_full.cache_clear()
        with pytest.raises(DataError, match="missing or corrupt.*fetch cifar10"):
            data.load("cifar10", "test")
    finally:
        data._load_full.cache_clear()
