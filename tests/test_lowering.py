"""Lowering specs to torch: structure, forward_all, torchvision parity, and the torch features models must support."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import archspec
from archspec.cli import main

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from archspec.runtime.weights import WeightsError

SPECS = Path(__file__).resolve().parent.parent / "specs"
TORCHVISION = ["alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2"]


def built(name: str, **kw):
    return archspec.build(archspec.load(SPECS / f"{name}.yaml"), **kw)


def test_forward_all_gives_every_layer_by_name_with_the_static_shapes():
    report = archspec.analyze(archspec.load(SPECS / "seed_cnn.yaml"))
    model = archspec.build(report).eval()
    x = torch.randn(2, 3, 64, 64)
    outs = model.forward_all(x)
    assert list(outs) == [info.name for info in report.layers]
    assert {k: tuple(v.shape) for k, v in outs.items()} == {i.name: (2, *i.output_shape) for i in report.layers}
    assert torch.equal(outs["softmax"], model(x))  # forward returns the output layer
    assert torch.allclose(outs["softmax"].sum(dim=1), torch.ones(2))
    assert torch.equal(outs["relu1"], outs["conv1"].clamp(min=0))


def test_layers_are_named_submodules_with_torchvision_style_keys():
    model = built("resnet18")
    modules = dict(model.named_modules())
    assert isinstance(modules["layer1.0.conv1"], torch.nn.Conv2d)
    assert isinstance(modules["layer2.0.downsample.1"], torch.nn.BatchNorm2d)
    keys = list(model.state_dict())
    assert keys[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layer4.1.bn2.running_var" in keys and keys[-2:] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_identical_outputs_to_torchvision_after_weight_import_by_name(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    ours = archspec.load_weights(built(name), theirs.state_dict()).eval()  # the specs carry torchvision's names
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5, rtol=0)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_weight_import_by_order_pairs_tensors_by_position_whatever_their_names():
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18(weights=None).eval()
    renamed = {f"t{n}": tensor for n, tensor in enumerate(theirs.state_dict().values())}
    ours = archspec.load_weights(built("resnet18"), renamed, source="torchvision", match="order").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
    with pytest.raises(WeightsError, match="by name"):
        archspec.load_weights(built("resnet18"), renamed)  # no name matches


def torchvision_model(name: str):
    """torchvision's model without weights; the segmentation one without its auxiliary head."""
    if name == "fcn_resnet50":
        return torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False)
    if name == "lraspp_mobilenet_v3_large":
        return torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)
    return getattr(torchvision.models, name)(weights=None)


# name: the input side for the comparison (the segmentation models at 128 instead of 520, to spare the CPU:
# their heads resize to the input's size, whatever the spec's input)
BY_NAME = {"shufflenet_v2_x1_0": 224, "convnext_tiny": 224, "fcn_resnet50": 128}
BY_NAME |= {"efficientnet_b0": 224, "mobilenet_v3_large": 224, "mobilenet_v3_small": 224, "regnet_y_400mf": 224}
BY_NAME |= {"lraspp_mobilenet_v3_large": 128}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_identical_outputs_to_torchvision_channel_split_layer_scale_and_segmentation(name):
    """Every tensor paired by its state-dict key: the spec keeps torchvision's module paths."""
    side = BY_NAME[name]
    text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").replace("520, 520", f"{side}, {side}")
    torch.manual_seed(0)
    theirs = torchvision_model(name).eval()
    ours = archspec.load_weights(archspec.build(archspec.loads(text)), theirs.state_dict()).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        expected = theirs(x)
        expected = expected["out"] if isinstance(expected, dict) else expected
        assert torch.allclose(ours(x), expected, atol=1e-5, rtol=0)


def test_load_weights_from_a_file_with_weights_only(tmp_path):
    theirs = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    ours = archspec.load_weights(built("resnet18"), path)
    assert torch.equal(ours.state_dict()["layer3.1.conv2.weight"], theirs.state_dict()["layer3.1.conv2.weight"])


def test_load_weights_by_order_refuses_another_architecture_naming_the_tensors():
    with pytest.raises(WeightsError, match=r"tensor 6: `layer1.0.conv1.weight` \(32, 64, 3, 3\) in torchvision's weights"):
        archspec.load_weights(built("resnet18"), _shifted(), match="order")


def _shifted():
    """resnet18's tensors with one conv swapped for a wrong-shaped one (same count)."""
    sd = dict(torchvision.models.resnet18(weights=None).state_dict())
    sd["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
    return sd


def test_load_weights_by_order_refuses_a_different_tensor_count():
    with pytest.raises(WeightsError, match=r"torchvision's weights hold 320 tensors, the model 122"):
        archspec.load_weights(built("resnet18"), torchvision.models.resnet50(weights=None).state_dict(), match="order")


def test_load_weights_refuses_corrupted_and_code_carrying_files(tmp_path):
    bad = tmp_path / "truncated.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), bad)
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="not a readable weights file"):
        archspec.load_weights(built("resnet18"), bad)
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": Exploit()}, evil)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        archspec.load_weights(built("resnet18"), evil)
    assert not (tmp_path / "pwned").exists()


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {Path(__file__).parent}/pwned",))


