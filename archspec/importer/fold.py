"""Repeated submodules as blocks: ResNet's bottlenecks written once under ``blocks:`` and called by name.

An instance is a numbered submodule (``layer1.0``, ``encoder_layer_3``), not a container, whose layers
follow one another, read one input from outside (the block's ``input``) and are read from outside only
through the last one. Instances of one class with the same layers and wiring are one block; the fields
whose values differ between them (a field left out counts as its default) are its parameters, named
after the field. Instances numbered 0 … N−1 under one parent with the same arguments (the first may
differ: ``first:``) are one call with ``repeat: N``. Expanded, the blocks give the same layer names, so
weights still load by name; the caller keeps the folded spec only if it expands to exactly the flat one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archspec.importer.graph import Layer
from archspec.layers import KIND_BY_TYPE

_NUMBERED = re.compile(r".+\d")  # layer1.0, encoder_layer_3, block1-0


@dataclass
class Instance:
    path: str  # layer1.0
    cls: str  # the module's class, which names the block
    layers: list[Layer]
    source: str  # the one outside layer it reads ("input" inside the block)
    start: int  # its first layer's position in the flat list

    def signature(self) -> tuple[Any, ...]:
        return (
            self.cls,
            *((self.rel(x.name), x.tag, tuple(self.rel(i) for i in x.inputs)) for x in self.layers),
        )

    def rel(self, name: str) -> str:
        return name[len(self.path) + 1 :] if name.startswith(self.path + ".") else "input"


def instances(layers: list[Layer], classes: dict[str, str]) -> list[Instance]:
    """The outermost numbered submodules that can be blocks, in order."""
    found: list[Instance] = []
    i = 0
    while i < len(layers):
        for path in _prefixes(layers[i].name):
            run = _run(layers, i, path)
            inst = _instance(layers, i, run, path, classes.get(path, "")) if run > 1 else None
            if inst is not None:
                found.append(inst)
                i += run
                break
        else:
            i += 1
    return found


def _prefixes(name: str) -> list[str]:
    """Numbered prefixes of a name, outermost first: ``layer1.0.conv1`` -> [``layer1``, ``layer1.0``] (containers
    such as ``layer1``, a Sequential, have no class in ``classes`` and are passed over)."""
    parts = name.split(".")
    return [p for k in range(1, len(parts)) if _NUMBERED.fullmatch(p := ".".join(parts[:k]))]


def _run(layers: list[Layer], i: int, path: str) -> int:
    n = 0
    while i + n < len(layers) and layers[i + n].name.startswith(path + "."):
        n += 1
    return n


def _instance(layers: list[Layer], i: int, run: int, path: str, cls: str) -> Instance | None:
    inside = {x.name for x in layers[i : i + run]}
    outside = {ref for x in layers[i : i + run] for ref in x.inputs if ref not in inside}
    if len(outside) != 1 or not cls:
        return None  # several outside inputs: left flat
    last = layers[i + run - 1].name
    if any(ref in inside and ref != last for x in layers[i + run :] for ref in x.inputs):
        return None  # something outside reads a layer inside other than the output
    return Instance(path, cls, layers[i : i + run], next(iter(outside)), i)


@dataclass
class Block:
    name: str
    params: list[str]
    lines: list[str]  # its layers, as spec lines


def items(layer: Layer, previous: str) -> dict[str, Any]:
    """A layer's keys and values in the order a person writes them; ``inputs`` only where it is not the previous."""
    out: dict[str, Any] = {"type": layer.tag, "name": layer.name}
    if layer.inputs and layer.inputs != [previous]:  # a learned tensor has none
        out["inputs"] = layer.inputs[0] if len(layer.inputs) == 1 else layer.inputs
    return out | layer.fields


@dataclass
class Group:
    """Instances written as one block: the layers of the fullest, some of them (``optional``) missing in others."""

    insts: list[Instance]
    optional: list[str]  # relative names of the layers only some instances have
    flag: str = ""  # the parameter that says whether an instance has them

    @property
    def base(self) -> Instance:
        return max(self.insts, key=lambda inst: len(inst.layers))


