"""The JSON Schema of the spec format, generated from the Pydantic models.

Editors (e.g. the YAML language server) use it to validate and complete specs.
Layers are a discriminated union on ``type``; a layer whose ``type`` names a
block is a block call. Inside block definitions any value may be a ``$param``; any
integer may be a ``${...}`` expression.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import TypeAdapter

from archspec.layers import KIND_BY_TYPE, KINDS, Layer
from archspec.spec.kind_names import ANOTHER_WAY, NOT_YET
from archspec.spec.model import SpecFile

SCHEMA_ID = "urn:archspec:spec-format:1"
KIND_CLASSES = {cls.__name__: cls for cls in KINDS}
PARAM_REF = {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$", "description": "A block parameter."}
EXPRESSION = {
    "type": "string",
    "pattern": r"^\$\{.*\}$",
    "description": "An integer expression, e.g. ${expand * in.channels} or ${make_divisible(c // 4, 8)}.",
}


def json_schema() -> dict[str, Any]:
    schema = SpecFile.model_json_schema()
    layer = TypeAdapter(Layer).json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    kind_defs = layer.pop("$defs", {})
    defs.update(kind_defs)
    defs["Layer"] = layer
    defs["BlockCall"] = _block_call()
    defs["LayerItem"] = {"anyOf": [{"$ref": "#/$defs/Layer"}, {"$ref": "#/$defs/BlockCall"}]}

    for body in kind_defs.values():  # every integer field may be written as ${...}
        for prop, sub in body.get("properties", {}).items():
            if prop != "type":
                body["properties"][prop] = _or_expression(sub)
    for name, body in kind_defs.items():  # the `type` of each kind says what the kind is
        if name in KIND_CLASSES:  # (the definitions include helper models such as Init)
            doc = (KIND_CLASSES[name].__doc__ or "").strip().split("\n")[0]
            body["properties"]["type"]["description"] = f"Layer kind: {doc}"
    for body in defs.values():  # and so does the `type` of each augmentation step
        tag = body.get("properties", {}).get("type")
        if isinstance(tag, dict) and "description" not in tag and "description" in body:
            tag["description"] = body["description"].split("\n")[0]

    # block bodies: the same kinds, but every field may also be a $param
    block_layer = copy.deepcopy(layer)
    for name, body in kind_defs.items():
        loose = copy.deepcopy(body)
        for prop, sub in loose.get("properties", {}).items():
            if prop != "type":
                loose["properties"][prop] = {
                    "anyOf": [_or_param(sub), PARAM_REF],
                    **({"description": sub["description"]} if "description" in sub else {}),
                }
        defs[name + "InBlock"] = loose
    _retarget(block_layer, {f"#/$defs/{n}": f"#/$defs/{n}InBlock" for n in kind_defs})
    defs["LayerInBlock"] = block_layer
    defs["BlockItem"] = {"anyOf": [{"$ref": "#/$defs/LayerInBlock"}, {"$ref": "#/$defs/BlockCall"}]}

    schema["properties"]["layers"]["items"] = {"$ref": "#/$defs/LayerItem"}
    defs["BlockDef"]["properties"]["layers"]["items"] = {"$ref": "#/$defs/BlockItem"}
    schema["patternProperties"] = {"^x-": {"description": "Your own: shared YAML anchors (`x-conv: &conv {...}`)."}}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "archspec network specification"
    return schema


def _block_call() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A use of a block defined under `blocks:`; other keys are the block's parameters.",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "not": {"pattern": _known_names()}, "description": "The block's name."},
            "name": {"type": "string", "description": "Name of this use; its instances are NAME.0, NAME.1, ..."},
            "inputs": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                "description": "The producing layer (a block takes one input).",
            },
            "when": {
                "anyOf": [{"type": "boolean"}, PARAM_REF],
                "description": "Use the block; when false its input passes through.",
            },
            "repeat": {"type": "integer", "minimum": 1, "description": "Chain this many instances, named NAME.0, NAME.1, ..."},
            "first": {"type": "object", "description": "Parameter overrides for the first instance only."},
        },
        "additionalProperties": True,
    }


def _known_names() -> str:
    """A pattern matching, in any letter case, every layer kind, alias and known operation name.

    A block call's `type` may not be one of them (but for names of three letters or fewer), so that `Conv2d`, `ReLU` or `Dense` fail in the
    editor instead of passing as calls of undeclared blocks. (JSON Schema cannot see which blocks a
    file declares, nor ignore case: each letter becomes a class such as ``[Cc]``.)
    """
    names = {tag for tag in KIND_BY_TYPE} | {a for cls in KINDS for a in cls.aliases} | set(NOT_YET) | set(ANOTHER_WAY)
    names = {n for n in names if len(n) > 3}  # short habits (fc, bn, cat) are fair names for a block
    return (
        "^(?:"
        + "|".join(sorted("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in n) for n in names))
        + ")$"
    )


def _or_expression(node: Any) -> Any:
    """``node`` with every integer schema in it also accepting a ``${...}`` string."""
    if isinstance(node, list):
        return [_or_expression(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "integer":
        return {"anyOf": [node, EXPRESSION]}
    return {key: _or_expression(value) for key, value in node.items()}


def _or_param(node: Any) -> Any:
    """``node`` with every list item in it also accepting a ``$param`` (``shape: [$dim, 1, 1]`` in a block)."""
    if isinstance(node, list):
        return [_or_param(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {key: _or_param(value) for key, value in node.items()}
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"] = {"anyOf": [out["items"], PARAM_REF]}
    return out


def _retarget(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref in mapping:
            node["$ref"] = mapping[ref]
        for value in node.values():
            _retarget(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _retarget(value, mapping)
