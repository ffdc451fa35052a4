"""Layers that merge several inputs: elementwise sum (residuals) and concatenation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archspec.layers.base import LayerBase, LayerError, Shape, fmt_shape
from archspec.layers.fields import Int


class MergeError(LayerError):
    """Inputs ``first`` and ``second`` of a merge disagree; the graph names the paths behind them."""

    def __init__(self, message: str, first: int, second: int, **kw):
        super().__init__(message, code="E304", **kw)
        self.first = first
        self.second = second


class Add(LayerBase):
    """Elementwise sum of inputs of identical shape (residual connections)."""

    type: Literal["add"]
    arity = (2, None)

    def output_shape(self, ins: list[Shape]) -> Shape:
        for i, shape in enumerate(ins[1:], 1):
            if shape != ins[0]:
                raise MergeError(f"add needs equal shapes, got {fmt_shape(ins[0])} and {fmt_shape(shape)}", 0, i)
        return ins[0]

    def label(self) -> str:
        return "+"

    def lower(self, ins: list[Shape]):
        from archspec.runtime.modules import Add as Module

        return Module()


class Concat(LayerBase):
    """Concatenation along one axis, channels by default (torch.cat)."""

    type: Literal["concat"]
    axis: Int = Field(default=0, description="Axis of the per-sample shape to join on (0 = channels).")
    arity = (2, None)

    def output_shape(self, ins: list[Shape]) -> Shape:
        first = ins[0]
        rank = len(first)
        if not -rank <= self.axis < rank:
            raise LayerError(f"axis {self.axis} is out of range for a rank-{rank} input", field="axis")
        axis = self.axis % rank
        for i, shape in enumerate(ins[1:], 1):
            if len(shape) != rank or any(a != b for d, (a, b) in enumerate(zip(first, shape)) if d != axis):
                raise MergeError(
                    f"concat on axis {self.axis} needs all other sizes equal, got {fmt_shape(first)} and {fmt_shape(shape)}", 0, i
                )
        return (*first[:axis], sum(s[axis] for s in ins), *first[axis + 1 :])

    def label(self) -> str:
        return "concat"

    def lower(self, ins: list[Shape]):
        from archspec.runtime.modules import Concat as Module

        return Module(self.axis + 1 if self.axis >= 0 else self.axis)
