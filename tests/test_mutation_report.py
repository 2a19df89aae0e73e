"""scripts/mutation_report.py: the score per module and each survivor's changed line, from mutmut's results."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation_report.py"
spec = importlib.util.spec_from_file_location("mutation_report", SCRIPT)
mutation_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutation_report)

MUTATED = '''
def x_f__mutmut_orig(a, b):
    """Doc."""
    c = a + b
    return c * 2


def x_f__mutmut_1(a, b):
    """Doc."""
    c = a - b
    return c * 2


def x_f__mutmut_2(a, b):
    """Doc."""
    c = a + b
    return c * 3


def x_f__mutmut_3(a, b):
    """Doc."""
    c = a + b
    return float("NAN")
'''


def _mutants(tmp_path: Path) -> Path:
    root = tmp_path / "mutants"
    module = root / "pkg" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text(MUTATED)
    codes = {"pkg.mod.x_f__mutmut_1": 1, "pkg.mod.x_f__mutmut_2": 0, "pkg.mod.x_f__mutmut_3": 0,
             "pkg.mod.x_f__mutmut_4": None, "pkg.mod.x_f__mutmut_5": 36}
    (root / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    return root


def test_score_counts_and_changed_lines(tmp_path):
    text = mutation_report.report(_mutants(tmp_path), {})
    low, high = mutation_report.wilson(2, 4)
    assert f"| mod | 5 | 4 | 1 | 1 | 2 | 0 | 50.0% [{low:.1%}, {high:.1%}] |" in text.replace("pkg/", "")
    assert "- `x_f__mutmut_2`: `return c * 2` -> `return c * 3` — open" in text
    assert '- `x_f__mutmut_3`: `return c * 2` -> `return float("NAN")` — open' in text
    assert "x_f__mutmut_1`" not in text  # killed: not listed


def test_argued_survivors_count_by_name_and_by_pattern(tmp_path):
    argued = {"pkg.mod.x_f__mutmut_2": "doubling and tripling agree on the inputs the code sees",
              'pattern: float\\("NAN"\\)': "the same NaN"}
    text = mutation_report.report(_mutants(tmp_path), argued)
    assert "| 2 | 2 | 100.0% [" in text
    assert "— equivalent: doubling and tripling agree" in text and "— equivalent: the same NaN" in text


def test_the_committed_equivalents_parse():
    argued = mutation_report.equivalents()
    assert argued and all(name and reason for name, reason in argued.items())


def test_missing_results_name_the_fix(tmp_path, capsys):
    assert mutation_report.main(["--mutants", str(tmp_path / "none")]) == 2
    assert "run scripts/mutation.sh first" in capsys.readouterr().err


def test_wilson_interval_matches_its_formula_and_edges():
    low, high = mutation_report.wilson(9, 10)
    assert (round(low, 4), round(high, 4)) == (0.5958, 0.9821)  # the textbook values for 9 of 10
    assert mutation_report.wilson(0, 5)[0] == 0.0 and mutation_report.wilson(5, 5)[1] == 1.0


def test_sample_takes_a_seeded_fraction_of_each_module_s_unchecked(tmp_path):
    root = _mutants(tmp_path)
    assert mutation_report.sample(root, 1.0) == ["pkg.mod.x_f__mutmut_4"]  # the one unchecked
    codes = {f"pkg.mod.x_f__mutmut_{i}": None for i in range(40)}
    (root / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    picked = mutation_report.sample(root, 0.25, seed=1)
    assert len(picked) == 10 and set(picked) <= set(codes)
    assert picked == mutation_report.sample(root, 0.25, seed=1) != mutation_report.sample(root, 0.25, seed=2)


def test_a_survivor_killed_after_the_run_is_named_but_not_counted(tmp_path):
    argued = {"killed: pkg.mod.x_f__mutmut_2": "tests/test_x.py::test_y"}
    text = mutation_report.report(_mutants(tmp_path), argued)
    assert "- `x_f__mutmut_2`: `return c * 2` -> `return c * 3` — killed by `tests/test_x.py::test_y`" in text
    assert "| 2 | 0 | 50.0% [" in text  # still a survivor in the score
