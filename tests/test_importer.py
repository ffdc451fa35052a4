"""Importing PyTorch models: every imported spec is proved by a round trip against the model itself.

Import, analyse (shapes, parameters by named_parameters, MACs by FlopCounterMode on the meta device),
build, load the original's state dict by name, and compare the outputs (fp32, evaluation, atol 1e-5).
An operation without a kind is refused with the node, the op, the module path and the source line.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.cli import main
from archspec.importer import UnsupportedOp


def round_trip(model: nn.Module, shape: tuple[int, ...], blocks: bool = False) -> str:
    """Import ``model``; its figures and outputs must be torch's (a model that returns a dict of one tensor, as a
    segmentation model's ``{"out": x}``: that tensor's). Returns the spec text."""
    model.eval()
    text = archspec.from_torch(model, shape, blocks=blocks)
    report = archspec.analyze(archspec.loads(text))
    assert report.ok, [d.format() for d in report.diagnostics]
    assert report.totals()["params"] == sum(p.numel() for _, p in model.named_parameters())
    meta = copy.deepcopy(model).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty((1, *shape), device="meta"))
    assert report.totals()["macs"] == counter.get_total_flops() // 2
    torch.manual_seed(0)
    x = torch.randn(2, *shape)
    built = archspec.load_weights(archspec.build(report), model.state_dict()).eval()
    with torch.no_grad():
        want, got = model(x), built(x)
    if isinstance(want, dict):
        (want,) = want.values()
    assert tuple(want.shape[1:]) == report.output_shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    return text


def lines_of(text: str) -> dict[str, str]:
    """Each layer's line by its name."""
    return {m.group(1): line for line in text.splitlines() if (m := re.search(r"name: ([^,}]+)", line))}


# --- hand-written models, one mapping each at least ---


class Convs(nn.Module):
    """Modules and functions of a small CNN: a residual add, a squeeze-excitation gate, concat, upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, eps=1e-3), nn.ReLU(inplace=True))
        self.dw = nn.Conv2d(8, 8, (3, 3), padding=(1, 1), groups=8)
        self.gate = nn.Conv2d(8, 8, 1)
        self.pool = nn.MaxPool2d(2)
        self.wide = nn.Conv2d(8, 4, 5, stride=2, padding=2, dilation=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))

    def forward(self, x):
        x = self.stem(x)
        y = F.relu(self.dw(x))
        x = x + y
        x = x * torch.sigmoid(self.gate(F.adaptive_avg_pool2d(x, 1)))
        x = self.pool(x)
        up = F.interpolate(self.wide(x), scale_factor=2, mode="nearest")
        x = torch.cat([x, up, F.avg_pool2d(up, 3, stride=1, padding=1)], dim=1)
        x = F.max_pool2d(F.hardswish(x), 2)
        return self.head(x)


def test_a_small_cnn_round_trips_and_reads_as_written():
    text = round_trip(Convs(), (3, 32, 32))
    line = lines_of(text)
    assert "kernel_size: 3, padding: 1, bias: false}" in line["stem.0"]
    assert line["stem.1"].endswith("eps: 0.001}")  # momentum and the rest at their defaults: left out
    assert "groups: depthwise" in line["dw"] and "bias" not in line["dw"]  # a bias is the default
    assert line["pool"] == "  - {type: maxpool2d, name: pool, kernel_size: 2}"  # stride = kernel: implied
    assert line["wide"] == "  - {type: conv2d, name: wide, out_channels: 4, kernel_size: 5, stride: 2, padding: 2}"
    assert line["add"] == "  - {type: add, name: add, inputs: [stem.2, relu]}"
    assert "inputs: [x, up]" not in text and "type: concat" in line["cat"] and "axis" not in line["cat"]  # dim 1: axis 0
    assert line["interpolate"].endswith("scale_factor: 2}")  # torch keeps 2.0
    assert line["avg_pool2d"].endswith("kernel_size: 3, stride: 1, padding: 1}")  # a stride other than the kernel
    assert "{type: adaptiveavgpool2d, name: adaptive_avg_pool2d, output_size: 1}" in text
    assert "type: dropout, name: head.2, p: 0.2" in line["head.2"]


class Tokens(nn.Module):
    """A token network: patches to tokens, layer norm, GELU MLP, permutes, chunk and split, select and slices."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.norm = nn.LayerNorm(16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))
        self.out = nn.Linear(16, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # N×D tokens
        x = x + self.mlp(self.norm(x))
        a, b = x.chunk(2, dim=2)
        c, _ = torch.split(x, [12, 4], dim=-1)
        x = torch.cat([a * b, c.permute(0, 2, 1).contiguous().permute(0, 2, 1)[:, :, :8]], dim=2)
        first = x[:, 0]
        rest = x[:, 1:].mean(1)
        return self.out(first + rest)


def test_a_token_network_round_trips():
    text = round_trip(Tokens(), (3, 16, 16))
    line = lines_of(text)
    assert line["patch"].endswith("out_channels: 16, kernel_size: 4, stride: 4}")  # a conv's stride is never implied
    assert "type: flatten, name: flatten, start_axis: 1" in line["flatten"]
    assert "axis0: 0, axis1: 1" in line["transpose"]
    assert "type: chunk" in line["chunk"] and "chunks: 2, axis: 1" in line["chunk"]
    assert "sizes: [12, 4], axis: 1" in line["split"]
    assert "inputs: [chunk:0, chunk:1]" in line["mul"].replace('"', "")
    assert "contiguous" not in text  # no layer: the value passes through
    assert "axes: [1, 0]" in line["permute"]
    assert line["select"] == "  - {type: select, name: select, index: 0}"  # x[:, 0]
    assert line["slice"] == "  - {type: slice, name: slice, axis: 1, stop: 8}"  # [:, :, :8]
    assert line["slice_1"] == "  - {type: slice, name: slice_1, inputs: cat, start: 1}"  # x[:, 1:]
    assert "type: mean" in line["mean"] and "axes: [0]" in line["mean"]


class Views(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        x = F.leaky_relu(self.conv(x), 0.1)
        return torch.softmax(self.fc(x.view(x.size(0), -1)), dim=1)


def test_a_view_of_the_batch_and_the_rest_is_a_flatten():
    text = round_trip(Views(), (2, 8, 8))
    assert "{type: flatten, name: view}" in text and "size" not in lines_of(text)
    assert "negative_slope: 0.1" in text and "{type: softmax, name: softmax}" in text  # dim 1: axis 0, the default


def test_other_ranks_round_trip():
    one = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ELU(), nn.MaxPool1d(2), nn.AdaptiveAvgPool1d(2))
    three = nn.Sequential(nn.Conv3d(1, 2, 3, stride=(1, 2, 2)), nn.ReLU6(), nn.AvgPool3d(2), nn.Flatten(), nn.Linear(2 * 9, 2))
    assert round_trip(one, (2, 16)).splitlines()[-2:] == [
        '  - {type: maxpool1d, name: "3", kernel_size: 2}',  # a number is a name here, so quoted
        '  - {type: adaptiveavgpool1d, name: "4", output_size: 2}',
    ]
    assert "kernel_size: 3, stride: [1, 2, 2]}" in round_trip(three, (1, 20, 8, 8))


# --- honest failures ---


class Constant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.body(x))


