"""Where the network input's channels lie in each layer's output, followed through permutes.

A permute can put the channels last (ConvNeXt's MLP, Swin's whole body). The receptive field follows the
spatial axes only while each layer has a field; this layout survives a layer with none (window attention),
so lint can tell a per-position linear map from a forgotten flatten, and Grad-CAM can put channels first.
"""

from __future__ import annotations

from archspec.analysis.report import Report
from archspec.graph import INPUT
from archspec.layers.base import Moved


def channel_axes(report: Report) -> dict[str, int | None]:
    """Per layer (and ``input``): the axis of its output holding the input's channels; None once a layer
    regroups them or changes the rank. Every layer that keeps the rank (a norm, an attention, a linear on
    channels last) keeps them where they are."""
    where: dict[str, int | None] = {INPUT: 0 if len(report.input_shape) >= 2 else None}
    for info in report.layers:
        ins = [report.input_shape if i == INPUT else getattr(report.get(i), "output_shape", None) for i in info.inputs]
        first = where.get(info.inputs[0]) if info.inputs else None
        shapes = [s for s in ins if s is not None]
        if info.layer is None or first is None or info.output_shape is None or len(shapes) < len(ins):
            where[info.name] = None
            continue
        step = info.layer.receptive(shapes)
        if isinstance(step, Moved):
            where[info.name] = step.to[first]
        else:
            where[info.name] = first if len(info.output_shape) == len(shapes[0]) else None
    return where
