"""Training with a cache: learning, cache hits, corruption, atomicity, determinism."""
import os

import pytest
import torch

from halfway_utils import train as train_module
from halfway_utils.infra import store as cache
from halfway_utils.train import TrainConfig, train, training_labels

TINY = dict(dataset="mnist", arch="mlp", arch_kw={"width": 64, "depth": 1}, n_train=300,
            n_test=200, epochs=4, batch_size=64, lr=3e-3)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path))
    return tmp_path


def test_trains_and_learns(tmp_cache):
    result = train(TrainConfig(**TINY), device="cpu")
    assert not result.cache_hit
    assert result.final["train_acc"] > 0.7 and result.final["test_acc"] > 0.5
    assert result.history["epoch"] == [0, 1, 2, 3, 4]
    assert not result.model.training


def test_a_cache_hit_trains_nothing_and_is_identical(tmp_cache, monkeypatch):
    fits = []
    real_fit = train_module._fit
    monkeypatch.setattr(train_module, "_fit", lambda *a, **kw: fits.append(a[0]) or real_fit(*a, **kw))
    first = train(TrainConfig(**TINY), device="cpu")
    second = train(TrainConfig(**TINY), device="cpu")
    assert len(fits) == 1, "the second call must load the entry, not train"
    assert second.cache_hit and not first.cache_hit
    assert second.history == first.history
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_same_config_and_seed_give_same_weights_without_cache(tmp_cache):
    a = train(TrainConfig(**TINY), device="cpu", use_cache=False)
    b = train(TrainConfig(**TINY), device="cpu", use_cache=False)
    c = train(TrainConfig(**TINY, seed=1), device="cpu", use_cache=False)
    assert a.history == b.history
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not torch.equal(a.model.state_dict()["stages.logits.weight"], c.model.state_dict()["stages.logits.weight"])
    assert not list(tmp_cache.rglob("*.pt"))


def test_corrupt_entry_is_detected_and_rebuilt(tmp_cache, caplog):
    config = TrainConfig(**TINY)
    train(config, device="cpu")
    path = cache.entry_path("models", config.key)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(cache.CorruptCacheEntry):
        cache.load(path)
    result = train(config, device="cpu")
    assert not result.cache_hit and "rebuilding" in caplog.text
    assert cache.load(path)["config"] == config.as_dict()


def test_writes_are_atomic_no_temp_files_left(tmp_cache, monkeypatch):
    target = tmp_cache / "x" / "entry.pt"
    cache.save({"a": 1}, target)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        cache.save({"a": 2}, target)
    assert cache.load(target) == {"a": 1}  # the old entry survives a failed write
    assert [p.name for p in target.parent.iterdir()] == ["entry.pt"]


def test_checkpoints_are_stored_and_loadable(tmp_cache):
    result = train(TrainConfig(**TINY), checkpoints=[0, 2], device="cpu")
    assert sorted(result.checkpoints) == [0, 2]
    early = result.model_at(0)
    x = torch.rand(5, 1, 28, 28)
    assert not torch.allclose(early(x), result.model(x))
    with pytest.raises(ValueError, match="outside"):
        train(TrainConfig(**TINY), checkpoints=[9])


def test_random_and_noisy_labels():
    y = torch.arange(1000) % 10
    rand = training_labels(TrainConfig(**TINY, labels="random"), y)
    noisy = training_labels(TrainConfig(**TINY, labels="noisy", noise=0.3), y)
    assert 0.05 < (rand == y).float().mean() < 0.16
    changed = (noisy != y).float().mean()
    assert 0.2 < changed < 0.35


@pytest.mark.parametrize("bad, message", [
    (dict(dataset="svhn"), "unknown dataset"),
    (dict(arch="vit"), "unknown arch"),
    (dict(labels="shuffled"), "labels must be one of"),
    (dict(epochs=2.5), "epochs must be an int"),
    (dict(lr=-1.0), "lr must be > 0"),
])
def test_config_validation(bad, message):
    with pytest.raises(Exception, match=message):
        TrainConfig(**{**TINY, **bad})


def test_train_rejects_non_config():
    with pytest.raises(TypeError, match="TrainConfig"):
        train({"dataset": "mnist"})


def test_each_seed_gets_its_own_random_labeling_and_the_same_seed_the_same():
    y = torch.arange(1000) % 10
    a, b = (training_labels(TrainConfig(**TINY, labels="random", seed=s), y) for s in (0, 1))
    assert torch.equal(a, training_labels(TrainConfig(**TINY, labels="random", seed=0), y))
    assert (a != b).float().mean() > 0.8  # independent labelings agree on about 1 in 10
    other_subset = training_labels(TrainConfig(**TINY, labels="random", seed=0, data_seed=1), y)
    assert not torch.equal(a, other_subset)


def test_training_stops_at_the_target_accuracy_and_says_whether_it_fitted(tmp_cache):
    seen = []
    result = train(TrainConfig(**{**TINY, "epochs": 30}, target_acc=0.9), device="cpu",
                   on_epoch=lambda epoch, history: seen.append(history["train_acc"][-1]))
    stop = result.history["epoch"][-1]
    assert stop < 30 and result.fitted and result.final["train_acc"] >= 0.9
    assert all(acc < 0.9 for acc in seen[:-1]) and seen[-1] >= 0.9  # the first epoch at the target
    capped = train(TrainConfig(**{**TINY, "epochs": 1}, target_acc=1.0), device="cpu")
    assert capped.history["epoch"][-1] == 1 and not capped.fitted


def test_zoo_fitted_names_and_excludes_the_misfits(tmp_cache):
    from halfway_utils import zoo

    good = train(TrainConfig(**{**TINY, "epochs": 30}, target_acc=0.9), device="cpu")
    bad = train(TrainConfig(**{**TINY, "epochs": 1}, target_acc=1.0), device="cpu")
    kept, misfits = zoo.fitted([good, bad])
    assert kept == [good] and misfits == [bad]
    note = zoo.misfit_note(misfits)
    assert note.startswith("Excluded, not fitted: mlp/mnist/seed0 (train acc") and "< 1)" in note
    assert zoo.misfit_note([]) == ""
    with pytest.raises(ValueError, match="target_acc"):
        TrainConfig(**TINY, target_acc=1.5)
