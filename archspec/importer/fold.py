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


def fold(layers: list[Layer], classes: dict[str, str], line: Any) -> list[str] | None:
    """The spec lines (``blocks:`` and ``layers:``) with repeated submodules as blocks; None when there are none.

    ``line(items)`` writes one layer's (or block call's) flow mapping."""
    found = instances(layers, classes)
    groups: dict[tuple[Any, ...], list[Instance]] = {}
    for inst in found:
        groups.setdefault(inst.signature(), []).append(inst)
    groups = {sig: insts for sig, insts in groups.items() if len(insts) > 1}
    if not groups:
        return None
    blocks: dict[tuple[Any, ...], Block] = {}
    args: dict[str, dict[str, Any]] = {}  # instance path -> its arguments
    for sig, insts in groups.items():
        block = _block(insts, line, {b.name for b in blocks.values()})
        blocks[sig] = block
        for inst in insts:
            args[inst.path] = {p: v for p, v in zip(block.params, _param_values(inst, insts))}
    out = ["blocks:"]
    for block in blocks.values():
        out.append(f"  {block.name}:")
        if block.params:
            out.append("    params: {" + ", ".join(f"{p}: null" for p in block.params) + "}")
        out += ["    layers:", *(f"    {text}" for text in block.lines)]
    out.append("layers:")
    out += _calls(layers, found, blocks, args, line)
    return out


def _value(inst: Instance, k: int, field: str) -> Any:
    """Field ``field`` of the instance's k-th layer: as written, or the kind's default where it was left out."""
    layer = inst.layers[k]
    return layer.fields[field] if field in layer.fields else KIND_BY_TYPE[layer.tag].model_fields[field].default


def _fields(insts: list[Instance], k: int) -> list[str]:
    """The fields any instance sets on its k-th layer, in the kind's order (kernel_size before stride)."""
    order = list(KIND_BY_TYPE[insts[0].layers[k].tag].model_fields)
    return sorted({f for inst in insts for f in inst.layers[k].fields}, key=order.index)


def _varying(insts: list[Instance]) -> list[tuple[int, str]]:
    """(layer position, field) of the values that differ between the instances (a stride of 2 here, 1 there)."""
    first = insts[0]
    return [
        (k, f)
        for k in range(len(first.layers))
        for f in _fields(insts, k)
        if any(_value(inst, k, f) != _value(first, k, f) for inst in insts)
    ]


def _param_values(inst: Instance, insts: list[Instance]) -> list[Any]:
    seen: dict[str, Any] = {}
    for (k, f), name in zip(_varying(insts), _param_names(insts)):
        seen.setdefault(name, _value(inst, k, f))
    return list(seen.values())


def _param_names(insts: list[Instance]) -> list[str]:
    """One name per varying value: alike columns (conv1's and conv2's out_channels) share one."""
    names: list[str] = []
    columns: dict[tuple[Any, ...], str] = {}
    for k, f in _varying(insts):
        column = tuple(repr(_value(inst, k, f)) for inst in insts)
        if column not in columns:
            name, n = f, 1
            while name in columns.values():
                n += 1
                name = f"{f}{n}"
            columns[column] = name
        names.append(columns[column])
    return names


def _block(insts: list[Instance], line: Any, taken: set[str]) -> Block:
    first = insts[0]
    name, n = first.cls.lower(), 1
    while name in taken:
        n += 1
        name = f"{first.cls.lower()}_{n}"
    by_place = dict(zip(_varying(insts), _param_names(insts)))
    lines = []
    previous = "input"
    for k, x in enumerate(first.layers):
        values = {f: f"${by_place[(k, f)]}" if (k, f) in by_place else _value(first, k, f) for f in _fields(insts, k)}
        rel = Layer(x.tag, first.rel(x.name), [first.rel(i) for i in x.inputs], values, None)
        lines.append(line(items(rel, previous)))
        previous = rel.name
    return Block(name, list(dict.fromkeys(by_place.values())), lines)


def _calls(layers: list[Layer], found: list[Instance], blocks: dict[Any, Block], args: dict[str, Any], line: Any) -> list[str]:
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
        run = _repeat_run(inst, by_start, args)
        block = blocks[inst.signature()]
        parent, _, _ = inst.path.rpartition(".")
        later = args[run[-1].path]
        call: dict[str, Any] = {"type": block.name, "name": parent if len(run) > 1 else inst.path}
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


def _repeat_run(inst: Instance, by_start: dict[int, Instance], args: dict[str, Any]) -> list[Instance]:
    """Instances parent.0, parent.1, … that chain and take the same arguments (but the first): one repeated call."""
    parent, _, index = inst.path.rpartition(".")
    run = [inst]
    if index != "0":
        return run
    while True:
        last = run[-1]
        nxt = by_start.get(last.start + len(last.layers))
        if nxt is None or nxt.path != f"{parent}.{len(run)}" or nxt.signature() != inst.signature():
            break
        if nxt.source != last.layers[-1].name or (len(run) > 1 and args[nxt.path] != args[run[1].path]):
            break
        run.append(nxt)
    return run
