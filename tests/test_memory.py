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
    # the peak is pool1's backward (pool2's ties): the input, relu1's output and pool1's int64 indices are still
    # saved; the gradients of pool1's output and input are held (twice 4·64·64, the larger); conv2's and fc's
    # parameters have their gradients, conv1's not yet; parameters and Adam's two moments throughout
    alive = 4 * (3 * 64 * 64 + 4 * 64 * 64) + 8 * 4 * 32 * 32
    held = 2 * 4 * (4 * 64 * 64)
    assert m["total"] == 12 * 20898 + 4 * (296 + 20490) + 512 * (alive + held)
    sgd = training_memory(report, 512, "sgd")
    assert sgd["optimizer_state"] == 4 * 20898 and sgd["total"] == m["total"] - 4 * 20898


def test_a_wide_layer_peaks_in_the_optimiser_step():
    # 1,001,000 parameters and a few thousand activations: the peak is Adam's step, with the parameters, both
    # moments, every gradient and a scratch copy (5 float32 values per parameter)
    wide = archspec.analyze(
        archspec.loads(json.dumps({"archspec": 1, "input": [1000], "layers": [{"type": "linear", "out_features": 1000}]}))
    )
    assert training_memory(wide, 8, "adam")["total"] == 5 * 4 * 1_001_000


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


# --- attention: what autograd keeps on each path, with torch as the oracle ---


def attention_spec(n: int, d: int, heads: int, dropout: float) -> str:
    layer = {"type": "multihead_attention", "name": "attn", "num_heads": heads, "dropout": dropout}
    return json.dumps({"archspec": 1, "input": [n, d], "layers": [layer]})


def saved_by_torch(n: int, d: int, heads: int, dropout: float, need_weights: bool, batch: int) -> tuple[int, int]:
    """Bytes autograd saves in one training forward of torch's own nn.MultiheadAttention (by storage, the
    parameters left out), and the output's bytes."""
    torch = pytest.importorskip("torch")
    import torch_oracle

    module = torch.nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True).train()
    x = torch.randn(batch, n, d, requires_grad=True)
    saved, out = torch_oracle.saved_bytes(module, lambda: module(x, x, x, need_weights=need_weights)[0])
    return saved, out.untyped_storage().nbytes()


@pytest.mark.parametrize("dropout", [0.0, 0.2], ids=["fused", "math"])
@pytest.mark.parametrize("n, d, heads", [(12, 8, 2), (7, 12, 3), (20, 4, 1)])
def test_saved_bytes_of_attention_on_each_path_are_torchs(n, d, heads, dropout):
    """The model's saved bytes of a spec holding one attention layer: what torch saves for its backward (the
    in-projection's input, Q, K, V, the heads' output; a log-sum-exp per head and token on the fused path,
    three N×N tensors per head and scaled copies on the math path) and the output the loss reads."""
    report = archspec.analyze(archspec.loads(attention_spec(n, d, heads, dropout)))
    batch = 3  # more than one sample: torch then saves a transposed copy of the input, not the input itself
    saved, output = saved_by_torch(n, d, heads, dropout, need_weights=False, batch=batch)
    assert batch * saved_bytes_per_sample(report) == saved + output


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_saved_floats_with_the_weights_returned(dropout):
    """need_weights=True (nn.MultiheadAttention's own math code; the lowered layer never asks for it) keeps the
    softmax's N×N output per head even without dropout."""
    from archspec.layers.attention import attention_saved_floats

    n, d, heads, batch = 9, 12, 3, 2
    saved, _ = saved_by_torch(n, d, heads, dropout, need_weights=True, batch=batch)
    assert batch * 4 * (n * d + attention_saved_floats(n, d, heads, dropout, need_weights=True)) == saved


def allocated_bytes():
    """The C heap's bytes in use (glibc's mallinfo2), or None where it cannot be read."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (f, ctypes.c_size_t) for f in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        ]

    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    return lambda: mallinfo2().uordblks + mallinfo2().hblkhd


def backward_rise(n: int, d: int, heads: int, dropout: float, batch: int, used) -> int:
    """The most the allocator's bytes in use rise over their level when torch's own attention backward begins,
    sampled after every operation."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    class Peak(TorchDispatchMode):
        top = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            Peak.top = max(Peak.top, used())
            return out

    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True).train()
    x = torch.randn(batch, n, d, requires_grad=True)
    for p in module.parameters():
        p.grad = torch.zeros_like(p)  # the parameters' gradients are not the workspace's
    out = module(x, x, x, need_weights=False)[0]
    grad = torch.randn_like(out)
    with Peak():
        out.sum()  # the mode's own first-use allocations, before the baseline
        start = Peak.top = used()
        out.backward(grad)
    return Peak.top - start


@pytest.mark.parametrize("dropout", [0.0, 0.1], ids=["fused", "math"])
@pytest.mark.parametrize("n, d, heads", [(128, 32, 4), (48, 64, 2)])
def test_attention_backward_workspace_is_what_the_allocator_sees(n, d, heads, dropout):
    """The attention's backward workspace against the C heap's bytes in use during torch's backward, per sample
    (the difference between two batch sizes, so that parameter-sized temporaries cancel), its output's gradient
    included; within 3%. The math path's N×N gradient per head must show in it."""
    used = allocated_bytes()
    if used is None:
        pytest.skip("needs glibc's mallinfo2")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    layer = archspec.analyze(archspec.loads(attention_spec(n, d, heads, dropout))).layer("attn").layer
    per_sample = (backward_rise(n, d, heads, dropout, 8, used) - backward_rise(n, d, heads, dropout, 4, used)) / 4
    measured = per_sample + n * d * 4  # the output's gradient was made before the baseline
    assert layer.backward_workspace_bytes([(n, d)], (n, d)) == pytest.approx(measured, rel=0.03)
    report = archspec.analyze(archspec.loads(attention_spec(n, d, heads, dropout)))
    assert backward_bytes_per_sample(report) == max(2 * 4 * n * d, layer.backward_workspace_bytes([(n, d)], (n, d)))
