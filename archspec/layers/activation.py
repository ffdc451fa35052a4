"""Elementwise non-linearities and softmax: shape-preserving, parameter-free."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from archspec.layers.base import LayerBase, LayerError, Shape
from archspec.layers.fields import Float, Int


class _Activation(LayerBase):
    torch_class: ClassVar[str]
    saves = ("input",)  # most derivatives need the input; relu/sigmoid/tanh/softmax keep their output instead

    def lower(self, ins: list[Shape]):
        from torch import nn

        return getattr(nn, self.torch_class)(**self.spec_fields())


class ReLU(_Activation):
    saves = ("output",)
    type: Literal["relu"]
    torch_class = "ReLU"


class ReLU6(_Activation):
    type: Literal["relu6"]
    torch_class = "ReLU6"


class LeakyReLU(_Activation):
    type: Literal["leakyrelu"]
    negative_slope: Float = 0.01
    torch_class = "LeakyReLU"


class ELU(_Activation):
    saves = ("output",)
    type: Literal["elu"]
    alpha: Float = 1.0
    torch_class = "ELU"


class GELU(_Activation):
    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = "none"
    torch_class = "GELU"


class SiLU(_Activation):
    type: Literal["silu"]
    torch_class = "SiLU"


class Hardswish(_Activation):
    type: Literal["hardswish"]
    torch_class = "Hardswish"


class Hardsigmoid(_Activation):
    type: Literal["hardsigmoid"]
    torch_class = "Hardsigmoid"


class Sigmoid(_Activation):
    saves = ("output",)
    type: Literal["sigmoid"]
    torch_class = "Sigmoid"


class Tanh(_Activation):
    saves = ("output",)
    type: Literal["tanh"]
    torch_class = "Tanh"


class _SoftmaxLike(_Activation):
    saves = ("output",)
    axis: Int = Field(default=0, description="Axis of the per-sample shape (0 = channels / classes), batch left out.")

    def check_inputs(self, ins: list[Shape]) -> None:
        rank = len(ins[0])
        if not -rank <= self.axis < rank:
            raise LayerError(f"axis {self.axis} is out of range for a rank-{rank} input", field="axis")

    def lower(self, ins: list[Shape]):
        from torch import nn

        dim = self.axis + 1 if self.axis >= 0 else self.axis  # torch counts the batch axis
        return getattr(nn, self.torch_class)(dim=dim)


class Softmax(_SoftmaxLike):
    type: Literal["softmax"]
    torch_class = "Softmax"


class LogSoftmax(_SoftmaxLike):
    type: Literal["log_softmax"]
    torch_class = "LogSoftmax"
