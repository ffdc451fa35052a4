"""Normalisation and dropout: per-channel or per-element, shape-preserving."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from archspec.codes import Code
from archspec.layers.base import LayerError, Pointwise, Shape, count, fmt_shape
from archspec.layers.fields import Bool, Float, PosInt, Probability


class _BatchNorm(Pointwise):
    """Batch normalisation over each channel (torch.nn.BatchNorm1d / 2d / 3d)."""

    eps: Float = Field(default=1e-5, gt=0, description="Added to the variance for numerical stability.")
    momentum: Float | None = Field(default=0.1, ge=0, le=1, description="Weight of each batch in the running statistics.")
    affine: Bool = Field(default=True, description="Learn the per-channel scale and shift (2C parameters).")
    track_running_stats: Bool = Field(default=True, description="Keep running mean/variance for evaluation mode.")
    num_features: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    family = "norm"
    output_activation = False
    batch_statistics = True
    cancels_bias = True
    affine_map = True  # at inference: a per-channel scale and shift
    learned_linear = False
    random_in_training = False
    saves = ("input",)
    torch_class: ClassVar[str]

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        if self.num_features is not None and self.num_features != shape[0]:
            raise LayerError(
                f"num_features is {self.num_features} but the input has {shape[0]} ({fmt_shape(shape)})",
                field="num_features",
                hint="remove num_features (it is inferred) or fix the layer before",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )
        return shape

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][0]
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def buffers(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][0]
        if not self.track_running_stats:
            return {}
        return {"running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, self.torch_class)(
            ins[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )

    def label(self) -> str:
        return "batchnorm"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of a feature vector or of each channel of a C×L sequence (torch.nn.BatchNorm1d)."""

    type: Literal["batchnorm1d"]
    ranks = (1, 2)
    torch_class = "BatchNorm1d"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of each channel of a C×H×W image (torch.nn.BatchNorm2d)."""

    type: Literal["batchnorm2d"]
    aliases = ("BatchNormalization", "BatchNorm", "bn")
    ranks = (3,)
    torch_class = "BatchNorm2d"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of each channel of a C×D×H×W volume (torch.nn.BatchNorm3d)."""

    type: Literal["batchnorm3d"]
    ranks = (4,)
    torch_class = "BatchNorm3d"


class LocalResponseNorm(Pointwise):
    """Normalisation across neighbouring channels, as in the original AlexNet (torch.nn.LocalResponseNorm)."""

    type: Literal["localresponsenorm"]
    aliases = ("LRN",)
    size: PosInt = Field(description="Number of neighbouring channels to normalise over.")
    alpha: Float = Field(default=1e-4, description="Scale of the sum of squares.")
    beta: Float = Field(default=0.75, description="Exponent.")
    k: Float = Field(default=1.0, description="Additive constant.")
    ranks = (3,)

    family = "norm"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = False
    learned_linear = False
    random_in_training = False
    saves = ("input", "output")  # lowered as several ops, which keep about two tensors of this size

    def label(self) -> str:
        return f"LRN {self.size}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.LocalResponseNorm(self.size, alpha=self.alpha, beta=self.beta, k=self.k)


class _Dropout(Pointwise):
    """Zeroes elements (or whole channels) with probability p in training; identity in evaluation."""

    p: Probability = Field(default=0.5, description="Probability of zeroing an element (or a channel).")

    family = "drop"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True  # identity at inference
    learned_linear = False
    random_in_training = True
    torch_class: ClassVar[str]

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()  # identity in evaluation, whatever the layout

    def label(self) -> str:
        return f"{self.kind()} {self.p:g}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, self.torch_class)(self.p)


class Dropout(_Dropout):
    """Zeroes each element with probability p in training (torch.nn.Dropout)."""

    type: Literal["dropout"]
    torch_class = "Dropout"

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return count({"mask": out})  # a bool mask, one byte per element


class Dropout1d(_Dropout):
    """Zeroes whole channels of a C×L sequence with probability p in training (torch.nn.Dropout1d)."""

    type: Literal["dropout1d"]
    ranks = (2,)
    torch_class = "Dropout1d"


class Dropout2d(_Dropout):
    """Zeroes whole channels of a C×H×W image with probability p in training (torch.nn.Dropout2d)."""

    type: Literal["dropout2d"]
    ranks = (3,)
    torch_class = "Dropout2d"


class Dropout3d(_Dropout):
    """Zeroes whole channels of a C×D×H×W volume with probability p in training (torch.nn.Dropout3d)."""

    type: Literal["dropout3d"]
    ranks = (4,)
    torch_class = "Dropout3d"


class StochasticDepth(Pointwise):
    """Drops a residual branch for a whole sample (``row``) or the whole batch (``batch``) with probability p
    in training, scaling what survives by 1/(1-p); identity in evaluation (torchvision.ops.StochasticDepth)."""

    type: Literal["stochastic_depth"]
    aliases = ("StochasticDepth", "DropPath", "drop_path")
    p: Probability = Field(description="Probability of dropping the branch.")
    mode: Literal["row", "batch"] = Field(default="row", description="'row': each sample drawn apart; 'batch': one draw for all.")

    family = "drop"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True  # identity at inference
    learned_linear = False
    random_in_training = True

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()  # identity in evaluation, whatever the layout

    def label(self) -> str:
        return f"drop path {self.p:g}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import StochasticDepth as Module

        return Module(self.p, self.mode)
