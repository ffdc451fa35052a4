"""Differential property tests: archspec's static figures are what torch does.

Random specs (tests/strategies.py) are read twice: by archspec, statically, and by
an independent torch interpretation (tests/torch_oracle.py). For every layer the
output shape, parameter and buffer counts and MACs (FlopCounterMode / 2) must be
equal, on the meta device; receptive fields must equal the support of input
gradients of a central unit. Specs torch refuses must be refused by archspec,
naming the layer, and specs archspec accepts must run in torch.
"""

from __future__ import annotations

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import archspec
from archspec.lint import lint_text

torch = pytest.importorskip("torch")

import torch_oracle
from strategies import network, token_network

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def as_yaml(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


def check_against_torch(spec: dict) -> None:
    text = as_yaml(spec)
    errors = [d for d in lint_text(text, "random.yaml") if d.severity.value == "error"]
    oracle = torch_oracle.run(spec, device="meta")
    event("torch refuses the spec" if oracle.failed_at else "torch runs the spec")
    kinds = {fields["type"] for fields in spec["layers"]}
    if "multihead_attention" in kinds:
        event("with attention" + (" (torch runs it)" if oracle.failed_at is None else ""))
    if "select" in kinds:
        event("with a select" + (" of a token" if "multihead_attention" in kinds else ""))
    if oracle.failed_at is not None:
        assert errors, f"torch refuses `{oracle.failed_at}` ({oracle.error}) but archspec accepts:\n{text}"
        named = {d.layer for d in errors} | {w.strip("`") for d in errors for w in d.message.split() if w.startswith("`")}
        assert oracle.failed_at in named, (
            f"torch fails at `{oracle.failed_at}`, archspec says {[d.format() for d in errors]}\n{text}"
        )
        return
    assert not errors, f"archspec rejects a spec torch runs:\n{[d.format() for d in errors]}\n{text}"
    report = archspec.analyze(archspec.loads(text))
    for name, torch_figures in oracle.figures.items():
        info = report.layer(name)
        ours = {"output_shape": info.output_shape, "params": info.params, "buffers": info.buffer_elements, "macs": info.macs}
        assert ours == torch_figures, f"layer `{name}` differs\n{text}"
    # archspec's own lowering agrees with the oracle too (shapes of every layer, whole-model counts)
    model = archspec.build(report, device="meta").eval()
    outs = model.forward_all(torch.empty((1, *spec["input"]), device="meta"))
    assert {k: tuple(v.shape[1:]) for k, v in outs.items()} == {k: f["output_shape"] for k, f in oracle.figures.items()}
    assert sum(p.numel() for p in model.parameters()) == report.totals()["params"]


@QUICK
@given(network())
def test_static_figures_equal_torch(spec):
    check_against_torch(spec)


@pytest.mark.slow
@MANY
@given(network(max_layers=10))
def test_static_figures_equal_torch_many(spec):
    check_against_torch(spec)


@QUICK
@given(token_network())
def test_token_networks_equal_torch(spec):
    """ViT-shaped specs: a map made tokens, a class token, a position embedding, encoder blocks, a token selected."""
    check_against_torch(spec)


def test_the_oracle_counts_attentions_products():
    """FlopCounterMode on the meta device sees the oracle's attention whole: the four D×D projections of N tokens
    and the two N×N×D products Q·Kᵀ and A·V (by hand: 4·N·D² + 2·N²·D), not the projections alone."""
    n, d = 7, 12
    spec = {"archspec": 1, "input": [n, d], "layers": [{"type": "multihead_attention", "name": "att", "num_heads": 3}]}
    figures = torch_oracle.run(spec, device="meta").figures["att"]
    assert figures["macs"] == 4 * n * d * d + 2 * n * n * d == 5208
    assert figures["params"] == 4 * d * d + 4 * d
    info = archspec.analyze(archspec.loads(as_yaml(spec))).layer("att")
    assert (info.macs, info.params) == (figures["macs"], figures["params"])


def extent(info) -> list[tuple[int, int]]:
    """The input positions a layer's units cover, per spatial axis of the input. A layer that keeps part of
    the positions (crop, slice, a transposed convolution's padding) covers less than the input: past its
    borders a later window reads zero padding, not the input."""
    sizes = info.rf_grid.sizes if info.rf_grid else [info.output_shape[a] for a in info.rf_axes]
    return [(-rf.padding, -rf.padding + (n - 1) * rf.stride + rf.size - 1) for rf, n in zip(info.rf, sizes)]


def inside(field: list[tuple[int, int]], box: list[tuple[int, int]]) -> bool:
    return all(b_lo <= lo and hi <= b_hi for (lo, hi), (b_lo, b_hi) in zip(field, box))


def check_receptive_fields(spec: dict) -> int:
    """Compare every layer's static field with the gradient support of its central unit; returns layers checked."""
    text = as_yaml(spec)
    if any(d.severity.value == "error" for d in lint_text(text)):
        return 0  # invalid specs are the other tests' business
    report = archspec.analyze(archspec.loads(text))
    x = (torch.rand((1, *spec["input"]), dtype=torch.float64) + 0.1).requires_grad_(True)
    values = torch_oracle.transparent_forward(spec, x)
    extents = {info.name: extent(info) for info in report.layers if info.rf is not None}
    checked = 0
    for info in report.layers:
        if info.rf is None:
            continue
        out = values[info.name][0]
        # the central unit: the middle of each spatial axis, wherever a permute has put them (rf_axes);
        # on a token grid, the token of the grid's middle position
        grid = info.rf_grid
        centre = [n // 2 for n in grid.sizes] if grid else [out.shape[a] // 2 for a in info.rf_axes]
        unit = {grid.axis: grid.token(centre)} if grid else dict(zip(info.rf_axes, centre))
        expected = []
        for rf, c in zip(info.rf, centre):
            start = -rf.padding + c * rf.stride
            expected.append((start, start + rf.size - 1))
        if any(lo < 0 or hi > x.shape[2 + a] - 1 for a, (lo, hi) in enumerate(expected)):
            continue  # the field pokes out of the input: its extremes cannot be observed
        if any(not inside(expected, extents[a]) for a in nx.ancestors(report.graph, info.name) if a in extents):
            continue  # ... or out of what a layer upstream covers (a crop: zero padding there, as at the input's border)
        # its values across the other axes (the channels), with distinct positive weights so no sum can hide a dependency
        picked = out[tuple(unit.get(a, slice(None)) for a in range(out.dim()))]
        weights = torch.arange(1, picked.numel() + 1, dtype=x.dtype).view(picked.shape)
        (grad,) = torch.autograd.grad((picked * weights).sum(), x, retain_graph=True)
        seen = grad[0].abs().sum(dim=0) > 0
        got = []
        for axis in range(seen.dim()):
            others = tuple(a for a in range(seen.dim()) if a != axis)
            hit = (seen.any(dim=others) if others else seen).nonzero().flatten()
            got.append((int(hit.min()), int(hit.max())) if len(hit) else None)
        if any(_keeps_some_channels(report, a) for a in nx.ancestors(report.graph, info.name) | {info.name}):
            # channels picked from a merge may come from fewer paths than the union the field states: a bound
            inside_bound = all(g is None or (lo <= g[0] and g[1] <= hi) for g, (lo, hi) in zip(got, expected))
            assert inside_bound, f"layer `{info.name}`: gradient support {got} outside the field {expected}\n{text}"
        else:
            assert got == expected, f"layer `{info.name}`: gradient support {got}, static field {expected}\n{text}"
        checked += 1
    return checked


def _keeps_some_channels(report, name: str) -> bool:
    """Does layer ``name`` keep only some of its input's channels (a slice, a select or a part along the channels)?"""
    if name == "input":
        return False
    info = report.layer(name)
    if info.layer is None or info.layer.kind() not in ("slice", "select", "split", "chunk"):
        return False
    source = info.inputs[0]
    shape = report.input_shape if source == "input" else report.layer(source).output_shape
    return shape is not None and info.layer.axis % len(shape) == 0  # the input's rank: a select drops the axis


@QUICK
@given(network(max_layers=6))
def test_receptive_fields_equal_gradient_support(spec):
    event(f"layers whose field was measured: {min(check_receptive_fields(spec), 3)}+")


@pytest.mark.slow
@MANY
@given(network(max_layers=8))
def test_receptive_fields_equal_gradient_support_many(spec):
    check_receptive_fields(spec)


@QUICK
@given(network(max_layers=6, ranks=[1, 3]))
def test_receptive_fields_equal_gradient_support_1d_3d(spec):
    event(f"layers whose field was measured: {min(check_receptive_fields(spec), 3)}+")


@QUICK
@given(network(ranks=[1, 3]))
def test_static_figures_equal_torch_1d_3d(spec):
    check_against_torch(spec)


@QUICK
@given(token_network())
def test_receptive_fields_of_token_networks_equal_gradient_support(spec):
    event(f"layers whose field was measured: {min(check_receptive_fields(spec), 3)}+")


def test_softmax_over_a_spatial_axis_sees_the_whole_row():
    """softmax over the width: unit (4, 4) depends on all of row 4, on nothing else (measured by gradients)."""
    spec = {"archspec": 1, "input": [1, 8, 8], "layers": [{"type": "softmax", "name": "sm", "axis": 2}]}
    assert check_receptive_fields(spec) == 1
    info = archspec.analyze(archspec.loads(as_yaml(spec))).layer("sm")
    assert [(a.size, a.stride, a.padding) for a in info.rf] == [(1, 1, 0), (8, 0, 0)]


def test_receptive_field_check_is_not_vacuous():
    """The seed's Figure 11 network through the same gradient measurement: 3, 6, 7."""
    spec = {
        "archspec": 1,
        "input": [1, 13, 13],
        "layers": [
            {"type": "conv2d", "name": "a", "out_channels": 1, "kernel_size": 3},
            {"type": "conv2d", "name": "b", "out_channels": 1, "kernel_size": 4},
            {"type": "maxpool2d", "name": "c", "kernel_size": 2, "stride": 2},
        ],
    }
    assert check_receptive_fields(spec) == 3


# --- invalid specs: a diagnostic, never a crash; and nothing torch refuses passes as valid ---

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
)


@st.composite
def broken_network(draw):
    spec = draw(network(max_layers=5))
    layers = spec["layers"]
    target = draw(st.integers(0, len(layers) - 1))
    mutation = draw(st.sampled_from(["junk-value", "unknown-field", "drop-field", "bad-ref", "bad-type", "junk-input"]))
    fields = layers[target]
    if mutation == "junk-value":
        key = draw(st.sampled_from(sorted(fields)))
        fields[key] = draw(JUNK)
    elif mutation == "unknown-field":
        fields[draw(st.text(min_size=1, max_size=10))] = draw(JUNK)
    elif mutation == "drop-field":
        fields.pop(draw(st.sampled_from(sorted(fields))))
    elif mutation == "bad-ref":
        fields["inputs"] = draw(st.sampled_from(["nowhere", fields["name"], "n99"]))
    elif mutation == "bad-type":
        fields["type"] = draw(st.text(max_size=10))
    else:
        spec["input"] = draw(JUNK)
    return spec


@QUICK
@given(broken_network())
def test_broken_specs_get_diagnostics_never_crashes(spec):
    text = as_yaml(spec)
    found = lint_text(text, "broken.yaml")  # must not raise
    assert all(d.line >= 1 for d in found if d.code.startswith("E"))
    if not any(d.severity.value == "error" for d in found):
        # archspec says valid: torch must agree (no false "valid")
        oracle = torch_oracle.run(spec, device="meta")
        assert oracle.failed_at is None, f"archspec accepts but torch refuses `{oracle.failed_at}`: {oracle.error}\n{text}"


@pytest.mark.slow
@MANY
@given(broken_network())
def test_broken_specs_get_diagnostics_never_crashes_many(spec):
    test_broken_specs_get_diagnostics_never_crashes.hypothesis.inner_test(spec)


def test_batch_norm_after_a_channels_last_round_trip_keeps_the_field():
    """A permute to channels-last and back, then a batch norm: every layer's field equals its gradient support
    (the permuted map reaches the norm with channels-last strides, which torch's CPU backward misplaced)."""
    conv = {"type": "conv3d", "name": "n0", "out_channels": 1, "kernel_size": 1, "stride": 2, "bias": False}
    spec = {
        "archspec": 1,
        "input": [1, 3, 3, 3],
        "layers": [
            conv,
            {"type": "permute", "name": "n1a", "axes": [1, 2, 3, 0]},
            {"type": "linear", "name": "n1b", "out_features": 2},
            {"type": "gelu", "name": "n1c"},
            {"type": "permute", "name": "n1", "axes": [3, 0, 1, 2]},
            {"type": "batchnorm3d", "name": "n2", "affine": False},
        ],
    }
    assert check_receptive_fields(spec) == 6


def test_channels_sliced_from_a_concat_see_at_most_the_union():
    """A concat of a 1-wide and a 3-wide path states the union (3); keeping the first path's channel alone
    sees 1 position: the field after a channel slice is a bound, measured as one."""
    spec = {
        "archspec": 1,
        "input": [1, 8],
        "layers": [
            {"type": "conv1d", "name": "a", "inputs": "input", "out_channels": 1, "kernel_size": 1},
            {"type": "conv1d", "name": "b", "inputs": "input", "out_channels": 1, "kernel_size": 3, "padding": 1},
            {"type": "concat", "name": "cat", "inputs": ["a", "b"]},
            {"type": "slice", "name": "first", "axis": 0, "start": 0, "stop": 1},
        ],
    }
    report = archspec.analyze(archspec.loads(as_yaml(spec)))
    assert [(rf.size, rf.stride) for rf in report.layer("first").rf] == [(3, 1)]
    assert check_receptive_fields(spec) == 4


def test_a_sigmoid_gate_after_two_encoder_blocks_keeps_its_field():
    """Four residual adds and a gate lift the transparent forward's values past 37, where float64's sigmoid is
    exactly 1 and would hide every input from the gradient: the check passes sigmoid through (found by a run
    of 300 generated specs)."""

    def block(b: str, source: str) -> list[dict]:
        return [
            {"type": "layernorm", "name": f"{b}ln1", "inputs": source},
            {"type": "multihead_attention", "name": f"{b}att", "num_heads": 1, "bias": False},
            {"type": "add", "name": f"{b}res1", "inputs": [f"{b}att", source]},
            {"type": "layernorm", "name": f"{b}ln2"},
            {"type": "linear", "name": f"{b}fc1", "out_features": 1},
            {"type": "gelu", "name": f"{b}gelu"},
            {"type": "linear", "name": f"{b}fc2", "out_features": 2},
            {"type": "add", "name": f"{b}res2", "inputs": [f"{b}fc2", f"{b}res1"]},
        ]

    def gate(g: str, source: str, act: str) -> list[dict]:
        return [
            {"type": "conv2d", "name": f"{g}s", "inputs": source, "out_channels": 1, "kernel_size": 3, "padding": 1},
            {"type": "conv2d", "name": f"{g}e", "out_channels": 1, "kernel_size": 1},
            {"type": act, "name": f"{g}g"},
            {"type": "mul", "name": g, "inputs": [f"{g}g", source]},
        ]

    spec = {
        "archspec": 1,
        "input": [2, 6, 6],
        "layers": [
            {"type": "reshape", "name": "flat", "shape": [2, -1]},
            {"type": "transpose", "name": "tokens", "axis0": 0, "axis1": 1},
            *block("b0", "tokens"),
            *block("b1", "b0res2"),
            {"type": "transpose", "name": "back", "axis0": 0, "axis1": 1},
            {"type": "reshape", "name": "map", "shape": [2, 6, 6]},
            *gate("g1", "map", "hardsigmoid"),
            *gate("g2", "g1", "sigmoid"),
        ],
    }
    x = torch.full((1, 2, 6, 6), 0.5, dtype=torch.float64)
    assert torch_oracle.transparent_forward(spec, x)["g2e"][0, 0, 3, 3] > 37  # the central unit: sigmoid would saturate
    assert check_receptive_fields(spec) == len(spec["layers"])
