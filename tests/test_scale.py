"""The full profile's machinery: the zoo's tables by size, the plan and its --yes guard, stage lines,
outputs per profile, and the report's quick-and-full comparison."""
import json
import re

import nbformat
import pandas as pd
import pytest
import torch

from halfway_utils import plan as planning
from halfway_utils import train, zoo
from halfway_utils.evidence import report
from halfway_utils.infra import paths, progress, runner


def test_full_sets_use_their_own_targets_caps_batches_and_seeds():
    quick, full = zoo.config("fashion_mnist", "resnet"), zoo.config("fashion_mnist", "resnet", n_train=None)
    assert (quick.target_acc, quick.epochs, quick.batch_size) == (zoo.TARGET_ACC, zoo.EPOCHS["resnet"], 64)
    assert (full.target_acc, full.epochs, full.batch_size) == (0.95, zoo.FULL_EPOCHS["resnet"], 128)
    assert zoo.config("mnist", "cnn", n_train=None).target_acc == 0.99
    assert zoo.config("mnist", "cnn", n_train=50000).target_acc == 0.99 and zoo.full_set(50000)
    assert not zoo.full_set(zoo.FULL_SET) and zoo.config("mnist", "mlp", target_acc=None).target_acc is None
    labels = [c.label for c in zoo.grid(["mnist"], ["mlp", "resnet"], [0, 1, 2], n_train=None)]
    # every arch trains every seed on a full set too: three models in every stratum (issue 21)
    assert labels == [f"{a}/mnist/seed{s}" for a in ("mlp", "resnet") for s in range(3)]
    assert len(zoo.grid(["mnist"], ["resnet"], [0, 1, 2])) == 3  # subsets keep every seed


def test_train_epoch_visits_every_sample_once_per_epoch():
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, 3))

        def forward(self, x):
            seen.append(x[:, 0].clone())
            return x[:, :1] * 0 + self.w

    x = torch.stack([torch.arange(10.0), torch.zeros(10)], 1)
    model = Spy()
    train.train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.1), x, torch.zeros(10, dtype=torch.long),
                      batch_size=4, generator=torch.Generator().manual_seed(0))
    assert [len(b) for b in seen] == [4, 4, 2] and sorted(torch.cat(seen).tolist()) == list(range(10))


