"""The lint rules (W4xx, I5xx): one positive and one near-miss negative case each, then suppression.

Positions and numbers are counted by hand from the YAML texts; ``Y()`` strips the
common indentation and the first newline, so the first line of each text is line 1.
"""

from __future__ import annotations

import pytest
from spec_text import PATH, Y, lint

from archspec.errors import Diagnostic
from archspec.lint import RULES


def codes(ds: list[Diagnostic]) -> list[str]:
    return [d.code for d in ds]


def of(ds: list[Diagnostic], code: str) -> list[Diagnostic]:
    return [d for d in ds if d.code == code]


# --------------------------------------------------------------------------- positive cases
# code -> (text, line, column, layer, words that must appear in the message)

POSITIVE: dict[str, tuple[str, int, int, str, list[str]]] = {
    # the `bias: true` value (line 8, after "    bias: ")
    "W401": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - type: conv2d
                out_channels: 4
                kernel_size: 3
                padding: 1
                bias: true
              - type: batchnorm2d
              - type: relu
              - type: globalavgpool2d
            """
        ),
        8,
        11,
        "conv2d_1",
        ["`conv2d_1` has a bias but feeds batchnorm `batchnorm2d_1`", "cancels"],
    ),
    # 5 rows, 2x2 windows at stride 2: rows 0-1, 2-3; row 4 is never read. 6 columns: none lost.
    # No stride given, so it points at the kernel_size value.
    "W402": (
        Y(
            """
            archspec: 1
            input: [3, 5, 6]
            layers:
              - type: maxpool2d
                kernel_size: 2
              - type: globalavgpool2d
            """
        ),
        5,
        18,
        "maxpool2d_1",
        ["`maxpool2d_1` never reads the last 1 row(s) and 0 column(s) of its 3×5×6 input"],
    ),
    # stride 3 over a 2-wide window: every third position is skipped
    "W403": (
        Y(
            """
            archspec: 1
            input: [3, 9, 9]
            layers:
              - type: maxpool2d
                kernel_size: 2
                stride: 3
              - type: globalavgpool2d
            """
        ),
        6,
        13,
        "maxpool2d_1",
        ["`maxpool2d_1` strides 3×3 over a 2×2 window"],
    ),
    # conv 3x3 (RF 3) -> relu (RF 3, the last spatial layer) -> global pooling of an 8x8 input
    "W404": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3}
              - {type: relu}
              - {type: globalavgpool2d}
              - {type: linear, out_features: 2}
            """
        ),
        5,
        5,
        "relu_1",
        ["the receptive field at `relu_1` is 3×3, smaller than the 8×8 input"],
    ),
    # batchnorm and dropout are affine at inference: the 3x3 and 1x1 convs collapse into one 3x3 conv
    # with 3·4·9 + 4 = 112 parameters instead of 108 + 8 + 20 = 136
    "W405": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: dropout, p: 0.1}
              - {type: conv2d, out_channels: 4, kernel_size: 1}
              - {type: relu}
              - {type: globalavgpool2d}
            """
        ),
        7,
        5,
        "conv2d_2",
        ["`conv2d_2` follows `conv2d_1` with no non-linearity between them"],
    ),
    "W406": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: dropout2d, p: 0.2}
              - {type: batchnorm2d}
            """
        ),
        6,
        5,
        "dropout2d_1",
        ["dropout `dropout2d_1` feeds batchnorm `batchnorm2d_1`"],
    ),
    # both paths give 4×4×4 from 8×8, stride 2, but the first unit of `wide` (k3 p1) is centred
    # on -1 + (3-1)/2 = 0, that of `tile` (k2 p0) on 0 + (2-1)/2 = 0.5
    "W407": (
        Y(
            """
            archspec: 1
            input: [4, 8, 8]
            layers:
              - {type: conv2d, name: wide, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
              - {type: conv2d, name: tile, out_channels: 4, kernel_size: 2, stride: 2, inputs: input}
              - {type: add, name: sum, inputs: [wide, tile]}
              - {type: relu}
              - {type: globalavgpool2d}
            """
        ),
        6,
        36,  # "  - {type: add, name: sum, inputs: " is 35 characters
        "sum",
        ["`sum` merges paths that look at different input positions", "`wide` at (0.0, 0.0)", "`tile` at (0.5, 0.5)"],
    ),
    "W408": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu, name: side, inputs: input}
              - {type: relu, name: act, inputs: conv}
              - {type: globalavgpool2d, name: pool}
            """
        ),
        5,
        5,
        "side",
        ["`side` does not contribute to the output `pool`"],
    ),
    # linear_1: 4·2 + 2 = 10; linear_2: 2·3 + 3 = 9; 10 of 19 is 52.6% > 50%
    "I501": (
        Y(
            """
            archspec: 1
            input: [4]
            layers:
              - {type: linear, out_features: 2}
              - {type: relu}
              - {type: linear, out_features: 3}
            """
        ),
        4,
        5,
        "linear_1",
        ["`linear_1` holds 10 of 19 parameters (53%)"],
    ),
    "I502": (
        Y(
            """
            archspec: 1
            input: [4]
            layers:
              - {type: linear, out_features: 3}
              - {type: softmax}
            """
        ),
        5,
        5,
        "softmax_1",
        ["the output layer `softmax_1` is a softmax", "logits"],
    ),
    # 10^6 inputs × 10^9 outputs: 10^15 parameters, about 3.6 PiB of float32
    "W409": (
        Y(
            """
            archspec: 1
            input: [1000000]
            layers:
              - {type: linear, out_features: 1000000000}
            """
        ),
        4,
        5,
        "linear_1",
        ["of parameters", "largest: `linear_1`", "no device holds that"],
    ),
    # conv 3x3 (RF 3) -> relu -> flatten of an 8x8 input
    "I503": (
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3}
              - {type: relu}
              - {type: flatten}
              - {type: linear, out_features: 2}
            """
        ),
        5,
        5,
        "relu_1",
        ["the receptive field at `relu_1` is 3×3, smaller than the 8×8 input", "flatten"],
    ),
    # the newcomer's missing flatten: linear on 8×32×32 acts on the width and gives 8×32×10
    "W410": (
        Y(
            """
            archspec: 1
            input: [8, 32, 32]
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: linear, name: fc, out_features: 10}  # noqa: W411
            """
        ),
        6,
        5,
        "fc",
        ["`fc` acts on the last axis (the width) of its 8×32×32 input and gives 8×32×10", "flatten"],
    ),
    # the output before the final softmax is 8×32×10, not 10 scores
    "W411": (
        Y(
            """
            archspec: 1
            input: [8, 32, 32]
            layers:
              - {type: linear, name: fc, out_features: 10}  # noqa: W410
              - {type: softmax}
            """
        ),
        4,
        5,
        "fc",
        ["output `fc` is 8×32×10, not a vector of class scores"],
    ),
    "W412": (
        Y(
            """
            archspec: 1
            input: [3, 16, 16]
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: softmax, name: sm}
              - {type: conv2d, name: conv2, out_channels: 8, kernel_size: 3, padding: 1}
            """
        ),
        5,
        5,
        "sm",
        ["`sm` is a softmax inside the network (it feeds `conv2`)"],
    ),
    # the repro of the text: concat along the width after a 3×3 conv (RF 3) and the input (RF 1)
    "I504": (
        Y(
            """
            archspec: 1
            input: [1, 8, 8]
            layers:
              - {type: conv2d, name: c, out_channels: 1, kernel_size: 3, padding: 1}
              - {type: concat, name: cat, axis: 2, inputs: [c, input]}
            """
        ),
        5,
        5,
        "cat",
        ["the units of `cat` (concat) have no single receptive-field size and step"],
    ),
}


