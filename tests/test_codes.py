"""Tests of halfway_utils.methods.codes: per-layer SOM codes and the chance level of their MI.

The code statistics themselves (code_metrics, joint_counts, occupancy, code_change_rate) are
tested beside the SOM in tests/test_som.py.
"""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from halfway_utils import models
from halfway_utils.methods.codes import INPUT, LayerCodes, code_metrics, first_change, layer_activations, shuffled_mi


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = models.build("mlp", width=16, depth=2)
    x = torch.rand(120, 1, 28, 28)
    return model, x


def test_layer_activations_shapes_and_modes(setup):
    model, x = setup
    model.train()
    acts = layer_activations(model, x, batch_size=50)
    assert list(acts) == [INPUT, *model.layer_names]
    assert acts[INPUT].shape == (120, 784)
    assert torch.equal(acts[INPUT], x.flatten(1))
    assert acts["fc1"].shape == (120, 16) and acts["logits"].shape == (120, 10)
    with torch.no_grad():
        model.eval()
        assert torch.allclose(acts["logits"], model(x), atol=1e-5)
        model.train()
    assert model.training  # restored
    model.eval()


def test_fit_codes_are_reproducible_and_consistent(setup):
    model, x = setup
    a = LayerCodes(model, 3, 4, seed=1, epochs=5)
    codes_fit = a.fit(x)
    assert list(codes_fit) == [INPUT, *model.layer_names]
    for name, c in codes_fit.items():
        assert c.shape == (120,) and c.dtype == torch.long
        assert 0 <= int(c.min()) and int(c.max()) < 12
        assert torch.equal(c, a.codes(x)[name])  # codes of the fitted sample, read again
    codes_read, predicted = a.read(x)
    assert all(torch.equal(codes_read[k], codes_fit[k]) for k in codes_fit)
    with torch.no_grad():
        assert torch.equal(predicted, model(x).argmax(1))
    b = LayerCodes(model, 3, 4, seed=1, epochs=5)
    for name, c in b.fit(x).items():
        assert torch.equal(c, codes_fit[name])
    assert a.n_units == 12


def test_layer_selection_and_errors(setup):
    model, x = setup
    lc = LayerCodes(model, 2, 2, layers=["fc2"], epochs=2)
    with pytest.raises(RuntimeError):
        lc.codes(x)
    assert list(lc.fit(x)) == ["fc2"]
    with pytest.raises(ValueError):
        LayerCodes(model, 2, 2, layers=["nope"])


def test_first_change():
    clean = OrderedDict(a=torch.tensor([0, 1, 2, 3]), b=torch.tensor([0, 1, 2, 3]))
    adv = OrderedDict(a=torch.tensor([0, 5, 2, 3]), b=torch.tensor([0, 1, 7, 3]))
    assert first_change(clean, adv).tolist() == [-1, 0, 1, -1]
    with pytest.raises(ValueError):
        first_change(clean, OrderedDict(b=adv["b"], a=adv["a"]))
    assert np.all(first_change(clean, clean) == -1)


def test_shuffled_mi_is_the_chance_level_of_the_same_codes():
    rng = np.random.default_rng(0)
    y = np.arange(1000) % 10
    perfect = shuffled_mi(y, y, 100, 10, n_shuffles=30)
    # plug-in bias of MI for 10 x 10 cells and 1000 samples: about 81 / (2 N ln 2) bits, over log2(10)
    assert 0.5 * 81 / (2000 * math.log(2)) / math.log2(10) < perfect < 0.05
    assert shuffled_mi(np.zeros(1000, int), y, 100, 10) == 0.0  # one unit carries nothing
    random_codes = rng.integers(0, 100, 1000)
    observed = code_metrics(random_codes, y, 100, 10)["normalized_mi"]
    assert abs(observed - shuffled_mi(random_codes, y, 100, 10, n_shuffles=50)) < 0.02
    # the mean over the same seeded permutations, computed the slow way
    gen = np.random.default_rng(5)
    slow = np.mean([code_metrics(random_codes, gen.permutation(y), 100, 10)["normalized_mi"]
                    for _ in range(4)])
    assert shuffled_mi(random_codes, y, 100, 10, n_shuffles=4, seed=5) == pytest.approx(slow)
    with pytest.raises(ValueError):
        shuffled_mi(y, y, 100, 10, n_shuffles=0)