def test_an_op_without_a_kind_names_node_op_module_and_line():
    with pytest.raises(UnsupportedOp) as info:
        archspec.from_torch(Constant(), (3, 8, 8))
    error = info.value
    assert isinstance(error, archspec.ArchspecError)
    assert (error.node, error.op, error.module) == ("prelu", "torch.prelu", "act")  # PReLU has no kind: traced into
    line = inspect.getsourcelines(Constant.forward)[1] + 1  # the model's own line that calls it (torch's are skipped)
    assert str(error) == "cannot import graph node `prelu` (torch.prelu) in module `act`: it has no layer kind in archspec\n" + (
        f"    at {__file__}:{line}"
    )


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x) + 2  # no kind adds a constant


def test_a_constant_operand_is_refused_with_the_source_line():
    with pytest.raises(UnsupportedOp) as info:
        archspec.from_torch(Scaled(), (3, 8, 8))
    line = inspect.getsourcelines(Scaled.forward)[1] + 1
    message = str(info.value)
    assert "graph node `add` (_operator.add) in the top-level forward" in message
    assert "takes the constant 2" in message
    assert f"test_importer.py:{line}" in message


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


def test_a_module_called_twice_shares_weights_and_is_refused():
    with pytest.raises(UnsupportedOp, match="called twice, which shares its weights"):
        archspec.from_torch(Shared(), (4, 8, 8))


def test_partial_writes_the_spec_up_to_the_op_with_a_comment():
    text = archspec.from_torch(Scaled(), (3, 8, 8), partial=True)
    *_, last, stop, where = text.splitlines()
    assert last == "  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3}"
    assert stop.startswith("  # stopped here: cannot import graph node `add`")
    assert where.startswith("  #     at ") and "test_importer.py:" in where
    assert archspec.analyze(archspec.loads(text)).output_shape == (4, 6, 6)


class Padded(nn.Module):
    """The ops of HGNet's stem (F.pad), EfficientFormer's pooling mixer (pool minus its input), attention's
    constant scale and ResNeSt's sum of its radix groups."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 2)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.gate = nn.Conv2d(4, 4, 1)
        self.edge = nn.ZeroPad2d((1, 0, 2, 0))

    def forward(self, x):
        x = self.conv(F.pad(x, (0, 1, 0, 1)))  # a row below, a column to the right
        x = self.pool(x) - x
        x = F.pad(x, (2, 2, 2, 2), mode="reflect")
        groups = self.edge(x).reshape(x.shape[0], 2, 4, 15, 14).sum(dim=1)  # the module's F.pad, then two groups summed
        q = groups * 0.125
        return torch.sub(2 * q, self.gate(groups).sum(dim=(2, 3), keepdim=True))


def test_pad_sub_scale_and_sum_round_trip():
    text = round_trip(Padded(), (3, 9, 9))
    line = lines_of(text)
    assert line["pad"] == "  - {type: pad, name: pad, padding: [[0, 1], [0, 1]]}"  # torch's (0, 1, 0, 1): W, then H
    assert line["sub"] == "  - {type: sub, name: sub, inputs: [pool, conv]}"
    assert line["pad_1"] == "  - {type: pad, name: pad_1, padding: 2, mode: reflect}"
    assert line["edge.pad"] == "  - {type: pad, name: edge.pad, padding: [[2, 0], [1, 0]]}"  # (left 1, top 2)
    assert line["sum"] == "  - {type: sum, name: sum, axes: [0]}"
    assert line["mul"] == "  - {type: scale, name: mul, factor: 0.125}"
    assert line["mul_1"] == "  - {type: scale, name: mul_1, factor: 2}"  # the number first
    assert line["sum_1"] == "  - {type: sum, name: sum_1, axes: [1, 2], keepdim: true}"
    assert line["sub_1"] == "  - {type: sub, name: sub_1, inputs: [mul_1, sum_1]}"


class Pads(nn.Module):
    def __init__(self, pad: tuple[int, ...], mode: str = "constant") -> None:
        super().__init__()
        self.pad, self.mode = pad, mode

    def forward(self, x):
        return F.pad(x, self.pad, mode=self.mode)


def test_a_pad_of_nothing_is_no_layer_and_one_a_kind_cannot_state_is_refused():
    assert "type: pad" not in archspec.from_torch(nn.Sequential(nn.Conv2d(3, 4, 1), Pads((0, 0, 0, 0))), (3, 5, 5))
    line = lines_of(round_trip(Pads((1, 2), "circular"), (2, 6)))  # a C×L sequence, wrapped around
    assert line["pad"] == "  - {type: pad, name: pad, padding: [[1, 2]], mode: circular}"
    with pytest.raises(UnsupportedOp, match=re.escape("(torch.nn.functional.pad) in the top-level forward: it crops")):
        archspec.from_torch(Pads((1, -1)), (2, 5, 5))
    with pytest.raises(UnsupportedOp, match="it pads the batch or channel axis"):
        archspec.from_torch(Pads((0, 0, 0, 0, 1, 1)), (2, 5, 5))


class Sums(nn.Module):
    def forward(self, x):
        return x - x.sum()


def test_a_sum_over_the_batch_axis_is_refused():
    with pytest.raises(UnsupportedOp, match=re.escape("(Tensor.sum) in the top-level forward: it sums over the batch axis too")):
        archspec.from_torch(Sums(), (2, 5, 5))


# --- the command line ---

MODEL_FILE = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x).mean((2, 3), keepdim=True), 1){tail})
"""


def test_cli_imports_a_file_and_refuses_an_op_with_exit_1(tmp_path, capsys):
    (tmp_path / "net.py").write_text(MODEL_FILE.replace("{tail}", ""))
    out = tmp_path / "net.yaml"
    assert main(["import", f"{tmp_path / 'net.py'}:Net", "--input", "3x8x8", "-o", str(out)]) == 0
    spec = archspec.load(out)
    assert [layer.name for layer in spec.layers] == ["conv", "mean", "flatten", "fc"]
    (tmp_path / "bad.py").write_text(MODEL_FILE.replace("{tail}", " - 1"))
    capsys.readouterr()
    assert main(["import", f"{tmp_path / 'bad.py'}:Net", "--input", "3x8x8"]) == 1
    err = capsys.readouterr().err
    assert "cannot import graph node `sub`" in err and "bad.py:12" in err and "Traceback" not in err


def test_cli_refuses_a_reference_that_is_no_model(capsys):
    assert main(["import", "torchvision.models:nothing_here", "--input", "3x8x8"]) == 2
    assert "torchvision.models has no callable `nothing_here`" in capsys.readouterr().err


# --- torchvision ---


