"""The spec language: chains, DAGs, generated names, blocks with parameters, repeat, first, when."""

from __future__ import annotations

import pytest

import archspec
from archspec import SpecError


def names_and_inputs(text: str):
    spec = archspec.loads(text)
    return [(layer.name, layer.inputs) for layer in spec.layers], spec


def test_chain_with_generated_names_skips_given_ones():
    layers, spec = names_and_inputs(
        """
archspec: 1
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: 1}
  - {type: relu, name: relu_1}
  - {type: relu}
  - {type: conv2d, out_channels: 2, kernel_size: 1}
"""
    )
    assert layers == [
        ("conv2d_1", ["input"]),
        ("relu_1", ["conv2d_1"]),
        ("relu_2", ["relu_1"]),  # relu_1 is taken by the user's layer
        ("conv2d_2", ["relu_2"]),
    ]
    assert spec.output == "conv2d_2"


def test_dag_references_and_output():
    layers, spec = names_and_inputs(
        """
archspec: 1
input: [3, 8, 8]
output: cat
layers:
  - {type: conv2d, name: a, out_channels: 2, kernel_size: 1}
  - {type: conv2d, name: b, out_channels: 3, kernel_size: 3, padding: 1, inputs: input}
  - {type: concat, name: cat, inputs: [a, b]}
  - {type: relu, name: unused}
"""
    )
    assert dict(layers)["b"] == ["input"]
    assert dict(layers)["cat"] == ["a", "b"]
    assert spec.output == "cat"
    assert archspec.analyze(spec).output_shape == (5, 8, 8)


BLOCKS = """
archspec: 1
input: [16, 8, 8]
blocks:
  unit:
    params: {c: null, k: 3}
    layers:
      - {type: conv2d, name: conv, out_channels: $c, kernel_size: [$k, $k], padding: 1}
      - {type: relu, name: act}
  res:
    params: {c: null, stride: 1, project: false}
    layers:
      - {type: unit, name: body, c: $c}
      - {type: conv2d, name: proj, inputs: input, out_channels: $c, kernel_size: 1, stride: $stride, when: $project}
      - {type: add, name: sum, inputs: [body, proj]}
layers:
  - {type: res, name: stage, repeat: 3, c: 16}
  - {type: res, name: wide, c: 32, project: true}
  - {type: globalavgpool2d, name: pool, inputs: stage}
"""


def test_blocks_repeat_nest_and_name_like_torchvision():
    layers, spec = names_and_inputs(BLOCKS)
    got = dict(layers)
    assert list(got) == [
        "stage.0.body.conv", "stage.0.body.act", "stage.0.sum",
        "stage.1.body.conv", "stage.1.body.act", "stage.1.sum",
        "stage.2.body.conv", "stage.2.body.act", "stage.2.sum",
        "wide.body.conv", "wide.body.act", "wide.proj", "wide.sum",
        "pool",
    ]  # fmt: skip
    assert got["stage.0.body.conv"] == ["input"]
    assert got["stage.0.sum"] == ["stage.0.body.act", "input"]  # proj left out: its input stands in
    assert got["stage.1.body.conv"] == ["stage.0.sum"]
    assert got["wide.proj"] == ["stage.2.sum"]
    assert got["wide.sum"] == ["wide.body.act", "wide.proj"]
    assert got["pool"] == ["stage.2.sum"]  # a block instance name means its output
    conv = spec.layer("wide.body.conv")
    assert conv.out_channels == 32 and conv.kernel_size == (3, 3)
    assert spec.block_of["wide.body.conv"] == ("wide", "wide.body")
    assert spec.block_types == {"stage.0": "res", "stage.0.body": "unit", "stage.1": "res", "stage.1.body": "unit",
                                "stage.2": "res", "stage.2.body": "unit", "wide": "res", "wide.body": "unit"}  # fmt: skip


def test_wide_block_breaks_shapes_at_its_add():
    """`wide` widens to 32 channels on both paths, so it is fine; the pool reads `stage` (16 channels)."""
    report = archspec.analyze(archspec.loads(BLOCKS))
    assert report.layer("wide.sum").output_shape == (32, 8, 8)
    assert report.layer("pool").output_shape == (16,)


