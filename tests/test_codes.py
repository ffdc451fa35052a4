"""The table of diagnostic codes: complete, its examples confirmed by the linter, the README generated from it.

Each row's example is a hand-written spec; linting it must report that row's code and
nothing else, and linting the row's fixed version must not report it. The linter is
the oracle for the table, and the table for the linter.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.cli import _parser, main
from archspec.codes import TABLE, Code, CodeInfo, lookup, readme_tables, suggest_code, update_readme
from archspec.errors import ArchspecError, Diagnostic, Severity
from archspec.lint import RULES, lint_text

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archspec"
README = ROOT / "README.md"
CODE_TEXT = re.compile(r"^[EWI][1-5]\d\d$")

#: Files that still spell codes as string literals. They are being moved to ``Code``;
#: this list must shrink to nothing (then the test below holds for every file).
LITERAL_CODES_ALLOWED: frozenset[str] = frozenset()  # files allowed to write a code as a literal: none


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE / "codes")


def _literal_codes(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in the file that is a code (comments and docstrings hold none)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE_TEXT.match(node.value)
    ]


def _symbol_codes(path: Path) -> set[str]:
    return set(re.findall(r"\bCode\.([A-Z][A-Z0-9_]*)\b", path.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- the table


def test_every_code_has_one_row_in_code_order():
    assert list(TABLE) == list(Code)
    assert all(isinstance(row, CodeInfo) and row.code is code for code, row in TABLE.items())


def test_every_code_used_in_the_source_has_a_row():
    symbols: set[str] = set()
    literals: set[str] = set()
    for path in _sources():
        symbols |= _symbol_codes(path)
        literals |= {text for _, text in _literal_codes(path)}
    assert symbols, "the scan finds the Code symbols"
    assert symbols - set(Code.__members__) == set()
    assert literals - {c.value for c in TABLE} == set()


def test_no_code_literals_outside_the_table():
    found = {
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in _sources()
        if str(path.relative_to(ROOT)) not in LITERAL_CODES_ALLOWED
        for line, text in _literal_codes(path)
    }
    assert found == set(), "use archspec.codes.Code instead"


def test_the_literal_scan_sees_literals():
    assert _literal_codes(PACKAGE / "codes" / "__init__.py"), "the table itself spells every code"


def test_names_are_unique_kebab_case_and_match_the_member():
    names = [row.name for row in TABLE.values()]
    assert len(set(names)) == len(names)
    for code, row in TABLE.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", row.name), row.name
        assert row.name == code.name.lower().replace("_", "-")


def test_lint_rules_keep_their_names():
    for rule in RULES:
        assert TABLE[Code(rule.code)].name == rule.name, rule.code
    assert {Code(r.code) for r in RULES} == {c for c, row in TABLE.items() if row.lint_rule}


def test_severity_from_the_first_letter():
    for code, row in TABLE.items():
        assert row.severity is {"E": Severity.ERROR, "W": Severity.WARNING, "I": Severity.INFO}[code.value[0]]
        assert row.lint_rule == (row.severity is not Severity.ERROR)


def test_rows_are_filled_in():
    for code, row in TABLE.items():
        assert row.summary and "\n" not in row.summary, code
        assert len(row.why) > 40 and row.fix, code
        assert (row.example is None) == (row.fixed is None), code
    assert [c for c, row in TABLE.items() if row.example is None] == [Code.UNREADABLE_FILE]


@pytest.mark.parametrize("code", [c for c, row in TABLE.items() if row.example is not None], ids=str)
def test_the_example_reports_its_code_and_the_fix_removes_it(code: Code):
    row = TABLE[code]
    found = lint_text(row.example, "example.yaml")
    assert [d.code for d in found] and {d.code for d in found} == {code.value}, [d.format() for d in found]
    fixed = lint_text(row.fixed, "fixed.yaml")
    assert fixed == [], [d.format() for d in fixed]


def test_unreadable_file_is_reported_with_its_code(tmp_path):
    from archspec.lint import lint_file

    (d,) = lint_file(str(tmp_path / "missing.yaml"))
    assert d.code == Code.UNREADABLE_FILE


def test_code_prints_and_compares_as_its_text():
    assert Code.UNKNOWN_FIELD == "E201" and f"{Code.UNKNOWN_FIELD}" == "E201" and str(Code.UNKNOWN_FIELD) == "E201"
    assert Code.UNKNOWN_FIELD in {"E201"} and Code.UNKNOWN_FIELD.info.name == "unknown-field"


def test_diagnostic_code_stays_plain_text():
    d = Diagnostic(Code.CONV_BIAS_BEFORE_BATCHNORM, "m", "p.yaml", 1, 2)
    assert type(d.code) is str and d.code == "W401"
    assert d == Diagnostic("W401", "m", "p.yaml", 1, 2) and hash(d) == hash(Diagnostic("W401", "m", "p.yaml", 1, 2))
    assert type(d.to_dict()["code"]) is str and json.loads(json.dumps(d.to_dict()))["code"] == "W401"
    assert d.format() == "p.yaml:1:2: W401 m"


def test_lookup_by_code_or_name():
    assert lookup("E201") is lookup("e201") is lookup("unknown-field") is TABLE[Code.UNKNOWN_FIELD]
    assert lookup("E299") is None and lookup("unknown") is None
    assert suggest_code("unknown-feild") is TABLE[Code.UNKNOWN_FIELD]
    assert suggest_code("W4O1") is TABLE[Code.CONV_BIAS_BEFORE_BATCHNORM]
    assert suggest_code("xyzzy") is None


# --------------------------------------------------------------------------- README


def test_readme_tables_are_generated_from_the_table():
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) == text, "run `python -m archspec.codes --write-readme README.md`"
    assert readme_tables() in text


def test_readme_tables_list_every_code_once():
    rows = re.findall(r"^\| ([EWI]\d{3}) \| ([a-z0-9-]+) \| (.*) \|$", readme_tables(), re.MULTILINE)
    assert [(c, n) for c, n, _ in rows] == [(c.value, row.name) for c, row in TABLE.items()]


def test_update_readme_replaces_only_between_the_markers():
    text = "# x\n\nbefore\n\n<!-- codes:begin -->\nstale rows\n<!-- codes:end -->\n\nafter\n"
    new = update_readme(text)
    assert new.startswith("# x\n\nbefore\n\n<!-- codes:begin") and new.endswith("<!-- codes:end -->\n\nafter\n")
    assert "stale rows" not in new and update_readme(new) == new
    with pytest.raises(ValueError):
        update_readme("no markers\n")


def test_python_m_archspec_codes_check_and_write(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text("top\n<!-- codes:begin -->\n| E999 | stale |\n<!-- codes:end -->\nbottom\n", encoding="utf-8")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "archspec.codes", *argv], check=False, capture_output=True, text=True, cwd=ROOT
        )

    check = run("--check", str(stale))
    assert check.returncode == 1 and "--write-readme" in check.stderr
    assert run("--write-readme", str(stale)).returncode == 0
    assert run("--check", str(stale)).returncode == 0
    assert "E999" not in stale.read_text(encoding="utf-8")
    printed = run()
    assert printed.returncode == 0 and printed.stdout == readme_tables() and printed.stderr == ""


# --------------------------------------------------------------------------- archspec explain


def explain(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_a_code_prints_the_whole_row(capsys):
    code, out, err = explain(capsys, "W401")
    row = TABLE[Code.CONV_BIAS_BEFORE_BATCHNORM]
    assert code == 0 and err == ""
    assert out.startswith("W401 conv-bias-before-batchnorm (warning")
    assert "# noqa: W401" in out
    for heading in ("Why it matters:", "Example:", "Fix:"):
        assert heading in out
    assert "bias: false" in out  # the fixed example
    assert row.summary in out
    for line in row.example.splitlines():
        assert f"    {line}" in out


def test_explain_by_name_and_in_any_case(capsys):
    by_code = explain(capsys, "E201")
    assert explain(capsys, "unknown-field") == by_code == explain(capsys, "e201")
    assert by_code[0] == 0 and "cannot be silenced" in by_code[1]


def test_explain_a_code_without_example(capsys):
    code, out, _ = explain(capsys, "E100")
    assert code == 0 and "unreadable-file" in out and "Example:" not in out and "Fix:" in out


def test_explain_lists_every_code(capsys):
    code, out, _ = explain(capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(TABLE)
    for line, row in zip(lines, TABLE.values()):
        assert line.startswith(f"{row.code}  {row.name} ") and line.endswith(row.summary)


def test_explain_json(capsys):
    code, out, _ = explain(capsys, "I502", "--format", "json")
    assert code == 0 and json.loads(out) == TABLE[Code.SOFTMAX_OUTPUT].to_dict()
    assert json.loads(out)["code"] == "I502" and json.loads(out)["severity"] == "info"
    code, out, _ = explain(capsys, "--format", "json")
    assert code == 0 and [r["code"] for r in json.loads(out)] == [c.value for c in TABLE]


@pytest.mark.parametrize(
    "word, guess", [("E219", "E21"), ("unknown-feild", "E201 (unknown-field)"), ("w4o1", "W401")], ids=["code", "name", "typo"]
)
def test_explain_unknown_code_suggests_and_exits_2(capsys, word, guess):
    code, out, err = explain(capsys, word)
    assert code == 2 and out == ""
    assert f"unknown code or rule `{word}`" in err and f"did you mean {guess}" in err


def test_explain_nonsense_exits_2_without_a_guess(capsys):
    code, out, err = explain(capsys, "xyzzy")
    assert (code, out) == (2, "") and "did you mean" not in err and "archspec explain" in err


# --------------------------------------------------------------------------- the CLI around it


def test_bare_archspec_prints_the_help_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: archspec" in err and "explain" in err and "describe" in err


def test_choices_come_from_the_library():
    from typing import get_args

    from archspec.render.diagram import FORMATS, STYLES, Direction
    from archspec.render.table import RENDERERS
    from archspec.spec.training import DataSource, OptimizerName, Precision, ScheduleName

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    def choices(command: str, flag: str) -> list[str]:
        action = next(a for a in commands[command]._actions if flag in a.option_strings)
        return list(action.choices or ())

    assert choices("describe", "--format") == list(RENDERERS)
    assert choices("describe", "--optimizer") == list(get_args(OptimizerName))
    assert choices("train", "--optimizer") == list(get_args(OptimizerName))
    assert choices("train", "--schedule") == list(get_args(ScheduleName))
    assert choices("train", "--data") == list(get_args(DataSource))
    assert choices("train", "--precision") == list(get_args(Precision))
    assert choices("diagram", "--style") == list(STYLES)
    assert choices("diagram", "--format") == list(FORMATS)
    assert choices("diagram", "--direction") == list(get_args(Direction))


def test_a_spec_error_from_a_torch_command_prints_diagnostics_and_exits_1(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(TABLE[Code.UNKNOWN_FIELD].example, encoding="utf-8")
    for argv in (["train", spec], ["evaluate", spec, "--checkpoint", "c.pt"], ["kernels", spec, "-o", "k.png"]):
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert f"{spec}:4:38: E201 layer `conv2d_1`: unknown field `kernal_size`" in err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "E100 cannot read file" in capsys.readouterr().err


def test_an_archspec_error_prints_its_message_and_exits_2(capsys, monkeypatch):
    from archspec.render import diagram

    def refuse(*args, **kw):
        raise diagram.DiagramError("no Graphviz here")

    monkeypatch.setattr(diagram, "render", refuse)
    assert main(["diagram", str(ROOT / "specs" / "seed_cnn.yaml"), "-o", "x.svg"]) == 2
    assert capsys.readouterr().err == "archspec: no Graphviz here\n"


# --------------------------------------------------------------------------- one exception tree

#: raised on purpose but not errors of archspec's API: control flow caught inside the analysis
INTERNAL = {"archspec.layers.base.LayerError", "archspec.layers.merge.MergeError", "archspec.importer.kinds.Inexpressible"}


def _exception_classes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.bases:
                found.append(f"{module}.{node.name}")
    return found


def test_every_exception_class_derives_from_archspec_error():
    """Outside the runtime (whose own tree is listed in errors.py's docstring, checked below)."""
    checked = 0
    for qualified in _exception_classes():
        module, name = qualified.rsplit(".", 1)
        if module.startswith("archspec.runtime"):
            continue
        if module.endswith("torch_modules"):
            pytest.importorskip("torch")
        cls = getattr(importlib.import_module(module), name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)) or qualified in INTERNAL:
            continue
        assert issubclass(cls, ArchspecError), qualified
        checked += 1
    assert checked >= 4  # SpecError, TorchMissingError, DiagramError, ...: the scan finds them


def test_errors_docstring_names_every_archspec_error():
    import archspec.errors

    doc = archspec.errors.__doc__ or ""
    for qualified in _exception_classes():
        module, name = qualified.rsplit(".", 1)
        if qualified in INTERNAL:
            continue
        if module.startswith("archspec.runtime"):
            pytest.importorskip("torch")
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type) and issubclass(cls, ArchspecError):
            assert name in doc, qualified


def test_public_error_names():
    assert archspec.ArchspecError is ArchspecError