@pytest.mark.parametrize(
    ("name", "size"),
    [("resnet18", 64), ("alexnet", 64), ("vgg11", 32), ("mobilenet_v2", 64), ("squeezenet1_0", 64)],
)
def test_torchvision_models_round_trip(name, size):
    text = round_trip(torchvision.models.get_model(name, weights=None), (3, size, size), blocks=True)
    assert ("blocks:" in text) == (name in ("resnet18", "mobilenet_v2", "squeezenet1_0"))  # Fire modules repeat too


def test_resnet18_keeps_torchvisions_names():
    text = archspec.from_torch(torchvision.models.resnet18(weights=None), (3, 64, 64))
    line = lines_of(text)
    assert line["layer2.0.downsample.0"] == (
        "  - {type: conv2d, name: layer2.0.downsample.0, inputs: layer1.1.relu_1, out_channels: 128, kernel_size: 1,"
        " stride: 2, bias: false}"
    )
    assert line["layer1.0.add"] == "  - {type: add, name: layer1.0.add, inputs: [layer1.0.bn2, maxpool]}"
    assert len(line) == 70  # 60 modules, ReLU called twice in each of 8 blocks, 8 adds, one flatten (hand count: 62+8)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "alexnet", "vgg11", "mobilenet_v2", "squeezenet1_0", "googlenet"])
def test_torchvision_models_round_trip_at_224(name):
    # GoogLeNet's auxiliary classifiers run only in training: without them, as the evaluation graph has none
    extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    round_trip(torchvision.models.get_model(name, weights=None, **extra), (3, 224, 224))


# --- torchvision's own layers: learned tensors, attention, channels-last norms, dense concatenation ---


def test_a_small_vision_transformer_round_trips():
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )
    line = lines_of(round_trip(vit, (3, 32, 32)))
    assert line["class_token"] == "  - {type: parameter, name: class_token, shape: [1, 16], batch_axis: true}"
    assert line["encoder.pos_embedding"].endswith("shape: [17, 16], batch_axis: true}")  # drawn at random: no value
    assert line["encoder.layers.encoder_layer_0.self_attention"] == (
        "  - {type: multihead_attention, name: encoder.layers.encoder_layer_0.self_attention, num_heads: 2}"
    )
    assert line["cat"] == "  - {type: concat, name: cat, inputs: [class_token, permute]}"  # dim 1: axis 0, the default
    assert line["select"] == "  - {type: select, name: select, index: 0}"  # x[:, 0]


def test_a_small_convnext_round_trips():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    net = ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1)
    text = round_trip(net, (3, 32, 32))
    line = lines_of(text)
    assert "defaults:\n  layernorm: {eps: 1.0e-06}\n" in text  # every layer norm's eps, written once
    assert line["features.0.1"] == "  - {type: layernorm, name: features.0.1, over: channels}"  # torchvision's LayerNorm2d
    assert line["features.1.0.layer_scale"].endswith("shape: [16, 1, 1], value: 1.0e-06}")
    assert line["features.1.0.block.1"].endswith("axes: [1, 2, 0]}")  # torchvision's Permute([0, 2, 3, 1])


def test_a_small_densenet_round_trips():
    net = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2)
    text = round_trip(net, (3, 32, 32))
    line = lines_of(text)
    assert "features.denseblock1.denselayer1.cat" not in line  # torch.cat of one tensor: no layer
    assert "inputs: [features.pool0, features.denseblock1.denselayer1.conv2]" in line["features.denseblock1.denselayer2.cat"]


class Crossed(nn.Module):
    """Attention of the embedded tokens to another embedding of them: not self-attention."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.other = nn.Linear(4, 8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        q, kv = self.embed(x), self.other(x)
        return self.attention(q, kv, kv, need_weights=False)[0]


def test_attention_between_different_inputs_is_refused():
    with pytest.raises(UnsupportedOp, match=r"`attention` \(module MultiheadAttention\).*different query, key and value"):
        archspec.from_torch(Crossed(), (5, 4))


def test_a_small_swin_transformer_round_trips_with_torchvisions_names():
    net = torchvision.models.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4], num_classes=10
    )
    line = lines_of(round_trip(net, (3, 32, 32)))
    assert line["features.1.1.attn"] == (
        "  - {type: window_attention, name: features.1.1.attn, num_heads: 2, window_size: 4, shift_size: 2}"
    )
    assert line["features.2.merge"] == "  - {type: patch_merging, name: features.2.merge}"  # PatchMerging's own step
    assert line["features.2.norm"] == "  - {type: layernorm, name: features.2.norm}"  # then its children
    assert line["features.2.reduction"] == "  - {type: linear, name: features.2.reduction, out_features: 32, bias: false}"


# --- every torchvision classification builder (slow: 80 models, some of them large) ---

#: builders refused today, with what the refusal says (the README's coverage table gives the reasons)
REFUSED = {
    "maxvit_t": re.escape(
        "`einsum` (torch.functional.einsum) in module `blocks.0.layers.0.layers.window_attention.attn_layer.1`: it has no layer kind"
    ),
    **dict.fromkeys(["swin_v2_t", "swin_v2_s", "swin_v2_b"], "relative_coords_table` .*: it is a buffer or constant tensor"),
}


def _input(name: str) -> tuple[int, int, int]:
    size = 299 if name == "inception_v3" else 224 if name.startswith(("vit", "swin", "maxvit")) else 96
    return (3, size, size)


@pytest.mark.slow
@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_every_torchvision_classifier_round_trips_or_is_refused_precisely(name):
    # the auxiliary classifiers of GoogLeNet and Inception run only in training; the evaluation graph has none
    extra = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **extra)
    if name in REFUSED:
        with pytest.raises(UnsupportedOp, match=REFUSED[name]):
            archspec.from_torch(model, _input(name))
    else:
        round_trip(model, _input(name), blocks=True)  # the folded spec when it expands to the flat one, else the flat


# --- segmentation and video builders ---


def test_a_segmentation_model_imports_its_out_and_resizes_to_the_image():
    model = torchvision.models.get_model("lraspp_mobilenet_v3_large", weights=None, weights_backbone=None)
    text = round_trip(model, (3, 64, 64))
    assert text.startswith('# imported from PyTorch\n# the output is the model\'s ["out"] (it returns a dict of one tensor)\n')
    line = lines_of(text)
    # F.interpolate(x, size=y.shape[-2:]): the size of the 1/8 features, then of the image, as the bundled spec has it
    assert line["classifier.interpolate"] == (
        "  - {type: upsample, name: classifier.interpolate, inputs: [classifier.mul, backbone.4.block.3.1], mode: bilinear,"
        " align_corners: false}"
    )
    assert line["interpolate"] == (
        "  - {type: upsample, name: interpolate, inputs: [classifier.add, input], mode: bilinear, align_corners: false}"
    )
    # so the spec stays the model at another input size: torch's output at 96x96 after loading its weights by name
    report = archspec.analyze(archspec.loads(text.replace("input: [3, 64, 64]", "input: [3, 96, 96]")))
    assert report.ok and report.output_shape == (21, 96, 96)
    built = archspec.load_weights(archspec.build(report), model.state_dict()).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(built(x), model.eval()(x)["out"], atol=1e-5, rtol=0)


def test_a_video_resnet_round_trips_with_3d_convolutions():
    text = round_trip(torchvision.models.video.r3d_18(weights=None), (3, 4, 32, 32))
    line = lines_of(text)
    assert line["stem.0"] == (
        "  - {type: conv3d, name: stem.0, out_channels: 64, kernel_size: [3, 7, 7], stride: [1, 2, 2], padding: [1, 3, 3],"
        " bias: false}"
    )
    # torchvision's Conv3DSimple: a Conv3d under another name, so a conv3d layer of the same path
    assert line["layer2.0.conv1.0"] == (
        "  - {type: conv3d, name: layer2.0.conv1.0, out_channels: 128, kernel_size: 3, stride: 2, padding: 1, bias: false}"
    )


class Doubled(nn.Conv2d):
    """A torch layer subclassed to compute something else: its convolution doubled."""

    def _conv_forward(self, x, weight, bias):
        return 2 * super()._conv_forward(x, weight, bias)


def test_a_subclass_that_changes_a_torch_layer_is_not_read_as_that_layer(monkeypatch):
    monkeypatch.setattr(Doubled, "__module__", "torchvision.models.example")  # where Conv3DSimple is a conv3d
    with pytest.raises(UnsupportedOp, match=r"`conv2d` \(torch.conv2d\) in module `0`: it has no layer kind"):
        archspec.from_torch(nn.Sequential(Doubled(3, 4, 3)), (3, 8, 8))  # traced into: no conv2d layer


class Heads(nn.Module):
    """A segmentation model with an auxiliary head that runs in evaluation too: two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.out, self.aux = nn.Conv2d(4, 2, 1), nn.Conv2d(4, 2, 1)

    def forward(self, x):
        x = self.body(x)
        return {"out": self.out(x), "aux": self.aux(x)}


