"""Marked sections of bench/RESULTS.md: a script that measures one thing rewrites its own section, between its
markers, and leaves the rest of the file as it is (bench/run.py keeps them when it rewrites the whole file)."""

from __future__ import annotations

from pathlib import Path


def write_section(section: str, path: Path, begin: str, end: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the old one in ``path``, or
    append it the first time."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.write_text(text, encoding="utf-8")
