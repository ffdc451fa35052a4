"""Linting an edited text from the lint of its previous version (what the language server does on each
edit) gives exactly what linting the edited text from scratch gives.

``lint_state(text, previous=...)`` patches the previous spec when an edit stays inside one layer
(archspec.spec.patch), re-analyses only downstream of it (analysis.reanalyse) and judges again only the
layers next to what changed (rules reading one layer). The oracle is the whole reading of the same text:
random specs (tests/strategies.py), random edits of one layer, several edits in a row.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import network

from archspec.errors import Diagnostic
from archspec.lint import Linted, lint_state

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.text(max_size=6), st.lists(st.integers(0, 3), max_size=3))
KINDS = st.sampled_from(["relu", "gelu", "identity", "batchnorm2d", "conv2d", "maxpool2d", "linear", "flatten", "dropout"])


def as_text(spec: dict, style: str) -> str:
    """The spec as YAML: every layer a one-line flow mapping (as most specs are written), or block style."""
    if style == "block":
        return yaml.safe_dump(spec, sort_keys=False)
    head = {k: v for k, v in spec.items() if k != "layers"}
    lines = [f"{key}: {json.dumps(value)}" for key, value in head.items()]
    lines += ["layers:", *(f"  - {json.dumps(layer)}" for layer in spec["layers"])]
    return "\n".join(lines) + "\n"


@st.composite
def edit(draw, spec: dict) -> dict:
    """The spec with one layer edited as a person types: a number changed, a value mistyped, a field added,
    misspelt or deleted, the kind swapped, the layer renamed; or the input's shape changed, a layer added or
    removed."""
    layers = [dict(layer) for layer in spec["layers"]]
    target = layers[draw(st.integers(0, len(layers) - 1))]
    what = draw(st.sampled_from(["number", "number", "junk", "field", "drop", "kind", "rename", "input", "add", "remove"]))
    where = draw(st.integers(0, len(layers)))
    if what == "add":  # a new layer (its name perhaps taken), reading the one before or one named
        new = {"type": draw(KINDS), "name": draw(st.sampled_from(["new", "new2", "n0", "x"]))}
        if draw(st.booleans()):
            new["inputs"] = draw(st.sampled_from(["input", *(layer["name"] for layer in layers if "name" in layer)]))
        return {**spec, "layers": [*layers[:where], new, *layers[where:]]}
    if what == "remove" and len(layers) > 1:
        return {**spec, "layers": [layer for n, layer in enumerate(layers) if n != min(where, len(layers) - 1)]}
    if what == "input":  # another shape (of the same rank, mostly), or a mistake
        shape = [draw(st.integers(1, 12)) if draw(st.booleans()) else n for n in spec["input"]]
        return {**spec, "input": draw(st.sampled_from([shape, shape, shape[:-1], [*shape, 2], [0, *shape[1:]]]))}
    if not target:  # every field deleted by an edit before
        what = "kind"
    numbers = [k for k, v in target.items() if isinstance(v, int) and not isinstance(v, bool)]
    if what == "number" and numbers:
        target[draw(st.sampled_from(numbers))] = draw(st.integers(1, 12))
    elif what == "junk":
        target[draw(st.sampled_from(sorted(target)))] = draw(JUNK)
    elif what == "field":
        target[draw(st.sampled_from(["padding", "stride", "bias", "kernel_sise", "out_channels", "p"]))] = draw(JUNK)
    elif what == "drop":
        target.pop(draw(st.sampled_from(sorted(target))))
    elif what == "kind":
        target["type"] = draw(KINDS)
    elif what == "rename":
        target["name"] = draw(st.sampled_from(["x", "n0", "n1", "y1"]))
    return {**spec, "layers": layers}


def assert_same(incremental: Linted, whole: Linted) -> None:
    """Everything lint reports, and the analysis and spec behind it, equal the whole reading's."""
    assert incremental.diagnostics == whole.diagnostics
    assert incremental.parsed == whole.parsed
    assert (incremental.spec is None) == (whole.spec is None)
    if whole.spec is not None and incremental.spec is not None:
        assert incremental.spec.layers == whole.spec.layers
        assert [layer.inputs for layer in incremental.spec.layers] == [layer.inputs for layer in whole.spec.layers]
        assert incremental.spec.source == whole.spec.source
        assert incremental.spec.repaired == whole.spec.repaired
        assert incremental.spec.unparsed == whole.spec.unparsed
        assert incremental.spec.document == whole.spec.document
        assert incremental.spec.text == whole.spec.text
    assert (incremental.report is None) == (whole.report is None)
    if whole.report is not None and incremental.report is not None:
        assert incremental.report.to_dict() == whole.report.to_dict()
        assert incremental.report.layers == whole.report.layers  # rf axes and grids too
        assert incremental.report.diagnostics == whole.report.diagnostics
        assert incremental.report.flow.__dict__ == whole.report.flow.__dict__
        order = Diagnostic.sort_key  # (each rule's findings in any order: they are sorted when shown)
        assert {code: sorted(found, key=order) for code, found in incremental.found.items()} == {
            code: sorted(found, key=order) for code, found in whole.found.items()
        }