def test_a_segmentation_reference_is_built_without_downloading_its_backbone(tmp_path, monkeypatch, capsys):
    # torchvision's segmentation builders load an ImageNet backbone unless given weights_backbone=None
    def download(url, *args, **kwargs):
        raise AssertionError(f"downloads {url}")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", download)
    out = tmp_path / "seg.yaml"
    ref = "torchvision.models.segmentation:lraspp_mobilenet_v3_large"
    assert main(["import", ref, "--input", "3x32x32", "-o", str(out)]) == 0, capsys.readouterr().err
    head = out.read_text().splitlines()[:2]
    assert head == [f"# imported from {ref}", """# the output is the model's ["out"] (it returns a dict of one tensor)"""]


def test_a_dict_of_several_outputs_is_refused_with_its_keys():
    with pytest.raises(UnsupportedOp) as info:
        archspec.from_torch(Heads(), (3, 8, 8))
    assert str(info.value) == (
        "cannot import graph node `output` (output) in the top-level forward: the model returns a dict of 2 outputs"
        " (`out`, `aux`); a spec has one"
    )


class TrainingHead(Heads):
    """The auxiliary head only in training: evaluation returns None for it."""

    def forward(self, x):
        x = self.body(x)
        return {"out": self.out(x), "aux": self.aux(x) if self.training else None}


def test_a_head_that_only_training_runs_is_no_output():
    model = TrainingHead().eval()
    text = archspec.from_torch(model, (3, 8, 8))
    assert text.splitlines()[1:3] == [
        """# the output is the model's ["out"] (it returns a dict of one tensor)""",
        "# not imported: aux, never called in evaluation (their tensors are no weights of this spec)",
    ]
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("aux.")}
    built = archspec.load_weights(archspec.build(archspec.analyze(archspec.loads(text))), weights).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(built(x), model(x)["out"], atol=1e-5, rtol=0)


def test_heads_that_only_training_calls_are_named_and_are_no_weights_of_the_spec():
    # GoogLeNet with its auxiliary classifiers: evaluation never calls them, so the spec has no layer for them
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False).eval()
    text = archspec.from_torch(model, (3, 64, 64))
    assert "\n# not imported: aux1, aux2, never called in evaluation (their tensors are no weights of this spec)\n" in text
    built = archspec.build(archspec.analyze(archspec.loads(text)))
    extra = r"(?s)tensor\(s\) of torchvision's weights that the model does not have:.*`aux1\.conv\.conv\.weight`"
    with pytest.raises(archspec.ArchspecError, match=extra):
        archspec.load_weights(built, model.state_dict())
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith(("aux1.", "aux2."))}
    archspec.load_weights(built, weights).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(built(x), model(x), atol=1e-5, rtol=0)


class Dropped(nn.Module):
    """A convolution and F.dropout called as ``drop`` says."""

    def __init__(self, drop) -> None:
        super().__init__()
        self.conv, self.drop = nn.Conv2d(3, 4, 3), drop

    def forward(self, x):
        return self.drop(self, self.conv(x))


def test_dropout_that_drops_in_evaluation_is_refused():
    # F.dropout's `training` defaults to True: without `self.training` it drops in evaluation, unlike a dropout layer
    for drop in (lambda m, x: F.dropout(x, 0.2), lambda m, x: F.dropout(x, p=0.5, training=True)):
        with pytest.raises(UnsupportedOp, match=r"`dropout` \(torch.nn.functional.dropout\).*it drops values in evaluation too"):
            archspec.from_torch(Dropped(drop), (3, 8, 8))
    text = round_trip(Dropped(lambda m, x: F.dropout(x, 0.2, m.training)), (3, 8, 8))
    assert lines_of(text)["dropout"] == "  - {type: dropout, name: dropout, p: 0.2}"
    assert "type: dropout" not in round_trip(Dropped(lambda m, x: F.dropout(x, 0.0)), (3, 8, 8)).split("name: conv")[0]


#: builder: (input, what the refusal says, or None for one that round-trips); the README's table gives the reasons.
#: Segmentation models are built without an ImageNet backbone and without aux_loss (its default then): one output.
SEGMENTATION_AND_VIDEO = {
    **dict.fromkeys(torchvision.models.list_models(module=torchvision.models.segmentation), ((3, 64, 64), None)),
    **dict.fromkeys(["r3d_18", "mc3_18", "r2plus1d_18"], ((3, 8, 64, 64), None)),
    "s3d": ((3, 16, 224, 224), None),  # its last pool is 2x7x7 over a 1/8 x 1/32 map
    **dict.fromkeys(
        ["mvit_v1_b", "mvit_v2_s"],  # positions learned for 16x224x224 only
        ((3, 16, 224, 224), "`_unsqueeze` (torchvision.models.video.mvit._unsqueeze) in the top-level forward: it has no"),
    ),
    **dict.fromkeys(
        ["swin3d_t", "swin3d_s", "swin3d_b"],
        ((3, 8, 64, 64), "(features.0.0.attn.relative_position_index) in module `features.0.0.attn`: it is a buffer or constant"),
    ),
}


