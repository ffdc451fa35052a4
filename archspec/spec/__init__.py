"""Spec files: safe YAML with positions -> top-level validation -> block expansion -> layer validation."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from archspec.codes import Code
from archspec.errors import Diagnostic, SpecError
from archspec.layers import KIND_BY_TYPE, LayerBase
from archspec.spec.defaults import spec_defaults as _defaults
from archspec.spec.deferred import deferred_in
from archspec.spec.deferred import resolve as resolve_deferred
from archspec.spec.dormant import check_unused_block, unused_blocks
from archspec.spec.expand import MAX_LAYERS, Expander, RawLayer, Scope, TooManyLayers
from archspec.spec.load import YDict, YList, parse_yaml
from archspec.spec.locate import Loc, fields_at, pydantic_diagnostics, suggest
from archspec.spec.model import FORMAT_VERSION, MAX_INPUT_RANK, BlockDef, Spec, SpecFile

__all__ = ["BlockDef", "Spec", "SpecFile", "load", "loads", "parse_spec", "read_text"]


def read_text(path: str | Path) -> str:
    """A spec file's text; IO problems raise SpecError with an E100 diagnostic."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # a bad spec, not an IO problem: a finding (exit 1) with its position
        raw = Path(path).read_bytes()[: exc.start]
        line = raw.count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n") + 1) + 1
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SpecError([Diagnostic(Code.INVALID_YAML, message, str(path), line, column)]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(Code.UNREADABLE_FILE, f"cannot read file: {exc.strerror or exc}", str(path))]) from None


def load(path: str | Path) -> Spec:
    """Load and validate a spec file. Raises SpecError listing every problem."""
    return loads(read_text(path), str(path))


def loads(text: str, path: str = "<string>") -> Spec:
    """Load and validate spec text. Raises SpecError listing every problem."""
    spec, diagnostics = parse_spec(text, path)
    errors = [d for d in diagnostics if d.severity.value == "error"]
    if errors or spec is None:
        raise SpecError(errors or diagnostics)
    return spec


def _top_fields(loc: Loc) -> list[str]:
    if loc[:1] == ("blocks",) and len(loc) == 2:  # blocks.NAME: a BlockDef under a free-form key
        return list(BlockDef.model_fields)
    return fields_at(SpecFile, loc)


