"""Kinds that merge and move tensors: broadcasting add/mul, their shapes, memory and receptive fields.

Receptive fields are proven against input gradients (tests/test_properties.py's check): the static
field of a central unit must equal the support of its gradient with respect to the input.
"""

from __future__ import annotations

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
    return archspec.analyze(archspec.loads(yaml.safe_dump(spec, sort_keys=False)))


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
