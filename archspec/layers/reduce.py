"""The mean over chosen axes (torch.mean): C×H×W → C over the spatial axes, as some classifier heads write it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Strict

from archspec.layers.base import LayerBase, LayerError, Moved, Receptive, ReceptiveStep, Shape
from archspec.layers.fields import Bool


class Mean(LayerBase):
    """Mean over the given axes of each sample (torch.mean, batch left out)."""

    type: Literal["mean"]
    aliases = ("reduce_mean", "ReduceMean")
    axes: list[Annotated[int, Strict()]] = Field(
        min_length=1, description="Axes to average, batch left out (spatial of C×H×W: [1, 2])."
    )
    keepdim: Bool = Field(default=False, description="Keep each averaged axis with size 1.")
    family = "pool"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False

    def reduced(self, shape: Shape) -> frozenset[int]:
        rank = len(shape)
        axes = []
        for a in self.axes:
            if not -rank <= a < rank:
                raise LayerError(f"axis {a} is out of range for a rank-{rank} input (axes 0 to {rank - 1})", field="axes")
            axes.append(a % rank)
        if len(set(axes)) != len(axes):
            raise LayerError(f"axes {self.axes} name an axis twice", field="axes")
        return frozenset(axes)

    def output_shape(self, ins: list[Shape]) -> Shape:
        reduced = self.reduced(ins[0])
        if self.keepdim:
            return tuple(1 if a in reduced else n for a, n in enumerate(ins[0]))
        return tuple(n for a, n in enumerate(ins[0]) if a not in reduced)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # kept axes: each averaged spatial axis sees its whole span (stride 0); dropped ones take the layout
        # with them, unless only the channels go (then the spatial axes move down by one)
        reduced, rank = self.reduced(ins[0]), len(ins[0])
        if self.keepdim:
            return (
                Receptive.KEEP
                if reduced <= {0}
                else tuple(Receptive.MIX if a in reduced else Receptive.KEEP for a in range(1, rank))
            )
        if reduced == {0} and rank > 1:
            return Moved((None, *range(rank - 1)))
        return Receptive.LOST

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return self.reduced(ins[0]) if self.keepdim else None

    def label(self) -> str:
        return f"mean {self.axes}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Mean as Module

        return Module(tuple(sorted(a + 1 for a in self.reduced(ins[0]))), self.keepdim)
