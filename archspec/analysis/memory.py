"""A static model of training memory: parameters, gradients, optimiser state and saved activations.

Autograd keeps, for the backward pass, what each operation's derivative needs: a
convolution or linear layer its input, ReLU its output, max-pooling its input and
int64 indices, dropout a byte mask... Each layer kind declares this (``saves``,
``extra_saved_bytes``, ``aliases_input`` for views); a tensor kept by several
layers is counted once. The backward pass frees them as it goes (last layer first) while the
parameters' gradients appear, and each layer's backward holds gradients and temporaries on top
(``backward_workspace_bytes`` where a layer's outgrow the generic allowance); the peak is
the largest such moment or the optimiser's step.
"""

from __future__ import annotations

import re
from typing import TypedDict

from archspec.analysis.report import FLOAT32_BYTES, LayerInfo, Report
from archspec.arith import product
from archspec.graph import INPUT
from archspec.layers import LayerBase, Shape

#: float32 values of optimiser state per trainable parameter
OPTIMIZER_STATE = {"sgd": 1, "sgd-nomomentum": 0, "adam": 2, "adamw": 2}
#: float32 scratch per trainable parameter while the optimiser steps (torch's multi-tensor Adam
#: materialises sqrt(v) and the update; SGD updates in place)
OPTIMIZER_SCRATCH = {"sgd": 0, "sgd-nomomentum": 0, "adam": 1, "adamw": 1}


class TrainingMemory(TypedDict):
    """Bytes of one training step (see ``training_memory``), with the batch size and optimiser it is for."""

    batch_size: int
    optimizer: str
    params: int
    gradients: int
    optimizer_state: int
    buffers: int
    saved_activations: int
    backward_buffers: int
    optimizer_scratch: int
    total: int


def _checked(info: LayerInfo) -> tuple[LayerBase, Shape]:
    """A layer and its output shape: memory is estimated from a report without errors, where every layer has both."""
    assert info.layer is not None and info.output_shape is not None
    return info.layer, info.output_shape


def saved_during_backward(report: Report) -> list[int]:
    """Bytes autograd keeps for one sample, plus the input batch itself, still alive while each layer's backward
    runs (by the layer's position; the backward visits the layers last to first). A tensor is freed once the
    first layer that keeps it has had its backward; a layer's own extra bytes once its backward is done."""
    storage = {INPUT: INPUT}
    sizes = {INPUT: product(report.input_shape) * FLOAT32_BYTES}
    first_keeper = {INPUT: -1}  # the input batch is alive throughout the step
    extra: list[int] = []
    shapes = {INPUT: report.input_shape}
    for index, info in enumerate(report.layers):
        layer, output_shape = _checked(info)
        storage[info.name] = storage[info.inputs[0]] if layer.aliases_input else info.name
        sizes.setdefault(storage[info.name], product(output_shape) * FLOAT32_BYTES)
        shapes[info.name] = output_shape
        kept = [storage[i] for i in info.inputs] if "input" in layer.saves else []
        kept += [storage[info.name]] if "output" in layer.saves else []
        for tensor in kept:
            first_keeper.setdefault(tensor, index)
        extra.append(layer.extra_saved_bytes([shapes[i] for i in info.inputs], output_shape))
    first_keeper.setdefault(storage[report.output], len(report.layers) - 1)  # the output (and the loss from it)
    freed_after = [0] * len(report.layers)
    for tensor, index in first_keeper.items():
        if index >= 0:
            freed_after[index] += sizes[tensor]
    alive, running = [], sizes[INPUT]
    for own, layer_extra in zip(freed_after, extra, strict=True):
        running += own + layer_extra
        alive.append(running)
    return alive


def saved_bytes_per_sample(report: Report) -> int:
    """Bytes autograd keeps for one sample's backward pass, plus the input batch itself (all alive when the
    backward pass begins)."""
    alive = saved_during_backward(report)
    return alive[-1] if alive else product(report.input_shape) * FLOAT32_BYTES


