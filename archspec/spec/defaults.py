"""The spec's ``defaults:`` section: field values for every layer of a kind (or every use of a block).

``defaults: {batchnorm2d: {eps: 0.001, momentum: 0.01}}`` gives each batchnorm2d of the
spec, blocks included, that eps and momentum unless the layer sets its own.
"""

from __future__ import annotations

from typing import Any

from archspec.codes import Code
from archspec.errors import Diagnostic
from archspec.layers import KIND_BY_TYPE
from archspec.spec.expand import Expander, unknown_type
from archspec.spec.expr import Deferred, is_expression
from archspec.spec.load import YDict
from archspec.spec.locate import suggest

PER_LAYER = ("type", "name", "inputs", "when")  # fields that say which layer it is, never shared


def spec_defaults(section: Any, blocks: YDict, path: str, text: str, diagnostics: list[Diagnostic]) -> dict[str, YDict]:
    """The usable defaults by kind or block name; every unknown kind or field is reported with a did-you-mean."""
    if not isinstance(section, YDict):
        return {}  # absent, or not a mapping (reported by the top-level validation)
    evaluator = Expander(path, blocks, text)
    usable: dict[str, YDict] = {}
    for kind, fields in section.items():
        if kind not in KIND_BY_TYPE and kind not in blocks:
            diagnostics.append(unknown_type(str(kind), list(blocks), path, section.key_marks[kind]))
            continue
        if not isinstance(fields, YDict):
            continue  # reported by the top-level validation
        known = _fields(kind, blocks)
        kept = YDict(fields.mark)
        for key, value in fields.items():
            mark = fields.key_marks[key]
            if key not in known:
                guess = suggest(key, known)
                message = f"`defaults.{kind}`: unknown field `{key}`" + (f" — did you mean `{guess}`?" if guess else "")
                hint = None if guess else f"fields of {kind}: {', '.join(known) or 'none'}"
                diagnostics.append(Diagnostic(Code.UNKNOWN_FIELD, message, path, mark.line, mark.column, hint))
                continue
            if is_expression(value):
                value = evaluator.expression(value, fields.value_marks[key], {}, None)
                if isinstance(value, Deferred):
                    at = fields.value_marks[key]
                    diagnostics.append(
                        Diagnostic(
                            Code.UNKNOWN_EXPRESSION_NAME,
                            f"`defaults.{kind}.{key}`: `in` is not known in defaults (they serve every layer of the kind)",
                            path,
                            at.line,
                            at.column,
                            "set the value on the layers, or in a block",
                        )
                    )
                    continue
            kept.set(key, value, mark, fields.value_marks[key])
        usable[kind] = kept
    diagnostics += evaluator.diagnostics
    return usable


def _fields(kind: str, blocks: YDict) -> list[str]:
    if kind in KIND_BY_TYPE:
        return [f for f in KIND_BY_TYPE[kind].model_fields if f not in PER_LAYER]
    params = blocks[kind].get("params")
    return list(params) if isinstance(params, dict) else []
