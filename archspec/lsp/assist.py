"""Help while writing: completion of layer types and of the names a layer can read, and quick fixes (a
diagnostic's "did you mean", a flatten before a linear layer on a map, a ``# noqa: CODE`` for a warning or an
info)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from archspec.codes import Code
from archspec.layers import KIND_BY_TYPE
from archspec.lsp.document import Document
from archspec.spec.load import YList

_TYPE_VALUE = re.compile(r"\btype:\s*[\w-]*$")
_INPUTS_VALUE = re.compile(r"\binputs:\s*(\[[^\]]*?,?\s*)?[\w.:-]*$")
_PARAM = re.compile(r"\$[\w]*$")
_FLOW_KEY = re.compile(r"[{,]\s*[\w.]*$")
_FLOW_TYPE = re.compile(r"\btype:\s*([\w-]+)")
_FLOW_KEYS = re.compile(r"([\w.]+)\s*:")
_BLOCK_KEY = re.compile(r"^(\s*)[\w.]*$")  # indentation, then a key being written (not a new `- ` item)
_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`")
_NOQA = re.compile(r"#\s*noqa:\s*[EWI]\d{3}(?:\s*,\s*[EWI]\d{3})*", re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    label: str
    kind: str  # "type", "block", "layer", "param" or "field"
    detail: str
    doc: str = ""
    order: int = 0  # the nearest first


def complete(doc: Document, line: int, column: int, known: Document | None = None) -> list[Choice]:
    """What may be written at a 1-based cursor: a layer type after ``type:``, a layer name after ``inputs:``
    (or on an item of a block-style ``inputs:`` list), a block parameter after ``$``. Names and blocks come from
    ``known``, the last text of the document that parsed, when the text being typed does not."""
    before = doc.lines[line - 1][: column - 1] if 0 < line <= len(doc.lines) else ""
    names = doc if known is None or isinstance(doc.tree, dict) else known
    block = _block_at(names, line)
    if _PARAM.search(before):
        params = names.blocks[block].get("params") if block is not None else None
        found = [k for k in params if isinstance(k, str)] if isinstance(params, dict) else []
        return [Choice(f"${name}", "param", f"parameter of block `{block}`") for name in found]
    if _TYPE_VALUE.search(before):
        kinds = [Choice(name, "type", kind.__doc__ or "", _fields(name)) for name, kind in sorted(KIND_BY_TYPE.items())]
        return kinds + [Choice(name, "block", "block", str(body.get("description") or "")) for name, body in names.blocks.items()]
    if _INPUTS_VALUE.search(before) or _on_inputs_list(names, line):
        return _readable(names, line, block)
    return _keys(names, doc.lines[line - 1] if 0 < line <= len(doc.lines) else "", before, line)


def _keys(doc: Document, text: str, before: str, line: int) -> list[Choice]:
    """The fields a layer can still take, where a key is being written: after `{` or `,` in a flow mapping
    (its type read off the line), or at the key column of a block-style mapping."""
    if _FLOW_KEY.search(before) and before.count("{") > before.count("}") and before.count("[") == before.count("]"):
        kind = _FLOW_TYPE.search(text)
        return _fields_left(doc, kind.group(1) if kind else None, set(_FLOW_KEYS.findall(text)))
    key = _BLOCK_KEY.match(before)
    if key is not None:  # a key at the column of the mapping's keys, on its lines or just below them
        for item in (doc.item_at(line), doc.item_at(line - 1)):
            if item is not None and item.data.mark.column - 1 == len(key.group(1)):
                return _fields_left(doc, item.type, {k for k in item.data if isinstance(k, str)})
    return []


def _fields_left(doc: Document, kind: str | None, written: set[str]) -> list[Choice]:
    if kind in KIND_BY_TYPE:
        model = KIND_BY_TYPE[kind]
        fields = [(name, info.description or "", info.is_required()) for name, info in model.model_fields.items()]
    elif kind in doc.blocks:  # a block call: the block's parameters, and what every use may say
        params = doc.blocks[kind].get("params")
        fields = [(name, f"parameter of block `{kind}`", value is None) for name, value in (params or {}).items()]
        fields += [(name, "", False) for name in ("name", "inputs", "repeat", "first", "when")]
    else:
        return []
    return [
        Choice(name, "field", about, order=0 if required else 1)
        for name, about, required in fields
        if name not in written and name != "type"
    ]


def _block_at(doc: Document, line: int) -> str | None:
    """The block whose definition spans a line (from its name to its last layer), if any."""
    for name, body in doc.blocks.items():
        last = max([body.mark.line, *(i.last for i in doc.items if i.block == name)])
        if body.mark.line - 1 <= line <= last:
            return name
    return None


def _on_inputs_list(doc: Document, line: int) -> bool:
    item = doc.item_at(line)
    inputs = item.data.get("inputs") if item is not None else None
    return isinstance(inputs, YList) and line in {m.line for m in inputs.item_marks}


def _readable(doc: Document, line: int, block: str | None) -> list[Choice]:
    """The layers written before the cursor in its scope (the top level or one block), nearest first, and
    ``input``."""
    before = [i for i in doc.items if i.block == block and i.last < line and i.name is not None]
    out = [Choice(i.name or "", "layer", f"{i.type} (line {i.first})", order=n) for n, i in enumerate(reversed(before))]
    where = "the block's input" if block is not None else "the spec's input"
    return [*out, Choice("input", "layer", where, order=len(out))]


def _fields(kind: str) -> str:
    """The fields a kind takes, with their descriptions, as Markdown."""
    model = KIND_BY_TYPE[kind]
    rows = [
        f"- `{name}`: {info.description}" if info.description else f"- `{name}`"
        for name, info in model.model_fields.items()
        if name != "type"
    ]
    return "\n".join(rows)


@dataclass(frozen=True)
class Fix:
    title: str
    line: int  # 1-based
    start: int  # the 1-based columns the new text replaces: [start, end)
    end: int
    text: str
    preferred: bool = False


def fixes(doc: Document, code: str, message: str, line: int, start: int, end: int) -> list[Fix]:
    """Quick fixes for one diagnostic the client shows, at a 1-based line and columns [start, end)."""
    out = []
    text = doc.lines[line - 1] if 0 < line <= len(doc.lines) else ""
    wrong = text[start - 1 : end - 1]
    guess = _DID_YOU_MEAN.search(message)
    if guess and wrong and f"`{wrong}`" in message and guess.group(1) != wrong:
        out.append(Fix(f"Replace `{wrong}` with `{guess.group(1)}`", line, start, end, guess.group(1), preferred=True))
    if code == Code.LINEAR_ON_SPATIAL_MAP:
        out += _flatten_before(doc, line)
    if code[:1] in ("W", "I") and text:
        existing = _NOQA.search(text)
        if existing:  # one more code on the line's noqa
            out.append(Fix(f"Suppress {code} on this line", line, existing.end() + 1, existing.end() + 1, f", {code}"))
        else:
            end_of_line = len(text) + 1
            out.append(Fix(f"Suppress {code} on this line (# noqa: {code})", line, end_of_line, end_of_line, f"  # noqa: {code}"))
    return out


def _flatten_before(doc: Document, line: int) -> list[Fix]:
    """A `{type: flatten}` item above a linear layer that reads the layer before it (with explicit `inputs:`
    the flatten would have to take them over: left to the author)."""
    item = doc.item_at(line)
    if item is None or "inputs" in item.data:
        return []
    text = doc.lines[item.first - 1]
    lead = text[: item.data.mark.column - 1]  # `  - ` before the mapping
    if lead.strip() != "-":
        return []
    return [Fix("Insert a flatten before this layer", item.first, 1, 1, f"{lead}{{type: flatten}}\n", preferred=True)]
