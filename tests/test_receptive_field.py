"""Receptive fields (Araujo, Norris & Sim, Distill 2019): chains, dilation, DAGs, published values."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.arith import RF
from archspec.lint import lint_text

SPECS = Path(__file__).resolve().parent.parent / "specs"


def rf_of(text: str, layer: str):
    r = archspec.analyze(archspec.loads(text))
    return r.layer(layer).rf


def chain(*layers: str, input_shape="[1, 64, 64]") -> str:
    body = "\n".join(f"  - {layer}" for layer in layers)
    return f"archspec: 1\ninput: {input_shape}\nlayers:\n{body}\n"


def test_distill_formula_by_hand():
    # r = 1 + Σ (k_l - 1) Π s_i ; S = Π s ; P = Σ p_l Π s_i (i < l)
    text = chain(
        "{type: conv2d, name: a, out_channels: 1, kernel_size: 5, stride: 2, padding: 2}",
        "{type: conv2d, name: b, out_channels: 1, kernel_size: 3, stride: 2, padding: 1}",
        "{type: maxpool2d, name: c, kernel_size: 3, stride: 2, padding: 1}",
    )
    assert rf_of(text, "a")[0] == RF(5, 2, 2)
    assert rf_of(text, "b")[0] == RF(1 + 4 + 2 * 2, 4, 2 + 1 * 2)
    assert rf_of(text, "c")[0] == RF(9 + 2 * 4, 8, 4 + 1 * 4)


def test_dilation_widens_the_field():
    text = chain(
        "{type: conv2d, name: a, out_channels: 1, kernel_size: 3, dilation: 2}",
        "{type: conv2d, name: b, out_channels: 1, kernel_size: 3, dilation: 4}",
    )
    assert rf_of(text, "a")[0].size == 5
    assert rf_of(text, "b")[0].size == 5 + 8


def test_anisotropic_kernels_per_axis():
    text = chain("{type: conv2d, name: a, out_channels: 1, kernel_size: [1, 7], padding: [0, 3]}")
    h, w = rf_of(text, "a")
    assert (h.size, w.size) == (1, 7) and (h.padding, w.padding) == (0, 3)


def test_residual_dag_takes_the_span_of_both_paths():
    text = """
archspec: 1
input: [1, 32, 32]
layers:
  - {type: conv2d, name: a, out_channels: 2, kernel_size: 3, padding: 1}
  - {type: conv2d, name: b, out_channels: 2, kernel_size: 3, padding: 1}
  - {type: add, name: sum, inputs: [b, a]}
"""
    # path through b: 5x5 (P=2); shortcut from a: 3x3 (P=1); union = 5x5 centred alike
    assert rf_of(text, "sum")[0] == RF(5, 1, 2)


def test_field_is_lost_after_flatten_and_global_pooling():
    text = chain(
        "{type: conv2d, name: a, out_channels: 2, kernel_size: 3}", "{type: globalavgpool2d, name: g}", input_shape="[1, 8, 8]"
    )
    assert rf_of(text, "a") is not None
    assert rf_of(text, "g") is None


@pytest.mark.parametrize(
    "spec, layer, size",
    [
        ("vgg16.yaml", "features.30", 212),  # the widely published VGG-16 pool5 field
        ("alexnet.yaml", "features.12", 195),  # AlexNet's last pooling, Araujo et al. 2019 table
        ("resnet50.yaml", "maxpool", 11),  # stem: 7x7/2 then 3x3/2 -> 1 + 6 + 2·2
    ],
)
def test_published_receptive_fields(spec, layer, size):
    r = archspec.analyze(archspec.load(SPECS / spec))
    names = [i.name for i in r.layers]
    assert layer in names, names
    assert r.layer(layer).rf[0].size == size


def test_a_dilated_window_reading_only_padding_ends_a_field_that_is_the_same_everywhere():
    """After a mean over a whole sequence (every unit sees all 8 positions), a dilated pool on the 1-long result
    taps positions -1 and 1: padding only, so its unit sees nothing (measured: no gradient reaches the input)."""
    torch = pytest.importorskip("torch")
    text = """
archspec: 1
input: [1, 8]
layers:
  - {type: mean, name: m, axes: [0, 1], keepdim: true}
  - {type: maxpool1d, name: p, kernel_size: 2, stride: 1, padding: 1, dilation: 2}
"""
    report = archspec.analyze(archspec.loads(text))
    assert [(rf.size, rf.stride) for rf in report.layer("m").rf] == [(8, 0)]
    assert report.layer("p").rf is None
    x = torch.rand(1, 1, 8, requires_grad=True)
    y = torch.nn.functional.max_pool1d(x.mean(dim=(1, 2), keepdim=True), 2, stride=1, padding=1, dilation=2)
    (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True, materialize_grads=True)
    assert not grad.any()
    (info,) = [d for d in lint_text(text, "s.yaml") if d.code == "I504"]
    assert "reads only padding" in info.message and info.line == 6


def test_a_learned_tensor_gets_no_i504():
    """A parameter layer has no field because it reads no input: nothing was lost, so no info."""
    text = """
archspec: 1
input: [4, 8]
layers:
  - {type: parameter, name: scale, shape: [4, 1], value: 0.5}
  - {type: mul, name: scaled, inputs: [input, scale]}
"""
    assert [d.code for d in lint_text(text, "s.yaml")] == []
    assert [(rf.size, rf.stride) for rf in archspec.analyze(archspec.loads(text)).layer("scaled").rf] == [(1, 1)]
