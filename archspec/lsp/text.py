"""Positions: archspec's marks are 1-based lines and code-point columns, the protocol's 0-based lines and
UTF-16 columns (its default encoding)."""

from __future__ import annotations

import re

from lsprotocol import types

# a layer name or reference as written: names with dots (layer1.0.conv1), a part (split:1), a `$param`
_WORD = re.compile(r"[\w.\-:$]+")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position(lines: list[str], line: int, column: int) -> types.Position:
    """The protocol's position of a 1-based mark (line 0 stands for the first line)."""
    row = max(line, 1) - 1
    text = lines[row] if row < len(lines) else ""
    return types.Position(row, _utf16(text[: max(column, 1) - 1]))


def line_end(lines: list[str], line: int) -> types.Position:
    row = max(line, 1) - 1
    return types.Position(row, _utf16(lines[row]) if row < len(lines) else 0)


def mark_at(lines: list[str], pos: types.Position) -> tuple[int, int]:
    """The 1-based (line, column) of a protocol position."""
    text = lines[pos.line] if pos.line < len(lines) else ""
    units, column = 0, 0
    while column < len(text) and units < pos.character:
        units += _utf16(text[column])
        column += 1
    return pos.line + 1, column + 1


def word_at(lines: list[str], line: int, column: int) -> tuple[str, int, int] | None:
    """The name under a 1-based mark, with its first and past-the-end columns (1-based); a key's colon left out."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    for m in _WORD.finditer(text):
        if m.start() <= column - 1 <= m.end():  # on the word or just after it
            word = m.group().rstrip(":")
            if word:
                return word, m.start() + 1, m.start() + 1 + len(word)
    return None


def span(lines: list[str], line: int, column: int) -> types.Range:
    """The range a diagnostic underlines: the word at its mark, or the rest of the line."""
    if line <= 0:
        return types.Range(types.Position(0, 0), line_end(lines, 1))
    word = word_at(lines, line, column)
    if word is not None and word[1] == column:
        return types.Range(position(lines, line, column), position(lines, line, word[2]))
    start = position(lines, line, column)
    end = line_end(lines, line)
    return types.Range(start, end if end.character > start.character else types.Position(start.line, start.character + 1))


def whole_lines(lines: list[str], first: int, last: int) -> types.Range:
    return types.Range(types.Position(max(first, 1) - 1, 0), line_end(lines, last))
