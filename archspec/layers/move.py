"""Kinds that move values without computing them: permute, transpose, reshape, unflatten, channel shuffle.

Their receptive-field rule is a ``Moved`` map: where each input axis lands, or that its positions are
regrouped. The analysis follows the spatial axes through it, so a permute to H×W×C (ConvNeXt) and
back keeps the field, and a reshape that regroups a spatial axis loses it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Strict

from archspec.arith import product
from archspec.codes import Code
from archspec.layers.base import LayerError, Moved, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Int, PosInt
from archspec.layers.linear import _Reshape

IntList = list[Annotated[int, Strict()]]


def _axis(value: int, rank: int, field: str) -> int:
    """``value`` as an axis of a rank-``rank`` per-sample shape (negative counts from the end)."""
    if not -rank <= value < rank:
        raise LayerError(f"axis {value} is out of range for a rank-{rank} input (axes 0 to {rank - 1})", field=field)
    return value % rank


class Permute(_Reshape):
    """Reorders the axes of each sample (torch.permute with the batch axis left first): C×H×W → H×W×C is [1, 2, 0]."""

    type: Literal["permute"]
    axes: IntList = Field(description="The input axis each output axis takes, batch left out (C×H×W → H×W×C: [1, 2, 0]).")

    def order(self, shape: Shape) -> tuple[int, ...]:
        rank = len(shape)
        order = tuple(_axis(a, rank, "axes") for a in self.axes)
        if sorted(order) != list(range(rank)):
            raise LayerError(
                f"axes {self.axes} are not an order of the {rank} axes of a {fmt_shape(shape)} input",
                field="axes",
                hint=f"name each axis 0 to {rank - 1} once (batch left out), e.g. {[*range(1, rank), 0]}",
            )
        return order

    def output_shape(self, ins: list[Shape]) -> Shape:
        return tuple(ins[0][a] for a in self.order(ins[0]))

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        order = self.order(ins[0])
        return Moved(tuple(order.index(a) for a in range(len(order))))

    def label(self) -> str:
        return f"permute {self.axes}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Permute as Module

        return Module(self.order(ins[0]))


class Transpose(_Reshape):
    """Swaps two axes of each sample (torch.transpose, batch left out)."""

    type: Literal["transpose"]
    aliases = ("swapaxes",)
    axis0: Int = Field(description="One axis, batch left out (0 = channels).")
    axis1: Int = Field(description="The other axis.")

    def order(self, shape: Shape) -> tuple[int, ...]:
        a, b = _axis(self.axis0, len(shape), "axis0"), _axis(self.axis1, len(shape), "axis1")
        order = list(range(len(shape)))
        order[a], order[b] = b, a
        return tuple(order)

    def output_shape(self, ins: list[Shape]) -> Shape:
        return tuple(ins[0][a] for a in self.order(ins[0]))

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Moved(self.order(ins[0]))  # a swap is its own inverse

    def label(self) -> str:
        return f"transpose {self.axis0}↔{self.axis1}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Permute as Module

        return Module(self.order(ins[0]))


def _fill(sizes: list[int], total: int, what: str, field: str) -> tuple[int, ...]:
    """``sizes`` with its one -1 worked out so the product is ``total``; an error if they cannot hold it."""
    if sizes.count(-1) > 1 or any(s < -1 or s == 0 for s in sizes):
        raise LayerError(
            f"{field} {sizes}: each size must be positive, one of them may be -1 (worked out)",
            field=field,
            code=Code.INVALID_VALUE,
        )
    known = product(s for s in sizes if s != -1)
    if -1 in sizes and total % known == 0:
        return tuple(total // known if s == -1 else s for s in sizes)
    if known != total:
        raise LayerError(
            f"{field} {sizes} holds {known:,} values{' times a whole number' if -1 in sizes else ''}, but {what} has {total:,}",
            field=field,
            hint="the sizes must multiply to the number of values they replace",
            code=Code.SIZE_CONTRADICTS_INPUT,
        )
    return tuple(sizes)


class Reshape(_Reshape):
    """Gives each sample a new shape with the same values in the same order (torch.reshape, batch left out)."""

    type: Literal["reshape"]
    aliases = ("view",)
    shape: IntList = Field(description="The new per-sample shape, batch left out; one size may be -1 (worked out).")

    def output_shape(self, ins: list[Shape]) -> Shape:
        return _fill(self.shape, product(ins[0]), f"the {fmt_shape(ins[0])} input", "shape")

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # leading axes that keep their sizes keep their positions, and so do trailing ones;
        # the axes between them are regrouped
        old, new = ins[0], self.output_shape(ins)
        lead = 0
        while lead < min(len(old), len(new)) and old[lead] == new[lead]:
            lead += 1
        trail = 0
        while trail < min(len(old), len(new)) - lead and old[-1 - trail] == new[-1 - trail]:
            trail += 1
        shift = len(new) - len(old)
        return Moved(tuple(a if a < lead else a + shift if a >= len(old) - trail else None for a in range(len(old))))

    def label(self) -> str:
        return f"reshape {self.shape}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Reshape as Module

        return Module(self.output_shape(ins))


class Unflatten(_Reshape):
    """Splits one axis into several (torch.nn.Unflatten, batch left out): 512 → 2×256 with axis 0, sizes [2, -1]."""

    type: Literal["unflatten"]
    axis: Int = Field(description="The axis to split, batch left out (0 = channels).")
    sizes: IntList = Field(description="The sizes it becomes; one may be -1 (worked out).")

    def output_shape(self, ins: list[Shape]) -> Shape:
        shape = ins[0]
        axis = _axis(self.axis, len(shape), "axis")
        sizes = _fill(self.sizes, shape[axis], f"axis {axis} ({shape[axis]} of {fmt_shape(shape)})", "sizes")
        return (*shape[:axis], *sizes, *shape[axis + 1 :])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        axis = _axis(self.axis, len(ins[0]), "axis")
        shift = len(self.sizes) - 1
        return Moved(tuple(a if a < axis else None if a == axis else a + shift for a in range(len(ins[0]))))

    def label(self) -> str:
        return f"unflatten {self.sizes}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        axis = _axis(self.axis, len(ins[0]), "axis")
        return nn.Unflatten(axis + 1, self.output_shape(ins)[axis : axis + len(self.sizes)])


class ChannelShuffle(_Reshape):
    """Interleaves the channels of ``groups`` groups (torch.nn.ChannelShuffle; ShuffleNet's view-transpose-view)."""

    type: Literal["channel_shuffle"]
    aliases = ("shuffle",)
    groups: PosInt = Field(description="Number of groups whose channels are interleaved; divides the channels.")
    aliases_input = False  # the transposed view is copied into a new tensor

    def check_inputs(self, ins: list[Shape]) -> None:
        shape = ins[0]
        if len(shape) < 2:
            raise LayerError(f"channel_shuffle needs channels and positions (C×L, C×H×W, ...), got {fmt_shape(shape)}")
        if shape[0] % self.groups:
            raise LayerError(
                f"channel_shuffle of {self.groups} groups needs channels divisible by {self.groups}, got {fmt_shape(shape)}",
                field="groups",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Moved((None, *range(1, len(ins[0]))))  # the channels are reordered, every position stays

    def label(self) -> str:
        return f"channel shuffle {self.groups}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.ChannelShuffle(self.groups)
