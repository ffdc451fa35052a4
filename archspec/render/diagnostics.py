"""Lint output: text (path:line:col: CODE message), JSON and GitHub Actions annotations."""

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


def summary(diagnostics: list[Diagnostic], files: int) -> str:
    counts = {s: sum(1 for d in diagnostics if d.severity.value == s) for s in ("error", "warning", "info")}
    if not diagnostics:
        return f"All clear: {files} file{'s' * (files != 1)} checked."
    parts = [f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items() if n]
    return f"Found {', '.join(parts)} in {files} file{'s' * (files != 1)}."


RENDERERS = {"text": to_text, "json": to_json, "github": to_github}
