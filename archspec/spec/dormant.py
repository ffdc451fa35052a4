"""Blocks that no layer uses: their layers are still checked, field by field.

An unused block has no input and no parameter values, so shapes cannot be worked out;
but an unknown type, an unknown field or a bad value is a mistake whatever the block is
called with, and is reported like any other (every problem in a file at once).
"""

from __future__ import annotations

from functools import partial

from pydantic import ValidationError

from archspec.codes import Code
from archspec.errors import Diagnostic
from archspec.layers import KIND_BY_TYPE
from archspec.spec.expand import Expander, has_params, unknown_type
from archspec.spec.load import YDict, YList, mark_of
from archspec.spec.locate import fields_at, pydantic_diagnostics

#: keys of a layer mapping that are not the kind's own fields, or are checked by expansion
_NOT_FIELDS = {"name", "inputs", "when"}


def unused_blocks(blocks: YDict, expander: Expander) -> list[str]:
    """Blocks never instantiated, directly or through another block."""
    used = set(expander.block_types.values())
    return [name for name in blocks if name not in used]


def check_unused_block(name: str, body: YDict, blocks: YDict, path: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    layers = body.get("layers")
    if not isinstance(layers, YList):
        return found
    for index, item in enumerate(layers):
        if not isinstance(item, YDict) or not isinstance(item.get("type"), str):
            continue  # not a layer mapping: reported the same way for every block by the expansion's rules
        kind = item["type"]
        if kind in blocks:
            continue  # a block inside the block: checked as a block of its own
        cls = KIND_BY_TYPE.get(kind)
        if cls is None:
            found.append(unknown_type(kind, list(blocks), path, mark_of(item, "type") or item.mark))
            continue
        local = item.get("name") if isinstance(item.get("name"), str) else f"#{index + 1}"
        open_fields = {k for k, v in item.items() if has_params(v)}
        data = {k: v for k, v in item.items() if k not in open_fields and k not in _NOT_FIELDS}
        try:
            cls.model_validate(data)
        except ValidationError as exc:
            lead = f"block `{name}`, layer `{local}`: "
            for d in pydantic_diagnostics(exc, item, path, fields_of=partial(fields_at, cls), lead=lead):
                if not (d.code == Code.MISSING_FIELD and any(f"`{f}`" in d.message for f in open_fields)):
                    found.append(d)  # (a field given as a `$param` is not missing: the call will give it)
    return found