def test_first_overrides_only_the_first_repetition():
    text = """
archspec: 1
input: [4, 16, 16]
blocks:
  down:
    params: {c: null, s: 1}
    layers:
      - {type: conv2d, name: conv, out_channels: $c, kernel_size: 3, stride: $s, padding: 1}
layers:
  - {type: down, name: d, repeat: 3, c: 8, first: {s: 2}}
"""
    report = archspec.analyze(archspec.loads(text))
    assert [report.layer(f"d.{i}.conv").output_shape for i in range(3)] == [(8, 8, 8), (8, 8, 8), (8, 8, 8)]
    assert report.layer("d.0.conv").layer.stride == (2, 2)
    assert report.layer("d.1.conv").layer.stride == (1, 1)


def test_a_left_out_split_means_its_input_for_each_of_its_parts():
    """ShuffleNet's units: a chunk switched off (the stride-2 unit) lets chunk:0 and chunk:1 mean the whole input."""
    text = """
archspec: 1
input: [8, 4, 4]
blocks:
  unit:
    params: {split: true}
    layers:
      - {type: chunk, name: chunk, chunks: 2, when: $split}
      - {type: relu, name: a, inputs: chunk:0}
      - {type: relu, name: b, inputs: chunk:1}
      - {type: concat, name: cat, inputs: [a, b]}
layers:
  - {type: unit, name: u, repeat: 2, first: {split: false}}
"""
    names, _ = names_and_inputs(text)
    assert names[:3] == [("u.0.a", ["input"]), ("u.0.b", ["input"]), ("u.0.cat", ["u.0.a", "u.0.b"])]
    assert ("u.1.a", ["u.1.chunk:0"]) in names and ("u.1.b", ["u.1.chunk:1"]) in names
    report = archspec.analyze(archspec.loads(text))
    assert report.layer("u.0.cat").output_shape == (16, 4, 4)  # no split: a and b both read all 8 channels
    assert report.layer("u.1.cat").output_shape == (16, 4, 4)  # 8 + 8 from the 16 channels split in two


def test_qualified_names_reach_into_blocks_from_the_top():
    text = BLOCKS.replace("inputs: stage}", "inputs: stage.1.body.conv}")
    layers, _ = names_and_inputs(text)
    assert dict(layers)["pool"] == ["stage.1.body.conv"]


def test_stated_widths_are_checked_and_inferred_ones_used():
    text = """
archspec: 1
input: [3, 8, 8]
layers:
  - {type: conv2d, in_channels: 3, out_channels: 4, kernel_size: 3}
  - {type: batchnorm2d, num_features: 4}
  - {type: flatten}
  - {type: linear, in_features: 144, out_features: 2}
"""
    report = archspec.analyze(archspec.loads(text))
    assert report.totals()["params"] == (3 * 4 * 9 + 4) + 8 + (144 * 2 + 2)


def test_trainable_false_moves_parameters_to_non_trainable():
    text = """
archspec: 1
input: [8]
layers:
  - {type: linear, out_features: 4, trainable: false}
  - {type: linear, out_features: 2}
"""
    totals = archspec.analyze(archspec.loads(text)).totals()
    assert (totals["params"], totals["trainable_params"], totals["non_trainable_params"]) == (46, 10, 36)


def test_huge_sizes_are_exact_integers():
    text = "archspec: 1\ninput: [1000000000]\nlayers:\n  - {type: linear, out_features: 1000000000000}\n"
    totals = archspec.analyze(archspec.loads(text)).totals()
    assert totals["params"] == 10**9 * 10**12 + 10**12
    assert totals["macs"] == 10**21


def test_load_raises_spec_error_with_every_diagnostic():
    with pytest.raises(SpecError) as exc:
        archspec.loads("archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d}\n  - {type: nope}\n", "x.yaml")
    codes = [(d.code, d.line) for d in exc.value.diagnostics]
    assert codes == [("E202", 4), ("E202", 4), ("E205", 5)]
    assert "x.yaml:4:5: E202" in str(exc.value)


def test_analyze_raises_on_shape_errors():
    spec = archspec.loads("archspec: 1\ninput: [3, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 1, kernel_size: 5}\n")
    with pytest.raises(SpecError) as exc:
        archspec.analyze(spec)
    assert [d.code for d in exc.value.diagnostics] == ["E305"]
