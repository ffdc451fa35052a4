"""Helpers for tests that lint small spec texts."""

from __future__ import annotations

import textwrap

from archspec.errors import Diagnostic
from archspec.lint import lint_text

PATH = "spec.yaml"


def Y(text: str) -> str:
    """A spec text written indented in a test, as the file would hold it (line 1 = first line)."""
    return textwrap.dedent(text).lstrip("\n")


def lint(text: str, **kw) -> list[Diagnostic]:
    return lint_text(text, PATH, **kw)
