"""Every diagnostic code the loader and the analyser emit, with its exact position.

Each case feeds a small YAML text to ``lint_text`` (or ``archspec.loads``) and checks
the code, the 1-based line and column, and the words of the message/hint. Positions
are counted by hand from the YAML text; the count is written next to each case.
``Y()`` strips the common indentation and the first newline, so the first line of
every triple-quoted text below is line 1.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
from spec_text import PATH, Y, lint

import archspec
from archspec.errors import Diagnostic, SpecError


def errors(ds: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in ds if d.code.startswith("E")]


def of(ds: list[Diagnostic], code: str) -> list[Diagnostic]:
    return [d for d in ds if d.code == code]


def one(ds: list[Diagnostic], code: str) -> Diagnostic:
    found = of(ds, code)
    assert len(found) == 1, f"expected one {code}, got: " + "; ".join(d.format() for d in ds)
    return found[0]


def at(d: Diagnostic, line: int, column: int) -> None:
    assert (d.path, d.line, d.column) == (PATH, line, column), d.format()


# --------------------------------------------------------------------------- E101


def test_e101_mapping_value_in_plain_scalar():
    text = Y(
        """
        archspec: 1
        name: a: b
        input: [3, 8, 8]
        layers:
          - {type: relu}
        """
    )
    ds = lint(text)
    # nothing else can be said about a file that does not parse
    assert [d.code for d in ds] == ["E101"]
    # `name: a: b` -> the second ':' is column 8 of line 2
    at(ds[0], 2, 8)
    assert ds[0].message.startswith("YAML syntax error:")
    assert "mapping values are not allowed" in ds[0].message


def test_e101_bad_indentation():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: relu
           name: x
        """
    )
    ds = lint(text)
    assert [d.code for d in ds] == ["E101"]
    # line 5 is "   name: x": `name` starts at column 4; the list's `- ` at column 3, its keys at column 5
    at(ds[0], 5, 4)
    assert ds[0].message == "bad indentation: line 5 is indented to column 4: the list's entries start at column 3"
    assert ds[0].hint == "start a new entry with `- ` at column 3, or indent a key of the entry above to column 5"


def test_e101_a_key_without_its_dash_and_a_key_indented_too_far():
    ds = lint("archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: relu\n  name: x\n")
    at(ds[0], 5, 3)
    assert "starts where the list's entries start (column 3) but has no `- `" in ds[0].message
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: conv2d\n    out_channels: 4\n      kernel_size: 3\n"
    (d,) = lint(text)
    assert d.code == "E101" and d.line == 6 and "indented further than the key above it" in d.message


def test_e101_tabs_are_named_and_pointed_at():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\n\t- {type: relu}\n"
    (d,) = lint(text)
    assert (d.code, d.line, d.column) == ("E101", 5, 1)
    assert d.message == "tab characters are not allowed in YAML indentation; use spaces"


def test_e101_an_unclosed_bracket_names_where_it_opened():
    (d,) = lint("archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu\n  - {type: relu}\n")
    assert d.code == "E101" and "the `{` at line 4, column 5 is not closed" in d.message


def test_e101_through_loads_raises_spec_error():
    with pytest.raises(SpecError) as info:
        archspec.loads("archspec: 1\nname: a: b\n", PATH)
    assert [(d.code, d.line, d.column) for d in info.value.diagnostics] == [("E101", 2, 8)]


# --------------------------------------------------------------------------- E102


def test_e102_duplicate_key_in_layer_mapping():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channels: 4
            kernel_size: 3
            out_channels: 8
        """
    )
    d = one(lint(text), "E102")
    at(d, 7, 5)  # the second `out_channels` key
    assert "duplicate key `out_channels`" in d.message
    assert "first defined at line 5" in d.message
    assert "silently" in d.hint


def test_e102_duplicate_key_in_flow_layer_mapping():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: relu, name: x, name: y}
        """
    )
    d = one(lint(text), "E102")
    # "  - {" -> `type` at 6; "type: relu, " is 12 chars -> `name` at 18; "name: x, " 9 chars -> 27
    at(d, 4, 27)
    assert "duplicate key `name` (first defined at line 4)" in d.message


def test_e102_duplicate_key_at_top_level():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        archspec: 1
        layers:
          - {type: relu}
        """
    )
    d = one(lint(text), "E102")
    at(d, 3, 1)
    assert "duplicate key `archspec` (first defined at line 1)" in d.message


# --------------------------------------------------------------------------- E103


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- archspec: 1\n- input: [3, 8, 8]\n", "must be a mapping"),
        ("hello\n", "must be a mapping"),
        ("42\n", "must be a mapping"),
    ],
    ids=["empty", "comment-only", "top-level-list", "top-level-string", "top-level-number"],
)
def test_e103_empty_or_not_a_mapping(text, words):
    ds = lint(text)
    assert [d.code for d in ds] == ["E103"]
    at(ds[0], 1, 1)
    assert words in ds[0].message


def test_e103_empty_file_hint_and_loads():
    with pytest.raises(SpecError) as info:
        archspec.loads("", PATH)
    (d,) = info.value.diagnostics
    assert (d.code, d.line, d.column) == ("E103", 1, 1)
    assert "archspec: 1" in d.hint


# --------------------------------------------------------------------------- E104


def test_e104_python_scalar_tag():
    text = Y(
        """
        archspec: 1
        name: !!python/name:os.system
        input: [3, 8, 8]
        layers:
          - {type: relu}
        """
    )
    d = one(lint(text), "E104")
    at(d, 2, 7)  # the tag starts after "name: "
    assert "unsupported YAML tag" in d.message
    assert "python/name:os.system" in d.message
    assert "remove the tag" in d.hint


def test_e104_custom_tag_on_a_scalar():
    text = Y(
        """
        archspec: 1
        name: !custom net
        input: [3, 8, 8]
        layers:
          - {type: relu}
        """
    )
    d = one(lint(text), "E104")
    at(d, 2, 7)
    assert "`!custom`" in d.message


@pytest.mark.parametrize(
    "line, words",
    [
        ('name: !!python/object/apply:os.system ["echo hi"]', "python/object/apply:os.system"),
        ('name: !!python/object/apply:os.system {args: ["echo hi"]}', "python/object/apply:os.system"),
        ("name: !custom [a, b]", "!custom"),
    ],
    ids=["python-apply-on-list", "python-apply-on-mapping", "custom-on-list"],
)
def test_e104_tag_on_a_collection(line, words):
    text = f"archspec: 1\n{line}\ninput: [3, 8, 8]\nlayers:\n  - {{type: relu}}\n"
    d = one(lint(text), "E104")
    at(d, 2, 7)  # the tag starts after "name: "
    assert words in d.message


def test_e104_python_apply_tag_as_a_layer():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - !!python/object/apply:os.system ["echo hi"]
        """
    )
    d = one(lint(text), "E104")
    at(d, 4, 5)


