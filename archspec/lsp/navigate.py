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
    name = ref.split(":")[0] if ":" in ref and ref.rsplit(":", 1)[1].isdigit() else ref  # NAME:INDEX, a part
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
