"""Expressions that read the input's shape (``${expand * in.channels}``), evaluated in graph order.

Expansion evaluates every ``${...}`` it can; one that reads ``in.`` stays a ``Deferred``.
Here the layers are walked in topological order (a layer after its inputs and after
the layer its ``in`` means), each layer's output shape worked out with the kinds' own
rules, and every Deferred given its value just before its layer is validated. Specs
without such expressions never come here, so loading stays as fast as before.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterator
from typing import Any

from archspec.errors import Diagnostic
from archspec.layers import LayerBase, LayerError, Shape
from archspec.spec.expand import Expander, RawLayer
from archspec.spec.expr import Deferred, ExprError, Reported, compute
from archspec.spec.load import YDict, YList

Validate = Callable[[RawLayer], tuple[LayerBase | None, list[Diagnostic]]]


def deferred_in(data: Any) -> Iterator[Deferred]:
    """Every Deferred value in a layer mapping (and those its parameters read)."""
    if isinstance(data, Deferred):
        yield data
        for value in data.names.values():
            yield from deferred_in(value)
    elif isinstance(data, dict):
        for value in data.values():
            yield from deferred_in(value)
    elif isinstance(data, list):
        for value in data:
            yield from deferred_in(value)


class ShapeWalk:
    """Output shapes of the layers, worked out on demand in graph order, and Deferred values from them."""

    def __init__(self, expander: Expander, input_shape: Shape, path: str):
        self.expander = expander
        self.path = path
        self.shapes: dict[str, Shape | None] = {"input": input_shape or None}
        self.diagnostics: list[Diagnostic] = []

    def anchor_of(self, value: Deferred) -> str | None:
        if value.anchor is None:
            return None
        ref, scope = value.anchor
        return self.expander.resolve(ref, scope)

    def value(self, item: Deferred) -> int:
        if item.result is not None:
            return item.result
        if item.failed:
            raise Reported
        anchor = self.anchor_of(item)
        shape = self.shapes.get(anchor) if anchor is not None else None
        try:
            if shape is None:
                raise Reported  # the input's shape is unknown: a problem upstream, reported there
            item.result = compute(item.tree, item.text, item.names, shape, self.value)
        except ExprError as exc:
            item.failed = True
            hint = exc.hint
            self.diagnostics.append(Diagnostic(exc.code, exc.message, self.path, item.line, item.column + exc.offset, hint))
            raise Reported from None
        except Reported:
            item.failed = True
            raise
        return item.result

    def concrete(self, data: Any) -> Any:
        """A copy of a layer mapping with every Deferred replaced by its value (marks kept)."""
        if isinstance(data, Deferred):
            return self.value(data)
        if isinstance(data, YDict):
            out = YDict(data.mark)
            out.repeated = data.repeated
            for key, value in data.items():
                out.set(key, self.concrete(value), data.key_marks[key], data.value_marks[key])
            return out
        if isinstance(data, YList):
            out_list = YList(data.mark)
            out_list.extend(self.concrete(v) for v in data)
            out_list.item_marks.extend(data.item_marks)
            return out_list
        return data

    def output(self, layer: LayerBase, inputs: list[str]) -> Shape | None:
        ins = [self.shapes.get(i) for i in inputs]
        if any(s is None for s in ins):
            return None  # a layer without inputs (a learned tensor) has its shape all the same
        known: list[Shape] = [s for s in ins if s is not None]
        low, high = layer.arity
        if len(known) < low or (high is not None and len(known) > high):
            return None
        try:
            layer.check_inputs(known)
            return layer.output_shape(known)
        except (LayerError, ValueError, ArithmeticError, IndexError):
            return None  # analysis reports it, with its position


def resolve(
    expander: Expander, input_shape: Shape, path: str, validate: Validate, done: dict[int, LayerBase | None]
) -> tuple[dict[int, tuple[LayerBase | None, list[Diagnostic]]], list[Diagnostic]]:
    """Validate the layers that hold Deferred values, in graph order; by id(raw): (layer or None, diagnostics).

    ``done`` holds the other layers, validated already (by id of their RawLayer)."""
    walk = ShapeWalk(expander, input_shape, path)
    kept = {raw.name: raw for raw in expander.raws if raw.kept}
    waiting = {id(raw) for raw in expander.raws if id(raw) not in done}
    graph: dict[str, set[str]] = {}
    for raw in kept.values():
        needs = set(raw.inputs or ())
        if id(raw) in waiting:
            needs |= {a for d in deferred_in(raw.data) if (a := walk.anchor_of(d)) is not None}
        graph[raw.name] = needs
    results: dict[int, tuple[LayerBase | None, list[Diagnostic]]] = {}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        order = []  # a cycle is reported with the graph; its layers keep no shape
    for name in order:
        node = kept.get(name)
        if node is None:
            continue
        if id(node) in waiting:
            results[id(node)] = _validated(node, walk, validate)
            layer = results[id(node)][0]
        else:
            layer = done.get(id(node))
        walk.shapes[name] = walk.output(layer, node.inputs or []) if layer is not None and node.inputs is not None else None
    for raw in expander.raws:  # switched off (`when: false`) or caught in a cycle: checked if their input is known
        if id(raw) in waiting and id(raw) not in results:
            results[id(raw)] = _validated(raw, walk, validate)
    return results, walk.diagnostics


def _validated(raw: RawLayer, walk: ShapeWalk, validate: Validate) -> tuple[LayerBase | None, list[Diagnostic]]:
    try:
        raw.data = walk.concrete(raw.data)
    except Reported:
        return None, []
    return validate(raw)
