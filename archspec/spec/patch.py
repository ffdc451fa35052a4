"""An edited spec text read by patching the spec read before it, when the edit stays inside one layer.

Typing in an editor changes one layer's value at a time; reading a 10,000-layer file again for each
keystroke costs seconds. When the edit lies within one top-level layer mapping, keeps its name and its
inputs and adds or removes no line, only that mapping is parsed and validated again and put in the old
layer's place; an edit of the input's shape alone changes no layer at all. Anything else (the rest of the
header, a block, anchors, expressions, lines added) returns None, and the caller reads the text whole: the
patch must give exactly what ``parse_spec`` gives, or nothing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from archspec.errors import Diagnostic
from archspec.layers import KIND_BY_TYPE, LayerBase
from archspec.spec import dedupe, usable_blocks, validate_layer
from archspec.spec.defaults import spec_defaults
from archspec.spec.expand import RawLayer, Scope, has_params, valid_name, with_defaults
from archspec.spec.load import Mark, YDict, YList, parse_yaml
from archspec.spec.model import MAX_INPUT_RANK, Spec

#: what makes a mapping's meaning depend on text outside it: anchors, aliases, merge keys, expressions
_NOT_LOCAL = re.compile(r"[&*$]|<<")
#: an expression reading the shape of a layer's input: its value depends on the layers upstream
_READS_INPUT = re.compile(r"\$\{[^}]*\bin\b")
#: line breaks YAML counts besides "\n": with them, lines of the text are not the parser's lines
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")


@dataclass(frozen=True)
class Patched:
    spec: Spec
    diagnostics: list[Diagnostic]  # what parse_spec says of the new text
    changed: frozenset[str]  # the layers whose fields changed (none when the input's shape did)


def patch_spec(spec: Spec, diagnostics: list[Diagnostic], text: str) -> Patched | None:
    """The spec of ``text`` from ``spec`` (with its ``parse_spec`` diagnostics), or None when the edit is not
    one layer's alone, or the input's shape alone."""
    if spec.document is None or not patchable(text):
        return None
    old_lines, new_lines = spec.text.split("\n"), text.split("\n")
    if len(old_lines) != len(new_lines) or old_lines == new_lines:
        return None
    edited = _edited_lines(old_lines, new_lines)
    layers = spec.document.get("layers")
    index = _item_around(layers, edited, old_lines) if isinstance(layers, YList) else None
    if index is not None:
        return _patch_layer(spec, diagnostics, text, index, old_lines, new_lines)
    return _patch_input(spec, diagnostics, text, edited, old_lines, new_lines)


def local_lines(lines: list[str]) -> bool:
    return not any(_NOT_LOCAL.search(line) or line.startswith(("---", "...")) for line in lines)


def _patch_layer(
    spec: Spec, diagnostics: list[Diagnostic], text: str, index: int, old_lines: list[str], new_lines: list[str]
) -> Patched | None:
    layers = spec.document["layers"]
    first, end = layers.item_marks[index].line, layers.item_marks[index + 1].line  # the mapping's lines: [first, end)
    if not local_lines(old_lines[first - 1 : end - 1] + new_lines[first - 1 : end - 1]):
        return None
    item = _parse_item(new_lines[first - 1 : end - 1], first, spec.path)
    old = layers[index]
    if item is None or not isinstance(old, YDict) or not _same_place(spec, old, item):
        return None
    inside = [d for d in diagnostics if first <= d.line < end]
    if inside:  # what was said of the old mapping must all be its validation's, which the new one's replaces
        said = validated_item(spec, old, spec.text)
        if said is None or dedupe(said[2]) != inside:
            return None
        diagnostics = [d for d in diagnostics if not first <= d.line < end]
    validated = validated_item(spec, item, text)
    if validated is None:
        return None
    layer, data, found = validated
    name = item["name"]
    before = spec.get(name)
    assert before is not None  # checked by _same_place
    layer.name, layer.inputs = name, list(before.inputs) if before.inputs is not None else None
    layers = list(spec.layers)
    layers[next(i for i, x in enumerate(layers) if x is before)] = layer
    source = dict(spec.source)
    source[name] = data
    repaired = (spec.repaired - {name}) | ({name} if found else set())
    document = _with_item(spec.document, index, item)
    new = dataclasses.replace(spec, text=text, layers=layers, source=source, repaired=repaired, document=document)
    return Patched(new, dedupe(diagnostics + found), frozenset({name}))


def _patch_input(
    spec: Spec, diagnostics: list[Diagnostic], text: str, edited: tuple[int, int], old_lines: list[str], new_lines: list[str]
) -> Patched | None:
    """An edit of the top-level `input:` alone, to another valid shape: the layers stay as they were."""
    document = spec.document
    mark = document.key_marks.get("input")
    if mark is None or mark.column != 1 or not spec.input_shape:
        return None
    first = mark.line
    end = min((m.line for m in document.key_marks.values() if m.line > first), default=None)  # the next key's line
    if end is None or not first <= edited[0] <= edited[1] < end or any(first <= d.line < end for d in diagnostics):
        return None
    if not local_lines(old_lines[first - 1 : end - 1] + new_lines[first - 1 : end - 1]):
        return None
    data = parse_at(new_lines[first - 1 : end - 1], first, spec.path)
    if not isinstance(data, YDict) or list(data) != ["input"]:
        return None
    shape = data["input"]
    if not (isinstance(shape, list) and 0 < len(shape) <= MAX_INPUT_RANK and all(_positive(d) for d in shape)):
        return None  # (what is wrong with it is said by reading the text whole)
    out = YDict(document.mark)
    for key, value in document.items():
        at = data.value_marks["input"] if key == "input" else document.value_marks[key]
        out.set(key, shape if key == "input" else value, document.key_marks[key], at)
    new = dataclasses.replace(spec, text=text, input_shape=tuple(shape), document=out)
    return Patched(new, diagnostics, frozenset())


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def patchable(text: str) -> bool:
    """Can a patch read this text at all: are its lines the parser's, and does no expression read shapes?"""
    return not (_OTHER_BREAKS.search(text) or _READS_INPUT.search(text))


