"""Layers that merge several inputs: elementwise sum (residuals) and concatenation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archspec.codes import Code
from archspec.layers.base import LayerBase, LayerError, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Int, axis_name


class MergeError(LayerError):
    """Inputs ``first`` and ``second`` of a merge disagree (on ``axis``, when one axis is to blame);
    the graph names the paths behind them."""

    def __init__(self, message: str, first: int, second: int, axis: int | None = None, **kw: Any):
        super().__init__(message, code=Code.MERGE_SHAPE_MISMATCH, **kw)
        self.first = first
        self.second = second
        self.axis = axis


class _Merge(LayerBase):
    """Traits of the merging kinds; a merged unit sees the union of its paths' fields."""

    arity = (2, None)
    family = "merge"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False


class Add(_Merge):
    """Elementwise sum of inputs of identical shape (residual connections)."""

    type: Literal["add"]
    aliases = ("Sum",)

    def output_shape(self, ins: list[Shape]) -> Shape:
        for i, shape in enumerate(ins[1:], 1):
            if shape != ins[0]:
                raise MergeError(f"add needs equal shapes, got {fmt_shape(ins[0])} and {fmt_shape(shape)}", 0, i)
        return ins[0]

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.KEEP

    def label(self) -> str:
        return "+"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Add as Module

        return Module()


class Concat(_Merge):
    """Concatenation along one axis, channels by default (torch.cat)."""

    type: Literal["concat"]
    aliases = ("Concatenate", "cat")
    axis: Int = Field(default=0, description="Axis of the per-sample shape to join on (0 = channels).")

    def _axis(self, shape: Shape) -> int:
        rank = len(shape)
        if not -rank <= self.axis < rank:
            raise LayerError(f"axis {self.axis} is out of range for a rank-{rank} input", field="axis")
        return self.axis % rank

    def output_shape(self, ins: list[Shape]) -> Shape:
        first = ins[0]
        rank = len(first)
        axis = self._axis(first)
        for i, shape in enumerate(ins[1:], 1):
            if len(shape) != rank:
                raise MergeError(f"concat needs inputs of one rank, got {fmt_shape(first)} and {fmt_shape(shape)}", 0, i)
            wrong = [d for d, (a, b) in enumerate(zip(first, shape)) if d != axis and a != b]
            if wrong:
                joined, other = axis_name(rank, axis), axis_name(rank, wrong[0])
                raise MergeError(
                    f"concat along the {joined} needs the {other} equal, got {fmt_shape(first)} and {fmt_shape(shape)}",
                    0,
                    i,
                    axis=wrong[0],
                    hint=f"inputs may differ in their {joined}; make the {other} agree (pad, crop or pool both paths alike), "
                    "or join along another axis",
                )
        return (*first[:axis], sum(s[axis] for s in ins), *first[axis + 1 :])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # joined channels keep every position; joined along a spatial axis, unit i of the result
        # belongs to one input or another, and no single (r, S, P) describes them all
        if len(ins[0]) == 1 or self._axis(ins[0]) == 0:
            return Receptive.KEEP
        return Receptive.UNDEFINED

    def label(self) -> str:
        return "concat"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Concat as Module

        return Module(self.axis + 1 if self.axis >= 0 else self.axis)
