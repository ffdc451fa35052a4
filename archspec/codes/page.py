"""``CODES.md``: one page of every diagnostic code, generated from ``archspec.codes.TABLE`` and shipped inside the
package, so that a link to a code opens offline, in the installed version's words.

Each code has a section under an anchor named by the code itself (``#E201``: codes are stable, rule names may
change) with what ``archspec explain`` prints of it. The language server links each diagnostic to its section
(``codeDescription``) and ``lint --format sarif`` each rule (``helpUri``). Regenerate the page after editing a
row of the table::

    python -m archspec.codes --write-page
"""

from __future__ import annotations

from pathlib import Path

from archspec.codes import TABLE, CodeInfo

PAGE = Path(__file__).resolve().with_name("CODES.md")

_HEAD = """\
# archspec diagnostic codes

<!-- generated from archspec.codes.TABLE; run `python -m archspec.codes --write-page` -->

What each code finds, why it matters, a spec that reports it and the fix: what `archspec explain CODE` prints.
E codes are errors (the spec cannot be used), W warnings and I information; the warnings and infos are lint rules,
silenced with `# noqa: CODE` on the line or `--ignore CODE`.
"""


def page_uri(code: str) -> str:
    """The ``file:`` URI of ``code``'s section of the installed page."""
    return f"{PAGE.as_uri()}#{code}"


def _yaml(text: str) -> list[str]:
    return ["```yaml", text.rstrip("\n"), "```"]


def _section(row: CodeInfo) -> list[str]:
    lines = [f'<a id="{row.code}"></a>', "", f"## {row.code} {row.name}", "", f"*{row.severity_note}*", "", row.summary]
    lines += ["", f"**Why it matters.** {row.why}"]
    if row.example is not None:
        lines += ["", "**Example:**", "", *_yaml(row.example)]
    lines += ["", f"**Fix.** {row.fix}"]
    if row.fixed is not None:
        lines += ["", *_yaml(row.fixed)]
    return lines


def code_page() -> str:
    """The whole page: a heading, then one section per code in the table's order."""
    lines = [_HEAD.rstrip("\n")]
    for row in TABLE.values():
        lines += ["", *_section(row)]
    return "\n".join(lines) + "\n"
