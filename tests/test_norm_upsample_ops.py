"""Layer, group and instance normalisation, the learned tensor, stochastic depth, transposed convolution
and upsampling: figures against torch itself, fields against input gradients."""

from __future__ import annotations

import pytest
import yaml

import archspec

torch = pytest.importorskip("torch")
nn = torch.nn

import test_properties
from test_properties import check_against_torch, check_receptive_fields


@pytest.fixture(autouse=True)
def _outside_hypothesis(monkeypatch):
    """The property tests' checks, run on hand-picked specs (hypothesis' event() only works inside @given)."""
    monkeypatch.setattr(test_properties, "event", lambda *args: None)


def spec(input_shape, *layers) -> dict:
    return {"archspec": 1, "input": list(input_shape), "layers": list(layers)}


def report(s: dict):
    return archspec.analyze(archspec.loads(yaml.safe_dump(s, sort_keys=False)))


def lint_codes(s: dict) -> list[str]:
    return [str(d.code) for d in archspec.lint.lint_text(yaml.safe_dump(s, sort_keys=False), "s.yaml")]


def gradient_support(module, x, unit) -> list[tuple[int, int]]:
    """Per spatial axis, the first and last input position the output unit ``unit`` (all channels) depends on."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    weights = torch.arange(1, y.shape[1] + 1, dtype=x.dtype)
    (grad,) = torch.autograd.grad((y[(0, slice(None), *unit)] * weights).sum(), x)
    seen = grad[0].abs().sum(dim=0) > 0
    out = []
    for axis in range(seen.dim()):
        others = tuple(a for a in range(seen.dim()) if a != axis)
        hit = (seen.any(dim=others) if others else seen).nonzero().flatten()
        out.append((int(hit.min()), int(hit.max())))
    return out


# --- layer, group and instance normalisation ---

NORMS = [
    {"type": "layernorm", "name": "ln", "over": "channels", "eps": 1e-6},
    {"type": "layernorm", "name": "ln", "over": 3},
    {"type": "layernorm", "name": "ln", "over": 1, "bias": False},
    {"type": "layernorm", "name": "ln", "normalized_shape": [6, 5], "elementwise_affine": False},
    {"type": "groupnorm", "name": "gn", "num_groups": 2},
    {"type": "groupnorm", "name": "gn", "num_groups": 4, "affine": False},
    {"type": "instancenorm2d", "name": "in", "affine": True},
    {"type": "instancenorm2d", "name": "in", "track_running_stats": True},
]


@pytest.mark.parametrize("layer", NORMS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items() if k != "name"))
def test_norm_figures_and_fields_equal_torch(layer):
    s = spec((4, 8, 7), {"type": "conv2d", "name": "c", "out_channels": 4, "kernel_size": 3}, layer)
    check_against_torch(s)
    assert check_receptive_fields(s) == 2  # both layers' fields equal their gradient support


def test_layernorm_over_the_channels_has_convnext_names_and_numbers():
    """A ConvNeXt block's LayerNorm2d (torchvision): same tensors by name, same output on the same weights."""
    from torchvision.models.convnext import LayerNorm2d

    theirs = LayerNorm2d(8, eps=1e-6)
    with torch.no_grad():
        theirs.weight.uniform_()
        theirs.bias.uniform_()
    r = report(spec((8, 5, 5), {"type": "layernorm", "name": "norm", "over": "channels", "eps": 1e-6}))
    assert r.layer("norm").weights == {"weight": (8,), "bias": (8,)}
    model = archspec.build(r)
    model.load_state_dict(theirs.state_dict(), strict=False)
    assert {k for k, _ in model.named_parameters()} == {"norm.weight", "norm.bias"}
    model.get_submodule("norm").load_state_dict(theirs.state_dict())
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(model(x), theirs(x))


def test_norm_fields_by_hand():
    """Channels: every position kept; trailing axes, groups, instances: each normalised axis seen whole (S = 0)."""
    base = (8, 6, 6)
    fields = {
        "channels": [(1, 1, 0), (1, 1, 0)],
        "last": [(1, 1, 0), (6, 0, 0)],
        "group": [(6, 0, 0), (6, 0, 0)],
        "instance": [(6, 0, 0), (6, 0, 0)],
        "instance-running": [(1, 1, 0), (1, 1, 0)],
    }
    layers = {
        "channels": {"type": "layernorm", "over": "channels"},
        "last": {"type": "layernorm"},
        "group": {"type": "groupnorm", "num_groups": 2},
        "instance": {"type": "instancenorm2d"},
        "instance-running": {"type": "instancenorm2d", "track_running_stats": True},
    }
    for key, layer in layers.items():
        info = report(spec(base, {**layer, "name": "n"})).layer("n")
        assert [(a.size, a.stride, a.padding) for a in info.rf] == fields[key], key


