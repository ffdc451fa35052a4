"""Normalisation by each sample's own statistics: layer, group and instance normalisation.

Unlike batch normalisation these never look at other samples, so training and evaluation
agree (except instance normalisation that keeps running statistics). Their statistics span
positions, so on the axes they normalise every output position depends on every input position.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from archspec.arith import product
from archspec.codes import Code
from archspec.layers.base import AxisStep, LayerBase, LayerError, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Bool, Float, PosInt


class _SampleNorm(LayerBase):
    """Traits shared by the per-sample normalisations."""

    eps: Float = Field(default=1e-5, gt=0, description="Added to the variance for numerical stability.")

    family = "norm"
    output_activation = False
    batch_statistics = False  # statistics of one sample, never of the batch
    affine_map = False  # it divides by a statistic of its input
    learned_linear = False
    random_in_training = False
    saves = ("input",)


def _mixed_axes(rank: int, normalised: set[int]) -> ReceptiveStep:
    """Each spatial axis of a rank-``rank`` shape that the statistics span mixes its positions; the others keep them."""
    steps: tuple[AxisStep, ...] = tuple(Receptive.MIX if a in normalised else Receptive.KEEP for a in range(1, rank))
    return Receptive.KEEP if all(s == Receptive.KEEP for s in steps) else steps


class LayerNorm(_SampleNorm):
    """Normalises each sample over its trailing axes (torch.nn.LayerNorm), or over the channels at every position
    (``over: channels``, as ConvNeXt's LayerNorm2d)."""

    type: Literal["layernorm"]
    aliases = ("LayerNormalization", "LayerNorm2d", "ln")
    over: PosInt | Literal["channels"] | None = Field(
        default=None,
        description="'channels' (at every position, as ConvNeXt), or how many trailing axes to normalise over "
        "(default: as many as normalized_shape has, else 1).",
    )
    normalized_shape: list[PosInt] | None = Field(
        default=None, description="Optional; the sizes of the normalised axes, inferred from the input and checked if given."
    )
    elementwise_affine: Bool = Field(default=True, description="Learn a scale per normalised element.")
    bias: Bool = Field(default=True, description="Learn a shift per normalised element (with elementwise_affine).")

    cancels_bias = False  # its mean runs over the channels (or a whole sample), so a per-channel bias stays

    @model_validator(mode="after")
    def _over_agrees_with_the_shape(self) -> LayerNorm:
        if self.over is not None and self.normalized_shape is not None:
            wanted = 1 if self.over == "channels" else self.over
            if len(self.normalized_shape) != wanted:
                raise ValueError(f"normalized_shape has {len(self.normalized_shape)} sizes but `over` asks for {wanted} axes")
        return self

    def axes(self, rank: int) -> tuple[int, ...]:
        """The normalised axes of a rank-``rank`` shape (0 = channels)."""
        if self.over == "channels":
            return (0,)
        n = self.over or (len(self.normalized_shape) if self.normalized_shape else 1)
        return tuple(range(rank - n, rank))

    def check_inputs(self, ins: list[Shape]) -> None:
        (shape,) = ins
        axes = self.axes(len(shape))
        if axes[0] < 0:
            raise LayerError(
                f"layernorm over {len(axes)} trailing axes needs an input of at least that rank, got {fmt_shape(shape)}",
                field="over",
                hint=f"normalise over at most {len(shape)} axes",
            )
        if self.over == "channels" and len(shape) < 2:
            raise LayerError(
                f"layernorm over the channels needs a C×… map, got {fmt_shape(shape)}",
                field="over",
                hint="leave `over` out to normalise a vector",
            )
        sizes = [shape[a] for a in axes]
        if self.normalized_shape is not None and list(self.normalized_shape) != sizes:
            raise LayerError(
                f"normalized_shape is {list(self.normalized_shape)} but the input's normalised axes are {sizes} ({fmt_shape(shape)})",
                field="normalized_shape",
                hint="remove normalized_shape (it is inferred) or fix the layer before",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )

    def _shape(self, ins: list[Shape]) -> Shape:
        return tuple(ins[0][a] for a in self.axes(len(ins[0])))

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        if not self.elementwise_affine:
            return {}
        shape = self._shape(ins)
        return {"weight": shape, "bias": shape} if self.bias else {"weight": shape}

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return _mixed_axes(len(ins[0]), set(self.axes(len(ins[0]))))

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset(self.axes(len(ins[0])))  # after a permute to H×W×C (ConvNeXt): the channels only

    def label(self) -> str:
        return "layernorm C" if self.over == "channels" else "layernorm"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        from archspec.layers.torch_modules import ChannelLayerNorm

        cls = ChannelLayerNorm if self.over == "channels" else nn.LayerNorm
        return cls(list(self._shape(ins)), eps=self.eps, elementwise_affine=self.elementwise_affine, bias=self.bias)


class GroupNorm(_SampleNorm):
    """Normalises each group of channels of a sample over the group's channels and all positions (torch.nn.GroupNorm)."""

    type: Literal["groupnorm"]
    aliases = ("GroupNormalization", "gn")
    num_groups: PosInt = Field(description="Number of channel groups (divides the channels).")
    affine: Bool = Field(default=True, description="Learn a per-channel scale and shift (2C parameters).")
    num_channels: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    ranks = (2, 3, 4)
    cancels_bias = False  # the mean runs over a group of channels: only one channel per group would cancel a bias

    def check_inputs(self, ins: list[Shape]) -> None:
        super().check_inputs(ins)
        channels = ins[0][0]
        if self.num_channels is not None and self.num_channels != channels:
            raise LayerError(
                f"num_channels is {self.num_channels} but the input has {channels} ({fmt_shape(ins[0])})",
                field="num_channels",
                hint="remove num_channels (it is inferred) or fix the layer before",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )
        if channels % self.num_groups:
            raise LayerError(f"num_groups={self.num_groups} does not divide the {channels} input channels", field="num_groups")
        if channels // self.num_groups * product(ins[0][1:]) == 1:  # torch refuses: its variance would be of one value
            raise LayerError(
                f"each of the {self.num_groups} groups of {fmt_shape(ins[0])} holds one value: nothing to normalise",
                field="num_groups",
                hint="use fewer groups, or normalise a larger map",
            )

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][0]
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return _mixed_axes(len(ins[0]), set(range(1, len(ins[0]))))

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset(range(len(ins[0])))  # its groups span channels and every position

    def label(self) -> str:
        return f"groupnorm {self.num_groups}"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.GroupNorm(self.num_groups, ins[0][0], eps=self.eps, affine=self.affine)


