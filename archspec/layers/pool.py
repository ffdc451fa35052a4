"""Pooling of every rank: windowed max/average, adaptive, and global over all spatial axes."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from archspec.arith import Window, adaptive_window, product
from archspec.layers.base import LayerError, Receptive, ReceptiveStep, Shape, Spatial, dims, fmt_shape, window_out, window_text
from archspec.layers.fields import Bool, PerAxis, PosInt


class _Pool(Spatial):
    """Traits shared by every pooling kind."""

    family = "pool"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    learned_linear = False
    random_in_training = False
    short: ClassVar[str]


class _WindowPool(_Pool):
    kernel_size: PerAxis = Field(description="Window size: a number or one value per spatial axis.")
    stride: PerAxis | None = Field(default=None, description="Defaults to kernel_size (non-overlapping tiles).")
    padding: PerAxis = Field(default=0, validate_default=True, description="Implicit padding on each side.")
    ceil_mode: Bool = Field(default=False, description="Keep a last, partial window instead of dropping it.")

    per_axis_fields: ClassVar[dict[str, int]] = {"kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1}

    @property
    def steps(self) -> tuple[int, ...]:
        return self.stride or self.kernel_size

    @property
    def dilations(self) -> tuple[int, ...]:
        return (1,) * self.rank

    @model_validator(mode="after")
    def _padding_at_most_half(self) -> _WindowPool:
        # PyTorch checks the padding against half the kernel itself, not the dilated window
        for k, p in zip(self.kernel_size, self.padding):
            if 2 * p > k:
                raise ValueError(f"padding {p} is more than half the kernel ({k}); PyTorch refuses it")
        return self

    def window(self) -> Window:
        return Window(self.kernel_size, self.steps, self.padding, self.dilations)

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        return (shape[0], *window_out(shape, self.window(), self.ceil_mode))

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return self.window()

    def label(self) -> str:
        text = f"{self.short} {'×'.join(map(str, self.kernel_size))}"
        return text + (f" /{self.steps[0]}" if self.steps != self.kernel_size else "")

    def op_text(self) -> str:
        window = self.window()
        return window_text(self.label().split(" /")[0], window, dims(window.padding) if any(window.padding) else None)

    def _kwargs(self) -> dict[str, Any]:
        return dict(kernel_size=self.kernel_size, stride=self.steps, padding=self.padding, ceil_mode=self.ceil_mode)


class _MaxPool(_WindowPool):
    """Max pooling (torch.nn.MaxPool1d / 2d / 3d)."""

    dilation: PerAxis = Field(default=1, validate_default=True, description="Spacing between window elements.")
    short = "maxpool"
    affine_map = False
    saves = ("input",)

    @property
    def dilations(self) -> tuple[int, ...]:
        return self.dilation

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return 8 * product(out)  # int64 indices of the maxima

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, f"MaxPool{self.rank}d")(dilation=self.dilation, **self._kwargs())


class MaxPool1d(_MaxPool):
    """Max pooling over C×L sequences (torch.nn.MaxPool1d)."""

    type: Literal["maxpool1d"]
    aliases = ("MaxPooling1D",)
    rank: ClassVar[int] = 1


class MaxPool2d(_MaxPool):
    """Max pooling over C×H×W images (torch.nn.MaxPool2d)."""

    type: Literal["maxpool2d"]
    aliases = ("MaxPooling2D",)
    rank: ClassVar[int] = 2


class MaxPool3d(_MaxPool):
    """Max pooling over C×D×H×W volumes (torch.nn.MaxPool3d)."""

    type: Literal["maxpool3d"]
    aliases = ("MaxPooling3D",)
    rank: ClassVar[int] = 3


class _AvgPool(_WindowPool):
    """Average pooling (torch.nn.AvgPool1d / 2d / 3d)."""

    count_include_pad: Bool = Field(default=True, description="Count the zero padding in the average.")
    short = "avgpool"
    affine_map = True

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        extra = {"divisor_override": self.divisor_override} if hasattr(self, "divisor_override") else {}
        return getattr(nn, f"AvgPool{self.rank}d")(count_include_pad=self.count_include_pad, **extra, **self._kwargs())


class AvgPool1d(_AvgPool):  # torch's AvgPool1d has no divisor_override
    """Average pooling over C×L sequences (torch.nn.AvgPool1d)."""

    type: Literal["avgpool1d"]
    aliases = ("AveragePooling1D",)
    rank: ClassVar[int] = 1


class AvgPool2d(_AvgPool):
    """Average pooling over C×H×W images (torch.nn.AvgPool2d)."""

    type: Literal["avgpool2d"]
    aliases = ("AveragePooling2D",)
    rank: ClassVar[int] = 2
    divisor_override: PosInt | None = Field(default=None, description="Divide by this instead of the window size.")


class AvgPool3d(_AvgPool):
    """Average pooling over C×D×H×W volumes (torch.nn.AvgPool3d)."""

    type: Literal["avgpool3d"]
    aliases = ("AveragePooling3D",)
    rank: ClassVar[int] = 3
    divisor_override: PosInt | None = Field(default=None, description="Divide by this instead of the window size.")

    def output_shape(self, ins: list[Shape]) -> Shape:
        # unlike every other pool, PyTorch's avg_pool3d wants the unpadded input to hold the kernel
        shape = ins[0]
        if any(n < k for n, k in zip(shape[1:], self.kernel_size)):
            raise LayerError(
                f"the {fmt_shape(shape[1:])} input is smaller than the {fmt_shape(self.kernel_size)} kernel; "
                "PyTorch's AvgPool3d refuses that even with padding",
                field="kernel_size",
                hint="use a smaller kernel, or downsample less before this layer",
            )
        return super().output_shape(ins)


class _AdaptivePool(_Pool):
    output_size: PerAxis = Field(description="Output size: a number or one value per spatial axis.")
    per_axis_fields: ClassVar[dict[str, int]] = {"output_size": 1}
    mode: ClassVar[str]

    def output_shape(self, ins: list[Shape]) -> Shape:
        return (ins[0][0], *self.output_size)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # equal windows behave exactly like a pool with kernel = stride = size/out;
        # unequal ones have no single (r, S, P) description
        kernel = [adaptive_window(size, out) for size, out in zip(ins[0][1:], self.output_size)]
        if any(k is None for k in kernel):
            return Receptive.UNDEFINED
        sizes = tuple(k for k in kernel if k is not None)
        return Window(sizes, sizes, (0,) * self.rank, (1,) * self.rank)

    def label(self) -> str:
        return f"adaptive {self.short} →{'×'.join(map(str, self.output_size))}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, f"Adaptive{self.mode}Pool{self.rank}d")(self.output_size)


class _AdaptiveAvgPool(_AdaptivePool):
    """Average pooling to a fixed output size (torch.nn.AdaptiveAvgPool1d / 2d / 3d)."""

    short = "avgpool"
    mode = "Avg"
    affine_map = True


class _AdaptiveMaxPool(_AdaptivePool):
    """Max pooling to a fixed output size (torch.nn.AdaptiveMaxPool1d / 2d / 3d)."""

    short = "maxpool"
    mode = "Max"
    affine_map = False
    saves = ("input",)

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return 8 * product(out)  # int64 indices of the maxima


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """Average pooling of a C×L sequence to a fixed length (torch.nn.AdaptiveAvgPool1d)."""

    type: Literal["adaptiveavgpool1d"]
    rank: ClassVar[int] = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """Average pooling of a C×H×W image to a fixed size (torch.nn.AdaptiveAvgPool2d)."""

    type: Literal["adaptiveavgpool2d"]
    rank: ClassVar[int] = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPool):
    """Average pooling of a C×D×H×W volume to a fixed size (torch.nn.AdaptiveAvgPool3d)."""

    type: Literal["adaptiveavgpool3d"]
    rank: ClassVar[int] = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max pooling of a C×L sequence to a fixed length (torch.nn.AdaptiveMaxPool1d)."""

    type: Literal["adaptivemaxpool1d"]
    rank: ClassVar[int] = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max pooling of a C×H×W image to a fixed size (torch.nn.AdaptiveMaxPool2d)."""

    type: Literal["adaptivemaxpool2d"]
    rank: ClassVar[int] = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Max pooling of a C×D×H×W volume to a fixed size (torch.nn.AdaptiveMaxPool3d)."""

    type: Literal["adaptivemaxpool3d"]
    rank: ClassVar[int] = 3