def test_every_rule_has_a_positive_case():
    assert {r.code for r in RULES} <= set(POSITIVE), "rules without a positive test: " + ", ".join(
        sorted({r.code for r in RULES} - set(POSITIVE))
    )
    assert len({r.code for r in RULES}) == len(RULES)  # one rule per code


@pytest.mark.parametrize("code", sorted(POSITIVE))
def test_rule_fires(code):
    text, line, column, layer, words = POSITIVE[code]
    ds = lint(text)
    assert not [d for d in ds if d.code.startswith("E")], [d.format() for d in ds]
    found = of(ds, code)
    assert len(found) == 1, [d.format() for d in ds]
    (d,) = found
    assert (d.path, d.line, d.column) == (PATH, line, column), d.format()
    assert d.layer == layer
    for w in words:
        assert w in d.message, d.message
    assert d.severity.value == ("warning" if code.startswith("W") else "info")


def test_rule_table_entries_are_well_formed():
    # the table is what README documents; each entry must have a name and a summary
    for r in RULES:
        assert r.code[0] in "WI" and r.code[1:].isdigit() and len(r.code) == 4
        assert r.name and r.summary


# --------------------------------------------------------------------------- near misses

NEGATIVE = [
    # linear after a flatten acts on features, not on a map
    pytest.param(
        "W410",
        Y(
            """
            archspec: 1
            input: [3, 4, 4]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: flatten}
              - {type: linear, out_features: 10}
            """
        ),
        id="W410-after-flatten",
    ),
    # ConvNeXt's MLP: a permute puts the channels last, and the linear acts on each position's channels
    pytest.param(
        "W410",
        Y(
            """
            archspec: 1
            input: [8, 4, 4]
            layers:
              - {type: permute, axes: [1, 2, 0]}
              - {type: linear, out_features: 32}
              - {type: permute, axes: [2, 0, 1]}
            """
        ),
        id="W410-channels-last-after-permute",
    ),
    # a fully-convolutional network without a training section may end in a map on purpose
    pytest.param(
        "W411",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
            """
        ),
        id="W411-dense-prediction",
    ),
    # softmax at the output, and log_softmax too
    pytest.param(
        "W412",
        Y(
            """
            archspec: 1
            input: [4]
            layers:
              - {type: linear, out_features: 3}
              - {type: log_softmax}
            """
        ),
        id="W412-at-the-output",
    ),
    # concat of channels keeps one field
    pytest.param(
        "I504",
        Y(
            """
            archspec: 1
            input: [1, 8, 8]
            layers:
              - {type: conv2d, name: c, out_channels: 1, kernel_size: 3, padding: 1}
              - {type: concat, name: cat, inputs: [c, input]}
            """
        ),
        id="I504-channels",
    ),
    # conv without bias before batchnorm
    pytest.param(
        "W401",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
            """
        ),
        id="W401-bias-false",
    ),
    # the conv also feeds an add, so the bias is not only cancelled by batchnorm
    pytest.param(
        "W401",
        Y(
            """
            archspec: 1
            input: [4, 8, 8]
            layers:
              - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: batchnorm2d, name: bn}
              - {type: add, inputs: [bn, conv]}
            """
        ),
        id="W401-second-consumer",
    ),
    # 6 rows and columns split evenly into 2x2 tiles
    pytest.param(
        "W402",
        Y(
            """
            archspec: 1
            input: [3, 6, 6]
            layers:
              - {type: maxpool2d, kernel_size: 2}
            """
        ),
        id="W402-even-input",
    ),
    # 5 rows with ceil_mode keep a last partial window
    pytest.param(
        "W402",
        Y(
            """
            archspec: 1
            input: [3, 5, 5]
            layers:
              - {type: maxpool2d, kernel_size: 2, ceil_mode: true}
            """
        ),
        id="W402-ceil-mode",
    ),
    # stride == kernel
    pytest.param(
        "W403",
        Y(
            """
            archspec: 1
            input: [3, 9, 9]
            layers:
              - {type: maxpool2d, kernel_size: 3, stride: 3}
            """
        ),
        id="W403-stride-equals-kernel",
    ),
    # stride 3 > kernel 2, but dilation 2 spans 3: windows touch
    pytest.param(
        "W403",
        Y(
            """
            archspec: 1
            input: [3, 9, 9]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 2, dilation: 2, stride: 3}
            """
        ),
        id="W403-dilated-span-equals-stride",
    ),
    # 4x4 input: conv 3x3 p1 twice -> RF 5 >= 4 before global pooling
    pytest.param(
        "W404",
        Y(
            """
            archspec: 1
            input: [3, 4, 4]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: globalavgpool2d}
            """
        ),
        id="W404-field-covers-input",
    ),
    # vector input: no spatial layout at all
    pytest.param(
        "W404",
        Y(
            """
            archspec: 1
            input: [16]
            layers:
              - {type: linear, out_features: 4}
            """
        ),
        id="W404-vector-input",
    ),
    # relu between the convs
    pytest.param(
        "W405",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
            """
        ),
        id="W405-relu-between",
    ),
    # max pooling is not affine
    pytest.param(
        "W405",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: maxpool2d, kernel_size: 2}
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
            """
        ),
        id="W405-maxpool-between",
    ),
    # dropout after batchnorm
    pytest.param(
        "W406",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
              - {type: dropout2d, p: 0.2}
            """
        ),
        id="W406-dropout-after-batchnorm",
    ),
    # ResNet's shortcut: k3 s2 p1 (centre -1 + 1 = 0) and k1 s2 p0 (centre 0) stay aligned
    pytest.param(
        "W407",
        Y(
            """
            archspec: 1
            input: [4, 8, 8]
            layers:
              - {type: conv2d, name: main, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
              - {type: conv2d, name: short, out_channels: 4, kernel_size: 1, stride: 2, inputs: input}
              - {type: add, inputs: [main, short]}
            """
        ),
        id="W407-resnet-shortcut",
    ),
    # k3 p1 vs k3 p0 then k1 p1: both 8×8. Centres: -1 + 1 = 0 and (RF 3, padding 0 + 1) -1 + 1 = 0.
    # (At stride 1, equal output sizes always mean equal centres: centre = -(out - in) / 2.)
    pytest.param(
        "W407",
        Y(
            """
            archspec: 1
            input: [4, 8, 8]
            layers:
              - {type: conv2d, name: a, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: conv2d, name: b1, out_channels: 4, kernel_size: 3, inputs: input}
              - {type: conv2d, name: b2, out_channels: 4, kernel_size: 1, padding: 1}
              - {type: add, inputs: [a, b2]}
            """
        ),
        id="W407-stride-one-paths",
    ),
    # the side branch reaches the output through the add
    pytest.param(
        "W408",
        Y(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: conv2d, name: side, out_channels: 4, kernel_size: 1, inputs: input}
              - {type: add, inputs: [conv, side]}
            """
        ),
        id="W408-branch-merged",
    ),
    # exactly half: 4·2 + 2 = 10 and 2·5 (no bias) = 10 of 20
    pytest.param(
        "I501",
        Y(
            """
            archspec: 1
            input: [4]
            layers:
              - {type: linear, out_features: 2}
              - {type: relu}
              - {type: linear, out_features: 5, bias: false}
            """
        ),
        id="I501-exactly-half",
    ),
    # softmax in the middle, not the output
    pytest.param(
        "I502",
        Y(
            """
            archspec: 1
            input: [4]
            layers:
              - {type: softmax}
              - {type: linear, out_features: 3}
            """
        ),
        id="I502-softmax-not-last",
    ),
    # global pooling instead of flatten is W404's case, not I503's
    pytest.param(
        "I503",
        POSITIVE["W404"][0],
        id="I503-global-pool-not-flatten",
    ),
    # 4x4 input: RF 5 before flatten
    pytest.param(
        "I503",
        Y(
            """
            archspec: 1
            input: [3, 4, 4]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: flatten}
              - {type: linear, out_features: 2}
            """
        ),
        id="I503-field-covers-input",
    ),
    # a big but real classifier: 25,088 × 4,096 (VGG's first fully-connected layer, 411 MB) is not absurd
    pytest.param(
        "W409",
        Y(
            """
            archspec: 1
            input: [25088]
            layers:
              - {type: linear, out_features: 4096}
            """
        ),
        id="W409-vgg-sized-layer",
    ),
]