class _InstanceNorm(_SampleNorm):
    """Normalises each channel of a sample over all its positions (torch.nn.InstanceNorm1d / 2d / 3d)."""

    momentum: Float | None = Field(default=0.1, ge=0, le=1, description="Weight of each batch in the running statistics.")
    affine: Bool = Field(default=False, description="Learn a per-channel scale and shift (2C parameters).")
    track_running_stats: Bool = Field(
        default=False, description="Keep running mean/variance and use them in evaluation (then each position is kept)."
    )
    num_features: PosInt | None = Field(default=None, description="Optional; inferred from the input and checked if given.")

    cancels_bias = True  # the mean of each channel over its positions is subtracted
    torch_class: ClassVar[str]

    def check_inputs(self, ins: list[Shape]) -> None:
        super().check_inputs(ins)
        if self.num_features is not None and self.num_features != ins[0][0]:
            raise LayerError(
                f"num_features is {self.num_features} but the input has {ins[0][0]} ({fmt_shape(ins[0])})",
                field="num_features",
                hint="remove num_features (it is inferred) or fix the layer before",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )
        if not self.track_running_stats and product(ins[0][1:]) == 1:  # torch refuses: a variance of one value
            raise LayerError(
                f"instance normalisation of a {fmt_shape(ins[0])} map: each channel holds one value, nothing to normalise",
                hint="normalise a larger map, or use batchnorm or layernorm",
            )

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][0]
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def buffers(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][0]
        return {"running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()} if self.track_running_stats else {}

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # in evaluation (the figures' convention, as for batch normalisation) running statistics are a
        # per-channel affine map; without them each channel's own mean and variance span all its positions
        return Receptive.KEEP if self.track_running_stats else _mixed_axes(len(ins[0]), set(range(1, len(ins[0]))))

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        # per channel (axis 0 of the input, wherever the spatial axes are): running statistics are pointwise
        return frozenset() if self.track_running_stats else frozenset(range(1, len(ins[0])))

    def label(self) -> str:
        return "instancenorm"

    def lower(self, ins: list[Shape]) -> Any:
        from torch import nn

        return getattr(nn, self.torch_class)(
            ins[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of each channel of a C×L sequence (torch.nn.InstanceNorm1d)."""

    type: Literal["instancenorm1d"]
    ranks = (2,)
    torch_class = "InstanceNorm1d"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of each channel of a C×H×W image (torch.nn.InstanceNorm2d)."""

    type: Literal["instancenorm2d"]
    aliases = ("InstanceNormalization", "InstanceNorm")
    ranks = (3,)
    torch_class = "InstanceNorm2d"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of each channel of a C×D×H×W volume (torch.nn.InstanceNorm3d)."""

    type: Literal["instancenorm3d"]
    ranks = (4,)
    torch_class = "InstanceNorm3d"
