"""Grad-CAM against hand computations, its score, and the visualisation commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.cli import main

torch = pytest.importorskip("torch")

from archspec.runtime import inspect
from archspec.runtime.data import synthetic, write_image
from archspec.runtime.gradcam import GradCamError, box_scores, check_layer, default_layer, evaluate_boxes, gradcam
from archspec.runtime.train import train

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"

GAP = """
archspec: 1
input: [3, 12, 12]
layers:
  - {type: conv2d, name: conv, out_channels: 5, kernel_size: 3, padding: 1}
  - {type: relu, name: act}
  - {type: globalavgpool2d, name: gap}
  - {type: linear, name: fc, out_features: 4}
"""


def test_gradcam_equals_the_hand_computation_with_global_pooling():
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(GAP))
    x = torch.randn(3, 3, 12, 12)
    cam = gradcam(model, x, "act", 2)
    with torch.no_grad():
        a = model.forward_all(x)["act"]  # A: N×K×12×12
    w = model.get_submodule("fc").weight[2]  # y^c = Σ_k w_ck · mean_ij A^k_ij + b
    alpha = w / (12 * 12)  # ∂y^c/∂A^k_ij = w_ck / HW, its spatial mean too
    expected = torch.relu((alpha.view(1, -1, 1, 1) * a).sum(1))
    assert torch.allclose(cam.maps, expected, atol=1e-6)
    assert cam.layer == "act" and cam.classes.tolist() == [2, 2, 2]


FLAT = """
archspec: 1
input: [1, 6, 6]
layers:
  - {type: conv2d, name: conv, out_channels: 2, kernel_size: 3, padding: 1}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 3}
  - {type: softmax, name: prob}
