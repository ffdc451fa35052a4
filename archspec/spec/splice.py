"""An edit that adds or removes top-level layers (lines added or removed), read by splicing the new layers
into the spec read before it.

The lines after the edit move by the same number of lines, so everything written after it (its marks, the
findings positioned there) is moved, not read again. The edit must be plain layers replaced by plain layers
(named, of one output, without expressions), whose references point back (to the input or to layers written
before them), while nothing outside the edit reads a layer that is gone; the layer after the edit may read a
new one without naming its input. Anything else returns None and the text is read whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from archspec.codes import Code
from archspec.errors import Diagnostic
from archspec.layers import KIND_BY_TYPE, LayerBase
from archspec.spec import dedupe
from archspec.spec.load import Mark, YDict, YList
from archspec.spec.model import Spec
from archspec.spec.patch import block_entry, local_lines, parse_at, patchable, plain_layer, validated_item

_NAMING = {Code.UNKNOWN_REFERENCE, Code.DUPLICATE_LAYER_NAME}


@dataclass(frozen=True)
class Spliced:
    spec: Spec
    diagnostics: list[Diagnostic]  # what parse_spec says of the new text
    removed: list[str]  # the layers written in the edited lines before
    added: list[str]  # and after, in file order
    rewired: tuple[str, str] | None  # (the layer after the edit, the layer it now reads without naming it)
    after: int  # the first line of the old text after the edit: it and the lines below moved by `moved` lines
    moved: int


def splice_spec(spec: Spec, diagnostics: list[Diagnostic], text: str) -> Spliced | None:
    """The spec of ``text`` from ``spec`` (with its ``parse_spec`` diagnostics), or None when the edit is not
    top-level layers replaced by others that read back."""
    document = spec.document
    if not patchable(text) or spec.unparsed:
        return None
    if any(layer.inputs is None for layer in spec.layers) or any(d.code in _NAMING for d in diagnostics):
        return None  # a name not found may be one the edit writes, a name taken twice one it removes
    if any("@" in name for name in spec.source):
        return None  # a layer without a usable name is called after its line (`linear@20`), which moves
    old, new = spec.text.split("\n"), text.split("\n")
    layers = document.get("layers") if isinstance(document, YDict) else None
    if not isinstance(layers, YList) or len(layers) < 2:
        return None
    region = _region(layers, old, new)
    if region is None:
        return None
    i, j = region
    first, end, moved = layers.item_marks[i].line, layers.item_marks[j].line, len(new) - len(old)
    if not local_lines(old[first - 1 : end - 1] + new[first - 1 : end - 1 + moved]):
        return None
    items = _parse_items(new[first - 1 : end - 1 + moved], first, spec.path)
    gone = layers[i:j]
    after = layers[j]
    if items is None or not all(isinstance(x, YDict) and plain_layer(x) for x in [*gone, *items, after]):
        return None
    if any(first <= d.line < end for d in diagnostics) or not _only_layers_after(document, layers):
        return None
    removed = [x["name"] for x in gone]
    added = [x["name"] for x in items]
    if not _wiring_holds(spec, removed, added, items, after, layers[:i]):
        return None
    validated = [validated_item(spec, item, text) for item in items]
    if any(v is None for v in validated):
        return None
    return _spliced(spec, diagnostics, text, (i, j), items, validated, removed, added, (first, end, moved))


def _region(layers: YList, old: list[str], new: list[str]) -> tuple[int, int] | None:
    """The top-level layers [i, j) whose lines hold every edited line (the layer j after them unedited)."""
    common = min(len(old), len(new))
    head = next((n for n in range(common) if old[n] != new[n]), common)
    tail = next((n for n in range(common - head) if old[-1 - n] != new[-1 - n]), common - head)
    last_old = len(old) - tail  # the edited old lines are head+1 .. last_old (none for a pure insertion)
    starts = [mark.line for mark in layers.item_marks]
    i = max((n for n, s in enumerate(starts) if s <= head + 1), default=None)
    if i is None:
        return None
    j = next((n for n, s in enumerate(starts) if s > max(last_old, starts[i])), None)
    if j is None or not all(block_entry(old, layers.item_marks[n]) for n in (i, j)):
        return None
    return i, j


def _parse_items(chunk: list[str], first: int, path: str) -> list[YDict] | None:
    if not chunk:
        return []
    data = parse_at(chunk, first, path)
    if not isinstance(data, YList) or data.item_marks[0].line != first:
        return None
    return [x for x in data if isinstance(x, YDict)] if all(isinstance(x, YDict) for x in data) else None


def _only_layers_after(document: YDict, layers: YList) -> bool:
    """Is everything written after the layers' start a plain value (`output: fc`) that moving cannot change?"""
    start = layers.mark.line
    return all(
        document.key_marks[key].line < start or not isinstance(value, (dict, list))
        for key, value in document.items()
        if key != "layers"
    )


