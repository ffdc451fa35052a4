"""The bundled specs under specs/: published parameter counts, output shapes and MACs.

These need no torch: every figure is computed statically by archspec and compared with
the numbers published for the architecture (torchvision's model docs for the ImageNet
models, whose "GFLOPS" column counts multiply-accumulates of conv and linear layers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

SPECS = Path(__file__).resolve().parent.parent / "specs"

# name: (input, params, output shape, GMACs rounded to 2 decimals or None)
PUBLISHED = {
    "alexnet": ([3, 224, 224], 61_100_840, (1000,), 0.71),
    "vgg16": ([3, 224, 224], 138_357_544, (1000,), 15.47),
    "resnet18": ([3, 224, 224], 11_689_512, (1000,), 1.81),
    "resnet50": ([3, 224, 224], 25_557_032, (1000,), 4.09),
    "mobilenet_v2": ([3, 224, 224], 3_504_872, (1000,), 0.30),
    "lenet5": ([1, 32, 32], 61_706, (10,), None),
    "alexnet_original": ([3, 227, 227], 62_378_344, (1000,), None),
    "r3d_18": ([3, 16, 112, 112], 33_371_472, (400,), 40.70),  # torchvision.models.video: 40.70 GFLOPS
    "m5_audio": ([1, 16000], 26_915, (35,), None),  # the PyTorch audio tutorial prints 26915 parameters
    "shufflenet_v2_x1_0": ([3, 224, 224], 2_278_604, (1000,), 0.14),
    "convnext_tiny": ([3, 224, 224], 28_589_128, (1000,), 4.46),
    "fcn_resnet50": ([3, 520, 520], 32_957_013, (21, 520, 520), None),  # torchvision's 152.72 GFLOPS count the aux head
    "unet": ([1, 572, 572], 31_030_658, (2, 388, 388), None),  # Ronneberger et al. 2015, Figure 1
    "unet_small": ([3, 64, 64], 29_715, (11, 64, 64), None),  # 8-16-32 channels: 29,715 counted by hand
    "efficientnet_b0": ([3, 224, 224], 5_288_548, (1000,), 0.39),
    "mobilenet_v3_large": ([3, 224, 224], 5_483_032, (1000,), 0.22),
    "mobilenet_v3_small": ([3, 224, 224], 2_542_856, (1000,), 0.06),
    "regnet_y_400mf": ([3, 224, 224], 4_344_144, (1000,), 0.40),
    "lraspp_mobilenet_v3_large": ([3, 520, 520], 3_221_538, (21, 520, 520), 2.09),  # output `out`
    "vit_b_16": ([3, 224, 224], 86_567_656, (1000,), 17.56),
    "vit_small": ([3, 64, 64], 151_242, (10,), None),  # counted by hand: test_vit_small_params_by_hand
    "swin_t": ([3, 224, 224], 28_288_354, (1000,), 4.49),
}

# MACs to the unit: FlopCounterMode's total / 2 for the reference model on the meta device (torchvision's,
# weights=None; for the U-Net the hand-written module of tests/test_unet.py)
FLOP_COUNTER_MACS = {
    "shufflenet_v2_x1_0": 144_907_992,
    "convnext_tiny": 4_455_531_264,
    "fcn_resnet50": 142_725_772_800,  # aux_loss=False, 3×520×520, output `out`
    "unet": 150_428_424_448,
    "efficientnet_b0": 385_814_752,
    "mobilenet_v3_large": 216_589_760,
    "mobilenet_v3_small": 56_510_400,
    "regnet_y_400mf": 401_842_848,
    "lraspp_mobilenet_v3_large": 2_086_219_688,  # 3×520×520, output `out`
    "vit_b_16": 17_563_828_224,  # attention's Q·Kᵀ and A·V included (on the CPU in eval its fused path hides them)
    "swin_t": 4_490_566_656,  # each window's Q·Kᵀ and A·V included
}

SCHEMA_LINE = "# yaml-language-server: $schema=../archspec.schema.json"


@pytest.fixture(scope="module")
def reports():
    cache: dict[str, archspec.Report] = {}

    def get(name: str) -> archspec.Report:
        if name not in cache:
            cache[name] = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
        return cache[name]

    return get


def _layer(report, name):
    return report.layer(name)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_spec_file_header(name):
    lines = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[0] == SCHEMA_LINE
    assert lines[1].startswith("# ")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_figures(name, reports):
    shape, params, out, gmacs = PUBLISHED[name]
    report = reports(name)
    assert report.ok
    assert list(report.input_shape) == shape
    totals = report.totals()
    assert totals["params"] == params
    assert totals["trainable_params"] == params
    assert tuple(report.output_shape) == out
    if gmacs is not None:
        assert round(totals["macs"] / 1e9, 2) == gmacs


@pytest.mark.parametrize("name", sorted(FLOP_COUNTER_MACS))
def test_macs_equal_flop_counter(name, reports):
    assert reports(name).totals()["macs"] == FLOP_COUNTER_MACS[name]


def test_every_bundled_spec_is_covered():
    assert {p.stem for p in SPECS.glob("*.yaml")} >= set(PUBLISHED)


# --- hand-derived per-layer figures ---


def test_vit_small_params_by_hand(reports):
    d, tokens, hidden, layers = 64, 64, 128, 4  # width D, N = (64/8)² patch tokens, MLP 2·D
    patch_conv = 3 * 8 * 8 * d + d  # 12,352
    class_token = d
    pos_embedding = (tokens + 1) * d  # 4,160
    # two layernorms 4D, attention in/out projections 4D² + 4D, MLP 2·D·hD + hD + D
    per_layer = 4 * d + (4 * d * d + 4 * d) + (2 * d * hidden + hidden + d)  # 33,472
    final_norm = 2 * d
    head = d * 10 + 10
    total = patch_conv + class_token + pos_embedding + layers * per_layer + final_norm + head
    assert total == 151_242
    r = reports("vit_small")
    assert r.totals()["params"] == total
    assert sum(info.params for info in r.layers if info.name.startswith("layer_0.")) == per_layer
    assert r.layer("with_class_token").output_shape == (tokens + 1, d)


def test_lenet5_layers(reports):
    r = reports("lenet5")
    assert r.layer("c1").output_shape == (6, 28, 28) and r.layer("c1").params == 6 * 25 + 6
    assert r.layer("s2").output_shape == (6, 14, 14)
    assert r.layer("c3").output_shape == (16, 10, 10) and r.layer("c3").params == 16 * 6 * 25 + 16
    assert r.layer("s4").output_shape == (16, 5, 5)
    assert r.layer("flatten").output_shape == (400,)
    assert [r.layer(n).params for n in ("c5", "f6", "output")] == [400 * 120 + 120, 120 * 84 + 84, 84 * 10 + 10]


def test_alexnet_layers(reports):
    r = reports("alexnet")
    conv1 = r.layer("features.0")  # torchvision's module names
    assert conv1.output_shape == (64, 55, 55)  # (224 + 2*2 - 11) // 4 + 1 = 55
    assert conv1.params == 64 * 3 * 11 * 11 + 64
    assert conv1.macs == 64 * 55 * 55 * 3 * 11 * 11
    assert r.layer("features.2").output_shape == (64, 27, 27)  # pool1
    assert r.layer("features.5").output_shape == (192, 13, 13)  # pool2
    assert r.layer("features.12").output_shape == (256, 6, 6)  # pool5
    assert r.layer("flatten").output_shape == (9216,)
    assert r.layer("classifier.1").params == 9216 * 4096 + 4096  # fc6


def test_alexnet_original_layers(reports):
    r = reports("alexnet_original")
    conv1 = r.layer("conv1")
    assert conv1.output_shape == (96, 55, 55)  # (227 - 11) // 4 + 1 = 55
    assert conv1.params == 96 * 3 * 11 * 11 + 96
    norms = [info for info in r.layers if info.type == "localresponsenorm"]
    assert [n.name for n in norms] == ["norm1", "norm2"]
    assert all(n.params == 0 for n in norms)
    assert norms[0].layer.size == 5 and norms[0].layer.k == 2.0 and norms[0].layer.alpha == 1e-4 and norms[0].layer.beta == 0.75
    assert r.layer("pool1").output_shape == (96, 27, 27)  # overlapping 3x3 / 2
    assert r.layer("conv2").output_shape == (256, 27, 27)
    assert r.layer("pool2").output_shape == (256, 13, 13)
    assert [r.layer(f"conv{i}").output_shape[0] for i in (3, 4, 5)] == [384, 384, 256]
    assert r.layer("flatten").output_shape == (9216,)


def test_vgg16_layers(reports):
    r = reports("vgg16")
    convs = [info for info in r.layers if info.type == "conv2d"]
    assert len(convs) == 13
    assert [c.output_shape[0] for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert r.layer("features.0").params == 64 * 3 * 9 + 64  # conv1_1
    assert r.layer("features.30").output_shape == (512, 7, 7)  # pool5
    assert r.layer("flatten").output_shape == (25088,)
    assert len([info for info in r.layers if info.type == "linear"]) == 3


def test_resnet18_layers(reports):
    r = reports("resnet18")
    assert r.layer("conv1").output_shape == (64, 112, 112)
    assert r.layer("maxpool").output_shape == (64, 56, 56)
    for stage, shape in (("layer1", (64, 56, 56)), ("layer2", (128, 28, 28)), ("layer3", (256, 14, 14)), ("layer4", (512, 7, 7))):
        assert r.layer(f"{stage}.1.relu2").output_shape == shape
    # identity shortcut in layer1, projection in the first block of later stages
    assert "layer1.0.downsample.0" not in {i.name for i in r.layers}
    assert r.layer("layer1.0.add").inputs == ["layer1.0.bn2", "maxpool"]
    assert r.layer("layer2.0.downsample.0").params == 64 * 128
    assert r.layer("layer2.0.add").inputs == ["layer2.0.bn2", "layer2.0.downsample.1"]
    assert r.layer("fc").params == 512 * 1000 + 1000


def test_resnet50_layers(reports):
    r = reports("resnet50")
    assert r.layer("layer1.0.downsample.0").output_shape == (256, 56, 56)  # stride 1, 64 -> 256
    assert r.layer("layer2.0.conv1").output_shape == (128, 56, 56)  # v1.5: the stride is on the 3x3
    assert r.layer("layer2.0.conv2").output_shape == (128, 28, 28)
    last = r.layer("layer4.2.relu3")
    assert last.output_shape == (2048, 7, 7)
    assert r.layer("layer4.2.conv3").params == 512 * 2048
    assert r.layer("avgpool").output_shape == (2048, 1, 1)
    assert r.layer("flatten").output_shape == (2048,)
    fc = r.layer("fc")
    assert fc.output_shape == (1000,)
    assert fc.params == 2048 * 1000 + 1000
    assert fc.macs == 2048 * 1000
    blocks = {name for info in r.layers for name in info.block[:1]}
    assert len(blocks) == 3 + 4 + 6 + 3


def test_mobilenet_v2_layers(reports):
    r = reports("mobilenet_v2")
    assert r.layer("features.0.2").output_shape == (32, 112, 112)
    assert r.layer("features.1.conv.0.0").params == 32 * 9  # t = 1: no expansion, the depthwise conv first
    dw = r.layer("features.2.conv.1.0")
    assert dw.output_shape == (96, 56, 56)
    assert dw.params == 96 * 9  # depthwise: one 3x3 filter per channel
    adds = [info.name for info in r.layers if info.type == "add"]
    # a residual wherever stride is 1 and the channels are unchanged: n - 1 per stage
    assert len(adds) == (2 - 1) + (3 - 1) + (4 - 1) + (3 - 1) + (3 - 1)
    assert r.layer("features.17.conv.3").output_shape == (320, 7, 7)
    assert r.layer("features.18.2").output_shape == (1280, 7, 7)
    assert r.layer("classifier.1").params == 1280 * 1000 + 1000


def test_mobilenet_v3_large_layers(reports):
    r = reports("mobilenet_v3_large")
    se = r.layer("features.4.block.2.fc1")  # squeeze = make_divisible(72 // 4, 8) = 24, not 18
    assert se.output_shape == (24, 1, 1) and se.params == 72 * 24 + 24
    assert r.layer("features.4.block.2.scale").output_shape == (72, 28, 28)  # the gate broadcast over 28x28
    dw = r.layer("features.13.block.1.0")  # 5x5 depthwise, stride 2, padding 2
    assert dw.output_shape == (672, 7, 7) and dw.params == 672 * 5 * 5
    adds = [info.name.split(".")[1] for info in r.layers if info.type == "add"]
    assert adds == ["1", "3", "5", "6", "8", "9", "10", "12", "14", "15"]  # stride 1, channels unchanged
    assert {(i.layer.eps, i.layer.momentum) for i in r.layers if i.type == "batchnorm2d"} == {(0.001, 0.01)}
    assert r.layer("classifier.0").params == 960 * 1280 + 1280


def test_mobilenet_v3_small_layers(reports):
    r = reports("mobilenet_v3_small")
    assert r.layer("features.1.block.0.0").output_shape == (16, 56, 56)  # the first block strides, and has SE
    assert r.layer("features.1.block.1.fc1").output_shape == (8, 1, 1)  # make_divisible(16 // 4, 8) = 8
    assert r.layer("features.9.block.2.fc1").params == 288 * 72 + 72
    assert r.layer("features.12.2").output_shape == (576, 7, 7)
    assert r.layer("classifier.3").params == 1024 * 1000 + 1000


def test_efficientnet_b0_layers(reports):
    r = reports("efficientnet_b0")
    fc1 = r.layer("features.2.0.block.2.fc1")  # squeeze = the block's input channels // 4 = 16 // 4
    assert fc1.output_shape == (4, 1, 1) and fc1.params == 96 * 4 + 4
    assert r.layer("features.2.0.block.0.0").params == 16 * 96  # expand ratio 6
    assert r.layer("features.3.0.block.1.0").output_shape == (144, 28, 28)  # 5x5 depthwise, stride 2
    adds = [info.name for info in r.layers if info.type == "add"]
    assert len(adds) == (2 - 1) + (2 - 1) + (3 - 1) + (3 - 1) + (4 - 1)
    assert {i.layer.eps for i in r.layers if i.type == "batchnorm2d"} == {1e-5}  # torch's default for B0
    assert r.layer("features.8.2").output_shape == (1280, 7, 7)


def test_regnet_y_400mf_layers(reports):
    r = reports("regnet_y_400mf")
    conv = r.layer("trunk_output.block2.block2-0.f.b.0")  # 13 groups of width 8
    assert conv.output_shape == (104, 28, 28) and conv.params == 104 * 8 * 3 * 3
    assert r.layer("trunk_output.block2.block2-0.f.se.fc1").params == 104 * 12 + 12  # 0.25 * 48 input channels
    assert r.layer("trunk_output.block2.block2-1.f.se.fc1").params == 104 * 26 + 26  # 0.25 * 104
    projections = [info.name for info in r.layers if info.name.endswith(".proj.0")]
    assert len(projections) == 4  # one per stage, where the shape changes
    second = "trunk_output.block2.block2-1"  # identity shortcut: the previous block's output plus f
    assert r.layer(f"{second}.add").inputs == ["trunk_output.block2.block2-0.activation", f"{second}.f.c.1"]
    assert r.layer("fc").params == 440 * 1000 + 1000


def test_lraspp_mobilenet_v3_large_layers(reports):
    r = reports("lraspp_mobilenet_v3_large")
    assert r.layer("backbone.4.block.3.1").output_shape == (40, 65, 65)  # the 1/8 map: ceil(520 / 8)
    dw = r.layer("backbone.13.block.1.0")  # dilated instead of strided: 5x5, dilation 2, padding 4
    assert dw.output_shape == (672, 33, 33) and dw.params == 672 * 5 * 5
    assert r.layer("backbone.16.2").output_shape == (960, 33, 33)  # output stride 16, not 32
    assert r.layer("classifier.scale.2").output_shape == (128, 1, 1)
    assert r.layer("classifier.gated").output_shape == (128, 33, 33)
    assert r.layer("classifier.upsample").output_shape == (128, 65, 65)
    assert r.layer("classifier.low_classifier").inputs == ["backbone.4.block.3.1"]
    assert r.layer("classifier.low_classifier").params == 40 * 21 + 21
    assert r.layer("classifier.high_classifier").params == 128 * 21 + 21
    assert r.layer("classifier.cbr.1").layer.eps == 1e-5  # the head's batch norm keeps torch's default
    assert r.layer("backbone.16.1").layer.eps == 0.001


def test_shufflenet_v2_layers(reports):
    r = reports("shufflenet_v2_x1_0")
    names = {info.name for info in r.layers}
    # the stride-2 unit opening a stage: no split, both branches read the whole input
    assert "stage2.0.chunk:0" not in names
    assert r.layer("stage2.0.branch1.0").inputs == ["maxpool"] == r.layer("stage2.0.branch2.0").inputs
    assert r.layer("stage2.0.branch1.0").params == 24 * 9  # depthwise 3x3 on the 24 input channels
    assert r.layer("stage2.0.cat").inputs == ["stage2.0.branch1.4", "stage2.0.branch2.7"]
    # the stride-1 units: half the channels pass unchanged, branch2 transforms the other half
    assert r.layer("stage2.1.chunk:1").output_shape == (58, 28, 28)
    assert r.layer("stage2.1.branch2.0").inputs == ["stage2.1.chunk:1"]
    assert r.layer("stage2.1.cat").inputs == ["stage2.1.chunk:0", "stage2.1.branch2.7"]
    assert r.layer("stage2.1.shuffle").output_shape == (116, 28, 28)
    assert [r.layer(f"stage{s}.{n - 1}.shuffle").output_shape for s, n in ((2, 4), (3, 8), (4, 4))] == [
        (116, 28, 28),
        (232, 14, 14),
        (464, 7, 7),
    ]
    assert r.layer("mean").output_shape == (1024,)
    assert r.layer("fc").params == 1024 * 1000 + 1000


def test_convnext_tiny_layers(reports):
    r = reports("convnext_tiny")
    norms = [info for info in r.layers if info.type == "layernorm"]
    assert len(norms) == 1 + 18 + 3 + 1 and all(n.layer.eps == 1e-6 for n in norms)  # defaults: {layernorm: {eps}}
    drops = [info.layer.p for info in r.layers if info.type == "stochastic_depth"]
    assert drops == [0.1 * i / 17 for i in range(18)]  # torchvision's linear rule over the 18 blocks
    scale = r.layer("features.1.0.layer_scale")
    assert scale.params == 96 and scale.layer.value == 1e-6
    assert r.layer("features.0.0").output_shape == (96, 56, 56)  # 4x4 patches
    assert r.layer("features.1.0.block.1").output_shape == (56, 56, 96)  # channels last
    mlp = r.layer("features.1.0.block.3")
    assert mlp.output_shape == (56, 56, 384) and mlp.macs == 56 * 56 * 96 * 384
    assert r.layer("features.1.0.scale").output_shape == (96, 56, 56)  # (96, 1, 1) broadcast over the map
    assert [r.layer(f"features.{i}.1").output_shape for i in (2, 4, 6)] == [(192, 28, 28), (384, 14, 14), (768, 7, 7)]
    assert r.layer("features.7.2.add").output_shape == (768, 7, 7)
    assert r.layer("classifier.2").params == 768 * 1000 + 1000


def test_fcn_resnet50_layers(reports):
    r = reports("fcn_resnet50")
    # replace_stride_with_dilation=[False, True, True]: the first block of a dilated stage keeps the
    # previous dilation, the others take the new one; padding = dilation keeps 65x65 (output stride 8)
    conv2 = {name: r.layer(f"backbone.{name}.conv2").layer for name in ("layer3.0", "layer3.1", "layer4.0", "layer4.1")}
    assert [c.dilation for c in conv2.values()] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert [c.padding for c in conv2.values()] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert r.layer("backbone.layer2.3.relu3").output_shape == (512, 65, 65)
    assert r.layer("backbone.layer3.0.downsample.0").layer.stride == (1, 1)
    assert r.layer("backbone.layer4.2.relu3").output_shape == (2048, 65, 65)
    assert r.layer("classifier.0").params == 2048 * 512 * 9
    assert r.layer("classifier.4").output_shape == (21, 65, 65)
    assert r.layer("classifier.4").params == 512 * 21 + 21
    assert r.layer("upsample").output_shape == (21, 520, 520)  # bilinear, back to the input's size
