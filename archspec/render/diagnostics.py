"""Lint output: text (path:line:col: CODE message), JSON, GitHub Actions annotations and SARIF 2.1.0 (for
code scanning)."""

from __future__ import annotations

import json

from archspec.errors import Diagnostic


def to_text(diagnostics: list[Diagnostic]) -> str:
    return "".join(d.format() + "\n" for d in diagnostics)


def to_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([d.to_dict() for d in diagnostics], indent=2) + "\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def to_github(diagnostics: list[Diagnostic]) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for d in diagnostics:
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        props = f"file={d.path},line={d.line or 1},col={d.column or 1},title={d.code}"
        lines.append(f"::{level[d.severity.value]} {props}::{_escape(message)}")
    return "".join(line + "\n" for line in lines)


SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def to_sarif(diagnostics: list[Diagnostic]) -> str:
    """One SARIF 2.1.0 log with one run: each code that occurs as a rule (its summary, why it matters and the
    fix, from the code table, and a link to its section of the installed code page), each diagnostic as a
    result at its file, line and column."""
    from urllib.parse import quote

    from archspec import __version__
    from archspec.codes import lookup
    from archspec.codes.page import page_uri

    codes = sorted({d.code for d in diagnostics})
    rules = []
    for code in codes:
        info = lookup(code)
        rule: dict[str, object] = {"id": code}
        if info is not None:
            rule |= {
                "name": info.name,
                "shortDescription": {"text": info.summary},
                "fullDescription": {"text": info.why},
                "help": {"text": info.fix},
                "helpUri": page_uri(info.code.value),
                "defaultConfiguration": {"level": SARIF_LEVEL[info.severity.value]},
            }
        rules.append(rule)
    results = []
    for d in diagnostics:
        location: dict[str, object] = {"artifactLocation": {"uri": quote(d.path.replace("\\", "/"))}}
        if d.line:
            location["region"] = {"startLine": d.line, "startColumn": max(d.column, 1)}
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": codes.index(d.code),
                "level": SARIF_LEVEL[d.severity.value],
                "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
                "locations": [{"physicalLocation": location}],
            }
        )
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "archspec", "version": __version__, "rules": rules}}, "results": results}],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def summary(diagnostics: list[Diagnostic], files: int) -> str:
    counts = {s: sum(1 for d in diagnostics if d.severity.value == s) for s in ("error", "warning", "info")}
    if not diagnostics:
        return f"All clear: {files} file{'s' * (files != 1)} checked."
    parts = [f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items() if n]
    return f"Found {', '.join(parts)} in {files} file{'s' * (files != 1)}."


RENDERERS = {"text": to_text, "json": to_json, "github": to_github, "sarif": to_sarif}