def test_python_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        f'name: !!python/object/apply:os.system ["touch {marker}"]',
        f'name: !!python/object/apply:subprocess.call [["touch", "{marker}"]]',
        f'name: !!python/object/new:os.system ["touch {marker}"]',
        f'name: !!python/object/apply:os.system {{args: ["touch {marker}"]}}',
    ]
    for payload in payloads:
        text = f"archspec: 1\n{payload}\ninput: [3, 8, 8]\nlayers:\n  - {{type: relu}}\n"
        ds = lint(text)
        assert all(isinstance(d, Diagnostic) for d in ds)
        assert errors(ds), payload  # a tagged `name` is never a usable spec
        with pytest.raises(SpecError):
            archspec.loads(text, PATH)
    assert not marker.exists()


# --------------------------------------------------------------------------- E105


def _alias_bomb() -> str:
    # a0 holds 10 strings; a(i) holds 10 aliases of a(i-1): a8 alone expands to 10**9 values
    lines = ["archspec: 1", "input: [3, 8, 8]", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines += ["layers:", "  - {type: relu}"]
    return "\n".join(lines) + "\n"


def test_e105_alias_bomb_refused():
    ds = lint(_alias_bomb())  # refused at 10**6 values, long before the 10**9 are made
    assert [d.code for d in ds] == ["E105"]
    assert "1,000,000 values" in ds[0].message and "alias bomb" in ds[0].message
    # Values are counted depth-first, keys included, an alias counting its whole subtree:
    # 1 (top) + 2 (archspec) + 5 (input: key, list, 3 items) + 12 (a0) + 112 (a1) + 1112 (a2)
    # + 11112 (a3) + 111112 (a4) = 123468; a5's key and list: 123470. Each *a4 is 111111
    # values: 7 whole copies -> 901247; in the 8th: its list + 8 whole *a3 (11111) -> 990136;
    # in the 9th *a3: list + 8 *a2 (1111) -> 999025; in the 9th *a2: list + 8 *a1 (111) -> 999914;
    # in the 9th *a1: list + 7 *a0 (11) -> 999992; in the 8th *a0: its list -> 999993, then its
    # 8th "x" is value 1,000,001. That "x" is on line 3 at column 10 + 7 * 5 = 45.
    at(ds[0], 3, 45)


def test_e105_alias_bomb_through_loads():
    with pytest.raises(SpecError) as info:
        archspec.loads(_alias_bomb(), PATH)
    assert [d.code for d in info.value.diagnostics] == ["E105"]


def test_e105_nesting_deeper_than_64():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\nx: " + "[" * 100 + "]" * 100 + "\n"
    ds = lint(text)
    assert [d.code for d in ds] == ["E105"]
    # the top mapping is depth 0; the k-th '[' (at column 3 + k) is depth k; depth 65 is too deep
    at(ds[0], 5, 68)
    assert "nesting deeper than 64" in ds[0].message


def test_e105_nesting_of_block_mappings():
    text = "archspec: 1\nx:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(70)) + "  " * 71 + "1\n"
    ds = lint(text)
    assert [d.code for d in ds] == ["E105"]
    # the mapping on line j + 3 (column 2j + 3) is at depth j + 1 and its key `a` at depth j + 2:
    # the first node deeper than 64 is the key of the depth-64 mapping (j = 63): line 66, column 129.
    at(ds[0], 66, 129)


def test_e105_much_deeper_nesting_is_still_a_diagnostic():
    text = "archspec: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n"
    ds = lint(text)
    assert len(ds) == 1 and ds[0].code in {"E101", "E105"}
    assert ds[0].line == 2


# --------------------------------------------------------------------------- E201


def test_e201_misspelt_required_field_reported_once():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channel: 4
            kernel_size: 3
        """
    )
    ds = errors(lint(text))
    # only the misspelling: not also "missing required field out_channels"
    assert [d.code for d in ds] == ["E201"]
    at(ds[0], 5, 5)
    assert "layer `conv2d_1`" in ds[0].message
    assert "unknown field `out_channel` — did you mean `out_channels`?" in ds[0].message


def test_e201_misspelt_optional_field():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channels: 4
            kernal_size: 3
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E201"]
    at(ds[0], 6, 5)
    assert "did you mean `kernel_size`" in ds[0].message


def test_e201_unknown_field_without_suggestion_lists_known_fields():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: relu
            colour: red
        """
    )
    d = one(lint(text), "E201")
    at(d, 5, 5)
    assert "unknown field `colour`" in d.message and "did you mean" not in d.message
    assert d.hint.startswith("known fields:")
    for name in ("inputs", "name", "type", "when"):
        assert name in d.hint


def test_e201_top_level_misspelling_is_not_also_missing():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layer:
          - {type: relu}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E201"]
    at(ds[0], 3, 1)
    assert "unknown field `layer` — did you mean `layers`?" in ds[0].message


# --------------------------------------------------------------------------- E202


def test_e202_missing_required_layer_field():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            kernel_size: 3
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E202"]
    at(ds[0], 4, 5)  # the layer mapping (its first key)
    assert "layer `conv2d_1`: missing required field `out_channels`" in ds[0].message