def test_instance_norm_with_running_statistics_keeps_positions_only_in_evaluation():
    """The figures are evaluation's: running statistics make it per-channel affine. Training uses each
    sample's statistics, so there every output depends on the whole map (measured)."""
    norm = nn.InstanceNorm2d(2, track_running_stats=True).double()
    x = torch.rand(1, 2, 6, 6, dtype=torch.float64)
    assert gradient_support(norm.eval(), x, (3, 3)) == [(3, 3), (3, 3)]
    assert gradient_support(norm.train(), x, (3, 3)) == [(0, 5), (0, 5)]


def test_group_norm_mixes_positions_in_training_too():
    norm = nn.GroupNorm(2, 4).double().train()
    assert gradient_support(norm, torch.rand(1, 4, 5, 7, dtype=torch.float64), (2, 3)) == [(0, 4), (0, 6)]


def test_traits_of_the_sample_norms():
    by = archspec.layers.KIND_BY_TYPE
    sample = ("layernorm", "groupnorm", "instancenorm1d", "instancenorm2d", "instancenorm3d")
    assert not any(by[k].batch_statistics or by[k].affine_map or by[k].learned_linear for k in sample)
    # a per-channel bias cancels only where each channel's own mean is subtracted
    assert {k for k in sample if by[k].cancels_bias} == {"instancenorm1d", "instancenorm2d", "instancenorm3d"}


def test_a_bias_before_layernorm_over_channels_does_not_cancel():
    """The reason for cancels_bias = False: a per-channel shift changes LayerNorm2d's output."""
    from torchvision.models.convnext import LayerNorm2d

    norm = LayerNorm2d(3)
    x = torch.randn(1, 3, 4, 4)
    shift = torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1)
    assert not torch.allclose(norm(x), norm(x + shift), atol=1e-3)
    assert torch.allclose(nn.InstanceNorm2d(3)(x), nn.InstanceNorm2d(3)(x + shift), atol=1e-5)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "groupnorm", "num_groups": 3}, "does not divide"),
        ({"type": "groupnorm", "num_groups": 4}, "one value"),
        ({"type": "instancenorm2d"}, "one value"),
        ({"type": "layernorm", "over": 4}, "at least that rank"),
        ({"type": "layernorm", "normalized_shape": [2, 2]}, "normalized_shape"),
        ({"type": "groupnorm", "num_groups": 2, "num_channels": 8}, "num_channels"),
    ],
)
def test_norm_mistakes_are_positioned_errors(layer, words):
    s = spec((4, 1, 1), {**layer, "name": "n"})
    errors = [d for d in archspec.lint.lint_text(yaml.safe_dump(s), "s.yaml") if d.severity.value == "error"]
    assert errors and words in errors[0].message and errors[0].line > 0
    assert torch_refuses(s)


def torch_refuses(s: dict) -> bool:
    import torch_oracle

    return torch_oracle.run(s, device="cpu").failed_at is not None  # (meta skips some checks: output_padding)


# --- the learned tensor (layer scale, class token) and stochastic depth ---

LAYER_SCALE = spec(
    (8, 9, 9),
    {"type": "conv2d", "name": "block.0", "out_channels": 8, "kernel_size": 7, "padding": 3, "groups": "depthwise"},
    {"type": "layernorm", "name": "block.2", "over": "channels", "eps": 1e-6},
    {"type": "parameter", "name": "layer_scale", "shape": [8, 1, 1], "value": 1e-6},
    {"type": "mul", "name": "scaled", "inputs": ["layer_scale", "block.2"]},
    {"type": "stochastic_depth", "name": "stochastic_depth", "p": 0.1},
    {"type": "add", "name": "out", "inputs": ["input", "stochastic_depth"]},
)


def test_layer_scale_figures_and_fields_equal_torch():
    check_against_torch(LAYER_SCALE)
    assert check_receptive_fields(LAYER_SCALE) == 5  # every layer but the tensor: the merge keeps the conv's field
    r = report(LAYER_SCALE)
    assert r.layer("layer_scale").rf is None and r.layer("layer_scale").params == 8
    assert [(a.size, a.stride, a.padding) for a in r.layer("scaled").rf] == [(7, 1, 3)] * 2
    assert r.layer("layer_scale").inputs == []


