"""The benchmark suite runs (tiny sizes). Timings are reported by bench/run.py, never asserted here."""

from __future__ import annotations

import importlib.util
import json
import os
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


def test_gpu_bench_smoke_runs_every_path_on_the_cpu(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# results\n\nthe CPU rows\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# results\n\nthe CPU rows\n")  # the rest of the file is kept
    section = text[text.index("<!-- gpu:begin") : text.index("<!-- gpu:end -->")]
    for row in ("| resnet18 32², fp32, channels_last, eager | 4 |", "| seed_cnn | 8 |", "| lenet5 | 8 |"):
        assert row in section, row
    for phrase in ("through `archspec train`", "Moonshot", "test accuracy", "DDP over 2 CPU processes"):
        assert phrase in section, phrase
    data = json.loads(out.with_suffix(".json").read_text())["gpu"]
    assert data["smoke"] and data["device"] == "cpu"
    assert data["resnet"][0]["archspec"] > 0 and data["resnet"][0]["torchvision"] > 0
    assert data["data_paths"]["in_memory"] > 0 and data["data_paths"]["dataloader"] > 0
    assert data["moonshot"]["images"] == 512 and 0 <= data["moonshot"]["test_acc"] <= 1
    assert data["memory"][0]["estimate"] > 0 and data["memory"][0]["measured"] is None  # no CUDA allocator here
    assert data["ddp"]["world"] == 2 and data["ddp"]["many"] > 0
    # writing again replaces its own section and nothing else
    gpu = _gpu_module()
    gpu.write_section(f"{gpu.BEGIN}\nnew figures\n{gpu.END}\n", out, gpu.BEGIN, gpu.END)
    text = out.read_text()
    assert text.startswith("# results\n\nthe CPU rows\n") and text.count("<!-- gpu:begin") == 1
    assert "new figures" in text and "Moonshot" not in text


def _gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_peak_table_reads_device_names():
    gpu = _gpu_module()
    assert gpu.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4  # SXM
    assert gpu.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu.peak_tflops("NVIDIA H200") == 989.4
    assert gpu.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu.peak_tflops("NVIDIA L40S") == 362.1  # not taken for an L4
    assert gpu.peak_tflops("NVIDIA L4") == 121.0
    assert gpu.peak_tflops("Some Future Accelerator") is None


def test_lint_imports_only_what_it_needs():
    """The command line defines only the subcommand it runs: lint loads neither torch nor the other commands' renderers."""
    script = (
        "import sys\nfrom archspec.cli import main\ncode = main(['lint', 'specs/seed_cnn.yaml'])\n"
        "print(code, *sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'archspec')))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    code, *modules = result.stdout.split("\n")[-2].split()
    assert code == "0", result.stderr
    assert "archspec.lint" in modules  # the list is real
    for heavy in ("torch", "archspec.render.diagram", "archspec.render.table", "archspec.runtime"):
        assert heavy not in modules, heavy


def test_startup_bench_smoke(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "startup.py"), "--smoke", "--write", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "ARCHSPEC_CACHE_DIR": str(tmp_path / "unused")},  # the script makes its own cache folder
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert "<!-- startup:begin" in text and "<!-- startup:end -->" in text
    data = json.loads(out.with_suffix(".json").read_text())["startup"]
    first = data["first_step"]
    assert first["train_size"] == 256 and first["cold"] > 0 and first["warm"]["median"] > 0
    assert data["lint"]["imports_torch"] is False and "archspec.lint" in data["lint"]["archspec_modules"]
    assert "archspec.render.diagram" not in data["lint"]["archspec_modules"]
    assert data["analyse"]["compose"]["median"] > 0 and data["analyse"]["profile"]
    assert not (tmp_path / "unused").exists()  # the user's cache setting was not used
