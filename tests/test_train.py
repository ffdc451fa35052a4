"""Training on tiny data: outputs, resume = uninterrupted, data checks, dropout/batchnorm, augmentation paths, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.cli import main

torch = pytest.importorskip("torch")

from archspec.runtime import checkpoint
from archspec.runtime.augment import StreamBatches, TensorBatches, pipeline
from archspec.runtime.data import DataError, ImageSet, synthetic, write_image
from archspec.runtime.train import TrainingError, settings_for, train, verdict
from archspec.spec.training import Affine, HFlip

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"
TINY = {"data.train_size": 256, "data.test_size": 128, "batch_size": 64, "epochs": 2, "augment": []}
COMPARED = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr")


def seed_spec():
    return archspec.load(SEED)


def test_a_run_writes_metrics_curves_and_checkpoints(tmp_path):
    result = train(seed_spec(), tmp_path / "run", overrides=TINY, quiet=True)
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert set(r) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s"}
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1 and r["images_per_s"] > 0
    csv_lines = (run / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_s" and len(csv_lines) == 3
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    state = checkpoint.load(run / "last.pt", SEED.read_text())
    assert state.epoch == 2 and state.spec_hash == checkpoint.spec_hash(SEED.read_text())
    assert state.settings.data.train_size == 256 and len(state.history) == 2
    assert state.model and state.optimizer and state.scheduler and state.rng and len(state.classes) == 10
    assert state.mean.shape == state.std.shape == (3,)
    assert (run / "best.pt").exists()
    assert result.verdict["best_epoch"] in (1, 2)


def test_the_seed_network_learns_the_synthetic_shapes(tmp_path):
    """Well above the 10% of chance after a short run on a small set."""
    result = train(
        seed_spec(), tmp_path / "run", overrides={**TINY, "data.train_size": 6000, "data.test_size": 500, "epochs": 5}, quiet=True
    )
    assert result.history[-1]["test_acc"] > 0.3


def test_resume_after_a_kill_repeats_the_uninterrupted_run(tmp_path, monkeypatch):
    settings = {**TINY, "epochs": 3, "augment": [{"type": "hflip"}]}
    whole = train(seed_spec(), tmp_path / "whole", overrides=settings, quiet=True).history

    real_save = checkpoint.save

    def save_then_die(state, path):  # the process is killed right after epoch 2's checkpoint
        real_save(state, path)
        if state.epoch == 2 and Path(path).name == "last.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(seed_spec(), tmp_path / "killed", overrides=settings, quiet=True)
    monkeypatch.setattr(checkpoint, "save", real_save)
    resumed = train(seed_spec(), tmp_path / "killed", resume=True, quiet=True).history
    assert [{k: h[k] for k in COMPARED} for h in resumed] == [{k: h[k] for k in COMPARED} for h in whole]
    lines = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_an_existing_run_is_not_overwritten(tmp_path):
    train(seed_spec(), tmp_path / "run", overrides={**TINY, "epochs": 1}, quiet=True)
    with pytest.raises(TrainingError, match=r"already holds a run: use --resume .* or --force"):
        train(seed_spec(), tmp_path / "run", overrides={**TINY, "epochs": 1}, quiet=True)
    train(seed_spec(), tmp_path / "run", overrides={**TINY, "epochs": 1}, quiet=True, force=True)


def test_a_checkpoint_of_another_spec_is_refused(tmp_path):
    train(seed_spec(), tmp_path / "run", overrides={**TINY, "epochs": 1}, quiet=True)
    other = archspec.loads(SEED.read_text().replace("out_features: 10}", "out_features: 12}"), str(SEED))
    with pytest.raises(checkpoint.CheckpointError, match="made for another spec"):
        train(other, tmp_path / "run", resume=True, quiet=True)


def test_corrupted_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(bad)


def test_a_diverging_loss_stops_with_the_epoch_and_step(tmp_path):
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) at epoch 1, step \d+"):
        train(seed_spec(), tmp_path / "run", overrides={**TINY, "optimizer.name": "sgd", "optimizer.lr": 1e12}, quiet=True)


def test_data_that_does_not_fit_the_spec_says_so(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            write_image(torch.zeros(1, 28, 28, dtype=torch.uint8), (tmp_path / "imgs" / cls / f"{i}.png"))
    spec = archspec.loads(SEED.read_text().replace("input: [3, 64, 64]", "input: [1, 32, 32]"), "x.yaml")
    with pytest.raises(DataError, match="spec wants 1×32×32, images are 1×28×28"):
        train(
            spec, tmp_path / "run", overrides={**TINY, "data.source": "folder", "data.root": str(tmp_path / "imgs")}, quiet=True
        )


def test_training_on_an_image_folder(tmp_path):
    shapes = synthetic(40, (3, 64, 64), seed=3)
    for i, (image, label) in enumerate(zip(shapes.images, shapes.labels)):
        folder = tmp_path / "imgs" / shapes.classes[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        write_image(image, folder / f"{i}.png")
    result = train(
        seed_spec(),
        tmp_path / "run",
        overrides={**TINY, "epochs": 1, "data.source": "folder", "data.root": str(tmp_path / "imgs")},
        quiet=True,
    )
    assert result.history[0]["epoch"] == 1


def test_missing_cifar_says_where_to_put_it(tmp_path):
    spec = archspec.loads(SEED.read_text().replace("input: [3, 64, 64]", "input: [3, 32, 32]"), "x.yaml")
    with pytest.raises(DataError, match=r"CIFAR-10 not found under .*cifar-10-batches-py.*never downloads"):
        train(spec, tmp_path / "run", overrides={**TINY, "data.source": "cifar10", "data.root": str(tmp_path)}, quiet=True)


DROPOUT_BN = """
archspec: 1
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: batchnorm2d, name: bn}
  - {type: relu}
  - {type: flatten}
  - {type: dropout, name: drop, p: 0.5}
  - {type: linear, out_features: 3}