def test_a_learned_tensor_is_keyed_by_the_layer_name_as_torchvision_keys_it():
    """torchvision's ConvNeXt block (CNBlock): layer_scale, block.0 and block.2 load by name, strictly."""
    from torchvision.models.convnext import CNBlock

    theirs = CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.1).state_dict()
    ours = archspec.build(report(LAYER_SCALE))
    assert dict(ours.named_parameters())["layer_scale"].shape == theirs["layer_scale"].shape == (8, 1, 1)
    shared = {k: v for k, v in theirs.items() if k.split(".")[0] == "layer_scale" or k.startswith(("block.0.", "block.2."))}
    assert set(shared) == set(ours.state_dict())
    ours.load_state_dict({k: v + 1 for k, v in shared.items()})
    assert torch.equal(ours.layer_scale, theirs["layer_scale"] + 1)
    x = torch.randn(2, 8, 9, 9)
    values = ours.eval().forward_all(x)
    torch.testing.assert_close(values["scaled"], values["block.2"] * (theirs["layer_scale"] + 1))
    torch.testing.assert_close(values["out"], x + values["scaled"])  # stochastic depth: identity in evaluation


def test_a_learned_tensor_trains_and_takes_its_value_and_init():
    model = archspec.build(report(LAYER_SCALE)).train()
    assert torch.equal(model.layer_scale, torch.full((8, 1, 1), 1e-6))
    model(torch.randn(2, 8, 9, 9)).sum().backward()
    assert model.layer_scale.grad is not None and model.layer_scale.grad.abs().sum() > 0
    token = spec((4, 6), {"type": "parameter", "name": "class_token", "shape": [1, 6], "init": {"weight": "normal", "std": 0.02}})
    torch.manual_seed(0)
    built = archspec.build(report(token))
    assert list(dict(built.named_parameters())) == ["class_token"]
    assert 0 < built.class_token.std() < 0.1 and built(torch.randn(3, 4, 6)).shape == (1, 1, 6)


def test_a_learned_tensor_takes_no_input():
    s = spec((4, 6, 6), {"type": "parameter", "name": "t", "shape": [4, 1, 1], "inputs": "input"})
    errors = [d for d in archspec.lint.lint_text(yaml.safe_dump(s), "s.yaml") if d.severity.value == "error"]
    assert errors and "takes 0 inputs, got 1" in errors[0].message


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_draws_as_torchvision_does(mode):
    """Same seed, same drops and scaling as torchvision.ops.StochasticDepth in training; identity in evaluation."""
    from torchvision.ops import StochasticDepth

    model = archspec.build(report(spec((3, 4, 4), {"type": "stochastic_depth", "name": "sd", "p": 0.5, "mode": mode})))
    x = torch.randn(16, 3, 4, 4)
    torch.manual_seed(3)
    ours = model.train()(x)
    torch.manual_seed(3)
    theirs = StochasticDepth(0.5, mode).train()(x)
    assert torch.equal(ours, theirs)
    kept = (ours.flatten(1).abs().sum(1) > 0).tolist()
    assert (mode == "row" and 0 < sum(kept) < 16) or (mode == "batch" and sum(kept) in (0, 16))
    assert torch.equal(model.eval()(x), x)
    assert archspec.layers.KIND_BY_TYPE["stochastic_depth"].random_in_training


# --- transposed convolution and upsampling ---

