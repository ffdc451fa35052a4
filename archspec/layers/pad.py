"""Padding of the spatial axes (torch.nn.functional.pad): positions added before and after, the inverse of a crop."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from archspec.arith import Window
from archspec.layers.base import LayerBase, LayerError, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import AXIS_NAMES, Float, NonNegInt, axis_words

#: one number for every side; or per spatial axis a number (both sides) or [before, after]
Padding = NonNegInt | list[NonNegInt | Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]]


class Pad(LayerBase):
    """Adds positions before and after each spatial axis (torch.nn.functional.pad): a constant, or the input
    reflected, replicated or wrapped around."""

    type: Literal["pad"]
    aliases = ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")  # Keras; torch.nn's padding modules are traced into F.pad
    padding: Padding = Field(
        description="Positions added: a number (every side), or per spatial axis a number (both sides) or [before, after]."
    )
    mode: Literal["constant", "reflect", "replicate", "circular"] = Field(
        default="constant",
        description="What the new positions hold: `value`, or the input reflected, replicated or wrapped around.",
    )
    value: Float = Field(default=0.0, description="The value of the new positions in mode constant.")
    ranks = (2, 3, 4)
    family = "shape"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False

    @model_validator(mode="after")
    def _value_only_when_constant(self) -> Pad:
        if self.value != 0 and self.mode != "constant":
            raise ValueError(f"value is what mode constant fills in; mode {self.mode} copies the input (as in F.pad)")
        return self

    @property
    def saves(self) -> tuple[str, ...]:  # type: ignore[override]  # a class variable elsewhere: this one follows the mode
        """What autograd keeps: torch's backward of a reflected or replicated pad reads the input; of a constant or
        wrapped one, nothing (measured in the tests)."""
        return ("input",) if self.mode in ("reflect", "replicate") else ()

    def sides(self, shape: Shape) -> tuple[tuple[int, int], ...]:
        """(before, after) on each spatial axis of ``shape``."""
        rank = len(shape) - 1
        if isinstance(self.padding, int):
            return ((self.padding, self.padding),) * rank
        if len(self.padding) != rank:
            raise LayerError(
                f"padding needs one entry per spatial axis {axis_words(rank)} of {fmt_shape(shape)}, got {self.padding}",
                field="padding",
                hint="give a number for every side, or per axis a number or [before, after]",
            )
        return tuple((p, p) if isinstance(p, int) else (p[0], p[1]) for p in self.padding)

    def output_shape(self, ins: list[Shape]) -> Shape:
        shape = ins[0]
        sides = self.sides(shape)
        if self.mode in ("reflect", "circular"):  # they read the input: it must hold what they copy (as torch checks)
            for name, size, pads in zip(AXIS_NAMES.get(len(shape) - 1, ()), shape[1:], sides):
                if max(pads) >= size + (self.mode == "circular"):
                    limit = "less than" if self.mode == "reflect" else "at most"
                    raise LayerError(
                        f"{self.mode} padding of {max(pads)} on the {name} does not fit an input {name} of {size} "
                        f"(input {fmt_shape(shape)}): PyTorch wants the padding {limit} the input size",
                        field="padding",
                        hint="pad less, use mode constant or replicate, or downsample less before this layer",
                    )
        return (shape[0], *(n + before + after for n, (before, after) in zip(shape[1:], sides)))

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # unit i is input position i - before: a shift, exact as a convolution's padding is (new positions lie
        # outside the input; in the copying modes they repeat positions at the border, as padding_mode does)
        return tuple(Window((1,), (1,), (before,)) for before, _ in self.sides(ins[0]))

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return None  # positions move on the spatial axes, which the rule assumes after the channels

    def label(self) -> str:
        text = f"pad {self.padding}"
        return text if self.mode == "constant" else f"{self.mode} {text}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Pad as Module

        return Module(self.sides(ins[0]), self.mode, self.value)
