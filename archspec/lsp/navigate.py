"""Moving around a spec: where a referenced layer or block is defined, and the outline of the file."""

from __future__ import annotations

from dataclasses import dataclass

from archspec.lsp.document import Document, Item
from archspec.spec.load import Mark, YDict, YList, mark_of


def definition(doc: Document, line: int, column: int, word: str) -> Mark | None:
    """Where the name under the cursor is defined: a layer named in `inputs:` or the top-level `output:`, or a
    block used as a layer's `type`."""
    tree = doc.tree
    if not isinstance(tree, YDict):
        return None
    item = doc.item_at(line)
    if item is None:
        out = mark_of(tree, "output")
        return _layer(doc, word, None) if out is not None and out.line == line else None
    if word == item.type and word in doc.blocks:
        return mark_of(doc.tree["blocks"], word, key_side=True)
    if word.startswith("$") and item.block is not None:  # a block parameter, declared under its `params:`
        return mark_of(doc.blocks[item.block].get("params"), word[1:], key_side=True)
    if line in _lines(item.data.get("inputs"), mark_of(item.data, "inputs")):
        return _layer(doc, word, item.block)
    return None


def _lines(value: object, mark: Mark | None) -> set[int]:
    lines = {mark.line} if mark is not None else set()
    if isinstance(value, YList):
        lines |= {m.line for m in value.item_marks}
    return lines


def _layer(doc: Document, ref: str, block: str | None) -> Mark | None:
    """The layer a reference names, looked up first among its own block's layers, then the top level's."""
    name = _part_of(ref)
    if name == "input":
        if block is not None:
            return mark_of(doc.tree["blocks"], block, key_side=True)
        return mark_of(doc.tree, "input", key_side=True)
    for scope in dict.fromkeys((block, None)):
        for item in doc.items:
            if item.block == scope and item.name == name:
                return item.name_mark
    if doc.spec is not None and name in doc.spec.source:  # a qualified name into a block (layer1.0.conv1)
        return doc.spec.source[name].mark
    return None


def references(doc: Document, line: int, word: str) -> list[Mark]:
    """Every place that names the layer or block under the cursor, its definition first: a layer's name and the
    `inputs:` (and top-level `output:`) that read it in its scope; a block's definition and the layers of its type."""
    tree = doc.tree
    if not isinstance(tree, YDict):
        return []
    item = doc.item_at(line)
    if word in doc.blocks and (item is None or item.type == word or _is_block_key(doc, word, line)):
        uses = [mark for i in doc.items if i.type == word and (mark := mark_of(i.data, "type")) is not None]
        return [m for m in [mark_of(tree["blocks"], word, key_side=True), *uses] if m is not None]
    scope = item.block if item is not None else None
    name = _part_of(word)
    if item is not None and not (item.name == name or line in _lines(item.data.get("inputs"), mark_of(item.data, "inputs"))):
        return []
    declared = [i for i in doc.items if i.block == scope and i.name == name]
    if not declared:
        return []
    out = [declared[0].name_mark]
    for reader in (i for i in doc.items if i.block == scope):
        out += _reads(reader.data, name)
    if scope is None and isinstance(tree.get("output"), str) and _part_of(tree["output"]) == name:
        out += [m for m in [mark_of(tree, "output")] if m is not None]
    return out


def _is_block_key(doc: Document, word: str, line: int) -> bool:
    mark = mark_of(doc.tree["blocks"], word, key_side=True)
    return mark is not None and mark.line == line


def _part_of(ref: str) -> str:
    """``split:1`` -> ``split``: a reference to one output of a several-output layer names that layer."""
    head, _, tail = ref.rpartition(":")
    return head if head and tail.isdigit() else ref


def _reads(data: YDict, name: str) -> list[Mark]:
    inputs = data.get("inputs")
    if isinstance(inputs, str):
        mark = mark_of(data, "inputs")
        return [mark] if mark is not None and _part_of(inputs) == name else []
    if isinstance(inputs, YList):
        return [m for ref, m in zip(inputs, inputs.item_marks) if isinstance(ref, str) and _part_of(ref) == name]
    return []


@dataclass
class Symbol:
    """One entry of the outline: a layer, a block call or a block definition with its layers."""

    name: str
    detail: str
    kind: str  # "layer", "call" or "block"
    first: int
    last: int
    mark: Mark  # where the name stands
    children: list[Symbol]


def outline(doc: Document, hint: dict[int, str]) -> list[Symbol]:
    """The top level's layers, then each block with its layers; ``hint`` adds a shape to a layer's detail."""

    def symbol(item: Item) -> Symbol:
        kind = "call" if item.type in doc.blocks else "layer"
        detail = " ".join(filter(None, [item.type or "?", hint.get(item.first)]))
        return Symbol(item.name or item.type or "?", detail, kind, item.first, item.last, item.name_mark, [])

    out = [symbol(item) for item in doc.items if item.block is None]
    blocks = doc.tree["blocks"] if doc.blocks else None
    for name, body in doc.blocks.items():
        mark = mark_of(blocks, name, key_side=True) or body.mark
        children = [symbol(item) for item in doc.items if item.block == name]
        last = max([mark.line, *(c.last for c in children)])
        out.append(Symbol(name, "block", "block", mark.line, last, mark, children))
    return out
