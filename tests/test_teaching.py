"""The teaching layer: the plane of notebook 06 against known answers, and the notebooks' explorers
on small synthetic objects (no data set, no training beyond a few hundred full-batch steps)."""
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from halfway_utils import data, models  # noqa: E402
from halfway_utils.experiments.boundaries.morph import MorphPath  # noqa: E402
from halfway_utils.experiments.convex_hull.tables import Split  # noqa: E402
from halfway_utils.experiments.generalization.agreement import DataSet  # noqa: E402
from halfway_utils.experiments.som_codes.zoo_codes import FittedModel  # noqa: E402
from halfway_utils.experiments.transfer.bundles import Bundle  # noqa: E402
from halfway_utils.infra import params  # noqa: E402
from halfway_utils.methods import neighbors  # noqa: E402
from halfway_utils.teaching import explorers, plane  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread_module")
NOTEBOOK_06 = Path(__file__).resolve().parent.parent / "notebooks" / "06_two_dimensions.py"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _is_figure(fig) -> bool:
    return isinstance(fig, plt.Figure)


# --- the plane ---------------------------------------------------------------------------------------

def test_points_are_balanced_seeded_and_clustered():
    a, b = plane.points(30, 3, spread=0.1, seed=4), plane.points(30, 3, spread=0.1, seed=4)
    assert a.x.shape == (30, 2) and a.inputs.shape == (30, 1, 1, 2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.bincount(a.y).tolist() == [10, 10, 10]
    angle = 2 * np.pi * a.y.numpy() / 3
    centre = np.stack([np.cos(angle), np.sin(angle)], 1)
    assert np.abs(a.x.numpy() - centre).max() < 0.6  # 6 std: every point sits by its own centre


def test_relabel_keeps_the_points_and_draws_labels_in_range():
    pl = plane.points(40, 4, seed=0)
    r = plane.relabel(pl, seed=1)
    assert torch.equal(r.x, pl.x) and r.y.min() >= 0 and r.y.max() < 4
    assert not torch.equal(r.y, pl.y)


def test_on_well_separated_clusters_the_net_agrees_with_1nn_almost_everywhere():
    pl = plane.points(30, 3, spread=0.1, seed=0)
    fresh = plane.points(300, 3, spread=0.1, seed=1)
    fitted = plane.fit(pl, width=32, depth=2, epochs=200, lr=0.01, seed=0)
    assert fitted.train_acc == 1.0
    assert plane.agreement_at(fitted.model, pl, fresh) >= 0.99  # where the data lies
    assert plane.regions(pl, fitted.model, resolution=60).agreement >= 0.9  # the whole square, corners included


def test_the_net_memorizes_random_labels():
    s = plane.study(plane.points(40, 3, seed=0), labels="random", epochs=600, resolution=30, n_segments=10)
    assert s.labels == "random" and s.fit.train_acc == 1.0


def test_zero_epochs_leaves_the_network_untrained():
    pl = plane.points(12, 2, seed=0)
    fitted = plane.fit(pl, epochs=0, seed=3)
    grid, _ = plane.square(pl, 20)
    x = grid.reshape(-1, 1, 1, 2)
    assert fitted.loss == []
    assert torch.equal(models.predict(fitted.model, x), models.predict(fitted.untrained, x))


def test_the_1nn_flip_between_the_only_two_points_is_exactly_halfway():
    pl = plane.Plane(torch.tensor([[0.0, 0.0], [2.0, 1.0]]), torch.tensor([0, 1]), 2)
    table = plane.flips(pl, plane.fit(pl, epochs=0), n_segments=4)
    nn = table[table.classifier == "1-NN"]
    assert np.allclose(nn["first_flip"], 0.5, atol=1e-4) and np.allclose(nn["last_flip"], 0.5, atol=1e-4)
    assert np.allclose(nn["zone"], 0.0, atol=1e-4)


def test_every_1nn_flip_lies_on_a_bisector_of_two_points_of_different_classes():
    pl = plane.points(40, 3, spread=0.5, seed=2)
    table = plane.flips(pl, plane.fit(pl, epochs=0), n_segments=80, seed=1)
    nn = table[table.classifier == "1-NN"]
    assert set(table.classifier) == set(plane.CLASSIFIERS) and len(table) == 3 * 80
    assert (nn["n_flips"] >= 1).all()  # the ends have different labels
    x, y = pl.x.double().numpy(), pl.y.numpy()
    for r in nn.itertuples():
        length = np.linalg.norm(x[r.b] - x[r.a])
        for t in (r.first_flip, r.last_flip):
            d = np.linalg.norm(x - (x[r.a] + t * (x[r.b] - x[r.a])), axis=1)
            per_class = np.sort([d[y == c].min() for c in np.unique(y)])
            assert per_class[1] - per_class[0] <= 2e-4 * length  # equidistant: on the Voronoi class boundary


def test_the_two_1nn_rules_give_the_same_partition():
    pl = plane.points(25, 3, spread=0.5, seed=5)
    grid, _ = plane.square(pl, 40)
    rule = neighbors.NearestNeighbor(pl.inputs, pl.y, pl.n_classes)
    with torch.no_grad():
        by_logits = rule(grid.reshape(-1, 1, 1, 2)).argmax(1)
    assert torch.equal(by_logits, neighbors.nearest_labels(pl.x, pl.y, grid))


def test_every_voronoi_edge_is_halfway_between_its_two_points():
    pl = plane.points(20, 2, spread=0.6, seed=3)
    edges, parts = plane.voronoi_edges(pl)
    x, y = pl.x.double().numpy(), pl.y.numpy()
    assert len(edges) >= len(x) - 1 and parts.any() and (~parts).any()
    for edge, part in zip(edges, parts):
        d = np.linalg.norm(x - edge.mean(0), axis=1)
        first, second = np.argsort(d)[:2]
        assert d[second] - d[first] < 1e-6 * max(1.0, d[first])
        assert part == (y[first] != y[second])


def test_summary_reports_each_labelling():
    pl, fresh = plane.points(18, 3, seed=0), plane.points(60, 3, seed=1)
    studies = [plane.study(pl, labels=lab, epochs=50, resolution=25, n_segments=6) for lab in plane.LABELINGS]
    table = plane.summary(studies, fresh)
    assert list(table.index) == ["true", "random"]
    assert table.filter(like="acc").apply(lambda c: c.between(0, 1)).all().all()
    assert {"zone_trained", "zone_untrained", "zone_1-NN", "agreement_square", "agreement_fresh"} <= set(table)


def test_the_defaults_are_notebook_06s_parameters_cell_and_pass_its_rules():
    import jupytext

    cell = next(c for c in jupytext.read(NOTEBOOK_06).cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    assert {k: v for k, v in namespace.items() if not k.startswith("__")} == plane.DEFAULTS
    plane.check_parameters(params.validate(plane.DEFAULTS, plane.PARAMETERS))


def test_the_plane_parameters_refuse_too_few_points_per_class():
    P = {"n_points": 5, "n_classes": 3}
    with pytest.raises(params.ParameterError, match="n_points"):
        plane.check_parameters(P)
    plane.check_parameters({"n_points": 6, "n_classes": 3})


def test_the_plane_figures_and_the_explorer_at_its_ends():
    pl = plane.points(12, 3, seed=0)
    s = plane.study(pl, epochs=20, resolution=25, n_segments=5)
    assert _is_figure(plane.figure_regions([s, s])) and _is_figure(plane.figure_flips([s]))
    P = {"n_fresh": 50, "resolution": 30, "n_segments": 5}
    for n_points, width, epochs, labels in ((6, 2, 0, "true"), (60, 128, 200, "random")):
        assert _is_figure(plane.explore(P, n_points=n_points, width=width, epochs=epochs, labels=labels))
    assert _is_figure(plane.explore(n_points=8, epochs=5))  # no parameters: the notebook's defaults


# --- the explorer ------------------------------------------------------------------------------------------

def _draw(value: float = 0.25, other: str = "b") -> plt.Figure:
    fig, ax = plt.subplots()
    ax.set_title(f"{value} {other}")
    return fig


def test_default_values_take_the_control_then_the_function_then_the_low_end():
    values = explorers.default_values(_draw, {"value": (0.0, 1.0, 0.1)})
    assert values == {"value": 0.25}
    assert explorers.default_values(_draw, {"value": (0.0, 1.0, 0.1, 0.7)}) == {"value": 0.7}
    assert explorers.default_values(_draw, {"value": (0.5, 1.0, 0.1)}) == {"value": 0.5}  # 0.25 is out of range
    assert explorers.default_values(_draw, {"other": ["a", "b"]}) == {"other": "b"}
    assert explorers.default_values(_draw, {"other": ["c", "d"]}) == {"other": "c"}
    assert explorers.default_values(_draw, {"other": explorers.choice(["a", "b", "c"], "c")}) == {"other": "c"}
    with pytest.raises(ValueError, match="not one of"):
        explorers.choice([1, 2], 3)
    with pytest.raises(ValueError, match="low, high, step"):
        explorers.default_values(_draw, {"value": (0.0, 1.0)})
    with pytest.raises(ValueError, match="no options"):
        explorers.default_values(_draw, {"other": []})


def test_the_static_path_is_taken_when_not_interactive(monkeypatch):
    calls = []
    monkeypatch.setattr(explorers.device, "interactive", lambda: False)
    fig = explorers.explorer(lambda *o, **kw: calls.append((o, kw)) or _draw(**kw), value=(0.0, 1.0, 0.1, 0.4))
    assert _is_figure(fig) and calls == [((), {"value": 0.4})]


def test_the_widgets_path_shows_controls_and_draws_the_default(monkeypatch):
    import IPython.display
    import ipywidgets as widgets

    shown = []
    monkeypatch.setattr(explorers, "_live", lambda: True)
    monkeypatch.setattr(IPython.display, "display", shown.append)
    assert explorers.explorer(_draw, value=(0, 10, 1, 3), other=["a", "b"]) is None
    controls = [w for w in shown if isinstance(w, widgets.interactive)]
    assert len(controls) == 1
    kinds = {c.description: (type(c).__name__, c.value) for c in controls[0].kwargs_widgets}
    assert kinds == {"value": ("IntSlider", 3), "other": ("Dropdown", "b")}
    figures = [w for w in shown if _is_figure(w)]
    assert figures and figures[-1].axes[0].get_title() == "3 b"


def test_widgets_for_picks_a_slider_kind_per_control():
    controls = {"a": (0.0, 1.0, 0.1), "b": [4, 16, 64], "c": (1, 5, 1), "d": explorers.choice(["x", "y"], "y")}
    w = explorers.widgets_for(controls, {"a": 0.5, "b": 16, "c": 2, "d": "y"})
    assert [type(v).__name__ for v in w.values()] == ["FloatSlider", "SelectionSlider", "IntSlider", "Dropdown"]
    assert w["b"].value == 16 and w["d"].value == "y"
    assert not w["a"].continuous_update


# --- each notebook's figure, on synthetic objects ---------------------------------------------------------------

CLASSES = data.info("mnist").classes


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_path_figure_at_both_ends():
    ts = torch.linspace(0, 1, 101)
    a, b = _images(2)
    segment = (1 - ts.view(-1, 1, 1, 1)) * a + ts.view(-1, 1, 1, 1) * b
    probs = {arch: torch.softmax(torch.randn(101, 10), 1) for arch in ("mlp", "cnn")}
    path = MorphPath("mnist", a, b, 3, 7, CLASSES, ts, segment, probs)
    for t in (0.0, 0.5, 1.0):
        fig = explorers.path_figure(path, t)
        assert _is_figure(fig) and fig.axes[0].get_title().startswith(f"t = {t:.2f}")


def _generalization_objects() -> tuple[dict, pd.DataFrame]:
    x_train, y_train = _images(30), torch.arange(30) % 10
    x_test, y_test = _images(12, seed=1), torch.arange(12) % 10
    d = DataSet(x_train, y_train, x_test, y_test, neighbors.nearest_labels(x_train, y_train, x_test), 30)
    frames = []
    for arch, seed, pred in (("mlp", 0, d.pixel_nn), ("mlp", 1, y_test), ("cnn", 0, (d.pixel_nn + 1) % 10)):
        frames.append(pd.DataFrame({"label": y_test.numpy(), "pred": pred.numpy(), "pixel_nn": d.pixel_nn.numpy(),
                                    "dataset": "mnist", "arch": arch, "seed": seed, "fitted": True}))
    return {"mnist": d}, pd.concat(frames, ignore_index=True)


def test_error_outcomes_tell_copied_errors_from_right_and_other_answers():
    sets, per_sample = _generalization_objects()
    errors = explorers.nn_errors(sets["mnist"])
    assert len(errors) > 0 and (sets["mnist"].pixel_nn[errors] != sets["mnist"].y_test[errors]).all()
    out = explorers.error_outcomes(per_sample, "mnist", int(errors[0]))
    assert list(zip(out.arch, out.seed, out.outcome)) == [("mlp", 0, 0), ("mlp", 1, 1), ("cnn", 0, 2)]


def test_shared_error_figure_at_both_ends():
    sets, per_sample = _generalization_objects()
    last = len(explorers.nn_errors(sets["mnist"])) - 1
    for k in (0, last):
        fig = explorers.shared_error_figure(sets, per_sample, "mnist", k)
        assert _is_figure(fig) and "1 of 3 make" in fig.axes[2].get_title()


def _zoo() -> Bundle:
    torch.manual_seed(0)
    nets = {f"mlp/s{s}": models.mlp(width=8).eval() for s in range(3)}
    return Bundle("mnist", nets, _images(4), torch.tensor([1, 2, 3, 4]), _images(10, 2), torch.arange(10), {})


def test_adversarial_predictions_stay_in_budget_and_eps_zero_changes_nothing():
    z = _zoo()
    x0, p0 = explorers.adversarial_predictions(z, 0.0, "mlp/s0", 1)
    assert torch.equal(x0, z.x[1:2])
    clean = [int(models.predict(m, z.x[1:2])[0]) for m in z.models.values()]
    assert p0["pred"].tolist() == clean and p0["fooled"].tolist() == [c != 2 for c in clean]
    x1, _ = explorers.adversarial_predictions(z, 0.1, "mlp/s0", 1, steps=3)
    assert (x1 - z.x[1:2]).abs().max() <= 0.1 + 1e-6 and x1.min() >= 0 and x1.max() <= 1


def test_epsilon_figure_at_both_ends():
    z = _zoo()
    for eps, source in ((0.0, None), (0.3, "mlp/s2")):
        assert _is_figure(explorers.epsilon_figure(z, 2, eps, source, index=3))


def test_occupancy_figure_for_every_layer():
    layers = ["input", "fc1", "logits"]
    g = torch.Generator().manual_seed(0)
    clean = {name: torch.randint(0, 9, (50,), generator=g) for name in layers}
    f = FittedModel(None, SimpleNamespace(layers=layers, rows=3, cols=3, n_units=9), clean, _images(50),
                    torch.arange(50) % 10)
    for layer in (None, *layers):
        fig = explorers.occupancy_figure({("mnist", "mlp", 0): f}, ("mnist", "mlp", 0), layer)
        assert _is_figure(fig) and (layer or "fc1") in fig.axes[0].get_title()


def test_hull_distances_never_exceed_the_nn_and_shrink_as_the_nested_set_grows():
    x = _images(60, 3)
    table = explorers.hull_distances(x, x[40], [5, 20, 41, 60])
    assert (table["hull"] <= table["nn"] + 1e-9).all()
    assert (np.diff(table["hull"]) <= 1e-6).all() and (np.diff(table["nn"]) <= 1e-12).all()
    assert table["hull"].iloc[-1] < 1e-6 and table["nn"].iloc[-1] == 0  # the query is training sample 40
    assert explorers.hull_sizes(1000) == sorted(set(explorers.hull_sizes(1000)))
    assert explorers.hull_sizes(1000)[0] == 10 and explorers.hull_sizes(1000)[-1] == 1000


def test_hull_figure_at_both_ends():
    split = Split(_images(40, 4), torch.arange(40) % 10, _images(5, 5), torch.arange(5), n_queries=3)
    for n in (1, 40, None):
        assert _is_figure(explorers.hull_figure(split, n, query=2))
