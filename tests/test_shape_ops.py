"""Kinds that merge and move tensors: broadcasting add/mul, their shapes, memory and receptive fields.

Receptive fields are proven against input gradients (tests/test_properties.py's check): the static
field of a central unit must equal the support of its gradient with respect to the input.
"""

from __future__ import annotations

import re

import pytest
import yaml

import archspec
from archspec.arith import RF
from archspec.codes import Code
from archspec.errors import SpecError
from archspec.layers import LAYER_ADAPTER

torch = pytest.importorskip("torch")

from test_properties import check_receptive_fields


def spec_of(input_shape: list[int], *layers: dict) -> dict:
    return {"archspec": 1, "name": "t", "input": input_shape, "layers": list(layers)}


def analyze(spec: dict):
    return archspec.analyze(archspec.loads(dump(spec)))


def dump(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)  # lists of numbers on their key's line


def field_line(spec: dict, key: str) -> int:
    """The line of the first ``key:`` in the YAML the tests write (the place an error must point at)."""
    lines = dump(spec).splitlines()
    start = lines.index("layers:")
    return next(n for n, line in enumerate(lines[start:], start + 1) if re.search(rf"\b{key}:", line))


def errors_of(spec: dict) -> list:
    with pytest.raises(SpecError) as caught:
        analyze(spec)
    return caught.value.diagnostics


# --- mul and broadcasting add ---


def squeeze_excitation(gate: str = "sigmoid", merge: str = "mul") -> dict:
    """efficientnet's SE block after a 3×3 conv: pool to 1×1, conv 1×1, relu, conv 1×1, gate, multiply."""
    return spec_of(
        [2, 12, 12],
        {"type": "conv2d", "name": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "adaptiveavgpool2d", "name": "squeeze", "output_size": 1},
        {"type": "conv2d", "name": "fc1", "out_channels": 2, "kernel_size": 1},
        {"type": "relu", "name": "relu"},
        {"type": "conv2d", "name": "fc2", "out_channels": 4, "kernel_size": 1},
        {"type": gate, "name": "gate"},
        {"type": merge, "name": "scale", "inputs": ["gate", "conv"]},
        {"type": "conv2d", "name": "after", "out_channels": 2, "kernel_size": 3, "padding": 1},
    )


@pytest.mark.parametrize("gate, merge", [("sigmoid", "mul"), ("hardsigmoid", "mul"), ("sigmoid", "add")])
def test_squeeze_excitation_sees_the_whole_input(gate, merge):
    spec = squeeze_excitation(gate, merge)
    report = analyze(spec)
    assert report.layer("scale").output_shape == (4, 12, 12)
    # the gate saw the whole padded map (12 + 2 padding), and every unit is scaled by it: stride 0
    assert report.layer("scale").rf == (RF(14, 0, 1), RF(14, 0, 1))
    assert report.layer("after").rf == (RF(14, 0, 1), RF(14, 0, 1))  # nothing more to see
    assert not [d for d in report.diagnostics if d.code == Code.MISALIGNED_MERGE]  # a gate is aligned with any path
    spec["input"] = [2, 14, 14]  # a central unit's field [-1, 12] pokes out of 12 rows; measured only where it fits
    spec["layers"][0]["padding"] = 0
    assert analyze(spec).layer("scale").rf == (RF(14, 0, 0), RF(14, 0, 0))
    assert check_receptive_fields(spec) >= 3  # the gradient support is the whole input, as claimed


def test_a_spatial_gate_is_whole_along_the_channels_only():
    """A 1×H×W map times C×H×W: positions stay local, so the field is the union of the two local paths."""
    spec = spec_of(
        [3, 10, 10],
        {"type": "conv2d", "name": "attn", "out_channels": 1, "kernel_size": 5, "padding": 2},
        {"type": "sigmoid", "name": "gate"},
        {"type": "conv2d", "name": "feat", "inputs": "input", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "mul", "name": "out", "inputs": ["feat", "gate"]},
    )
    assert analyze(spec).layer("out").rf == (RF(5, 1, 2), RF(5, 1, 2))
    assert check_receptive_fields(spec) == 4


