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
from archspec.runtime.gradcam import box_scores, default_layer, evaluate_boxes, gradcam
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
