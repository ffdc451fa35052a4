"""A block's parameters as a person writes them: named after what they are, and left out where they follow.

The values that differ between a group's instances come in columns, one value per instance; columns that agree
wherever both layers exist are one (conv3's out_channels and the optional projection's). A column that follows
from the block's input or from another column in every instance is written in its places as an expression, not
as a parameter: an expanded width ``${in.channels * 6}``, a bottleneck's output ``${width * 4}``, a padding
``${kernel_size // 2}``. A count (of channels, features or groups, or a size in a target shape) may follow from
the input's channels (``in.channels``), the side of its square map (``in.size``) or its last axis
(``in.shape[-1]``, a channels-last block) or from another count, dividing exactly; any other number only from
another such of its own layer, and a parameter with a default (``stride: 1``) never. The others are named: the
width that leaves the block after its field (``out_channels``), a width inside it ``width``, the rest after their
field; where two would share a name, each is named after its layer (``conv2_out_channels``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archspec.importer.groups import Group, Instance, having, layer_of, value, varying
from archspec.layers import KIND_BY_TYPE

#: fields that count channels or features (``groups`` divides them; a learned tensor's or a reshape's ``shape``
#: gives a size on each axis): the counts, which follow from one another and from the input's sizes
COUNTS = ("out_channels", "out_features", "groups", "shape")
#: the counts that say how many channels (features) a layer gives: the block's output, or a width inside it
WIDTHS = ("out_channels", "out_features")

_ABSENT = object()  # in a column: the instance lacks the layers


@dataclass(frozen=True)
class Ratio:
    """A value that follows from another in every instance: ``base * k`` or ``base // k``."""

    base: Param | str  # a kept parameter, or a size of the input (``in.channels``)
    op: str
    k: int

    def text(self) -> str:
        base = self.base if isinstance(self.base, str) else self.base.name
        return f"${{{base}}}" if (self.op, self.k) == ("*", 1) else f"${{{base} {self.op} {self.k}}}"


@dataclass(eq=False)
class Param:
    places: list[tuple[str, str]]  # (layer, field) where it is written
    column: list[Any]  # each instance's value; _ABSENT where the instance lacks those layers
    default: Any = None  # the kind's default where some instance uses it; None: required
    name: str = ""
    rule: Ratio | list[Any] | None = None  # what is written instead (a list: values and Ratios), when it follows

    @property
    def count(self) -> bool:
        return any(f in COUNTS for _, f in self.places)

    def text(self) -> Any:
        """What the block's layers say at its places: ``$name``, or its rule."""
        if isinstance(self.rule, Ratio):
            return self.rule.text()
        if isinstance(self.rule, list):
            return [x.text() if isinstance(x, Ratio) else x for x in self.rule]
        return f"${self.name}"


def params(group: Group) -> list[Param]:
    """The group's varying values: those that follow from others with their rules, the rest named parameters."""
    out: list[Param] = []
    for rel, f in varying(group):
        column = [value(i, rel, f) if layer_of(i, rel) else _ABSENT for i in group.insts]
        same = next((p for p in out if _agree(p.column, column)), None)
        if same is None:
            out.append(Param([(rel, f)], column, _default(group, rel, f, column)))
        else:
            same.places.append((rel, f))
            same.column = [b if a is _ABSENT else a for a, b in zip(same.column, column)]
    kept: list[Param] = []
    for p in out:
        if p.default is None:
            p.rule = _rule(p, group, kept)
        if p.rule is None:
            kept.append(p)
    _name(kept, group)
    return out


def _agree(a: list[Any], b: list[Any]) -> bool:
    return all(x is _ABSENT or y is _ABSENT or x == y for x, y in zip(a, b))


def _default(group: Group, rel: str, f: str, column: list[Any]) -> Any:
    """The kind's default for the field where some instance uses it (a stride of 1), so calls leave it out."""
    default = KIND_BY_TYPE[layer_of(having(group, rel)[0], rel).tag].model_fields[f].default  # type: ignore[union-attr]
    usable = default is not None and type(default) in (int, bool, str)
    return default if usable and any(type(v) is type(default) and v == default for v in column) else None


def _is_int(v: Any) -> bool:
    return type(v) is int


def _rule(p: Param, group: Group, kept: list[Param]) -> Ratio | list[Any] | None:
    """How the parameter's values follow from the input or from a kept parameter in every instance, if they do."""
    at = [k for k, v in enumerate(p.column) if v is not _ABSENT]
    values = [p.column[k] for k in at]
    if all(_is_int(v) for v in values):
        return _follows(values, at, p, group, kept)
    if not all(isinstance(v, list) and len(v) == len(values[0]) for v in values):
        return None
    rule: list[Any] = []
    for j in range(len(values[0])):
        items = [v[j] for v in values]
        if all(x == items[0] for x in items):
            rule.append(items[0])
        elif all(_is_int(x) for x in items) and (ratio := _follows(items, at, p, group, kept)) is not None:
            rule.append(ratio)
        else:
            return None
    return rule