@pytest.mark.parametrize("code, text", NEGATIVE)
def test_rule_near_miss_does_not_fire(code, text):
    ds = lint(text)
    assert not [d for d in ds if d.code.startswith("E")], [d.format() for d in ds]
    assert code not in codes(ds), [d.format() for d in ds]


def test_every_rule_has_a_near_miss():
    covered = {p.values[0] for p in NEGATIVE}
    assert {r.code for r in RULES} <= covered


def test_w404_not_when_the_last_layers_see_the_whole_input():
    # 5x5 input: conv 3x3 -> 3×3 (RF 3), conv 3x3 -> 1×1 (RF 5 = the whole input)
    text = Y(
        """
        archspec: 1
        input: [3, 5, 5]
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 3}
          - {type: relu}
          - {type: conv2d, out_channels: 4, kernel_size: 3}
          - {type: relu}
          - {type: globalavgpool2d}
        """
    )
    assert "W404" not in codes(lint(text))


def test_w402_points_at_stride_when_given():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channels: 4
            kernel_size: 3
            stride: 2
        """
    )
    # (8 - 3) // 2 + 1 = 3 windows reading rows 0-2, 2-4, 4-6: row 7 is lost
    (d,) = of(lint(text), "W402")
    assert (d.line, d.column) == (7, 13)
    assert "never reads the last 1 row(s) and 1 column(s) of its 3×8×8 input" in d.message


def test_w403_also_dropping_rows_is_reported_once_as_w403():
    # 9 rows, k2 s3: windows 0-1, 3-4, 6-7; row 8 is lost too, but W403 says it better
    ds = lint(POSITIVE["W403"][0])
    assert "W403" in codes(ds) and "W402" not in codes(ds)


def test_w405_between_linear_layers():
    text = Y(
        """
        archspec: 1
        input: [3, 4, 4]
        layers:
          - {type: flatten}
          - {type: linear, out_features: 8}
          - {type: dropout, p: 0.5}
          - {type: linear, out_features: 2}
        """
    )
    (d,) = of(lint(text), "W405")
    assert (d.line, d.column, d.layer) == (7, 5, "linear_2")
    assert "`linear_2` follows `linear_1`" in d.message


# W405 fires only where one layer could do the two maps' work with no more parameters: the merged map
# mixes every input channel into every output channel over the composed window (r + (r' - 1)·S per axis)
FACTORISATIONS = {
    # depthwise 3x3 (144) + batchnorm (32) + pointwise 16 -> 32 (544) = 720; merged 3x3 16 -> 32: 4,640
    "depthwise-then-pointwise": """
      - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, groups: depthwise, bias: false}
      - {type: batchnorm2d}
      - {type: conv2d, out_channels: 32, kernel_size: 1}
    """,
    # linear bottleneck 16 -> 4 (64) + batchnorm (8) + expansion 4 -> 48 (192) = 264; merged 16 -> 48: 816
    "bottleneck-then-expansion": """
      - {type: conv2d, out_channels: 4, kernel_size: 1, bias: false}
      - {type: batchnorm2d}
      - {type: conv2d, out_channels: 48, kernel_size: 1, bias: false}
    """,
    # strided 1x1 16 -> 32 (512) + batchnorm (64) + depthwise 3x3 (288) = 864; merged: a 5x5 window
    # (1 + (3 - 1)·2), 16 -> 32: 12,832
    "downsample-then-depthwise": """
      - {type: conv2d, out_channels: 32, kernel_size: 1, stride: 2, bias: false}
      - {type: batchnorm2d}
      - {type: conv2d, out_channels: 32, kernel_size: 3, padding: 1, groups: depthwise, bias: false}
    """,
    # two 3x3 convs 8 -> 8 (576 + 584) = 1,160: merged they need a 5x5 kernel, 8·8·25 + 8 = 1,608
    "two-3x3-convs-of-one-width": """
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
    """,
}


def _chain(layers: str) -> str:
    """A spec of the given layers (at any indentation) on a 16×8×8 input, then a relu."""
    body = "".join(f"  {line.strip()}\n" for line in layers.strip().splitlines())
    return f"archspec: 1\ninput: [16, 8, 8]\nlayers:\n{body}  - {{type: relu}}\n"


@pytest.mark.parametrize("layers", list(FACTORISATIONS.values()), ids=list(FACTORISATIONS))
def test_w405_silent_where_merging_would_add_parameters(layers):
    ds = lint(_chain(layers))
    assert not [d for d in ds if d.severity == "error"], ds
    assert "W405" not in codes(ds)


def test_w405_a_3x3_conv_then_a_1x1_conv_of_one_width_is_one_3x3_conv():
    # 3x3 16 -> 16 (2,304) + batchnorm (32) + 1x1 16 -> 16 with bias (272) = 2,608; merged 16·16·9 + 16 = 2,320
    ds = lint(
        _chain(
            """
      - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm2d}
      - {type: conv2d, out_channels: 16, kernel_size: 1}
    """
        )
    )
    (d,) = of(ds, "W405")
    assert d.layer == "conv2d_2"
    assert "one layer computes with 2,320 parameters instead of 2,608" in d.message


def test_w405_silent_when_another_layer_also_reads_the_first_map():
    # the same 3x3 -> 1x1 pair, but the batch norm also feeds a residual add: merging cannot remove the 3x3
    ds = lint(
        _chain(
            """
      - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm2d, name: trunk}
      - {type: conv2d, out_channels: 16, kernel_size: 1}
      - {type: add, inputs: [trunk, conv2d_2]}
    """
        )
    )
    assert not [d for d in ds if d.severity == "error"], ds
    assert "W405" not in codes(ds)


def test_w405_message_counts_the_linear_maps_parameters():
    # 48 -> 8 -> 2: 392 + 18 = 410 parameters; one 48 -> 2 layer: 98
    text = Y(
        """
        archspec: 1
        input: [3, 4, 4]
        layers:
          - {type: flatten}
          - {type: linear, out_features: 8}
          - {type: linear, out_features: 2}
        """
    )
    (d,) = of(lint(text), "W405")
    assert "one layer computes with 98 parameters instead of 410" in d.message


def test_w405_silent_on_a_low_rank_linear_factorisation():
    # 64 -> 4 -> 64: 260 + 320 = 580 parameters; one 64 -> 64 layer: 4,160
    text = Y(
        """
        archspec: 1
        input: [64]
        layers:
          - {type: linear, out_features: 4}
          - {type: linear, out_features: 64}
        """
    )
    assert "W405" not in codes(lint(text))


SQUEEZE_EXCITATION = """
archspec: 1
input: [3, 16, 16]
layers:
  - {type: conv2d, name: stem, out_channels: 16, kernel_size: 3, padding: 1}
  - {type: relu, name: act}
  # squeeze-and-excitation: pooled to 16x1x1, two 1x1 convs, a sigmoid gate multiplied onto the map
  - {type: adaptiveavgpool2d, name: se_pool, output_size: 1}
  - {type: conv2d, name: se_fc1, out_channels: 4, kernel_size: 1}
  - {type: relu, name: se_act}
  - {type: conv2d, name: se_fc2, out_channels: 16, kernel_size: 1}
  - {type: sigmoid, name: se_gate}
  - {type: mul, name: scaled, inputs: [act, se_gate]}
  - {type: conv2d, name: conv2, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu, name: head_act}
  - {type: adaptiveavgpool2d, name: avgpool, output_size: 1}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc, out_features: 10}