def parse_at(lines: list[str], first: int, path: str) -> Any:
    """The YAML of some lines of a text, with the positions they have there (they start on line ``first``);
    None when those lines alone say anything but data."""
    data, found = parse_yaml("\n" * (first - 1) + "\n".join(lines) + "\n", path)
    return None if found else data


def _edited_lines(old: list[str], new: list[str]) -> tuple[int, int]:
    """The 1-based first and last lines that differ (texts of equal line counts)."""
    start = next(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
    end = next(i for i in range(len(old) - 1, -1, -1) if old[i] != new[i])
    return start + 1, end + 1


def _item_around(layers: YList, edited: tuple[int, int], lines: list[str]) -> int | None:
    """The top-level layer whose lines (from its `- ` to the next layer's) hold every edited line, if any: the
    last layer's lines end nowhere certain, so it has none."""
    marks = layers.item_marks
    for index in range(len(marks) - 1):
        first, end = marks[index].line, marks[index + 1].line
        if first <= edited[0] and edited[1] < end:
            return index if block_entry(lines, marks[index]) and block_entry(lines, marks[index + 1]) else None
        if first > edited[0]:
            break
    return None


def block_entry(lines: list[str], mark: Mark) -> bool:
    """Does a layer mapping start right after the `- ` of a block-style list (not inside a `[...]` list)?"""
    return lines[mark.line - 1][: mark.column - 1].strip() == "-"


def _parse_item(chunk: list[str], first: int, path: str) -> YDict | None:
    """The one layer mapping of a list entry's lines, with the positions it has in the whole text."""
    data = parse_at(chunk, first, path)
    if not isinstance(data, YList) or len(data) != 1 or data.item_marks[0].line != first:
        return None
    return data[0] if isinstance(data[0], YDict) else None


def plain_layer(item: YDict) -> bool:
    """A named layer of a kind with one output, taking part in the network, written without expressions."""
    kind, name = item.get("type"), item.get("name")
    return (
        isinstance(kind, str)
        and kind in KIND_BY_TYPE
        and KIND_BY_TYPE[kind].part_count(item) is None
        and valid_name(name)
        and "when" not in item
        and not item.repeated
        and not has_params(item)
    )


def _same_place(spec: Spec, old: YDict, new: YDict) -> bool:
    """Does the new mapping stand for the same layer, read from the same inputs, as the old one did?"""
    if not (plain_layer(old) and plain_layer(new)) or old["name"] != new["name"] or old.get("inputs") != new.get("inputs"):
        return False
    name = old["name"]
    source = spec.source.get(name)
    takes_none = [KIND_BY_TYPE[item["type"]].arity[1] == 0 for item in (old, new)]
    return (
        spec.get(name) is not None
        and source is not None
        and source.mark == old.mark  # the layer of that name came from this mapping (not a renamed duplicate)
        and not spec.block_of.get(name)
        and takes_none[0] == takes_none[1]  # without `inputs:`, whether it reads the layer before
    )


def validated_item(spec: Spec, item: YDict, text: str) -> tuple[LayerBase, YDict, list[Diagnostic]] | None:
    """The layer as parse_spec validates it (with the spec's defaults for its kind), the mapping it was
    validated from, and what validation found; None when it does not validate even repaired."""
    document = spec.document
    section = document.get("defaults")
    if has_params(section):
        return None
    defaults = spec_defaults(section, usable_blocks(document.get("blocks"), spec.path, []), spec.path, text, [])
    kind = item["type"]
    data = with_defaults(item, defaults[kind]) if isinstance(defaults.get(kind), YDict) else item
    layer, found = validate_layer(RawLayer(data, item["name"], [], Scope(""), ()), spec.path)
    return (layer, data, found) if layer is not None else None


def _with_item(document: YDict, index: int, item: YDict) -> YDict:
    """A copy of the document with one entry of its `layers:` replaced (the old document is left as it was)."""
    old = document["layers"]
    entries = YList(old.mark)
    entries.extend(old)
    entries.item_marks.extend(old.item_marks)
    entries[index] = item
    out = YDict(document.mark)
    for key, value in document.items():
        out.set(key, entries if key == "layers" else value, document.key_marks[key], document.value_marks[key])
    return out
