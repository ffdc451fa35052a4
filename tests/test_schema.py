"""The JSON Schema: generated from the models, committed for editors, and it accepts what archspec accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from archspec.spec.schema import json_schema

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def validator():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current(regen_golden):
    path = ROOT / "archspec.schema.json"
    text = json.dumps(json_schema(), indent=2) + "\n"
    if regen_golden:
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, "run `archspec schema > archspec.schema.json`"


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_specs_validate(validator, spec):
    errors = list(validator.iter_errors(yaml.safe_load(spec.read_text())))
    assert errors == []


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "conv2d", "out_channels": 4, "kernal_size": 3},  # unknown field
        {"type": "conv2d", "out_channels": "4", "kernel_size": 3},  # wrong type
        {"type": "conv2d", "out_channels": 4, "kernel_size": [3, 3, 3]},  # not a pair
        {"type": "dropout", "p": 2},  # out of range
        {"type": "linear"},  # missing out_features
    ],
)
def test_schema_rejects_what_archspec_rejects(validator, layer):
    spec = {"archspec": 1, "input": [3, 8, 8], "layers": [layer]}
    assert list(validator.iter_errors(spec)) != []


def test_block_layers_may_use_parameters(validator):
    spec = {
        "archspec": 1,
        "input": [3, 8, 8],
        "blocks": {"b": {"params": {"c": None}, "layers": [{"type": "conv2d", "out_channels": "$c", "kernel_size": 3}]}},
        "layers": [{"type": "b", "c": 4}],
    }
    assert list(validator.iter_errors(spec)) == []
    spec["layers"] = [{"type": "conv2d", "out_channels": "$c", "kernel_size": 3}]  # not inside a block
    assert list(validator.iter_errors(spec)) != []