def test_the_segmentation_and_video_table_lists_every_builder():
    listed = torchvision.models.list_models(module=torchvision.models.segmentation)
    listed += torchvision.models.list_models(module=torchvision.models.video)
    assert sorted(SEGMENTATION_AND_VIDEO) == sorted(listed)


@pytest.mark.slow
@pytest.mark.parametrize("name", SEGMENTATION_AND_VIDEO)
def test_every_segmentation_and_video_builder_round_trips_or_is_refused_precisely(name):
    shape, refusal = SEGMENTATION_AND_VIDEO[name]
    segmentation = name in torchvision.models.list_models(module=torchvision.models.segmentation)
    backbone = {"weights_backbone": None} if segmentation else {}  # no ImageNet backbone to download
    model = torchvision.models.get_model(name, weights=None, **backbone)
    if refusal is None:
        round_trip(model, shape, blocks=True)
    else:
        with pytest.raises(UnsupportedOp, match=re.escape(refusal)):
            archspec.from_torch(model, shape)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_mobilenet_v3_large"])
def test_a_segmentation_model_with_its_auxiliary_head_is_refused(name):
    # aux_loss=True: the auxiliary head runs in evaluation too and is a second output
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, aux_loss=True)
    with pytest.raises(UnsupportedOp, match=re.escape("the model returns a dict of 2 outputs (`out`, `aux`); a spec has one")):
        archspec.from_torch(model, (3, 64, 64))