def test_broadcast_shapes_match_torch():
    cases = [[(4, 5, 5), (4, 1, 1)], [(1, 5, 5), (4, 1, 1)], [(4, 5, 1), (1, 1, 6)], [(3, 4), (4,)]]
    for ins in cases:
        expected = tuple(torch.broadcast_shapes(*ins))
        for kind in ("add", "mul"):
            layer = LAYER_ADAPTER.validate_python({"type": kind})
            assert layer.output_shape([tuple(s) for s in ins]) == expected, (kind, ins)
            y = layer.lower(ins)(*[torch.ones(2, *s) for s in ins])
            assert tuple(y.shape[1:]) == expected


def test_shapes_that_do_not_broadcast_name_the_axis_and_both_paths():
    spec = spec_of(
        [3, 8, 8],
        {"type": "conv2d", "name": "a", "out_channels": 4, "kernel_size": 1},
        {"type": "conv2d", "name": "b", "inputs": "input", "out_channels": 3, "kernel_size": 1},
        {"type": "mul", "name": "m", "inputs": ["a", "b"]},
    )
    (error,) = errors_of(spec)
    assert error.code == Code.MERGE_SHAPE_MISMATCH
    assert "on the channels" in error.message and "`a` gives 4×8×8" in error.message and "`b` gives 3×8×8" in error.message
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.ones(1, 4, 8, 8) * torch.ones(1, 3, 8, 8)


def test_mul_keeps_both_inputs_for_the_backward_pass():
    """Autograd saves both factors of a product (and a sum nothing), so the gate path costs its memory."""
    from archspec.analysis.memory import saved_bytes_per_sample

    def saved(merge: str) -> int:
        spec = spec_of(
            [4, 8, 8],
            {"type": "adaptiveavgpool2d", "name": "p", "output_size": 1},
            {"type": "sigmoid", "name": "g"},  # saves its output: 4 floats
            {"type": merge, "name": "m", "inputs": ["input", "g"]},
        )
        return saved_bytes_per_sample(analyze(spec))

    # the input (kept anyway), the sigmoid's output and the result (the network output)
    assert saved("add") == 4 * (256 + 4 + 256)
    assert saved("mul") == saved("add")  # mul keeps the input and the gate: both kept already
    spec = spec_of(
        [4, 8, 8],
        {"type": "relu", "name": "r"},  # saves its output (256 floats)
        {"type": "conv2d", "name": "c", "inputs": "input", "out_channels": 4, "kernel_size": 1},  # saves the input
        {"type": "mul", "name": "m", "inputs": ["r", "c", "input"]},  # keeps r, c, input and r·c
        {"type": "identity", "name": "out"},
    )
    assert saved_bytes_per_sample(analyze(spec)) == 4 * (256 * 4 + 256)


# --- permute, transpose, reshape, unflatten, channel_shuffle: the field follows the spatial axes ---


def convnext_block(width: int = 4) -> dict:
    """torchvision's CNBlock: depthwise 7×7, permute to H×W×C, layer norm, linear, gelu, linear, back, residual."""
    return spec_of(
        [width, 16, 16],
        {"type": "conv2d", "name": "dw", "out_channels": width, "kernel_size": 7, "padding": 3, "groups": "depthwise"},
        {"type": "permute", "name": "to_last", "axes": [1, 2, 0]},
        {"type": "layernorm", "name": "norm"},  # over the last axis: the channels
        {"type": "linear", "name": "pw1", "out_features": 4 * width},
        {"type": "gelu", "name": "act"},
        {"type": "linear", "name": "pw2", "out_features": width},
        {"type": "permute", "name": "to_first", "axes": [2, 0, 1]},
        {"type": "add", "name": "out", "inputs": ["to_first", "input"]},
    )


def test_convnext_permute_linear_permute_keeps_the_field():
    spec = convnext_block()
    report = analyze(spec)
    for name in ("to_last", "norm", "pw1", "act", "pw2", "to_first", "out"):
        assert report.layer(name).rf == (RF(7, 1, 3), RF(7, 1, 3)), name
    assert report.layer("pw1").rf_axes == (0, 1)  # H×W×C: the spatial axes lead
    assert report.layer("out").rf_axes == (1, 2)
    assert report.to_dict()["layers"][3]["receptive_field"]["axes"] == [0, 1]  # describe says where they are
    assert "axes" not in report.to_dict()["layers"][0]["receptive_field"]
    assert check_receptive_fields(spec) == 8  # every layer, measured by input gradients


