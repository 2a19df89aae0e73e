"""Model zoo: shapes, named activations, penultimate features, errors."""
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


def test_batched_predict_and_embed_match_the_model_and_restore_its_mode():
    torch.manual_seed(0)
    model = models.build("resnet", width=4)
    model.train()
    x = torch.rand(37, 1, 28, 28)
    preds = models.predict(model, x, batch_size=8)
    feats = models.embed(model, x, batch_size=8)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert torch.equal(preds, model(x).argmax(1))
    assert torch.allclose(feats, model.features(x), atol=1e-5)
    assert models.predict(model, x[:0]).shape == (0,)
