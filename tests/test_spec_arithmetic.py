"""Arithmetic in specs (`${...}`) and the `defaults:` section.

Oracles: values worked out by hand, Python's own integer arithmetic for generated
expressions, torchvision's `_make_divisible`, and hand-expanded specs for the figures.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.spec import parse_spec
from archspec.spec.expr import compute, parse


def value(text: str, **names: int) -> int:
    return compute(parse(text), text, dict(names), None)


def found(text: str) -> list[tuple[str, int, int]]:
    _, diagnostics = parse_spec(text, "t.yaml")
    return [(str(d.code), d.line, d.column) for d in diagnostics if d.severity.value == "error"]


def messages(text: str) -> list[str]:
    return [d.message for d in parse_spec(text, "t.yaml")[1]]


def figures(text: str) -> tuple[dict[str, int], list[tuple[str, tuple[int, ...] | None, int, int]]]:
    report = archspec.analyze(archspec.loads(text))
    return report.totals(), [(i.name, i.output_shape, i.params, i.macs) for i in report.layers]


# --- values by hand ---


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7 // 2", 3),
        ("-7 // 2", -4),  # floor, as Python and torch's shape arithmetic
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("--3", 3),
        ("10 / 4 * 2", 5),  # exact: 10/4 = 2.5, then 5
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("make_divisible(32 * 0.25, 8)", 8),
        ("make_divisible(16 // 4, 8)", 8),
        ("make_divisible(30, 8)", 32),  # 30 + 4 = 34 -> 32
        ("make_divisible(10, 8)", 16),  # 8 would be more than 10% below 10
        ("make_divisible(3, 8, 1)", 9),  # max(1, 0) = 1, below 2.7 -> 1 + 8
        ("make_divisible(960 // 4, 8)", 240),
        ("make_divisible(96 * 0.75, 8)", 72),
        ("make_divisible(180 * 1.4, 8)", 248),  # as in Python: 180 * 1.4 = 251.99999999999997, int(255.99...) = 255
    ],
)
def test_values_by_hand(text, expected):
    assert value(text) == expected


def test_block_parameters_by_name():
    assert value("expand * c + k // 2", expand=6, c=24, k=5) == 146


_ATOMS = st.integers(-50, 50).map(str)


@st.composite
def int_expressions(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(_ATOMS)
    kind = draw(st.sampled_from(["+", "-", "*", "//", "%", "min", "max", "neg"]))
    a, b = draw(int_expressions(depth - 1)), draw(int_expressions(depth - 1))
    if kind in ("min", "max"):
        return f"{kind}({a}, {b})"
    if kind == "neg":
        return f"-({a})"
    return f"({a}) {kind} ({b})"


@given(int_expressions())
def test_integer_arithmetic_agrees_with_python(text):
    try:
        expected = eval(text, {"__builtins__": {}, "min": min, "max": max})  # the oracle, on generated text only
    except ZeroDivisionError:
        with pytest.raises(Exception, match="division by zero"):
            value(text)
        return
    assert value(text) == expected


torchvision_utils = pytest.importorskip("torchvision.models._utils")


@given(st.integers(1, 100_000), st.integers(1, 256), st.one_of(st.none(), st.integers(1, 512)))
def test_make_divisible_matches_torchvision_for_integers(v, d, min_value):
    text = f"make_divisible({v}, {d}" + (f", {min_value})" if min_value is not None else ")")
    assert value(text) == torchvision_utils._make_divisible(v, d, min_value)


WIDTHS = ["0.25", "0.35", "0.5", "0.75", "1.0", "1.1", "1.2", "1.3", "1.4", "1.6", "1.8", "2.0", "2.2", "3.1"]


@given(st.integers(1, 2048), st.sampled_from(WIDTHS), st.sampled_from([4, 8, 16]))
def test_make_divisible_with_a_width_multiplier_matches_torchvision(channels, width, d):
    # torchvision: _make_divisible(channels * width_mult, 8), in floating point
    assert value(f"make_divisible({channels} * {width}, {d})") == torchvision_utils._make_divisible(channels * float(width), d)


# --- in a spec ---

EXPANDED = """
archspec: 1
input: [3, 32, 32]
defaults:
  batchnorm2d: {eps: 0.001}
blocks:
  inverted:
    params: {expand: 4, k: 3, out: 16}
    layers:
      - {type: conv2d, out_channels: "${expand * in.channels}", kernel_size: 1, bias: false}
      - {type: batchnorm2d}
      - {type: relu6}
      - {type: conv2d, out_channels: "${expand * in.channels}", kernel_size: $k, padding: "${k // 2}",
         groups: "${expand * in.channels}", bias: false}
      - {type: batchnorm2d}
      - {type: relu6}
      - {type: conv2d, out_channels: $out, kernel_size: 1, bias: false}
      - {type: batchnorm2d}