def test_plan_counts_cached_models_and_uses_the_last_runs_epochs(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    configs = zoo.grid(["mnist"], ["mlp"], [0, 1], n_train=100, n_test=50)
    cached = train.store.entry_path("models", configs[0].key)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    last = tmp_path / "00.json"
    last.write_text(json.dumps({"results": {"models": [{"dataset": "mnist", "arch": "mlp", "seed": 1, "epochs": 7}]}}))
    monkeypatch.setattr(planning, "images_per_second", lambda config, device: 1000.0)
    planned = planning.plan(configs, results_file=last, device="cpu")
    assert [(p.cached, p.epochs, p.epochs_source) for p in planned] == [(True, 0, "cached"), (False, 7, "last run")]
    # 100 training images at 1000/s plus 150 evaluated at a third of the cost, for 7 epochs
    assert planned[1].seconds == pytest.approx(7 * (0.1 + 150 / 3000))
    text = planning.describe(planned, {"00_data_and_models": 120.0}, device="cpu")
    assert "mlp/mnist/seed0" in text and "cached" in text and "2 zoo models, 1 to train" in text
    assert "last run of these notebooks with this profile: 2 min" in text
    assert planning.last_epochs(tmp_path / "missing.json") == {}
    without = planning.plan(configs[1:], results_file=None, device="cpu")
    assert without[0].epochs == configs[1].epochs and without[0].epochs_source == "cap"


def test_images_per_second_is_measured_on_the_real_model(one_thread):
    assert planning.images_per_second(zoo.config("mnist", "cnn", batch_size=8), torch.device("cpu"), steps=1) > 0


def test_stage_lines_go_to_the_progress_file_and_only_complete_lines_are_read(tmp_path, monkeypatch):
    target = tmp_path / "nb.progress"
    monkeypatch.setenv(progress.ENV, str(target))
    progress.stage("training cnn")
    progress.stage("scans")
    lines, offset = progress.read_new(target, 0)
    assert [line.split("] ", 1)[1] for line in lines] == ["training cnn", "scans"]
    assert all(re.match(r"\[\d+:\d\d\] ", line) for line in lines)  # [minutes:seconds] since the kernel started
    with open(target, "a") as handle:
        handle.write("[0:01] half a li")
    assert progress.read_new(target, offset) == ([], offset)
    assert progress.read_new(tmp_path / "none", 5) == ([], 5)


def test_stage_echo_prints_what_a_kernel_appends(tmp_path, capsys):
    target = tmp_path / "x.progress"
    with runner.StageEcho(target, "05_x", None, interval=0.01) as echo:
        target.write_text("[0:00] one\n[0:02] two\n")
    assert echo.lines == ["[0:00] one", "[0:02] two"]
    assert "[run_all]   05_x [0:02] two" in capsys.readouterr().out


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_full_run_writes_under_runs_and_records_machine_and_times(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_a.ipynb", "profile = 'quick'",
              "from halfway_utils.infra.progress import stage\nstage('half way')")
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setattr(runner, "print_plan", lambda plan, profile, last: print(f"PLAN {profile}"))
    assert runner.main(["--dir", str(folder), "--no-preflight", "--profile", "full"]) == 0
    out = capsys.readouterr().out
    assert "PLAN full" in out and "[run_all]   01_a [0:" in out and "half way" in out
    summary = json.loads((tmp_path / "out" / "runs" / "full" / "results" / "run_summary.json").read_text())
    assert summary["profile"] == "full" and summary["notebooks"][0]["status"] == "ok"
    assert {"cores", "device", "torch"} <= set(summary["machine"]) and summary["seconds"] >= 0
    assert "[stage]" in (tmp_path / "out" / "runs" / "full" / "results" / "logs" / "01_a.log").read_text()
    assert not (tmp_path / "out" / "results").exists()  # the quick outputs are untouched
    assert paths.output_root() == tmp_path / "out"  # restored after the run
    # the next run of the profile shows the last run's time per notebook
    assert runner.main(["--dir", str(folder), "--no-preflight", "--profile", "full"]) == 0
    assert "01_a (full; last run" in capsys.readouterr().out


def test_the_paper_profile_stops_after_the_plan_on_a_cpu_without_yes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_a.ipynb", "profile = 'quick'", "raise SystemExit('must not run')")
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setattr(runner, "print_plan", lambda plan, profile, last: print(f"PLAN {profile}"))
    monkeypatch.setattr("halfway_utils.infra.device.pick_device", lambda device=None: torch.device("cpu"))
    assert runner.main(["--dir", str(folder), "--no-preflight", "--profile", "paper"]) == 2
    captured = capsys.readouterr()
    assert "PLAN paper" in captured.out and "--yes" in captured.err
    assert not (tmp_path / "out" / "runs" / "paper" / "results" / "run_summary.json").exists()
    assert runner.main(["--dir", str(folder), "--no-preflight", "--profile", "paper", "--plan-only"]) == 0
    assert runner.main(["--dir", str(folder), "--no-preflight", "--profile", "paper", "--yes"]) == 1  # it ran


def test_print_plan_lists_the_zoo_of_the_selected_notebooks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(planning, "images_per_second", lambda config, device: 5000.0)
    values = {"profile": "full", "datasets": ["mnist"], "archs": ["cnn", "resnet"], "seeds": [0, 1, 2],
              "n_train": None, "n_test": None}
    runner.print_plan({tmp_path / "00.ipynb": values, tmp_path / "01.ipynb": values}, "full", {})
    out = capsys.readouterr().out
    assert out.count("cnn/mnist/seed") == 3 and out.count("resnet/mnist/seed") == 3
    assert "n_train=60000" in out and "6 zoo models, 6 to train" in out


def _ledger(root, profile, verdicts, n_train, primary="m"):
    for claim_id, verdict in verdicts.items():
        entry = {"id": claim_id, "verdict": verdict, "strata": [{"stratum": "mnist/mlp", "verdict": verdict}]}
        folder = root / ("results" if profile == "quick" else f"runs/{profile}/results") / "claims"
        folder.mkdir(parents=True, exist_ok=True)
        claim = {"id": claim_id, "paper": "halfway", "statement": "s", "measurements": {"m": {"value": 1.0}},
                 "rule": "r", "verdict": verdict, "figures": [], "notebook": "01_halfway_boundaries",
                 "parameters": {"n_train": n_train, "seeds": [0, 1, 2]}, "profile": profile, "primary": primary,
                 "strata": entry["strata"], "replicates": 3}
        (folder / f"{claim_id}.json").write_text(json.dumps(claim))


def test_the_report_puts_quick_and_full_side_by_side_and_names_what_changed(tmp_path):
    _ledger(tmp_path, "quick", {"H1": "supported", "H2": "not supported"}, 1000)
    _ledger(tmp_path, "full", {"H1": "inconclusive", "H2": "not supported"}, None)
    tables = report.profile_tables(tmp_path)
    assert list(tables) == ["quick", "full"]
    assert report.scale_changes(tables) == ["H1: supported (quick) -> inconclusive (full)",
                                            "H1 mnist/mlp: supported (quick) -> inconclusive (full)"]
    md = report.side_by_side_markdown(tables)
    assert "| quick: verdict (by stratum) | quick: models, sizes | full: verdict (by stratum)" in md
    h1 = next(line for line in md.splitlines() if line.startswith("| H1"))
    assert "n_train=1000" in h1 and "n_train=full" in h1 and "**inconclusive**" in h1
    assert "**missing**" in next(line for line in md.splitlines() if line.startswith("| C2"))
    assert "Verdicts that change with the scale: H1" in "\n".join(report.scale_section(tables))
    alone = "\n".join(report.scale_section({"quick": tables["quick"]}))  # a clone without the full record says so
    assert "No larger profile's ledger" in alone and "--profile full" in alone
    assert report.scale_section({"full": tables["full"]}) == []
    assert list(report.profile_tables(tmp_path / "nothing")) == ["quick"]


def test_the_overview_draws_both_profiles(tmp_path):
    _ledger(tmp_path, "quick", {"H1": "supported"}, 1000)
    _ledger(tmp_path, "full", {"H1": "not supported"}, None)
    tables = report.profile_tables(tmp_path)
    rows = pd.concat([report.overview_rows(t, p) for p, t in tables.items()])
    assert set(rows.loc[rows["id"] == "H1", "profile"]) == {"quick", "full"}
    fig = report.overview_figure(tables)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "quick" in labels and "full" in labels
    assert report.sizes({"n_train": None, "n_pairs": 5, "seeds": [0, 1, 2]}) == "n_train=full, n_pairs=5, seeds 0-2"


def test_compare_shows_a_notebooks_claims_in_each_profile_with_their_changes(tmp_path):
    _ledger(tmp_path, "quick", {"H1": "supported", "S1": "supported"}, 1000)
    _ledger(tmp_path, "full", {"H1": "supported", "S1": "not supported"}, None)
    frame = report.compare(["S1"], tmp_path)
    assert list(frame["profile"]) == ["quick", "full"] and list(frame["verdict"]) == ["supported", "not supported"]
    assert frame.attrs["changes"] == ["S1: supported (quick) -> not supported (full)",
                                      "S1 mnist/mlp: supported (quick) -> not supported (full)"]
    assert report.compare(["H1"], tmp_path).attrs["changes"] == []


def test_a_paper_report_with_only_its_own_ledger_has_no_scale_changes(tmp_path):
    _ledger(tmp_path, "full", {"H1": "supported"}, None)
    tables = {"paper": report.profile_tables(tmp_path)["full"]}
    assert report.scale_changes(tables) == [] and report.scale_section(tables) == []


def test_a_larger_profile_decided_on_another_primary_is_not_compared_verdict_by_verdict(tmp_path):
    _ledger(tmp_path, "quick", {"H1": "weaker than claimed", "H2": "supported"}, 1000, primary="new")
    _ledger(tmp_path, "full", {"H1": "not supported"}, None, primary="old")
    _ledger(tmp_path, "full", {"H2": "inconclusive"}, None, primary="new")
    tables = report.profile_tables(tmp_path)
    changes = report.scale_changes(tables)
    assert changes[0].startswith("H1: not compared, full measured another primary (old, an older rule)")
    assert "H2: supported (quick) -> inconclusive (full)" in changes and not any("H1 mnist" in c for c in changes)
    h1 = next(line for line in report.side_by_side_markdown(tables).splitlines() if line.startswith("| H1"))
    assert "**not supported** *(older rule: old)*" in h1
