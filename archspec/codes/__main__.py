"""``python -m archspec.codes``: the README's code tables, generated from ``archspec.codes.TABLE``.

With no option, print them; ``--write-readme README.md`` rewrites the part between
the markers; ``--check README.md`` exits 1 when that part is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archspec.codes import readme_tables, update_readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archspec.codes", description="The README's code tables, from the code table."
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write-readme", metavar="README", help="rewrite the tables between the markers in this file")
    group.add_argument("--check", metavar="README", help="exit 1 if this file's tables differ from the generated ones")
    args = parser.parse_args(argv)
    if not (args.write_readme or args.check):
        sys.stdout.write(readme_tables())
        return 0
    path = Path(args.write_readme or args.check)
    text = path.read_text(encoding="utf-8")
    new = update_readme(text)
    if args.check:
        if new != text:
            print(
                f"{path}: the code tables are out of date; run `python -m archspec.codes --write-readme {path}`", file=sys.stderr
            )
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"rewrote the code tables in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
