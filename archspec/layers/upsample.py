"""Layers that enlarge the spatial axes: transposed convolution and upsampling (interpolation).

Receptive fields: at stride 1 a transposed convolution is an ordinary window (its kernel flipped),
so its field is exact. With a stride above 1 (or any resizing) neighbouring output units share an
input position at a fractional step, and the units' fields differ in size: no single (r, S, P) is
true of all of them, so the field is not given from there on (I504).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from archspec.arith import Window, product, transposed_output_size, transposed_window
from archspec.codes import Code
from archspec.layers.base import (
    LayerBase,
    LayerError,
    Receptive,
    ReceptiveStep,
    Shape,
    Spatial,
    check_in_channels,
    dims,
    fmt_shape,
    rank_words,
)
from archspec.layers.fields import AXIS_NAMES, Bool, Float, PerAxis, PosInt, per_axis


class _ConvTransposeNd(Spatial):
    """N-d transposed convolution (torch.nn.ConvTranspose1d / 2d / 3d)."""

    out_channels: PosInt = Field(description="Number of output channels.")
    kernel_size: PerAxis = Field(description="Kernel size: a number or one value per spatial axis.")
    stride: PerAxis = Field(default=1, validate_default=True, description="Step between input positions in the output.")
    padding: PerAxis = Field(default=0, validate_default=True, description="Positions trimmed from each end of the output.")
    output_padding: PerAxis = Field(
        default=0, validate_default=True, description="Positions added at the far end (less than the stride or the dilation)."
    )
    dilation: PerAxis = Field(default=1, validate_default=True, description="Spacing between kernel elements.")
    groups: PosInt = Field(default=1, description="Channel groups (divides both channel counts).")
    bias: Bool = Field(default=True, description="Learn an additive bias per output channel.")
    in_channels: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    per_axis_fields: ClassVar[dict[str, int]] = {"kernel_size": 1, "stride": 1, "padding": 0, "output_padding": 0, "dilation": 1}
    family = "conv"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = True
    random_in_training = False
    saves = ("input",)

    @field_validator("output_padding", mode="before")
    @classmethod
    def _output_padding_per_axis(cls, value: Any) -> Any:
        return per_axis(value, cls.rank, 0)

    @model_validator(mode="after")
    def _output_padding_below_stride_or_dilation(self) -> _ConvTransposeNd:
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(
                    f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d}), as in PyTorch"
                )
        return self

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        channels = shape[0]
        check_in_channels(self.in_channels, shape)
        for what, n in (("input channels", channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise LayerError(f"groups={self.groups} does not divide {what} ({n})", field="groups")
        sizes = []
        for axis, n, k, s, p, op, d in zip(
            AXIS_NAMES[self.rank], shape[1:], self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation
        ):
            out = transposed_output_size(n, k, s, p, op, d)
            if out < 1:
                raise LayerError(
                    f"output {axis} would be {out}: padding {p} trims more than the transposed convolution makes "
                    f"of {n} positions (input {fmt_shape(shape)})",
                    field="padding",
                    hint="pad less, or use a larger kernel or stride",
                    code=Code.NON_POSITIVE_OUTPUT_SIZE,
                )
            sizes.append(out)
        return (self.out_channels, *sizes)

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        tensors: dict[str, Shape] = {"weight": (ins[0][0], self.out_channels // self.groups, *self.kernel_size)}
        if self.bias:
            tensors["bias"] = (self.out_channels,)
        return tensors

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        if any(s != 1 for s in self.stride):
            return Receptive.UNDEFINED  # units step over the input by 1/stride, with fields of unequal sizes
        spans_and_pads = [transposed_window(k, p, d) for k, p, d in zip(self.kernel_size, self.padding, self.dilation)]
        return Window(self.kernel_size, self.stride, tuple(p for _, p in spans_and_pads), self.dilation)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        # every input value meets the kernel once per output channel of its group (as FlopCounterMode counts)
        return product(ins[0]) * (self.out_channels // self.groups) * product(self.kernel_size)

    def label(self) -> str:
        text = f"convT {'×'.join(map(str, self.kernel_size))}"
        if any(s != 1 for s in self.stride):
            text += f" ×{dims(self.stride)}"
        return text + (f" g{self.groups}" if self.groups != 1 else "")

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, f"ConvTranspose{self.rank}d")(
            ins[0][0],
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            bias=self.bias,
            dilation=self.dilation,
        )


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over C×L sequences (torch.nn.ConvTranspose1d)."""

    type: Literal["conv_transpose1d"]
    aliases = ("ConvTranspose1d", "Conv1DTranspose", "deconv1d")
    rank: ClassVar[int] = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over C×H×W images (torch.nn.ConvTranspose2d), as U-Net's up-convolutions."""

    type: Literal["conv_transpose2d"]
    aliases = ("ConvTranspose2d", "Conv2DTranspose", "Deconvolution2D", "deconv", "deconv2d")
    rank: ClassVar[int] = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over C×D×H×W volumes (torch.nn.ConvTranspose3d)."""

    type: Literal["conv_transpose3d"]
    aliases = ("ConvTranspose3d", "Conv3DTranspose", "deconv3d")
    rank: ClassVar[int] = 3


#: interpolation modes and the input rank (with channels) each needs; nearest takes any
MODE_RANKS: dict[str, tuple[int, ...]] = {
    "nearest": (2, 3, 4),
    "nearest-exact": (2, 3, 4),
    "linear": (2,),
    "bilinear": (3,),
    "bicubic": (3,),
    "trilinear": (4,),
}


class Upsample(LayerBase):
    """Resizes the spatial axes by interpolation (torch.nn.Upsample / F.interpolate): to ``size``, by
    ``scale_factor`` (output = floor(input × factor)), or to the size of a second input
    (``F.interpolate(x, size=y.shape[2:])``, as segmentation heads resize to the image or a skip)."""

    type: Literal["upsample"]
    aliases = ("UpSampling1D", "UpSampling2D", "UpSampling3D", "Interpolate", "Resize")
    size: list[PosInt] | PosInt | None = Field(
        default=None, description="Output size: a number or one per spatial axis (default: a second input's size)."
    )
    scale_factor: list[Float] | Float | None = Field(
        default=None, description="Factor on every spatial axis, or one per axis (output = floor(input × factor))."
    )
    mode: Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"] = Field(
        default="nearest", description="Interpolation: nearest, linear (C×L), bilinear or bicubic (C×H×W), trilinear (C×D×H×W)."
    )
    align_corners: Bool | None = Field(
        default=None, description="Linear modes only: align the corner pixels of input and output (PyTorch's default: false)."
    )

    ranks = (2, 3, 4)
    arity = (1, 2)
    value_inputs = 1  # a second input lends only its size
    family = "shape"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True  # a fixed linear map of its input
    learned_linear = False
    random_in_training = False
    saves = ()  # the backward pass needs only the sizes

    @model_validator(mode="after")
    def _size_or_scale(self) -> Upsample:
        if self.size is not None and self.scale_factor is not None:
            raise ValueError("give one of `size` and `scale_factor`, not both")
        factors = self.scale_factor if isinstance(self.scale_factor, list) else [self.scale_factor or 1.0]
        if any(not (f > 0 and math.isfinite(f)) for f in factors):
            raise ValueError(f"scale_factor must be positive and finite, got {self.scale_factor}")
        if self.align_corners is not None and self.mode.startswith("nearest"):
            raise ValueError("align_corners applies to the linear modes (linear, bilinear, bicubic, trilinear) only")
        return self

    def check_inputs(self, ins: list[Shape]) -> None:
        super().check_inputs(ins)
        rank = len(ins[0])
        given = "size" if self.size is not None else "scale_factor" if self.scale_factor is not None else None
        if given is None and len(ins) == 1:
            raise LayerError(
                "upsample needs its output size: give `size`, `scale_factor`, or a second input whose size it takes",
                hint="`inputs: [x, y]` resizes x to y's spatial size (F.interpolate(x, size=y.shape[2:]))",
            )
        if given is not None and len(ins) == 2:
            raise LayerError(
                f"upsample has both a second input and `{given}`: the output size must come from one of them",
                field=given,
                hint=f"remove `{given}` to take the second input's size, or the second input",
            )
        if len(ins) == 2 and len(ins[1]) != rank:
            raise LayerError(
                f"upsample to the size of a second input needs one of the same rank, got {fmt_shape(ins[0])} and {fmt_shape(ins[1])}",
                field="inputs",
            )
        if rank not in MODE_RANKS[self.mode]:
            raise LayerError(
                f"{self.mode} interpolation needs a {rank_words(MODE_RANKS[self.mode])} input, got {fmt_shape(ins[0])}",
                field="mode",
                hint="linear is for C×L, bilinear and bicubic for C×H×W, trilinear for C×D×H×W; nearest takes any",
            )
        for what, value in (("size", self.size), ("scale_factor", self.scale_factor)):
            if isinstance(value, list) and len(value) != rank - 1:
                raise LayerError(
                    f"{what} has {len(value)} values but the input {fmt_shape(ins[0])} has {rank - 1} spatial axes",
                    field=what,
                    hint="give a number, or one value per spatial axis",
                )

    def output_shape(self, ins: list[Shape]) -> Shape:
        shape = ins[0]
        n = len(shape) - 1
        if len(ins) == 2:
            return (shape[0], *ins[1][1:])
        if self.size is not None:
            sizes = self.size if isinstance(self.size, list) else [self.size] * n
            return (shape[0], *sizes)
        scale = self.scale_factor or 1.0  # (one of size and scale_factor is given: the validator says so)
        factors = scale if isinstance(scale, list) else [scale] * n
        out = tuple(math.floor(float(size) * float(f)) for size, f in zip(shape[1:], factors))  # as F.interpolate
        for axis, size, o in zip(AXIS_NAMES[n], shape[1:], out):
            if o < 1:
                raise LayerError(
                    f"output {axis} would be {o}: {size} × {self.scale_factor} rounds down to nothing",
                    field="scale_factor",
                    hint="use a larger scale_factor, or give `size`",
                    code=Code.NON_POSITIVE_OUTPUT_SIZE,
                )
        return (shape[0], *out)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        if self.output_shape(ins) == ins[0]:
            return Receptive.KEEP  # every sample point falls on its own input position
        return Receptive.UNDEFINED  # output units step over the input by a fraction, fields of unequal sizes

    def label(self) -> str:
        what = f"×{self.scale_factor:g}" if isinstance(self.scale_factor, float) else "resize"
        return f"upsample {what} {self.mode}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        size = tuple(self.size) if isinstance(self.size, list) else self.size
        if len(ins) == 2:
            from archspec.layers.torch_modules import ResizeLike

            return ResizeLike(self.mode, self.align_corners)
        scale = tuple(self.scale_factor) if isinstance(self.scale_factor, list) else self.scale_factor
        return nn.Upsample(size=size, scale_factor=scale, mode=self.mode, align_corners=self.align_corners)
