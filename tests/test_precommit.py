"""archspec as a pre-commit hook: the hook's definition, and lint skipping YAML files that are not specs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = "services:\n  web: {image: nginx}\n"  # a YAML file of another tool: lint alone would call it a broken spec
BROKEN = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n"


def test_the_hook_lints_yaml_files_and_skips_those_that_are_not_specs():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "archspec-lint" and hook["language"] == "python"
    assert hook["entry"].split() == ["archspec", "lint", "--specs-only"]
    assert [bool(re.search(hook["files"], name)) for name in ("net.yaml", "net.yml", "a/b.yaml", "net.json")] == [
        True,
        True,
        True,
        False,
    ]


def test_specs_only_skips_other_yaml_and_still_fails_a_broken_spec(tmp_path, capsys):
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE, encoding="utf-8")
    broken = tmp_path / "net.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    assert main(["lint", str(compose)]) == 1  # without the flag: E202, no `archspec:`
    assert "E202" in capsys.readouterr().out
    assert main(["lint", "--specs-only", str(compose)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["lint", "--specs-only", str(compose), str(broken)]) == 1
    out = capsys.readouterr().out
    assert "compose.yaml" not in out and f"{broken}:4:" in out and "E201" in out  # out_channel: a typo
    assert main(["lint", "--specs-only", str(ROOT / "specs" / "seed_cnn.yaml"), str(compose)]) == 0