def test_state_dict_round_trip():
    a = built("seed_cnn").eval()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = built("seed_cnn").eval()
    b.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(3, 3, 64, 64)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize(
    "name", ["seed_cnn", "lenet5", "alexnet", "alexnet_original", "vgg16", "resnet18", "resnet50", "mobilenet_v2"]
)
def test_torch_compile_has_no_graph_breaks(name):
    import torch._dynamo

    model = built(name).eval()
    x = torch.randn(1, *model.report.input_shape)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


def test_torch_compile_runs_and_matches_eager():
    model = built("seed_cnn").eval()
    x = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-6)


def test_jit_trace_and_export():
    model = built("resnet18").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        traced = torch.jit.trace(model, x)
        assert torch.allclose(traced(x), expected, atol=1e-5)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), expected, atol=1e-5)


def test_channels_last_and_autocast():
    model = built("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        last = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        assert torch.allclose(last, expected, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), expected, atol=0.25, rtol=0.1)


def test_to_device_and_meta():
    model = built("resnet50", device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    out = model(torch.empty(4, 3, 224, 224, device="meta"))
    assert tuple(out.shape) == (4, 1000)
    cpu = built("seed_cnn").to("cpu")
    assert next(cpu.parameters()).device.type == "cpu"


@pytest.mark.gpu
def test_cuda_forward_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    model = built("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        got = model.to("cuda")(x.to("cuda")).cpu()
    assert torch.allclose(got, expected, atol=1e-3)


def test_onnx_export(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model = built("seed_cnn").eval()
    path = tmp_path / "seed.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 64, 64),), str(path), dynamo=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    ops = {node.op_type for node in proto.graph.node}
    assert {"Conv", "MaxPool", "Softmax"} <= ops


SMALL = """
archspec: 1
input: [3, 16, 16]
layers:
  - {type: conv2d, name: a, out_channels: 64, kernel_size: 3, init: {weight: kaiming_normal, mode: fan_out, bias: zeros}}
  - {type: conv2d, name: b, out_channels: 4, kernel_size: 1, init: ones, trainable: false}
  - {type: conv2d, name: c, out_channels: 4, kernel_size: 1, init: {weight: zeros, bias: ones}}
  - {type: flatten}
  - {type: linear, name: fc, out_features: 2, init: {weight: normal, std: 0.5}}
"""


def test_init_schemes_and_frozen_layers():
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(SMALL))
    a = model.get_submodule("a")
    expected_std = (2.0 / (64 * 9)) ** 0.5  # kaiming, fan_out = out_channels · kh · kw
    assert abs(a.weight.std().item() - expected_std) / expected_std < 0.05
    assert torch.count_nonzero(a.bias) == 0
    b = model.get_submodule("b")
    assert torch.all(b.weight == 1) and not b.weight.requires_grad and not b.bias.requires_grad
    c = model.get_submodule("c")
    assert torch.all(c.weight == 0) and torch.all(c.bias == 1)
    fc = model.get_submodule("fc")
    assert abs(fc.weight.std().item() - 0.5) < 0.05
    report = model.report
    assert report.totals()["non_trainable_params"] == 64 * 4 + 4


def test_default_init_is_pytorchs():
    torch.manual_seed(1)
    ours = archspec.build(archspec.loads("archspec: 1\ninput: [8]\nlayers:\n  - {type: linear, out_features: 4}\n"))
    torch.manual_seed(1)
    theirs = torch.nn.Linear(8, 4)
    assert torch.equal(ours.get_submodule("linear_1").weight, theirs.weight)


def test_describe_check_agrees_on_resnet50(capsys):
    assert main(["describe", "--check", str(SPECS / "resnet50.yaml"), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert "all 875 figures of 175 layers agree with torch" in err
    assert out.startswith("{")


def test_describe_check_reports_a_disagreement(capsys, monkeypatch):
    """The check can fail: make the static conv MAC rule wrong and it must say so."""
    from archspec.layers.conv import Conv2d

    real = Conv2d.macs
    monkeypatch.setattr(Conv2d, "macs", lambda self, ins, out: real(self, ins, out) + 1)
    assert main(["describe", "--check", str(SPECS / "seed_cnn.yaml")]) == 1
    err = capsys.readouterr().err
    assert "conv1: macs is 442369 statically but 442368 in torch" in err
    assert "2 of 45 figures disagree" in err


LAYER_SCALE = """
archspec: 1
input: [4, 8, 8]
layers:
  - {type: parameter, name: scale, shape: [4, 1, 1], value: 1.0e-6}
  - {type: mul, name: scaled, inputs: [scale, input]}
"""


def test_describe_check_counts_a_learned_tensor_held_under_its_layer_name(tmp_path, capsys):
    """The built model keeps the tensor as `scale` itself (torchvision's key), not inside the layer's module."""
    spec = tmp_path / "layer_scale.yaml"
    spec.write_text(LAYER_SCALE, encoding="utf-8")
    assert dict(archspec.build(archspec.load(spec)).named_parameters()).keys() == {"scale"}
    assert main(["describe", "--check", str(spec)]) == 0
    assert "all 10 figures of 2 layers agree with torch" in capsys.readouterr().err
