"""The mean and the sum over chosen axes (torch.mean, torch.sum): C×H×W → C over the spatial axes, as some
classifier heads write it; the sum of a split attention's groups (ResNeSt)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Strict

from archspec.layers.base import LayerBase, LayerError, Moved, Receptive, ReceptiveStep, Shape
from archspec.layers.fields import Bool


class _Reduce(LayerBase):
    """Traits and rules of a reduction over chosen axes of each sample (batch left out)."""

    axes: list[Annotated[int, Strict()]] = Field(
        min_length=1, description="Axes to reduce, batch left out (spatial of C×H×W: [1, 2])."
    )
    keepdim: Bool = Field(default=False, description="Keep each reduced axis with size 1.")
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
        # kept axes: each reduced spatial axis sees its whole span (stride 0); dropped ones take the layout
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

    def dims(self, ins: list[Shape]) -> tuple[int, ...]:
        """The reduced axes as torch counts them (batch included)."""
        return tuple(sorted(a + 1 for a in self.reduced(ins[0])))


class Mean(_Reduce):
    """Mean over the given axes of each sample (torch.mean, batch left out)."""

    type: Literal["mean"]
    aliases = ("reduce_mean", "ReduceMean")

    def label(self) -> str:
        return f"mean {self.axes}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Mean as Module

        return Module(self.dims(ins), self.keepdim)


class Sum(_Reduce):
    """Sum over the given axes of each sample (torch.sum, batch left out)."""

    type: Literal["sum"]
    aliases = ("reduce_sum", "ReduceSum")

    def label(self) -> str:
        return f"sum {self.axes}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Sum as Module

        return Module(self.dims(ins), self.keepdim)
