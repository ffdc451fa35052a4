"""What the editor shows of the analysis: the inlay hint at the end of a layer's line and the hover text."""

from __future__ import annotations

import re

from archspec.analysis import LayerInfo
from archspec.arith import RF
from archspec.codes import lookup
from archspec.graph import INPUT
from archspec.layers import Shape, fmt_shape
from archspec.lsp.document import Document, Item
from archspec.render.diagram import formula

_CODE = re.compile(r"[EWI]\d{3}", re.IGNORECASE)
MAX_LISTED = 12  # instances listed in one hover; the rest are counted


def hint(doc: Document, item: Item) -> str | None:
    """``→ 4×8×8 · 112 params`` for a layer of the top level, the instances' outputs for a block call; None
    for a layer written in a block (its instances differ: the call's line shows them) or of unknown shape."""
    if item.block is not None:
        return None
    instances = doc.instances(item)
    if instances:
        shapes = [_shape(doc, doc.instance_output(i)) for i in instances]
        params = sum(_params(doc, name) for i in instances for name in doc.members(i))
    else:
        names = doc.layers_written_at(item)
        shapes = [_shape(doc, name) for name in names]
        params = sum(_params(doc, name) for name in names)
    known = [s for s in shapes if s is not None]
    if not known:
        return None
    text = "→ " + _runs([fmt_shape(s) for s in known])
    return text + (f" · {params:,} params" if params else "")


def hover(doc: Document, item: Item) -> str | None:
    """Markdown for a layer line: its figures, or each instance's for a layer of a block or a block call."""
    instances = doc.instances(item)
    if instances:
        head = f"**{item.name}**: block `{item.type}`" + (f", {len(instances)} instances" if len(instances) > 1 else "")
        return "\n\n".join([head, _listed([_instance_line(doc, i) for i in instances])])
    names = doc.layers_written_at(item)
    infos = [info for name in names if (info := doc.info(name)) is not None]
    if not infos:
        return None
    if item.block is None:
        return "\n\n---\n\n".join(_figures(doc, info) for info in infos)
    head = f"**{item.name or item.type}** in block `{item.block}`: {len(infos)} instance{'s' * (len(infos) > 1)}"
    if len(infos) == 1:
        return head + "\n\n" + _figures(doc, infos[0])
    return "\n\n".join([head, _listed([_short(doc, info) for info in infos])])


def explain(word: str) -> str | None:
    """``archspec explain CODE`` for a word that is a diagnostic code (``W401``), else None."""
    if not _CODE.fullmatch(word):
        return None
    row = lookup(word)
    return f"```text\n{row.to_text().rstrip()}\n```" if row is not None else None


def _figures(doc: Document, info: LayerInfo) -> str:
    lines = [f"**{info.name}**: `{info.label}`", f"shape: {_flow(doc, info)}"]
    made_of = formula(info.weights, info.layer is not None and info.layer.family == "tensor")
    if made_of is not None:
        lines.append(f"params: {made_of}" + ("" if info.trainable_params == info.params else " (frozen)"))
    if info.macs:
        lines.append(f"MACs: {info.macs:,}")
    if info.rf is not None:
        lines.append(f"receptive field: {_rf(info.rf)}")
    if info.inputs:
        lines.append("inputs: " + ", ".join(f"`{ref}` ({_shape_text(doc, ref)})" for ref in info.inputs))
    return "  \n".join(lines)


def _short(doc: Document, info: LayerInfo) -> str:
    text = f"`{info.name}`: {_flow(doc, info)}"
    if info.params:
        text += f" · {info.params:,} params"
    if info.macs:
        text += f" · {info.macs:,} MACs"
    return text


def _instance_line(doc: Document, instance: str) -> str:
    members = doc.members(instance)
    inside = set(members)
    ins = [ref for name in members if (info := doc.info(name)) for ref in info.inputs if ref not in inside]
    out = doc.instance_output(instance)
    into = ", ".join(dict.fromkeys(_shape_text(doc, ref) for ref in ins)) or "?"
    text = f"`{instance}`: {into} → {_shape_text(doc, out)}"
    params = sum(_params(doc, name) for name in members)
    macs = sum(info.macs for name in members if (info := doc.info(name)) is not None)
    if params:
        text += f" · {params:,} params"
    if macs:
        text += f" · {macs:,} MACs"
    return text


def _listed(lines: list[str]) -> str:
    shown = [f"- {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"- … and {len(lines) - MAX_LISTED} more")
    return "\n".join(shown)


def _flow(doc: Document, info: LayerInfo) -> str:
    into = ", ".join(_shape_text(doc, ref) for ref in info.inputs) or "—"
    return f"{into} → {_shape_text(doc, info.name)}"


def _rf(rf: tuple[RF, ...]) -> str:
    def dims(values: list[int]) -> str:
        return "×".join(map(str, values))

    return f"{dims([a.size for a in rf])} (jump {dims([a.stride for a in rf])}, padding {dims([a.padding for a in rf])})"


def _shape(doc: Document, name: str | None) -> Shape | None:
    if name is None:
        return None
    if name == INPUT:
        return doc.spec.input_shape if doc.spec is not None and doc.spec.input_shape else None
    info = doc.info(name)
    return info.output_shape if info is not None else None


def _shape_text(doc: Document, name: str | None) -> str:
    shape = _shape(doc, name)
    return fmt_shape(shape) if shape is not None else "?"


def _params(doc: Document, name: str) -> int:
    info = doc.info(name)
    return info.params if info is not None else 0


def _runs(texts: list[str]) -> str:
    """Repeats written once with a count: ``64×56×56 ×3, 128×28×28``."""
    out: list[tuple[str, int]] = []
    for text in texts:
        if out and out[-1][0] == text:
            out[-1] = (text, out[-1][1] + 1)
        else:
            out.append((text, 1))
    return ", ".join(text if n == 1 else f"{text} ×{n}" for text, n in out)