def parse_spec(text: str, path: str = "<string>") -> tuple[Spec | None, list[Diagnostic]]:
    """Everything that can be learnt from the text without shapes: (spec or None, diagnostics).

    The spec may hold layers that failed validation (``spec.unparsed``) so that
    later stages can still check the rest of the file.
    """
    with no_gc():
        return _parse_spec(text, path)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: loading makes many small acyclic objects, and its
    repeated full passes over them would cost more than the loading itself on big specs."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _parse_spec(text: str, path: str) -> tuple[Spec | None, list[Diagnostic]]:
    data, diagnostics = parse_yaml(text, path)
    if data is None:
        return None, diagnostics
    if not isinstance(data, YDict):
        message = "the top level must be a mapping (archspec:, input:, layers:)"
        diagnostics.append(Diagnostic(Code.MALFORMED_DOCUMENT, message, path, 1, 1))
        return None, diagnostics
    header: SpecFile | None = None
    try:
        # top-level keys starting with `x-` are the user's own (shared YAML anchors live there)
        header = SpecFile.model_validate({k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))})
    except ValidationError as exc:
        diagnostics += _top_level_diagnostics(exc, data, path)

    layers_raw = data.get("layers")
    input_raw = data.get("input")
    blocks = usable_blocks(data.get("blocks"), path, diagnostics)
    if not isinstance(layers_raw, YList) or not layers_raw:
        return None, dedupe(diagnostics)

    expander = Expander(path, blocks, text, _defaults(data.get("defaults"), blocks, path, text, diagnostics))
    top = Scope("")
    try:
        expander.expand(layers_raw, top)
    except TooManyLayers as exc:
        mark = exc.args[0]
        message = f"more than {MAX_LAYERS:,} layers after expanding blocks; refusing"
        diagnostics.append(Diagnostic(Code.TOO_LARGE, message, path, mark.line, mark.column))
        return None, dedupe(diagnostics)
    expander.resolve_all(top)
    diagnostics += expander.diagnostics
    for block in unused_blocks(blocks, expander):
        diagnostics += check_unused_block(block, blocks[block], blocks, path)
        _check_unused_expressions(blocks[block], path, text, diagnostics)

    input_shape: tuple[int, ...] = ()
    if isinstance(input_raw, list) and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_raw):
        input_shape = tuple(input_raw) if 0 < len(input_raw) <= MAX_INPUT_RANK else ()

    checked = {id(raw): validate_layer(raw, path) for raw in expander.raws if not any(True for _ in deferred_in(raw.data))}
    if len(checked) < len(expander.raws):  # expressions that read `in.`: evaluated in graph order, as shapes become known
        done = {key: layer for key, (layer, _) in checked.items()}
        later, found = resolve_deferred(expander, input_shape, path, lambda raw: validate_layer(raw, path), done)
        checked.update(later)
        diagnostics += found
    layers: list[LayerBase] = []
    unparsed: dict[str, list[str] | None] = {}
    repaired: set[str] = set()
    source: dict[str, YDict] = {}
    block_of: dict[str, tuple[str, ...]] = {}
    for raw in expander.raws:
        layer, found = checked.get(id(raw), (None, []))
        diagnostics += found
        if not raw.kept:
            continue
        source[raw.name] = raw.data
        block_of[raw.name] = raw.blocks
        if layer is None:
            unparsed[raw.name] = raw.inputs
            continue
        if found or "@" in raw.name:  # (`name@line`: a duplicate or invalid name, renamed to keep going)
            repaired.add(raw.name)
        layer.name = raw.name
        layer.inputs = raw.inputs
        layers.append(layer)

    output = _output(data, top, expander, path, diagnostics)
    name = data.get("name")
    spec = Spec(
        name=name if isinstance(name, str) and name else Path(path).stem,
        input_shape=input_shape,
        layers=layers,
        output=output or "",
        path=path,
        text=text,
        description=data.get("description") if isinstance(data.get("description"), str) else None,
        source=source,
        block_of=block_of,
        block_types=expander.block_types,
        block_calls=expander.block_calls,
        training=header.training if header is not None else None,
        unparsed=unparsed,
        repaired=repaired,
        document=data,
    )
    return spec, dedupe(diagnostics)


def _check_unused_expressions(body: YDict, path: str, text: str, diagnostics: list[Diagnostic]) -> None:
    """The `${...}` of a block no layer uses: their syntax and names (values need a use)."""
    checker = Expander(path, None, text)
    params = body.get("params")
    names = [k for k in params if isinstance(k, str)] if isinstance(params, YDict) else []
    if isinstance(params, YDict):
        for index, key in enumerate(names):  # a default reads the parameters declared before it
            checker.check_expressions(params[key], params.value_marks[key], names[:index])
    checker.check_expressions(body.get("layers"), body.mark, names)
    diagnostics += checker.diagnostics


def _top_level_diagnostics(exc: ValidationError, data: YDict, path: str) -> list[Diagnostic]:
    out = []
    for d in pydantic_diagnostics(exc, data, path, fields_of=_top_fields):
        if d.message.startswith("archspec:"):
            d = Diagnostic(
                Code.UNSUPPORTED_VERSION,
                f"unsupported format version {data.get('archspec')!r}; this archspec reads version {FORMAT_VERSION}",
                path,
                d.line,
                d.column,
                f"write `archspec: {FORMAT_VERSION}`",
            )
        elif d.message == "missing required field `archspec`":
            d = Diagnostic(
                d.code,
                d.message,
                path,
                d.line,
                d.column,
                f"start the file with `archspec: {FORMAT_VERSION}` (the format version)",
            )
        out.append(d)
    return out