layers:
  - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {type: inverted, name: b1, expand: 6, k: 5, out: 24}
  - {type: inverted, name: b2, out: "${make_divisible(in.channels * 1.4, 8)}"}
  - {type: conv2d, out_channels: "${in.channels * 2}", kernel_size: 1}
"""

BY_HAND = """
archspec: 1
input: [3, 32, 32]
layers:
  - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {type: conv2d, name: b1.conv2d_1, out_channels: 96, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: b1.batchnorm2d_1, eps: 0.001}
  - {type: relu6, name: b1.relu6_1}
  - {type: conv2d, name: b1.conv2d_2, out_channels: 96, kernel_size: 5, padding: 2, groups: 96, bias: false}
  - {type: batchnorm2d, name: b1.batchnorm2d_2, eps: 0.001}
  - {type: relu6, name: b1.relu6_2}
  - {type: conv2d, name: b1.conv2d_3, out_channels: 24, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: b1.batchnorm2d_3, eps: 0.001}
  - {type: conv2d, name: b2.conv2d_1, out_channels: 96, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: b2.batchnorm2d_1, eps: 0.001}
  - {type: relu6, name: b2.relu6_1}
  - {type: conv2d, name: b2.conv2d_2, out_channels: 96, kernel_size: 3, padding: 1, groups: 96, bias: false}
  - {type: batchnorm2d, name: b2.batchnorm2d_2, eps: 0.001}
  - {type: relu6, name: b2.relu6_2}
  - {type: conv2d, name: b2.conv2d_3, out_channels: 32, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: b2.batchnorm2d_3, eps: 0.001}
  - {type: conv2d, out_channels: 64, kernel_size: 1}
"""


def test_expressions_give_the_figures_of_the_hand_expanded_spec():
    # b2's out: make_divisible(24 * 1.4 = 33.6, 8) = 32 (int(37.6) // 8 * 8), which is not below 0.9 * 33.6
    totals, layers = figures(EXPANDED)
    hand_totals, hand_layers = figures(BY_HAND)
    assert [(shape, params, macs) for _, shape, params, macs in layers] == [
        (shape, params, macs) for _, shape, params, macs in hand_layers
    ]
    assert totals == hand_totals
    assert layers[-1][1] == (64, 16, 16) and layers[-1][2] == 32 * 64 + 64  # by hand: 1x1 conv 32 -> 64 with bias
    eps = {layer.name: layer.eps for layer in archspec.loads(EXPANDED).layers if layer.kind() == "batchnorm2d"}
    assert set(eps.values()) == {0.001} and len(eps) == 6


def test_in_reads_the_sizes_of_the_input():
    spec = archspec.loads(
        """
archspec: 1
input: [3, 20, 30]
layers:
  - {type: conv2d, out_channels: "${in.height + in.width}", kernel_size: "${in.shape[0]}"}
  - {type: conv2d, out_channels: "${in.shape[-1]}", kernel_size: 1}
"""
    )
    first, second = spec.layers
    assert (first.out_channels, first.kernel_size) == (50, (3, 3))
    assert second.out_channels == 28  # 30 - 3 + 1: the width after the 3x3 convolution


def test_a_parameter_default_reads_earlier_parameters_and_the_input():
    spec = archspec.loads(
        """
archspec: 1
input: [8, 16, 16]
blocks:
  se:
    params: {reduction: 4, squeeze: "${make_divisible(in.channels // reduction, 8)}"}
    layers:
      - {type: conv2d, out_channels: $squeeze, kernel_size: 1}
layers:
  - {type: se}
  - {type: se, reduction: 1}
"""
    )
    assert [layer.out_channels for layer in spec.layers] == [8, 8]  # 8 // 4 = 2 -> 8; 8 // 1 = 8


def test_a_plain_expression_sets_repeat():
    spec = archspec.loads(
        """
archspec: 1
input: [4]
blocks:
  fc:
    layers: [{type: linear, out_features: 4}]
layers:
  - {type: fc, repeat: "${2 * 3}"}
