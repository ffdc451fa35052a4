"""Elementwise non-linearities and softmax: shape-preserving, parameter-free."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from archspec.layers.base import LayerError, Pointwise, Receptive, ReceptiveStep, Shape
from archspec.layers.fields import Float, Int


class _Activation(Pointwise):
    torch_class: ClassVar[str]
    family = "act"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = False
    learned_linear = False
    random_in_training = False
    saves = ("input",)  # most derivatives need the input; relu/sigmoid/tanh/softmax keep their output instead

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()  # elementwise, whatever the layout

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, self.torch_class)(**self.spec_fields())


class ReLU(_Activation):
    """max(0, x) (torch.nn.ReLU)."""

    saves = ("output",)
    type: Literal["relu"]
    torch_class = "ReLU"


class ReLU6(_Activation):
    """min(max(0, x), 6) (torch.nn.ReLU6)."""

    type: Literal["relu6"]
    torch_class = "ReLU6"


class LeakyReLU(_Activation):
    """x, or negative_slope·x below zero (torch.nn.LeakyReLU)."""

    type: Literal["leakyrelu"]
    negative_slope: Float = Field(default=0.01, description="Slope below zero.")
    torch_class = "LeakyReLU"


class ELU(_Activation):
    """x, or alpha·(exp(x) − 1) below zero (torch.nn.ELU)."""

    saves = ("output",)
    type: Literal["elu"]
    alpha: Float = Field(default=1.0, description="Value approached for very negative inputs: -alpha.")
    torch_class = "ELU"


class GELU(_Activation):
    """x·Φ(x), the Gaussian error linear unit (torch.nn.GELU)."""

    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = Field(default="none", description="'tanh' for the tanh approximation.")
    torch_class = "GELU"


class SiLU(_Activation):
    """x·sigmoid(x), also called swish (torch.nn.SiLU)."""

    type: Literal["silu"]
    aliases = ("swish",)
    torch_class = "SiLU"


class Hardswish(_Activation):
    """x·relu6(x + 3)/6 (torch.nn.Hardswish)."""

    type: Literal["hardswish"]
    aliases = ("hard_swish", "h_swish")
    torch_class = "Hardswish"


class Hardsigmoid(_Activation):
    """relu6(x + 3)/6 (torch.nn.Hardsigmoid)."""

    type: Literal["hardsigmoid"]
    aliases = ("hard_sigmoid", "h_sigmoid")
    torch_class = "Hardsigmoid"


class Sigmoid(_Activation):
    """1/(1 + exp(−x)) (torch.nn.Sigmoid)."""

    saves = ("output",)
    type: Literal["sigmoid"]
    torch_class = "Sigmoid"


class Tanh(_Activation):
    """tanh(x) (torch.nn.Tanh)."""

    saves = ("output",)
    type: Literal["tanh"]
    torch_class = "Tanh"


class _SoftmaxLike(_Activation):
    saves = ("output",)
    output_activation = True
    axis: Int = Field(default=0, description="Axis of the per-sample shape (0 = channels / classes), batch left out.")

    def check_inputs(self, ins: list[Shape]) -> None:
        rank = len(ins[0])
        if not -rank <= self.axis < rank:
            raise LayerError(f"axis {self.axis} is out of range for a rank-{rank} input", field="axis")

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # over the channels it is per position; over a spatial axis every position sees the whole axis
        rank = len(ins[0])
        axis = self.axis % rank
        if axis == 0 or rank == 1:
            return Receptive.KEEP
        return tuple(Receptive.MIX if a == axis else Receptive.KEEP for a in range(1, rank))

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset({self.axis % len(ins[0])})

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        dim = self.axis + 1 if self.axis >= 0 else self.axis  # torch counts the batch axis
        return getattr(nn, self.torch_class)(dim=dim)


class Softmax(_SoftmaxLike):
    """exp(x)/Σexp(x) along one axis (torch.nn.Softmax)."""

    type: Literal["softmax"]
    torch_class = "Softmax"


class LogSoftmax(_SoftmaxLike):
    """log of softmax along one axis (torch.nn.LogSoftmax)."""

    type: Literal["log_softmax"]
    torch_class = "LogSoftmax"