def test_describe_imports_a_model_reference_with_the_bundled_specs_figures(capsys):
    specs = Path(__file__).resolve().parent.parent / "specs"
    assert main(["describe", str(specs / "resnet18.yaml"), "--format", "json"]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert main(["describe", "torchvision.models:resnet18", "--format", "json"]) == 0  # at 3x224x224, the default
    imported = json.loads(capsys.readouterr().out)
    assert imported["name"] == "resnet18" and imported["input_shape"] == [3, 224, 224]
    for key in ("params", "macs", "buffers"):
        assert imported["totals"][key] == bundled["totals"][key]
    assert bundled["totals"]["params"] == 11_689_512  # torchvision's published count


def test_describe_of_a_model_file_imports_it_and_an_op_without_a_kind_exits_1(tmp_path, capsys):
    (tmp_path / "net.py").write_text(MODEL_FILE.replace("{tail}", ""))
    (tmp_path / "bad.py").write_text(MODEL_FILE.replace("{tail}", " - 1"))
    assert main(["describe", f"{tmp_path / 'net.py'}:Net", "--input", "3x8x8", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["params"] == 3 * 4 * 9 + 4 + 4 * 2 + 2
    assert main(["describe", f"{tmp_path / 'bad.py'}:Net", "--input", "3x8x8"]) == 1
    assert "cannot import graph node `sub`" in capsys.readouterr().err


def test_lint_and_diagram_import_a_model_reference(tmp_path, capsys):
    (tmp_path / "net.py").write_text(MODEL_FILE.replace("{tail}", ""))
    (tmp_path / "bad.py").write_text(MODEL_FILE.replace("{tail}", " - 1"))
    net, bad = f"{tmp_path / 'net.py'}:Net", f"{tmp_path / 'bad.py'}:Net"
    assert main(["lint", net, "--input", "3x8x8", "--format", "json"]) == 0  # a warning: exit 0
    (finding,) = json.loads(capsys.readouterr().out)
    assert (finding["code"], finding["path"]) == ("W404", net)  # a 3x3 field pooled over the whole 8x8 input
    assert "the receptive field at `conv` is 3×3, smaller than the 8×8 input" in finding["message"]
    assert main(["lint", bad, "--input", "3x8x8"]) == 1
    assert "cannot import graph node `sub`" in capsys.readouterr().err
    assert main(["diagram", net, "--input", "3x8x8", "-o", "-"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("// archspec diagram of net") and "flatten -> fc [label=4]" in dot


# --- repeated submodules as blocks ---

RESNET18_BLOCKS = """\
blocks:
  basicblock:
    params: {out_channels: null, stride: 1, downsample: false}
    layers:
      - {type: conv2d, name: conv1, out_channels: $out_channels, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - {type: batchnorm2d, name: bn1}
      - {type: relu, name: relu}
      - {type: conv2d, name: conv2, out_channels: $out_channels, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm2d, name: bn2}
      - {type: conv2d, name: downsample.0, inputs: input, out_channels: $out_channels, kernel_size: 1, stride: 2, bias: false, when: $downsample}
      - {type: batchnorm2d, name: downsample.1, when: $downsample}
      - {type: add, name: add, inputs: [bn2, downsample.1]}
      - {type: relu, name: relu_1}
layers:
"""

RESNET18_CALLS = """\
  - {type: basicblock, name: layer1, repeat: 2, out_channels: 64}
  - {type: basicblock, name: layer2, repeat: 2, out_channels: 128, first: {stride: 2, downsample: true}}
"""


def test_resnet18_with_blocks_round_trips_as_one_repeated_basic_block():
    """The blocks without a projection are the block with it left out (`when: false`, the add then reading the
    block's input): one block, and each stage one call with the first instance's values under `first:`; the
    parameters with a kind's default (stride 1, no projection) are left out of the calls."""
    text = round_trip(torchvision.models.resnet18(weights=None), (3, 64, 64), blocks=True)
    assert RESNET18_BLOCKS in text and RESNET18_CALLS in text
    # 4 header lines, blocks: 1 + 12, layers: 1 + 4 + 4 block calls + 3 (flat: 4 + 1 + 70 layers); the bundled spec: 25
    assert len(text.splitlines()) == 29


def test_blocks_of_a_vision_transformer_are_its_encoder_layers():
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )
    text = round_trip(vit, (3, 32, 32), blocks=True)
    assert "blocks:\n  encoderblock:\n    layers:\n      - {type: layernorm, name: ln_1}\n" in text  # nothing varies
    for k in range(3):
        assert f"  - {{type: encoderblock, name: encoder.layers.encoder_layer_{k}}}\n" in text


def test_a_model_without_repeated_submodules_stays_flat():
    assert archspec.from_torch(Convs(), (3, 32, 32), blocks=True) == archspec.from_torch(Convs(), (3, 32, 32))


def expanded(text: str) -> list[tuple[object, ...]]:
    """Each layer of a spec once its blocks are expanded: name, kind, inputs, shape and every field."""
    report = archspec.analyze(archspec.loads(text))
    assert report.ok, [d.format() for d in report.diagnostics]
    return [(i.name, i.type, i.inputs, i.output_shape, i.layer.model_dump(exclude={"name", "inputs"})) for i in report.layers]


def folded_and_flat(model: nn.Module, shape: tuple[int, ...]) -> tuple[str, dict[str, object]]:
    """The spec with blocks, proved by round trip and equal layer for layer to the flat import; and its layers by
    name, expanded."""
    text = round_trip(model, shape, blocks=True)
    assert "blocks:" in text
    layers = expanded(text)
    assert layers == expanded(archspec.from_torch(model, shape))
    return text, {name: (kind, inputs, out, fields) for name, kind, inputs, out, fields in layers}


def test_resnet50_blocks_take_a_width_and_derive_the_output_channels():
    """torchvision's Bottleneck: conv1 and conv2 are `planes` wide, conv3 (and the projection) give planes * 4; the
    stride sits on conv2 and the projection, 1 (left out) in layer1.0."""
    text, layer = folded_and_flat(torchvision.models.resnet50(weights=None), (3, 64, 64))
    assert "    params: {width: null, stride: 1, downsample: false}\n" in text
    assert "      - {type: conv2d, name: conv2, out_channels: $width, kernel_size: 3, stride: $stride, padding: 1," in text
    assert '      - {type: conv2d, name: conv3, out_channels: "${width * 4}", kernel_size: 1, bias: false}\n' in text
    assert 'name: downsample.0, inputs: input, out_channels: "${width * 4}", kernel_size: 1, stride: $stride,' in text
    assert "  - {type: bottleneck, name: layer1, repeat: 3, width: 64, first: {downsample: true}}\n" in text
    assert "  - {type: bottleneck, name: layer2, repeat: 4, width: 128, first: {stride: 2, downsample: true}}\n" in text
    assert "  - {type: bottleneck, name: layer4, repeat: 3, width: 512, first: {stride: 2, downsample: true}}\n" in text
    # by hand from torchvision's source: layer2 is 128 wide with 512 out, its first block strided (at 64×64: 16 to 8)
    assert layer["layer2.0.conv2"][2] == (128, 8, 8) and layer["layer2.0.conv2"][3]["stride"] == (2, 2)
    assert layer["layer2.0.conv3"][2] == (512, 8, 8) and layer["layer2.0.downsample.0"][2] == (512, 8, 8)
    assert layer["layer2.3.conv1"][2] == (128, 8, 8) and layer["layer2.3.conv2"][3]["stride"] == (1, 1)
    assert layer["layer1.0.downsample.0"][2] == (256, 16, 16) and layer["layer1.0.downsample.0"][3]["stride"] == (1, 1)
    assert len(text.splitlines()) == 32  # 180 flat; the bundled hand-written spec has 37


def test_resnet18_blocks_take_the_output_channels():
    """BasicBlock's two convolutions and its projection all give the block's output channels (`planes`)."""
    _, layer = folded_and_flat(torchvision.models.resnet18(weights=None), (3, 64, 64))
    assert layer["layer3.0.conv1"][2] == (256, 4, 4) and layer["layer3.0.conv1"][3]["stride"] == (2, 2)
    assert layer["layer3.0.downsample.0"][2] == (256, 4, 4) and layer["layer3.1.conv2"][2] == (256, 4, 4)


MOBILENET_V2_BLOCKS = """\
  invertedresidual:
    layers:
      - {type: conv2d, name: conv.0.0, out_channels: "${in.channels * 6}", kernel_size: 1, bias: false}
      - {type: batchnorm2d, name: conv.0.1}
      - {type: relu6, name: conv.0.2}
      - {type: conv2d, name: conv.1.0, out_channels: "${in.channels * 6}", kernel_size: 3, padding: 1, groups: depthwise, bias: false}
      - {type: batchnorm2d, name: conv.1.1}
      - {type: relu6, name: conv.1.2}
      - {type: conv2d, name: conv.2, out_channels: "${in.channels}", kernel_size: 1, bias: false}
      - {type: batchnorm2d, name: conv.3}
      - {type: add, name: add, inputs: [input, conv.3]}
  invertedresidual_2:
    params: {stride: 1, out_channels: null}
"""


def test_mobilenet_v2_blocks_expand_their_input_six_times():
    """torchvision's inverted_residual_setting: after the first block every one expands its input 6 times; those with
    a skip keep their channels, the others (the first of each row) take `c` and `s`."""
    text, layer = folded_and_flat(torchvision.models.mobilenet_v2(weights=None), (3, 64, 64))
    assert MOBILENET_V2_BLOCKS in text
    assert "  - {type: invertedresidual_2, name: features.2, stride: 2, out_channels: 24}\n" in text  # t=6, c=24, s=2
    assert "  - {type: invertedresidual, name: features.3}\n" in text
    assert "  - {type: invertedresidual_2, name: features.11, out_channels: 96}\n" in text  # t=6, c=96, s=1
    assert layer["features.2.conv.1.0"][2] == (96, 16, 16)  # 16 * 6, strided
    assert layer["features.3.conv.0.0"][2] == (144, 16, 16) and layer["features.3.conv.2"][2] == (24, 16, 16)
    assert layer["features.17.conv.0.0"][2] == (960, 2, 2) and layer["features.17.conv.2"][2] == (320, 2, 2)


def test_convnext_blocks_derive_every_width_from_their_input():
    """A learned tensor of the input's channels, the MLP four times as wide: nothing left to pass but the drop rate."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    net = ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1)
    text, layer = folded_and_flat(net, (3, 32, 32))
    assert '      - {type: parameter, name: layer_scale, shape: ["${in.channels}", 1, 1], value: 1.0e-06}\n' in text
    assert '      - {type: linear, name: block.3, out_features: "${in.channels * 4}"}\n' in text
    assert layer["features.3.0.layer_scale"][2] == (32, 1, 1) and layer["features.3.0.block.3"][2] == (4, 4, 128)


class Stage(nn.Module):
    """Three convolutions whose widths follow from nothing: each count a parameter of its own."""

    def __init__(self, cin: int, expand: int, mix: int, k: int, cout: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(cin, expand, 1)
        self.mix = nn.Conv2d(expand, mix, k, padding=k // 2)
        self.project = nn.Conv2d(mix, cout, 1)

    def forward(self, x):
        return self.project(torch.relu(self.mix(torch.relu(self.expand(x)))))


class Stages(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Stage(3, 5, 7, 3, 4), Stage(4, 6, 11, 5, 8))

    def forward(self, x):
        return self.blocks(x)


def test_two_widths_of_a_block_are_named_after_their_layers_and_a_padding_follows_its_kernel():
    text, layer = folded_and_flat(Stages(), (3, 16, 16))
    assert (
        "  stage:\n"
        "    params: {expand_out_channels: null, mix_out_channels: null, kernel_size: null, out_channels: null}\n"
        "    layers:\n"
        "      - {type: conv2d, name: expand, out_channels: $expand_out_channels, kernel_size: 1}\n"
        "      - {type: relu, name: relu}\n"
        '      - {type: conv2d, name: mix, out_channels: $mix_out_channels, kernel_size: $kernel_size, padding: "${kernel_size // 2}"}\n'
    ) in text
    assert (
        "  - {type: stage, name: blocks, repeat: 2, expand_out_channels: 6, mix_out_channels: 11, kernel_size: 5, out_channels: 8,"
        " first: {expand_out_channels: 5, mix_out_channels: 7, kernel_size: 3, out_channels: 4}}\n"
    ) in text
    assert layer["blocks.1.mix"][3]["padding"] == (2, 2) and layer["blocks.0.mix"][3]["padding"] == (1, 1)


def test_a_block_begins_at_its_submodules_first_layer():
    """ShuffleNetV2's blocks with a skip split their input (`chunk`, read as `chunk:1`): they stay flat, and their
    channel shuffle at the end, which alone would read one layer from outside, is no block of its own. The strided
    blocks are: both branches as wide as the input (24, 48, 96 in x0.5), the shuffle a reshape of the halved map."""
    text, layer = folded_and_flat(torchvision.models.shufflenet_v2_x0_5(weights=None), (3, 64, 64))
    assert '      - {type: reshape, name: view, shape: [2, "${in.channels}", "${in.size // 2}", "${in.size // 2}"]}\n' in text
    calls = [line for line in text.splitlines() if line.startswith("  - {type: invertedresidual")]
    assert calls == [f"  - {{type: invertedresidual, name: stage{k}.0}}" for k in (2, 3, 4)]
    assert layer["stage2.0.view"][2] == (2, 24, 8, 8) and layer["stage3.0.branch1.2"][2] == (48, 4, 4)


def test_mobilenet_v3_blocks_name_their_main_width_and_the_squeeze_after_its_layer():
    """torchvision's bneck_conf: expansions of 96, 240, 120 … follow no single ratio, nor do the squeezes
    (make_divisible(expanded // 4, 8)): two widths, the one three layers take `width`, the other by its layer."""
    text, layer = folded_and_flat(torchvision.models.mobilenet_v3_small(weights=None), (3, 64, 64))
    assert "  invertedresidual:\n    params: {width: null, fc1_out_channels: null}\n" in text
    assert "      - {type: conv2d, name: block.2.fc2, out_channels: $width, kernel_size: 1}\n" in text
    # (24, 5, 96, 40, True, "HS", 2, 1) and (40, 5, 240, 40, True, "HS", 1, 1)
    assert (
        "  - {type: invertedresidual_2, name: features.4, width: 96, stride: 2, fc1_out_channels: 24, out_channels: 40}\n" in text
    )
    assert "  - {type: invertedresidual, name: features.5, width: 240, fc1_out_channels: 64}\n" in text
    assert layer["features.5.block.2.fc1"][2] == (64, 1, 1) and layer["features.5.block.3.0"][2] == (40, 4, 4)


class Fused(nn.Module):
    """A projection `block.1` only where the first convolution widens, as torchvision's FusedMBConv."""

    def __init__(self, wide: int | None) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, wide or 4, 3, padding=1), *([nn.Conv2d(wide, 4, 1)] if wide else []))

    def forward(self, x):
        return self.block(x) + x


class FusedStage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stage = nn.Sequential(Fused(8), Fused(None), Fused(12))

    def forward(self, x):
        return self.stage(x)


def test_optional_layers_are_switched_by_the_part_of_their_name_no_other_layer_shares():
    text, layer = folded_and_flat(FusedStage(), (4, 8, 8))
    assert "    params: {width: null, block_1: false}\n" in text
    assert "      - {type: conv2d, name: block.1, out_channels: 4, kernel_size: 1, when: $block_1}\n" in text
    assert "  - {type: fused, name: stage.2, width: 12, block_1: true}\n" in text
    assert layer["stage.1.block.0"][2] == (4, 8, 8) and "stage.1.block.1" not in layer
    assert layer["stage.2.block.0"][2] == (12, 8, 8) and layer["stage.2.block.1"][2] == (4, 8, 8)


# --- timm's layers that subclass torch's: leaves of the trace, a norm's activation a layer after it ---


class TimmNorms(nn.Module):
    """timm's norm layers of each kind, the fused ones with an activation (and a dropout) after the norm."""

    def __init__(self) -> None:
        super().__init__()
        from timm.layers import BatchNormAct2d, GroupNorm1, GroupNormAct, LayerNorm, LayerNorm2d, LayerNormAct2d, Linear

        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = BatchNormAct2d(8, act_layer=nn.SiLU)
        self.bn2 = BatchNormAct2d(8, apply_act=False, eps=1e-3)
        self.bn3 = BatchNormAct2d(8, act_layer=nn.LeakyReLU, act_kwargs={"negative_slope": 0.2}, drop_layer=nn.Dropout)
        self.ln2d = LayerNorm2d(8)
        self.gn1 = GroupNorm1(8)
        self.gn = GroupNormAct(8, num_groups=4, act_layer=nn.GELU)
        self.lna2d = LayerNormAct2d(8, act_layer=nn.Hardswish)
        self.ln = LayerNorm(8)
        self.fc = Linear(8, 5)

    def forward(self, x, attn_mask=None, is_causal: bool = False):  # as timm's ViT: options a call with x alone leaves
        x = self.lna2d(self.gn(self.gn1(self.ln2d(self.bn3(self.bn2(self.bn1(self.conv(x))))))))
        return self.fc(self.ln(x.mean((2, 3))))


def test_timms_norm_layers_round_trip_with_the_activation_a_layer_after_the_norm():
    pytest.importorskip("timm")
    model = TimmNorms()
    for name, tensor in model.state_dict().items():  # random statistics and affine maps: a misread norm shows
        if name.endswith(("running_var", "weight")) and not name.startswith(("conv", "fc")):
            tensor.uniform_(0.5, 1.5)
        elif name.endswith(("running_mean", "bias")) and not name.startswith("fc"):
            tensor.uniform_(-0.5, 0.5)
    text = round_trip(model, (3, 8, 8))
    assert [line.split(",")[0] for line in text.splitlines() if line.startswith("  - ")] == [
        "  - {type: conv2d",
        *("  - {type: batchnorm2d", "  - {type: silu"),  # bn1 then its act
        "  - {type: batchnorm2d",  # bn2: no activation, no layer for its Identity
        *("  - {type: batchnorm2d", "  - {type: dropout", "  - {type: leakyrelu"),
        "  - {type: layernorm",
        "  - {type: groupnorm",
        *("  - {type: groupnorm", "  - {type: gelu"),
        *("  - {type: layernorm", "  - {type: hardswish"),
        "  - {type: mean",
        "  - {type: layernorm",
        "  - {type: linear",
    ]
    line = lines_of(text)
    assert line["bn1_act"] == "  - {type: silu, name: bn1_act}"  # `bn1.act` would make the layer `bn1` a container
    assert line["bn2"] == "  - {type: batchnorm2d, name: bn2, eps: 0.001}"
    assert line["bn3_drop"] == "  - {type: dropout, name: bn3_drop}" and "negative_slope: 0.2" in line["bn3_act"]
    assert line["ln2d"] == "  - {type: layernorm, name: ln2d, eps: 1.0e-06, over: channels}"  # timm's eps, not torch's
    assert line["gn1"].endswith("num_groups: 1}") and line["gn"].endswith("num_groups: 4}")
    assert line["lna2d"] == "  - {type: layernorm, name: lna2d, over: channels}"  # the Act variant keeps torch's eps
    assert "attn_mask" not in text and "is_causal" not in text


def test_a_timm_norm_whose_activation_has_no_kind_is_refused():
    timm_layers = pytest.importorskip("timm.layers")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), timm_layers.BatchNormAct2d(4))
    model[1].act = nn.PReLU()
    with pytest.raises(UnsupportedOp, match=r"node `_1` \(module BatchNormAct2d\) in module `1`: it applies its `act` \(PReLU\)"):
        archspec.from_torch(model, (3, 8, 8))


def test_a_timm_efficientnet_round_trips_with_its_activations_inside_the_blocks():
    timm = pytest.importorskip("timm")
    text = round_trip(timm.create_model("efficientnet_b0", pretrained=False), (3, 64, 64), blocks=True)
    block = text[text.index("  invertedresidual:\n") : text.index("  invertedresidual_2:\n")]
    assert "      - {type: batchnorm2d, name: bn1}\n      - {type: silu, name: bn1_act}\n" in block
    assert "      - {type: batchnorm2d, name: bn3}\n      - {type: identity, name: drop_path}\n" in block  # no activation


class Scaled2d(nn.Module):
    """Layer scales of a vector: PoolFormer's ``scale.view(C, 1, 1)``, ConvNeXt's ``gamma.reshape(1, -1, 1, 1)``,
    and a gate that squashes one (no batch axis in torch's tensor, where archspec's has one of 1)."""

    def __init__(self, squash: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, 4))
        self.gamma = nn.Parameter(torch.linspace(-1.0, 1.0, 4))
        self.squash = squash

    def forward(self, x):
        x = self.conv(x)
        scale = torch.sigmoid(self.scale) if self.squash else self.scale
        return x * scale.view(4, 1, 1) + x.mul(self.gamma.reshape(1, -1, 1, 1))


def test_a_learned_vector_reshaped_to_scale_channels_round_trips():
    text = round_trip(Scaled2d(), (3, 8, 8))
    assert "  - {type: parameter, name: scale, shape: [4]}\n  - {type: reshape, name: view, shape: [4, 1, 1]}\n" in text
    assert "  - {type: parameter, name: gamma, shape: [4]}\n  - {type: reshape, name: reshape, shape: [4, 1, 1]}\n" in text


def test_another_op_on_a_learned_tensor_kept_without_a_batch_axis_is_refused():
    with pytest.raises(UnsupportedOp, match=r"`sigmoid` \(torch.sigmoid\).*takes `scale`, a learned tensor torch keeps without"):
        archspec.from_torch(Scaled2d(squash=True), (3, 8, 8))


class SumFromZero(nn.Module):
    """FastViT's MobileOne block: branches summed onto a 0 that stands for a branch the block lacks."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        out = 0
        for branch in (self.a, self.b):
            out = out + branch(x)
        return out + 0.0


def test_adding_zero_is_no_layer():
    text = round_trip(SumFromZero(), (3, 8, 8))
    assert [line for line in text.splitlines() if "type: add" in line] == ["  - {type: add, name: add, inputs: [a, b]}"]


# --- one small model from each of 44 timm families (slow; randomly initialised, no downloads) ---

#: model: (input side, what the refusal says, or None for a model that round-trips); the README's timm table gives the reasons
TIMM = {
    "resnet10t": (64, None),
    "dla34": (64, None),
    "hrnet_w18_small": (64, None),
    "res2net50_14w_8s": (64, None),
    "selecsls42b": (64, None),
    "mixer_b16_224": (224, None),
    "legacy_seresnet18": (64, None),
    "efficientnet_b0": (64, None),
    "mobilenetv3_small_050": (64, None),
    "convnext_atto": (64, None),
    "regnetx_002": (64, None),
    "ghostnet_100": (64, None),
    "dpn68": (64, None),
    "mobilevit_xxs": (64, "(TraceError) in the top-level forward: torch.fx cannot trace the model"),
    "poolformer_s12": (64, None),
    "rexnet_100": (64, None),
    "repvgg_a0": (64, None),
    "resnest14d": (64, None),
    "vgg11": (64, "(TraceError) in the top-level forward: torch.fx cannot trace the model"),
    "xception41": (64, None),
    "cspresnet50": (64, None),
    "edgenext_xx_small": (64, "(torch.zeros) in module `stages.1.blocks.1.pos_embd`: it has no layer kind"),
    "hardcorenas_a": (64, None),
    "densenet121": (64, None),
    "vit_tiny_patch16_224": (224, "(Tensor.permute) in module `blocks.0.attn`: it moves the batch axis"),
    "deit_tiny_patch16_224": (224, "(Tensor.permute) in module `blocks.0.attn`: it moves the batch axis"),
    "levit_128s": (224, "(Tensor.flatten) in module `stages.0.blocks.0.attn.qkv`: it flattens the batch axis"),
    "pit_ti_224": (224, "(Tensor.permute) in module `transformers.0.blocks.0.attn`: it moves the batch axis"),
    "swin_tiny_patch4_window7_224": (224, "(Tensor.view) in module `layers.0.blocks.0`: it moves values across the batch axis"),
    "efficientformer_l1": (224, "(_operator.matmul) in module `stages.3.blocks.4.token_mixer`: it has no layer kind"),
    "coat_lite_tiny": (224, "(Tensor.permute) in module `serial_blocks1.0.factoratt_crpe`: it moves the batch axis"),
    "crossvit_tiny_240": (240, "(TraceError) in the top-level forward: torch.fx cannot trace the model"),
    "skresnet18": (64, "(torch.stack) in module `layer1.0.conv1`: it has no layer kind"),
    "resnetv2_50": (64, None),
    "nf_resnet26": (64, "(_operator.mul) in module `stem.conv`: it takes "),
    "ese_vovnet19b_dw": (64, None),
    "tresnet_m": (64, "(body.layer2.0.conv1.aa.filt) in module `body.layer2.0.conv1.aa`: it is a buffer or constant tensor"),
    "xcit_nano_12_p16_224": (64, "(torch.arange) in module `pos_embed`: it has no layer kind"),
    "hgnetv2_b0": (64, None),
    "fastvit_t8": (64, None),
    "inception_next_tiny": (64, None),
    "nest_tiny": (64, "(TypeError) in the top-level forward: torch.fx cannot trace the model"),
    "twins_svt_small": (64, "(TraceError) in the top-level forward: torch.fx cannot trace the model"),
    "convit_tiny": (64, "(TraceError) in the top-level forward: torch.fx cannot trace the model"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMM)
def test_a_timm_model_of_each_family_round_trips_or_is_refused_precisely(name):
    timm = pytest.importorskip("timm")
    size, refusal = TIMM[name]
    model = timm.create_model(name, pretrained=False)
    if refusal is None:
        round_trip(model, (3, size, size))
    else:
        with pytest.raises(UnsupportedOp, match=re.escape(refusal)):
            archspec.from_torch(model.eval(), (3, size, size))
