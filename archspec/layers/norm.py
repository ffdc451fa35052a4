"""Normalisation and dropout: per-channel or per-element, shape-preserving."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archspec.layers.base import LayerBase, LayerError, Shape, count, fmt_shape
from archspec.layers.fields import Bool, Float, PosInt, Probability


class _BatchNorm(LayerBase):
    eps: Float = Field(default=1e-5, gt=0)
    momentum: Float | None = Field(default=0.1, ge=0, le=1)
    affine: Bool = Field(default=True, description="Learn the per-channel scale and shift (2C parameters).")
    track_running_stats: Bool = Field(default=True, description="Keep running mean/variance for evaluation mode.")
    num_features: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")
    affine_map = True  # at inference: a per-channel scale and shift
    saves = ("input",)

    def output_shape(self, ins: list[Shape]) -> Shape:
        (shape,) = ins
        if self.num_features is not None and self.num_features != shape[0]:
            raise LayerError(
                f"num_features is {self.num_features} but the input has {shape[0]} ({fmt_shape(shape)})",
                field="num_features",
                hint="remove num_features (it is inferred) or fix the layer before",
                code="E307",
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

    def lower(self, ins: list[Shape]):
        from torch import nn

        module = nn.BatchNorm2d if self.kind() == "batchnorm2d" else nn.BatchNorm1d
        return module(
            ins[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )

    def label(self) -> str:
        return "batchnorm"


class BatchNorm2d(_BatchNorm):
    """Spatial batch normalisation over each channel (torch.nn.BatchNorm2d)."""

    type: Literal["batchnorm2d"]
    ranks = (3,)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of a feature vector (torch.nn.BatchNorm1d)."""

    type: Literal["batchnorm1d"]
    ranks = (1,)


class LocalResponseNorm(LayerBase):
    """Normalisation across neighbouring channels, as in the original AlexNet (torch.nn.LocalResponseNorm)."""

    type: Literal["localresponsenorm"]
    size: PosInt
    alpha: Float = 1e-4
    beta: Float = 0.75
    k: Float = 1.0
    ranks = (3,)

    saves = ("input", "output")  # lowered as several ops, which keep about two tensors of this size

    def label(self) -> str:
        return f"LRN {self.size}"

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.LocalResponseNorm(self.size, alpha=self.alpha, beta=self.beta, k=self.k)


class Dropout(LayerBase):
    """Zeroes each element with probability p in training (torch.nn.Dropout)."""

    type: Literal["dropout"]
    p: Probability = 0.5
    affine_map = True  # identity at inference

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        return count({"mask": out})  # a bool mask, one byte per element

    def label(self) -> str:
        return f"dropout {self.p:g}"

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.Dropout(self.p)


class Dropout2d(LayerBase):
    """Zeroes whole channels with probability p in training (torch.nn.Dropout2d)."""

    type: Literal["dropout2d"]
    p: Probability = 0.5
    affine_map = True
    ranks = (3,)

    def label(self) -> str:
        return f"dropout2d {self.p:g}"

    def lower(self, ins: list[Shape]):
        from torch import nn

        return nn.Dropout2d(self.p)
