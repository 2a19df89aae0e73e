"""The one atomic writer behind the cache and the results, and the JSON it writes."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from halfway_utils.infra import store


def test_atomic_write_puts_bytes_and_text_in_place(tmp_path):
    store.atomic_write(tmp_path / "a" / "b.bin", b"\x00\x01")
    store.atomic_write(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["b.bin", "t.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("old")

    def crash(src, dst):
        raise OSError("disk full on purpose")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="on purpose"):
        store.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_the_writer_syncs_before_it_renames(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append("replace") or real_replace(a, b))
    store.write_json({"a": 1}, tmp_path / "x.json")
    store.save({"b": 2}, tmp_path / "y.pt")
    assert calls == ["fsync", "replace", "fsync", "replace"]


def test_write_json_converts_arrays_tensors_and_non_finite_numbers(tmp_path):
    path = store.write_json({"arr": np.arange(3), "t": torch.tensor([1.5]), "nan": float("nan"),
                             "inf": float("-inf"), "p": Path("/x"), "n": np.int64(4)}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"arr": [0, 1, 2], "inf": "-inf", "n": 4, "nan": None,
                                            "p": "/x", "t": [1.5]}


def test_cache_entries_round_trip_and_detect_corruption(tmp_path):
    path = tmp_path / "models" / "k.pt"
    store.save({"w": torch.arange(4)}, path)
    assert torch.equal(store.load(path)["w"], torch.arange(4))
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(store.CorruptCacheEntry, match="checksum"):
        store.load(path)
    path.write_bytes(b"not an entry")
    with pytest.raises(store.CorruptCacheEntry, match="bad header"):
        store.load(path)


def test_load_or_build_builds_once_then_hits_and_rebuilds_a_corrupt_entry(tmp_path):
    path, built = tmp_path / "e.pt", []
    build = lambda: built.append(1) or {"v": len(built)}
    assert store.load_or_build(path, build) == ({"v": 1}, False)
    assert store.load_or_build(path, build) == ({"v": 1}, True)
    path.write_bytes(path.read_bytes()[:20])
    assert store.load_or_build(path, build) == ({"v": 2}, False)
    assert len(built) == 2


def test_the_code_state_ignores_what_runs_write_and_sees_any_other_edit(tmp_path, monkeypatch):
    """A record run writes results/, figures/, runs/ and the README: that must not mark its own tree edited."""
    import subprocess

    from halfway_utils.infra import store

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("readme\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"png")
    git("add", ".")
    git("commit", "-qm", "c")
    monkeypatch.setattr(store, "REPO_ROOT", tmp_path)
    assert store.code_state()["git_dirty"] is False
    (tmp_path / "results" / "claims").mkdir(parents=True)
    (tmp_path / "results" / "claims" / "H1.json").write_text("{}")
    (tmp_path / "runs" / "full" / "results").mkdir(parents=True)
    (tmp_path / "runs" / "full" / "results" / "x.json").write_text("{}")
    (tmp_path / "figures" / "a.png").write_bytes(b"new png")
    (tmp_path / "README.md").write_text("new table\n")
    assert store.code_state() == {**store.code_state(), "git_dirty": False, "git_diff_sha256": None}
    (tmp_path / "code.py").write_text("x = 2\n")
    edited = store.code_state()
    assert edited["git_dirty"] is True and len(edited["git_diff_sha256"]) == 16
    (tmp_path / "new_module.py").write_text("y = 1\n")
    assert store.code_state()["git_diff_sha256"] != edited["git_diff_sha256"]  # an untracked file counts too