def usable_blocks(blocks: Any, path: str, diagnostics: list[Diagnostic]) -> YDict:
    usable = YDict()
    if not isinstance(blocks, YDict):
        return usable
    for key, body in blocks.items():
        if key in KIND_BY_TYPE:
            mark = blocks.key_marks[key]
            diagnostics.append(
                Diagnostic(
                    Code.INVALID_VALUE,
                    f"block name `{key}` is a built-in layer type",
                    path,
                    mark.line,
                    mark.column,
                    "rename the block",
                )
            )
            continue
        if isinstance(body, YDict) and isinstance(body.get("layers"), YList) and isinstance(body.get("params", YDict()), YDict):
            usable.set(key, body, blocks.key_marks[key], blocks.value_marks[key])
    return usable


def validate_layer(raw: RawLayer, path: str) -> tuple[LayerBase | None, list[Diagnostic]]:
    """Validate one layer mapping; on failure, retry without the faulty fields so shapes can still flow."""
    cls = KIND_BY_TYPE.get(raw.data["type"])  # expansion keeps only layers whose `type` is a string
    if cls is None:
        return None, []  # unknown type: reported during expansion
    try:
        return cls.model_validate(raw.data), []
    except ValidationError as exc:
        fields = list(cls.model_fields)
        # the local name: inside blocks the same mistake repeats per instance and is reported once
        local = raw.name[len(raw.scope.prefix) :]
        found = pydantic_diagnostics(exc, raw.data, path, fields_of=lambda loc: fields_at(cls, loc), lead=f"layer `{local}`: ")
        repaired = _repair(raw.data, exc, fields)
        try:
            layer = cls.model_validate(repaired) if repaired is not None else None
        except ValidationError:
            layer = None
        return layer, found


def _repair(data: YDict, exc: ValidationError, fields: list[str]) -> dict[Any, Any] | None:
    """The mapping with misspelt keys renamed to their obvious fix and other bad optional keys dropped."""
    fixed = dict(data)
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if not loc:
            return None  # a cross-field rule failed; nothing obvious to drop
        key = loc[0]
        if err["type"] == "extra_forbidden":
            value = fixed.pop(key, None)
            guess = suggest(key, fields)
            if guess and guess not in data:
                fixed[guess] = value
        elif err["type"] != "missing" and key != "type":
            fixed.pop(key, None)
    return fixed


def _output(data: YDict, top: Scope, expander: Expander, path: str, diagnostics: list[Diagnostic]) -> str | None:
    wanted = data.get("output")
    if isinstance(wanted, str):
        resolved = expander.resolve(wanted, top)
        if resolved is None:
            mark = data.value_marks["output"]
            guess = suggest(wanted, list(top.entries))
            message = f"unknown output layer `{wanted}`" + (f" — did you mean `{guess}`?" if guess else "")
            if expander.parts_of(wanted, top):
                message = f"output `{wanted}` has several outputs: name one of them ({', '.join(expander.parts_of(wanted, top))})"
            diagnostics.append(Diagnostic(Code.UNKNOWN_REFERENCE, message, path, *mark))
        return resolved
    parts = expander.parts_of(top.output, top)
    if parts:  # the last layer is a split: which part is the network's output?
        where = expander.names.get(f"{top.prefix}{top.output}")
        message = f"the last layer `{top.output}` has {len(parts)} outputs: say which one is the network's output"
        hint = f"add `output: {parts[0]}` (or another part) at the top level"
        line, column = (where.line, where.column) if where else (1, 1)
        diagnostics.append(Diagnostic(Code.UNKNOWN_REFERENCE, message, path, line, column, hint))
    return expander.resolve(top.output, top)


def dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen = set()
    out = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (d.code, d.path, d.line, d.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