"""
    )
    assert len(spec.layers) == 6


# --- errors, positioned inside the scalar ---


def one_layer(value: str) -> str:
    return f"archspec: 1\ninput: [3, 32, 32]\nlayers:\n  - {{type: conv2d, out_channels: 16, kernel_size: 3, padding: {value}}}\n"


# `  - {type: conv2d, out_channels: 16, kernel_size: 3, padding: ` is 62 characters: the value starts at column 63
@pytest.mark.parametrize(
    "written, code, column",
    [
        ('"${(3 // 2}"', "E208", 63 + 3 + 7),  # the end of `(3 // 2`: a `)` is missing
        ('"${3 +}"', "E208", 63 + 3 + 3),
        ('"${3 ** 2}"', "E208", 63 + 3 + 3),  # no power: the second `*` starts nothing
        ('"${__import__(1)}"', "E209", 63 + 3),
        ("\"${__import__('os')}\"", "E208", 63 + 3 + 11),  # no strings
        ('"${k.__class__}"', "E208", 63 + 3 + 1),  # no attributes but in.
        ('"${kk}"', "E209", 63 + 3),
        ('"${in.heigth}"', "E209", 63 + 3 + 3),
        ('"${mx(1, 2)}"', "E209", 63 + 3),
        ('"${1 // (2 - 2)}"', "E210", 63 + 3 + 2),
        ('"${in.channels % 0}"', "E210", 63 + 3 + 12),  # found once the input's shape is known
        ('"${make_divisible(3, 0)}"', "E210", 63 + 3),
        ('"${3 / 2}"', "E211", 63 + 3),
        ('"${in.channels / 2}"', "E211", 63 + 3),
        ("'${1 - 2}'", "E204", 63),  # padding -1: the field's own check, at the expression
        ('"${3 // 2"', "E208", 63 + 3 + 6),
        ('"${}"', "E208", 63 + 3),
        ('"${in.size + 1.5.5}"', "E208", 63 + 3 + 13),  # the second `.`
    ],
)
def test_errors_point_into_the_expression(written, code, column):
    assert found(one_layer(written)) == [(code, 4, column)]


def test_a_plain_scalar_in_block_style():
    text = """archspec: 1
input: [3, 32, 32]
layers:
  - type: conv2d
    out_channels: 16
    kernel_size: 3
    padding: ${1 - 2 * k}
"""
    assert found(text) == [("E209", 7, 24)]
    assert found(text.replace("k}", "1}")) == [("E204", 7, 14)]  # padding -1: the field's own check, at the expression


def test_unknown_names_suggest_the_closest():
    text = """archspec: 1
input: [3, 32, 32]
blocks:
  b:
    params: {expand: 4}
    layers:
      - {type: conv2d, out_channels: "${expnd * in.channels}", kernel_size: 1}
layers:
  - {type: b}
"""
    assert found(text) == [("E209", 7, 41)]
    assert any("did you mean `expand`" in m for m in messages(text))
    assert any("did you mean `in.height`" in m for m in messages(one_layer('"${in.heigth}"')))
    assert any("did you mean `max`" in m for m in messages(one_layer('"${mx(1, 2)}"')))


def test_a_default_cannot_read_a_later_parameter():
    text = """archspec: 1
input: [3, 8, 8]
blocks:
  b:
    params: {a: "${c + 1}", c: 2}
    layers: [{type: conv2d, out_channels: $a, kernel_size: 1}]
layers:
  - {type: b}
"""
    assert found(text) == [("E209", 5, 20)]


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 10_000 + "1" + ")" * 10_000,
        "-" * 5_000 + "1",
        "1+" * 3_000 + "1",
        "9" * 10_000,
        "1e999",
        "make_divisible(" + "9" * 39 + " * " * 0 + "9" * 39 + " * " + "9" * 39 + " * " + "9" * 39 + ", 8)",
        "\u0661\u0662",
        "in.shape[99999999999999999999999]",
        "in . channels . x",
        "min()",
        "make_divisible(8)",
        "make_divisible(8, 0.5)",
        "make_divisible(8, -8)",
        " * ".join(["99999999999999999999999999999999999999.5"] * 12),  # beyond floating point: inf
        " * ".join(["9" * 40] * 12) + " * 1.5",  # an integer too large to become a float
        " * ".join(["9" * 40] * 12) + " / 7",
        "in.shape[" + " * ".join(["9" * 40] * 12) + " * 0.5]",
    ],
)
def test_hostile_expressions_are_diagnosed_never_raised(expression):
    text = one_layer(f'"${{{expression}}}"').replace("padding", "out_channels: 4, groups")
    _, diagnostics = parse_spec(text, "t.yaml")  # must not raise
    assert [d for d in diagnostics if d.severity.value == "error"]


def test_a_huge_result_is_out_of_range_for_the_field():
    assert found(one_layer('"${' + " * ".join(["99999999999"] * 4) + '}"')) == [("E204", 4, 63)]


# --- defaults ---

DEFAULTS = """archspec: 1
input: [3, 16, 16]
defaults:
  batchnorm2d: {eps: 0.001, momentum: 0.01}
  conv_bn: {width: 12}
blocks:
  conv_bn:
    params: {width: 8}
    layers:
      - {type: conv2d, out_channels: $width, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm2d}
layers:
  - {type: conv_bn, name: a}
  - {type: conv_bn, name: b, width: 4}
  - {type: batchnorm2d, name: own, eps: 0.1}