"""


def test_w404_judges_the_classifier_head_not_a_squeeze_excitation_pooling():
    # the SE pooling meets `act` (a 3x3 field) first, but the head's features are gated by a global
    # average of the whole image: every unit at `head_act` depends on all of it
    ds = lint(SQUEEZE_EXCITATION)
    assert not [d for d in ds if d.severity == "error"], ds
    assert "W404" not in codes(ds)


def test_w404_names_the_pooling_on_the_path_to_the_output():
    # the SE gate is left out of the trunk (`scaled` reads only `act`): a 5x5 field before the head's pooling
    # of a 16x16 input is reported at the head, not at the SE's pooling, which meets `act` first
    text = SQUEEZE_EXCITATION.replace("inputs: [act, se_gate]}", "inputs: [act, act]}")
    (d,) = of(lint(text), "W404")
    assert d.layer == "head_act"
    assert "the receptive field at `head_act` is 5×5, smaller than the 16×16 input, and `avgpool` pools it" in d.message


def test_w401_bias_by_default_points_at_the_layer():
    text = (
        "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - {type: batchnorm2d}\n"
    )
    (d,) = of(lint(text), "W401")
    assert (d.line, d.column) == (4, 5)  # no `bias:` written: the layer's '{'


def test_rules_within_a_block_reported_once_at_the_definition():
    text = Y(
        """
        archspec: 1
        input: [4, 8, 8]
        blocks:
          unit:
            layers:
              - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: batchnorm2d, name: bn}
              - {type: relu, name: act}
        layers:
          - {type: unit, name: stage, repeat: 3}
          - {type: globalavgpool2d}
        """
    )
    (d,) = of(lint(text), "W401")
    assert (d.line, d.column) == (6, 9)  # the conv's '{' in the block definition
    assert d.layer == "stage.0.conv"
    assert "`stage.0.conv` has a bias but feeds batchnorm `stage.0.bn`" in d.message
    assert d.message.endswith("(and 2 more instances of this block)")


def test_two_findings_on_one_layer_outside_blocks_are_not_merged_as_block_instances():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: dropout2d, name: drop}
          - {type: batchnorm2d, name: bn1, inputs: drop}
          - {type: batchnorm2d, name: bn2, inputs: drop}
          - {type: add, inputs: [bn1, bn2]}
        """
    )
    found = of(lint(text), "W406")
    assert found and all((d.line, d.column) == (4, 5) for d in found)
    assert not any("block" in d.message for d in found), [d.message for d in found]
    # both batchnorms are named: the second finding is not lost
    assert any("`bn1`" in d.message for d in found) and any("`bn2`" in d.message for d in found)


