"""Receptive fields through the graph: one (r, S, P) per spatial axis, or None where none is true.

A field is a tuple with one ``RF`` per spatial axis of the network input: (length,),
(height, width) or (depth, height, width). It is None once the spatial layout is gone
(flatten, linear, global pooling) or where no single (r, S, P) describes every unit
(unequal adaptive windows, a concat along a spatial axis), and stays None downstream.
"""

from __future__ import annotations

from archspec.arith import INITIAL_RF, RF, Window
from archspec.layers import LayerBase, Receptive, Shape

Field = tuple[RF, ...]  # one per spatial axis
#: the field of a value that depends on no input position (a learned tensor); shown as none
CONSTANT: Field = ()


def input_field(shape: Shape) -> Field | None:
    """The network input's field: every unit sees itself, on each spatial axis (none for a vector)."""
    return (INITIAL_RF,) * (len(shape) - 1) if len(shape) >= 2 else None


def step(layer: LayerBase, ins: list[Shape], fields: list[Field | None]) -> Field | None:
    """The field of ``layer``'s output from its inputs' fields."""
    if all(f == CONSTANT for f in fields):  # no input, or learned tensors only
        return CONSTANT
    if CONSTANT in fields:  # a merge with a learned tensor: the other paths decide the field
        fields = seen_whole(fields, ins)
        kept = [k for k, f in enumerate(fields) if f != CONSTANT]
        ins, fields = [ins[k] for k in kept], [fields[k] for k in kept]
    rule = layer.receptive(ins)
    if rule in (Receptive.LOST, Receptive.UNDEFINED):
        return None
    if len(fields) > 1:
        rank = max(len(s) for s in ins)
        return merge(seen_whole(fields, ins), tuple(max(s[axis] for s in ins if len(s) == rank) for axis in range(1, rank)))
    field = fields[0]
    if field is None or rule == Receptive.KEEP:
        return field
    if isinstance(rule, Window):
        return rule.field(field)
    assert isinstance(rule, tuple) and len(rule) == len(field)
    return tuple(_axis_step(rf, axis, size) for rf, axis, size in zip(field, rule, ins[0][1:]))


def _axis_step(rf: RF, axis: object, positions: int) -> RF:
    if axis == Receptive.KEEP:
        return rf
    if axis == Receptive.MIX:
        return rf.across(positions)
    assert isinstance(axis, Window) and axis.rank == 1
    return axis.field((rf,))[0]


def seen_whole(fields: list[Field | None], ins: list[Shape]) -> list[Field | None]:
    """Merged paths' fields with broadcasting applied: an input of size 1 on an axis where another input is
    longer reaches every output position there, so on that axis every unit sees its one span (stride 0)."""
    rank = max(len(s) for s in ins)
    out: list[Field | None] = []
    for field, shape in zip(fields, ins):
        if field is None or len(shape) != rank:
            out.append(None if len(shape) != rank else field)  # a lower-rank path has no spatial field of its own
            continue
        longest = [max(s[axis] for s in ins if len(s) == rank) for axis in range(1, rank)]
        out.append(tuple(rf.across(1) if n == 1 < m else rf for rf, n, m in zip(field, shape[1:], longest)))
    return out


def merge(fields: list[Field | None], sizes: Shape) -> Field | None:
    """Union over paths, axis by axis; None when a path has no field or the paths have no common grid."""
    if any(f is None for f in fields):
        return None
    merged = []
    for axis, n in zip(zip(*fields), sizes):  # per axis: the paths' RFs and the number of output positions
        rf = _union(list(axis), n)
        if rf is None:
            return None
        merged.append(rf)
    return tuple(merged)


def _union(paths: list[RF], positions: int) -> RF | None:
    """One axis of a merge. Equal strides: the span of all paths. A path that already sees one span
    everywhere (stride 0) absorbs local paths whose windows all lie inside that span."""
    strides = {rf.stride for rf in paths}
    if len(strides) == 1:
        return RF.union(paths)
    if strides - {0} and 0 in strides:
        whole = RF.union([rf for rf in paths if rf.stride == 0])
        start, end = -whole.padding, -whole.padding + whole.size - 1
        if all(-rf.padding >= start and -rf.padding + (positions - 1) * rf.stride + rf.size - 1 <= end for rf in paths):
            return whole
    return None


def aligned(fields: list[Field | None]) -> bool:
    """Do merged paths look at the same input positions (same stride and centre on every axis)?"""
    if any(f is None for f in fields):
        return True  # nothing spatial to misalign
    for paths in zip(*fields):
        axis = [rf for rf in paths if rf.stride != 0]  # a path that sees one span everywhere is aligned with any
        if len({rf.stride for rf in axis}) > 1 or len({rf.center for rf in axis}) > 1:
            return False
    return True