def test_a_layernorm_over_a_spatial_axis_after_a_permute_mixes_it():
    spec = spec_of(
        [2, 6, 8],
        {"type": "permute", "name": "p", "axes": [0, 2, 1]},  # C×W×H: the height last
        {"type": "layernorm", "name": "norm"},  # over the height
        {"type": "groupnorm", "name": "gn", "num_groups": 1},  # over everything, but its rule assumes channels first
    )
    report = analyze(spec)
    assert report.layer("norm").rf == (RF(6, 0, 0), RF(1, 1, 0)) and report.layer("norm").rf_axes == (2, 1)
    assert report.layer("gn").rf == (RF(6, 0, 0), RF(8, 0, 0))
    assert check_receptive_fields(spec) == 3


def test_a_transpose_of_height_and_width_is_followed_and_a_conv_after_channels_last_loses_the_field():
    spec = spec_of(
        [2, 9, 11],
        {"type": "conv2d", "name": "c", "out_channels": 2, "kernel_size": [1, 3], "padding": [0, 1]},
        {"type": "transpose", "name": "t", "axis0": 1, "axis1": 2},  # 2×11×9: width first
        {"type": "relu", "name": "r"},
        {"type": "conv2d", "name": "c2", "out_channels": 2, "kernel_size": [1, 5]},  # 1 along the width, 5 along the height
        {"type": "softmax", "name": "s", "inputs": "r", "axis": 2},  # over the (input's) height
        {"type": "permute", "name": "last", "inputs": "r", "axes": [1, 2, 0]},
        {"type": "conv2d", "name": "c3", "out_channels": 2, "kernel_size": 1},  # would read the height as channels
    )
    report = analyze(spec)
    assert report.layer("t").output_shape == (2, 11, 9)
    assert report.layer("r").rf == (RF(1, 1, 0), RF(3, 1, 1)) and report.layer("r").rf_axes == (2, 1)
    assert report.layer("c2").output_shape == (2, 11, 5)
    assert report.layer("c2").rf == (RF(5, 1, 0), RF(3, 1, 1))  # each kernel size on the axis it slides along
    assert report.layer("s").rf == (RF(9, 0, 0), RF(3, 1, 1))  # the softmax mixes the height, wherever it lies
    assert report.layer("c3").rf is None  # a convolution over channels-last axes: no rule is known
    assert check_receptive_fields(spec) == 6


def test_unflatten_and_reshape_keep_positions_they_do_not_regroup():
    spec = spec_of(
        [6, 8, 8],
        {"type": "conv2d", "name": "c", "out_channels": 6, "kernel_size": 3, "padding": 1},
        {"type": "unflatten", "name": "groups", "axis": 0, "sizes": [2, -1]},  # 2×3×8×8
        {"type": "reshape", "name": "back", "shape": [-1, 8, 8]},
        {"type": "channel_shuffle", "name": "shuffle", "groups": 3},
        {"type": "reshape", "name": "rows", "shape": [6, 64]},  # the height and width flattened in order: a token grid
        {"type": "reshape", "name": "regrouped", "shape": [48, 8], "inputs": "shuffle"},  # channels and height merged
    )
    report = analyze(spec)
    assert report.layer("groups").output_shape == (2, 3, 8, 8) and report.layer("groups").rf_axes == (2, 3)
    assert report.layer("back").rf == report.layer("shuffle").rf == report.layer("rows").rf == (RF(3, 1, 1), RF(3, 1, 1))
    assert report.layer("rows").rf_axes == (1, 1) and report.layer("rows").rf_grid.sizes == (8, 8)
    assert report.layer("regrouped").rf is None
    assert check_receptive_fields(spec) == 5


def test_channel_shuffle_is_torchs():
    layer = LAYER_ADAPTER.validate_python({"type": "channel_shuffle", "groups": 3})
    x = torch.arange(2 * 6 * 2 * 2, dtype=torch.float32).view(2, 6, 2, 2)
    # shufflenet_v2's own: view(b, groups, c // groups, h, w), transpose(1, 2), view(b, c, h, w)
    by_hand = x.view(2, 3, 2, 2, 2).transpose(1, 2).reshape(2, 6, 2, 2)
    assert torch.equal(layer.lower([(6, 2, 2)])(x), by_hand)


