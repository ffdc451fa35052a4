"""``python -m archspec.codes``: the README's code tables and the code page, generated from ``archspec.codes.TABLE``.

With no option, print the tables; ``--write-readme README.md`` rewrites the part between
the markers; ``--check README.md`` exits 1 when that part is out of date. ``--write-page``
rewrites the page of every code shipped in the package (``archspec/codes/CODES.md``),
``--check-page`` exits 1 when it is out of date; they combine with the README's options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archspec.codes import readme_tables, update_readme
from archspec.codes.page import PAGE, code_page


def _page(write: bool) -> int:
    new = code_page()
    old = PAGE.read_text(encoding="utf-8") if PAGE.exists() else None
    if new == old:
        return 0
    if not write:
        print(f"{PAGE.name}: the code page is out of date; run `python -m archspec.codes --write-page`", file=sys.stderr)
        return 1
    PAGE.write_text(new, encoding="utf-8")
    print(f"rewrote {PAGE}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archspec.codes", description="The README's code tables and the code page, from the code table."
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write-readme", metavar="README", help="rewrite the tables between the markers in this file")
    group.add_argument("--check", metavar="README", help="exit 1 if this file's tables differ from the generated ones")
    page = parser.add_mutually_exclusive_group()
    page.add_argument("--write-page", action="store_true", help=f"rewrite the page of every code ({PAGE.name})")
    page.add_argument("--check-page", action="store_true", help=f"exit 1 if {PAGE.name} differs from the generated page")
    args = parser.parse_args(argv)
    status = _page(args.write_page) if args.write_page or args.check_page else 0
    if not (args.write_readme or args.check):
        if not (args.write_page or args.check_page):
            sys.stdout.write(readme_tables())
        return status
    path = Path(args.write_readme or args.check)
    text = path.read_text(encoding="utf-8")
    new = update_readme(text)
    if args.check:
        if new != text:
            print(
                f"{path}: the code tables are out of date; run `python -m archspec.codes --write-readme {path}`", file=sys.stderr
            )
            return 1
        return status
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"rewrote the code tables in {path}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
