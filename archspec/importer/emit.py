"""Spec text from imported layers: one flow mapping per layer, as the bundled specs are written."""

from __future__ import annotations

import json
from typing import Any

from archspec.importer.fold import fold, items
from archspec.importer.graph import Imported, Layer
from archspec.importer.text import flow, scalar
from archspec.layers import KIND_BY_TYPE


def shared_settings(layers: list[Layer]) -> dict[str, dict[str, Any]]:
    """Settings (numbers such as eps and momentum) that every layer of a kind, two or more, sets alike: the
    spec's ``defaults:``, as a person writes EfficientNet's batch norms once (``batchnorm2d: {eps: 0.001,
    momentum: 0.01}``). Switches such as ``bias: false`` stay on each layer, as the bundled specs write them."""
    by_kind: dict[str, list[Layer]] = {}
    for layer in layers:
        by_kind.setdefault(layer.tag, []).append(layer)
    shared: dict[str, dict[str, Any]] = {}
    for tag, alike in by_kind.items():
        if KIND_BY_TYPE[tag].family == "tensor":
            continue  # a learned tensor's value is what it holds: said where it is declared
        fields = KIND_BY_TYPE[tag].model_fields
        first = alike[0].fields
        common = {
            k: v
            for k, v in first.items()
            if isinstance(v, float) and not fields[k].is_required() and all(other.fields.get(k) == v for other in alike)
        }
        if len(alike) > 1 and common:
            shared[tag] = common
    return shared


def spec_text(
    imported: Imported, name: str, input_shape: tuple[int, ...], source: str | None = None, blocks: bool = False
) -> str:
    lines = [f"# imported from {source}" if source else "# imported from PyTorch"]
    if imported.key is not None:
        lines.append(f"# the output is the model's [{json.dumps(imported.key)}] (it returns a dict of one tensor)")
    if imported.unused:
        unused = ", ".join(imported.unused)
        lines.append(f"# not imported: {unused}, never called in evaluation (their tensors are no weights of this spec)")
    lines.append("archspec: 1")
    lines += [f"name: {scalar(name)}", f"input: {scalar(list(input_shape))}"]
    shared = shared_settings(imported.layers)
    if shared:
        lines.append("defaults:")
        lines += [f"  {tag}: {{{', '.join(f'{k}: {scalar(v)}' for k, v in common.items())}}}" for tag, common in shared.items()]

    def line(keys: dict[str, Any]) -> str:
        common = shared.get(keys["type"], {})
        return "  - " + flow({k: v for k, v in keys.items() if k not in common})

    folded = fold(imported.layers, imported.classes, line) if blocks else None
    if folded is not None:
        lines += folded
    else:
        lines.append("layers:")
        previous = "input"
        for layer in imported.layers:
            lines.append(line(items(layer, previous)))
            previous = layer.name
    if imported.stopped is not None:
        lines.append(f"  # stopped here: {imported.stopped}".replace("\n", "\n  # "))
    elif imported.output != (imported.layers[-1].name if imported.layers else "input"):
        lines.append(f"output: {scalar(imported.output)}")
    return "\n".join(lines) + "\n"
