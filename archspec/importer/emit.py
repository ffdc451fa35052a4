"""Spec text from imported layers: one flow mapping per layer, as the bundled specs are written."""

from __future__ import annotations

import json
import re
from typing import Any

from archspec.importer.graph import Imported, Layer

_PLAIN = re.compile(r"[A-Za-z_][\w.\-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(value: Any) -> str:
    """A value in YAML's flow style.

    >>> [scalar(v) for v in (False, 3, 1e-05, 0.1, "layer1.0.conv1", "split:0", [1, 2], None)]
    ['false', '3', '1.0e-05', '0.1', 'layer1.0.conv1', '"split:0"', '[1, 2]', 'null']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text  # YAML 1.1 needs the dot
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    text = str(value)
    return text if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS else json.dumps(text)


def _line(layer: Layer, previous: str) -> str:
    items: dict[str, Any] = {"type": layer.tag, "name": layer.name}
    if layer.inputs and layer.inputs != [previous]:  # a learned tensor has none
        items["inputs"] = layer.inputs[0] if len(layer.inputs) == 1 else layer.inputs
    items |= layer.fields
    return "  - {" + ", ".join(f"{k}: {scalar(v)}" for k, v in items.items()) + "}"


def spec_text(imported: Imported, name: str, input_shape: tuple[int, ...], source: str | None = None) -> str:
    lines = [f"# imported from {source}" if source else "# imported from PyTorch", "archspec: 1"]
    lines += [f"name: {scalar(name)}", f"input: {scalar(list(input_shape))}", "layers:"]
    previous = "input"
    for layer in imported.layers:
        lines.append(_line(layer, previous))
        previous = layer.name
    if imported.stopped is not None:
        lines.append(f"  # stopped here: {imported.stopped}".replace("\n", "\n  # "))
    elif imported.output != previous:
        lines.append(f"output: {scalar(imported.output)}")
    return "\n".join(lines) + "\n"
