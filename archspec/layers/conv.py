"""Convolution of every rank: one rule (arith.Window), three thin kinds."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from archspec.arith import Window, same_padding
from archspec.layers.base import (
    LayerError,
    ReceptiveStep,
    Shape,
    Spatial,
    check_in_channels,
    dims,
    fmt_shape,
    window_out,
    window_text,
)
from archspec.layers.fields import Bool, PerAxis, PosInt


class _ConvNd(Spatial):
    """N-d convolution (torch.nn.Conv1d / Conv2d / Conv3d)."""

    out_channels: PosInt = Field(description="Number of output channels (filters).")
    kernel_size: PerAxis = Field(description="Kernel size: a number or one value per spatial axis.")
    stride: PerAxis = Field(default=1, validate_default=True, description="Step of the window on each axis.")
    padding: PerAxis | Literal["same", "valid"] = Field(
        default=0, validate_default=True, description="'same', 'valid', a number or one value per axis (each side)."
    )
    dilation: PerAxis = Field(default=1, validate_default=True, description="Spacing between kernel elements.")
    groups: PosInt | Literal["depthwise"] = Field(default=1, description="Channel groups; 'depthwise' = one per input channel.")
    bias: Bool = Field(default=True, description="Learn an additive bias per output channel.")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field(
        default="zeros", description="What the padding holds: zeros, or the input reflected, replicated or wrapped around."
    )
    in_channels: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    per_axis_fields: ClassVar[dict[str, int]] = {"kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1}
    padding_words = True
    family = "conv"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = True
    random_in_training = False
    saves = ("input",)

    @model_validator(mode="after")
    def _same_needs_stride_one(self) -> _ConvNd:
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding 'same' needs stride 1 (as in PyTorch); give the padding as a number instead")
        return self

    def leading_padding(self) -> tuple[int, ...]:
        if self.padding == "same":
            return tuple(same_padding(k, d)[0] for k, d in zip(self.kernel_size, self.dilation))
        if self.padding == "valid":
            return (0,) * self.rank
        return self.padding

    def window(self) -> Window:
        return Window(self.kernel_size, self.stride, self.leading_padding(), self.dilation)

    def resolved_groups(self, in_channels: int) -> int:
        return in_channels if self.groups == "depthwise" else self.groups

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        channels = shape[0]
        check_in_channels(self.in_channels, shape)
        groups = self.resolved_groups(channels)
        for what, n in (("input channels", channels), ("out_channels", self.out_channels)):
            if n % groups:
                raise LayerError(f"groups={groups} does not divide {what} ({n})", field="groups")
        self._check_padding_mode(shape)
        if self.padding == "same":
            return (self.out_channels, *shape[1:])
        return (self.out_channels, *window_out(shape, self.window()))

    def _check_padding_mode(self, shape: Shape) -> None:
        """Reflected padding must stay inside the input, and circular padding wrap around at most once (as PyTorch checks)."""
        if self.padding_mode not in ("reflect", "circular"):
            return
        limit = "less than" if self.padding_mode == "reflect" else "at most"
        for axis, size, pads in zip(self.axes(), shape[1:], self._paddings()):
            if max(pads) >= size + (self.padding_mode == "circular"):
                raise LayerError(
                    f"{self.padding_mode} padding of {max(pads)} on the {axis} does not fit an input {axis} of {size} "
                    f"(input {fmt_shape(shape)}): PyTorch wants the padding {limit} the input size",
                    field="padding",
                    hint="pad less, use padding_mode zeros or replicate, or downsample less before this layer",
                )

    def _paddings(self) -> list[tuple[int, int]]:
        """(before, after) padding on each spatial axis."""
        if self.padding == "same":
            return [same_padding(k, d) for k, d in zip(self.kernel_size, self.dilation)]
        if self.padding == "valid":
            return [(0, 0)] * self.rank
        return [(p, p) for p in self.padding]

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        channels = ins[0][0]
        tensors: dict[str, Shape] = {"weight": (self.out_channels, channels // self.resolved_groups(channels), *self.kernel_size)}
        if self.bias:
            tensors["bias"] = (self.out_channels,)
        return tensors

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return self.window()

    def macs(self, ins: list[Shape], out: Shape) -> int:
        channels = ins[0][0]
        return self.window().macs(out, channels // self.resolved_groups(channels))

    def label(self) -> str:
        text = f"conv {'×'.join(map(str, self.kernel_size))}"
        if any(s != 1 for s in self.stride):
            text += f" /{dims(self.stride)}"
        if self.groups != 1:
            text += " dw" if self.groups == "depthwise" else f" g{self.groups}"
        return text

    def op_text(self) -> str:
        padding = "same" if self.padding == "same" else dims(self.leading_padding())
        return window_text(self.label().split(" /")[0], self.window(), padding)

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        channels = ins[0][0]
        return getattr(nn, f"Conv{self.rank}d")(
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


class Conv1d(_ConvNd):
    """1-D convolution over C×L sequences (torch.nn.Conv1d)."""

    type: Literal["conv1d"]
    aliases = ("Conv1D",)
    rank: ClassVar[int] = 1


class Conv2d(_ConvNd):
    """2-D convolution over C×H×W images (torch.nn.Conv2d)."""

    type: Literal["conv2d"]
    aliases = ("Conv2D", "Convolution2D")
    rank: ClassVar[int] = 2


class Conv3d(_ConvNd):
    """3-D convolution over C×D×H×W volumes or videos (torch.nn.Conv3d)."""

    type: Literal["conv3d"]
    aliases = ("Conv3D",)
    rank: ClassVar[int] = 3
