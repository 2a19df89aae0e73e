"""The runner's command line: notebooks by prefix, -p overrides checked before anything runs."""
import nbformat
import pytest

from halfway_utils.infra import runner


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


CHECK = ("from halfway_utils.infra import params as p\n"
         "P = p.validate(locals(), {'profile': p.profile(), 'n': p.integer(1, 10), 'names': p.list_of(p.integer(0))})")


def test_overrides_are_read_as_yaml():
    assert runner.parse_overrides(["seeds=[3, 4]", "n_pairs=100", "device=null", "name=mnist"]) == {
        "seeds": [3, 4], "n_pairs": 100, "device": None, "name": "mnist"}
    for bad in ("seeds", "=3", "a b=1", "x=[1,"):
        with pytest.raises(runner.UsageError):
            runner.parse_overrides([bad])


def test_overrides_go_to_the_notebooks_that_have_them_and_are_validated(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "profile = 'quick'\nn = 3\nnames = [0]", CHECK)
    b = _notebook(tmp_path / "02_b.ipynb", "profile = 'quick'\nother = 1", "pass")
    plan = runner.plan_parameters([a, b], "quick", {"n": 5, "names": [1, 2]})
    assert plan[a] == {"profile": "quick", "n": 5, "names": [1, 2]} and plan[b] == {"profile": "quick"}
    with pytest.raises(runner.UsageError, match=r"unknown parameter\(s\) \['m'\].*valid names: n, names, other"):
        runner.plan_parameters([a, b], "quick", {"m": 1})
    with pytest.raises(runner.UsageError, match="n: must be in"):
        runner.plan_parameters([a], "quick", {"n": 50})


def test_a_bad_override_stops_the_run_with_exit_2_and_one_message(tmp_path, capsys):
    _notebook(tmp_path / "01_a.ipynb", "profile = 'quick'\nn = 3\nnames = [0]", CHECK, "raise SystemExit('ran')")
    assert runner.main(["--dir", str(tmp_path), "--no-preflight", "-p", "n=abc"]) == 2
    assert "n: must be an integer" in capsys.readouterr().err
    assert runner.main(["--dir", str(tmp_path), "--no-preflight", "07"]) == 2
    assert "no notebook matches '07'" in capsys.readouterr().err