def test_whole_network_rules_wait_for_errors_to_be_fixed():
    # I502 judges the network as a whole; with a shape error upstream it says nothing
    text = Y(
        """
        archspec: 1
        input: [4]
        layers:
          - {type: linear, out_features: 3, in_features: 5}
          - {type: softmax}
        """
    )
    ds = lint(text)
    assert codes(ds) == ["E307"]


# --------------------------------------------------------------------------- suppression

W401_TEXT = POSITIVE["W401"][0]  # W401 at 8:11 (`bias: true`), W404 at 10:5 (the relu)


def _with(text: str, line: int, comment: str) -> str:
    lines = text.splitlines()
    lines[line - 1] += "  " + comment
    return "\n".join(lines) + "\n"


def test_suppression_baseline():
    assert [(d.code, d.line) for d in lint(W401_TEXT)] == [("W401", 8), ("W404", 10)]


def test_noqa_code_on_the_diagnostic_line():
    assert [(d.code, d.line) for d in lint(_with(W401_TEXT, 8, "# noqa: W401"))] == [("W404", 10)]


def test_noqa_code_on_the_layer_first_line():
    assert [(d.code, d.line) for d in lint(_with(W401_TEXT, 4, "# noqa: W401"))] == [("W404", 10)]


def test_noqa_other_code_does_not_suppress():
    assert [(d.code, d.line) for d in lint(_with(W401_TEXT, 8, "# noqa: W405"))] == [("W401", 8), ("W404", 10)]


