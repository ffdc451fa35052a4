"""Convolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from archspec.arith import product, same_padding, window_output_size
from archspec.layers.base import LayerBase, LayerError, Shape, Window, fmt_shape
from archspec.layers.fields import Bool, Padding, Pair, PosInt


def spatial_out(layer, shape: Shape, kernel, stride, padding, dilation, ceil_mode: bool = False) -> tuple[int, int]:
    """Output (h, w) of a window layer; a size below one is an error that names the axis."""
    out = []
    for axis, size, k, s, p, d in zip(("height", "width"), shape[1:], kernel, stride, padding, dilation):
        n = window_output_size(size, k, s, p, d, ceil_mode)
        if n < 1:
            span = d * (k - 1) + 1
            raise LayerError(
                f"output {axis} would be {n}: a window spanning {span} does not fit in {size}"
                + (f" + 2×{p} padding" if p else "")
                + f" (input {fmt_shape(shape)})",
                field="kernel_size",
                hint="use a smaller kernel or stride, add padding, or downsample less before this layer",
                code="E305",
            )
        out.append(n)
    return out[0], out[1]


class Conv2d(LayerBase):
    """2-D convolution (torch.nn.Conv2d)."""

    type: Literal["conv2d"]
    out_channels: PosInt
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Padding = Field(default=(0, 0), description="'same', 'valid', an integer or [h, w] (each side).")
    dilation: Pair = (1, 1)
    groups: PosInt | Literal["depthwise"] = Field(default=1, description="Channel groups; 'depthwise' = one per input channel.")
    bias: Bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    in_channels: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    ranks = (3,)
    affine_map = True
    saves = ("input",)

    @model_validator(mode="after")
    def _same_needs_stride_one(self):
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError("padding 'same' needs stride 1 (as in PyTorch); give the padding as a number instead")
        return self

    def leading_padding(self) -> tuple[int, int]:
        if self.padding == "same":
            return tuple(same_padding(k, d)[0] for k, d in zip(self.kernel_size, self.dilation))  # type: ignore[return-value]
        if self.padding == "valid":
            return (0, 0)
        return self.padding  # type: ignore[return-value]

    def resolved_groups(self, in_channels: int) -> int:
        return in_channels if self.groups == "depthwise" else self.groups

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        channels = shape[0]
        if self.in_channels is not None and self.in_channels != channels:
            raise LayerError(
                f"in_channels is {self.in_channels} but the input has {channels} channels ({fmt_shape(shape)})",
                field="in_channels",
                hint="remove in_channels (it is inferred) or fix the layer before",
                code="E307",
            )
        groups = self.resolved_groups(channels)
        for what, n in (("input channels", channels), ("out_channels", self.out_channels)):
            if n % groups:
                raise LayerError(f"groups={groups} does not divide {what} ({n})", field="groups")
        if self.padding == "same":
            return (self.out_channels, shape[1], shape[2])
        pad = (0, 0) if self.padding == "valid" else self.padding
        return (self.out_channels, *spatial_out(self, shape, self.kernel_size, self.stride, pad, self.dilation))

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        channels = ins[0][0]
        tensors = {"weight": (self.out_channels, channels // self.resolved_groups(channels), *self.kernel_size)}
        if self.bias:
            tensors["bias"] = (self.out_channels,)
        return tensors

    def receptive(self, ins: list[Shape]) -> Window:
        return Window(self.kernel_size, self.stride, self.leading_padding(), self.dilation)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        channels = ins[0][0]
        return product(out) * (channels // self.resolved_groups(channels)) * product(self.kernel_size)

    def label(self) -> str:
        kh, kw = self.kernel_size
        text = f"conv {kh}×{kw}"
        if self.stride != (1, 1):
            text += f" /{_one(self.stride)}"
        if self.groups != 1:
            text += " dw" if self.groups == "depthwise" else f" g{self.groups}"
        return text

    def lower(self, ins: list[Shape]):
        from torch import nn

        channels = ins[0][0]
        return nn.Conv2d(
            channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.resolved_groups(channels),
            bias=self.bias,
            padding_mode=self.padding_mode,
        )


def _one(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"
