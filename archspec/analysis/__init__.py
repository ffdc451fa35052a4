"""Static analysis: walk the layer graph in topological order, applying each layer kind's rules."""

from __future__ import annotations

from typing import TypeGuard

from archspec.analysis import receptive_field as rf
from archspec.analysis.report import LayerInfo, Report
from archspec.codes import Code
from archspec.errors import Diagnostic, SpecError, one_per_place
from archspec.graph import INPUT, build_graph, layer_mark, layer_name, topological
from archspec.layers import LayerBase, LayerError, MergeError, Shape, fmt_shape
from archspec.layers.fields import axis_name
from archspec.spec import Spec, no_gc

__all__ = ["LayerInfo", "Report", "analyze", "run_analysis"]


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


def _run_analysis(spec: Spec) -> Report:
    graph, diagnostics = build_graph(spec)
    shapes: dict[str, Shape | None] = {INPUT: spec.input_shape or None}
    fields: dict[str, rf.Field | None] = {INPUT: rf.input_field(spec.input_shape)}
    axes: dict[str, rf.Axes] = {INPUT: rf.channels_first(len(spec.input_shape))}
    grids: dict[str, rf.Grid] = {INPUT: None}
    infos: list[LayerInfo] = []
    for name in topological(graph):
        layer: LayerBase | None = graph.nodes[name]["layer"]
        inputs = list(layer.inputs or []) if layer is not None else list(spec.unparsed.get(name) or [])
        info = LayerInfo(name, layer.kind() if layer else "?", inputs, layer, block=spec.block_of.get(name, ()))
        infos.append(info)
        ins = [shapes.get(i) for i in inputs]
        shapes[name] = None
        fields[name] = None
        axes[name] = ()
        grids[name] = None
        if layer is None or layer.inputs is None or not _all_known(ins):
            continue  # unknown upstream (already reported)
        try:
            _check_arity(layer, len(ins))
            layer.check_inputs(ins)
            out = layer.output_shape(ins)
            info.weights = layer.weights(ins)
            info.buffers = layer.buffers(ins)
            info.macs = layer.macs(ins, out)
            info.rf, info.rf_axes, info.rf_grid = rf.step(
                layer, ins, [fields[i] for i in inputs], [axes[i] for i in inputs], [grids[i] for i in inputs]
            )
        except MergeError as exc:
            diagnostics.append(_merge_diagnostic(spec, layer, inputs, shapes, exc))
            continue
        except LayerError as exc:
            diagnostics.append(_layer_diagnostic(spec, layer, exc))
            continue
        info.output_shape = shapes[name] = out
        fields[name] = info.rf
        if info.rf == rf.CONSTANT:
            info.rf = None  # no input position to show
        axes[name] = info.rf_axes
        grids[name] = info.rf_grid
    return Report(
        name=spec.name,
        input_shape=spec.input_shape,
        output=spec.output,
        layers=infos,
        diagnostics=diagnostics,
        spec=spec,
        graph=graph,
    )


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
