"""`archspec lint --format sarif`: a SARIF 2.1.0 log for code scanning, validated against the standard's schema
with pydantic-sarif (models generated from the official sarif-schema-2.1.0.json: required properties, levels,
1-based regions, and no property the schema does not define), plus what the schema cannot say: each result's
rule index points at its rule, each message has text, each rule links to its section of the code page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_sarif")

from pydantic import ValidationError
from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as SarifLog
from test_code_page import linked_section

from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
TYPO = (
    "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n"
    "  - {type: flatten}\n  - {type: linear, out_features: 2}\n"
)


def validated(text: str) -> dict[str, Any]:
    """The log, once the schema's models accept it; strict: a number written as a string is refused too."""
    SarifLog.model_validate_json(text, strict=True)
    log: dict[str, Any] = json.loads(text)
    for run in log["runs"]:
        rules = run["tool"]["driver"]["rules"]
        for result in run["results"]:
            assert result["message"]["text"]  # the schema asks for text or an id; the codegen's models lose that
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    return log


def lint_sarif(capsys, tmp_path) -> str:
    spec = tmp_path / "my net.yaml"  # a space: the uri is percent-encoded
    spec.write_text(TYPO, encoding="utf-8")
    assert main(["lint", "--format", "sarif", str(spec), str(ROOT / "specs" / "seed_cnn.yaml")]) == 1
    return capsys.readouterr().out


def test_lint_writes_a_sarif_log_with_each_finding_at_its_place(capsys, tmp_path):
    log = validated(lint_sarif(capsys, tmp_path))
    (run,) = log["runs"]
    rules, results = run["tool"]["driver"]["rules"], run["results"]
    assert run["tool"]["driver"]["name"] == "archspec"
    assert [r["id"] for r in rules] == ["E201", "I501", "I502", "I503", "W405"]  # each code that occurs, once
    assert rules[0]["name"] == "unknown-field" and rules[0]["defaultConfiguration"]["level"] == "error"
    typo = results[0]
    assert typo["ruleId"] == "E201" and typo["level"] == "error" and "out_channel" in typo["message"]["text"]
    where = typo["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"].endswith("my%20net.yaml")
    assert where["region"] == {"startLine": 4, "startColumn": 20}  # the misspelt key: `  - {type: conv2d, ` is 19 characters
    assert {r["level"] for r in results if r["ruleId"].startswith("I")} == {"note"}
    assert [r["level"] for r in results if r["ruleId"] == "W405"] == ["warning"]  # the conv and linear with nothing between


def test_each_rule_links_to_its_section_of_the_code_page(capsys, tmp_path):
    rules = validated(lint_sarif(capsys, tmp_path))["runs"][0]["tool"]["driver"]["rules"]
    for rule in rules:
        section = linked_section(rule["helpUri"])
        assert f"## {rule['id']} {rule['name']}" in section and rule["help"]["text"] in section


def _set(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def corrupt(log: dict[str, Any]) -> None:
        node: Any = log
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return corrupt


def _rename(path: tuple[str | int, ...], old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def corrupt(log: dict[str, Any]) -> None:
        node: Any = log
        for key in path:
            node = node[key]
        node[new] = node.pop(old)

    return corrupt


RESULT: tuple[str | int, ...] = ("runs", 0, "results", 0)
RULE: tuple[str | int, ...] = ("runs", 0, "tool", "driver", "rules", 0)
CORRUPTIONS = {
    "a level SARIF does not have": (_set((*RESULT, "level"), "info"), "level"),
    "a misspelt rule property": (_rename(RULE, "shortDescription", "shortDescripton"), "shortDescripton"),
    "a property results do not have": (_set((*RESULT, "severity"), "error"), "severity"),
    "a 0-based line": (_set((*RESULT, "locations", 0, "physicalLocation", "region", "startLine"), 0), "startLine"),
    "a line written as a string": (_set((*RESULT, "locations", 0, "physicalLocation", "region", "startLine"), "4"), "startLine"),
    "another version": (_set(("version",), "2.1"), "version"),
    "a rule without its id": (_rename(RULE, "id", "ident"), "id"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_the_schema_refuses_a_corrupted_copy_of_the_log(capsys, tmp_path, corruption):
    """The validation has teeth: each corrupted copy of a log it accepts is refused, at the corrupted property."""
    text = lint_sarif(capsys, tmp_path)
    validated(text)
    corrupt, where = CORRUPTIONS[corruption]
    log = json.loads(text)
    corrupt(log)
    with pytest.raises(ValidationError) as refused:
        SarifLog.model_validate_json(json.dumps(log), strict=True)
    assert any(where in error["loc"] for error in refused.value.errors()), refused.value


def test_a_clean_run_is_an_empty_sarif_log(capsys):
    assert main(["lint", "--format", "sarif", "--ignore", "I5", str(ROOT / "specs" / "seed_cnn.yaml")]) == 0
    log = validated(capsys.readouterr().out)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
