"""Benchmark the zoo's training epoch against a plain PyTorch DataLoader loop, side by side.

For each architecture the same model (the zoo's config on the full MNIST training set) is
trained for one epoch two ways, one after the other in one process, same threads:

* plain: the tutorial loop. ``torchvision.datasets.MNIST(transform=ToTensor())``, a
  ``DataLoader(batch_size, shuffle=True)``, the model in its default memory layout, then a
  test-set pass through a DataLoader (what the PyTorch MNIST example does each epoch).
* zoo: what ``halfway_utils.train`` does. The whole set is one tensor, batches are index
  slices (``train.train_epoch``), conv nets are channels_last (``models.fast_layout``), and
  the per-epoch evaluation (train and test sets, ``train.evaluate``) runs in batches of
  ``models.EVAL_BATCH``.

Both use the zoo's batch size and Adam. Reported per arch: images per second of the training
pass, seconds of the whole epoch (training pass + evaluation; the zoo evaluates the 60,000
training images too, the plain loop only the test set) and the ratios plain/zoo.
torch.compile was measured while building this and left out of the zoo: on this 2-core CPU
it was slower for the CNN and gained ~25% for the ResNet at a 30 s compile per model.

    python benchmarks/bench_train.py            # writes benchmarks/results/bench_train.json
    python benchmarks/bench_train.py --n 10000  # a shorter epoch
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine  # noqa: E402

from halfway_utils import data, models, train, zoo  # noqa: E402
from halfway_utils.infra.paths import data_root  # noqa: E402


def plain_epoch(config: train.TrainConfig, n: int, seed: int = 0) -> tuple[float, float]:
    """(training-pass seconds, epoch seconds) of the tutorial DataLoader loop."""
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    to_tensor = transforms.ToTensor()
    train_set = datasets.MNIST(str(data_root()), train=True, transform=to_tensor, download=False)
    test_set = datasets.MNIST(str(data_root()), train=False, transform=to_tensor, download=False)
    train_set = torch.utils.data.Subset(train_set, range(n))
    loader = torch.utils.data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    model = train.build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = time.perf_counter()
    model.train()
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test_loader)
    assert 0 <= correct <= len(test_set)
    return trained, time.perf_counter() - start


def zoo_epoch(config: train.TrainConfig, n: int, seed: int = 0) -> tuple[float, float]:
    """(training-pass seconds, epoch seconds) of the zoo's epoch, evaluation of both sets included."""
    torch.manual_seed(seed)
    x, y = data.load("mnist", "train", n=None, seed=0)
    x_test, y_test = data.load("mnist", "test", n=None, seed=0)
    start = time.perf_counter()  # the zoo's layout change is part of its cost
    model = models.fast_layout(train.build_model(config))
    x, x_test = models.fast_inputs(model, x[:n]), models.fast_inputs(model, x_test)
    y = y[:n]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    train.train_epoch(model, optimizer, x, y, config.batch_size, torch.Generator().manual_seed(seed))
    trained = time.perf_counter() - start
    train.evaluate(model, x, y)
    train.evaluate(model, x_test, y_test)
    return trained, time.perf_counter() - start


def main() -> None:
    """Measure every arch both ways and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60000, help="training images per epoch")
    parser.add_argument("--archs", default="mlp,cnn,resnet")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_train.json")
    args = parser.parse_args()
    if not data.available("mnist"):
        sys.exit("MNIST missing: python -m halfway_utils.data fetch mnist")
    rows = []
    for arch in args.archs.split(","):
        config = zoo.config("mnist", arch, n_train=None, n_test=None)
        plain_train, plain_total = plain_epoch(config, args.n)
        zoo_train, zoo_total = zoo_epoch(config, args.n)
        row = {"arch": arch, "batch_size": config.batch_size, "n": args.n,
               "plain_images_per_s": round(args.n / plain_train), "zoo_images_per_s": round(args.n / zoo_train),
               "plain_epoch_s": round(plain_total, 2), "zoo_epoch_s": round(zoo_total, 2),
               "train_pass_ratio": round(plain_train / zoo_train, 2),
               "epoch_ratio": round(plain_total / zoo_total, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
