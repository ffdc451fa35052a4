"""Receptive fields through the graph: one (r, S, P) per spatial axis, or None where none is true.

A field is a tuple with one ``RF`` per spatial axis of the network input: (length,),
(height, width) or (depth, height, width). It is None once the spatial layout is gone
(flatten, linear, global pooling) or where no single (r, S, P) describes every unit
(unequal adaptive windows, a concat along a spatial axis), and stays None downstream.
"""

from __future__ import annotations

from archspec.arith import INITIAL_RF, RF, Window
from archspec.layers import LayerBase, Receptive, ReceptiveStep, Shape
from archspec.layers.base import Moved

Field = tuple[RF, ...]  # one per spatial axis
#: the field of a value that depends on no input position (a learned tensor); shown as none
CONSTANT: Field = ()
Axes = tuple[int, ...]  # where each spatial axis of a field lies in a tensor's per-sample shape


def input_field(shape: Shape) -> Field | None:
    """The network input's field: every unit sees itself, on each spatial axis (none for a vector)."""
    return (INITIAL_RF,) * (len(shape) - 1) if len(shape) >= 2 else None


def channels_first(rank: int) -> Axes:
    """The spatial axes where every kind's ``receptive()`` expects them: after the channels."""
    return tuple(range(1, rank))


def step(
    layer: LayerBase, ins: list[Shape], fields: list[Field | None], axes: list[Axes] | None = None
) -> tuple[Field | None, Axes]:
    """The field of ``layer``'s output from its inputs' fields, and where its spatial axes lie.

    ``axes`` says where each input's spatial axes are (default: channels first). A permute moves them
    (ConvNeXt: C×H×W → H×W×C); kinds that say which axes they mix (``mixed_axes``: a linear layer
    mixes only the last) keep the field there, every other kind loses it until the axes are back."""
    if all(f == CONSTANT for f in fields):  # no input, or learned tensors only
        return CONSTANT, ()
    if CONSTANT in fields:  # a merge with a learned tensor: the other paths decide the field
        fields = seen_whole(fields, ins)
        kept = [k for k, f in enumerate(fields) if f != CONSTANT]
        ins, fields = [ins[k] for k in kept], [fields[k] for k in kept]
        axes = [axes[k] for k in kept] if axes else None
    where = axes or [channels_first(len(s)) for s in ins]
    rule = layer.receptive(ins)
    fields, where = fields[: layer.value_inputs], where[: layer.value_inputs]  # shape-only inputs lend no field
    if isinstance(rule, Moved):
        moved = tuple(rule.to[a] for a in where[0])
        if fields[0] is None or None in moved:
            return None, ()
        return fields[0], tuple(a for a in moved if a is not None)
    live = [(a, s) for f, a, s in zip(fields, where, ins) if f is not None]
    spatial = {a for a, _ in live}
    if len(spatial) <= 1 and all(sorted(a) == list(channels_first(len(s))) for a, s in live):
        # channels first, the spatial axes after them in any order (a transpose of height and width):
        # each kind's rule holds, applied to the axis where each field axis lies
        order = live[0][0] if live else channels_first(max(len(s) for s in ins))
        field = _channels_first_step(rule, ins[: len(fields)], fields, order)
        return field, order if field is not None else ()
    return _moved_axes_step(layer, ins[: len(fields)], fields, where)


def _channels_first_step(rule: ReceptiveStep, ins: list[Shape], fields: list[Field | None], order: Axes) -> Field | None:
    """A kind's own rule; ``order``: the tensor axis of each field axis (a permutation of 1, 2, ...)."""
    if rule in (Receptive.LOST, Receptive.UNDEFINED):
        return None
    if len(fields) > 1:
        rank = max(len(s) for s in ins)
        return merge(seen_whole(fields, ins, order), tuple(max(s[a] for s in ins if len(s) == rank) for a in order))
    field = fields[0]
    if field is None or rule == Receptive.KEEP:
        return field
    stepped = [_axis_step(rf, _on_axis(rule, a), ins[0][a]) for rf, a in zip(field, order)]
    return None if None in stepped else tuple(rf for rf in stepped if rf is not None)


def _on_axis(rule: ReceptiveStep, axis: int) -> object:
    """What a per-axis rule does on tensor axis ``axis`` (1 = the first spatial axis)."""
    if isinstance(rule, Window):
        i = axis - 1
        return Window((rule.kernel[i],), (rule.stride[i],), (rule.padding[i],), (rule.dilations[i],))
    assert isinstance(rule, tuple)
    return rule[axis - 1]


def _moved_axes_step(
    layer: LayerBase, ins: list[Shape], fields: list[Field | None], where: list[Axes]
) -> tuple[Field | None, Axes]:
    """A layer after a permute: only what it says it mixes (``mixed_axes``) is known."""
    mixed = layer.mixed_axes(ins)
    rank = len(ins[0])
    if mixed is None or any(f is None for f in fields) or len(set(where)) > 1 or any(len(s) != rank for s in ins):
        return None, ()
    axes = where[0]
    field = merge(seen_whole(fields, ins, axes), tuple(max(s[a] for s in ins) for a in axes)) if len(fields) > 1 else fields[0]
    if field is None:
        return None, ()
    return tuple(rf.across(ins[0][a]) if a in mixed else rf for rf, a in zip(field, axes)), axes


def _axis_step(rf: RF, axis: object, positions: int) -> RF | None:
    if axis == Receptive.KEEP:
        return rf
    if axis == Receptive.MIX:
        return rf.across(positions)
    assert isinstance(axis, Window) and axis.rank == 1
    if rf.stride == 0 and axis.blind((positions,))[0]:
        # every unit sees the same span, except one whose taps all land in padding: it sees nothing
        return None
    return axis.field((rf,))[0]


def seen_whole(fields: list[Field | None], ins: list[Shape], axes: Axes | None = None) -> list[Field | None]:
    """Merged paths' fields with broadcasting applied: an input of size 1 on an axis where another input is
    longer reaches every output position there, so on that axis every unit sees its one span (stride 0).
    ``axes``: where the spatial axes lie (default: after the channels)."""
    rank = max(len(s) for s in ins)
    where = axes or channels_first(rank)
    out: list[Field | None] = []
    for field, shape in zip(fields, ins):
        if field is None or len(shape) != rank:
            out.append(None if len(shape) != rank else field)  # a lower-rank path has no spatial field of its own
            continue
        longest = [max(s[a] for s in ins if len(s) == rank) for a in where]
        out.append(tuple(rf.across(1) if shape[a] == 1 < m else rf for rf, a, m in zip(field, where, longest)))
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
