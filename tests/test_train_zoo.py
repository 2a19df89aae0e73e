"""scripts/train_zoo.py: a profile's zoo planned, written, read back and trained into the cache the notebooks read."""
import importlib.util
import json
from pathlib import Path

import pytest

from halfway_utils import plan as planning
from halfway_utils import zoo
from halfway_utils.infra import runner

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_zoo.py"


def _module():
    spec = importlib.util.spec_from_file_location("train_zoo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_zoo = _module()


def test_the_full_profile_plan_is_the_runner_s():
    """The configs are the ones the runner's plan prints: 18 models on 50,000 samples, each once."""
    configs = train_zoo.profile_configs("full")
    plan = runner.plan_parameters(runner.notebooks([], runner.NOTEBOOKS), "full", {})
    expected = {c.key for values in plan.values() for c in planning.zoo_configs(values)}
    assert {c.key for c in configs} == expected
    assert len(configs) == len({c.key for c in configs}) == 18
    assert {c.n_train for c in configs} == {50_000}
    assert {(c.dataset, c.arch) for c in configs} == {(d, a) for d in ("mnist", "fashion_mnist")
                                                       for a in ("mlp", "cnn", "resnet")}


def test_configs_survive_the_json_round_trip(tmp_path):
    configs = [zoo.config("mnist", "mlp", 0), zoo.config("fashion_mnist", "resnet", 3, n_train=None, width=4)]
    path = tmp_path / "plan.json"
    train_zoo.save_configs(configs, path)
    assert train_zoo.load_configs(path) == configs
    assert [c.key for c in train_zoo.load_configs(path)] == [c.key for c in configs]


def test_trains_into_the_cache_then_loads(tmp_path, monkeypatch, capsys):
    """Rows in the configs' order, fitted as the training accuracy says, and a second call is all cache hits."""
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    configs = [zoo.config("mnist", arch, seed, n_train=60, n_test=60, epochs=1) for arch, seed in
               (("mlp", 0), ("cnn", 1), ("mlp", 2))]
    plan, summary = tmp_path / "plan.json", tmp_path / "summary.json"
    train_zoo.save_configs(configs, plan)
    assert train_zoo.main(["--configs", str(plan), "--summary", str(summary), "--device", "cpu"]) == 0
    first = json.loads(summary.read_text())
    assert [r["model"] for r in first["models"]] == [c.label for c in configs]
    assert [r["epochs"] for r in first["models"]] == [1, 1, 1]
    assert not any(r["cached"] for r in first["models"])
    assert all(r["fitted"] == (r["train_acc"] >= r["target_acc"]) for r in first["models"])
    assert first["fitted"] == sum(r["fitted"] for r in first["models"])
    assert first["machine"]["device"] == "cpu"
    assert "fitted in" in capsys.readouterr().out
    train_zoo.main(["--configs", str(plan), "--summary", str(summary), "--device", "cpu"])
    second = json.loads(summary.read_text())
    assert all(r["cached"] for r in second["models"])
    assert [r["train_acc"] for r in second["models"]] == [r["train_acc"] for r in first["models"]]


def test_bad_worker_counts_are_refused(capsys):
    with pytest.raises(SystemExit):
        train_zoo.main(["--workers", "0"])
    assert "--workers and --threads must be at least 1" in capsys.readouterr().err


def test_run_configs_lists_each_model_once_in_the_notebooks_order():
    small = {"datasets": ["mnist"], "archs": ["mlp", "cnn"], "seeds": [0, 1]}
    more = {**small, "archs": ["cnn", "resnet"]}
    configs = planning.run_configs([small, more, small])
    assert configs == planning.zoo_configs(small) + [c for c in planning.zoo_configs(more) if c.arch == "resnet"]
