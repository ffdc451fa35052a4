"""Where the network input's channels lie in each layer's output, followed through permutes.

A permute can put the channels last (ConvNeXt's MLP, Swin's whole body). The receptive field follows the
spatial axes only while each layer has a field; this layout survives a layer with none (window attention),
so lint can tell a per-position linear map from a forgotten flatten, and Grad-CAM can put channels first.
"""

from __future__ import annotations

from archspec.analysis.report import Report
from archspec.layers import LayerBase, Shape
from archspec.layers.base import Moved


def channel_axes(report: Report) -> dict[str, int | None]:
    """Per layer (and ``input``): the axis of its output holding the input's channels; None once a layer
    regroups them or changes the rank. Every layer that keeps the rank (a norm, an attention, a linear on
    channels last) keeps them where they are. Followed by the analysis, layer by layer (``channel_axis``)."""
    return dict(report.flow.channels)


def input_channel_axis(shape: Shape) -> int | None:
    return 0 if len(shape) >= 2 else None


def channel_axis(layer: LayerBase, ins: list[Shape], out: Shape, first: int | None) -> int | None:
    """Where a layer puts the channels that lie on axis ``first`` of its first input."""
    if first is None:
        return None
    step = layer.receptive(ins)
    if isinstance(step, Moved):
        return step.to[first]
    return first if len(out) == len(ins[0]) else None
