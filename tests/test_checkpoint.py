"""Checkpoints: a typed object saved and loaded field for field, format 1 migrated, every bad file refused clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec.cli import main
from archspec.errors import ArchspecError

torch = pytest.importorskip("torch")

from archspec.runtime import checkpoint
from archspec.runtime.checkpoint import MARKER, VERSION, Checkpoint, CheckpointError, spec_hash
from archspec.runtime.train import train
from archspec.spec.training import Training

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"
TEXT = "archspec: 1\ninput: [3, 4, 4]\nlayers:\n  - {type: flatten}\n  - {type: linear, out_features: 2}\n"
ROW = {"epoch": 1, "train_loss": 0.9, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.25, "lr": 0.01, "seconds": 1.5}
HISTORY = [{**ROW, "images_per_s": 80.0}]


def same(a: Any, b: Any) -> bool:
    """Equal all the way down, tensors included (equal values, dtype and shape)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def parts() -> dict[str, Any]:
    """Real model, optimiser, scheduler and scaler states after one step of a tiny network."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    model(torch.randn(5, 3, 4, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": torch.amp.GradScaler("cpu", init_scale=1024.0).state_dict(),  # as fp16 training on a GPU has it
        "rng": {"torch": torch.get_rng_state()},
        "mean": torch.tensor([0.25, 0.5, 0.75]),
        "std": torch.tensor([0.1, 0.2, 0.3]),
    }


def made(**changes: Any) -> Checkpoint:
    fields = {
        "spec_text": TEXT,
        "spec_name": "tiny",
        "settings": Training(epochs=3, batch_size=16, seed=7),
        "epoch": 1,
        "history": HISTORY,
        "classes": ["cat", "dog"],
        **parts(),
    }
    return Checkpoint(**{**fields, **changes})


def version_1(ckpt: Checkpoint) -> dict[str, Any]:
    """The exact layout archspec wrote before checkpoints were versioned objects (format 1)."""
    return {
        "format": 1,
        "spec_text": ckpt.spec_text,
        "spec_hash": spec_hash(ckpt.spec_text),
        "spec_name": ckpt.spec_name,
        "settings": ckpt.settings.model_dump(mode="json"),
        "epoch": ckpt.epoch,
        "model": ckpt.model,
        "optimizer": ckpt.optimizer,
        "scheduler": ckpt.scheduler,
        "scaler": ckpt.scaler,
        "rng": ckpt.rng,
        "history": ckpt.history,
        "mean": ckpt.mean,
        "std": ckpt.std,
        "classes": ckpt.classes,
    }


def assert_same_fields(a: Checkpoint, b: Checkpoint) -> None:
    assert a.spec_text == b.spec_text and a.spec_name == b.spec_name and a.spec_hash == b.spec_hash
    assert a.settings == b.settings and a.epoch == b.epoch and a.classes == b.classes and a.history == b.history
    for name in ("model", "optimizer", "scheduler", "scaler", "rng", "mean", "std"):
        assert same(getattr(a, name), getattr(b, name)), name


def test_save_then_load_gives_back_every_field(tmp_path):
    original = made()
    original.save(tmp_path / "last.pt")
    loaded = Checkpoint.load(tmp_path / "last.pt", TEXT)
    assert_same_fields(loaded, original)
    assert loaded.settings.batch_size == 16 and loaded.settings.seed == 7 and loaded.epoch == 1
    assert loaded.optimizer["param_groups"][0]["lr"] == pytest.approx(0.005)  # the scheduler halved it once
    assert loaded.scaler["scale"] == 1024.0 and loaded.scheduler["last_epoch"] == 1
    assert loaded.migrated_from is None
    assert not list(tmp_path.glob(".*.tmp"))
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert raw[MARKER] == VERSION == 2 and raw["spec"]["hash"] == spec_hash(TEXT)


def test_the_module_functions_are_the_checkpoint_methods(tmp_path):
    checkpoint.save(made(epoch=5), tmp_path / "x.pt")
    loaded = checkpoint.load(tmp_path / "x.pt")
    assert isinstance(loaded, Checkpoint) and loaded.epoch == 5


def test_a_format_1_file_is_migrated(tmp_path):
    original = made(epoch=4)
    torch.save(version_1(original), tmp_path / "old.pt")
    loaded = Checkpoint.load(tmp_path / "old.pt", TEXT)
    assert_same_fields(loaded, original)
    assert loaded.migrated_from == 1 and loaded.epoch == 4 and loaded.settings.epochs == 3
    loaded.save(tmp_path / "new.pt")  # written again, it is in the current format
    assert torch.load(tmp_path / "new.pt", weights_only=True)[MARKER] == 2
    again = Checkpoint.load(tmp_path / "new.pt", TEXT)
    assert again.migrated_from is None
    assert_same_fields(again, original)


def test_a_format_1_file_without_rng_is_migrated(tmp_path):
    old = version_1(made())
    del old["rng"]
    torch.save(old, tmp_path / "old.pt")
    assert Checkpoint.load(tmp_path / "old.pt").rng == {}


def test_a_run_resumes_from_a_format_1_checkpoint(tmp_path):
    tiny = {"data.train_size": 128, "data.test_size": 64, "batch_size": 64, "epochs": 2, "augment": []}
    spec = archspec.load(SEED)
    whole = train(spec, tmp_path / "whole", overrides=tiny, quiet=True).history
    train(spec, tmp_path / "old", overrides={**tiny, "epochs": 1}, quiet=True)
    last = tmp_path / "old" / "last.pt"
    torch.save(version_1(Checkpoint.load(last)), last)  # as the first archspec wrote it
    resumed = train(spec, tmp_path / "old", overrides={"epochs": 2}, resume=True, quiet=True).history
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr")
    assert [{k: h[k] for k in keys} for h in resumed] == [{k: h[k] for k in keys} for h in whole]
    assert torch.load(last, weights_only=True)[MARKER] == 2
    assert Checkpoint.load(last, SEED.read_text()).epoch == 2


def write_raw(path: Path, changes: dict[str, Any], drop: tuple[str, ...] = ()) -> Path:
    raw = {**made().to_raw(), **changes}
    for key in drop:
        del raw[key]
    torch.save(raw, path)
    return path


REFUSED = [
    ("garbage", lambda p: p.write_bytes(b"not a checkpoint"), "not a readable checkpoint"),
    ("truncated", lambda p: p.write_bytes(_bytes_of(made())[:500]), "not a readable checkpoint"),
    ("not a dict", lambda p: torch.save([1, 2, 3], p), r"not an archspec checkpoint \(it holds a list\)"),
    ("other weights", lambda p: torch.save({"weight": torch.zeros(2)}, p), r"not an archspec checkpoint \(no format version"),
    ("future version", lambda p: write_raw(p, {MARKER: 3}), r"format version 3 is newer than this archspec reads \(1 to 2\)"),
    (
        "flat layout, version 2",
        lambda p: torch.save({**version_1(made()), "format": 2}, p),
        "unknown checkpoint format version 2 \\(in the flat",
    ),
    ("version zero", lambda p: write_raw(p, {MARKER: 0}), "unknown checkpoint format version 0"),
    ("version text", lambda p: write_raw(p, {MARKER: "2"}), "unknown checkpoint format version '2'"),
    (
        "missing part",
        lambda p: write_raw(p, {}, drop=("normalisation",)),
        "damaged archspec checkpoint: it lacks `normalisation`",
    ),
    ("mistyped part", lambda p: write_raw(p, {"epoch": "3"}), "damaged archspec checkpoint: `epoch` should be int, not str"),
    ("format 1 lacking", lambda p: torch.save({k: v for k, v in version_1(made()).items() if k != "mean"}, p), "it lacks `mean`"),
    ("bad settings", lambda p: write_raw(p, {"settings": {"epochs": 0}}), "training settings are not valid \\(epochs: "),
    (
        "text edited",
        lambda p: write_raw(p, {"spec": {"name": "tiny", "text": TEXT + "# edited\n", "hash": spec_hash(TEXT)}}),
        "its spec text does not match its spec hash",
    ),
]


def _bytes_of(ckpt: Checkpoint) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(ckpt.to_raw(), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("case", "write", "message"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_a_bad_file_is_refused_naming_it_and_the_problem(tmp_path, case, write, message):
    path = tmp_path / "bad.pt"
    write(path)
    with pytest.raises(CheckpointError, match=message) as caught:
        Checkpoint.load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"no-such\.pt: no such checkpoint"):
        Checkpoint.load(tmp_path / "no-such.pt")


def test_a_checkpoint_of_another_spec_is_refused_with_both_hashes(tmp_path):
    made().save(tmp_path / "last.pt")
    other = TEXT.replace("out_features: 2", "out_features: 3")
    with pytest.raises(CheckpointError, match="made for another spec") as caught:
        Checkpoint.load(tmp_path / "last.pt", other)
    assert spec_hash(TEXT)[:12] in str(caught.value) and spec_hash(other)[:12] in str(caught.value)
    assert Checkpoint.load(tmp_path / "last.pt", TEXT).spec_text == TEXT  # its own spec is accepted


def test_checkpoint_errors_are_archspec_errors_and_the_cli_prints_no_traceback(tmp_path, capsys):
    assert issubclass(CheckpointError, ArchspecError)
    future = write_raw(tmp_path / "future.pt", {MARKER: 9})
    assert main(["evaluate", str(SEED), "--checkpoint", str(future), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "format version 9 is newer" in err and str(future) in err and "Traceback" not in err


def test_the_settings_stored_are_the_json_form(tmp_path):
    made().save(tmp_path / "last.pt")
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert raw["settings"] == json.loads(Training(epochs=3, batch_size=16, seed=7).model_dump_json())
