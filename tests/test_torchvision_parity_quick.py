"""Bundled torchvision specs against torchvision itself: the same parameterised modules in the same order.

Compares, layer by layer, the parameter counts archspec derives statically (layers with
parameters, in report order) with torchvision's modules that own parameters directly
(in registration order, which for these models is also forward order). Builds the models
with ``weights=None``: nothing is downloaded.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import archspec

torchvision = pytest.importorskip("torchvision")

SPECS = Path(__file__).resolve().parent.parent / "specs"

MODELS = ["alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2"]


def torchvision_param_counts(model) -> list[int]:
    return [
        sum(p.numel() for p in m.parameters(recurse=False))
        for m in model.modules()
        if any(True for _ in m.parameters(recurse=False))
    ]


def archspec_param_counts(report) -> list[int]:
    return [info.params for info in report.layers if info.params > 0]


@pytest.mark.parametrize("name", MODELS)
def test_per_layer_params_match_torchvision(name):
    model = getattr(torchvision.models, name)(weights=None)
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    ours = archspec_param_counts(report)
    theirs = torchvision_param_counts(model)
    assert len(ours) == len(theirs)
    assert ours == theirs
    assert report.totals()["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_buffers_match_torchvision(name):
    model = getattr(torchvision.models, name)(weights=None)
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    assert report.totals()["buffers"] == sum(b.numel() for b in model.buffers())


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_matches_torchvision(name):
    torch = pytest.importorskip("torch")
    model = getattr(torchvision.models, name)(weights=None).eval()
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    with torch.no_grad():
        out = model(torch.zeros(1, *report.input_shape))
    assert tuple(out.shape[1:]) == tuple(report.output_shape)


@pytest.mark.parametrize("name", MODELS)
def test_per_layer_output_shapes_match_torchvision(name):
    """Output shape of every parameterised module, in call order, against the spec's layers."""
    torch = pytest.importorskip("torch")
    model = getattr(torchvision.models, name)(weights=None).eval()
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for m in model.modules()
        if any(True for _ in m.parameters(recurse=False))
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *report.input_shape))
    finally:
        for h in hooks:
            h.remove()
    assert [tuple(info.output_shape) for info in report.layers if info.params > 0] == shapes


# Specs that keep torchvision's module paths as layer names: compared module by module, by name.
NAMED_MODELS = ["shufflenet_v2_x1_0", "convnext_tiny", "fcn_resnet50"]
NAMED_MODELS += ["efficientnet_b0", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_y_400mf", "lraspp_mobilenet_v3_large"]
NAMED_MODELS += ["swin_t"]


@functools.cache
def torchvision_model(name: str):
    """torchvision's model on the meta device, built once per name: these tests need shapes only."""
    if name == "fcn_resnet50":  # torchvision.models.segmentation, without the auxiliary head
        model = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False)
    elif name == "lraspp_mobilenet_v3_large":
        model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)
    else:
        model = getattr(torchvision.models, name)(weights=None)
    return model.to("meta").eval()


@pytest.mark.parametrize("name", NAMED_MODELS)
def test_params_and_buffers_of_every_module_by_name(name):
    model = torchvision_model(name)
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    layers = {info.name for info in report.layers}
    # a bare nn.Parameter (ConvNeXt's layer_scale) is a `parameter` layer of that name, its tensor `weight`
    theirs = {f"{key}.weight" if key in layers else key: tuple(t.shape) for key, t in model.state_dict().items()}
    ours = {
        f"{info.name}.{k}" if k else info.name: s for info in report.layers for k, s in {**info.weights, **info.buffers}.items()
    }
    assert ours == theirs
    # layer by layer, each of torchvision's parameters counted for the layer its path starts with (a layer may
    # be a whole torchvision module with children: Swin's attention holds qkv and proj)
    by_layer: dict[str, int] = {}
    for key, p in model.named_parameters():
        owner = max((n for n in layers if key == n or key.startswith(f"{n}.")), key=len)
        by_layer[owner] = by_layer.get(owner, 0) + p.numel()
    assert {info.name: info.params for info in report.layers if info.params > 0} == by_layer
    assert report.totals()["params"] == sum(p.numel() for p in model.parameters())
    assert report.totals()["buffers"] == sum(b.numel() for b in model.buffers())


@pytest.mark.parametrize("name", NAMED_MODELS)
def test_output_shape_of_every_module_by_name(name):
    """Each torchvision module whose path is a layer name gives the layer's static shape (on the meta device)."""
    torch = pytest.importorskip("torch")
    model = torchvision_model(name)
    report = archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))
    names = {info.name for info in report.layers}
    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str):
        def hook(_module, _inputs, out) -> None:  # returns None: the output stays as it is
            shapes.setdefault(path, tuple(out.shape[1:]))

        return hook

    hooks = [module.register_forward_hook(record(path)) for path, module in model.named_modules() if path in names]
    try:
        out = model(torch.empty(1, *report.input_shape, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    out = out["out"] if isinstance(out, dict) else out
    assert tuple(out.shape[1:]) == tuple(report.output_shape)
    assert shapes == {path: tuple(report.layer(path).output_shape) for path in shapes}
    # every layer with parameters is a torchvision module of that name (or, for a learned tensor, a parameter)
    unmatched = {info.name for info in report.layers if info.params} - set(shapes)
    assert unmatched <= set(dict(model.named_parameters()))


def test_efficientnet_b0_stochastic_depth_as_torchvision():
    """Each residual MBConv drops its branch in training with torchvision's p: 0.2 × its block index / 16."""
    model = torchvision_model("efficientnet_b0")
    report = archspec.analyze(archspec.load(SPECS / "efficientnet_b0.yaml"))
    ours = {info.name: (info.layer.p, info.layer.mode) for info in report.layers if info.type == "stochastic_depth"}
    modules = dict(model.named_modules())
    residual = {f"{path}.stochastic_depth" for path, m in modules.items() if getattr(m, "use_res_connect", False)}
    assert set(ours) == residual and len(residual) == 9  # torchvision applies it where it adds the input back
    assert ours == {path: (pytest.approx(modules[path].p, abs=1e-12), modules[path].mode) for path in residual}
