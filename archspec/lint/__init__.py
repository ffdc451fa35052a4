"""``archspec lint``: validation, shape checks and the lint rules, with suppression comments.

Suppress a warning or info on its line (or on the first line of its layer) with
``# noqa: W401`` (``# noqa`` alone silences every code there), or in the whole
file with a line ``# archspec: noqa: W404``. Errors cannot be suppressed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from archspec.analysis import LayerInfo, Report, reanalyse, run_analysis
from archspec.codes import Code
from archspec.errors import Diagnostic, SpecError, one_per_place
from archspec.graph import layer_mark, spliced
from archspec.lint.rules import RULES, Finding, Rule
from archspec.spec import Spec, no_gc, parse_spec, read_text
from archspec.spec.patch import patch_spec
from archspec.spec.splice import splice_spec

__all__ = ["RULES", "Linted", "Rule", "lint_analysis", "lint_file", "lint_state", "lint_text"]

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
    linted = lint_state(text, path, select=select, ignore=ignore)
    return linted.diagnostics, linted.spec, linted.report


@dataclass(frozen=True)
class Linted:
    """One text's lint, kept whole so that the next version of the text can be linted from it."""

    text: str
    path: str
    diagnostics: list[Diagnostic]
    spec: Spec | None
    report: Report | None
    parsed: list[Diagnostic]  # what reading the text found (parse_spec), before the analysis and the rules
    select: AbstractSet[str] | None
    ignore: AbstractSet[str]
    found: dict[str, list[Diagnostic]] = field(default_factory=dict)  # each rule run: its findings, unsuppressed
    patched: bool = False  # linted from the previous version's (one layer read and analysed again)


def lint_state(
    text: str,
    path: str = "<string>",
    *,
    select: AbstractSet[str] | None = None,
    ignore: AbstractSet[str] = frozenset(),
    previous: Linted | None = None,
) -> Linted:
    """Everything lint knows of a text. Given the lint of the text's previous version, an edit inside one layer
    is read by patching that lint's spec and re-analysing downstream of the layer (spec.patch,
    analysis.reanalyse), which gives what reading the text whole gives; any other edit reads it whole."""
    if previous is not None and (previous.path, previous.select, previous.ignore) == (path, select, ignore):
        with no_gc():
            done = _patched(previous, text)
        if done is not None:
            return _linted(text, path, done[0], done[1], done[2], select, ignore, done[3], patched=True)
    spec, parsed = parse_spec(text, path)
    report = None
    if spec is not None and spec.input_shape and spec.output:
        report = _analysed_again(previous, spec) or run_analysis(spec)
    again = previous if previous is not None and report is not None and _same_places(previous, report) else None
    return _linted(text, path, spec, parsed, report, select, ignore, again)


def _same_places(previous: Linted, report: Report) -> bool:
    """Was ``report`` resumed from the previous analysis, with every layer written where it was (so the
    previous findings stand where nothing was analysed again)?"""
    before = previous.spec
    if before is None or previous.report is None or report.graph is not previous.report.graph:
        return False
    now = report.spec.source
    return all(
        (data.mark, data.key_marks, data.value_marks) == (now[name].mark, now[name].key_marks, now[name].value_marks)
        for name, data in before.source.items()
    )


def _analysed_again(previous: Linted | None, spec: Spec) -> Report | None:
    """The analysis of a spec read whole, resumed from the previous version's when both have the same layers
    with the same inputs (an edit of values, inside a block say): only the layers whose fields changed, and
    downstream as far as that reaches, are analysed again. None when the wiring differs."""
    before = previous.spec if previous is not None else None
    report = previous.report if previous is not None else None
    if before is None or report is None or any(d.code == Code.CYCLIC_REFERENCE for d in report.diagnostics):
        return None
    same = (before.output, before.unparsed, before.block_of) == (spec.output, spec.unparsed, spec.block_of)
    if not same or len(before.layers) != len(spec.layers):
        return None
    changed = set()
    for old, new in zip(before.layers, spec.layers, strict=True):
        if old.name != new.name or old.inputs != new.inputs:
            return None
        if old != new or old.model_fields_set != new.model_fields_set:  # (which fields were written: lint reads it)
            changed.add(new.name or "")
    return reanalyse(report, spec, changed)


