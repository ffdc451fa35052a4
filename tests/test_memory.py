"""The static training-memory model, by hand for the seed network; the CLI's --batch-size / --memory-budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.analysis.memory import backward_bytes_per_sample, largest_batch, parse_size, saved_bytes_per_sample, training_memory
from archspec.cli import main

SEED = Path(__file__).resolve().parent.parent / "specs" / "seed_cnn.yaml"


@pytest.fixture(scope="module")
def report():
    return archspec.analyze(archspec.load(SEED))


def test_saved_activations_of_the_seed_network_by_hand(report):
    # kept for backward: the input (conv1 reads it), relu1's and relu2's outputs (ReLU keeps its result; the
    # pools read them too), pool1's output (conv2's input), pool2's output (fc reads it through the flatten
    # view), the softmax output; conv outputs are not kept (ReLU needs only its result)
    floats = 3 * 64 * 64 + 4 * 64 * 64 + 4 * 32 * 32 + 8 * 32 * 32 + 8 * 16 * 16 + 10
    indices = 8 * (4 * 32 * 32 + 8 * 16 * 16)  # int64 argmax of each max-pooling window
    assert saved_bytes_per_sample(report) == 4 * floats + indices
    assert backward_bytes_per_sample(report) == 2 * 4 * (4 * 64 * 64)  # the largest activation and its gradient


def test_training_memory_parts(report):
    m = training_memory(report, 512, "adam")
    assert (m["params"], m["gradients"], m["optimizer_state"], m["buffers"]) == (4 * 20898, 4 * 20898, 8 * 20898, 0)
    assert m["saved_activations"] == 512 * saved_bytes_per_sample(report)
    assert m["total"] == 16 * 20898 + 512 * (saved_bytes_per_sample(report) + backward_bytes_per_sample(report))
    sgd = training_memory(report, 512, "sgd")
    assert sgd["optimizer_state"] == 4 * 20898 and sgd["total"] == m["total"] - 4 * 20898


def test_largest_batch_fits_and_one_more_does_not(report):
    budget = 2**30
    n = largest_batch(report, budget, "adam")
    assert training_memory(report, n, "adam")["total"] <= budget < training_memory(report, n + 1, "adam")["total"]
    assert largest_batch(report, 1000, "adam") == 0


def test_sizes():
    assert parse_size("16GiB") == 16 * 2**30 and parse_size("512 MB") == 512 * 10**6
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_cli_memory(capsys):
    assert (
        main(["describe", str(SEED), "--batch-size", "64", "--optimizer", "sgd", "--memory-budget", "1GiB", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 20898  # the contract's keys stay
    assert data["training_memory"]["training_step"]["batch_size"] == 64
    assert data["training_memory"]["largest_batch"] == largest_batch(archspec.analyze(archspec.load(SEED)), 2**30, "sgd")
    assert main(["describe", str(SEED), "--batch-size", "64"]) == 0
    assert "Training step, batch 64" in capsys.readouterr().out
    assert main(["describe", str(SEED), "--memory-budget", "lots"]) == 2
