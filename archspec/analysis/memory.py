"""A static model of training memory: parameters, gradients, optimiser state and saved activations.

Autograd keeps, for the backward pass, what each operation's derivative needs: a
convolution or linear layer its input, ReLU its output, max-pooling its input and
int64 indices, dropout a byte mask... Each layer kind declares this (``saves``,
``extra_saved_bytes``, ``aliases_input`` for views); a tensor kept by several
layers is counted once. On top of them the backward pass holds gradients and temporaries
(``backward_workspace_bytes`` where a layer's outgrow the generic allowance).
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


def saved_bytes_per_sample(report: Report) -> int:
    """Bytes autograd keeps for one sample's backward pass, plus the input batch itself."""
    storage = {INPUT: INPUT}
    sizes = {INPUT: product(report.input_shape) * FLOAT32_BYTES}
    kept = {INPUT}  # the input batch is alive throughout the step
    extra = 0
    shapes = {INPUT: report.input_shape}
    for info in report.layers:
        layer, output_shape = _checked(info)
        storage[info.name] = storage[info.inputs[0]] if layer.aliases_input else info.name
        sizes.setdefault(storage[info.name], product(output_shape) * FLOAT32_BYTES)
        shapes[info.name] = output_shape
        if "input" in layer.saves:
            kept.update(storage[i] for i in info.inputs)
        if "output" in layer.saves:
            kept.add(storage[info.name])
        extra += layer.extra_saved_bytes([shapes[i] for i in info.inputs], output_shape)
    kept.add(storage[report.output])  # the output (and the loss computed from it)
    return sum(sizes[t] for t in kept) + extra


def backward_bytes_per_sample(report: Report) -> int:
    """What the backward pass holds at once on top of the saved activations: about the largest layer's output and
    input gradients, or a layer's own backward workspace where that is larger (attention's N×N gradients)."""
    sizes = [product(_checked(i)[1]) for i in report.layers] + [product(report.input_shape)]
    shapes = {INPUT: report.input_shape} | {i.name: _checked(i)[1] for i in report.layers}
    workspaces = (_checked(i)[0].backward_workspace_bytes([shapes[n] for n in i.inputs], _checked(i)[1]) for i in report.layers)
    return max(2 * max(sizes) * FLOAT32_BYTES, *workspaces)


def training_memory(report: Report, batch_size: int, optimizer: str = "adam") -> TrainingMemory:
    """Bytes of one training step at ``batch_size``: the estimate of its peak and its parts.

    The peak is the larger of the end of the forward pass (saved activations plus the
    backward's gradient buffers) and the optimiser step (its scratch), on top of the
    parameters, gradients, optimiser state and buffers that live throughout.
    """
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZER_STATE)}")
    totals = report.totals()
    trainable = totals["trainable_params"] * FLOAT32_BYTES
    params = totals["param_bytes"]
    state = OPTIMIZER_STATE[optimizer] * trainable
    activations = batch_size * saved_bytes_per_sample(report)
    gradient_buffers = batch_size * backward_bytes_per_sample(report)
    scratch = OPTIMIZER_SCRATCH[optimizer] * trainable
    fixed = params + trainable + state + totals["buffer_bytes"]
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
        "total": fixed + max(activations + gradient_buffers, scratch),
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