def test_e202_missing_type():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {name: x}
        """
    )
    d = one(lint(text), "E202")
    at(d, 4, 5)  # the '{'
    assert "missing required field `type`" in d.message


def test_e202_missing_format_version_with_hint():
    text = Y(
        """
        input: [3, 8, 8]
        layers:
          - {type: relu}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E202"]
    at(ds[0], 1, 1)
    assert "missing required field `archspec`" in ds[0].message
    assert "`archspec: 1`" in ds[0].hint and "format version" in ds[0].hint


# --------------------------------------------------------------------------- E203


@pytest.mark.parametrize(
    "field_line, line, column, words",
    [
        # `    out_channels: "8"`: the value's quote is column 19
        ('out_channels: "8"', 5, 19, ["out_channels", "expected an integer", "'8'"]),
        ("kernel_size: [3]", 5, 18, ["kernel_size", "[3]"]),
        ("bias: yes-string", 5, 11, ["bias", "expected true or false", "'yes-string'"]),
        ("stride: 1.5", 5, 13, ["stride", "1.5"]),
    ],
    ids=["out_channels-string", "kernel_size-one-item", "bias-string", "stride-float"],
)
def test_e203_wrong_type(field_line, line, column, words):
    fields = {"out_channels": "4", "kernel_size": "3"}
    key = field_line.split(":")[0]
    rest = "".join(f"    {k}: {v}\n" for k, v in fields.items() if k != key)
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: conv2d\n    " + field_line + "\n" + rest
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E203"], [d.format() for d in ds]
    at(ds[0], line, column)
    assert ds[0].message.startswith("layer `conv2d_1`: ")
    for w in words:
        assert w in ds[0].message


def test_e203_kernel_size_message_says_got_once():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: [3]}\n"
    d = one(lint(text), "E203")
    assert d.message.count("got [3]") == 1, d.message


def test_e203_layer_that_is_not_a_mapping():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - relu
        """
    )
    d = one(lint(text), "E203")
    at(d, 4, 5)
    assert "a layer must be a mapping" in d.message and "'relu'" in d.message


@pytest.mark.parametrize("field", ["when: maybe", "inputs: 5"])
def test_e203_bad_call_key_reported_once(field):
    text = f"archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {{type: relu, {field}}}\n"
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E203"], [d.format() for d in ds]


# --------------------------------------------------------------------------- E204


def test_e204_out_channels_zero():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channels: 0
            kernel_size: 3
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E204"]
    at(ds[0], 5, 19)
    assert "out_channels" in ds[0].message and "greater than or equal to 1" in ds[0].message


def test_e204_dropout_probability_above_one():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: dropout
            p: 1.5
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E204"]
    at(ds[0], 5, 8)
    assert "layer `dropout_1`: p:" in ds[0].message and "less than or equal to 1" in ds[0].message


def test_e204_same_padding_with_stride_two():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2d
            out_channels: 4
            kernel_size: 3
            padding: same
            stride: 2
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E204"]
    at(ds[0], 4, 5)  # a rule across two fields points at the layer
    assert "padding 'same' needs stride 1" in ds[0].message


@pytest.mark.parametrize("name", ["a..b", "a.", "a:0"])
def test_e204_layer_name_with_an_empty_part_or_a_colon(name):
    text = Y(
        f"""
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: relu
            name: "{name}"
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E204"]
    at(ds[0], 5, 11)
    assert f"invalid layer name '{name}'" in ds[0].message
    assert "non-empty" in ds[0].hint and "`:`" in ds[0].hint


def test_e303_a_layer_whose_name_is_a_dotted_prefix_of_another():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: relu, name: a.0}
          - {type: relu, name: a}
          - {type: relu, name: a.1.x}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E303"]
    at(ds[0], 5, 24)  # the container-to-be, `a`
    assert "layer `a` is also the container of layer `a.0` (and 1 more)" in ds[0].message


def test_e303_a_dotted_name_that_a_block_instance_already_gives():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          b:
            layers:
              - {type: relu, name: act}
        layers:
          - {type: b, name: layer1, repeat: 2}
          - {type: relu, name: layer1.1.act}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E303"]
    at(ds[0], 9, 24)
    assert "duplicate layer name `layer1.1.act` (first at line 6)" in ds[0].message


def test_e204_layer_named_input():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, name: input}\n"
    d = one(lint(text), "E204")
    at(d, 4, 24)  # "  - {type: relu, name: " is 23 characters
    assert "invalid layer name 'input'" in d.message and "reserved" in d.hint


def test_e204_repeat_zero():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          unit:
            layers:
              - {type: relu}
        layers:
          - {type: unit, repeat: 0}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E204"]
    # "  - {type: unit, repeat: " is 25 characters
    at(ds[0], 8, 26)
    assert "`repeat` must be an integer from 1 to 10,000, got 0" in ds[0].message


def test_e204_input_dimension_not_positive():
    text = "archspec: 1\ninput: [3, -1, 4]\nlayers:\n  - {type: relu}\n"
    d = one(lint(text), "E204")
    at(d, 2, 12)  # the -1
    assert "input.1" in d.message


# --------------------------------------------------------------------------- E205


def test_e205_unknown_layer_type_with_suggestion():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: conv2
            out_channels: 4
            kernel_size: 3
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E205"]
    at(ds[0], 4, 11)  # the value of `type`
    assert "unknown layer type `conv2` — did you mean `conv2d`?" in ds[0].message


def test_e205_unknown_layer_type_without_suggestion():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: zzzqqq}\n"
    d = one(lint(text), "E205")
    at(d, 4, 12)
    assert "unknown layer type `zzzqqq`" in d.message and "did you mean" not in d.message
    assert "Layer kinds" in d.hint


# --------------------------------------------------------------------------- E206