def _patched(previous: Linted, text: str) -> tuple[Spec, list[Diagnostic], Report, Linted] | None:
    """(spec, parse diagnostics, analysis, the previous lint with its findings where the new text has them)."""
    report = previous.report
    if previous.spec is None or report is None or any(d.code == Code.CYCLIC_REFERENCE for d in report.diagnostics):
        return None  # (a cycle's diagnostic belongs to no layer's analysis)
    patch = patch_spec(previous.spec, previous.parsed, text)
    if patch is not None:
        return patch.spec, patch.diagnostics, reanalyse(report, patch.spec, patch.changed), previous
    splice = splice_spec(previous.spec, previous.parsed, text)
    if splice is None:
        return None
    added = [layer for layer in splice.spec.layers if layer.name in set(splice.added)]
    wiring = spliced(report.graph, [info.name for info in report.layers], splice.removed, added, splice.rewired)
    if wiring is None:
        return None
    changed = {*splice.added, *([splice.rewired[0]] if splice.rewired else [])}
    gone = set(splice.removed)
    found = {
        code: [_moved(d, splice.after, splice.moved) for d in findings if d.layer not in gone]
        for code, findings in previous.found.items()
    }
    moved = dataclasses.replace(previous, found=found)
    return splice.spec, splice.diagnostics, reanalyse(report, splice.spec, changed, wiring), moved


def _moved(d: Diagnostic, first: int, lines: int) -> Diagnostic:
    return dataclasses.replace(d, line=d.line + lines) if d.line >= first else d


def _linted(
    text: str,
    path: str,
    spec: Spec | None,
    parsed: list[Diagnostic],
    report: Report | None,
    select: AbstractSet[str] | None,
    ignore: AbstractSet[str],
    previous: Linted | None = None,  # the lint of the text before, whose findings stand where nothing changed
    patched: bool = False,
) -> Linted:
    diagnostics = parsed
    found: dict[str, list[Diagnostic]] = {}
    if spec is not None and report is not None:
        diagnostics = diagnostics + report.diagnostics
        complete = not any(d.severity.value == "error" for d in diagnostics)
        again = None  # the layers to judge again, when the others' findings stand
        if previous is not None and previous.report is not None and len(previous.report.input_shape) == len(report.input_shape):
            again = _touched(previous.report, report)  # (a rule on one layer reads the input's rank, or reads the input)
        for rule in RULES:
            if _wanted(rule.code, select, ignore) and (complete or not rule.whole):
                before = previous.found.get(rule.code) if previous is not None else None
                graph = previous.report.graph if previous is not None and previous.report is not None else None
                found[rule.code] = _findings(rule, report, spec, before, again, graph)
                diagnostics = diagnostics + _shown(found[rule.code], spec)
    kept = _unsuppressed(diagnostics, text, spec)
    kept = [d for d in kept if d.severity.value == "error" or _wanted(d.code, select, ignore)]
    in_block = (lambda name: bool(spec.block_of.get(name))) if spec is not None else (lambda name: False)
    shown = one_per_place(sorted(set(kept), key=Diagnostic.sort_key), in_block)
    return Linted(text, path, shown, spec, report, parsed, select, ignore, found, patched)


def _touched(before: Report, after: Report) -> list[LayerInfo]:
    """The layers a rule reading one layer must judge again after a patch: those analysed again, and the
    layers next to them (a finding on a layer reads its inputs and its readers)."""
    kept = {id(info) for info in before.layers}
    names = {info.name for info in after.layers if id(info) not in kept}
    for name in list(names):
        names.update(after.graph.predecessors(name), after.graph.successors(name))
    return [info for info in after.layers if info.name in names]


def _wanted(code: str, select: AbstractSet[str] | None, ignore: AbstractSet[str]) -> bool:
    def matches(codes: Iterable[str]) -> bool:  # "W4" selects W401..W499, like ruff prefixes
        return any(code.startswith(c) for c in codes)

    return (select is None or matches(select)) and not matches(ignore)


def _findings(
    rule: Rule,
    report: Report,
    spec: Spec,
    before: list[Diagnostic] | None,
    again: list[LayerInfo] | None,
    previous_graph: Any = None,
) -> list[Diagnostic]:
    """A rule's findings, with those of the previous version of the text where they cannot have changed: all
    of them for a rule that reads the graph's wiring alone, those on layers not judged again for a rule
    reading one layer."""
    if before is not None and again is not None and rule.reads != "network":
        if rule.reads == "graph":
            return before if report.graph is previous_graph else _positioned(rule, spec, rule.check(report))
        names = {info.name for info in again}
        return [d for d in before if d.layer not in names] + _positioned(rule, spec, rule.check_layers(report, again))
    return _positioned(rule, spec, rule.check(report))


def _positioned(rule: Rule, spec: Spec, findings: Iterable[Finding]) -> list[Diagnostic]:
    out = []
    for layer, field_name, message, hint in findings:
        mark = layer_mark(spec, layer, field_name)
        out.append(Diagnostic(rule.code, message, spec.path, mark.line, mark.column, hint, layer=layer))
    return out


def _shown(findings: list[Diagnostic], spec: Spec) -> list[Diagnostic]:
    """Findings but those judged on a guessed repair of an invalid layer: the error already says what is wrong."""
    if not spec.repaired:
        return findings
    internal = [f"`{name}`" for name in spec.repaired if "@" in name]  # renamed duplicates: no name a user wrote
    return [d for d in findings if d.layer not in spec.repaired and not any(name in d.message for name in internal)]


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