"""


def test_gradcam_with_a_flattened_head_uses_the_pre_softmax_score():
    torch.manual_seed(1)
    model = archspec.build(archspec.loads(FLAT))
    x = torch.randn(2, 1, 6, 6)
    cam = gradcam(model, x, "conv", 1)
    with torch.no_grad():
        a = model.forward_all(x)["conv"]
    w = model.get_submodule("fc").weight[1].view(2, 6, 6)  # ∂y^1/∂A^k_ij = W[1, (k, i, j)] (logits, not softmax)
    alpha = w.mean(dim=(1, 2))
    expected = torch.relu((alpha.view(1, -1, 1, 1) * a).sum(1))
    assert torch.allclose(cam.maps, expected, atol=1e-6)


def test_maps_are_non_negative_upsampled_and_leave_no_trace():
    torch.manual_seed(2)
    model = archspec.build(archspec.loads(archspec.load(SEED).text, "seed.yaml"))
    model.train()
    x = torch.randn(4, 3, 64, 64)
    cam = gradcam(model, x)  # default layer, top class
    assert cam.layer == "pool2" and cam.maps.shape == (4, 16, 16) and cam.upsampled.shape == (4, 64, 64)
    assert (cam.maps >= 0).all() and torch.allclose(
        cam.upsampled.flatten(1).max(1).values[cam.maps.flatten(1).max(1).values > 0], torch.tensor(1.0)
    )
    assert model.training  # mode restored
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the weights


@pytest.mark.parametrize(
    "spec, layer",
    [("seed_cnn", "pool2"), ("resnet18", "layer4.1.relu2"), ("mobilenet_v2", "features.18.2"), ("vgg16", "avgpool")],
)
def test_default_target_layer_from_the_static_graph(spec, layer):
    assert default_layer(archspec.analyze(archspec.load(ROOT / "specs" / f"{spec}.yaml"))) == layer


def test_box_scores_by_hand():
    heat = torch.zeros(2, 8, 8)
    heat[0, 2, 3] = 1.0  # peak at row 2, column 3: inside the box x 1..4, y 1..3
    heat[0, 7, 7] = 0.5
    heat[1, 6, 6] = 1.0  # outside
    boxes = torch.tensor([[1, 1, 4, 3], [1, 1, 4, 3]])
    hit, share = box_scores(heat, boxes)
    assert hit.tolist() == [1.0, 0.0]
    assert share.tolist() == pytest.approx([1.0 / 1.5, 0.0])


def test_a_trained_network_points_at_the_objects(tmp_path):
    result = train(
        archspec.load(SEED),
        tmp_path / "run",
        overrides={"data.train_size": 6000, "data.test_size": 200, "epochs": 5, "augment": []},
        quiet=True,
    )
    model, state = inspect.model_and_state(archspec.load(SEED), str(tmp_path / "run" / "best.pt"))
    test = synthetic(300, (3, 64, 64), seed=77)
    assert state is not None
    score = evaluate_boxes(model, test.images, test.boxes, test.labels, state.mean, state.std)
    assert result.history[-1]["test_acc"] > 0.3
    assert score["pointing_game"] > score["random_pointing_game"] + 0.2
    assert score["heat_in_box"] > score["random_heat_in_box"] + 0.1


def test_equal_to_pytorch_grad_cam():
    grad_cam = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(3)
    model = archspec.build(archspec.loads(GAP)).eval()
    x = torch.randn(2, 3, 12, 12)
    ours = gradcam(model, x, "conv", 1).maps
    with grad_cam.GradCAM(model=lambda_logits(model), target_layers=[model.get_submodule("conv")]) as cam:
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * 2)
    ours_scaled = torch.nn.functional.interpolate(ours[:, None], size=(12, 12), mode="bilinear")[:, 0]
    ours_scaled = (ours_scaled - ours_scaled.amin((1, 2), keepdim=True)) / (
        ours_scaled.amax((1, 2), keepdim=True) - ours_scaled.amin((1, 2), keepdim=True) + 1e-7
    )
    assert torch.allclose(ours_scaled, torch.as_tensor(theirs), atol=1e-3)


def lambda_logits(model):
    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.forward_logits(x)

    return Logits()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "seed"
    assert main(["train", str(SEED), "-o", str(out), "--epochs", "1", "--train-size", "512", "--test-size", "64", "--quiet"]) == 0
    return out / "best.pt"


def test_cli_gradcam_images_and_evaluate(trained, tmp_path, capsys):
    image = tmp_path / "x.png"
    write_image(synthetic(1, (3, 64, 64), seed=5).images[0], image)
    assert main(["gradcam", str(SEED), "--checkpoint", str(trained), "--image", str(image), "-o", str(tmp_path / "g.png")]) == 0
    assert "Grad-CAM target layer: `pool2`" in capsys.readouterr().err
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["gradcam", str(SEED), "--checkpoint", str(trained), "--evaluate", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 64 and 0 <= result["pointing_game"] <= 1 and result["layer"] == "pool2"
    assert (
        main(
            ["gradcam", str(SEED), "--checkpoint", str(trained), "--index", "0", "--layer", "nope", "-o", str(tmp_path / "n.png")]
        )
        == 2
    )
    assert "no layer `nope`" in capsys.readouterr().err


def test_cli_kernels_features_rf_augment(trained, tmp_path, capsys):
    assert main(["kernels", str(SEED), "--checkpoint", str(trained), "-o", str(tmp_path / "k.png")]) == 0
    assert (
        main(
            [
                "features",
                str(SEED),
                "--checkpoint",
                str(trained),
                "--index",
                "2",
                "--layer",
                "relu1",
                "-o",
                str(tmp_path / "f.png"),
            ]
        )
        == 0
    )
    assert main(["rf", str(SEED), "--index", "1", "-o", str(tmp_path / "rf.png")]) == 0
    augmented = ROOT / "specs" / "seed_cnn_augmented.yaml"
    assert main(["augment", str(augmented), "--index", "0", "-n", "6", "-o", str(tmp_path / "a.png")]) == 0
    for name in ("k", "f", "rf", "a"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_kernels_are_normalised_over_the_whole_layer(tmp_path):
    from archspec.runtime import visualise

    weight = torch.tensor([[[[-2.0, 0.0], [1.0, 2.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])  # 2 kernels, 1 channel
    low, high = visualise.kernels(weight, tmp_path / "k.png", "two kernels")
    assert (low, high) == (-2.0, 2.0)  # one mapping for the layer: -2 -> 0, 2 -> 1, so 0.5 -> 0.625 in both
    torch.manual_seed(0)
    info = inspect.run_kernels(archspec.load(SEED), str(tmp_path / "seed.png"))
    torch.manual_seed(0)
    conv1 = inspect.model_and_state(archspec.load(SEED), None)[0].get_submodule("conv1").weight
    assert info["kernels"] == 4 and (info["min"], info["max"]) == (conv1.min().item(), conv1.max().item())


def test_rf_overlay_boxes_by_hand(tmp_path):
    result = inspect.run_rf(archspec.load(SEED), str(tmp_path / "rf.png"), index=0)
    # pool2: r = 10, S = 4, P = 3; its 16×16 output's centre unit (8, 8) sees rows/columns -3 + 32 … +9
    assert result["layer"] == "pool2" and result["unit"] == (8, 8)
    assert result["boxes"] == [(-3, -3, 6, 6), (29, 29, 38, 38)]


# A ViT in miniature: 4×4 patches of a 3×16×16 image make a 4×4 grid of tokens, a class token in front,
# two pre-norm encoder blocks, the class token's features classified.
TINY_VIT = """
archspec: 1
input: [3, 16, 16]
blocks:
  encoder_block:
    params: {heads: null}
    layers:
      - {type: layernorm, name: ln_1, inputs: input}
      - {type: multihead_attention, name: self_attention, num_heads: $heads}
      - {type: add, name: attention_residual, inputs: [self_attention, input]}
      - {type: layernorm, name: ln_2}
      - {type: linear, name: mlp.0, out_features: 16}
      - {type: gelu, name: mlp.1}
      - {type: linear, name: mlp.2, out_features: 8}
      - {type: add, name: mlp_residual, inputs: [mlp.2, attention_residual]}
