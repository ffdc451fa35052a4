"""Which instances of a submodule are one block: the grouping, and the values that differ between them.

Instances with the same layers and wiring are one group; an instance that is another's layers without some
(ResNet's blocks without a projection) joins its group, those layers optional. The values that differ between
the instances of a group become its parameters (``params.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archspec.importer.graph import Layer
from archspec.layers import KIND_BY_TYPE


@dataclass
class Instance:
    path: str  # layer1.0
    cls: str  # the module's class, which names the block
    layers: list[Layer]
    source: str  # the one outside layer it reads ("input" inside the block)
    start: int  # its first layer's position in the flat list
    in_shape: tuple[int, ...] | None = None  # its input's shape, where known (``in`` in the block's expressions)

    def signature(self) -> tuple[Any, ...]:
        return (
            self.cls,
            *((self.rel(x.name), x.tag, tuple(self.rel(i) for i in x.inputs)) for x in self.layers),
        )

    def rel(self, name: str) -> str:
        return name[len(self.path) + 1 :] if name.startswith(self.path + ".") else "input"


@dataclass
class Group:
    """Instances written as one block: the layers of the fullest, some of them (``optional``) missing in others."""

    insts: list[Instance]
    optional: list[str]  # relative names of the layers only some instances have
    flag: str = ""  # the parameter that says whether an instance has them

    @property
    def base(self) -> Instance:
        return max(self.insts, key=lambda inst: len(inst.layers))


def merged(groups: list[Group]) -> list[Group]:
    """Groups of one class whose layers are the fullest one's without some (ResNet's blocks without a projection)
    joined to it, those layers optional (``when:``); at most one set of optional layers per block."""
    out: list[Group] = []
    for group in sorted(groups, key=lambda g: -len(g.base.layers)):
        host = next((h for h in out if h.base.cls == group.base.cls and _fits(h, group.base)), None)
        if host is None:
            out.append(group)
        else:
            host.optional = host.optional or _extra(host.base, group.base)
            host.insts = sorted(host.insts + group.insts, key=lambda inst: inst.start)
    for group in out:
        if group.optional:
            group.flag = _flag(group)
    return out


def _flag(group: Group) -> str:
    """The optional layers' switch: the shortest start of their first one's name that no other layer's shares
    (``downsample`` for ``downsample.0``; ``block_1`` where ``block.0`` stays)."""
    parts = group.optional[0].split(".")
    others = [r for r in rels(group.base) if r not in group.optional]
    head = next(
        (".".join(parts[:k]) for k in range(1, len(parts) + 1) if not any(_under(r, ".".join(parts[:k])) for r in others)),
        group.optional[0],
    )
    return re.sub(r"\W", "_", head)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def rels(inst: Instance) -> list[str]:
    return [inst.rel(x.name) for x in inst.layers]


def _extra(base: Instance, other: Instance) -> list[str]:
    return [r for r in rels(base) if r not in set(rels(other))]


def _fits(host: Group, other: Instance) -> bool:
    """Whether ``other`` is the host's fullest instance without its optional layers: the same layers in order,
    each reading what the host's reads once an absent layer stands for its first input (as `when: false` does)."""
    base = host.base
    extra = _extra(base, other)
    if not extra or (host.optional and extra != host.optional) or [r for r in rels(base) if r not in extra] != rels(other):
        return False
    if rels(base)[-1] in extra:
        return False  # the output would be the absent layer's first input (MobileNet's residual add): not the same
    inputs = {base.rel(x.name): [base.rel(i) for i in x.inputs] for x in base.layers}

    def resolved(ref: str) -> str:
        while ref in extra:
            ref = inputs[ref][0]
        return ref

    mine = {other.rel(x.name): x for x in other.layers}
    return all(
        mine[r].tag == x.tag and [other.rel(i) for i in mine[r].inputs] == [resolved(i) for i in inputs[r]]
        for r, x in ((base.rel(x.name), x) for x in base.layers)
        if r not in extra
    )


def layer_of(inst: Instance, rel: str) -> Layer | None:
    return next((x for x in inst.layers if inst.rel(x.name) == rel), None)


def value(inst: Instance, rel: str, field: str) -> Any:
    """A field of the instance's layer ``rel``: as written, or the kind's default where it was left out."""
    layer = layer_of(inst, rel)
    assert layer is not None
    return layer.fields[field] if field in layer.fields else KIND_BY_TYPE[layer.tag].model_fields[field].default


def having(group: Group, rel: str) -> list[Instance]:
    return [inst for inst in group.insts if layer_of(inst, rel) is not None]


def fields_of(group: Group, rel: str) -> list[str]:
    """The fields any instance sets on its layer ``rel``, in the kind's order (kernel_size before stride)."""
    insts = having(group, rel)
    order = list(KIND_BY_TYPE[layer_of(insts[0], rel).tag].model_fields)  # type: ignore[union-attr]
    return sorted({f for inst in insts for f in layer_of(inst, rel).fields}, key=order.index)  # type: ignore[union-attr]


def varying(group: Group) -> list[tuple[str, str]]:
    """(layer, field) of the values that differ between the instances (a stride of 2 here, 1 there)."""
    out = []
    for rel in rels(group.base):
        insts = having(group, rel)
        out += [(rel, f) for f in fields_of(group, rel) if any(value(i, rel, f) != value(insts[0], rel, f) for i in insts)]
    return out