def test_e206_unsupported_format_version():
    text = Y(
        """
        archspec: 2
        input: [3, 8, 8]
        layers:
          - {type: relu}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E206"]
    at(ds[0], 1, 11)
    assert "unsupported format version 2" in ds[0].message and "version 1" in ds[0].message
    assert ds[0].hint == "write `archspec: 1`"


# --------------------------------------------------------------------------- E207

UNIT = """
archspec: 1
input: [3, 8, 8]
blocks:
  unit:
    params: {ch: 4}
    layers:
      - {type: conv2d, out_channels: $ch, kernel_size: 3, padding: 1}
      - {type: relu}
layers:
"""


def test_e207_unknown_parameter_at_the_call():
    text = UNIT.lstrip("\n") + "  - {type: unit, chans: 8}\n"
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E207"]
    # line 10: "  - {type: unit, " is 17 characters -> the key `chans` is column 18 (its value is 25)
    at(ds[0], 10, 18)
    assert "block `unit` has no parameter `chans` — did you mean `ch`?" in ds[0].message or (
        "block `unit` has no parameter `chans`" in ds[0].message and "ch" in ds[0].hint
    )


def test_e207_unknown_parameter_at_the_call_message():
    text = UNIT.lstrip("\n") + "  - {type: unit, chans: 8}\n"
    d = one(lint(text), "E207")
    assert d.line == 10
    assert "block `unit` has no parameter `chans`" in d.message


def test_e207_unknown_dollar_parameter_inside_a_block():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          unit:
            params: {ch: 4}
            layers:
              - {type: conv2d, out_channels: $chh, kernel_size: 3}
        layers:
          - {type: unit}
        """
    )
    d = one(lint(text), "E207")
    # "      - {" -> `type` at 10; "type: conv2d, " 14 chars -> `out_channels` at 24, value at 38
    at(d, 7, 38)
    assert "block `unit` has no parameter `chh` — did you mean `$ch`?" in d.message
    assert "blocks.unit.params" in d.hint


def test_e207_dollar_parameter_outside_a_block():
    text = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: $ch, kernel_size: 3}\n"
    d = one(lint(text), "E207")
    at(d, 4, 34)  # "  - {type: conv2d, out_channels: " is 33 characters
    assert "`$ch` is a block parameter, but this layer is not inside a block" in d.message


def test_e207_block_that_uses_itself():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          loop:
            layers:
              - {type: relu}
              - {type: loop}
        layers:
          - {type: loop}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E207"]
    at(ds[0], 7, 16)  # the inner `type: loop` value
    assert "block `loop` uses itself" in ds[0].message


def test_e207_blocks_that_use_each_other():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          a: {layers: [{type: b}]}
          b: {layers: [{type: a}]}
        layers:
          - {type: a}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E207"]
    at(ds[0], 5, 23)  # "  b: {layers: [{type: " is 22 characters
    assert "block `a` uses itself (via a → b)" in ds[0].message


# --------------------------------------------------------------------------- E301


def test_e301_dangling_input_reference_with_suggestion():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: relu, name: relu1, inputs: cnv1}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E301"]
    # "  - {type: relu, name: relu1, inputs: " is 38 characters
    at(ds[0], 5, 39)
    assert "unknown layer `cnv1` — did you mean `conv1`?" in ds[0].message


def test_e301_dangling_reference_in_a_list_points_at_the_name():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: add, name: sum, inputs: [conv1, cnv2]}
        """
    )
    d = one(lint(text), "E301")
    # "  - {type: add, name: sum, inputs: [conv1, " is 43 characters
    at(d, 5, 44)


def test_e301_unknown_output():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        output: relu2
        layers:
          - {type: conv2d, name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: relu, name: relu1}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E301"]
    at(ds[0], 3, 9)
    assert "unknown output layer `relu2` — did you mean `relu1`?" in ds[0].message


# --------------------------------------------------------------------------- E302


def test_e302_two_layers_referencing_each_other():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: relu, name: a, inputs: b}
          - {type: relu, name: b, inputs: a}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E302"]
    # reported once, at the first layer of the loop: "  - {type: relu, name: a, inputs: " is 34 chars
    at(ds[0], 4, 35)
    assert ds[0].message.startswith("cyclic reference: ")
    assert re.fullmatch(r"cyclic reference: `(a|b)` → `(a|b)` → `\1`", ds[0].message), ds[0].message
    assert ds[0].layer == "a"


# --------------------------------------------------------------------------- E303


def test_e303_duplicate_layer_name():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: relu, name: a}
          - {type: relu, name: a}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E303"]
    at(ds[0], 5, 24)  # "  - {type: relu, name: " is 23 characters
    assert "duplicate layer name `a` (first at line 4)" in ds[0].message


# --------------------------------------------------------------------------- E304


def test_e304_add_names_both_inputs_and_the_layers_that_changed_them():
    text = Y(
        """
        archspec: 1
        input: [3, 16, 16]
        layers:
          - {type: conv2d, name: stem, out_channels: 8, kernel_size: 3, padding: 1}
          - {type: relu, name: stem_act}
          - {type: maxpool2d, name: pool, kernel_size: 2}
          - {type: relu, name: a}
          - {type: identity, name: b, inputs: stem_act}
          - {type: add, name: sum, inputs: [a, b]}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E304"]
    at(ds[0], 9, 36)  # "  - {type: add, name: sum, inputs: " is 35 characters
    assert ds[0].layer == "sum"
    # a: 8×8×8 since the 2x2 pool; b: 8×16×16 since the stem conv (3 -> 8 channels); height and width both
    # disagree, so no one axis is named
    assert ds[0].message == (
        "layer `sum`: add inputs disagree: `a` gives 8×8×8, last changed by `pool`; `b` gives 8×16×16, last changed by `stem`"
    )