def backward_during(report: Report) -> list[int]:
    """Bytes one sample's backward pass holds at once on top of the saved activations while each layer's runs:
    its output's gradient and its input's (twice the larger), or its own workspace where that is larger
    (attention's N×N gradients)."""
    shapes = {INPUT: report.input_shape} | {i.name: _checked(i)[1] for i in report.layers}
    held = []
    for info in report.layers:
        layer, out = _checked(info)
        ins = [shapes[n] for n in info.inputs]
        gradients = 2 * max(product(s) for s in [out, *ins]) * FLOAT32_BYTES
        held.append(max(gradients, layer.backward_workspace_bytes(ins, out)))
    return held


def backward_bytes_per_sample(report: Report) -> int:
    """The most one sample's backward pass holds at once on top of the saved activations (see ``backward_during``)."""
    return max(backward_during(report), default=2 * product(report.input_shape) * FLOAT32_BYTES)


def training_memory(report: Report, batch_size: int, optimizer: str = "adam") -> TrainingMemory:
    """Bytes of one training step at ``batch_size``: the estimate of its peak and its parts.

    The parameters, optimiser state and buffers live throughout. The backward pass visits the layers last to
    first: while a layer's backward runs, the activations that it and the layers before it saved are alive,
    with the gradients of its own and of the later layers' parameters (made as their backward passes, the
    previous step's freed with ``zero_grad(set_to_none=True)``) and the backward's gradient buffers; the
    peak is the largest of these, or the optimiser step (every gradient and its scratch) where that is larger.
    """
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZER_STATE)}")
    totals = report.totals()
    trainable = totals["trainable_params"] * FLOAT32_BYTES
    params = totals["param_bytes"]
    state = OPTIMIZER_STATE[optimizer] * trainable
    saved = saved_during_backward(report)
    gradient_buffers = batch_size * backward_bytes_per_sample(report)
    scratch = OPTIMIZER_SCRATCH[optimizer] * trainable
    held = backward_during(report)
    gradients_made, backward_peak = 0, 0  # over the layers, last to first
    for info, alive, buffers in zip(reversed(report.layers), reversed(saved), reversed(held), strict=True):
        gradients_made += info.trainable_params * FLOAT32_BYTES
        backward_peak = max(backward_peak, gradients_made + batch_size * (alive + buffers))
    activations = batch_size * saved_bytes_per_sample(report)
    return {
        "batch_size": batch_size,
        "optimizer": optimizer,
        "params": params,
        "gradients": trainable,
        "optimizer_state": state,
        "buffers": totals["buffer_bytes"],
        "saved_activations": activations,
        "backward_buffers": gradient_buffers,
        "optimizer_scratch": scratch,
        "total": params + state + totals["buffer_bytes"] + max(backward_peak, trainable + scratch),
    }


def largest_batch(report: Report, budget: int, optimizer: str = "adam") -> int:
    """The largest batch whose estimated training step fits in ``budget`` bytes (0 if none does)."""
    low, high = 0, 1
    while training_memory(report, high, optimizer)["total"] <= budget and high < 2**40:
        low, high = high, high * 2
    while high - low > 1:  # the total only grows with the batch
        mid = (low + high) // 2
        low, high = (mid, high) if training_memory(report, mid, optimizer)["total"] <= budget else (low, mid)
    return low


_UNITS = {
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "KIB": 2**10,
    "M": 10**6,
    "MB": 10**6,
    "MIB": 2**20,
    "G": 10**9,
    "GB": 10**9,
    "GIB": 2**30,
    "T": 10**12,
    "TB": 10**12,
    "TIB": 2**40,
}


def parse_size(text: str) -> int:
    """``16GiB`` -> 17179869184.

    A unit is required: a bare ``16`` would silently mean 16 bytes.

    >>> parse_size("16GiB"), parse_size("512 MB"), parse_size("1.5G"), parse_size("4096B")
    (17179869184, 512000000, 1500000000, 4096)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if m and not m.group(2):
        raise ValueError(f"a size needs a unit: {text!r} (write e.g. {m.group(1)}GiB, {m.group(1)}GB or {m.group(1)}B)")
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (write e.g. 16GiB, 512MB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])