"""


def test_dropout_and_batchnorm_follow_the_seed_text():
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(DROPOUT_BN))
    x = torch.randn(16, 3, 8, 8) * 3 + 1
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # dropout active in training
    outs = model.forward_all(x)
    assert (outs["drop"] == 0).float().mean() > 0.3
    bn = model.get_submodule("bn")
    assert bn.num_batches_tracked.item() == 3 and bn.running_mean.abs().sum() > 0  # statistics carried over
    model.eval()
    c, d = model(x), model(x)
    assert torch.equal(c, d)  # evaluation is deterministic
    conv_out = model.forward_all(x)["conv2d_1"]
    expected = (conv_out - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
    expected = expected * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    assert torch.allclose(model.forward_all(x)["bn"], expected, atol=1e-5)  # the stored statistics, not the batch's


def _asymmetric(n: int) -> ImageSet:
    image = torch.zeros(3, 16, 16, dtype=torch.uint8)
    image[:, 6:10, 3:6] = 255  # a bright block left of centre (centre x = 4)
    return ImageSet(image.expand(n, -1, -1, -1).clone(), torch.zeros(n, dtype=torch.long), ["x"])


@pytest.mark.parametrize("Batches", [TensorBatches, StreamBatches])
def test_both_data_paths_apply_the_same_distribution_of_transforms(Batches):
    torch.manual_seed(0)
    n = 800
    transform = pipeline([HFlip(type="hflip", p=0.5), Affine(type="affine", translate=(0.2, 0.0))])
    kwargs = {"workers": 0} if Batches is StreamBatches else {}
    batches = Batches(_asymmetric(n), 100, "cpu", torch.zeros(3), torch.ones(3), transform, **kwargs)
    images = torch.cat([x for x, _ in batches])
    mass = images[:, 0].sum(dim=1)  # column profile
    centre = (mass * torch.arange(16)).sum(1) / mass.sum(1)
    flipped = (centre > 7.5).float().mean().item()
    assert abs(flipped - 0.5) < 0.06  # binomial(800, 0.5): sd 0.018
    left = centre[centre < 7.5]
    # translate up to ±20% of 16 px: a shift uniform in ±3.2 px has a standard deviation of 3.2/√3 ≈ 1.85
    assert 1.4 < left.std().item() < 2.3


def test_settings_overrides_are_validated():
    settings = settings_for(seed_spec(), {"epochs": 7, "optimizer.lr": 0.5})
    assert settings.epochs == 7 and settings.optimizer.lr == 0.5 and settings.optimizer.name == "adam"
    with pytest.raises(TrainingError, match="invalid training settings"):
        settings_for(seed_spec(), {"epochs": 0})


def test_overfitting_verdict_by_hand():
    losses = [(1.0, 1.0), (0.8, 0.9), (0.6, 0.85), (0.5, 0.86), (0.4, 0.95), (0.3, 1.0), (0.25, 1.1)]  # (train, test)
    history = [
        {"epoch": e, "train_loss": tr, "test_loss": te, "train_acc": 1 - tr / 2, "test_acc": 0.6 if e == 4 else 0.5}
        for e, (tr, te) in enumerate(losses, 1)
    ]
    v = verdict(history)
    assert v["best_epoch"] == 4 and v["lowest_test_loss_epoch"] == 3
    # epoch 4 is within 2% of the minimum 0.85 (noise); epochs 5-7 are above 0.867 with training loss below 0.6
    assert v["rising_test_loss_epochs"] == 3 and v["overfitting"] and v["overfitting_from"] == 3
    assert v["final_gap"] == pytest.approx((1 - 0.25 / 2) - 0.5)
    assert not verdict(history[:6])["overfitting"]  # only two epochs clearly above the minimum
    flat = [{**h, "test_loss": 2.30 + 0.001 * (h["epoch"] % 2)} for h in history]  # wiggles are not over-fitting
    assert not verdict(flat)["overfitting"]


def test_warmup_and_cosine_schedule(tmp_path):
    overrides = {**TINY, "epochs": 4, "schedule.name": "cosine", "schedule.warmup_epochs": 1, "data.train_size": 128}
    history = train(seed_spec(), tmp_path / "run", overrides=overrides, quiet=True).history
    # 2 steps per epoch, 8 in all; warm-up over steps 0-1, cosine over the other 6: lr after step k
    lr = 0.003
    import math

    expected = [lr * 1.0, lr * 0.5 * (1 + math.cos(math.pi * 2 / 6)), lr * 0.5 * (1 + math.cos(math.pi * 4 / 6)), lr * 0.0]
    assert [h["lr"] for h in history] == pytest.approx(expected, abs=1e-12)


def test_cli_train_evaluate_predict(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", str(SEED), "-o", str(out), "--epochs", "1", "--train-size", "256", "--test-size", "128", "--quiet"]
    assert main(argv) == 0
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(SEED),
                "--checkpoint",
                str(out / "last.pt"),
                "--format",
                "json",
                "-o",
                str(tmp_path / "cm.png"),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 128 and result["accuracy"] == pytest.approx(last["test_acc"])
    assert sum(map(sum, result["confusion"])) == 128
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    image = synthetic(1, (3, 64, 64), seed=99)
    write_image(image.images[0], tmp_path / "x.png")
    assert (
        main(
            [
                "predict",
                str(SEED),
                "--image",
                str(tmp_path / "x.png"),
                "--checkpoint",
                str(out / "best.pt"),
                "--format",
                "json",
                "--top-k",
                "3",
            ]
        )
        == 0
    )
    (prediction,) = json.loads(capsys.readouterr().out)
    probs = [t["probability"] for t in prediction["top"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert main(argv) == 2  # the run folder exists now
    assert "already holds a run" in capsys.readouterr().err


def test_two_processes_match_one(tmp_path):
    """torchrun with 2 CPU processes (gloo) gives the metrics of one process with the same global batch."""
    common = [
        "--epochs",
        "2",
        "--train-size",
        "256",
        "--test-size",
        "128",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "--no-augment",
    ]
    single = subprocess.run(
        [sys.executable, "-m", "archspec", "train", str(SEED), "-o", str(tmp_path / "one"), *common],
        capture_output=True,
        text=True,
    )
    assert single.returncode == 0, single.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    double = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "archspec",
            "train",
            str(SEED),
            "-o",
            str(tmp_path / "two"),
            *common,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(one, two, strict=True):
        for key in ("train_loss", "test_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-4)
        for key in ("train_acc", "test_acc"):
            assert b[key] == pytest.approx(a[key], abs=1 / 128 + 1e-9)
