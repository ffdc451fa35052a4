"""Receptive fields through the graph: one (r, S, P) per spatial axis, or None once spatial layout is gone."""

from __future__ import annotations

from archspec.arith import INITIAL_RF, RF
from archspec.layers import LayerBase, Receptive, Shape, Window

Field2 = tuple[RF, RF]  # (height, width)


def input_field(shape: Shape) -> Field2 | None:
    return (INITIAL_RF, INITIAL_RF) if len(shape) == 3 else None


def step(layer: LayerBase, ins: list[Shape], fields: list[Field2 | None]) -> Field2 | None:
    """The field of ``layer``'s output from its inputs' fields."""
    if len(fields) > 1:
        return merge(fields)
    field = fields[0]
    if field is None:
        return None
    rule = layer.receptive(ins)
    if rule == Receptive.KEEP:
        return field
    if rule == Receptive.LOST:
        return None
    assert isinstance(rule, Window)
    return tuple(  # type: ignore[return-value]
        rf.through(k, s, p, d) for rf, k, s, p, d in zip(field, rule.kernel, rule.stride, rule.padding, rule.dilation)
    )


def merge(fields: list[Field2 | None]) -> Field2 | None:
    """Union over paths; None when a path has no spatial field or the strides differ (no single grid)."""
    if any(f is None for f in fields):
        return None
    axes = list(zip(*fields))  # per axis: the paths' RFs
    if any(len({rf.stride for rf in axis}) > 1 for axis in axes):
        return None
    return tuple(RF.union(list(axis)) for axis in axes)  # type: ignore[return-value]


def aligned(fields: list[Field2 | None]) -> bool:
    """Do merged paths look at the same input positions (same stride and centre on every axis)?"""
    if any(f is None for f in fields):
        return True  # nothing spatial to misalign
    for axis in zip(*fields):
        if len({rf.stride for rf in axis}) > 1 or len({rf.center for rf in axis}) > 1:
            return False
    return True
