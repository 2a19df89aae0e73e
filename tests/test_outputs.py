"""Where a run writes: the profile's record only with the profile's own parameters, else a folder of its own."""
import json
import subprocess

import nbformat
import pytest
import yaml

from halfway_utils.infra import outputs, paths, runner

NOTEBOOKS = sorted(p for p in (paths.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _notebook(folder, stem, params, body):
    """A py:percent script and its .ipynb twin: a parameters cell, then ``body`` (which routes and writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = '# %% tags=["parameters"]\n' + params + "\n\n# %%\n" + body + "\n"
    (folder / f"{stem}.py").write_text(script)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(params), nbformat.v4.new_code_cell(body)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, folder / f"{stem}.ipynb")
    return folder / f"{stem}.ipynb"


BODY = """\
from pathlib import Path
from halfway_utils.infra import outputs, store
P = {"profile": profile, "seeds": seeds, "n": n}
root = outputs.route("01_x", P, Path.cwd())
store.save_results("01_x", {"sum": sum(seeds) * n}, P)
"""


def test_every_notebook_routes_its_outputs_by_the_parameters_it_received():
    for script in NOTEBOOKS:
        assert f'outputs.route("{script.stem}", P' in script.read_text(), f"{script.name} does not route its outputs"


@pytest.mark.parametrize("profile", ["full", "paper"])
def test_every_profile_yaml_names_its_profile_and_matches_it(profile):
    for path in sorted((paths.REPO_ROOT / "notebooks" / "params" / profile).glob("*.yaml")):
        values = yaml.safe_load(path.read_text())
        assert values.get("profile") == profile, f"{path}: add 'profile: {profile}'"
        assert outputs.differences(path.stem, outputs.profile_values(path.stem, profile)) == {}


def test_the_profile_s_own_values_differ_in_nothing_and_any_change_is_named():
    quick = outputs.profile_values("03_transfer", "quick")
    assert outputs.differences("03_transfer", quick) == {}
    assert outputs.differences("03_transfer", {**quick, "torch_threads": 2}) == {}  # how to run, not what
    changed = outputs.differences("03_transfer", {**quick, "seeds": [0], "n_inputs": 7})
    assert changed == {"seeds": {"profile": [0, 1, 2, 3, 4], "run": [0]}, "n_inputs": {"profile": 100, "run": 7}}
    full = outputs.profile_values("03_transfer", "full")
    assert full["n_inputs"] == 1000 and outputs.differences("03_transfer", full) == {}
    # the full YAML's values under the quick label are not the quick record
    assert "n_inputs" in outputs.differences("03_transfer", {**full, "profile": "quick"})


def test_variant_folders_are_named_by_what_differs(tmp_path):
    a = {"seeds": {"profile": [0, 1], "run": [0]}}
    b = {"seeds": {"profile": [0, 1], "run": [1]}}
    assert outputs.run_root("quick", {}, tmp_path) == tmp_path
    assert outputs.run_root("full", {}, tmp_path) == tmp_path / "runs" / "full"
    ra, rb = outputs.run_root("quick", a, tmp_path), outputs.run_root("quick", b, tmp_path)
    assert ra.parent == tmp_path / "runs" and ra.name.startswith("quick+") and ra != rb
    assert ra == outputs.run_root("quick", dict(a), tmp_path)  # stable


def test_a_run_with_overrides_writes_its_own_folder_and_says_what_differs(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "nb"
    _notebook(folder, "01_x", "profile = 'quick'\nseeds = [0, 1, 2]\nn = 2", BODY)
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    assert runner.main(["--dir", str(folder), "--no-preflight", "--no-site", "-p", "seeds=[0]"]) == 0
    out = tmp_path / "out"
    assert not (out / "results").exists(), "a run with -p wrote into the quick record"
    (variant,) = (out / "runs").iterdir()
    assert variant.name.startswith("quick+")
    record = json.loads((variant / "results" / "variant.json").read_text())
    assert record["differs"] == {"seeds": {"profile": [0, 1, 2], "run": [0]}}
    assert json.loads((variant / "results" / "01_x.json").read_text())["results"] == {"sum": 0}
    assert "seeds=[0] (profile: [0, 1, 2])" in capsys.readouterr().out
    # the same values as the profile's go to the record, and the variant folder is left as it was
    assert runner.main(["--dir", str(folder), "--no-preflight", "--no-site", "-p", "seeds=[0, 1, 2]"]) == 0
    assert json.loads((out / "results" / "01_x.json").read_text())["results"] == {"sum": 6}
    assert not (out / "results" / "variant.json").exists()


def test_papermill_by_hand_routes_by_the_parameters_the_notebook_received(tmp_path):
    import papermill as pm

    folder = tmp_path / "nb"
    nb = _notebook(folder, "01_x", "profile = 'quick'\nseeds = [0, 1, 2]\nn = 2", BODY)
    (folder / "params" / "full").mkdir(parents=True)
    (folder / "params" / "full" / "01_x.yaml").write_text("profile: full\nn: 5\n")
    out = tmp_path / "out"
    env = {"HALFWAY_OUTPUT": str(out)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv(outputs.RUN_ROOT, raising=False)
        # the full YAML, as a user passes it with -f: the full record
        pm.execute_notebook(str(nb), str(tmp_path / "a.ipynb"), cwd=str(folder), kernel_name="python3",
                            parameters=yaml.safe_load((folder / "params/full/01_x.yaml").read_text()),
                            progress_bar=False)
        assert json.loads((out / "runs/full/results/01_x.json").read_text())["results"] == {"sum": 15}
        assert not (out / "results").exists()
        # the same YAML with one value changed: a folder of its own
        pm.execute_notebook(str(nb), str(tmp_path / "b.ipynb"), cwd=str(folder), kernel_name="python3",
                            parameters={"profile": "full", "n": 5, "seeds": [1]}, progress_bar=False)
    (variant,) = [p for p in (out / "runs").iterdir() if p.name.startswith("full+")]
    assert json.loads((variant / "results" / "01_x.json").read_text())["results"] == {"sum": 5}
    assert json.loads((variant / "results" / "variant.json").read_text())["notebooks"] == {"01_x": ["seeds"]}


def test_an_uncommitted_edit_of_a_profile_s_values_is_a_variant(tmp_path):
    """Inside the repository the declared values are the committed ones: an edited YAML is not the profile."""
    path = paths.REPO_ROOT / "notebooks" / "params" / "full" / "03_transfer.yaml"
    committed = outputs.committed_text(path)
    if committed is None or subprocess.run(["git", "-C", str(paths.REPO_ROOT), "ls-files", "--error-unmatch",
                                            str(path)], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    edited = {**yaml.safe_load(path.read_text()), "n_inputs": 17}
    assert outputs.differences("03_transfer", edited) == {"n_inputs": {"profile": 1000, "run": 17}}


def test_the_report_and_ledger_of_a_variant_say_so_and_leave_the_readme_alone(tmp_path, monkeypatch):
    from halfway_utils.evidence import claims, report
    from halfway_utils.evidence.stats import Estimate

    root = tmp_path / "runs" / "quick+abcd0123"
    monkeypatch.setenv("HALFWAY_OUTPUT", str(root))
    outputs.write_variant(root, "quick", {"seeds": {"profile": [0, 1, 2], "run": [0]}}, "01_x")
    rule = claims.Rule("p", ">", 0.5, "a null")
    est = Estimate(0.7, 0.6, 0.8, 3, "t")
    entry = claims.record_rule("H1", rule, statement="s", pooled=est, strata={"a/b": est}, replicates=3,
                               figures=[], notebook="01_x", parameters={"profile": "quick"})
    assert entry.variant["differs"]["seeds"]["run"] == [0]
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{report.START}\nold\n{report.END}\n")
    table = report.claims_table()
    assert report.update_readme(table, readme=readme) is False and "old" in readme.read_text()
    text = report.full_markdown(table)
    assert "Not the project's record" in text and "seeds=[0] (profile: [0, 1, 2])" in text