def _follows(values: list[int], at: list[int], p: Param, group: Group, kept: list[Param]) -> Ratio | None:
    """A Ratio that gives ``values`` (those of the instances at ``at``) in every one of them, if there is one.

    Ratios between counts divide exactly (a floor division matches too many pairs by chance: widths 7 and 11 are
    kernels 3 and 5 halved); a number that is no count follows only from another of its own layer (a padding
    from the kernel size)."""
    shapes = [s for k in at if (s := group.insts[k].in_shape) is not None]
    if p.count and len(shapes) == len(at):
        for word, size in _INPUT_SIZES:
            if ratio := _ratio(values, [size(s) for s in shapes], exact=True):
                return Ratio(word, *ratio)
    mine = {rel for rel, _ in p.places}
    for q in kept:
        related = q.count if p.count else not q.count and bool(mine & {rel for rel, _ in q.places})
        bases = [q.column[k] for k in at]
        if q.default is None and related and all(_is_int(b) for b in bases):
            ratio = _ratio(values, bases, exact=p.count)
            if ratio is not None and ratio != ("*", 1):
                return Ratio(q, *ratio)
    return None


#: sizes of a block's input that a count may follow from, in the order tried (0: the input has none): channels, the
#: side of a square map (in a reshape's target), the last axis (a channels-last block's features)
_INPUT_SIZES: tuple[tuple[str, Callable[[tuple[int, ...]], int]], ...] = (
    ("in.channels", lambda s: s[0] if s else 0),
    ("in.size", lambda s: s[1] if len(s) >= 3 and len(set(s[1:])) == 1 else 0),
    ("in.shape[-1]", lambda s: s[-1] if len(s) >= 2 else 0),
)


def _ratio(values: list[int], bases: list[int], exact: bool) -> tuple[str, int] | None:
    """("*", k) when every value is k times its base, ("//", k) when every value is its base floor-divided by k
    (with ``exact``, divided without remainder)."""
    if not values or any(b <= 0 for b in bases) or any(v <= 0 for v in values):
        return None
    if values[0] % bases[0] == 0 and all(v == b * (values[0] // bases[0]) for v, b in zip(values, bases)):
        return ("*", values[0] // bases[0])
    for k in range(2, bases[0] // values[0] + 1):
        if all(b // k == v and (b % k == 0 or not exact) for v, b in zip(values, bases)):
            return ("//", k)
    return None


def _name(kept: list[Param], group: Group) -> None:
    """Each kept parameter's name; of several widths one that more layers take than any other is ``width``, and a
    name that two would share is, for each, its layer's."""
    words = [_role(p, group) for p in kept]
    uses = sorted((len(p.places) for p, word in zip(kept, words) if word == "width"), reverse=True)
    main = next((p for p, w in zip(kept, words) if w == "width" and len(p.places) == uses[0]), None) if uses else None
    if len(uses) > 1 and uses[0] == uses[1]:
        main = None  # as many layers take another: neither is the block's width
    taken = {group.flag}
    for p, word in zip(kept, words):
        if words.count(word) > 1 and p is not main:
            rel, f = p.places[0]
            word = f"{_layer_word(rel)}_{f}"
        name, n = word, 1
        while name in taken:
            n += 1
            name = f"{word}{n}"
        taken.add(name)
        p.name = name


def _role(p: Param, group: Group) -> str:
    """``out_channels`` (or ``out_features``) for the count of the block's output, ``width`` for a count inside it,
    else the field."""
    counts = [(rel, f) for rel, f in p.places if f in WIDTHS]
    if not counts:
        return p.places[0][1]
    for rel, f in counts:
        if all(_shape(inst, rel) in (None, inst.layers[-1].shape) for inst in group.insts):
            return f
    return "width"


def _shape(inst: Instance, rel: str) -> tuple[int, ...] | None:
    layer = layer_of(inst, rel)
    return layer.shape if layer is not None else None


def _layer_word(rel: str) -> str:
    """A layer's name as part of a parameter's: its last part (``conv2``), or all of it where that is a number."""
    last = rel.split(".")[-1]
    return re.sub(r"\W", "_", rel if last.isdigit() else last)


def arguments(group: Group, ps: list[Param]) -> list[dict[str, Any]]:
    """Each instance's value of each named parameter: its own, or (a parameter only of layers it lacks, so unused)
    another instance's; and the optional layers' flag."""
    out = []
    for k, inst in enumerate(group.insts):
        args = {p.name: next(v for v in [p.column[k], *p.column] if v is not _ABSENT) for p in ps if p.rule is None}
        if group.flag:
            args[group.flag] = layer_of(inst, group.optional[0]) is not None
        out.append(args)
    return out


def defaults(group: Group, ps: list[Param]) -> dict[str, Any]:
    """Each named parameter's default (None: required), and false for the optional layers' flag."""
    return {p.name: p.default for p in ps if p.rule is None} | ({group.flag: False} if group.flag else {})
