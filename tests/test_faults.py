"""Faults: failing notebooks, bad parameters, interrupted and concurrent training, offline data."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from halfway_utils.infra import runner
from halfway_utils.infra import store as cache

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_failing_notebook_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_breaks.ipynb", "profile = 'quick'", "raise RuntimeError('boom on purpose')")
    _notebook(folder / "02_works.ipynb", "profile = 'quick'",
              f"open({str(tmp_path / 'ran.txt')!r}, 'w').write('yes')")
    status = runner.main(["--dir", str(folder), "--no-preflight"])
    out = capsys.readouterr()
    assert status == 1
    assert (tmp_path / "ran.txt").read_text() == "yes"
    summary = json.loads((tmp_path / "out" / "results" / "run_summary.json").read_text())
    assert [r["status"] for r in summary["notebooks"]] == ["FAILED", "ok"]
    assert "boom on purpose" in summary["notebooks"][0]["error"]
    log = Path(summary["notebooks"][0]["log"]).read_text()
    assert "boom on purpose" in log
    assert "01_breaks" in out.err and "failed" in out.err


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_rejects_bad_parameters_with_a_clear_message(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), parameters={"profile": "fast"},
                            cwd=str(notebook.parent), kernel_name="python3", progress_bar=False)
    assert "ParameterError" in str(err.value) and "profile: must be one of" in str(err.value)


TRAIN_SCRIPT = """
import sys
from halfway_utils.train import TrainConfig, train

n_train, epochs, pause_at = (int(v) for v in sys.argv[1:4])


def pause(epoch, history):
    # Tell the test where training is, then wait until it answers (or kills this process).
    if epoch == pause_at:
        print("EPOCH", epoch, flush=True)
        sys.stdin.readline()


config = TrainConfig(dataset="mnist", arch="mlp", arch_kw={"width": 64, "depth": 1},
                     n_train=n_train, n_test=200, epochs=epochs, lr=3e-3)
result = train(config, device="cpu", on_epoch=pause)
print("HIT" if result.cache_hit else "TRAINED", result.final["train_acc"], flush=True)
"""


def _train_process(cache_dir: Path, n_train: int, epochs: int, pause_at: int = -1) -> subprocess.Popen:
    """A child that trains one config; at epoch ``pause_at`` it says so and waits for a line on stdin."""
    env = dict(os.environ, HALFWAY_CACHE=str(cache_dir), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(n_train), str(epochs), str(pause_at)],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(proc: subprocess.Popen, epoch: int) -> None:
    """Block until the child reports that it is paused at ``epoch`` (it then trains no further)."""
    line = proc.stdout.readline()
    assert line.split() == ["EPOCH", str(epoch)], f"child said {line!r}; stderr: {proc.stderr.read()}"


def test_an_interrupted_training_leaves_no_entry_and_the_rerun_finishes(tmp_path):
    proc = _train_process(tmp_path, 300, 3, pause_at=1)
    _wait_for_epoch(proc, 1)  # mid-training, by the child's own word: no sleep decides
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "a killed run must leave no entry, no temp file"
    first = _train_process(tmp_path, 300, 3)
    assert "TRAINED" in first.communicate()[0]
    again = _train_process(tmp_path, 300, 3)
    assert "HIT" in again.communicate()[0]


def test_two_runs_at_once_do_not_corrupt_the_cache(tmp_path):
    procs = [_train_process(tmp_path, 300, 2, pause_at=2) for _ in range(2)]
    for proc in procs:  # a barrier: both have trained their last epoch, neither has saved
        _wait_for_epoch(proc, 2)
    assert not list(tmp_path.rglob("*.pt"))
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all("TRAINED" in out for out, _ in outputs), "both trained, both saved the same key"
    accs = {out.split()[-1] for out, _ in outputs}
    assert len(accs) == 1, "both runs train the same deterministic model"
    entries = [p for p in (tmp_path / "models").iterdir()]
    assert len(entries) == 1 and entries[0].suffix == ".pt", entries  # no temp file left behind
    payload = cache.load(entries[0])  # passes its checksum
    assert payload["config"]["n_train"] == 300


NO_NETWORK = (
    "import socket, runpy\n"
    "def refuse(*a, **k):\n"
    "    raise AssertionError('the network was touched')\n"
    "socket.create_connection = refuse\n"
    "socket.socket.connect = refuse\n"
    "runpy.run_module('halfway_utils.data', run_name='__main__')\n"
)


def test_offline_without_data_stops_at_once_with_the_fetch_command(tmp_path):
    env = dict(os.environ, HALFWAY_DATA=str(tmp_path), HALFWAY_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK, "check", "mnist", "cifar10"],
                          env=env, capture_output=True, text=True, timeout=600)  # a hang guard only
    assert proc.returncode == 1, proc.stderr
    assert "the network was touched" not in proc.stderr, "offline must not try to connect, so it cannot wait"
    assert "python -m halfway_utils.data fetch mnist" in proc.stderr
    assert "fetch cifar10" in proc.stderr


def test_runner_preflight_names_the_fetch_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HALFWAY_DATA", str(tmp_path))
    from halfway_utils import data
    monkeypatch.setattr(data, "_local_source", lambda name: None)
    assert runner.main(["00"]) == 2
    assert "python -m halfway_utils.data fetch mnist fashion_mnist" in capsys.readouterr().err
