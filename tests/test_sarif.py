"""`archspec lint --format sarif`: a SARIF 2.1.0 log for code scanning, checked against the standard's required
structure (written out here from the SARIF 2.1.0 specification: version, runs, tool.driver, results with a
message, rule ids and indexes that point at the driver's rules, 1-based regions)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent

TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
REQUIRED = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "rules": {"type": "array", "items": {"type": "object", "required": ["id"]}},
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "message": TEXT,
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {"uri": {"type": "string"}},
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1},
                                                            "startColumn": {"type": "integer", "minimum": 1},
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_lint_writes_a_sarif_log_with_each_finding_at_its_place(capsys, tmp_path):
    spec = tmp_path / "my net.yaml"  # a space: the uri is percent-encoded
    spec.write_text(
        "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n"
        "  - {type: flatten}\n  - {type: linear, out_features: 2}\n",
        encoding="utf-8",
    )
    assert main(["lint", "--format", "sarif", str(spec), str(ROOT / "specs" / "seed_cnn.yaml")]) == 1
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, REQUIRED)
    (run,) = log["runs"]
    rules, results = run["tool"]["driver"]["rules"], run["results"]
    assert run["tool"]["driver"]["name"] == "archspec"
    assert [r["id"] for r in rules] == ["E201", "I501", "I502", "I503", "W405"]  # each code that occurs, once
    assert rules[0]["name"] == "unknown-field" and rules[0]["defaultConfiguration"]["level"] == "error"
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    typo = results[0]
    assert typo["ruleId"] == "E201" and typo["level"] == "error" and "out_channel" in typo["message"]["text"]
    where = typo["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"].endswith("my%20net.yaml")
    assert where["region"] == {"startLine": 4, "startColumn": 20}  # the misspelt key: `  - {type: conv2d, ` is 19 characters
    assert {r["level"] for r in results if r["ruleId"].startswith("I")} == {"note"}
    assert [r["level"] for r in results if r["ruleId"] == "W405"] == ["warning"]  # the conv and linear with nothing between


def test_a_clean_run_is_an_empty_sarif_log(capsys):
    assert main(["lint", "--format", "sarif", "--ignore", "I5", str(ROOT / "specs" / "seed_cnn.yaml")]) == 0
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, REQUIRED)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
