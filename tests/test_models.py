"""Model zoo: shapes, named activations, penultimate features, errors."""
import numpy as np
import pytest
import torch

from halfway_utils import models


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_shapes_and_activations(name, shape):
    torch.manual_seed(0)
    model = models.build(name, in_shape=shape, num_classes=10).eval()
    x = torch.rand(4, *shape)
    logits = model(x)
    assert logits.shape == (4, 10)
    acts = model.activations(x)
    assert list(acts) == model.layer_names and model.layer_names[-1] == "logits"
    assert torch.allclose(acts["logits"], logits, atol=1e-5)
    assert all(a.ndim == 2 and a.shape[0] == 4 for a in acts.values())
    feats = model.features(x)
    assert torch.allclose(feats, acts[model.layer_names[-2]])


def test_activations_subset_keeps_order_and_rejects_unknown():
    model = models.build("cnn").eval()
    x = torch.rand(2, 1, 28, 28)
    acts = model.activations(x, ["fc", "conv1"])
    assert list(acts) == ["fc", "conv1"]
    with pytest.raises(ValueError, match="unknown layer"):
        model.activations(x, ["conv9"])


def test_normalisation_is_inside_the_model():
    model = models.build("mlp")
    assert torch.allclose(model.normalize(torch.full((1, 1, 2, 2), 0.1307)), torch.zeros(1, 1, 2, 2))


def test_unknown_model_and_bad_options():
    with pytest.raises(ValueError, match="valid models: mlp, cnn, resnet"):
        models.build("vgg")
    with pytest.raises(ValueError, match="width must be a positive integer"):
        models.build("mlp", width=0)
    with pytest.raises(ValueError, match="bad options"):
        models.build("mlp", kernel=3)


def _numpy_mlp(model, x):
    """The mlp's forward pass written out in numpy from its weights: (hidden features, logits)."""
    w = {k: v.double().numpy() for k, v in model.state_dict().items()}
    h = (x.double().numpy().reshape(len(x), -1) - w["normalize.mean"].ravel()) / w["normalize.std"].ravel()
    h = np.maximum(h @ w["stages.fc1.1.weight"].T + w["stages.fc1.1.bias"], 0.0)
    return h, h @ w["stages.logits.weight"].T + w["stages.logits.bias"]


def test_batched_predict_and_embed_agree_with_a_hand_written_forward_pass():
    torch.manual_seed(0)
    model = models.build("mlp", in_shape=(1, 3, 3), num_classes=4, width=6, depth=1)
    x = torch.rand(37, 1, 3, 3)
    features, logits = _numpy_mlp(model, x)
    preds = models.predict(model, x, batch_size=8)  # five batches, the last one short
    feats = models.embed(model, x, batch_size=8)
    np.testing.assert_array_equal(preds.numpy(), logits.argmax(1))
    np.testing.assert_allclose(feats.numpy(), features, rtol=1e-5, atol=1e-6)
    assert preds.dtype == torch.long and feats.dtype == torch.float32
    assert models.predict(model, x[:0]).shape == (0,)


def test_eval_mode_sets_every_module_to_eval_and_restores_each_one():
    model = models.build("resnet", width=4)
    model.train()
    model.stages[model.layer_names[0]].eval()  # a mixed state must come back as it was
    before = [m.training for m in model.modules()]
    with models.eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError), models.eval_mode(model):
        raise RuntimeError("the modes are restored on errors too")
    assert [m.training for m in model.modules()] == before


def test_predict_and_embed_leave_batch_norm_statistics_and_modes_alone():
    torch.manual_seed(0)
    model = models.build("resnet", width=4).train()
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    x = torch.rand(9, 1, 28, 28)
    models.predict(model, x, batch_size=4)
    models.embed(model, x, batch_size=4)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())