def fold(layers: list[Layer], classes: dict[str, str], line: Any) -> list[str] | None:
    """The spec lines (``blocks:`` and ``layers:``) with repeated submodules as blocks; None when there are none.

    ``line(items)`` writes one layer's (or block call's) flow mapping."""
    found = instances(layers, classes)
    exact: dict[tuple[Any, ...], list[Instance]] = {}
    for inst in found:
        exact.setdefault(inst.signature(), []).append(inst)
    groups = [g for g in _merged([Group(insts, []) for insts in exact.values()]) if len(g.insts) > 1]
    if not groups:
        return None
    block_of: dict[str, Block] = {}
    args: dict[str, dict[str, Any]] = {}  # instance path -> its arguments
    out = ["blocks:"]
    for group in groups:
        block = _block(group, line, {b.name for b in block_of.values()})
        for inst in group.insts:
            block_of[inst.path] = block
            args[inst.path] = _arguments(inst, group)
        out.append(f"  {block.name}:")
        if block.params:
            out.append("    params: {" + ", ".join(f"{p}: null" for p in block.params) + "}")
        out += ["    layers:", *(f"    {text}" for text in block.lines)]
    out.append("layers:")
    out += _calls(layers, found, block_of, args, line)
    return out


def _merged(groups: list[Group]) -> list[Group]:
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
            group.flag = re.sub(r"\W", "_", group.optional[0].split(".")[0])
    return out


def _rels(inst: Instance) -> list[str]:
    return [inst.rel(x.name) for x in inst.layers]


def _extra(base: Instance, other: Instance) -> list[str]:
    return [r for r in _rels(base) if r not in set(_rels(other))]


def _fits(host: Group, other: Instance) -> bool:
    """Whether ``other`` is the host's fullest instance without its optional layers: the same layers in order,
    each reading what the host's reads once an absent layer stands for its first input (as `when: false` does)."""
    base = host.base
    extra = _extra(base, other)
    if not extra or (host.optional and extra != host.optional) or [r for r in _rels(base) if r not in extra] != _rels(other):
        return False
    if _rels(base)[-1] in extra:
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


def _layer(inst: Instance, rel: str) -> Layer | None:
    return next((x for x in inst.layers if inst.rel(x.name) == rel), None)


def _value(inst: Instance, rel: str, field: str) -> Any:
    """A field of the instance's layer ``rel``: as written, or the kind's default where it was left out."""
    layer = _layer(inst, rel)
    assert layer is not None
    return layer.fields[field] if field in layer.fields else KIND_BY_TYPE[layer.tag].model_fields[field].default


def _having(group: Group, rel: str) -> list[Instance]:
    return [inst for inst in group.insts if _layer(inst, rel) is not None]


def _fields(group: Group, rel: str) -> list[str]:
    """The fields any instance sets on its layer ``rel``, in the kind's order (kernel_size before stride)."""
    having = _having(group, rel)
    order = list(KIND_BY_TYPE[_layer(having[0], rel).tag].model_fields)  # type: ignore[union-attr]
    return sorted({f for inst in having for f in _layer(inst, rel).fields}, key=order.index)  # type: ignore[union-attr]


def _varying(group: Group) -> list[tuple[str, str]]:
    """(layer, field) of the values that differ between the instances (a stride of 2 here, 1 there)."""
    out = []
    for rel in _rels(group.base):
        having = _having(group, rel)
        out += [(rel, f) for f in _fields(group, rel) if any(_value(i, rel, f) != _value(having[0], rel, f) for i in having)]
    return out


def _param_names(group: Group) -> list[str]:
    """One name per varying value: columns that agree wherever both layers exist (conv3's out_channels and the
    optional projection's) share one."""
    names: list[str] = []
    columns: list[tuple[list[Any], str]] = []
    for rel, f in _varying(group):
        column = [_value(i, rel, f) if _layer(i, rel) else _ABSENT for i in group.insts]
        name = next((n for c, n in columns if _agree(c, column)), None)
        if name is None:
            name, k = f, 1
            while any(n == name for _, n in columns) or name == group.flag:
                k += 1
                name = f"{f}{k}"
        columns.append((column, name))
        names.append(name)
    return names