layers:
  - {type: conv2d, name: conv_proj, out_channels: 8, kernel_size: 4, stride: 4}
  - {type: reshape, name: patches, shape: [8, 16]}
  - {type: transpose, name: tokens, axis0: 0, axis1: 1}
  - {type: parameter, name: class_token, shape: [1, 8], batch_axis: true, init: {weight: normal, std: 1.0}}
  - {type: concat, name: with_class_token, inputs: [class_token, tokens]}
  - {type: parameter, name: pos_embedding, shape: [17, 8], batch_axis: true, init: {weight: normal, std: 0.5}}
  - {type: add, name: embedded, inputs: [with_class_token, pos_embedding]}
  - {type: encoder_block, name: layer_0, heads: 2}
  - {type: encoder_block, name: layer_1, heads: 2}
  - {type: layernorm, name: ln}
  - {type: slice, name: class_token_out, axis: 0, start: 0, stop: 1}
  - {type: reshape, name: features, shape: [8]}
  - {type: linear, name: head, out_features: 5}
"""


def plain_grad_cam(model, x, module: str, klass: int, to_maps) -> torch.Tensor:
    """Grad-CAM as pytorch-grad-cam's users write it for a ViT: a forward hook on the target module, the class
    score's gradient w.r.t. its tokens, and a hand-written reshape of the tokens to D maps on the patch grid."""
    kept = {}
    hook = model.get_submodule(module).register_forward_hook(lambda m, i, out: kept.update(tokens=out))
    try:
        logits = model(x)
    finally:
        hook.remove()
    (grads,) = torch.autograd.grad(logits[:, klass].sum(), kept["tokens"])
    a, g = to_maps(kept["tokens"].detach()), to_maps(grads)
    return torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))


