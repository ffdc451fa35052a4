"""A bounded run of the mutation fuzzer (fuzz/mutate.py); the long run is documented in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))

import mutate


def test_mutated_specs_give_diagnostics_never_crashes():
    tried, failures = mutate.run(count=400, seed=2024)
    assert tried == 400
    assert failures == [], failures[0][1]


def test_the_fuzzer_catches_a_crash(monkeypatch):
    """The harness itself can fail: an exception escaping lint_text is reported."""

    def boom(text, path):
        raise RuntimeError("boom")

    monkeypatch.setattr(mutate, "lint_text", boom)
    _, failures = mutate.run(count=3, seed=1)
    assert len(failures) == 3 and "RuntimeError: boom" in failures[0][1]


def test_cli_exit_codes_on_mutated_files(tmp_path):
    """Through the command line: only exit codes 0 and 1, and never a traceback."""
    import random

    rng = random.Random(7)
    texts = [p.read_text() for p in mutate.SPECS]
    files = []
    for n in range(25):
        text = texts[n % len(texts)]
        for _ in range(2):
            text = mutate.mutate(text, rng)
        path = tmp_path / f"m{n}.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        files.append(path)
    for path in files:
        result = subprocess.run([sys.executable, "-m", "archspec", "lint", str(path)], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode in (0, 1), (path.read_text(errors="replace"), result.stderr)
        assert "Traceback" not in result.stderr
