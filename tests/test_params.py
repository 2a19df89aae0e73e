"""Notebook parameter validation gives one clear message listing every problem."""
import pytest

from halfway_utils.infra import params as p

SPEC = {"dataset": p.one_of("mnist", "fashion_mnist"), "n": p.integer(1, 100),
        "eps": p.list_of(p.number(0, 1)), "flag": p.boolean()}


def test_valid_values_pass():
    values = {"dataset": "mnist", "n": 5, "eps": [0.1, 0.2], "flag": True, "other": 1}
    assert p.validate(values, SPEC) == {"dataset": "mnist", "n": 5, "eps": [0.1, 0.2], "flag": True}


def test_every_problem_is_listed():
    with pytest.raises(p.ParameterError) as err:
        p.validate({"dataset": "svhn", "n": "5", "eps": [0.1, 2], "flag": 1}, SPEC)
    text = str(err.value)
    for fragment in ("dataset: must be one of", "n: must be an integer", "item 1 must be in", "flag"):
        assert fragment in text


def test_missing_and_bool_as_int():
    with pytest.raises(p.ParameterError, match="n: must be an integer"):
        p.validate({"dataset": "mnist", "n": True, "eps": [0.1], "flag": False}, SPEC)
    with pytest.raises(p.ParameterError, match="flag: missing"):
        p.validate({"dataset": "mnist", "n": 1, "eps": [0.1]}, SPEC)


def test_shared_rules_come_first_and_an_experiment_adds_its_own():
    from halfway_utils.experiments import common

    spec = common.rules("datasets", "seeds", n_pairs=p.integer(10, 100))
    assert list(spec) == ["profile", "datasets", "seeds", "device", "n_pairs"]
    good = {"profile": "quick", "datasets": ["mnist"], "seeds": [0, 1], "device": None, "n_pairs": 50}
    assert p.validate(good, spec) == good
    with pytest.raises(p.ParameterError) as err:
        p.validate({**good, "profile": "fast", "datasets": ["svhn"], "n_pairs": 5}, spec)
    assert all(f in str(err.value) for f in ("profile: must be one of", "datasets: item 0", "n_pairs"))
    with pytest.raises(KeyError, match="no shared rule"):
        common.rules("n_pears")
