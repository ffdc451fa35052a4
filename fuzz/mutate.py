"""A mutation fuzzer for the spec loader and linter: every input must give diagnostics or a clean result.

    .venv/bin/python fuzz/mutate.py --count 100000 [--seed 1]     # the long run (progress on stderr)

It mutates every bundled spec (deleted, duplicated and swapped lines; swapped, huge, negative, float and
wrong-typed values; hostile ${...} expressions; random bytes; unicode; tabs; a BOM; CRLF; YAML tags,
anchors and aliases; truncation; the empty file) and feeds each result to ``lint_text``. A failure is an exception escaping it, a run longer
than the time limit, or an error diagnostic without a position. The CI runs a bounded number
(tests/test_fuzz.py); failures are written to fuzz/failures/ to be turned into tests.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archspec.lint import lint_text  # noqa: E402

SPECS = sorted((ROOT / "specs").glob("*.yaml"))
VALUES = [
    "0", "-1", "-999999999999", "1e309", "nan", ".inf", "1.5", "10**12", "999999999999999999999999", "true", "null", "~", "''",
    '"3"', "[]", "{}", "[1, 2, 3]", "[[1]]", "{a: 1}", "!!python/object/apply:os.system ['echo x']", "!custom 1", "*nope",
    "&a 1", "\u00e9\u00e8", "\U0001f600", "\x00", "same", "valid", "depthwise", "$nope", "input", "conv2d", "\t3",
    '"${in.channels * 2}"', '"${1 // 0}"', '"${3 / 2}"', '"${__import__(1)}"', '"${in.shape[9]}"', "${-1}", '"${(((1}"',
    '"${make_divisible(in.channels, 0)}"', '"${nope + in.size}"', '"${in.size // 2 - 1}"', '"${' + "9" * 60 + '}"',
]  # fmt: skip
TIME_LIMIT_S = 60  # a guard against hangs and blow-ups (an alias bomb), not a speed claim: loaded CI machines are slow


class TimedOut(Exception):
    pass


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    kind = rng.randrange(14)
    if kind == 0 and lines:  # delete lines
        del lines[rng.randrange(len(lines))]
    elif kind == 1 and lines:  # duplicate a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == 2 and len(lines) > 1:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind in (3, 4, 5):  # replace a value after a colon
        i = rng.randrange(len(lines))
        parts = lines[i].split(": ")
        if len(parts) > 1:
            k = rng.randrange(1, len(parts))
            tail = parts[k].split(",", 1)
            tail[0] = rng.choice(VALUES) + ("}" if tail[0].rstrip().endswith("}") and rng.random() < 0.5 else "")
            parts[k] = ",".join(tail)
            lines[i] = ": ".join(parts)
    elif kind == 6:  # random bytes, read as text the way a file of garbage would be
        i = rng.randrange(len(lines))
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))).decode("latin-1")
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + junk + lines[i][pos:]
    elif kind == 7:  # indentation: tabs or shifts
        i = rng.randrange(len(lines))
        lines[i] = rng.choice(["\t", " ", "   ", ""]) + lines[i].lstrip(" ")
    elif kind == 8:
        return "\ufeff" + text if rng.random() < 0.5 else text.replace("\n", "\r\n")
    elif kind == 9:  # truncate
        return text[: rng.randrange(len(text) + 1)]
    elif kind == 10:
        return rng.choice(["", " ", "\n", "---\n", "...", "- 1\n", "a", "archspec: 1\n", "null", "[", "{", "&a [*a]"])
    elif kind == 11:  # an anchor and aliases (a small bomb now and then)
        n = rng.randrange(1, 9)
        bomb = "x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"x{k}: &x{k} [*x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}, *x{k - 1}]\n"
            for k in range(1, n)
        )
        return bomb + text
    elif kind == 12:  # unicode in names
        return text.replace("name: ", "name: " + rng.choice(["\u00fc", "\u4e2d", "\U0001f600", "a\u200bb", "\u202e"]), 1)
    else:  # deep nesting
        depth = rng.randrange(10, 200)
        return text + "\nextra: " + "[" * depth + "]" * depth + "\n"
    return "\n".join(lines)


def check(text: str) -> str | None:
    """None when the input is handled well, else what went wrong."""

    def alarm(signum, frame):
        raise TimedOut()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        found = lint_text(text, "fuzz.yaml")
    except TimedOut:
        return f"took longer than {TIME_LIMIT_S} s"
    except Exception:
        return traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for d in found:
        if d.severity.value == "error" and d.line < 1:
            return f"error without a position: {d.format()}"
    return None


def run(count: int, seed: int, save: Path | None = None, progress: bool = False) -> tuple[int, list[tuple[str, str]]]:
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8") for p in SPECS]
    failures = []
    start = time.time()
    for n in range(1, count + 1):
        text = rng.choice(texts)
        for _ in range(rng.randrange(1, 4)):  # one to three mutations in a row
            text = mutate(text, rng)
        problem = check(text)
        if problem:
            failures.append((text, problem))
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"failure-{seed}-{n}.yaml").write_text(
                    text + "\n# " + problem.replace("\n", "\n# "), encoding="utf-8", errors="surrogateescape"
                )
        if progress and n % 1000 == 0:
            print(f"{n:,} inputs, {len(failures)} failures, {time.time() - start:.0f} s", file=sys.stderr)
    return count, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tried, failures = run(args.count, args.seed, ROOT / "fuzz" / "failures", progress=True)
    print(f"{tried:,} inputs tried, {len(failures)} failures (seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
