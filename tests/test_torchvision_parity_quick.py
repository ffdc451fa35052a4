"""Bundled torchvision specs against torchvision itself: the same parameterised modules in the same order.

Compares, layer by layer, the parameter counts archspec derives statically (layers with
parameters, in report order) with torchvision's modules that own parameters directly
(in registration order, which for these models is also forward order). Builds the models
with ``weights=None``: nothing is downloaded.
"""

from __future__ import annotations

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
