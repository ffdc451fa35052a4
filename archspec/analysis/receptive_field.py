"""Receptive fields through the graph: one (r, S, P) per spatial axis, or None where none is true.

A field is a tuple with one ``RF`` per spatial axis of the network input: (length,),
(height, width) or (depth, height, width). It is None once the spatial layout is gone
(flatten, linear, global pooling) or where no single (r, S, P) describes every unit
(unequal adaptive windows, a concat along a spatial axis), and stays None downstream.

Where a reshape flattens the spatial axes into one axis of tokens (a ViT's patches), the field goes on
per axis of the ``TokenGrid`` (analysis/token_grid.py): through transposes, a learned class token joined
to the tokens, elementwise kinds, adds, norms and linear maps of the features; a kind that mixes the
tokens (attention) gives every token the whole grid's span (S = 0).
"""

from __future__ import annotations

from typing import NamedTuple

from archspec.analysis import token_grid
from archspec.analysis.token_grid import TokenGrid
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


Grid = TokenGrid | None  # the token grid a value's spatial axes are flattened into, if they are


def step(
    layer: LayerBase,
    ins: list[Shape],
    fields: list[Field | None],
    axes: list[Axes] | None = None,
    grids: list[Grid] | None = None,
) -> tuple[Field | None, Axes, Grid]:
    """The field of ``layer``'s output from its inputs' fields, where its spatial axes lie, and its token grid.

    ``axes`` says where each input's spatial axes are (default: channels first). A permute moves them
    (ConvNeXt: C×H×W → H×W×C); kinds that say which axes they mix (``mixed_axes``: a linear layer
    mixes only the last) keep the field there, every other kind loses it until the axes are back.
    ``grids``: each input's token grid, when its spatial axes are flattened into tokens (default: none)."""
    if all(f == CONSTANT for f in fields):  # no input, or learned tensors only
        return CONSTANT, (), None
    if grids and any(g is not None for g in grids):
        out = _grid_step(layer, ins, fields, grids)
        return out.field, out.axes, out.grid
    field, where = _step(layer, ins, fields, axes)
    if field is None and fields[0] and isinstance(layer.receptive(ins), Moved):
        # a reshape that flattens the spatial axes, in order, into one axis: tokens on a grid
        grid = token_grid.merged(ins[0], layer.output_shape(ins), axes[0] if axes else channels_first(len(ins[0])))
        if grid is not None:
            return fields[0], grid.axes, grid
    return field, where, None


def why_lost(layer: LayerBase, ins: list[Shape], fields: list[Field | None], grids: list[Grid]) -> str | None:
    """Why a layer reading a token grid gives no field (for I504: what its units do), or None where nothing
    was lost but the layout itself (a class token taken out, the tokens flattened, as global pooling does)."""
    return _grid_step(layer, ins, fields, grids).why


def _step(layer: LayerBase, ins: list[Shape], fields: list[Field | None], axes: list[Axes] | None) -> tuple[Field | None, Axes]:
    """``step`` on inputs with no token grid."""
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
        if len(field) != len(where):  # a field on a token grid: its axes share one tensor axis, never broadcast
            out.append(field)
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


class _GridStep(NamedTuple):
    field: Field | None
    axes: Axes
    grid: Grid
    why: str | None = None  # with no field although every path had one: what the units do (I504)


_NONE = _GridStep(None, (), None)  # no field, and nothing lost but the layout


def _lost(why: str) -> _GridStep:
    return _GridStep(None, (), None, why)


def _grid_step(layer: LayerBase, ins: list[Shape], fields: list[Field | None], grids: list[Grid]) -> _GridStep:
    """A layer reading a token grid: the tokens keep their field where the layer keeps them apart, and every
    token sees the whole grid's span where it mixes them; learned tensors joined or added lend no field."""
    n = layer.value_inputs
    ins, fields, grids = ins[:n], fields[:n], grids[:n]
    live = [k for k, f in enumerate(fields) if f != CONSTANT]
    if any(fields[k] is None for k in live):
        return _NONE  # a path with no field: nothing more to lose
    if any(grids[k] is None for k in live):
        return _lost("merge tokens on a grid with a path whose positions are not tokens")
    grid, field = grids[live[0]], fields[live[0]]
    assert grid is not None and field is not None
    rule = layer.receptive(ins)
    kept = layer.kept_positions(ins)
    if kept is not None and kept[0] == grid.axis:  # some tokens taken (a slice, a select)
        return _kept(field, grid, kept[1], isinstance(rule, Moved))
    if isinstance(rule, Moved):
        return _moved(rule, ins[0], layer.output_shape(ins), field, grid)
    joined = layer.joined_axis(ins)
    if joined == grid.axis:
        return _joined(ins, fields, grids, grid.axis)
    if any(grids[k] != grid for k in live):
        return _lost("merge tokens of different grids")
    if len(live) > 1:
        field = merge([fields[k] for k in live], grid.sizes)
        if field is None:
            return _NONE  # paths of unequal strides (W407 says so)
    mixed = frozenset() if joined is not None or kept is not None else layer.mixed_axes(ins)
    if mixed is None:  # a rule for channels-first maps only
        return _NONE if rule == Receptive.LOST else _lost("read tokens with a rule for channels-first maps")
    out = layer.output_shape(ins)
    if len(out) != len(ins[live[0]]) or out[grid.axis] != grid.tokens:
        return _NONE  # the tokens pooled into fewer: no grid is left
    if grid.axis in mixed:  # every token sees every token (attention)
        field = tuple(rf.across(n) for rf, n in zip(field, grid.sizes))
    return _GridStep(field, grid.axes, grid)


def _kept(field: Field, grid: TokenGrid, positions: range, drops_axis: bool) -> _GridStep:
    left = None if drops_axis else token_grid.kept(grid, positions)
    if left is not None:
        return _GridStep(field, left.axes, left)
    if not token_grid.touches(grid, positions):
        return _NONE  # only the class token: the layout is gone, as after global pooling
    return _lost("keep part of a token grid")


def _moved(rule: Moved, old: Shape, new: Shape, field: Field, grid: TokenGrid) -> _GridStep:
    to = rule.to[grid.axis]
    if to is not None:  # the token axis moved (a transpose), its tokens intact
        moved = TokenGrid(to, grid.sizes, grid.before, grid.after)
        return _GridStep(field, moved.axes, moved)
    axes = token_grid.unflattened(grid, old, new)
    if axes is not None:  # the tokens laid back on the map's axes
        return _GridStep(field, axes, None)
    if len(new) < len(old):
        return _NONE  # tokens flattened into features: the layout is gone
    return _lost("regroup the tokens of a grid")


def _joined(ins: list[Shape], fields: list[Field | None], grids: list[Grid], axis: int) -> _GridStep:
    """Tokens joined to the grid's (a class token): they see no input position, and the grid moves along."""
    gridded = [k for k, g in enumerate(grids) if g is not None]
    if len(gridded) != 1 or any(f != CONSTANT for k, f in enumerate(fields) if k != gridded[0]):
        return _lost("join tokens that are not one grid and learned tokens")
    (k,) = gridded
    grid, field = grids[k], fields[k]
    assert grid is not None and field is not None
    out = token_grid.joined(grid, sum(s[axis] for s in ins[:k]), sum(s[axis] for s in ins[k + 1 :]))
    return _GridStep(field, out.axes, out)
