"""The benchmark suite runs (tiny sizes). Timings are reported by bench/run.py, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke(tmp_path):
    pytest.importorskip("torchinfo")
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    for section in (
        "Static analysis against peers",
        "Whole process",
        "Scaling",
        "A training step",
        "Training loop overhead",
        "Memory model",
    ):
        assert f"## {section}" in text
    assert "the archspec process imports torch: no" in text  # the static path stays torch-free
    for row in ("| seed_cnn |", "| vit_small |", "| vit_small, attention dropout 0.1 |"):  # both attention paths
        line = next(line for line in text.splitlines() if line.startswith(row))
        assert "—" not in line, line  # measured, with an estimate and a ratio