def test_noqa_list_of_codes_and_case():
    assert codes(lint(_with(W401_TEXT, 8, "# NOQA:w405, w401"))) == ["W404"]


def test_bare_noqa_silences_every_code_on_its_line():
    assert codes(lint(_with(W401_TEXT, 4, "# noqa"))) == ["W404"]
    assert codes(lint(_with(W401_TEXT, 10, "# noqa"))) == ["W401"]


def test_noqa_on_an_unrelated_line_does_nothing():
    assert codes(lint(_with(W401_TEXT, 2, "# noqa"))) == ["W401", "W404"]


def test_file_wide_noqa():
    text = "# archspec: noqa: W404\n" + W401_TEXT
    # everything moved down one line
    assert [(d.code, d.line) for d in lint(text)] == [("W401", 9)]
    text = W401_TEXT + "# archspec: noqa: W401, W404\n"
    assert lint(text) == []


def test_noqa_cannot_suppress_errors():
    text = Y(
        """
        archspec: 1
        # archspec: noqa: E204
        input: [3, 8, 8]
        layers:
          - type: conv2d  # noqa
            out_channels: 0  # noqa: E204
            kernel_size: 3
        """
    )
    ds = lint(text)
    assert [(d.code, d.line, d.column) for d in ds] == [("E204", 6, 19)]