def test_e304_add_with_the_network_input():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, name: a, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: add, name: sum, inputs: [a, input]}
        """
    )
    d = one(lint(text), "E304")
    at(d, 5, 36)
    assert "`a` gives 4×8×8" in d.message and "`input` gives 3×8×8" in d.message


def test_e304_concat_mismatch():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, name: a, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: conv2d, name: b, out_channels: 4, kernel_size: 3, inputs: input}
          - {type: concat, name: cat, inputs: [a, b]}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E304"]
    at(ds[0], 6, 39)  # "  - {type: concat, name: cat, inputs: " is 38 characters
    assert "concat inputs disagree" in ds[0].message
    assert "`a` gives 4×8×8" in ds[0].message and "`b` gives 4×6×6" in ds[0].message


# --------------------------------------------------------------------------- E305


def test_e305_conv_larger_than_its_input():
    text = Y(
        """
        archspec: 1
        input: [3, 3, 3]
        layers:
          - type: conv2d
            out_channels: 4
            kernel_size: 5
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E305"]
    at(ds[0], 6, 18)  # the kernel_size value
    # 3 - 5 + 1 = -1
    assert "output height would be -1" in ds[0].message
    assert "window spanning 5 does not fit in 3" in ds[0].message
    assert "smaller kernel" in ds[0].hint


def test_e305_pool_shrinking_to_zero():
    text = Y(
        """
        archspec: 1
        input: [3, 3, 3]
        layers:
          - type: maxpool2d
            kernel_size: 2
            stride: 2
          - type: maxpool2d
            kernel_size: 2
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E305"]
    at(ds[0], 8, 18)
    # first pool: (3 - 2) // 2 + 1 = 1; second: (1 - 2) // 2 + 1 = 0
    assert "layer `maxpool2d_2`" in ds[0].message
    assert "output height would be 0" in ds[0].message and "(input 3×1×1)" in ds[0].message


# --------------------------------------------------------------------------- E306


def test_e306_conv_after_flatten():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: flatten
          - type: conv2d
            out_channels: 4
            kernel_size: 1
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E306"]
    at(ds[0], 5, 5)
    assert "conv2d needs a C×H×W image input, got 192" in ds[0].message  # 3·8·8


def test_linear_accepts_any_rank():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: linear
            out_features: 5
        """
    )
    assert errors(lint(text)) == []
    report = archspec.analyze(archspec.loads(text, PATH))
    assert report.output_shape == (3, 8, 5)
    assert report.totals()["params"] == 8 * 5 + 5


def test_e306_add_with_one_input():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - type: add
            inputs: [input]
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E306"]
    at(ds[0], 5, 13)  # the inputs list
    assert "add takes at least 2 inputs, got 1" in ds[0].message


# --------------------------------------------------------------------------- E307


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        (
            "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: conv2d\n    out_channels: 4\n    kernel_size: 3\n    in_channels: 1\n",
            7,
            18,
            "in_channels is 1 but the input has 3 channels",
        ),
        (
            "archspec: 1\ninput: [12]\nlayers:\n  - type: linear\n    out_features: 4\n    in_features: 10\n",
            6,
            18,
            "in_features is 10 but the input has 12",
        ),
        (
            "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: batchnorm2d\n    num_features: 4\n",
            5,
            19,
            "num_features is 4 but the input has 3",
        ),
    ],
    ids=["in_channels", "in_features", "num_features"],
)
def test_e307_stated_size_mismatch(text, line, column, words):
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E307"]
    at(ds[0], line, column)
    assert words in ds[0].message
    assert "inferred" in ds[0].hint


# --------------------------------------------------------------------------- several errors at once

DONE_WHEN = """
archspec: 1
input: [3, 16, 16]
layers:
  - type: conv2d
    name: stem
    out_channels: 8
    kernal_size: 3
    padding: 1
  - type: relu
    name: act
  - type: conv2d
    name: down
    out_channels: 8
    kernel_size: 3
    stride: 2
    padding: 1
    bias: "no"
  - type: add
    name: sum
    inputs: [down, act]
"""


def test_typo_wrong_type_and_add_mismatch_all_reported_in_one_call():
    ds = errors(lint(DONE_WHEN.lstrip("\n")))
    assert [(d.code, d.line, d.column) for d in ds] == [
        ("E201", 7, 5),  # `kernal_size` key
        ("E203", 17, 11),  # the "no" string of `bias`
        ("E304", 20, 13),  # the inputs list of `sum`
    ]
    e201, e203, e304 = ds
    assert "did you mean `kernel_size`" in e201.message
    assert "bias" in e203.message and "expected true or false" in e203.message
    # down: (16 + 2 - 3) // 2 + 1 = 8 -> 8×8×8; act: 8×16×16, set by `stem`
    assert "`down` gives 8×8×8" in e304.message
    assert "`act` gives 8×16×16, last changed by `stem`" in e304.message


def test_typo_wrong_type_and_add_mismatch_through_loads():
    with pytest.raises(SpecError) as info:
        archspec.analyze(archspec.loads(DONE_WHEN.lstrip("\n"), PATH))
    # loads stops at the schema errors; the shape error needs the analysis
    assert [(d.code, d.line) for d in info.value.diagnostics] == [("E201", 7), ("E203", 17)]


BLOCK_TYPO = """
archspec: 1
input: [4, 8, 8]
blocks:
  unit:
    params: {ch: 4}
    layers:
      - type: conv2d
        out_channels: $ch
        kernal_size: 3
        padding: 1
      - type: relu
layers:
  - type: unit
    name: stage
    repeat: 3
  - type: globalavgpool2d
"""


def test_error_in_block_used_three_times_reported_once_at_the_definition():
    ds = errors(lint(BLOCK_TYPO.lstrip("\n")))
    assert [(d.code, d.line, d.column) for d in ds] == [("E201", 9, 9)]
    # the message names the layer by its name inside the block, not stage.0.conv2d_1
    assert "layer `conv2d_1`: unknown field `kernal_size` — did you mean `kernel_size`?" in ds[0].message


def test_wrong_type_in_block_with_repeat_reported_once():
    text = Y(
        """
        archspec: 1
        input: [4, 8, 8]
        blocks:
          unit:
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: maybe}
        layers:
          - {type: unit, repeat: 3}
        """
    )
    ds = errors(lint(text))
    # "      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: " is 74 characters
    assert [(d.code, d.line, d.column) for d in ds] == [("E203", 6, 75)]


