"""Flatten, fully-connected layers and identity."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archspec.arith import product
from archspec.codes import Code
from archspec.layers.base import LayerBase, LayerError, Pointwise, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Bool, Int, PosInt


class _Reshape(LayerBase):
    """Traits of kinds that move values around without computing anything."""

    family = "shape"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False
    aliases_input = True


class Flatten(_Reshape):
    """Concatenates all values into one vector (torch.nn.Flatten)."""

    type: Literal["flatten"]
    start_axis: Int = Field(default=0, description="First axis to flatten, batch left out (torch's start_dim - 1).")
    end_axis: Int = Field(default=-1, description="Last axis to flatten, batch left out.")

    def _axes(self, shape: Shape) -> tuple[int, int]:
        rank = len(shape)
        start, end = (a + rank if a < 0 else a for a in (self.start_axis, self.end_axis))
        if not (0 <= start < rank and 0 <= end < rank and start <= end):
            raise LayerError(
                f"axes {self.start_axis}..{self.end_axis} do not fit a rank-{rank} input ({fmt_shape(shape)})", field="start_axis"
            )
        return start, end

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        start, end = self._axes(shape)
        return (*shape[:start], product(shape[start : end + 1]), *shape[end + 1 :])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.LOST

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        start, end = self._axes(ins[0])
        return nn.Flatten(start + 1, end + 1)


class Linear(LayerBase):
    """Fully-connected layer on the last axis (torch.nn.Linear)."""

    type: Literal["linear"]
    aliases = ("Dense", "fc", "FullyConnected", "InnerProduct")
    out_features: PosInt = Field(description="Number of output features.")
    bias: Bool = Field(default=True, description="Learn an additive bias per output feature.")
    in_features: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")
    family = "dense"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = True
    random_in_training = False
    saves = ("input",)

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        if self.in_features is not None and self.in_features != shape[-1]:
            raise LayerError(
                f"in_features is {self.in_features} but the input has {shape[-1]} ({fmt_shape(shape)})",
                field="in_features",
                hint="remove in_features (it is inferred) or fix the layers before",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )
        return (*shape[:-1], self.out_features)

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        tensors: dict[str, Shape] = {"weight": (self.out_features, ins[0][-1])}
        if self.bias:
            tensors["bias"] = (self.out_features,)
        return tensors

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.LOST  # channels first: it acts on the last spatial axis, and the field is not followed

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset({len(ins[0]) - 1})  # after a permute to H×W×C: pointwise on H and W

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return product(ins[0]) * self.out_features

    def label(self) -> str:
        return f"linear →{self.out_features}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.Linear(ins[0][-1], self.out_features, bias=self.bias)


class Identity(_Reshape, Pointwise):
    """Passes its input through unchanged (torch.nn.Identity)."""

    type: Literal["identity"]

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.Identity()