@pytest.mark.parametrize(
    "fields, message, field",
    [
        ({"type": "permute", "axes": [0, 0, 1]}, "are not an order of the 3 axes", "axes"),
        ({"type": "reshape", "shape": [5, -1]}, "holds 5 values times a whole number, but the 3×4×4 input has 48", "shape"),
        ({"type": "reshape", "shape": [2, 4, 4]}, "holds 32 values, but the 3×4×4 input has 48", "shape"),
        ({"type": "unflatten", "axis": 0, "sizes": [2, 2]}, "holds 4 values, but axis 0 (3 of 3×4×4) has 3", "sizes"),
        ({"type": "channel_shuffle", "groups": 2}, "needs channels divisible by 2", "groups"),
        ({"type": "transpose", "axis0": 0, "axis1": 3}, "axis 3 is out of range", "axis1"),
    ],
)
def test_wrong_moves_get_positioned_errors(fields, message, field):
    spec = spec_of([3, 4, 4], {"name": "bad", **fields})
    (error,) = errors_of(spec)
    assert message in error.message and error.layer == "bad" and error.line == field_line(spec, field)


# --- mean ---


def test_mean_over_axes():
    spec = spec_of(
        [3, 6, 8],
        {"type": "conv2d", "name": "c", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "mean", "name": "rows", "axes": [2], "keepdim": True},  # 4×6×1: each unit sees its whole row
        {"type": "mean", "name": "chan", "inputs": "c", "axes": [0]},  # 6×8: channels gone, positions stay
        {"type": "relu", "name": "after"},
        {"type": "mean", "name": "head", "inputs": "c", "axes": [-2, -1]},  # 4: the layout is gone
    )
    report = analyze(spec)
    assert report.layer("rows").output_shape == (4, 6, 1) and report.layer("rows").rf == (RF(3, 1, 1), RF(10, 0, 1))
    assert report.layer("chan").output_shape == (6, 8) and report.layer("after").rf == (RF(3, 1, 1), RF(3, 1, 1))
    assert report.layer("after").rf_axes == (0, 1)
    assert report.layer("head").output_shape == (4,) and report.layer("head").rf is None
    spec["input"] = [3, 6, 10]  # rows of 10 + 2 padding: the central unit's row fits; measured
    spec["layers"][0]["padding"] = [1, 0]
    assert check_receptive_fields(spec) == 4


# --- split, chunk, slice: parts by NAME:INDEX ---


def test_chunk_and_split_parts_are_layers_named_by_index():
    spec = spec_of(
        [7, 6, 6],
        {"type": "chunk", "name": "parts", "chunks": 3},  # torch.chunk: 3 + 3 + 1
        {"type": "conv2d", "name": "branch", "inputs": "parts:2", "out_channels": 1, "kernel_size": 3, "padding": 1},
        {"type": "split", "name": "halves", "inputs": "parts:0", "sizes": [1, 2]},
        {"type": "concat", "name": "cat", "inputs": ["halves:1", "parts:1", "branch"]},
    )
    report = analyze(spec)
    assert [report.layer(f"parts:{i}").output_shape for i in range(3)] == [(3, 6, 6), (3, 6, 6), (1, 6, 6)]
    assert report.layer("halves:1").output_shape == (2, 6, 6) and report.layer("cat").output_shape == (6, 6, 6)
    x = torch.randn(1, 7, 6, 6)
    parts = torch.chunk(x, 3, dim=1)
    model = archspec.build(report).eval()
    outs = model.forward_all(x)
    assert all(torch.equal(outs[f"parts:{i}"], parts[i]) for i in range(3))
    assert torch.equal(outs["halves:1"], torch.split(parts[0], [1, 2], dim=1)[1])


def test_a_bare_reference_to_a_split_names_its_parts():
    spec = spec_of([4, 6, 6], {"type": "chunk", "name": "parts", "chunks": 2}, {"type": "relu", "inputs": "parts"})
    with pytest.raises(SpecError) as caught:
        archspec.loads(dump(spec))
    (error,) = caught.value.diagnostics
    assert error.code == Code.UNKNOWN_REFERENCE and error.line == field_line(spec, "inputs")
    assert "`parts` has 2 outputs" in error.message and "`parts:0`, `parts:1`" in error.message