def test_a_vit_is_explained_on_its_patch_grid_without_a_reshape_transform():
    torch.manual_seed(4)
    spec = archspec.loads(TINY_VIT)
    model = archspec.build(spec).eval()
    x = torch.randn(3, 3, 16, 16)
    assert default_layer(archspec.analyze(spec)) == "layer_1.ln_1"  # the last block's first norm
    cam = gradcam(model, x, classes=2)
    assert cam.layer == "layer_1.ln_1" and cam.maps.shape == (3, 4, 4) and cam.upsampled.shape == (3, 16, 16)
    # the usual hand-written transform: drop the class token, 16 tokens → a 4×4 grid, features as channels
    by_hand = plain_grad_cam(model, x, "layer_1.ln_1", 2, lambda t: t[:, 1:].reshape(3, 4, 4, 8).permute(0, 3, 1, 2))
    assert by_hand.abs().sum() > 0 and torch.allclose(cam.maps, by_hand, atol=1e-6)
    up = torch.nn.functional.interpolate(by_hand[:, None], size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(cam.upsampled, up / up.flatten(1).max(1).values.view(3, 1, 1), atol=1e-5)


@pytest.mark.parametrize(
    "layer, to_maps",
    [
        ("patches", lambda t: t.reshape(2, 8, 4, 4)),  # features × tokens, before the transpose
        ("tokens", lambda t: t.reshape(2, 4, 4, 8).permute(0, 3, 1, 2)),  # tokens × features, no class token yet
        ("layer_0.mlp.1", lambda t: t[:, 1:].reshape(2, 4, 4, 16).permute(0, 3, 1, 2)),  # inside the MLP: 16 features
    ],
)
def test_any_layer_with_tokens_on_the_grid_can_be_chosen(layer, to_maps):
    torch.manual_seed(5)
    model = archspec.build(archspec.loads(TINY_VIT)).eval()
    x = torch.randn(2, 3, 16, 16)
    cam = gradcam(model, x, layer, 1)
    assert cam.maps.shape == (2, 4, 4) and cam.upsampled.shape == (2, 16, 16)
    assert torch.allclose(cam.maps, plain_grad_cam(model, x, layer, 1, to_maps), atol=1e-6)


@pytest.mark.parametrize("layer", ["class_token_out", "features", "head"])
def test_layers_with_no_grid_are_refused_with_their_place(layer):
    report = archspec.analyze(archspec.loads(TINY_VIT, "tiny.yaml"))
    with pytest.raises(GradCamError) as caught:
        check_layer(report, layer)
    line = next(n for n, text in enumerate(TINY_VIT.splitlines(), 1) if f"name: {layer}," in text)
    assert caught.value.args[0].startswith(f"tiny.yaml:{line}:")
    assert "no tokens on a grid" in str(caught.value) and "`layer_1.ln_1`" in str(caught.value)


def test_cli_gradcam_of_the_small_vit(tmp_path, capsys):
    vit = ROOT / "specs" / "vit_small.yaml"
    out = tmp_path / "vit"
    args = ["--epochs", "1", "--train-size", "128", "--test-size", "32", "--quiet"]
    assert main(["train", str(vit), "-o", str(out), *args]) == 0
    checkpoint = str(out / "best.pt")
    png = tmp_path / "v.png"
    assert main(["gradcam", str(vit), "--checkpoint", checkpoint, "--index", "0", "--count", "2", "-o", str(png)]) == 0
    assert "Grad-CAM target layer: `layer_3.ln_1`" in capsys.readouterr().err and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["gradcam", str(vit), "--checkpoint", checkpoint, "--evaluate", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["layer"] == "layer_3.ln_1" and result["images"] == 32 and 0 <= result["pointing_game"] <= 1
    refused = ["gradcam", str(vit), "--checkpoint", checkpoint, "--index", "0", "--layer", "class_token_out", "-o", str(png)]
    assert main(refused) == 2
    err = capsys.readouterr().err
    assert f"{vit}:" in err and "`class_token_out` has no spatial output" in err and "Traceback" not in err


def test_rf_overlay_on_the_token_grid_by_hand(tmp_path):
    vit = archspec.load(ROOT / "specs" / "vit_small.yaml")
    result = inspect.run_rf(vit, str(tmp_path / "rf.png"), index=0, layer="embedded", unit=(2, 3))
    # 8×8 patches at stride 8: grid unit (row 2, column 3) sees rows 16…23 and columns 24…31 (x0, y0, x1, y1)
    assert result["boxes"] == [(0, 0, 7, 7), (24, 16, 31, 23)]
    whole = inspect.run_rf(vit, str(tmp_path / "rf2.png"), index=0)  # the default: the last attention's input, global
    assert whole["layer"] == "layer_3.ln_1" and whole["unit"] == (4, 4) and whole["boxes"] == [(0, 0, 63, 63)] * 2


TINY_SWIN = """
archspec: 1
input: [3, 16, 16]
layers:
  - {type: conv2d, name: patch, out_channels: 12, kernel_size: 2, stride: 2}
  - {type: permute, name: last, axes: [1, 2, 0]}
  - {type: layernorm, name: norm0}
  - {type: window_attention, name: attn, num_heads: 2, window_size: 4}
  - {type: add, name: residual, inputs: [attn, last]}
  - {type: layernorm, name: norm1}
  - {type: window_attention, name: shifted, num_heads: 2, window_size: 4, shift_size: 2}
  - {type: mean, name: pool, axes: [0, 1]}
  - {type: linear, name: head, out_features: 5}
"""


def test_a_swin_map_is_explained_with_its_channels_put_first_without_a_reshape_transform():
    """Swin keeps its maps channels last (H×W×C): pytorch-grad-cam's users permute them by hand; archspec
    knows the channels' axis statically and puts them first itself."""
    torch.manual_seed(6)
    spec = archspec.loads(TINY_SWIN)
    model = archspec.build(spec).eval()
    x = torch.randn(2, 3, 16, 16)
    assert default_layer(archspec.analyze(spec)) == "shifted"  # the last map before the pooling
    for layer in ("shifted", "norm1", "attn"):
        cam = gradcam(model, x, layer, 3)
        assert cam.maps.shape == (2, 8, 8) and cam.upsampled.shape == (2, 16, 16)
        by_hand = plain_grad_cam(model, x, layer, 3, lambda t: t.permute(0, 3, 1, 2))
        assert by_hand.abs().sum() > 0 and torch.allclose(cam.maps, by_hand, atol=1e-6)


def test_swin_t_is_explained_before_its_pooling_by_default():
    assert default_layer(archspec.analyze(archspec.load(ROOT / "specs" / "swin_t.yaml"))) == "permute"
