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


# A ViT in miniature: a 5×5 convolution at stride 3 with padding 1 makes a 4×4 grid of patch tokens
# (r = 5, S = 3, P = 1), a class token in front, a position embedding, then one attention.
TINY_VIT = """
archspec: 1
input: [2, 12, 12]
layers:
  - {type: conv2d, name: conv_proj, out_channels: 4, kernel_size: 5, stride: 3, padding: 1}
  - {type: reshape, name: patches, shape: [4, 16]}
  - {type: transpose, name: tokens, axis0: 0, axis1: 1}
  - {type: parameter, name: class_token, shape: [1, 4], batch_axis: true, init: {weight: normal, std: 1.0}}
  - {type: concat, name: with_class_token, inputs: [class_token, tokens]}
  - {type: parameter, name: pos, shape: [17, 4], batch_axis: true, init: {weight: normal, std: 1.0}}
  - {type: add, name: embedded, inputs: [with_class_token, pos]}
  - {type: layernorm, name: ln_1}
  - {type: linear, name: mlp, out_features: 6}
  - {type: gelu, name: act}
  - {type: multihead_attention, name: attention, num_heads: 2}
  - {type: layernorm, name: ln}
  - {type: slice, name: class_token_out, axis: 0, start: 0, stop: 1}
  - {type: reshape, name: features, shape: [6]}
  - {type: linear, name: head, out_features: 3}
"""


def _support(torch, model, x, layer: str, token: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Rows and columns of the input (first, last) that token ``token`` of ``layer`` depends on, by autograd."""
    values = model.forward_all(x)[layer][0, token]
    weights = torch.arange(1, values.numel() + 1, dtype=x.dtype)  # distinct, so no sum can hide a dependency
    (grad,) = torch.autograd.grad((values * weights).sum(), x, allow_unused=True, materialize_grads=True)
    seen = grad[0].abs().sum(dim=0) > 0
    rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
    span = lambda hit: (int(hit.min()), int(hit.max())) if len(hit) else None  # noqa: E731
    return span(rows), span(cols)


def test_patch_tokens_keep_the_field_of_their_patch_on_the_grid():
    """Each patch token sees exactly its patch's window, through the reshape, transpose, the class token joined
    in front, the position embedding, layernorm and a linear map of the features; the class token sees nothing."""
    torch = pytest.importorskip("torch")
    report = archspec.analyze(archspec.loads(TINY_VIT))
    grid = report.layer("ln_1").rf_grid
    assert (grid.axis, grid.sizes, grid.before, grid.after) == (0, (4, 4), 1, 0)
    for name in ("patches", "tokens", "with_class_token", "embedded", "ln_1", "mlp", "act"):
        assert report.layer(name).rf == (RF(5, 3, 1), RF(5, 3, 1)), name
    assert report.layer("patches").rf_axes == (1, 1) and report.layer("act").rf_axes == (0, 0)
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(TINY_VIT)).double().eval()
    x = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    for layer in ("ln_1", "act"):
        assert _support(torch, model, x, layer, 0) == (None, None)  # the class token: no input position yet
        for i in range(4):
            for j in range(4):
                rf_h, rf_w = report.layer(layer).rf
                # the stated window -1 + 3i … 3 + 3i, less what lies in the zero padding
                rows = (max(0, -rf_h.padding + i * rf_h.stride), min(11, -rf_h.padding + i * rf_h.stride + rf_h.size - 1))
                cols = (max(0, -rf_w.padding + j * rf_w.stride), min(11, -rf_w.padding + j * rf_w.stride + rf_w.size - 1))
                assert _support(torch, model, x, layer, grid.token((i, j))) == (rows, cols), (layer, i, j)


def test_after_attention_every_token_sees_every_input_pixel():
    torch = pytest.importorskip("torch")
    report = archspec.analyze(archspec.loads(TINY_VIT))
    # every token sees the whole grid's span: 5 + 3·3 = 14 positions from -1, at stride 0
    assert report.layer("attention").rf == (RF(14, 0, 1), RF(14, 0, 1))
    assert report.layer("ln").rf == report.layer("attention").rf
    assert report.layer("class_token_out").rf is None  # the class token taken: the layout is gone, as after pooling
    torch.manual_seed(1)
    model = archspec.build(archspec.loads(TINY_VIT)).double().eval()
    x = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    for token in range(17):  # the class token and the 16 patch tokens
        values = model.forward_all(x)["attention"][0, token]
        (grad,) = torch.autograd.grad(values.sum(), x)
        assert (grad[0].abs().sum(dim=0) > 0).all(), token


def test_token_grid_in_the_table_json_and_lint():
    report = archspec.analyze(archspec.load(SPECS / "vit_b_16.yaml"))
    attention = report.layer("encoder.layers.encoder_layer_0.self_attention").to_dict()["receptive_field"]
    assert attention == {"size": [224, 224], "stride": [0, 0], "padding": [0, 0], "axes": [0, 0]}
    patches = report.layer("patches").to_dict()["receptive_field"]
    assert patches == {"size": [16, 16], "stride": [16, 16], "padding": [0, 0], "axes": [1, 1]}
    for spec in ("vit_b_16.yaml", "vit_small.yaml"):
        text = (SPECS / spec).read_text()
        assert "noqa" not in text and [d.code for d in lint_text(text, spec)] == []


@pytest.mark.parametrize(
    "layer, why",
    [
        ("{type: slice, name: cut, axis: 0, start: 0, stop: 5}", "keep part of a token grid"),
        ("{type: reshape, name: cut, shape: [34, 3]}", "regroup the tokens of a grid"),
        ("{type: conv1d, name: cut, out_channels: 2, kernel_size: 3}", "read tokens with a rule for channels-first maps"),
    ],
)
def test_a_token_grid_cut_or_regrouped_says_so(layer, why):
    text = TINY_VIT.split("  - {type: layernorm, name: ln}")[0] + f"  - {layer}\n"
    assert archspec.analyze(archspec.loads(text)).layer("cut").rf is None
    (info,) = [d for d in lint_text(text, "s.yaml") if d.code == "I504"]
    assert why in info.message