def test_shape_error_in_block_used_three_times_reported_once():
    text = Y(
        """
        archspec: 1
        input: [4, 8, 8]
        blocks:
          unit:
            layers:
              - {type: conv2d, name: conv, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: add, name: sum, inputs: [conv, input]}
        layers:
          - {type: unit, name: a}
          - {type: unit, name: b, inputs: input}
          - {type: unit, name: c, inputs: input}
          - {type: concat, inputs: [a, b, c]}
        """
    )
    ds = errors(lint(text))
    # "      - {type: add, name: sum, inputs: " is 39 characters
    assert [(d.code, d.line, d.column) for d in ds] == [("E304", 7, 40)]


def test_when_false_layer_with_a_typo_is_still_reported():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: dropout, when: false, p: 0.5, inplce: true}
          - {type: relu}
        """
    )
    ds = errors(lint(text))
    assert [d.code for d in ds] == ["E201"]
    # "  - {type: dropout, when: false, p: 0.5, " is 41 characters
    at(ds[0], 5, 42)
    assert "unknown field `inplce`" in ds[0].message


def test_when_false_layer_with_a_misspelt_type_is_still_reported():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
          - {type: dropuot, when: false}
          - {type: relu}
        """
    )
    d = one(lint(text), "E205")
    at(d, 5, 12)
    assert "did you mean `dropout`" in d.message


def test_huge_repeat_is_refused_quickly():
    text = "archspec: 1\ninput: [3, 8, 8]\nblocks:\n  b: {layers: [{type: relu}]}\nlayers:\n  - {type: b, repeat: 1000000000}\n"
    code = (
        "import sys; from archspec.lint import lint_text;"
        "ds = lint_text(sys.stdin.read(), 'spec.yaml');"
        "print(' '.join(f'{d.code}:{d.line}' for d in ds))"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("repeat: 1000000000 was still expanding after 6 s")
    found = done.stdout.split()
    assert any(f in found for f in ("E105:6", "E204:6")), done.stdout + done.stderr


# --------------------------------------------------------------------------- robustness


def _latin1(seed: int, n: int = 400) -> str:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(n)).decode("latin-1")


BASE = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n"

# (text, expected: "error" = at least one E-code, "clean" = no E-code, or a code that must be among them)
BROKEN = [
    pytest.param(_latin1(0), "error", id="random-latin1-0"),
    pytest.param(_latin1(1), "error", id="random-latin1-1"),
    pytest.param(_latin1(2), "error", id="random-latin1-2"),
    pytest.param("archspec: 1\ninput: [3, 8, 8]\nlayers:\n\t- {type: relu}\n", "E101", id="tab-indent"),
    pytest.param("archspec:\t1\ninput:\t[3, 8, 8]\nlayers:\n  - {type: relu}\n", "clean", id="tab-after-colon"),
    pytest.param("\ufeffarchspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\n", "clean", id="bom"),
    pytest.param("archspec: 1\r\ninput: [3, 8, 8]\r\nlayers:\r\n  - {type: relu}\r\n", "clean", id="crlf"),
    pytest.param("- archspec: 1\n- input: [3, 8, 8]\n", "E103", id="list-at-top"),
    pytest.param(BASE.replace("layers:\n", "layers: 5\n"), "E203", id="layers-5"),
    pytest.param(BASE.replace("layers:\n", "layers: []\n"), "E204", id="layers-empty"),
    pytest.param("archspec: 1\ninput: [3, -1, 4]\nlayers:\n  - {type: relu}\n", "E204", id="input-negative"),
    pytest.param('archspec: 1\ninput: "abc"\nlayers:\n  - {type: relu}\n', "E203", id="input-string"),
    pytest.param("archspec: 1\ninput: [3, 8.5, 8]\nlayers:\n  - {type: relu}\n", "E203", id="input-float"),
    pytest.param("archspec: 1\ninput: [1, 2, 3, 4]\nlayers:\n  - {type: relu}\n", "clean", id="input-rank-4"),  # C×D×H×W
    pytest.param("archspec: 1\ninput: [1, 2, 3, 4, 5]\nlayers:\n  - {type: relu}\n", "E204", id="input-rank-5"),
    pytest.param(BASE + "  - 5\n", "E203", id="layer-is-a-number"),
    pytest.param(BASE + "  - null\n", "E203", id="layer-is-null"),
    pytest.param(BASE + "  - {type: relu, name: " + "é" * 10_000 + "}\n", "clean", id="10000-char-unicode-name"),
    pytest.param(
        BASE + "  - {type: conv2d, out_channels: " + str(10**30) + ", kernel_size: 3}\n", "E204", id="huge-out-channels"
    ),
    pytest.param(BASE + "  - {type: conv2d, out_channels: 4, kernel_size: " + str(10**30) + "}\n", "E204", id="huge-kernel"),
    pytest.param(BASE + "  - {type: conv2d, out_channels: 4, kernel_size: " + str(2**62) + "}\n", "E305", id="big-kernel"),
    pytest.param(BASE + "  - {type: conv2d, out_channels: .inf, kernel_size: 3}\n", "E203", id="inf"),
    pytest.param(BASE + "  - {type: dropout, p: .nan}\n", "error", id="nan"),
    pytest.param("\x00\x01\x02", "E101", id="nul-bytes"),
    pytest.param("archspec: 1\n---\narchspec: 1\n", "E101", id="two-documents"),
    pytest.param("~: 1\narchspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\n", "error", id="null-key"),
    pytest.param("archspec: 1\n[a]: 1\n", "E103", id="list-key"),
    pytest.param(BASE + "  - {<<: 5, type: relu}\n", "E103", id="bad-merge-key"),
    pytest.param(BASE + "  - {type: [conv2d]}\n", "E203", id="type-is-a-list"),
    pytest.param(BASE + "  - {type: relu, inputs: [[a]]}\n", "E203", id="nested-inputs"),
    pytest.param(BASE + "  - {type: relu, name: a, inputs: a}\n", "E302", id="self-reference"),
    pytest.param("archspec: 1\ninput: [3, 8, 8]\nblocks: [1, 2]\nlayers:\n  - {type: relu}\n", "E203", id="blocks-list"),
    pytest.param(
        "archspec: 1\ninput: [3, 8, 8]\nblocks:\n  b: {layers: [5]}\nlayers:\n  - {type: b}\n", "E203", id="block-layer-number"
    ),
    pytest.param(BASE + "  - {type: softmax, axis: 99}\n", "E306", id="softmax-axis"),
    pytest.param(
        BASE + "  - {type: relu, name: [a]}\n",
        "E203",
        id="layer-name-is-a-list",
    ),
    pytest.param(
        BASE + "  - {type: relu, name: {a: 1}}\n",
        "E203",
        id="layer-name-is-a-mapping",
    ),
    pytest.param(
        "archspec: 1\nname: \ud800\ninput: [3, 8, 8]\nlayers:\n  - {type: relu}\n",
        "error",
        id="lone-surrogate",
    ),
    pytest.param(
        "archspec: 1\ninput: [3, 8, 8]\nblocks:\n  b:\n    params: {on: true}\n    layers: [{type: relu, when: $on}]\nlayers:\n  - {type: b}\n",
        "error",
        id="yaml11-bool-param-name",
    ),
]


