"""The command line explains itself: consistent options, defaults and an example in every command's help,
and install advice that works (the name `archspec` on the package index is another project)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from archspec.cli import _parser, main

ROOT = Path(__file__).resolve().parent.parent


def test_no_message_or_document_installs_archspec_from_the_package_index():
    """`pip install archspec[...]` would install conda's CPU-microarchitecture library, not this project."""
    wrong = re.compile(r"pip install\s+['\"]?archspec\b")
    files = [*sorted((ROOT / "archspec").rglob("*.py")), ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "dev"]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1) if wrong.search(line)
    ]
    assert offenders == []


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


COMMANDS = sorted(subcommands())
WRITERS = ("diagram", "train", "evaluate", "gradcam", "kernels", "features", "rf", "augment")
IMAGE_READERS = ("predict", "gradcam", "features", "rf", "augment")


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example_and_helps_every_argument(command, capsys):
    text = help_of(command, capsys)
    assert re.search(rf"^examples?:\n  archspec {command}\b", text, re.MULTILINE), text
    for action in subcommands()[command]._actions:
        assert action.help, f"{command}: {action.dest} has no help text"
    if command not in ("explain", "schema", "lsp", "import"):  # commands that read no spec file
        assert re.search(r"^  SPEC +\S", text, re.MULTILINE), "SPEC is explained"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_default_worth_knowing_is_shown(command, capsys):
    text = help_of(command, capsys)
    assert "(default: None)" not in text and "(default: False)" not in text and "frozenset" not in text
    parser = subcommands()[command]
    shown = " ".join(text.split())
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS, frozenset()):
            entry = " ".join(parser._get_formatter()._expand_help(action).split())
            assert f"(default: {action.default})" in entry and entry in shown, f"{command} {action.option_strings}"


def test_the_defaults_of_training_flags_name_the_spec_and_the_fallback(capsys):
    text = " ".join(help_of("train", capsys).split())
    assert "epochs to train (default: the spec's `training.epochs`, else 5)" in text
    assert "learning rate (default: the spec's `training.optimizer.lr`, else 0.001)" in text
    assert "run folder (default: runs/NAME, NAME the spec's name)" in text


@pytest.mark.parametrize("command", WRITERS)
def test_what_a_command_writes_is_always_o_output_and_never_required(command, capsys):
    text = help_of(command, capsys)
    assert re.search(r"^  -o \S+, --output \S+", text, re.MULTILINE), text
    assert "--confusion" not in text and "--out " not in text  # the old spellings stay hidden
    (output,) = [a for a in subcommands()[command]._actions if "--output" in a.option_strings]
    assert not output.required


@pytest.mark.parametrize("command", IMAGE_READERS)
def test_images_are_always_given_as_image_file(command, capsys):
    text = help_of(command, capsys)
    assert "[--image FILE [FILE ...]]" in " ".join(text.split())
    usage = text.split("\n\n", 1)[0]
    assert "IMAGE" not in usage  # no positional image files


def test_the_old_spellings_still_work():
    parse = _parser().parse_args
    assert parse(["evaluate", "s.yaml", "--checkpoint", "c.pt", "--confusion", "cm.png"]).output == "cm.png"
    assert parse(["train", "s.yaml", "--out", "runs/x"]).output == "runs/x"
    assert parse(["predict", "s.yaml", "a.png", "b.png", "--checkpoint", "c.pt"]).images == ["a.png", "b.png"]
    assert parse(["rf", "s.yaml", "--image", "a.png"]).image == ["a.png"]


def test_a_single_image_command_refuses_two_images(tmp_path, capsys):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"")
    argv = ["rf", str(ROOT / "specs" / "seed_cnn.yaml"), "--image", str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert main([*argv, "-o", str(tmp_path / "rf.png")]) == 2
    assert "`rf` draws one image: give one --image FILE" in capsys.readouterr().err


def test_predict_without_images_says_how_to_give_them(capsys):
    assert main(["predict", str(ROOT / "specs" / "seed_cnn.yaml"), "--checkpoint", "c.pt"]) == 2
    assert "predict needs --image FILE..." in capsys.readouterr().err


def test_bare_archspec_prints_the_help_with_an_example(capsys):
    with pytest.raises(SystemExit) as exit:
        main([])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "COMMAND" in err and "archspec describe specs/seed_cnn.yaml" in err


def test_the_readme_lint_transcript_is_what_lint_prints(capsys, monkeypatch):
    """The README lints the shipped examples/broken.yaml; its transcript must be the real output."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```console\n$ archspec lint examples/broken.yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    assert main(["lint", "examples/broken.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out + err == block


def test_the_example_specs_are_not_bundled_specs():
    """tests treat every specs/*.yaml as a valid bundled spec; the broken example lives elsewhere."""
    assert (ROOT / "examples" / "broken.yaml").is_file()
    assert not list((ROOT / "specs").glob("*broken*"))
