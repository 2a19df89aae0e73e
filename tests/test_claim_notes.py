"""Pins the whole text of every claim module's ``notes`` (H1-H4, S1, S2, C1, C2) and each of its branches."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from halfway_utils import zoo
from halfway_utils.evidence.stats import Estimate, StratifiedEstimates
from halfway_utils.experiments.boundaries import h1
from halfway_utils.experiments.boundaries.history import History
from halfway_utils.experiments.convex_hull import c1, c2
from halfway_utils.experiments.generalization import h2
from halfway_utils.experiments.som_codes import s1, s2
from halfway_utils.experiments.transfer import h3, h4

NAN = float("nan")


def _misfit(dataset: str, arch: str, seed: int, train_acc: float) -> SimpleNamespace:
    """A model that missed its target (0.99 on the zoo's subsets), as :func:`zoo.misfit_note` reads it."""
    return SimpleNamespace(config=zoo.config(dataset, arch, seed), final={"train_acc": train_acc})


MISFITS = [_misfit("mnist", "cnn", 4, 0.9504), _misfit("fashion_mnist", "resnet", 1, 0.9712)]
MISFIT_TEXT = ("Excluded, not fitted: cnn/mnist/seed4 (train acc 0.950 < 0.99), resnet/fashion_mnist/seed1 "
               "(train acc 0.971 < 0.99).")


# --- H1 -----------------------------------------------------------------------------------------

H1_STRATA = pd.DataFrame({"models": [5, 4, 3], "fraction": [0.8125, 0.456, -0.123],
                          "zone": [0.0712, 0.1408, 0.2881], "zone_untrained": [0.2549, 0.2713, 0.2604],
                          "zone_1nn": [0.0301, 0.0287, 0.0418]},
                         index=["mnist/mlp", "mnist/cnn", "fashion_mnist/resnet"])
H1_HEAD = ("Mean flip zone max(|first - 0.5|, |last - 0.5|) of the train-train pairs of different classes, mean "
           "over models: ")
H1_TAIL = (". History of mlp/fashion_mnist/seed0, mean flip zone by epoch 0: 0.260, 2: 0.183, 10: 0.071.")


def _h1_history() -> History:
    rows = [{"epoch": 0.0, "zone": 0.2604}, {"epoch": 2.0, "zone": 0.1833}, {"epoch": 10.0, "zone": 0.0712}]
    return History("mlp/fashion_mnist/seed0", rows, pd.DataFrame(rows), pd.DataFrame(), 7)


def test_h1_notes_with_fractions_and_misfits():
    assert h1.notes(H1_STRATA, _h1_history(), MISFITS) == (
        MISFIT_TEXT + " " + H1_HEAD
        + "mnist/mlp: trained 0.071, untrained 0.255, 1-NN 0.030 (fraction 0.81); "
          "mnist/cnn: trained 0.141, untrained 0.271, 1-NN 0.029 (fraction 0.46); "
          "fashion_mnist/resnet: trained 0.288, untrained 0.260, 1-NN 0.042 (fraction -0.12)" + H1_TAIL)


def test_h1_notes_without_a_fraction_column_or_misfits():
    text = (H1_HEAD + "mnist/mlp: trained 0.071, untrained 0.255, 1-NN 0.030; mnist/cnn: trained 0.141, untrained "
            "0.271, 1-NN 0.029; fashion_mnist/resnet: trained 0.288, untrained 0.260, 1-NN 0.042" + H1_TAIL)
    strata = H1_STRATA.drop(columns="fraction")
    assert h1.notes(strata, _h1_history(), []) == text
    assert h1.notes(strata, _h1_history()) == text  # the default: no misfits


# --- H2 -----------------------------------------------------------------------------------------

def _h2_agree() -> pd.DataFrame:
    """mnist/mlp 5 of 5 fitted (at the minimum: not thin), mnist/cnn 4 of 5, fashion_mnist/mlp 3 of 5."""
    fitted = {("mnist", "mlp"): [True] * 5, ("mnist", "cnn"): [True] * 4 + [False],
              ("fashion_mnist", "mlp"): [True, False, True, False, True]}
    rows = [{"dataset": d, "arch": a, "seed": s, "fitted": ok} for (d, a), oks in fitted.items()
            for s, ok in enumerate(oks)]
    return pd.DataFrame(rows)


def _h2_random() -> pd.DataFrame:
    """True labels listed first: the groups keep their order of appearance, not the alphabetical one."""
    return pd.DataFrame({"labels": ["true", "random", "random", "true", "random"],
                         "fitted": [True, True, False, True, True],
                         "train_acc": [1.0, 0.99, 0.62, 0.992, 0.995], "test_acc": [0.91, 0.101, 0.098, 0.87, 0.112],
                         "median_abs_first": [0.08, 0.21, 0.25, 0.12, 0.23],
                         "share_first_mid": [0.62, 0.1, 0.3, 0.5, 0.2]})


def _h2_widths() -> pd.DataFrame:
    """Widths out of order: the sweep is reported by increasing width."""
    return pd.DataFrame({"width": [64, 8, 32, 8, 32], "seed": [0, 0, 0, 1, 1],
                         "fitted": [True, False, True, True, True],
                         "train_acc": [1.0, 0.931, 1.0, 0.995, 0.998], "test_acc": [0.9, 0.71, 0.86, 0.75, 0.88],
                         "share_first_mid": [0.48, 0.31, 0.42, 0.35, 0.46]})


H2_RANDOM = ("true: 2/2 fitted, train acc 0.996, test acc 0.890, median |t-0.5| 0.100, share in [0.4,0.6] 0.56; "
             "random: 2/3 fitted, train acc 0.868, test acc 0.104, median |t-0.5| 0.230, share in [0.4,0.6] 0.20.")
H2_WIDTHS = ("Width sweep: w=8: 1/2 fitted, train 0.963, test 0.730, share in [0.4,0.6] 0.33; w=32: 2/2 fitted, "
             "train 0.999, test 0.870, share in [0.4,0.6] 0.44; w=64: 1/1 fitted, train 1.000, test 0.900, share "
             "in [0.4,0.6] 0.48.")
H2_SWEEP = pd.DataFrame({"factor": [0.25, 1.0, 4.0], "test_acc": [0.812, 0.774, 0.391],
                         "primary": [1.384, 0.917, -0.052], "low": [1.291, 0.803, -0.144],
                         "high": [1.477, 1.031, 0.041]})
H2_BANDWIDTHS = ("RBF kernel machine by bandwidth (in median nearest-neighbour distances; test accuracy, primary): "
                 "0.25: 0.812, 1.38 [1.29, 1.48]; 1: 0.774, 0.92 [0.80, 1.03]; 4: 0.391, -0.05 [-0.14, 0.04].")


def test_h2_notes_with_every_part():
    misfits = [_misfit("mnist", "cnn", 4, 0.904), _misfit("fashion_mnist", "mlp", 1, 0.951),
               _misfit("fashion_mnist", "mlp", 3, 0.987)]
    text = h2.notes(_h2_agree(), _h2_random(), _h2_widths(), misfits, archs=["mlp", "cnn", "resnet"],
                    random_archs=["mlp"], random_datasets=["mnist", "fashion_mnist"], random_n_train=500,
                    bandwidths=H2_SWEEP)
    assert text == (
        "Excluded, not fitted: cnn/mnist/seed4 (train acc 0.904 < 0.99), mlp/fashion_mnist/seed1 (train acc 0.951 "
        "< 0.99), mlp/fashion_mnist/seed3 (train acc 0.987 < 0.99). "
        "Strata with fewer than 5 fitted models: fashion_mnist/mlp (3), mnist/cnn (4). "
        "Random labels (mlp on mnist, fashion_mnist, n_train=500, one labeling per seed; cnn, resnet left out "
        "of the random-label runs for the CPU budget): " + H2_RANDOM + " " + H2_WIDTHS + " " + H2_BANDWIDTHS)


def test_h2_notes_without_misfits_thin_strata_left_out_archs_or_bandwidths():
    agree = _h2_agree().assign(fitted=True)  # 5 fitted models per stratum: none thin
    expected = ("Random labels (mlp, cnn, resnet on cifar10, n_train=None, one labeling per seed): " + H2_RANDOM
                + " " + H2_WIDTHS)
    kw = {"archs": ["mlp", "cnn", "resnet"], "random_archs": ["mlp", "cnn", "resnet"],
          "random_datasets": ["cifar10"], "random_n_train": None}
    assert h2.notes(agree, _h2_random(), _h2_widths(), [], **kw) == expected
    assert h2.notes(agree, _h2_random(), _h2_widths(), [], **kw, bandwidths=None) == expected
    assert h2.notes(agree, _h2_random(), _h2_widths(), [], **kw, bandwidths=H2_SWEEP.iloc[:0]) == expected


def test_h2_notes_thin_stratum_just_below_the_minimum():
    agree = _h2_agree()
    agree.loc[(agree.dataset == "mnist") & (agree.arch == "mlp") & (agree.seed == 2), "fitted"] = False
    text = h2.notes(agree, _h2_random(), _h2_widths(), [], archs=["mlp"], random_archs=["mlp"],
                    random_datasets=["mnist"], random_n_train=1000)
    assert text == ("Strata with fewer than 5 fitted models: fashion_mnist/mlp (3), mnist/cnn (4), mnist/mlp (4). "
                    "Random labels (mlp on mnist, n_train=1000, one labeling per seed): " + H2_RANDOM + " "
                    + H2_WIDTHS)


# --- H3 and H4 ----------------------------------------------------------------------------------

TRANSFER_MODELS = {"mnist": ["mlp/s0", "mlp/s1", "cnn/s0"], "fashion_mnist": ["mlp/s0", "cnn/s1"],
                   "cifar10": ["resnet/s0"]}
EXCLUDED = "mnist: Excluded, not fitted: cnn/mnist/seed1 (train acc 0.970 < 0.99)."


def test_h3_notes_text():
    parameters = {"archs": ["mlp", "cnn", "resnet"], "seeds": [0, 1, 2], "n_boundary": 50}
    assert h3.notes(parameters, TRANSFER_MODELS, EXCLUDED) == (
        "Fitted models: mnist: 3, fashion_mnist: 2, cifar10: 1 (['mlp', 'cnn', 'resnet'] x seeds [0, 1, 2]). "
        + EXCLUDED + " Inputs: the first 50 test inputs every model classifies correctly. ID/MD = |MD_a - MD_b| / "
        "mean(MD_a, MD_b); censored distances (no boundary within max_eps) count at max_eps; search points clipped "
        "to [0, 1]. Along adversarial directions a pair is measured along one of its models' PGD directions (each "
        "model the source of about as many pairs). Primary: 1 - observed / null (0 unrelated, 1 identical "
        "boundaries). Same-arch (replicate) and cross-arch splits, the raw medians and the censored shares are "
        "reported, not judged.")
    assert h3.notes(parameters, TRANSFER_MODELS) == h3.notes(parameters, TRANSFER_MODELS, "")  # the default


def test_h4_notes_text():
    parameters = {"eps_ref": 0.1, "pgd_steps": 20}
    assert h4.notes(parameters, TRANSFER_MODELS, EXCLUDED) == (
        "PGD L-inf, eps_ref=0.1, 20 steps; models: mnist: 3, fashion_mnist: 2, cifar10: 1. " + EXCLUDED
        + " Per oriented pair (each pair measured along one member's PGD directions) and input: toward = "
        "log(MD_sign / MD_adv) of the target, own = the same of the source, distances censored at max_eps; the "
        "primary is median toward / median own per pair, averaged over pairs. The former landing primary (t / "
        "t_flip minus random; it could not reach its margin since an L-inf step moves t at most eps ||s||_1 / "
        "||s||_2^2) and the transfer measurements (per kind of pair, intervals over models) are reported, not "
        "judged.")
    assert h4.notes(parameters, TRANSFER_MODELS) == h4.notes(parameters, TRANSFER_MODELS, "")  # the default


# --- S1 and S2 ----------------------------------------------------------------------------------

SOM_PARAMETERS = {"archs": ["mlp", "cnn"], "datasets": ["mnist", "fashion_mnist"], "seeds": [0, 1, 2, 3, 4],
                  "som_rows": 10, "som_cols": 8, "alt_rows": 5, "alt_cols": 6, "n_samples": 1000, "n_shuffles": 20,
                  "n_attack": 200, "pgd_steps": 10}
STRATA = ("mnist/mlp", "mnist/cnn", "fashion_mnist/mlp")


def _est(value: float, low: float, high: float, n: int = 5) -> Estimate:
    return Estimate(value, low, high, n, "t")


def _estimates(values: dict[str, list[Estimate]]) -> StratifiedEstimates:
    """Per measurement: one estimate per stratum of :data:`STRATA`, then the pooled one."""
    strata = {s: {k: v[i] for k, v in values.items()} for i, s in enumerate(STRATA)}
    return StratifiedEstimates({k: v[-1] for k, v in values.items()}, strata)


S1_EST = _estimates({s1.ALT: [_est(0.0412, 0.0213, 0.0611), _est(-0.0087, -0.0312, 0.0138),
                              _est(0.05, NAN, NAN, 1), _est(0.0171, 0.0049, 0.0293, 11)]})
S1_TEXT = ("11 fitted models (mlp, cnn x mnist, fashion_mnist x seeds [0, 1, 2, 3, 4]); one 10x8 SOM per layer on "
           "1000 test images, 20 label shuffles per code set; t-interval over models. Grid sensitivity, the primary "
           "at 5x6 (reported): mnist/mlp 0.0412 [0.0213, 0.0611]; mnist/cnn -0.0087 [-0.0312, 0.0138]; "
           "fashion_mnist/mlp 0.05 [nan, nan]; pooled 0.0171 [0.0049, 0.0293].")


def test_s1_notes_text():
    assert s1.notes(S1_EST, SOM_PARAMETERS, n_models=11, misfit_note=MISFIT_TEXT) == S1_TEXT + " " + MISFIT_TEXT
    assert s1.notes(S1_EST, SOM_PARAMETERS, n_models=11, misfit_note="") == S1_TEXT
    assert s1.notes(S1_EST, SOM_PARAMETERS, n_models=11) == S1_TEXT  # the default: no misfit note


S2_EST = _estimates({
    s2.CONTRAST: [_est(-0.112, -0.204, -0.0201), _est(-0.0833, -0.151, -0.0156), _est(-0.0634, -0.121, -0.00581),
                  _est(-0.0862, -0.122, -0.0504, 15)],
    "deep_minus_shallow_excess_change": [_est(0.214, 0.132, 0.296), _est(0.187, 0.0911, 0.283),
                                         _est(0.156, 0.0402, 0.272), _est(0.186, 0.139, 0.233, 15)],
    "input_excess_change": [_est(0.0312, 0.0101, 0.0523), _est(0.0423, 0.0144, 0.0702),
                            _est(0.0534, 0.0201, 0.0867), _est(0.0423, 0.0298, 0.0548, 15)],
    "logits_excess_change": [_est(0.412, 0.35, 0.474), _est(0.389, 0.301, 0.477), _est(0.298, 0.2, 0.396),
                             _est(0.366, 0.327, 0.405, 15)]})
S2_TEXT = ("PGD L-inf, eps=0.1, 10 steps, on 200 test inputs per model, 15 fitted models; codes read on the SOMs "
           "fitted to clean activations (10x8); primary: within-depth Spearman across models, mean over layers, "
           "bootstrap over models within strata. The former primary (most minus least homogeneous hidden layer "
           "within a model, which restates depth), t over models: mnist/mlp -0.112 [-0.204, -0.0201]; mnist/cnn "
           "-0.0833 [-0.151, -0.0156]; fashion_mnist/mlp -0.0634 [-0.121, -0.00581]; deep minus shallow hidden "
           "layer: mnist/mlp 0.214 [0.132, 0.296]; mnist/cnn 0.187 [0.0911, 0.283]; fashion_mnist/mlp 0.156 "
           "[0.0402, 0.272]. Pixel layer, attack minus random, per stratum: mnist/mlp 0.0312 [0.0101, 0.0523]; "
           "mnist/cnn 0.0423 [0.0144, 0.0702]; fashion_mnist/mlp 0.0534 [0.0201, 0.0867]; logits: mnist/mlp 0.412 "
           "[0.35, 0.474]; mnist/cnn 0.389 [0.301, 0.477]; fashion_mnist/mlp 0.298 [0.2, 0.396].")


def test_s2_notes_text():
    assert s2.notes(S2_EST, SOM_PARAMETERS, eps=0.1, n_models=15, misfit_note=MISFIT_TEXT) == (
        S2_TEXT + " " + MISFIT_TEXT)
    assert s2.notes(S2_EST, SOM_PARAMETERS, eps=0.1, n_models=15, misfit_note="") == S2_TEXT
    assert s2.notes(S2_EST, SOM_PARAMETERS, eps=0.1, n_models=15) == S2_TEXT  # the default: no misfit note


# --- C1 -----------------------------------------------------------------------------------------

C1_PARAMETERS = {"n_queries": 120, "n_train": 2000}


def _c1_text(used: int) -> str:
    return ("120 test queries (and 120 held-out training samples, reported) against 2000 training samples per data "
            "set; hull distance exact up to a certified duality gap (hull.distance). Pixel space: one space per data "
            f"set. Feature spaces: one per fitted model ({used} models), the mean of their medians. Intervals: t from "
            "a bootstrap SE (df = models - 1; pooled: Satterthwaite) whose replicates redraw the models within each "
            "stratum and, per data set, the test queries once for the pixel space and every model (they scan the "
            "same queries), the held-out samples apart. Controls in pixel and feature spaces through the same hull "
            "code and estimator: another data set's test images (positive) and convex combinations of each query's "
            "nearest training samples (negative). test_minus_heldout_* (is 'outside' specific to test data?), "
            "'outside' shares and label changes at the hull projection are reported, not judged.")


def test_c1_notes_with_misfits():
    rows = [{"dataset": "mnist", "arch": "mlp", "seed": 0, "fitted": True},
            {"dataset": "mnist", "arch": "cnn", "seed": 4, "fitted": False},
            {"dataset": "fashion_mnist", "arch": "mlp", "seed": 0, "fitted": True},
            {"dataset": "fashion_mnist", "arch": "resnet", "seed": 1, "fitted": False},
            {"dataset": "fashion_mnist", "arch": "cnn", "seed": 2},  # no "fitted" entry: counted as fitted
            {"dataset": "fashion_mnist", "arch": "resnet", "seed": 0, "fitted": True}]
    assert c1.notes(C1_PARAMETERS, rows, MISFITS) == _c1_text(4) + " " + MISFIT_TEXT


def test_c1_notes_without_misfits():
    rows = [{"fitted": True}, {"fitted": True}, {"fitted": True}]
    assert c1.notes(C1_PARAMETERS, rows, []) == _c1_text(3)


# --- C2 -----------------------------------------------------------------------------------------

C2_PARAMETERS = {"sweep_dataset": "mnist", "sweep_n_train": 1000, "widths": (4, 16, 64, 256),
                 "sweep_seeds": range(3), "sweep_epochs_true": 60, "sweep_epochs_random": 100, "sweep_n_test": 800}
C2_ROWS = [{"labels": labels, "width": w, "seed": s, "train_acc": 1.0, "fitted": True}
           for labels in ("true", "random") for w in (4, 16, 64, 256) for s in range(3)]
C2_MISSED = {("random", 4, 0): 0.4123, ("true", 4, 2): 0.9731, ("random", 16, 1): 0.8894}
for _row in C2_ROWS:
    if (_row["labels"], _row["width"], _row["seed"]) in C2_MISSED:
        _row.update(fitted=False, train_acc=C2_MISSED[(_row["labels"], _row["width"], _row["seed"])])
C2_DECIDED = ("decided between widths 16 and 256, the narrowest and widest with at least 3 fitted true-label models, "
              "on the seeds fitted at both")
C2_UNDECIDED = "fewer than two widths have 3 fitted true-label models: inconclusive"


def _c2_text(n_train: int, name: str, more: str, dim: int, decided: str, random: str, missed: str) -> str:
    return (f"mlp widths [4, 16, 64, 256] on {n_train} {name} samples ({more} than the {dim} input dimensions), "
            "seeds [0, 1, 2] (one random labeling each), each model trained to train acc 0.99 with caps of 60 (true) "
            "/ 100 (random) epochs; queries: the sweep's 800 test samples, far/near = top/bottom third by "
            f"pixel-space hull distance; {decided}; {random}. Not fitted: {missed}. agree_1nn_* = prediction on "
            "outside-hull queries equals the trained-on label of the pixel-space nearest training sample.")


def test_c2_notes_decided_with_misfits():
    missed = "true w4 seed2 (0.973), random w4 seed0 (0.412), random w16 seed1 (0.889)"  # in row order
    assert c2.notes(C2_PARAMETERS, C2_ROWS, 64, (16, 256)) == _c2_text(
        1000, "mnist", "more", 784, C2_DECIDED, "random-label fit reported at width 64", missed)


def test_c2_notes_undecided_without_a_random_width_or_misfits():
    rows = [{**r, "fitted": True} for r in C2_ROWS]
    expected = _c2_text(1000, "mnist", "more", 784, C2_UNDECIDED, "no width fitted enough random labelings", "none")
    assert c2.notes(C2_PARAMETERS, rows, None, (None, None)) == expected
    assert c2.notes(C2_PARAMETERS, rows, None) == expected  # the default pair: no widths
    assert c2.notes(C2_PARAMETERS, rows, None, (None, 256)) == expected  # only the narrow width decides the branch


def test_c2_notes_more_samples_than_dimensions_at_the_boundary():
    missed = "true w4 seed2 (0.973), random w4 seed0 (0.412), random w16 seed1 (0.889)"  # in row order
    for name, dim in (("mnist", 784), ("cifar10", 3072)):
        for n_train, more in ((dim - 1, "NOT more"), (dim, "NOT more"), (dim + 1, "more")):
            parameters = {**C2_PARAMETERS, "sweep_dataset": name, "sweep_n_train": n_train}
            assert c2.notes(parameters, C2_ROWS, 16, (4, 64)) == _c2_text(
                n_train, name, more, dim, C2_DECIDED.replace("16 and 256", "4 and 64"),
                "random-label fit reported at width 16", missed)
