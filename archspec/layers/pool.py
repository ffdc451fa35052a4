"""Pooling: windowed max/average, adaptive and global average."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from archspec.arith import adaptive_window, effective_kernel, product
from archspec.layers.base import LayerBase, Receptive, Shape, Window
from archspec.layers.conv import spatial_out
from archspec.layers.fields import Bool, NonNegPair, Pair, PosInt


class _WindowPool(LayerBase):
    kernel_size: Pair
    stride: Pair | None = Field(default=None, description="Defaults to kernel_size (non-overlapping tiles).")
    padding: NonNegPair = (0, 0)
    ceil_mode: Bool = Field(default=False, description="Keep a last, partial window instead of dropping it.")

    ranks = (3,)
    short: ClassVar[str]

    @property
    def steps(self) -> tuple[int, int]:
        return self.stride or self.kernel_size

    @property
    def dilations(self) -> tuple[int, int]:
        return (1, 1)

    @model_validator(mode="after")
    def _padding_at_most_half(self):
        for k, d, p in zip(self.kernel_size, self.dilations, self.padding):
            if 2 * p > effective_kernel(k, d):
                raise ValueError(f"padding {p} is more than half the window ({effective_kernel(k, d)}); PyTorch refuses it")
        return self

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        return (shape[0], *spatial_out(self, shape, self.kernel_size, self.steps, self.padding, self.dilations, self.ceil_mode))

    def receptive(self, ins: list[Shape]) -> Window:
        return Window(self.kernel_size, self.steps, self.padding, self.dilations)

    def label(self) -> str:
        kh, kw = self.kernel_size
        return f"{self.short} {kh}×{kw}" + (f" /{self.steps[0]}" if self.steps != self.kernel_size else "")

    def _kwargs(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.steps, padding=self.padding, ceil_mode=self.ceil_mode)


class MaxPool2d(_WindowPool):
    """Max pooling (torch.nn.MaxPool2d)."""

    type: Literal["maxpool2d"]
    dilation: Pair = (1, 1)
    short = "maxpool"
    saves = ("input",)

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return 8 * product(out)  # int64 indices of the maxima
    @property
    def dilations(self) -> tuple[int, int]:
        return self.dilation

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.MaxPool2d(dilation=self.dilation, **self._kwargs())


class AvgPool2d(_WindowPool):
    """Average pooling (torch.nn.AvgPool2d)."""

    type: Literal["avgpool2d"]
    affine_map = True
    count_include_pad: Bool = True
    divisor_override: PosInt | None = None
    short = "avgpool"

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.AvgPool2d(count_include_pad=self.count_include_pad, divisor_override=self.divisor_override, **self._kwargs())


class _AdaptivePool(LayerBase):
    output_size: Pair
    ranks = (3,)
    short: ClassVar[str]

    def output_shape(self, ins: list[Shape]) -> Shape:
        return (ins[0][0], *self.output_size)

    def receptive(self, ins: list[Shape]) -> Window | str:
        # equal windows behave exactly like a pool with kernel = stride = size/out;
        # unequal ones have no single (r, S, P) description
        kernel = tuple(adaptive_window(size, out) for size, out in zip(ins[0][1:], self.output_size))
        if None in kernel:
            return Receptive.LOST
        return Window(kernel, kernel, (0, 0))  # type: ignore[arg-type]

    def label(self) -> str:
        return f"{self.short} →{self.output_size[0]}×{self.output_size[1]}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)."""

    type: Literal["adaptiveavgpool2d"]
    affine_map = True
    short = "adaptive avgpool"

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.AdaptiveAvgPool2d(self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to a fixed output size (torch.nn.AdaptiveMaxPool2d)."""

    type: Literal["adaptivemaxpool2d"]
    short = "adaptive maxpool"
    saves = ("input",)

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return 8 * product(out)  # int64 indices of the maxima
    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.AdaptiveMaxPool2d(self.output_size)


class GlobalAvgPool2d(LayerBase):
    """Mean over height and width: C×H×W → C (Keras' GlobalAveragePooling2D)."""

    type: Literal["globalavgpool2d"]
    affine_map = True
    ranks = (3,)

    def output_shape(self, ins: list[Shape]) -> Shape:
        return (ins[0][0],)

    def receptive(self, ins: list[Shape]) -> str:
        return Receptive.LOST

    def label(self) -> str:
        return "global avgpool"

    def lower(self, ins: list[Shape]):
        from archspec.runtime.modules import GlobalAvgPool2d as Module

        return Module()
