"""Right on every input, kind to a newcomer: synthetic images by index, only what is asked for made, checks that
never crash, refusals before torch is imported, messages that say what to do."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.cli import _run, main

torch = pytest.importorskip("torch")

from archspec.runtime import data as data_module
from archspec.runtime import inspect
from archspec.runtime.data import load_data, load_test, synthetic

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"


def small_data_spec(train_size: int = 300, test_size: int = 500) -> archspec.Spec:
    """The seed network with a small synthetic data section."""
    text = SEED.read_text().replace(
        "data: {source: synthetic}", f"data: {{source: synthetic, train_size: {train_size}, test_size: {test_size}}}"
    )
    return archspec.loads(text, "small.yaml")


# --- synthetic images depend on (seed, index) only ---


def test_a_synthetic_image_is_the_same_in_every_set_size():
    small, large = synthetic(500, seed=4), synthetic(4000, seed=4)
    assert torch.equal(small.images[3], large.images[3])
    assert torch.equal(small.images, large.images[:500])
    assert torch.equal(small.labels, large.labels[:500]) and torch.equal(small.boxes, large.boxes[:500])


def test_an_image_made_alone_is_the_one_in_the_batch():
    batch = synthetic(600, seed=4)
    for index in (0, 3, 255, 256, 599):
        alone = synthetic(1, seed=4, start=index)
        assert torch.equal(alone.images[0], batch.images[index]), index
        assert alone.labels.item() == batch.labels[index].item() and torch.equal(alone.boxes[0], batch.boxes[index])
    window = synthetic(20, seed=4, start=250)  # across a chunk boundary
    assert torch.equal(window.images, batch.images[250:270])


def test_test_images_are_not_training_images():
    spec = small_data_spec()
    train, test = load_data(spec.training.data, (3, 64, 64))
    flat_train, flat_test = train.images.flatten(1), test.images.flatten(1)
    assert not (flat_test[:, None] == flat_train[None]).all(2).any()
    assert len({tuple(x.tolist()) for x in flat_test[:100]}) == 100  # no repeats inside a set either


def test_every_command_sees_the_same_image_at_an_index():
    spec = small_data_spec(test_size=500)
    _, test = load_data(spec.training.data, (3, 64, 64))
    picked = inspect.images_for(spec, None, None, 3, 1)
    assert torch.equal(picked["images"][0], test.images[3])
    bigger = small_data_spec(test_size=4000)
    assert torch.equal(inspect.images_for(bigger, None, None, 3, 1)["images"][0], test.images[3])
    alone, total = load_test(spec.training.data, (3, 64, 64), 3, 1)
    assert total == 500 and torch.equal(alone.images[0], test.images[3])


# --- only what is needed is made ---


@pytest.fixture
def drawn(monkeypatch) -> list[int]:
    """The number of synthetic images drawn, chunk by chunk."""
    counts: list[int] = []
    real = data_module._draw

    def counting(n, *args, **kw):
        counts.append(n)
        return real(n, *args, **kw)

    monkeypatch.setattr(data_module, "_draw", counting)
    return counts


def test_rf_at_an_index_draws_one_chunk_not_the_data_set(tmp_path, drawn):
    inspect.run_rf(archspec.load(SEED), str(tmp_path / "rf.png"), index=3)
    assert 0 < sum(drawn) <= 256  # the seed's data: 40,000 training and 4,000 test images


def test_augment_at_an_index_draws_one_chunk(tmp_path, drawn):
    inspect.run_augment(archspec.load(ROOT / "specs" / "seed_cnn_augmented.yaml"), str(tmp_path / "a.png"), index=3, n=2)
    assert 0 < sum(drawn) <= 256


def test_an_index_beyond_the_test_data_is_refused_without_drawing(drawn):
    with pytest.raises(inspect.InspectError, match=r"--index 500 is outside the test data \(0 … 499\)"):
        inspect.images_for(small_data_spec(), None, None, 500, 1)
    assert sum(drawn) == 0


# --- describe --check never crashes on a valid spec ---

ONE_VALUE_PER_CHANNEL = {
    "batchnorm1d after global pooling": """\