def test_noqa_cannot_suppress_analysis_errors():
    text = Y(
        """
        archspec: 1
        input: [3, 3, 3]
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 5}  # noqa
        """
    )
    assert [(d.code, d.line) for d in lint(text)] == [("E305", 4)]


# --------------------------------------------------------------------------- select / ignore


def test_ignore_prefix():
    assert lint(W401_TEXT, ignore={"W4"}) == []
    assert codes(lint(W401_TEXT, ignore={"W401"})) == ["W404"]
    assert codes(lint(W401_TEXT, ignore={"W40"})) == []
    assert codes(lint(W401_TEXT, ignore={"I"})) == ["W401", "W404"]


def test_select_prefix():
    assert codes(lint(W401_TEXT, select={"W401"})) == ["W401"]
    assert codes(lint(W401_TEXT, select={"W"})) == ["W401", "W404"]
    assert codes(lint(W401_TEXT, select={"I5"})) == []
    assert codes(lint(W401_TEXT, select={"W4"}, ignore={"W404"})) == ["W401"]


def test_select_ignore_info_codes():
    text = POSITIVE["I501"][0]  # I501 only
    assert codes(lint(text)) == ["I501"]
    assert lint(text, ignore={"I"}) == []
    assert codes(lint(text, select={"I501"})) == ["I501"]
    assert lint(text, select={"W"}) == []


def test_select_and_ignore_never_hide_errors():
    text = W401_TEXT.replace("out_channels: 4", "out_channels: 0")
    for kw in ({"ignore": {"E"}}, {"ignore": {"E2"}}, {"select": {"W401"}}, {"select": {"I"}}):
        assert [(d.code, d.line, d.column) for d in lint(text, **kw)] == [("E204", 5, 19)], kw


def test_w410_still_fires_when_a_permute_leaves_a_spatial_axis_last():
    # swapping height and width leaves the height last: the linear mixes positions along it
    text = Y(
        """
        archspec: 1
        input: [8, 4, 6]
        layers:
          - {type: transpose, axis0: 1, axis1: 2}
          - {type: linear, name: fc, out_features: 32}
        """
    )
    (finding,) = of(lint(text), "W410")
    assert (finding.line, finding.column) == (5, 5)
    assert "8×6×4" in finding.message
