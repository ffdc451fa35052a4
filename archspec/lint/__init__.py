"""``archspec lint``: validation, shape checks and the lint rules, with suppression comments.

Suppress a warning or info on its line (or on the first line of its layer) with
``# noqa: W401`` (``# noqa`` alone silences every code there), or in the whole
file with a line ``# archspec: noqa: W404``. Errors cannot be suppressed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from archspec.analysis import Report, run_analysis
from archspec.errors import Diagnostic, SpecError, one_per_place
from archspec.graph import layer_mark
from archspec.lint.rules import RULES, Rule
from archspec.spec import Spec, parse_spec, read_text

__all__ = ["RULES", "Rule", "lint_analysis", "lint_file", "lint_text"]

_CODE = r"[EWI]\d{3}"
_LINE_NOQA = re.compile(rf"#\s*noqa(?P<colon>:\s*(?P<codes>{_CODE}(?:\s*,\s*{_CODE})*)?)?", re.IGNORECASE)
_FILE_NOQA = re.compile(rf"^\s*#\s*archspec:\s*noqa:\s*(?P<codes>{_CODE}(?:\s*,\s*{_CODE})*)", re.IGNORECASE)
ALL = "*"


def lint_file(path: str, *, select: AbstractSet[str] | None = None, ignore: AbstractSet[str] = frozenset()) -> list[Diagnostic]:
    try:
        text = read_text(path)
    except SpecError as exc:
        return exc.diagnostics
    return lint_text(text, path, select=select, ignore=ignore)


def lint_text(
    text: str, path: str = "<string>", *, select: AbstractSet[str] | None = None, ignore: AbstractSet[str] = frozenset()
) -> list[Diagnostic]:
    """Every diagnostic of one spec text: errors first found, then rule findings, sorted by position."""
    return lint_analysis(text, path, select=select, ignore=ignore)[0]


def lint_analysis(
    text: str, path: str = "<string>", *, select: AbstractSet[str] | None = None, ignore: AbstractSet[str] = frozenset()
) -> tuple[list[Diagnostic], Spec | None, Report | None]:
    """``lint_text``'s diagnostics with the (possibly partial) spec and analysis they came from, for callers that
    show both (the language server) without loading the text twice."""
    spec, diagnostics = parse_spec(text, path)
    report: Report | None = None
    if spec is not None and spec.input_shape and spec.output:
        report = run_analysis(spec)
        diagnostics = diagnostics + report.diagnostics
        complete = not any(d.severity.value == "error" for d in diagnostics)
        for rule in RULES:
            if _wanted(rule.code, select, ignore) and (complete or not rule.whole):
                diagnostics += _findings(rule, report, spec)
    kept = _unsuppressed(diagnostics, text, spec)
    kept = [d for d in kept if d.severity.value == "error" or _wanted(d.code, select, ignore)]
    in_block = (lambda name: bool(spec.block_of.get(name))) if spec is not None else (lambda name: False)
    return one_per_place(sorted(set(kept), key=Diagnostic.sort_key), in_block), spec, report


def _wanted(code: str, select: AbstractSet[str] | None, ignore: AbstractSet[str]) -> bool:
    def matches(codes: Iterable[str]) -> bool:  # "W4" selects W401..W499, like ruff prefixes
        return any(code.startswith(c) for c in codes)

    return (select is None or matches(select)) and not matches(ignore)


def _findings(rule: Rule, report: Report, spec: Spec) -> list[Diagnostic]:
    out = []
    internal = [f"`{name}`" for name in spec.repaired if "@" in name]  # renamed duplicates: no name a user wrote
    for layer, field, message, hint in rule.check(report):
        if layer in spec.repaired or any(name in message for name in internal):
            continue  # judged on a guessed repair of an invalid layer: the error already says what is wrong
        mark = layer_mark(spec, layer, field)
        out.append(Diagnostic(rule.code, message, spec.path, mark.line, mark.column, hint, layer=layer))
    return out


def _unsuppressed(diagnostics: list[Diagnostic], text: str, spec: Spec | None) -> list[Diagnostic]:
    lines = text.splitlines()
    file_wide: set[str] = set()
    for line in lines:
        m = _FILE_NOQA.match(line)
        if m:
            file_wide |= _codes(m.group("codes"))

    def silenced(line_no: int, code: str) -> bool:
        if not 1 <= line_no <= len(lines):
            return False
        m = _LINE_NOQA.search(lines[line_no - 1])
        if not m or _FILE_NOQA.match(lines[line_no - 1]):
            return False
        if m.group("colon") and not m.group("codes"):
            return False  # a noqa colon followed by a mistyped code (W4O1) silences nothing, not everything
        codes = _codes(m.group("codes")) if m.group("codes") else {ALL}
        return ALL in codes or code in codes

    kept = []
    for d in diagnostics:
        if d.severity.value != "error":
            if d.code in file_wide:
                continue
            start = layer_mark(spec, d.layer).line if spec is not None and d.layer else 0
            if silenced(d.line, d.code) or (start and silenced(start, d.code)):
                continue
        kept.append(d)
    return kept


def _codes(text: str) -> set[str]:
    return {c.strip().upper() for c in text.split(",")}
