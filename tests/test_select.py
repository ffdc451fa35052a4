"""select: one position of an axis, the axis removed (torch.select), as a ViT takes its class token."""

from __future__ import annotations

import pytest

import archspec
from archspec.arith import RF
from archspec.codes import Code
from archspec.errors import SpecError

torch = pytest.importorskip("torch")

from test_properties import as_yaml, check_receptive_fields


def spec_of(input_shape: list[int], *layers: dict) -> dict:
    return {"archspec": 1, "name": "t", "input": input_shape, "layers": list(layers)}


def analyze(spec: dict):
    return archspec.analyze(archspec.loads(as_yaml(spec)))


def test_the_class_token_of_vit_b_16s_tokens():
    """Token 0 of 197×768 is a 768 vector, the values torchvision's ViT reads (x[:, 0]); nothing learned or counted."""
    spec = spec_of([197, 768], {"type": "select", "name": "cls", "axis": 0, "index": 0})
    info = analyze(spec).layer("cls")
    assert (info.output_shape, info.params, info.macs) == ((768,), 0, 0)
    x = torch.randn(2, 197, 768)
    model = archspec.build(analyze(spec)).eval()
    assert torch.equal(model(x), x[:, 0])


@pytest.mark.parametrize(
    "axis, index, shape, taken",
    [
        (1, -1, (4, 6), lambda x: x[:, :, -1]),  # the last row of a 4×5×6 map
        (-1, 2, (4, 5), lambda x: x[:, :, :, 2]),  # column 2
        (-3, 3, (5, 6), lambda x: x[:, 3]),  # channel 3 (axis -3 is the channels)
    ],
)
def test_any_axis_and_negative_positions_are_torchs(axis, index, shape, taken):
    spec = spec_of([4, 5, 6], {"type": "select", "name": "s", "axis": axis, "index": index})
    report = analyze(spec)
    assert report.layer("s").output_shape == shape
    x = torch.randn(3, 4, 5, 6)
    assert torch.equal(archspec.build(report).eval()(x), taken(x))


@pytest.mark.parametrize(
    "fields, message, hint, key",
    [
        ({"axis": 3, "index": 0}, "axis 3 is out of range for a rank-3 input 4×5×6 (axes 0 to 2)", "from -3 to 2", "axis"),
        ({"axis": -4, "index": 0}, "axis -4 is out of range", "from -3 to 2", "axis"),
        ({"axis": 1, "index": 5}, "index 5 is out of range for axis 1 (5 of 4×5×6)", "from -5 to 4", "index"),
        ({"axis": 2, "index": -7}, "index -7 is out of range for axis 2 (6 of 4×5×6)", "from -6 to 5", "index"),
    ],
)
def test_out_of_range_axes_and_positions_are_positioned_errors(fields, message, hint, key):
    spec = spec_of([4, 5, 6], {"type": "select", "name": "bad", **fields})
    text = as_yaml(spec)
    with pytest.raises(SpecError) as caught:
        archspec.analyze(archspec.loads(text))
    (error,) = caught.value.diagnostics
    assert (error.code, error.layer) == (Code.INCOMPATIBLE_INPUT, "bad")
    assert message in error.message and hint in error.hint
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith(f"{key}:"))
    assert error.line == line
    with pytest.raises(IndexError):  # torch refuses the same selection of one sample
        torch.empty(4, 5, 6).select(fields["axis"], fields["index"])


def test_a_vector_has_no_axis_to_remove_and_take_is_called_select():
    with pytest.raises(SpecError) as caught:
        analyze(spec_of([8], {"type": "select", "name": "v", "index": 0}))
    (error,) = caught.value.diagnostics
    assert error.code == Code.INCOMPATIBLE_INPUT and "a 8 vector has only one" in error.message and "slice" in error.hint
    with pytest.raises(SpecError) as caught:
        analyze(spec_of([4, 5], {"type": "take", "index": 0}))
    (error,) = caught.value.diagnostics
    assert error.code == Code.UNKNOWN_LAYER_TYPE and "`select`" in error.message


def test_the_field_stays_when_the_channels_go_and_ends_with_a_spatial_axis():
    """Channel 1 of a conv's map keeps every position (the spatial axes move down one); row 2 of it loses the
    layout, as global pooling does. Measured by input gradients."""
    spec = spec_of(
        [2, 9, 9],
        {"type": "conv2d", "name": "c", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "select", "name": "channel", "axis": 0, "index": 1},
        {"type": "relu", "name": "after"},
        {"type": "select", "name": "row", "axis": 0, "index": 2},
    )
    report = analyze(spec)
    assert report.layer("channel").output_shape == (9, 9) and report.layer("channel").rf_axes == (0, 1)
    assert report.layer("after").rf == (RF(3, 1, 1), RF(3, 1, 1))
    assert report.layer("row").output_shape == (9,) and report.layer("row").rf is None
    assert check_receptive_fields(spec) == 3  # c, channel, after: each field equals its gradient support