@pytest.mark.parametrize("text, expected", BROKEN)
def test_broken_input_gives_only_diagnostics(text, expected):
    ds = lint(text)  # must not raise
    assert isinstance(ds, list)
    assert all(isinstance(d, Diagnostic) for d in ds)
    for d in ds:
        assert re.fullmatch(r"[EWI]\d{3}", d.code), d
        assert d.path == PATH
        assert d.line >= 0 and d.column >= 0
        assert isinstance(d.message, str) and d.message
        d.format()  # renders
    codes = [d.code for d in errors(ds)]
    if expected == "clean":
        assert codes == [], [d.format() for d in ds]
    elif expected == "error":
        assert codes, "a broken spec must give at least one error"
    else:
        assert expected in codes, [d.format() for d in ds]
    # and the loader either accepts the text or raises SpecError, never anything else
    try:
        archspec.loads(text, PATH)
    except SpecError as exc:
        assert exc.diagnostics and all(isinstance(d, Diagnostic) for d in exc.diagnostics)


def test_bom_and_crlf_do_not_shift_positions():
    plain = "archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - type: conv2d\n    out_channels: 0\n    kernel_size: 3\n"
    for text in (plain, "\ufeff" + plain, plain.replace("\n", "\r\n")):
        (d,) = errors(lint(text))
        assert (d.code, d.line, d.column) == ("E204", 5, 19)


def test_huge_numbers_are_analysed_exactly():
    big = 2**62  # within PyTorch's int64 sizes; its products are not
    text = BASE + f"  - {{type: conv2d, out_channels: {big}, kernel_size: 3}}\n"
    assert errors(lint(text)) == []
    report = archspec.analyze(archspec.loads(text, PATH))
    # weight big·3·3·3 + bias big
    assert report.totals()["params"] == 28 * 2**62
    assert report.totals()["params"] == 129_127_208_515_966_861_312
    assert report.output_shape == (big, 6, 6)
    # MACs: big·6·6 outputs · 3·3·3
    assert report.totals()["macs"] == 972 * 2**62


def test_sizes_beyond_int64_are_positioned_errors():
    """PyTorch stores sizes as int64: 2**63 and beyond can never run (a stride of 10**20, say)."""
    text = BASE + "  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 100000000000000000000}\n"
    d = one(lint(text), "E204")
    assert "stride" in d.message and "int64" in d.message
    d = one(lint(BASE.replace("[3, 8, 8]", f"[3, {2**63}, 8]") + "  - {type: relu}\n"), "E204")
    assert (d.line, d.column) == (2, 12) and "input" in d.message  # the size itself, in the input list
    assert not errors(lint(BASE.replace("[3, 8, 8]", f"[3, {2**63 - 1}, 8]") + "  - {type: relu}\n"))


def test_huge_input_sizes_are_analysed_exactly():
    n = 2**62
    text = Y(
        f"""
        archspec: 1
        input: [3, {n}, {n}]
        layers:
          - {{type: conv2d, out_channels: 4, kernel_size: 3}}
          - {{type: relu}}
          - {{type: flatten}}
          - {{type: linear, out_features: 2}}
        """
    )
    assert errors(lint(text)) == []
    report = archspec.analyze(archspec.loads(text, PATH))
    side = n - 2
    assert report.output_shape == (2,)
    # conv: 4·3·9 + 4 = 112; linear: 2·(4·side²) + 2
    assert report.totals()["params"] == 112 + 8 * side * side + 2


# --------------------------------------------------------------------------- YAML anchors


def test_a_whole_layer_alias_is_reported_where_the_alias_is_written():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        layers:
          - &c {type: conv2d, name: conv1, out_channels: 3, kernel_size: 3, padding: 1}
          - *c
          - {type: relu}
        """
    )
    ds = lint(text)
    d = one(ds, "E303")
    at(d, 5, 5)  # the `*c` of line 5, not the anchor's line 4
    assert d.message == "duplicate layer name `conv1` (first at line 4)" and "<<: *anchor" in (d.hint or "")
    assert not [x for x in ds if "@" in x.message], [x.format() for x in ds]  # no internal name (`conv1@5`) leaks


def test_shared_anchors_live_under_x_keys():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        x-conv: &conv {type: conv2d, kernel_size: 3, padding: 1}
        layers:
          - {<<: *conv, name: a, out_channels: 4}
          - {type: relu}
          - {<<: *conv, name: b, out_channels: 4}
        """
    )
    assert errors(lint(text)) == []
    report = archspec.analyze(archspec.loads(text, PATH))
    assert report.layer("b").output_shape == (4, 8, 8) and report.layer("b").params == 4 * 4 * 9 + 4
    d = one(lint(text.replace("x-conv", "conv_defaults")), "E201")  # other unknown top-level keys stay errors
    at(d, 3, 1)


