"""Swin Transformer's pieces on an H×W×C map (channels last, the batch left out).

``window_attention`` is one (shifted) window attention step: pad to whole windows, roll by the shift,
partition into M×M windows, self-attention inside each window with a learned relative position bias
(and a mask that keeps rolled-in positions apart), reverse the partition, roll back and crop. Its parts
are one kind because none of them means anything alone: the mask exists only for the roll, the reverse
only for the partition. ``patch_merging`` is Swin's downsampling: each 2×2 neighbourhood's four C-vectors
side by side (the linear reduction and norm after it are ordinary layers).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from archspec.layers.attention import heads_divide
from archspec.layers.base import LayerBase, LayerError, Receptive, ReceptiveStep, Shape, axis_schema, fmt_shape
from archspec.layers.fields import Bool, PosInt, Probability, per_axis

FLOAT32 = 4
PLANE = 2  # these kinds act on two spatial axes: H×W×C


def _map_of(kind: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise LayerError(
            f"{kind} needs an H×W×C map (channels last), got {fmt_shape(shape)}",
            hint="put the channels last first: a permute with axes [1, 2, 0] turns C×H×W into H×W×C",
        )


def _whole(size: int, step: int) -> int:
    """``size`` rounded up to whole steps (the zero padding Swin adds at the bottom and right)."""
    return -(-size // step) * step


class WindowAttention(LayerBase):
    """Multi-head self-attention inside M×M windows of an H×W×C map, the windows optionally shifted by a roll,
    with a learned relative position bias (Swin Transformer's W-MSA / SW-MSA, as torchvision's
    ShiftedWindowAttention: its weights load by name)."""

    model_config = ConfigDict(json_schema_extra=axis_schema)  # editors see "a number or [h, w]"

    type: Literal["window_attention"]
    aliases = ("ShiftedWindowAttention", "shifted_window_attention", "WindowAttention", "swin_attention")
    num_heads: PosInt = Field(description="Number of heads; divides the channels C.")
    window_size: tuple[int, int] = Field(description="Window size M, or [Mh, Mw].")
    shift_size: tuple[int, int] = Field(
        default=(0, 0),
        description="How far the windows are shifted (a roll of -shift before and +shift after); 0 for plain "
        "windows, M/2 in every second Swin block. Ignored on an axis that one window covers, as torchvision does.",
    )
    attention_dropout: Probability = Field(default=0.0, description="Dropout on the attention weights in training.")
    dropout: Probability = Field(default=0.0, description="Dropout on the output in training.")
    qkv_bias: Bool = Field(default=True, description="Learn a bias of the query, key and value projection.")
    proj_bias: Bool = Field(default=True, description="Learn a bias of the output projection.")

    family = "dense"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = False  # the attention weights depend on the input
    learned_linear = False
    random_in_training = False  # its dropouts are inside; the step itself is not an identity in evaluation
    ranks = (3,)
    no_single_field = "each see their own window, which is cut at fixed places rather than centred on the unit"
    rank: ClassVar[int] = PLANE
    per_axis_fields: ClassVar[dict[str, int]] = {"window_size": 1, "shift_size": 0}

    @field_validator("window_size", mode="before")
    @classmethod
    def _window_per_axis(cls, value: Any) -> tuple[int, ...]:
        return per_axis(value, PLANE, cls.per_axis_fields["window_size"])

    @field_validator("shift_size", mode="before")
    @classmethod
    def _shift_per_axis(cls, value: Any) -> tuple[int, ...]:
        return per_axis(value, PLANE, cls.per_axis_fields["shift_size"])

    @model_validator(mode="after")
    def _shift_inside_the_window(self) -> WindowAttention:
        if any(s >= m for s, m in zip(self.shift_size, self.window_size)):
            raise ValueError(f"shift_size {list(self.shift_size)} must be smaller than window_size {list(self.window_size)}")
        return self

    def check_inputs(self, ins: list[Shape]) -> None:
        (shape,) = ins
        _map_of(self.kind(), shape)
        heads_divide(self.num_heads, shape, axis=2, words="channels")

    def padded(self, shape: Shape) -> tuple[int, int]:
        """The map's height and width padded to whole windows."""
        return _whole(shape[0], self.window_size[0]), _whole(shape[1], self.window_size[1])

    def shifts(self, shape: Shape) -> tuple[int, int]:
        """The shift on each axis: none where one window covers the (padded) axis."""
        return tuple(0 if m >= p else s for s, m, p in zip(self.shift_size, self.window_size, self.padded(shape)))  # type: ignore[return-value]

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        c = ins[0][2]
        mh, mw = self.window_size
        tensors: dict[str, Shape] = {"qkv.weight": (3 * c, c)}
        if self.qkv_bias:
            tensors["qkv.bias"] = (3 * c,)
        tensors["proj.weight"] = (c, c)
        if self.proj_bias:
            tensors["proj.bias"] = (c,)
        # one learned bias per head for each relative offset (dy, dx) inside a window
        tensors["relative_position_bias_table"] = ((2 * mh - 1) * (2 * mw - 1), self.num_heads)
        return tensors

    def buffers(self, ins: list[Shape]) -> dict[str, Shape]:
        tokens = self.window_size[0] * self.window_size[1]
        return {"relative_position_index": (tokens * tokens,)}  # which table row each pair of a window's tokens reads

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.UNDEFINED  # a channels-first map is not what it acts on (see mixed_axes)

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        # each unit sees its own window, which is not where a sliding (r, S, P) would put it; exact only
        # when one window covers the whole map: every position sees every position
        (shape,) = ins
        return frozenset({0, 1, 2}) if self.padded(shape) == self.window_size else None

    def macs(self, ins: list[Shape], out: Shape) -> int:
        # over the padded map: the Q, K, V and output projections (4·C² per position) and, inside each window
        # of T = Mh·Mw tokens, Q·Kᵀ and A·V (T·C per position each), as FlopCounterMode counts them
        ph, pw = self.padded(ins[0])
        c = ins[0][2]
        tokens = self.window_size[0] * self.window_size[1]
        return ph * pw * (4 * c * c + 2 * tokens * c)

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        # what autograd keeps for backward (eager path, as torchvision computes it, measured in the tests):
        # the windows fed to the qkv projection, the scaled Q and copies of K and V laid out per head for the
        # two products, the softmax's T×T weights per head and window, and the heads' output fed to the output
        # projection; with attention dropout also its mask and the dropped weights, with output dropout its mask
        ph, pw = self.padded(ins[0])
        c = ins[0][2]
        positions, tokens = ph * pw, self.window_size[0] * self.window_size[1]
        weights = positions * tokens * self.num_heads
        saved = 5 * positions * c + weights
        if self.attention_dropout:
            saved += 2 * weights
        if self.dropout:
            saved += positions * c
        return saved * FLOAT32

    def label(self) -> str:
        mh, mw = self.window_size
        shift = f", shift {self.shift_size[0]}" if any(self.shift_size) else ""
        return f"window attention {mh}×{mw} ×{self.num_heads} heads{shift}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import WindowAttention as Module

        return Module(
            ins[0][2],
            self.num_heads,
            self.window_size,
            self.shifts(ins[0]),
            attention_dropout=self.attention_dropout,
            dropout=self.dropout,
            qkv_bias=self.qkv_bias,
            proj_bias=self.proj_bias,
        )


class PatchMerging(LayerBase):
    """Swin's downsampling of an H×W×C map to ⌈H/2⌉×⌈W/2⌉×4C: the four C-vectors of each 2×2 neighbourhood
    side by side, in the order (0,0), (1,0), (0,1), (1,1) (row, column), an odd side padded with zeros
    first, as torchvision's PatchMerging does before its norm and linear reduction."""

    type: Literal["patch_merging"]
    aliases = ("PatchMerging", "patch_merge")

    family = "shape"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False
    ranks = (3,)
    no_single_field = "are 2×2 windows of a channels-last map, which the field does not follow"

    def check_inputs(self, ins: list[Shape]) -> None:
        _map_of(self.kind(), ins[0])

    def output_shape(self, ins: list[Shape]) -> Shape:
        h, w, c = ins[0]
        return (-(-h // 2), -(-w // 2), 4 * c)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.UNDEFINED  # channels last: a 2×2 stride-2 window that the channels-first rule cannot state

    def label(self) -> str:
        return "patch merging 2×2"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import PatchMerging as Module

        return Module()
