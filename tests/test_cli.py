"""The command line: formats, exit codes 0/1/2, stdout only for data, no torch on the static path."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"

BROKEN = """\
archspec: 1
input: [3, 32, 32]
layers:
  - {type: conv2d, name: a, out_channels: 8, kernal_size: 3, padding: 1}
  - {type: relu, name: r}
  - {type: conv2d, name: b, out_channels: 8, kernel_size: 3, stride: "2", padding: 1}
  - {type: conv2d, name: c, out_channels: 16, kernel_size: 3, stride: 2, padding: 1, inputs: input}
  - {type: add, name: sum, inputs: [a, c]}
"""


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_json_is_the_only_stdout(capsys):
    code, out, err = run(capsys, "describe", SPECS / "seed_cnn.yaml", "--format", "json")
    assert code == 0
    data = json.loads(out)  # nothing but the JSON object on stdout
    assert data["totals"]["params"] == 20898
    assert err == ""


def test_describe_text_lists_every_layer_and_totals(capsys):
    code, out, _ = run(capsys, "describe", SPECS / "seed_cnn.yaml")
    assert code == 0
    for name in ("conv1", "pool1", "conv2", "pool2", "flatten", "fc", "softmax"):
        assert name in out
    assert "20,898" in out and "4×64×64" in out and "757,760" in out


def test_describe_text_matches_golden(capsys, regen_golden):
    _, out, _ = run(capsys, "describe", SPECS / "seed_cnn.yaml")
    golden = GOLDEN / "seed_cnn.describe.txt"
    if regen_golden:
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8"), "run pytest --regen-golden after an intended change"


def test_describe_csv_and_markdown(capsys):
    _, out, _ = run(capsys, "describe", SPECS / "seed_cnn.yaml", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows][:2] == ["conv1", "relu1"]
    assert (
        rows[0]["params"] == "112"
        and rows[0]["rf_size"] == "3x3"
        and rows[0]["rf_padding"] == "1x1"
        and rows[-2]["macs"] == "20480"
    )
    _, out, _ = run(capsys, "describe", SPECS / "seed_cnn.yaml", "--format", "markdown")
    assert "| conv1 | conv 3×3 | 4×64×64 | 112 | 3 | 442,368 |" in out


def test_describe_several_specs_as_json_array(capsys):
    code, out, _ = run(capsys, "describe", SPECS / "seed_cnn.yaml", SPECS / "lenet5.yaml", "--format", "json")
    assert code == 0
    assert [d["totals"]["params"] for d in json.loads(out)] == [20898, 61706]


def test_describe_of_a_broken_spec_exits_1_with_diagnostics_on_stderr(capsys, tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    code, out, err = run(capsys, "describe", spec)
    assert code == 1 and out == ""
    assert f"{spec}:4:46: E201" in err


def test_lint_done_when_typo_wrong_type_and_shape_mismatch(capsys, tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    code, out, err = run(capsys, "lint", spec)
    assert code == 1
    lines = [line for line in out.splitlines() if not line.startswith("    ")]
    # columns counted by hand: the key `kernal_size` starts at column 46, the value "2" at 70 (line 6), `[a, c]` at 36 (line 8)
    assert lines[0] == f"{spec}:4:46: E201 layer `a`: unknown field `kernal_size` — did you mean `kernel_size`?"
    assert lines[1] == f"{spec}:6:70: E203 layer `b`: stride: expected an integer or a list of two integers [h, w], got '2'"
    assert lines[2].startswith(f"{spec}:8:36: E304 layer `sum`: add inputs disagree: `a` gives 8×32×32")
    assert "`c` gives 16×16×16" in lines[2]
    assert len(lines) == 3
    assert "Found 3 errors" in err


def test_lint_clean_spec_exits_0_and_strict_fails_on_warnings(capsys, tmp_path):
    spec = tmp_path / "warn.yaml"
    spec.write_text(
        "archspec: 1\ninput: [3, 3, 3]\nlayers:\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "  - {type: batchnorm2d}\n  - {type: relu}\n  - {type: globalavgpool2d}\n"
    )
    code, out, _ = run(capsys, "lint", spec)
    assert code == 0 and ": W401 " in out  # warnings alone pass
    code, _, _ = run(capsys, "lint", spec, "--strict")
    assert code == 1
    code, out, _ = run(capsys, "lint", spec, "--strict", "--ignore", "W401")
    assert code == 0 and "W401" not in out


def test_lint_json_and_github_formats(capsys, tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    code, out, err = run(capsys, "lint", spec, "--format", "json")
    found = json.loads(out)
    assert code == 1 and err == ""
    assert [(d["code"], d["line"], d["column"], d["severity"]) for d in found] == [
        ("E201", 4, 46, "error"),
        ("E203", 6, 70, "error"),
        ("E304", 8, 36, "error"),
    ]
    _, out, _ = run(capsys, "lint", spec, "--format", "github")
    assert out.splitlines()[0].startswith(f"::error file={spec},line=4,col=46,title=E201::")


def test_missing_file_is_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "lint", tmp_path / "nope.yaml")
    assert (code == 2 and "E100" in err) or "E100" in _
    code, _, err = run(capsys, "describe", tmp_path / "nope.yaml")
    assert code == 2 and "E100 cannot read file" in err


def test_usage_error_is_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["describe", "x.yaml", "--format", "xml"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_schema_command_prints_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"archspec", "input", "layers", "blocks"} <= set(schema["properties"])


def test_python_m_archspec_imports_no_torch():
    """The static path (spec, graph, analysis, renderers) must never import torch."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "archspec", "describe", str(SPECS / "resnet50.yaml"), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "archspec.analysis" in imported  # the measurement works
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    assert json.loads(result.stdout)["totals"]["params"] == 25_557_032


def test_console_script_lint_exit_codes(tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    ok = subprocess.run([sys.executable, "-m", "archspec", "lint", str(SPECS / "seed_cnn.yaml")], capture_output=True, text=True)
    bad = subprocess.run([sys.executable, "-m", "archspec", "lint", str(spec)], capture_output=True, text=True)
    assert (ok.returncode, bad.returncode) == (0, 1)
    assert "Traceback" not in bad.stderr + bad.stdout


def test_a_missing_extra_is_named_not_a_traceback(capsys, monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kw):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for module in [m for m in sys.modules if m.startswith("archspec.runtime")]:
        monkeypatch.delitem(sys.modules, module)
    assert main(["train", str(SPECS / "seed_cnn.yaml"), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "needs torch: pip install torch torchvision matplotlib (or `pip install -e '.[torch]'` in a clone" in err
    assert "Traceback" not in err and "archspec[" not in err