# --------------------------------------------------------------------------- what torch refuses


@pytest.mark.parametrize(
    "layer, column, words",
    [
        # reflect: PyTorch wants the padding below the input size (4 on a 4×4 input is refused)
        ("{type: conv2d, out_channels: 1, kernel_size: 1, padding: 4, padding_mode: reflect}", 62, "reflect padding of 4"),
        # circular: wrapping around more than once (5 on 4) is refused
        ("{type: conv2d, out_channels: 1, kernel_size: 1, padding: 5, padding_mode: circular}", 62, "circular padding of 5"),
        # 'same' with reflect: a 9-wide kernel pads 4 on each side of a 4-wide input
        ("{type: conv2d, out_channels: 1, kernel_size: 9, padding: same, padding_mode: reflect}", 62, "reflect padding of 4"),
    ],
)
def test_padding_modes_torch_refuses_are_positioned_errors(layer, column, words):
    torch = pytest.importorskip("torch")
    text = f"archspec: 1\ninput: [1, 4, 4]\nlayers:\n  - {layer}\n"
    d = one(lint(text), "E306")
    at(d, 4, column)  # the padding value
    assert words in d.message
    spec = __import__("yaml").safe_load(text)["layers"][0]
    conv = torch.nn.Conv2d(1, 1, spec["kernel_size"], padding=spec["padding"], padding_mode=spec["padding_mode"])
    with pytest.raises(RuntimeError):  # the oracle: torch refuses the same layer
        conv(torch.zeros(1, 1, 4, 4))


def test_padding_modes_torch_accepts_are_accepted():
    for layer in (
        "{type: conv2d, out_channels: 1, kernel_size: 1, padding: 3, padding_mode: reflect}",
        "{type: conv2d, out_channels: 1, kernel_size: 1, padding: 4, padding_mode: circular}",
        "{type: conv2d, out_channels: 1, kernel_size: 1, padding: 9, padding_mode: replicate}",
    ):
        assert errors(lint(f"archspec: 1\ninput: [1, 4, 4]\nlayers:\n  - {layer}\n")) == []


def test_maxpool_padding_is_checked_against_half_the_kernel_not_the_dilated_window():
    torch = pytest.importorskip("torch")
    text = "archspec: 1\ninput: [1, 20, 20]\nlayers:\n  - {type: maxpool2d, kernel_size: 4, dilation: 2, padding: 3}\n"
    d = one(lint(text), "E204")
    assert "padding 3 is more than half the kernel (4)" in d.message
    with pytest.raises(RuntimeError):
        torch.nn.MaxPool2d(4, 1, 3, 2)(torch.zeros(1, 1, 20, 20))
    assert errors(lint(text.replace("padding: 3", "padding: 2"))) == []


# --------------------------------------------------------------------------- unused blocks


def test_layers_of_a_block_no_one_uses_are_still_checked():
    text = Y(
        """
        archspec: 1
        input: [3, 8, 8]
        blocks:
          never:
            params: {c: null}
            layers:
              - {type: conv2dd, out_channels: 2}
              - {type: conv2d, out_channels: 2.5, kernel_size: -3}
              - {type: conv2d, name: ok, out_channels: $c, kernel_size: 3}
        layers:
          - {type: relu}
        """
    )
    ds = lint(text)
    assert sorted((d.code, d.line) for d in ds) == [("E203", 8), ("E204", 8), ("E205", 7)]
    at(one(ds, "E205"), 7, 16)  # `conv2dd`, with its correction
    assert "did you mean `conv2d`" in one(ds, "E205").message
    assert "out_channels" in one(ds, "E203").message and "kernel_size" in one(ds, "E204").message
    # the `$c` layer is fine: its open field is the call's to give, not missing


# --------------------------------------------------------------------------- names people bring


@pytest.mark.parametrize(
    "written, meant",
    [
        ("Relu", "relu"),
        ("ReLU", "relu"),
        ("LeakyReLU", "leakyrelu"),
        ("dense", "linear"),
        ("Dense", "linear"),
        ("fc", "linear"),
        ("bn", "batchnorm2d"),
        ("BatchNormalization", "batchnorm2d"),
        ("GlobalAveragePooling2D", "globalavgpool2d"),
        ("MaxPooling2D", "maxpool2d"),
        ("Conv2D", "conv2d"),
        ("log-softmax", "log_softmax"),
    ],
)
def test_did_you_mean_knows_the_names_of_keras_and_pytorch(written, meant):
    d = one(lint(f"archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {{type: {written}}}\n"), "E205")
    assert d.message == f"unknown layer type `{written}` — did you mean `{meant}`?"


def test_an_operation_archspec_lacks_is_said_to_be_unsupported_not_corrected():
    d = one(lint("archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: LSTM}\n"), "E205")
    assert d.message == "unknown layer type `LSTM`: archspec does not support recurrent layers yet"
    assert "schema" not in (d.hint or "")
    d = one(lint("archspec: 1\ninput: [3, 8, 8]\nlayers:\n  - {type: DepthwiseConv2D}\n"), "E205")
    assert "conv2d with `groups: depthwise`" in d.message


def test_e304_names_the_axis_when_one_axis_alone_disagrees():
    text = Y(
        """
        archspec: 1
        input: [8, 16, 16]
        layers:
          - {type: maxpool2d, name: pool, kernel_size: [2, 1]}
          - {type: add, name: sum, inputs: [pool, input]}
        """
    )
    (d,) = lint(text)
    # only the height differs (8 against 16): named, with the layer that changed it, and broadcasting offered
    assert d.message == "layer `sum`: add inputs disagree on the height: `pool` gives 8×8×16; `input` gives 8×16×16"
    assert "broadcast" in (d.hint or "")
