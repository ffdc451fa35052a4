"""Crash safety: SIGKILL at random moments always leaves a loadable checkpoint that resumes; refusing absurd models."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archspec

torch = pytest.importorskip("torch")

from archspec.runtime import checkpoint
from archspec.runtime.build import MemoryRefused

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"
ARGS = ["--epochs", "6", "--train-size", "768", "--test-size", "128", "--no-augment", "--quiet", "--device", "cpu"]
COMPARED = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr")


def train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "archspec", "train", str(SEED), "-o", str(out), *ARGS, *extra]


def metrics(out: Path) -> list[dict]:
    return [{k: json.loads(line)[k] for k in COMPARED} for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sigkill_at_random_moments_always_resumes(tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(train_cmd(whole), check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    run = tmp_path / "killed"
    rng = random.Random(11)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(4):
        resume = (run / "last.pt").exists()
        proc = subprocess.Popen(
            train_cmd(run, *(["--resume"] if resume else ["--force"])),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (run / "last.pt").exists():  # whatever moment the kill hit, the checkpoint is whole
            state = checkpoint.load(run / "last.pt", SEED.read_text())
            assert 1 <= state.epoch <= 6 and len(state.history) == state.epoch
            assert [h["epoch"] for h in metrics(run)][: state.epoch] == list(range(1, state.epoch + 1))
    finish = train_cmd(run, "--resume") if (run / "last.pt").exists() else train_cmd(run, "--force")
    subprocess.run(finish, check=True, cwd=ROOT, env=env)
    assert metrics(run) == metrics(whole)  # the same run as if nothing had happened
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]  # no half-written files left visible


def test_truncated_checkpoint_is_refused_clearly(tmp_path):
    out = tmp_path / "run"
    subprocess.run(
        [*train_cmd(out)[:-6], "--epochs", "1", "--train-size", "128", "--test-size", "64", "--quiet"], check=True, cwd=ROOT
    )
    data = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(data[: len(data) // 2])
    result = subprocess.run(train_cmd(out, "--resume"), capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "not a readable checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_absurd_models_are_refused_before_allocating():
    spec = archspec.loads("archspec: 1\ninput: [1000000]\nlayers:\n  - {type: linear, out_features: 1000000000}\n")
    with pytest.raises(MemoryRefused, match=r"needs about 3\.64 PiB|needs about .* but cpu has"):
        archspec.build(spec)
    model = archspec.build(spec, device="meta")  # symbolic: nothing allocated
    assert sum(p.numel() for p in model.parameters()) == 10**15 + 10**9


def test_training_that_cannot_fit_is_refused(tmp_path):
    from archspec.runtime.train import TrainingError, train

    with pytest.raises((MemoryRefused, TrainingError), match=r"needs about .* available"):
        train(
            archspec.load(SEED),
            tmp_path / "run",
            overrides={"batch_size": 10**9, "data.train_size": 64, "data.test_size": 64},
            quiet=True,
        )
