"""describe's table depth, CSV of several specs, and sizes that must carry a unit."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.render.table import grouped, rows

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True, cwd=ROOT)


def test_depth_0_folds_each_block_use_into_one_row_with_torchvisions_stage_figures():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet50(weights=None)
    report = archspec.analyze(archspec.load(SPECS / "resnet50.yaml"))
    table = {row.name: row for row in grouped(report, depth=0)}
    assert list(table) == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    for stage, blocks in (("layer1", 3), ("layer2", 4), ("layer3", 6), ("layer4", 3)):
        assert table[stage].params == sum(p.numel() for p in getattr(model, stage).parameters())
        assert table[stage].label == f"bottleneck ×{blocks}"
    # each stage's row shows the stage's output: 256×56×56 … 2048×7×7
    assert [rows(report, 0)[i][2] for i in (4, 7)] == ["256×56×56", "2048×7×7"]


def test_depth_1_shows_the_layers_of_each_block_and_no_depth_shows_everything():
    report = archspec.analyze(archspec.load(SPECS / "resnet18.yaml"))
    assert len(grouped(report, depth=1)) == len(report.layers) == len(grouped(report))
    assert len(grouped(report, depth=0)) == 4 + 4 + 3  # stem (conv, bn, relu, maxpool), 4 stages, head


def test_collapse_blocks_is_depth_0_on_the_command_line():
    out = cli("describe", str(SPECS / "resnet18.yaml"), "--collapse-blocks").stdout
    assert "layer1    basic ×2" in out and "layer1.0.conv1" not in out
    assert cli("describe", str(SPECS / "resnet18.yaml"), "--depth", "0").stdout == out


def test_csv_of_several_specs_has_one_header_and_a_spec_column():
    out = cli("describe", str(SPECS / "seed_cnn.yaml"), str(SPECS / "lenet5.yaml"), "--format", "csv")
    assert out.returncode == 0
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert out.stdout.count("spec,name,type") == 1
    by_spec = {r["spec"] for r in table}
    assert by_spec == {"seed-cnn", "lenet5"}
    assert [r["name"] for r in table if r["spec"] == "seed-cnn"][:2] == ["conv1", "relu1"]
    assert sum(int(r["params"]) for r in table if r["spec"] == "seed-cnn") == 20_898  # the seed's figure


def test_a_memory_budget_needs_a_unit():
    out = cli("describe", str(SPECS / "seed_cnn.yaml"), "--batch-size", "8", "--memory-budget", "16")
    assert out.returncode == 2
    assert "a size needs a unit: '16'" in out.stderr and "Traceback" not in out.stderr
    ok = cli("describe", str(SPECS / "seed_cnn.yaml"), "--batch-size", "8", "--memory-budget", "16GiB")
    assert ok.returncode == 0 and "Largest batch in 16.00 GiB" in ok.stdout