@pytest.mark.parametrize(
    "cut, message",
    [
        ({"type": "split", "sizes": [2, 3]}, "split sizes [2, 3] add up to 5, but the channels has 4"),
        ({"type": "chunk", "chunks": 3, "axis": 1}, "torch.chunk cuts 4 positions of the height into 2 chunks of 2, not 3"),
        ({"type": "slice", "axis": 2, "start": 4}, "keeps nothing"),
    ],
)
def test_parts_that_torch_cannot_make_are_refused(cut, message):
    spec = spec_of([4, 4, 4], {"name": "parts", **cut})
    if cut["type"] != "slice":
        spec["output"] = "parts:0"  # (a split's own last layer: which part is the output)
    errors = errors_of(spec)
    assert any(message in e.message for e in errors), [e.message for e in errors]
    if cut["type"] == "chunk":
        assert len(torch.chunk(torch.ones(1, 4, 4, 4), 3, dim=2)) == 2  # torch agrees: two chunks, not three


def test_slices_and_parts_along_space_are_shifts_proven_by_gradients():
    spec = spec_of(
        [1, 12, 12],
        {"type": "conv2d", "name": "c", "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "slice", "name": "odd", "axis": 2, "start": 1, "step": 2},  # columns 1, 3, 5, ...
        {"type": "conv2d", "name": "c2", "out_channels": 2, "kernel_size": 3},
        {"type": "split", "name": "rows", "inputs": "c", "axis": 1, "sizes": [5, 7]},
        {"type": "relu", "name": "lower", "inputs": "rows:1"},
    )
    report = analyze(spec)
    assert report.layer("odd").rf == (RF(3, 1, 1), RF(3, 2, 0))
    assert report.layer("c2").rf == (RF(5, 1, 1), RF(7, 2, 0))
    assert report.layer("lower").rf == (RF(3, 1, -4), RF(3, 1, 1))  # row 0 of the part is row 5 of the input
    assert check_receptive_fields(spec) == 6


# --- crop and center_crop ---


def test_center_crop_matches_a_hand_written_unet_and_its_field_is_a_shift():
    """U-Net (Ronneberger et al. 2015): the skip is cropped to the upsampled path's size, d = (n - m) // 2."""
    spec = spec_of(
        [1, 17, 16],
        {"type": "conv2d", "name": "skip", "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "conv2d", "name": "deep", "out_channels": 2, "kernel_size": 3},
        {"type": "conv2d", "name": "deeper", "out_channels": 2, "kernel_size": 3},  # 2×13×12
        {"type": "center_crop", "name": "crop", "inputs": ["skip", "deeper"]},
        {"type": "concat", "name": "cat", "inputs": ["crop", "deeper"]},
    )
    report = analyze(spec)
    assert report.layer("crop").output_shape == (2, 13, 12)
    assert report.layer("crop").rf == (RF(3, 1, 1 - 2), RF(3, 1, 1 - 2))  # d = (17 - 13) // 2 = (16 - 12) // 2 = 2
    assert not [d for d in report.diagnostics if d.code == Code.MISALIGNED_MERGE]  # centred: aligned with `deeper`
    x = torch.randn(1, 1, 17, 16)
    outs = archspec.build(report).eval().forward_all(x)
    skip, h, w = outs["skip"], 13, 12
    d_h, d_w = (skip.shape[2] - h) // 2, (skip.shape[3] - w) // 2
    assert torch.equal(outs["crop"], skip[:, :, d_h : d_h + h, d_w : d_w + w])
    assert check_receptive_fields(spec) == 5


def test_an_odd_difference_leaves_the_extra_position_at_the_end():
    layer = LAYER_ADAPTER.validate_python({"type": "center_crop", "size": [2, 4]})
    x = torch.arange(7 * 5, dtype=torch.float32).view(1, 1, 7, 5)
    # 7 → 2: d = 2 (rows 2, 3; three rows after them, two before); 5 → 4: d = 0
    assert torch.equal(layer.lower([(1, 7, 5)])(x), x[:, :, 2:4, 0:4])
    tvf = pytest.importorskip("torchvision.transforms.v2.functional")
    assert torch.equal(tvf.center_crop(x, [2, 4]), x[:, :, 2:4, 0:4])  # torchvision: round(2.5) = 2, the same here
    assert torch.equal(tvf.center_crop(x, [4, 4]), x[:, :, 2:6, 0:4])  # but round(1.5) = 2 where (7 - 4) // 2 = 1


def test_crop_to_a_box_and_its_errors():
    spec = spec_of([1, 10, 10], {"type": "crop", "name": "box", "start": [2, 3], "size": [4, 5]})
    report = analyze(spec)
    assert report.layer("box").output_shape == (1, 4, 5) and report.layer("box").rf == (RF(1, 1, -2), RF(1, 1, -3))
    assert check_receptive_fields(spec) == 1
    bad = spec_of([1, 10, 10], {"type": "crop", "name": "box", "start": 8, "size": 4})
    (error,) = errors_of(bad)
    assert "crop to 4 from position 8 does not fit the height of 1×10×10" in error.message
    assert error.line == field_line(bad, "size")
    (error,) = errors_of(spec_of([1, 10, 10], {"type": "center_crop", "name": "c"}))
    assert "needs exactly one of them" in error.message


def test_a_lost_field_is_explained():
    """I504 says why there is no field: a convolution over permuted axes, a reshape that regroups positions."""
    from archspec.lint import lint_text

    spec = spec_of(
        [3, 8, 8],
        {"type": "permute", "name": "p", "axes": [1, 2, 0]},
        {"type": "conv2d", "name": "c", "out_channels": 2, "kernel_size": 3},
        {"type": "reshape", "name": "r", "inputs": "input", "shape": [24, 8]},  # channels and height merged
        {"type": "flatten", "name": "f", "inputs": "input"},  # lost on purpose: no info
        {"type": "concat", "name": "out", "inputs": ["f", "f"]},
    )
    infos = {d.layer: d.message for d in lint_text(dump(spec)) if d.code == Code.NO_SINGLE_RECEPTIVE_FIELD}
    assert set(infos) == {"c", "r"}
    assert "a permute has moved" in infos["c"] and "regroup the positions of a spatial axis" in infos["r"]


def test_the_network_output_must_pick_a_part():
    spec = spec_of([4, 6, 6], {"type": "relu", "name": "r"}, {"type": "chunk", "name": "parts", "chunks": 2})
    with pytest.raises(SpecError) as caught:
        archspec.loads(dump(spec))
    (error,) = caught.value.diagnostics
    assert (
        "the last layer `parts` has 2 outputs" in error.message
        and error.hint == "add `output: parts:0` (or another part) at the top level"
    )
    spec["output"] = "parts:1"
    assert analyze(spec).layer(analyze(spec).output).output_shape == (2, 6, 6)


def test_parts_inside_blocks_and_switched_off_splits():
    text = """
archspec: 1
input: [4, 6, 6]
blocks:
  shuffle:
    layers:
      - {type: chunk, name: halves, chunks: 2}
      - {type: conv2d, name: branch, inputs: "halves:1", out_channels: 2, kernel_size: 1}
      - {type: concat, name: cat, inputs: ["halves:0", branch]}
      - {type: channel_shuffle, name: mix, groups: 2}
layers:
  - {type: shuffle, name: s1}
  - {type: split, name: skipped, sizes: [1, 3], when: false}
  - {type: relu, name: r, inputs: "skipped:1"}
"""
    report = archspec.analyze(archspec.loads(text))
    assert report.layer("s1.halves:1").output_shape == (2, 6, 6) and report.layer("s1.mix").output_shape == (4, 6, 6)
    assert report.layer("r").inputs == ["s1.mix"] and report.layer("r").output_shape == (4, 6, 6)  # a left-out split: its input


def test_diagrams_draw_parts_as_their_own_nodes():
    """`parts:0` in a DOT edge would mean port 0 of node `parts`; the diagram keeps one node per part."""
    pygraphviz = pytest.importorskip("pygraphviz")
    from archspec.render import diagram

    spec = spec_of(
        [4, 6, 6],
        {"type": "chunk", "name": "parts", "chunks": 2},
        {"type": "conv2d", "name": "branch", "inputs": "parts:1", "out_channels": 2, "kernel_size": 1},
        {"type": "concat", "name": "cat", "inputs": ["parts:0", "branch"]},
    )
    for style in ("layers", "tensors"):
        graph = pygraphviz.AGraph(string=diagram.to_dot(analyze(spec), style))
        nodes = set(graph.nodes())
        assert {"parts∶0", "parts∶1", "cat"} <= nodes and "parts" not in nodes, (style, nodes)
        assert graph.has_edge("parts∶0", "cat")  # (the tensors style folds the conv into the edge from parts:1)
        assert "parts:0" in graph.get_node("parts∶0").attr["label"]  # the label keeps the name
