"""The command line explains itself: consistent options, defaults and an example in every command's help,
and install advice that works (the name `archspec` on the package index is another project)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_message_or_document_installs_archspec_from_the_package_index():
    """`pip install archspec[...]` would install conda's CPU-microarchitecture library, not this project."""
    wrong = re.compile(r"pip install\s+['\"]?archspec\b")
    files = [*sorted((ROOT / "archspec").rglob("*.py")), ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "dev"]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1) if wrong.search(line)
    ]
    assert offenders == []