ENLARGING = [
    {"type": "conv_transpose2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
    {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 2, "stride": 2, "groups": 2, "bias": False},
    {"type": "conv_transpose2d", "out_channels": 3, "kernel_size": [3, 2], "dilation": 2, "output_padding": 1},
    {"type": "conv_transpose1d", "out_channels": 3, "kernel_size": 4, "stride": 3, "padding": 2},
    {"type": "conv_transpose3d", "out_channels": 2, "kernel_size": 3, "stride": [1, 2, 2], "padding": 1},
    {"type": "upsample", "scale_factor": 2.0, "mode": "bilinear", "align_corners": True},
    {"type": "upsample", "scale_factor": [1.5, 2.5], "mode": "nearest"},
    {"type": "upsample", "size": [11, 13], "mode": "bicubic"},
    {"type": "upsample", "scale_factor": 2.0, "mode": "linear"},
    {"type": "upsample", "size": 5, "mode": "trilinear"},
]


@pytest.mark.parametrize("layer", ENLARGING, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_enlarging_figures_equal_torch(layer):
    """Output shape, parameters and MACs (FlopCounterMode / 2 on the meta device) as torch has them."""
    rank = (
        1
        if layer["type"].endswith("1d") or layer.get("mode") == "linear"
        else 3
        if layer["type"].endswith("3d") or layer.get("mode") == "trilinear"
        else 2
    )
    s = spec((4, *[5, 6, 7][:rank]), {**layer, "name": "up"})
    check_against_torch(s)


def test_transposed_convolution_macs_by_hand():
    """Each input value meets the kernel once per output channel of its group: 4·8·8 · 3 · 3·3 (groups 2 of 6)."""
    layer = {"type": "conv_transpose2d", "name": "up", "out_channels": 6, "kernel_size": 3, "stride": 2, "groups": 2}
    info = report(spec((4, 8, 8), layer)).layer("up")
    assert info.macs == 4 * 8 * 8 * 3 * 9 and info.weights == {"weight": (4, 3, 3, 3), "bias": (6,)}
    assert info.output_shape == (6, 17, 17)


def test_a_stride_one_transposed_convolution_is_a_window():
    """Its field is exact (checked against gradients): span 5 (kernel 3, dilation 2), padding 5 - 1 - 1 = 3."""
    s = spec(
        (2, 12, 12),
        {"type": "conv2d", "name": "c", "out_channels": 2, "kernel_size": 3},
        {"type": "conv_transpose2d", "name": "t", "out_channels": 2, "kernel_size": 3, "dilation": 2, "padding": 1},
    )
    assert check_receptive_fields(s) == 2
    assert [(a.size, a.stride, a.padding) for a in report(s).layer("t").rf] == [(7, 1, 3)] * 2


def neighbour_fields(module, length: int) -> list[tuple[int, int]]:
    """The input span each output unit of a 1-D layer depends on (by gradients)."""
    x = torch.rand(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = module.double()(x)
    spans = []
    for j in range(y.shape[2]):
        (grad,) = torch.autograd.grad(y[0, :, j].sum(), x, retain_graph=True)
        hit = grad[0, 0].nonzero().flatten()
        spans.append((int(hit.min()), int(hit.max())))
    return spans


def test_upsampling_units_have_no_single_field_so_none_is_given():
    """Stride 2, kernel 3, padding 1: even units see one input, odd units two, at a step of 1/2 — no one
    (r, S, P) is true of all. Bilinear ×2 likewise (the border units see one). archspec gives none, with I504."""
    with torch.no_grad():
        convt = nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1, output_padding=1)
        convt.weight.fill_(1.0)
    assert neighbour_fields(convt, 6)[:4] == [(0, 0), (0, 1), (1, 1), (1, 2)]
    linear = nn.Upsample(scale_factor=2.0, mode="linear")
    assert neighbour_fields(linear, 6)[:4] == [(0, 0), (0, 1), (0, 1), (1, 2)]
    for layer in (
        {"type": "conv_transpose1d", "out_channels": 1, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "upsample", "scale_factor": 2.0, "mode": "linear"},
    ):
        s = spec((1, 6), {"type": "conv1d", "name": "c", "out_channels": 1, "kernel_size": 3}, {**layer, "name": "up"})
        assert report(s).layer("up").rf is None and report(s).layer("c").rf is not None
        assert "I504" in lint_codes(s)


def test_an_upsample_to_the_same_size_keeps_positions():
    s = spec((2, 6, 6), {"type": "upsample", "name": "up", "size": 6, "mode": "bicubic"})
    assert [(a.size, a.stride, a.padding) for a in report(s).layer("up").rf] == [(1, 1, 0)] * 2
    assert check_receptive_fields(s) == 1


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2}, "output_padding"),
        ({"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 1, "padding": 2}, "would be"),
        ({"type": "conv_transpose2d", "out_channels": 3, "kernel_size": 2, "groups": 2}, "does not divide"),
        ({"type": "upsample", "scale_factor": 2.0, "size": 4}, "not both"),
        ({"type": "upsample", "scale_factor": 2.0, "mode": "trilinear"}, "trilinear"),
        ({"type": "upsample", "scale_factor": 2.0, "align_corners": True}, "align_corners"),
        ({"type": "upsample", "scale_factor": 0.1}, "would be 0"),
        ({"type": "upsample", "size": [4, 4, 4]}, "3 values"),
    ],
)
def test_enlarging_mistakes_are_positioned_errors(layer, words):
    s = spec((4, 3, 3), {**layer, "name": "up"})
    errors = [d for d in archspec.lint.lint_text(yaml.safe_dump(s), "s.yaml") if d.severity.value == "error"]
    assert errors and words in errors[0].message and errors[0].line > 0, [e.message for e in errors]
    assert torch_refuses(s)


def test_the_names_people_use_lead_here():
    from archspec.spec.kind_names import meaning

    for written, meant in [
        ("ConvTranspose2d", "conv_transpose2d"),
        ("Conv2DTranspose", "conv_transpose2d"),
        ("UpSampling2D", "upsample"),
        ("LayerNormalization", "layernorm"),
        ("GroupNorm", "groupnorm"),
        ("InstanceNorm2d", "instancenorm2d"),
        ("DropPath", "stochastic_depth"),
        ("StochasticDepth", "stochastic_depth"),
    ]:
        assert meaning(written, []) == (meant, None), written


def test_layer_norm_fields_are_those_of_the_real_modules():
    """The property tests' oracle replaces a normalisation by what it connects; the modules themselves agree:
    over the channels each position stays, over the last axis the whole row is seen (training mode)."""
    from torchvision.models.convnext import LayerNorm2d

    x = torch.rand(1, 4, 5, 7, dtype=torch.float64)
    assert gradient_support(LayerNorm2d(4).double().train(), x, (2, 3)) == [(2, 2), (3, 3)]
    assert gradient_support(nn.LayerNorm(7).double().train(), x, (2, 3)) == [(2, 2), (0, 6)]
    assert gradient_support(nn.LayerNorm([5, 7]).double().train(), x, (2, 3)) == [(0, 4), (0, 6)]


def test_a_learned_tensor_cannot_be_switched_off():
    """`when: false` passes a layer's first input through; a tensor has none (its users would silently read
    the layer before instead)."""
    s = spec(
        (3, 8, 8),
        {"type": "conv2d", "name": "a", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "parameter", "name": "s", "shape": [3, 1, 1], "when": False},
        {"type": "mul", "name": "m", "inputs": ["a", "s"]},
    )
    errors = [d for d in archspec.lint.lint_text(yaml.safe_dump(s, sort_keys=False), "s.yaml") if d.severity.value == "error"]
    assert [str(d.code) for d in errors] == ["E204"] and "nothing to pass through" in errors[0].message


# --------------------------------------------------------------------------- upsample to another layer's size


def test_upsample_to_a_second_inputs_size_equals_interpolate_to_its_shape():
    s = spec(
        [2, 9, 7],
        {"type": "maxpool2d", "name": "pool", "kernel_size": 2},  # 2×4×3
        {"type": "upsample", "name": "up", "inputs": ["pool", "input"], "mode": "bilinear", "align_corners": False},
    )
    r = report(s)
    assert not r.diagnostics
    assert r.layer("up").output_shape == (2, 9, 7)
    model = archspec.build(archspec.loads(yaml.safe_dump(s, sort_keys=False)))
    x = torch.randn(3, 2, 9, 7)
    expected = nn.functional.interpolate(nn.functional.max_pool2d(x, 2), size=(9, 7), mode="bilinear", align_corners=False)
    assert torch.equal(model(x), expected)
    check_against_torch(s)  # figures of every layer against the independent oracle


@pytest.mark.parametrize(
    ("extra", "words"),
    [({"size": 5}, "both a second input and `size`"), ({"scale_factor": 2.0}, "both a second input and `scale_factor`")],
)
def test_upsample_with_a_second_input_and_a_size_is_refused(extra, words):
    s = spec([2, 9, 7], {"type": "maxpool2d", "name": "pool", "kernel_size": 2})
    s["layers"].append({"type": "upsample", "name": "up", "inputs": ["pool", "input"], **extra})
    (d,) = [d for d in archspec.lint.lint_text(yaml.safe_dump(s, sort_keys=False), "s.yaml") if d.severity.value == "error"]
    assert words in d.message
    key = next(iter(extra))
    assert (d.line, d.column) == (15, 2 + len(key) + 2 + 1)  # the value of the field named (one key or item per line)


def test_upsample_without_a_size_a_scale_or_a_second_input_is_refused():
    s = spec([2, 9, 7], {"type": "upsample", "name": "up", "mode": "nearest"})
    (d,) = [d for d in archspec.lint.lint_text(yaml.safe_dump(s, sort_keys=False), "s.yaml") if d.severity.value == "error"]
    assert "needs its output size" in d.message
    assert (d.line, d.column) == (7, 3)  # the layer (the input's three sizes take a line each)