def _wiring_holds(spec: Spec, removed: list[str], added: list[str], items: list[YDict], after: YDict, before: list[Any]) -> bool:
    """The new layers read only the input and plain layers written before them, by name or as the layer
    before; nothing but the layer after the edit, by not naming its input, reads a layer that is gone; no
    name is taken twice."""
    if before and not (isinstance(before[-1], YDict) and plain_layer(before[-1])):
        return False  # the layer before is read by name (a block call's name stands for a layer inside it)
    written = {x.get("name"): x for x in before if isinstance(x, YDict)}
    earlier = {"input"}
    taken = (set(spec.source) | {x.get("name") for x in spec.document["layers"] if isinstance(x, YDict)}) - set(removed)
    if len(set(added)) != len(added) or set(added) & taken or any("." in name for name in added):
        return False  # (a dotted name may hold or be held by another layer: read whole, the language says)
    if any(name.startswith(tuple(f"{a}." for a in added)) for name in taken if isinstance(name, str)):
        return False
    for item in items:
        refs = item.get("inputs")
        if refs is not None and not (isinstance(refs, str) or (isinstance(refs, list) and refs)):
            return False  # (what is wrong with it is said by reading the text whole)
        wanted = [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []
        if not all(isinstance(r, str) and (r in earlier or (r in written and plain_layer(written[r]))) for r in wanted):
            return False
        earlier.add(item["name"])
    gone = set(removed) - set(added)  # (a layer written again keeps its name)
    implicit = after.get("inputs") is None and KIND_BY_TYPE[after["type"]].arity[1] != 0
    for layer in spec.layers:
        if layer.name in gone:
            continue
        read = set(layer.inputs or ()) & gone
        if read and not (implicit and layer.name == after["name"] and read == {removed[-1]}):
            return False  # it would read a layer that is gone
    unparsed_read = {ref for refs in spec.unparsed.values() for ref in refs or ()}
    return not unparsed_read & gone and spec.output not in gone and spec.get(after["name"]) is not None


def _spliced(
    spec: Spec,
    diagnostics: list[Diagnostic],
    text: str,
    region: tuple[int, int],
    items: list[YDict],
    validated: list[Any],
    removed: list[str],
    added: list[str],
    lines: tuple[int, int, int],
) -> Spliced:
    i, j = region
    _, end, moved = lines
    document = spec.document
    old_items = document["layers"]
    previous = old_items[i - 1]["name"] if i > 0 else "input"
    new_layers: list[LayerBase] = []
    found: list[Diagnostic] = []
    source = {name: data for name, data in spec.source.items() if name not in removed}
    for item, (layer, data, said) in zip(items, validated, strict=True):
        refs = item.get("inputs")
        takes_none = KIND_BY_TYPE[item["type"]].arity[1] == 0
        layer.name = item["name"]
        layer.inputs = (
            [refs] if isinstance(refs, str) else list(refs) if isinstance(refs, list) else [] if takes_none else [previous]
        )
        previous = item["name"]
        new_layers.append(layer)
        source[item["name"]] = data
        found += said
    after_name = old_items[j]["name"]
    after = spec.get(after_name)
    assert after is not None
    rewired = None
    if old_items[j].get("inputs") is None and KIND_BY_TYPE[old_items[j]["type"]].arity[1] != 0 and after.inputs != [previous]:
        after = after.model_copy()
        after.inputs = [previous]
        rewired = (after_name, previous)
    shift = _Shift(end, moved)
    out_layers: list[LayerBase] = []
    gone = set(removed)
    for layer in spec.layers:  # (at least one layer is removed: the edited lines are some layers' lines)
        if layer.name in gone:
            if layer.name == removed[0]:
                out_layers += new_layers
            continue
        out_layers.append(after if layer.name == after_name else layer)
    unmoved = {id(x) for x in old_items[:i]}  # written before the edit; a block's layer may hold values of its call
    for name, data in source.items():
        if name not in added and id(data) not in unmoved:
            source[name] = shift.copy(data)
    entries = YList(old_items.mark)
    entries.extend([*old_items[:i], *items, *(shift.copy(x) for x in old_items[j:])])
    entries.item_marks.extend(
        [*old_items.item_marks[:i], *(x.mark for x in items), *(shift.mark(m) for m in old_items.item_marks[j:])]
    )
    top = YDict(document.mark)
    for key, value in document.items():
        top.set(
            key, entries if key == "layers" else value, shift.mark(document.key_marks[key]), shift.mark(document.value_marks[key])
        )
    block_of = {name: owner for name, owner in spec.block_of.items() if name not in gone} | dict.fromkeys(added, ())
    repaired = (spec.repaired - gone) | {item["name"] for item, (_, _, said) in zip(items, validated, strict=True) if said}
    new = dataclasses.replace(
        spec, text=text, layers=out_layers, source=source, block_of=block_of, repaired=repaired, document=top
    )
    kept = [shift.diagnostic(d) for d in diagnostics]
    return Spliced(new, dedupe(kept + found), removed, added, rewired, end, moved)


class _Shift:
    """Marks on or after line ``start`` of the old text moved by ``lines``."""

    def __init__(self, start: int, lines: int):
        self.start, self.lines = start, lines
        self.copies: dict[int, Any] = {}  # one copy of a mapping the file and the spec share

    def mark(self, mark: Mark) -> Mark:
        return Mark(mark.line + self.lines, mark.column) if mark.line >= self.start else mark

    def diagnostic(self, d: Diagnostic) -> Diagnostic:
        return dataclasses.replace(d, line=d.line + self.lines) if d.line >= self.start else d

    def copy(self, data: Any) -> Any:
        if not isinstance(data, (YDict, YList)):
            return data
        if id(data) not in self.copies:
            self.copies[id(data)] = self._copy(data)
        return self.copies[id(data)]

    def _copy(self, data: Any) -> Any:
        if isinstance(data, YDict):
            out = YDict(self.mark(data.mark))
            for key, value in data.items():
                out.set(key, self.copy(value), self.mark(data.key_marks[key]), self.mark(data.value_marks[key]))
            out.repeated = data.repeated
            return out
        if isinstance(data, YList):
            items = YList(self.mark(data.mark))
            items.extend(self.copy(x) for x in data)
            items.item_marks.extend(self.mark(m) for m in data.item_marks)
            return items
        return data