archspec: 1
input: [8, 4, 4]
layers:
  - {type: globalavgpool2d}
  - {type: linear, out_features: 16}
  - {type: batchnorm1d}
  - {type: linear, out_features: 10}
""",
    "batchnorm2d on C×1×1": """\
archspec: 1
input: [8, 4, 4]
layers:
  - {type: adaptiveavgpool2d, output_size: 1}
  - {type: batchnorm2d}
  - {type: flatten}
  - {type: linear, out_features: 10}
""",
}


@pytest.mark.parametrize("case", sorted(ONE_VALUE_PER_CHANNEL))
def test_check_with_one_value_per_channel_agrees(case, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(ONE_VALUE_PER_CHANNEL[case])
    assert main(["describe", "--check", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert "figures of 4 layers agree with torch" in err


# --- refusals before torch is imported (it takes seconds), and never an internal error ---

_CLI = """\
import sys
from archspec.cli import _run, main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\ntorch imported: %s\\n" % ("torch" in sys.modules))
sys.exit(code)
"""

NO_FLATTEN = """\
archspec: 1
input: [8, 32, 32]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: relu}
  - {type: linear, name: fc, out_features: 10}
"""


def cli_in_a_new_process(*argv: object) -> tuple[int, str, bool]:
    """The exit code, stderr (less the last line) and whether torch was imported, of a fresh `archspec` process."""
    result = subprocess.run([sys.executable, "-c", _CLI, *map(str, argv)], capture_output=True, text=True, cwd=ROOT)
    err, _, last = result.stderr.rstrip("\n").rpartition("\n")
    assert last.startswith("torch imported: "), result.stderr
    return result.returncode, err, last == "torch imported: True"


def test_an_existing_run_folder_is_refused_before_torch(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    code, err, torch_imported = cli_in_a_new_process("train", SEED, "-o", tmp_path / "run")
    assert (code, torch_imported) == (2, False)
    assert "already holds a run: use --resume to continue it or --force to start over" in err


def test_resuming_a_folder_without_a_run_is_refused_before_torch(tmp_path):
    code, err, torch_imported = cli_in_a_new_process("train", SEED, "-o", tmp_path / "empty", "--resume")
    assert (code, torch_imported) == (2, False)
    assert "holds no run to resume (no last.pt)" in err


def test_features_of_a_layer_without_feature_maps_is_refused_before_torch(tmp_path):
    code, err, torch_imported = cli_in_a_new_process("features", SEED, "--layer", "fc", "-o", tmp_path / "f.png")
    assert (code, torch_imported) == (2, False)
    assert err.strip() == "archspec: `fc` has no feature maps (its output is 10): choose a layer with a C×H×W output"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["features", SEED, "--layer", "conv3", "-o", "f.png"], "no layer `conv3` in seed-cnn — did you mean `conv2`?"),
        (["rf", SEED, "--layer", "fc", "-o", "rf.png"], "`fc` has no receptive field"),
        (["rf", SEED, "--layer", "pool2", "--unit", "99", "0", "-o", "rf.png"], "unit (99, 0) is outside `pool2`'s 16×16 output"),
        (["gradcam", SEED, "--checkpoint", "missing.pt", "-o", "g.png"], "missing.pt: no such checkpoint file"),
        (["rf", SEED, "--image", "missing.png", "-o", "rf.png"], "missing.png: no such image file"),
        (
            ["rf", SEED, "-o", "no/such/folder/rf.png"],
            "cannot write no/such/folder/rf.png: the folder no/such/folder does not exist",
        ),
        (["augment", SEED.parent / "lenet5.yaml", "-o", "a.png"], "lists no augmentation"),
    ],
    ids=["unknown-layer", "no-rf", "unit-outside", "no-checkpoint", "no-image", "no-output-folder", "no-augmentation"],
)
def test_inspection_mistakes_are_refused_before_torch(argv, message, tmp_path):
    argv = [tmp_path / a if isinstance(a, str) and a.endswith((".png", ".pt")) else a for a in argv]
    code, err, torch_imported = cli_in_a_new_process(*argv)
    assert (code, torch_imported) == (2, False), err
    assert message.replace("no/such", str(tmp_path / "no/such")).replace("missing", str(tmp_path / "missing")) in err
    assert "Traceback" not in err


def test_training_a_network_without_class_scores_is_one_clear_line(tmp_path):
    spec = tmp_path / "noflat.yaml"
    spec.write_text(NO_FLATTEN)
    code, err, torch_imported = cli_in_a_new_process("train", spec, "-o", tmp_path / "run")
    assert (code, torch_imported) == (1, False)  # a spec problem, like lint's findings
    assert err.strip() == (
        f"{spec}:6:5: W411 cannot train: the output layer `fc` gives 8×32×10, not a vector of class scores: "
        "add a flatten or global pooling before the classifier"
    )
    with pytest.raises(archspec.SpecError, match="add a flatten or global pooling"):  # the Python API refuses it too
        archspec.train(archspec.load(spec), tmp_path / "api", quiet=True)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--data", "folder", "--data-root", "missing"], "image folder {tmp}/missing not found"),
        (["--data", "folder", "--data-root", "empty"], "{tmp}/empty holds no class folders"),
        (["--data", "cifar10", "--data-root", "empty"], "CIFAR-10 not found under {tmp}/empty"),
        (
            ["--data", "folder", "--data-root", "three"],
            "the data ({tmp}/three) has 11 classes but the output layer `fc` gives 10",
        ),
    ],
    ids=["no-folder", "no-class-folders", "no-cifar", "too-many-classes"],
)
def test_data_mistakes_are_refused_before_torch(flags, message, tmp_path):
    (tmp_path / "empty").mkdir()
    for k in range(11):
        (tmp_path / "three" / f"class{k}").mkdir(parents=True)
    flags = [str(tmp_path / f) if f in ("missing", "empty", "three") else f for f in flags]
    code, err, torch_imported = cli_in_a_new_process("train", SEED, "-o", tmp_path / "run", *flags)
    assert (code, torch_imported) == (2, False), err
    assert message.format(tmp=tmp_path) in err


def test_user_mistakes_found_by_torch_are_messages_not_internal_errors(tmp_path, capsys):
    (tmp_path / "imgs" / "a").mkdir(parents=True)  # a class folder without images
    cases = [
        (["--device", "bogus"], "unknown device `bogus`: use auto, cpu, cuda, cuda:N or mps"),
        (["--data", "folder", "--data-root", str(tmp_path / "imgs")], "Found no valid file for the classes a"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "device `cuda`: CUDA is not available here; use --device cpu (or auto)"))
    for k, (flags, message) in enumerate(cases):
        assert main(["train", str(SEED), "-o", str(tmp_path / f"run{k}"), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "internal error" not in err and "Traceback" not in err
    # a file that cannot be written is named, not a trace
    (tmp_path / "k.png").mkdir()
    assert main(["kernels", str(SEED), "-o", str(tmp_path / "k.png")]) == 2
    assert f"archspec: cannot write {tmp_path / 'k.png'}: it is a folder" in capsys.readouterr().err

    def unwritable(args):
        raise PermissionError(13, "Permission denied", "out.png")

    assert _run("kernels", unwritable, argparse.Namespace()) == 2
    assert capsys.readouterr().err == "archspec: out.png: Permission denied\n"


def test_training_says_what_it_does_while_torch_loads_and_the_data_are_made(tmp_path, capsys):
    argv = ["train", str(SEED), "-o", str(tmp_path / "run"), "--epochs", "1", "--train-size", "64", "--test-size", "32"]
    assert main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "loading torch…"
    making = [i for i, line in enumerate(lines) if line.startswith("making the synthetic data: 64 training and 32 test images")]
    training = [i for i, line in enumerate(lines) if line.startswith("training seed-cnn on")]
    assert making and training and making[0] < training[0]