class _GlobalPool(_Pool):
    """Reduces every spatial axis: C×… → C (Keras' GlobalAveragePooling / GlobalMaxPooling)."""

    reduce: ClassVar[Literal["mean", "amax"]]

    def output_shape(self, ins: list[Shape]) -> Shape:
        return (ins[0][0],)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.LOST

    def label(self) -> str:
        return f"global {self.short}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import GlobalPool

        return GlobalPool(self.reduce, tuple(range(2, self.rank + 2)))


class _GlobalAvgPool(_GlobalPool):
    short = "avgpool"
    reduce = "mean"
    affine_map = True


class _GlobalMaxPool(_GlobalPool):
    short = "maxpool"
    reduce = "amax"
    affine_map = False
    saves = ("input", "output")  # amax's backward compares its input with its output


class GlobalAvgPool1d(_GlobalAvgPool):
    """Mean over the length: C×L → C."""

    type: Literal["globalavgpool1d"]
    aliases = ("GlobalAveragePooling1D",)
    rank: ClassVar[int] = 1


class GlobalAvgPool2d(_GlobalAvgPool):
    """Mean over height and width: C×H×W → C (Keras' GlobalAveragePooling2D)."""

    type: Literal["globalavgpool2d"]
    aliases = ("GlobalAveragePooling2D",)
    rank: ClassVar[int] = 2


class GlobalAvgPool3d(_GlobalAvgPool):
    """Mean over depth, height and width: C×D×H×W → C."""

    type: Literal["globalavgpool3d"]
    aliases = ("GlobalAveragePooling3D",)
    rank: ClassVar[int] = 3


class GlobalMaxPool1d(_GlobalMaxPool):
    """Maximum over the length: C×L → C."""

    type: Literal["globalmaxpool1d"]
    aliases = ("GlobalMaxPooling1D",)
    rank: ClassVar[int] = 1


class GlobalMaxPool2d(_GlobalMaxPool):
    """Maximum over height and width: C×H×W → C (Keras' GlobalMaxPooling2D)."""

    type: Literal["globalmaxpool2d"]
    aliases = ("GlobalMaxPooling2D",)
    rank: ClassVar[int] = 2


class GlobalMaxPool3d(_GlobalMaxPool):
    """Maximum over depth, height and width: C×D×H×W → C."""

    type: Literal["globalmaxpool3d"]
    aliases = ("GlobalMaxPooling3D",)
    rank: ClassVar[int] = 3