def check_edits(spec: dict, style: str, edits: list[dict]) -> None:
    before = lint_state(as_text(spec, style), "net.yaml")
    for edited in edits:
        text = as_text(edited, style)
        incremental = lint_state(text, "net.yaml", previous=before)
        event("patched" if incremental.patched else "read whole")
        assert_same(incremental, lint_state(text, "net.yaml"))
        before = incremental  # the next edit starts from the patched lint, as in an editor


@st.composite
def spec_and_edits(draw) -> tuple[dict, str, list[dict]]:
    spec = draw(network(max_layers=8))
    edits, current = [], spec
    for _ in range(draw(st.integers(1, 3))):
        current = draw(edit(current))
        edits.append(current)
    return spec, draw(st.sampled_from(["flow", "flow", "block"])), edits


@SETTINGS
@given(spec_and_edits())
def test_an_edited_text_linted_from_its_previous_lint_is_linted_as_a_whole(case):
    check_edits(*case)


@pytest.mark.slow
@MANY
@given(spec_and_edits())
def test_an_edited_text_linted_from_its_previous_lint_is_linted_as_a_whole_many(case):
    check_edits(*case)


def chain(n: int, channels: dict[int, int] | None = None) -> str:
    """n/2 convolutions each followed by a relu; `channels` overrides some convolutions' output channels."""
    channels = channels or {}
    body = "".join(
        f"  - {{type: conv2d, name: conv{i}, out_channels: {channels.get(i, 8)}, kernel_size: 3, padding: 1}}\n"
        f"  - {{type: relu, name: relu{i}}}\n"
        for i in range(n // 2)
    )
    return f"archspec: 1\nname: chain\ninput: [8, 16, 16]\nlayers:\n{body}"


def test_an_edit_inside_one_layer_analyses_only_as_far_as_its_effect_goes():
    before = lint_state(chain(2000))
    after = lint_state(chain(2000, {500: 16}), previous=before)
    assert after.patched
    old = {info.name: info for info in before.report.layers}
    again = [info.name for info in after.report.layers if info is not old[info.name]]
    # conv500 now gives 16 channels, relu500 passes them on, conv501 reads 16 and gives 8 again: there it stops
    assert again == ["conv500", "relu500", "conv501"]
    # hand count: a 3×3 conv from 8 to 8 channels has 8·8·9 + 8 = 584 parameters; 8 → 16 has 1,168, 16 → 8 1,160
    assert [after.report.get(n).params for n in again] == [1168, 0, 1160]
    assert after.report.totals()["params"] == 1000 * 584 + (1168 - 584) + (1160 - 584)
    assert after.report.get("relu500").output_shape == (16, 16, 16)
    assert_same(after, lint_state(chain(2000, {500: 16})))


def test_an_edit_of_the_input_shape_analyses_only_as_far_as_its_effect_goes():
    before = lint_state(chain(2000))
    more = lint_state(chain(2000).replace("input: [8, 16, 16]", "input: [9, 16, 16]"), previous=before)
    assert more.patched
    old = {info.name: info for info in before.report.layers}
    assert [info.name for info in more.report.layers if info is not old[info.name]] == ["conv0"]
    assert more.report.get("conv0").params == 9 * 8 * 9 + 8  # hand count: 3×3 from 9 channels to 8, with bias
    smaller = lint_state(chain(2000).replace("input: [8, 16, 16]", "input: [8, 12, 12]"), previous=more)
    assert smaller.patched and smaller.report.get("relu999").output_shape == (8, 12, 12)
    assert all(info is not old[info.name] for info in smaller.report.layers)  # every map is smaller
    assert_same(smaller, lint_state(chain(2000).replace("input: [8, 16, 16]", "input: [8, 12, 12]")))
    wrong = lint_state(chain(2000).replace("input: [8, 16, 16]", "input: [8, 0, 16]"), previous=smaller)
    assert not wrong.patched and wrong.diagnostics[0].line == 3  # a mistake is said by reading the text whole


def test_a_mistake_typed_into_one_layer_is_found_by_the_patch_and_gone_when_fixed():
    base = chain(40)
    before = lint_state(base)
    typo = base.replace("name: conv7, out_channels: 8, kernel_size: 3", "name: conv7, out_channels: 8, kernel_sise: 3")
    mistaken = lint_state(typo, previous=before)
    assert mistaken.patched
    # line 4 + 15: the 15th layer's; `kernel_sise` starts at column 50
    assert [(d.code, d.line, d.column) for d in mistaken.diagnostics] == [("E201", 19, 50)]
    fixed = lint_state(base, previous=mistaken)
    assert fixed.patched and fixed.diagnostics == []
    assert_same(fixed, lint_state(base))


@pytest.mark.parametrize(
    "old, new",
    [
        ("name: chain", "name: chained"),  # the header, but for the input's shape
        ("  - {type: relu, name: relu19}\n", "  - {type: gelu, name: relu19}\n"),  # the last layer: its lines end nowhere
        ("name: conv5, out_channels: 8", "name: conv5, out_channels: &w 8"),  # an anchor others may read
        ("{type: relu, name: relu3}", "{type: relu, name: relu3, inputs: relu9}"),  # a reference forward
        ("{type: relu, name: relu3}", "{type: relu, name: conv4}"),  # a name taken
    ],
)
def test_edits_that_reach_beyond_the_edited_lines_read_the_text_whole(old, new):
    base = chain(40)
    assert old in base
    text = base.replace(old, new)
    after = lint_state(text, previous=lint_state(base))
    assert not after.patched
    assert_same(after, lint_state(text))


def test_layers_added_removed_or_renamed_are_spliced_in():
    base = chain(2000)
    relu3 = "  - {type: relu, name: relu3}\n"
    added = lint_state(
        base.replace(relu3, relu3 + "  - {type: conv2d, name: extra, out_channels: 4, kernel_size: 1}\n"),
        previous=lint_state(base),
    )
    assert added.patched
    # hand count: the 1×1 conv from 8 to 4 channels has 8·4 + 4 = 36 parameters; conv4 now reads 4 channels: 4·8·9 + 8
    assert (added.report.get("extra").params, added.report.get("conv4").params) == (36, 296)
    assert added.report.get("conv4").inputs == ["extra"]
    assert [d.line for d in added.diagnostics] == []
    removed = lint_state(base.replace(relu3, ""), previous=added)  # both lines gone: conv4 reads conv3
    assert removed.patched and removed.report.get("conv4").inputs == ["conv3"]
    assert removed.report.totals()["params"] == 1000 * 584
    renamed = lint_state(base.replace("name: conv3,", "name: conv3b,"), previous=removed)
    assert renamed.patched and renamed.report.get("relu3").inputs == ["conv3b"]
    for text, linted in [(base.replace(relu3, ""), removed), (base.replace("name: conv3,", "name: conv3b,"), renamed)]:
        assert_same(linted, lint_state(text))


def test_an_edit_inside_a_block_reads_the_text_whole():
    base = (
        "archspec: 1\ninput: [3, 8, 8]\nblocks:\n  unit:\n    layers:\n"
        "      - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "      - {type: relu, name: act}\n"
        "layers:\n  - {type: unit, name: a}\n  - {type: unit, name: b}\n  - {type: flatten, name: flat}\n"
    )
    text = base.replace("out_channels: 4", "out_channels: 5")
    after = lint_state(text, previous=lint_state(base))
    assert not after.patched
    assert after.report.get("b.conv").params == 5 * 5 * 9 + 5  # hand count: the second instance reads 5 channels
    assert_same(after, lint_state(text))
