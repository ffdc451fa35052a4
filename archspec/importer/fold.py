"""Repeated submodules as blocks: ResNet's bottlenecks written once under ``blocks:`` and called by name.

An instance is a numbered submodule (``layer1.0``, ``encoder_layer_3``), not a container, whose layers
follow one another, read one input from outside (the block's ``input``) and are read from outside only
through the last one. Instances of one class with the same layers and wiring are one block; the fields
whose values differ between them (a field left out counts as its default) are its parameters, or
expressions where they follow from the input or another parameter (``params.py``). Instances numbered
0 … N−1 under one parent with the same arguments (the first may differ: ``first:``) are one call with
``repeat: N``. Expanded, the blocks give the same layer names, so weights still load by name; the caller
keeps the folded spec only if it expands to exactly the flat one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archspec.importer.graph import Layer
from archspec.importer.groups import Group, Instance, fields_of, merged, value
from archspec.importer.params import Param, arguments, defaults, params
from archspec.importer.text import flow

_NUMBERED = re.compile(r".+\d")  # layer1.0, encoder_layer_3, block1-0


def instances(layers: list[Layer], classes: dict[str, str]) -> list[Instance]:
    """The outermost numbered submodules that can be blocks, in order."""
    found: list[Instance] = []
    shapes = {x.name: x.shape for x in layers}
    begun: set[str] = set()  # submodules whose first layer has been seen: an instance starts there or nowhere
    i = 0
    while i < len(layers):
        for path in _prefixes(layers[i].name):
            if path in begun:
                continue
            begun.add(path)
            run = _run(layers, i, path)
            inst = _instance(layers, i, run, path, classes.get(path, "")) if run > 1 else None
            if inst is not None:
                inst.in_shape = shapes.get(inst.source)
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
    params: dict[str, Any]  # name -> default (a kind's own default: stride 1, no projection), or None: required
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
    exact: dict[tuple[Any, ...], list[Instance]] = {}
    for inst in found:
        exact.setdefault(inst.signature(), []).append(inst)
    groups = [g for g in merged([Group(insts, []) for insts in exact.values()]) if len(g.insts) > 1]
    if not groups:
        return None
    block_of: dict[str, Block] = {}
    args: dict[str, dict[str, Any]] = {}  # instance path -> its arguments
    out = ["blocks:"]
    for group in groups:
        ps = params(group)
        block = _block(group, ps, line, {b.name for b in block_of.values()})
        for inst, given in zip(group.insts, arguments(group, ps)):
            block_of[inst.path] = block
            args[inst.path] = given
        out.append(f"  {block.name}:")
        if block.params:
            out.append("    params: " + flow(block.params))
        out += ["    layers:", *(f"    {text}" for text in block.lines)]
    out.append("layers:")
    out += _calls(layers, found, block_of, args, line)
    return out


def _block(group: Group, ps: list[Param], line: Any, taken: set[str]) -> Block:
    base = group.base
    name, n = base.cls.lower(), 1
    while name in taken:
        n += 1
        name = f"{base.cls.lower()}_{n}"
    by_place = {place: p.text() for p in ps for place in p.places}
    lines = []
    previous = "input"
    for x in base.layers:
        rel = base.rel(x.name)
        values = {f: by_place[(rel, f)] if (rel, f) in by_place else value(base, rel, f) for f in fields_of(group, rel)}
        if rel in group.optional:
            values["when"] = f"${group.flag}"
        layer = Layer(x.tag, rel, [base.rel(i) for i in x.inputs], values, None)
        lines.append(line(items(layer, previous)))
        previous = rel
    return Block(name, defaults(group, ps), lines)


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
        call |= {k: v for k, v in later.items() if block_of[inst.path].params[k] is None or v != block_of[inst.path].params[k]}
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
