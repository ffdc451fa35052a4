"""The JSON Schema of the spec format, generated from the Pydantic models.

Editors (e.g. the YAML language server) use it to validate and complete specs.
Layers are a discriminated union on ``type``; a layer whose ``type`` names a
block is a block call. Inside block definitions any value may be a ``$param``.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter

from archspec.layers import KIND_BY_TYPE, Layer
from archspec.spec.model import SpecFile

SCHEMA_ID = "urn:archspec:spec-format:1"
PARAM_REF = {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$", "description": "A block parameter."}


def json_schema() -> dict[str, Any]:
    schema = SpecFile.model_json_schema()
    layer = TypeAdapter(Layer).json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    kind_defs = layer.pop("$defs", {})
    defs.update(kind_defs)
    defs["Layer"] = layer
    defs["BlockCall"] = _block_call()
    defs["LayerItem"] = {"anyOf": [{"$ref": "#/$defs/Layer"}, {"$ref": "#/$defs/BlockCall"}]}

    # block bodies: the same kinds, but every field may also be a $param
    block_layer = copy.deepcopy(layer)
    for name, body in kind_defs.items():
        loose = copy.deepcopy(body)
        for prop, sub in loose.get("properties", {}).items():
            if prop != "type":
                loose["properties"][prop] = {
                    "anyOf": [sub, PARAM_REF],
                    **({"description": sub["description"]} if "description" in sub else {}),
                }
        defs[name + "InBlock"] = loose
    _retarget(block_layer, {f"#/$defs/{n}": f"#/$defs/{n}InBlock" for n in kind_defs})
    defs["LayerInBlock"] = block_layer
    defs["BlockItem"] = {"anyOf": [{"$ref": "#/$defs/LayerInBlock"}, {"$ref": "#/$defs/BlockCall"}]}

    schema["properties"]["layers"]["items"] = {"$ref": "#/$defs/LayerItem"}
    defs["BlockDef"]["properties"]["layers"]["items"] = {"$ref": "#/$defs/BlockItem"}
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
            "type": {"type": "string", "not": {"enum": sorted(KIND_BY_TYPE)}, "description": "The block's name."},
            "name": {"type": "string"},
            "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "when": {"anyOf": [{"type": "boolean"}, PARAM_REF]},
            "repeat": {"type": "integer", "minimum": 1, "description": "Chain this many instances, named NAME.0, NAME.1, ..."},
            "first": {"type": "object", "description": "Parameter overrides for the first instance only."},
        },
        "additionalProperties": True,
    }


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
