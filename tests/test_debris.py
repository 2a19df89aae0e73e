"""Nothing left behind: an interrupted site build, notebook run, training or write leaves no temp file or folder.

Each case starts a real child process, waits until the child says (on a file) that it is inside the
step, where it blocks until a signal arrives, interrupts it with Ctrl-C (SIGINT) or SIGTERM, and looks
for debris. A process killed outright (SIGKILL) cannot clean up: the next run sweeps what it left.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from halfway_utils.infra import paths, site, store

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def _debris(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*")
                  if p.name.endswith(store.TEMP_SUFFIX) or store.BUILDING in p.name or ".old-" in p.name)


def _child(code: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(paths.REPO_ROOT), **env})


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"child ended early: {proc.communicate()}"
        assert time.monotonic() < end, "child never reached the step"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_site_build_leaves_no_folder(tmp_path, sig):
    out = tmp_path / "out"
    proc = _child(f"""
        import signal
        from pathlib import Path
        from halfway_utils.infra import site
        def slow(root, tmp, figures):
            Path({str(tmp_path / 'ready')!r}).write_text(str(tmp))
            signal.pause()  # inside the build until the test's signal arrives
        site._write_notebooks = slow
        site.build(Path({str(out)!r}))
    """, tmp_path)
    _wait_for(tmp_path / "ready", proc)
    building = Path((tmp_path / "ready").read_text())
    assert building.is_dir() and store.BUILDING in building.name
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert _debris(tmp_path) == [] and not (out / "site").exists()


def test_a_killed_site_build_is_swept_by_the_next_build(tmp_path, monkeypatch):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a process id that no longer runs
    stale = out / f".site{store.BUILDING}{proc.pid}"
    (stale / "figures").mkdir(parents=True)
    alive = out / f".site{store.BUILDING}{os.getppid()}"  # a build of a running process is left alone
    alive.mkdir()

    def stop(root, tmp, figures):
        raise RuntimeError("stop after the sweep")

    monkeypatch.setattr(site, "_write_notebooks", stop)
    with pytest.raises(RuntimeError, match="after the sweep"):
        site.build(out)
    assert not stale.exists() and alive.exists()
    assert [p.name for p in out.iterdir()] == [alive.name]


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_atomic_write_leaves_no_temp_file(tmp_path, sig):
    target = tmp_path / "out" / "results" / "x.json"
    proc = _child(f"""
        import os, signal
        from pathlib import Path
        from halfway_utils.infra import store
        def slow(fd):
            Path({str(tmp_path / 'ready')!r}).write_text("in the write")
            signal.pause()  # inside the write until the test's signal arrives
        os.fsync = slow
        store.atomic_write(Path({str(target)!r}), b"x" * 1000000)
    """, tmp_path)
    _wait_for(tmp_path / "ready", proc)
    assert len(_debris(target.parent)) == 1  # the temp file exists while the write is under way
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and _debris(tmp_path) == [] and not target.exists()


def test_a_killed_writer_s_temp_file_is_swept_and_a_live_one_is_not(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = tmp_path / "results" / f".x.json.{proc.pid}.abcd.tmp"
    live = tmp_path / "cache" / "models" / f".y.pt.{os.getppid()}.efgh.tmp"
    mine = tmp_path / f".z.json.{os.getpid()}.ijkl.tmp"
    for p in (dead, live, mine):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("partial")
    assert store.sweep_temporaries(tmp_path) == [dead]
    assert live.exists() and mine.exists()
    assert store.sweep_temporaries(tmp_path, own=True) == [mine]  # at the end of a run its own are debris


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_notebook_run_leaves_no_temp_file(tmp_path, sig):
    """The runner stopped while a kernel is inside a write: the kernel goes, and so does its temp file."""
    folder, out = tmp_path / "nb", tmp_path / "out"
    folder.mkdir()
    body = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from halfway_utils.infra import paths
        results = paths.results_dir()
        (results / f".x.json.{{os.getpid()}}.abcd.tmp").write_text("partial")
        Path({str(tmp_path / 'ready')!r}).write_text("in the cell")
        signal.pause()  # inside the cell until the run is interrupted
    """)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("profile = 'quick'"),
                                         nbformat.v4.new_code_cell(body)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, folder / "01_x.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "halfway_utils.infra.runner", "--dir", str(folder),
                             "--no-preflight"], cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "HALFWAY_OUTPUT": str(out),
                                                         "HALFWAY_CACHE": str(tmp_path / "cache"),
                                                         "PYTHONPATH": str(paths.REPO_ROOT)})
    _wait_for(tmp_path / "ready", proc)
    assert len(_debris(out)) == 1
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert _debris(tmp_path) == [], "the interrupted run left temp files or folders"
