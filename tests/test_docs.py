"""The README documents every code archspec can emit and every lint rule."""

from __future__ import annotations

import re
from pathlib import Path

from archspec.codes import Code
from archspec.lint.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_codes() -> set[str]:
    return set(re.findall(r"^\| ([EWI]\d{3}) \|", README, re.MULTILINE))


def source_codes() -> set[str]:
    """Codes the source spells as ``Code.NAME`` (or still as a literal), outside the table itself."""
    codes = set()
    for path in (ROOT / "archspec").rglob("*.py"):
        if path.parent.name == "codes":
            continue
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r"\"([EWI]\d{3})\"", text))
        codes |= {Code[name].value for name in re.findall(r"\bCode\.([A-Z][A-Z0-9_]*)\b", text)}
    return codes


def test_every_emitted_code_is_in_the_readme_tables():
    assert source_codes() - readme_codes() == set()


def test_every_lint_rule_has_a_readme_row_with_its_name():
    for r in RULES:
        assert re.search(rf"^\| {r.code} \| {r.name} \|", README, re.MULTILINE), r.code


def test_readme_opens_with_the_two_commands():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./dev demo", "./dev test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci
