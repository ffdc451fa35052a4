"""``describe --check``: confirm the static report against torch, layer by layer.

The model is built on the meta device (no memory, no arithmetic) and every layer
is run on its own under FlopCounterMode, so each figure is torch's own: output
shape, parameter and buffer counts, and MACs (= counted FLOPs / 2). Layers run in
evaluation mode: a batch norm that sees one value per channel (after global
pooling, on a batch of one) would refuse it in training mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from archspec.analysis import Report
from archspec.graph import INPUT
from archspec.runtime.build import build


@dataclass(frozen=True)
class Disagreement:
    layer: str
    figure: str
    static: object
    torch: object

    def __str__(self) -> str:
        return f"{self.layer}: {self.figure} is {self.static} statically but {self.torch} in torch"


def measure(report: Report) -> dict[str, dict[str, object]]:
    """Torch's figures for every layer: output_shape, params, trainable_params, buffers, macs."""
    model = build(report, device="meta").eval()  # batch norm on a batch of one: use (meta) running statistics
    shapes = {INPUT: tuple(report.input_shape)}
    figures = {}
    adopted = dict(model.named_parameters())  # a learned tensor is held under its layer's own name
    for name, module in model.layer_modules():
        info = report.layer(name)
        xs = [torch.empty((1, *shapes[i]), device="meta") for i in info.inputs]
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            y = module(*xs)
        shapes[name] = tuple(y.shape[1:])
        params = [*module.parameters(), *([adopted[name]] if name in adopted else [])]
        figures[name] = {
            "output_shape": shapes[name],
            "params": sum(p.numel() for p in params),
            "trainable_params": sum(p.numel() for p in params if p.requires_grad),
            "buffers": sum(b.numel() for b in module.buffers()),
            "macs": counter.get_total_flops() // 2,
        }
    return figures


def check(report: Report) -> list[Disagreement]:
    """Every figure where the static report and torch differ (empty: they agree)."""
    found = []
    for name, measured in measure(report).items():
        info = report.layer(name)
        assert info.output_shape is not None  # measure() built the model, so the report has every shape
        static = {
            "output_shape": tuple(info.output_shape),
            "params": info.params,
            "trainable_params": info.trainable_params,
            "buffers": info.buffer_elements,
            "macs": info.macs,
        }
        for figure, value in static.items():
            if measured[figure] != value:
                found.append(Disagreement(name, figure, value, measured[figure]))
    return found