_ABSENT = object()


def _agree(a: list[Any], b: list[Any]) -> bool:
    return all(x is _ABSENT or y is _ABSENT or x == y for x, y in zip(a, b))


def _arguments(inst: Instance, group: Group) -> dict[str, Any]:
    """The instance's value of each parameter: from its own layers, or (a parameter only of layers it lacks, so
    unused) another instance's."""
    places = list(zip(_varying(group), _param_names(group)))
    out: dict[str, Any] = {}
    for (rel, f), name in places:
        if _layer(inst, rel) is not None:
            out.setdefault(name, _value(inst, rel, f))
    for (rel, f), name in places:
        out.setdefault(name, _value(_having(group, rel)[0], rel, f))
    ordered = {name: out[name] for name in dict.fromkeys(n for _, n in places)}
    if group.flag:
        ordered[group.flag] = _layer(inst, group.optional[0]) is not None
    return ordered


def _block(group: Group, line: Any, taken: set[str]) -> Block:
    base = group.base
    name, n = base.cls.lower(), 1
    while name in taken:
        n += 1
        name = f"{base.cls.lower()}_{n}"
    by_place = dict(zip(_varying(group), _param_names(group)))
    lines = []
    previous = "input"
    for x in base.layers:
        rel = base.rel(x.name)
        values = {f: f"${by_place[(rel, f)]}" if (rel, f) in by_place else _value(base, rel, f) for f in _fields(group, rel)}
        if rel in group.optional:
            values["when"] = f"${group.flag}"
        layer = Layer(x.tag, rel, [base.rel(i) for i in x.inputs], values, None)
        lines.append(line(items(layer, previous)))
        previous = rel
    params = list(dict.fromkeys(by_place.values())) + ([group.flag] if group.flag else [])
    return Block(name, params, lines)


def _calls(layers: list[Layer], found: list[Instance], block_of: dict[str, Block], args: dict[str, Any], line: Any) -> list[str]:
    """The top-level lines: plain layers as they are, block instances as calls (runs numbered from 0 repeated)."""
    by_start = {inst.start: inst for inst in found if inst.path in args}
    out: list[str] = []
    previous = "input"
    i = 0
    while i < len(layers):
        inst = by_start.get(i)
        if inst is None:
            out.append(line(items(layers[i], previous)))
            previous = layers[i].name
            i += 1
            continue
        run = _repeat_run(inst, by_start, args, block_of)
        parent, _, _ = inst.path.rpartition(".")
        later = args[run[-1].path]
        call: dict[str, Any] = {"type": block_of[inst.path].name, "name": parent if len(run) > 1 else inst.path}
        if inst.source != previous:
            call["inputs"] = inst.source
        if len(run) > 1:
            call["repeat"] = len(run)
        call |= later
        if first := {k: v for k, v in args[inst.path].items() if v != later[k]}:
            call["first"] = first
        out.append(line(call))
        previous = run[-1].layers[-1].name
        i = run[-1].start + len(run[-1].layers)
    return out


def _repeat_run(
    inst: Instance, by_start: dict[int, Instance], args: dict[str, Any], block_of: dict[str, Block]
) -> list[Instance]:
    """Instances parent.0, parent.1, … of one block that chain and take the same arguments (but the first): one
    repeated call."""
    parent, _, index = inst.path.rpartition(".")
    run = [inst]
    if index != "0":
        return run
    while True:
        last = run[-1]
        nxt = by_start.get(last.start + len(last.layers))
        if nxt is None or nxt.path != f"{parent}.{len(run)}" or block_of[nxt.path] is not block_of[inst.path]:
            break
        if nxt.source != last.layers[-1].name or (len(run) > 1 and args[nxt.path] != args[run[1].path]):
            break
        run.append(nxt)
    return run