"""


def test_defaults_apply_to_every_layer_of_a_kind_and_block_and_yield_to_a_layers_own():
    spec = archspec.loads(DEFAULTS)
    norms = {layer.name: (layer.eps, layer.momentum) for layer in spec.layers if layer.kind() == "batchnorm2d"}
    assert norms == {"a.batchnorm2d_1": (0.001, 0.01), "b.batchnorm2d_1": (0.001, 0.01), "own": (0.1, 0.01)}
    widths = [layer.out_channels for layer in spec.layers if layer.kind() == "conv2d"]
    assert widths == [12, 4]  # the block's default, then the call's own value


def test_without_defaults_torch_defaults_stay():
    spec = archspec.loads(DEFAULTS.replace("defaults:", "x-unused:"))
    assert {layer.eps for layer in spec.layers if layer.kind() == "batchnorm2d"} == {1e-5, 0.1}


@pytest.mark.parametrize(
    "section, code, line, column, words",
    [
        ("  batchnorm2: {eps: 0.001}", "E205", 4, 3, "did you mean `batchnorm2d`"),
        ("  batchnorm2d: {esp: 0.001}", "E201", 4, 17, "did you mean `eps`"),
        ("  conv_bn: {widht: 3}", "E201", 4, 13, "did you mean `width`"),
        ("  batchnorm2d: {eps: -1.0}", "E204", 4, 22, "eps"),
        ('  conv2d: {padding: "${in.size}"}', "E209", 4, 21, "defaults"),
        ('  conv2d: {padding: "${1 //}"}', "E208", 4, 21 + 3 + 4, "expected"),
    ],
)
def test_defaults_errors_are_positioned(section, code, line, column, words):
    text = f"""archspec: 1
input: [3, 16, 16]
defaults:
{section}
blocks:
  conv_bn:
    params: {{width: 8}}
    layers:
      - {{type: conv2d, out_channels: $width, kernel_size: 3}}
      - {{type: batchnorm2d}}
layers:
  - {{type: conv_bn}}
"""
    assert found(text) == [(code, line, column)]
    assert any(words in m for m in messages(text))


def test_in_is_the_input_of_the_block_the_expression_is_written_in():
    spec = archspec.loads(
        """archspec: 1
input: [4, 8, 8]
blocks:
  inner:
    params: {w: null}
    layers: [{type: conv2d, out_channels: $w, kernel_size: 1}, {type: conv2d, out_channels: "${in.channels + w}", kernel_size: 1}]
  outer:
    params: {m: 2}
    layers:
      - {type: conv2d, out_channels: 10, kernel_size: 1}
      - {type: inner, w: "${m * in.channels}"}
layers:
  - {type: conv2d, out_channels: 3, kernel_size: 1}
  - {type: outer, m: 5, repeat: 2}
"""
    )
    # outer_1.0 reads 3 channels: w = 5 * 3 = 15, and inner's second conv 10 + 15 (inner reads outer's 10-channel conv);
    # outer_1.1 reads outer_1.0's 25 channels: w = 125, then 10 + 125
    assert [layer.out_channels for layer in spec.layers] == [3, 10, 15, 25, 10, 125, 135]


def test_expressions_of_an_unused_block_are_checked_for_syntax_and_names():
    text = """archspec: 1
input: [3, 8, 8]
blocks:
  unused:
    params: {w: 4, h: "${w + x}"}
    layers:
      - {type: conv2d, out_channels: "${ww * in.channels}", kernel_size: "${(1}"}
      - type: conv2d
        out_channels: ${h * in.chanels}
        kernel_size: ${w // 2}
layers:
  - {type: relu}
"""
    assert found(text) == [("E209", 5, 30), ("E209", 7, 41), ("E208", 7, 79), ("E209", 9, 32)]


def test_a_learned_tensor_in_a_block_keeps_the_shapes_after_it_known():
    """A layer without inputs (a learned tensor, as ConvNeXt's layer scale) has a shape too: the mul that reads it,
    and so the next instance's `in.channels`, are known."""
    text = """archspec: 1
input: [8, 4, 4]
blocks:
  scaled:
    layers:
      - {type: parameter, name: g, shape: ["${in.channels * 2}", 1, 1], value: 0.5}
      - {type: conv2d, name: c, inputs: input, out_channels: "${in.channels * 2}", kernel_size: 1}
      - {type: mul, name: m, inputs: [g, c]}
layers:
  - {type: scaled, name: s, repeat: 2}
"""
    report = archspec.analyze(archspec.loads(text))
    assert report.ok
    assert [(i.name, i.output_shape) for i in report.layers] == [
        ("s.0.g", (16, 1, 1)),
        ("s.0.c", (16, 4, 4)),
        ("s.0.m", (16, 4, 4)),
        ("s.1.g", (32, 1, 1)),
        ("s.1.c", (32, 4, 4)),
        ("s.1.m", (32, 4, 4)),
    ]
