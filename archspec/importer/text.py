"""YAML values in flow style, as the bundled specs write them: ``{type: conv2d, kernel_size: 3, bias: false}``."""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"\$?[A-Za-z_][\w.\-]*")
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
    if isinstance(value, dict):
        return flow(value)
    text = str(value)
    return text if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS else json.dumps(text)


def flow(items: dict[str, Any]) -> str:
    """A mapping in YAML's flow style: ``{type: relu, name: relu}``."""
    return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in items.items()) + "}"
