"""Turning a place in the data (a path of keys) into a file position, and Pydantic errors into diagnostics."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from archspec.codes import Code
from archspec.errors import Diagnostic
from archspec.spec.load import Mark, YDict, YList, mark_of

Loc = tuple[int | str, ...]  # a path of keys into the data, as Pydantic's errors give it


def suggest(word: Any, choices: Iterable[str]) -> str | None:
    """The closest known name, for "did you mean" hints."""
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6)
    return matches[0] if matches else None


def locate(root: Any, loc: tuple[Any, ...], *, key_side: bool = False) -> Mark:
    """Mark of the deepest container entry along ``loc`` that the data has."""
    best = mark_of(root) or Mark(1, 1)
    node = root
    for i, key in enumerate(loc):
        last = i == len(loc) - 1
        mark = mark_of(node, key, key_side=key_side and last)
        if mark is None:
            break
        best = mark
        if not isinstance(node, (YDict, YList)):
            break
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return best


def fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the (nested) Pydantic model found by following ``loc`` from ``model``."""
    for key in loc:
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            return []
        nested = [a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


_WRONG_TYPE = {"pair_type", "padding_value", "dict_type", "list_type", "string_type", "bool_type", "model_type"}
_BAD_VALUE = {"value_error", "pair_range", "literal_error", "assertion_error"}


def _code_for(kind: str) -> Code:
    if kind == "missing":
        return Code.MISSING_FIELD
    if kind == "extra_forbidden":
        return Code.UNKNOWN_FIELD
    if kind in _WRONG_TYPE or kind.endswith(("_type", "_parsing")):
        return Code.WRONG_TYPE
    return Code.INVALID_VALUE  # out of range, literal choices, validators


_NICER = {
    "int_type": "expected an integer",
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
}


def pydantic_diagnostics(
    exc: ValidationError,
    root: Any,
    path: str,
    *,
    prefix: Loc = (),
    fields_of: Callable[[Loc], list[str]] | None = None,
    lead: str = "",
) -> list[Diagnostic]:
    """One diagnostic per Pydantic error, positioned in the file.

    ``root`` is the YDict that was validated; ``prefix`` is prepended to the
    printed field path and ``lead`` to the message (say, which layer); ``fields_of(loc)`` lists the valid field names at a
    location, for "did you mean" on unknown fields. An unknown field that is a
    misspelling of a missing required one is reported once, as the misspelling.
    """
    errors = exc.errors(include_url=False)
    misspelt: set[Loc] = set()
    out: list[Diagnostic] = []
    for err in errors:
        if err["type"] == "extra_forbidden" and fields_of:
            loc = err["loc"]
            guess = suggest(loc[-1], fields_of(loc[:-1]))
            if guess and any(e["type"] == "missing" and e["loc"] == (*loc[:-1], guess) for e in errors):
                misspelt.add((*loc[:-1], guess))
    for err in errors:
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing" and loc in misspelt:
            continue
        if isinstance(err.get("input"), str) and err["input"].startswith("$") and kind != "extra_forbidden":
            continue  # an unresolved $param: already reported (E207) where it was written
        code = _code_for(kind)
        field = ".".join(str(p) for p in (*prefix, *loc)) or "value"
        hint = None
        if kind == "extra_forbidden":
            mark = locate(root, loc, key_side=True)
            known = fields_of(loc[:-1]) if fields_of else []
            guess = suggest(loc[-1], known)
            message = f"unknown field `{field}`" + (f" — did you mean `{guess}`?" if guess else "")
            if not guess and known:
                hint = "known fields: " + ", ".join(sorted(known))
        elif kind == "missing":
            mark = locate(root, loc[:-1])
            message = f"missing required field `{field}`"
        elif kind == "union_tag_invalid":  # a `type:` naming no member of a tagged union
            code = Code.UNKNOWN_LAYER_TYPE
            mark = locate(root, (*loc, "type"))
            tags = [t.strip().strip("'") for t in err["ctx"]["expected_tags"].split(",")]
            guess = suggest(err["ctx"]["tag"], tags)
            message = f"{field}: unknown type `{err['ctx']['tag']}`" + (f" — did you mean `{guess}`?" if guess else "")
            hint = None if guess else "known types: " + ", ".join(tags)
        else:
            mark = locate(root, loc)
            text = err["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, ") :]
            if code == Code.WRONG_TYPE and kind in _NICER:
                text = f"{_NICER[kind]}, got {err['input']!r}"
            message = f"{field}: {text}" if loc or prefix else text
        out.append(Diagnostic(code, lead + message, path, mark.line, mark.column, hint))
    return out
