"""The page of every diagnostic code (archspec/codes/CODES.md): generated from the code table and kept in sync
with it, one anchored section per code with what `archspec explain` prints, shipped as package data so that the
links diagnostics carry (the language server's codeDescription, SARIF's helpUri) open offline."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import pytest

from archspec.codes import TABLE
from archspec.codes import __main__ as codes_main
from archspec.codes.page import PAGE, code_page, page_uri

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = re.compile(r'^<a id="([^"]+)"></a>$', re.MULTILINE)


def linked_section(href: str) -> str:
    """The section of the page a link opens: the link must name an existing file, and the text from the anchor its
    fragment names to the next anchor is returned."""
    url = urlparse(href)
    assert url.scheme == "file" and url.fragment, href
    path = Path(url2pathname(unquote(url.path)))
    assert path.is_file(), f"{href} names no file"
    text = path.read_text(encoding="utf-8")
    starts = [(m.group(1), m.start()) for m in ANCHOR.finditer(text)]
    for n, (anchor, start) in enumerate(starts):
        if anchor == url.fragment:
            return text[start : starts[n + 1][1] if n + 1 < len(starts) else len(text)]
    raise AssertionError(f"{path.name} has no anchor `{url.fragment}`")


def test_the_page_is_generated_from_the_table():
    assert PAGE.read_text(encoding="utf-8") == code_page(), "run `python -m archspec.codes --write-page`"


def test_each_code_has_one_anchored_section_with_what_explain_says():
    assert ANCHOR.findall(code_page()) == [code.value for code in TABLE]
    for code, row in TABLE.items():
        section = linked_section(page_uri(code.value))
        assert section.splitlines()[2] == f"## {code.value} {row.name}"
        for text in (row.summary, row.why, row.fix, row.example, row.fixed):
            if text is not None:
                assert text.rstrip("\n") in section, (code, text)
        # the lint rules say how they are silenced; errors cannot be
        assert ("# noqa: " + code.value in section) == row.lint_rule


def test_check_page_fails_on_a_stale_page_and_write_page_mends_it(tmp_path, monkeypatch, capsys):
    page = tmp_path / "CODES.md"
    monkeypatch.setattr(codes_main, "PAGE", page)
    assert codes_main.main(["--check-page"]) == 1  # no page at all
    assert codes_main.main(["--write-page"]) == 0 and page.read_text(encoding="utf-8") == code_page()
    assert codes_main.main(["--check-page"]) == 0
    page.write_text(code_page().replace("## E201 unknown-field", "## E201 unknown-feld"), encoding="utf-8")
    assert codes_main.main(["--check-page"]) == 1
    assert "--write-page" in capsys.readouterr().err


def test_the_page_is_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["archspec"]
    relative = PAGE.relative_to(ROOT / "archspec").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), patterns
