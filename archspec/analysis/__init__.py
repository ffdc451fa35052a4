"""Static analysis: walk the layer graph in topological order, applying each layer kind's rules."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeGuard

from archspec.analysis import receptive_field as rf
from archspec.analysis.layout import channel_axis, input_channel_axis
from archspec.analysis.report import SUMMED, LayerInfo, Report
from archspec.codes import Code
from archspec.errors import Diagnostic, SpecError, one_per_place
from archspec.graph import INPUT, build_graph, layer_mark, layer_name, topological
from archspec.layers import LayerBase, LayerError, MergeError, Shape, fmt_shape
from archspec.layers.fields import axis_name
from archspec.spec import Spec, no_gc

__all__ = ["Flow", "LayerInfo", "Report", "analyze", "reanalyse", "run_analysis"]


def analyze(spec: Spec) -> Report:
    """The static Report of a loaded spec. Raises SpecError if shapes do not work out."""
    report = run_analysis(spec)
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    if errors:
        raise SpecError(one_per_place(sorted(errors, key=Diagnostic.sort_key), lambda name: bool(spec.block_of.get(name))))
    return report


def run_analysis(spec: Spec) -> Report:
    """Best-effort analysis that never raises: layers downstream of a problem get no shape."""
    with no_gc():
        return _run_analysis(spec)


@dataclass
class Flow:
    """What each layer passes on to the layers that read it (its shape, field, spatial axes and token grid):
    the state a later analysis of an edited spec resumes from."""

    shapes: dict[str, Shape | None]
    fields: dict[str, rf.Field | None]
    axes: dict[str, rf.Axes]
    grids: dict[str, rf.Grid]
    channels: dict[str, int | None]  # the axis holding the input's channels (analysis.layout)

    @classmethod
    def at_input(cls, shape: Shape) -> Flow:
        field = rf.input_field(shape)
        return cls(
            {INPUT: shape or None},
            {INPUT: field},
            {INPUT: rf.channels_first(len(shape))},
            {INPUT: None},
            {INPUT: input_channel_axis(shape)},
        )

    def copy(self) -> Flow:
        return Flow(dict(self.shapes), dict(self.fields), dict(self.axes), dict(self.grids), dict(self.channels))

    def passed(self, name: str) -> tuple[object, ...]:
        return self.shapes[name], self.fields[name], self.axes[name], self.grids[name], self.channels[name]


def _run_analysis(spec: Spec) -> Report:
    graph, diagnostics = build_graph(spec)
    flow = Flow.at_input(spec.input_shape)
    infos: list[LayerInfo] = []
    for name in topological(graph):
        info, found = _analyse_layer(spec, name, flow)
        infos.append(info)
        diagnostics += found
    return Report(spec.name, spec.input_shape, spec.output, infos, diagnostics, spec, graph, flow)


def reanalyse(previous: Report, spec: Spec, changed: AbstractSet[str], wiring: tuple[list[str], Any] | None = None) -> Report:
    """``run_analysis(spec)`` for a spec that differs from ``previous.spec`` only in the fields of the layers
    ``changed`` and perhaps its input's shape (same names, same inputs, so the same graph): only those
    layers and the readers of a changed input, and downstream of them the layers whose inputs now pass on
    something else, are analysed again; the others keep their figures. Layers with a diagnostic are always
    analysed again (a merge's message describes the paths upstream).

    ``wiring`` = (order, graph) when layers were added or removed (spec.splice): the new graph and its
    layers' order; layers new to it are ``changed``."""
    assert previous.flow is not None, "a report from run_analysis"
    with no_gc():
        flow = previous.flow.copy()
        sums = dict(previous.sums())
        order, graph = wiring if wiring is not None else ([info.name for info in previous.layers], previous.graph)
        old = {info.name: info for info in previous.layers} if wiring is not None else None
        if old is not None:
            for info in previous.layers:
                if info.name not in graph:  # removed
                    for key in SUMMED:
                        sums[key] -= getattr(info, key)
                    for values in vars(flow).values():
                        del values[info.name]
        again = set(changed) | {d.layer for d in previous.diagnostics if d.layer}
        moved: set[str] = set()  # layers (and the input) that now pass on something else
        if spec.input_shape != previous.input_shape:
            start = Flow.at_input(spec.input_shape)
            for now, then in zip(vars(flow).values(), vars(start).values(), strict=True):
                now[INPUT] = then[INPUT]
            moved.add(INPUT)
        infos: list[LayerInfo] = []
        diagnostics: list[Diagnostic] = []
        for position, name in enumerate(order):
            before = old.get(name) if old is not None else previous.layers[position]
            if before is not None and name not in again and not any(i in moved for i in before.inputs):
                infos.append(before)
                continue
            passed = flow.passed(name) if before is not None else None
            info, found = _analyse_layer(spec, name, flow)
            infos.append(info)
            diagnostics += found
            if flow.passed(name) != passed:
                moved.add(name)
            for key in SUMMED:
                sums[key] += getattr(info, key) - (getattr(before, key) if before is not None else 0)
        report = Report(spec.name, spec.input_shape, spec.output, infos, diagnostics, spec, graph, flow)
        report.__dict__["_sums"] = sums  # the previous totals, less the layers analysed again, plus their new figures
        return report


def _analyse_layer(spec: Spec, name: str, flow: Flow) -> tuple[LayerInfo, list[Diagnostic]]:
    """One layer's figures from what its inputs pass on; what it passes on goes into ``flow``."""
    layer = spec.get(name)
    inputs = list(layer.inputs or []) if layer is not None else list(spec.unparsed.get(name) or [])
    info = LayerInfo(name, layer.kind() if layer else "?", inputs, layer, block=spec.block_of.get(name, ()))
    shapes = flow.shapes
    ins = [shapes.get(i) for i in inputs]
    shapes[name] = None
    flow.fields[name] = None
    flow.axes[name] = ()
    flow.grids[name] = None
    flow.channels[name] = None
    if layer is None or layer.inputs is None or not _all_known(ins):
        return info, []  # unknown upstream (already reported)
    try:
        _check_arity(layer, len(ins))
        layer.check_inputs(ins)
        out = layer.output_shape(ins)
        info.weights = layer.weights(ins)
        info.buffers = layer.buffers(ins)
        info.macs = layer.macs(ins, out)
        info.rf, info.rf_axes, info.rf_grid = rf.step(
            layer, ins, [flow.fields[i] for i in inputs], [flow.axes[i] for i in inputs], [flow.grids[i] for i in inputs]
        )
    except MergeError as exc:
        return info, [_merge_diagnostic(spec, layer, inputs, shapes, exc)]
    except LayerError as exc:
        return info, [_layer_diagnostic(spec, layer, exc)]
    info.output_shape = shapes[name] = out
    flow.fields[name] = info.rf
    if info.rf == rf.CONSTANT:
        info.rf = None  # no input position to show
    flow.axes[name] = info.rf_axes
    flow.grids[name] = info.rf_grid
    flow.channels[name] = channel_axis(layer, ins, out, flow.channels.get(inputs[0]) if inputs else None)
    return info, []


def _all_known(shapes: list[Shape | None]) -> TypeGuard[list[Shape]]:
    return all(s is not None for s in shapes)


def _check_arity(layer: LayerBase, n: int) -> None:
    low, high = layer.arity
    if n < low or (high is not None and n > high):
        wanted = f"at least {low}" if high is None else str(low) if low == high else f"{low} to {high}"
        raise LayerError(f"{layer.kind()} takes {wanted} input{'s' if wanted != '1' else ''}, got {n}", field="inputs")


def _layer_diagnostic(spec: Spec, layer: LayerBase, exc: LayerError) -> Diagnostic:
    name = layer_name(layer)
    mark = layer_mark(spec, name, exc.field)
    return Diagnostic(exc.code, f"layer `{name}`: {exc.message}", spec.path, mark.line, mark.column, exc.hint, layer=name)


def _merge_diagnostic(
    spec: Spec, layer: LayerBase, inputs: list[str], shapes: dict[str, Shape | None], exc: MergeError
) -> Diagnostic:
    """Name both disagreeing paths and, on each, the layer that last changed the shape (or the axis to blame)."""
    a, b = inputs[exc.first], inputs[exc.second]
    axis = exc.axis

    def shape(producer: str) -> Shape:
        known = shapes[producer]
        assert known is not None  # a merge is checked only once all its inputs have shapes
        return known

    on = f" on the {axis_name(len(shape(a)), axis)}" if axis is not None else ""

    def describe(producer: str) -> str:
        changer = _last_change(spec, producer, shapes, axis)
        origin = "" if changer == producer else ", as in the input" if changer == INPUT else f", last changed by `{changer}`"
        return f"`{producer}` gives {fmt_shape(shape(producer))}{origin}"

    name = layer_name(layer)
    mark = layer_mark(spec, name, "inputs")
    return Diagnostic(
        Code.MERGE_SHAPE_MISMATCH,
        f"layer `{name}`: {layer.kind()} inputs disagree{on}: {describe(a)}; {describe(b)}",
        spec.path,
        mark.line,
        mark.column,
        exc.hint or "make both paths change the shape the same way (e.g. a strided 1×1 conv on the shortcut)",
        layer=name,
    )


def _last_change(spec: Spec, name: str, shapes: dict[str, Shape | None], axis: int | None = None) -> str:
    """Walk back along first inputs while the shape (or its size on ``axis``) stays the same; the layer where it changed."""

    def size(n: str) -> object:
        shape = shapes.get(n)
        return shape if axis is None or shape is None or len(shape) <= axis else shape[axis]

    seen = set()
    while name != INPUT and name not in seen:
        seen.add(name)
        layer = spec.layer(name) if name not in spec.unparsed else None
        if layer is None or not layer.inputs:
            return name
        before = layer.inputs[0]
        if size(before) != size(name):
            return name
        name = before
    return name
