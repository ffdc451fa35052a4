"""Kinds that take part of a tensor: slice, select, the parts of split and chunk, crop and center_crop.

A ``split`` or ``chunk`` layer has several outputs. The loader turns it into one layer per part,
named ``NAME:0``, ``NAME:1``, ... (as TensorFlow names an operation's outputs), each with its
``index``; so every layer of the graph has one output. Each part, a slice and a crop keep a
regular subset of positions: their receptive field is exact, a shift (and a stride for a step).
A select keeps one position and drops its axis (ViT's class token): the axes after it move down one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, Strict

from archspec.arith import Window
from archspec.codes import Code
from archspec.layers.base import LayerError, Moved, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import AXIS_NAMES, Int, NonNegInt, PosInt, axis_name
from archspec.layers.linear import _Reshape


def _axis(value: int, rank: int) -> int:
    if not -rank <= value < rank:
        raise LayerError(f"axis {value} is out of range for a rank-{rank} input (axes 0 to {rank - 1})", field="axis")
    return value % rank


def _keep_every(shape: Shape, axis: int, start: int, step: int) -> ReceptiveStep:
    """A layer that keeps positions start, start + step, ... of ``axis``: a shift (and stride) there."""
    if axis == 0 or len(shape) == 1:
        return Receptive.KEEP  # channels or features: every position stays
    return tuple(Window((1,), (step,), (-start,)) if a == axis else Receptive.KEEP for a in range(1, len(shape)))


class _Part(_Reshape):
    """A run of positions along one axis (a view of the input: torch.narrow / slicing)."""

    axis: Int = Field(default=0, description="Axis of the per-sample shape, batch left out (0 = channels).")

    def bounds(self, shape: Shape) -> tuple[int, int, int]:
        """(start, stop, step) along the axis: the part of ``shape`` this layer keeps."""
        raise NotImplementedError

    def output_shape(self, ins: list[Shape]) -> Shape:
        shape = ins[0]
        axis = _axis(self.axis, len(shape))
        start, stop, step = self.bounds(shape)
        return (*shape[:axis], len(range(start, stop, step)), *shape[axis + 1 :])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        start, _, step = self.bounds(ins[0])
        return _keep_every(ins[0], _axis(self.axis, len(ins[0])), start, step)

    def kept_positions(self, ins: list[Shape]) -> tuple[int, range] | None:
        return _axis(self.axis, len(ins[0])), range(*self.bounds(ins[0]))

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Slice as Module

        return Module(_axis(self.axis, len(ins[0])) + 1, *self.bounds(ins[0]))


class Slice(_Part):
    """Positions ``start:stop:step`` of one axis, as Python slices them (negative counts from the end)."""

    type: Literal["slice"]
    aliases = ("narrow", "Cropping1D")
    start: Int = Field(default=0, description="First position kept (negative counts from the end).")
    stop: Int | None = Field(default=None, description="Position after the last one kept (default: the end).")
    step: PosInt = Field(default=1, description="Keep every step-th position.")

    def bounds(self, shape: Shape) -> tuple[int, int, int]:
        axis = _axis(self.axis, len(shape))
        start, stop, step = slice(self.start, self.stop, self.step).indices(shape[axis])
        if len(range(start, stop, step)) == 0:
            raise LayerError(
                f"slice {self.start}:{'' if self.stop is None else self.stop} of the {axis_name(len(shape), axis)} "
                f"({shape[axis]} of {fmt_shape(shape)}) keeps nothing",
                field="start",
                code=Code.NON_POSITIVE_OUTPUT_SIZE,
            )
        return start, stop, step

    def label(self) -> str:
        stop = "" if self.stop is None else str(self.stop)
        return f"slice {self.start}:{stop}" + (f":{self.step}" if self.step != 1 else "") + f" (axis {self.axis})"


class Select(_Reshape):
    """Position ``index`` of one axis, the axis removed (torch.select): token 0 of N×D tokens is a D vector."""

    type: Literal["select"]
    aliases = ("take",)
    axis: Int = Field(default=0, description="Axis of the per-sample shape, batch left out (0 = channels, or the tokens of N×D).")
    index: Int = Field(description="Position kept (negative counts from the end); the axis is removed.")

    def check_inputs(self, ins: list[Shape]) -> None:
        if len(ins[0]) < 2:
            raise LayerError(
                f"select removes an axis, and a {fmt_shape(ins[0])} vector has only one",
                hint="use a slice (start: i, stop: i + 1) to keep one feature as a 1-long vector",
            )

    def position(self, shape: Shape) -> tuple[int, int]:
        """(axis, index) with negative values counted from the end; an error when either is out of range."""
        rank = len(shape)
        if not -rank <= self.axis < rank:
            raise LayerError(
                f"axis {self.axis} is out of range for a rank-{rank} input {fmt_shape(shape)} (axes 0 to {rank - 1})",
                field="axis",
                hint=f"use an axis from {-rank} to {rank - 1}, batch left out",
            )
        axis = self.axis % rank
        n = shape[axis]
        if not -n <= self.index < n:
            raise LayerError(
                f"index {self.index} is out of range for axis {axis} ({n} of {fmt_shape(shape)})",
                field="index",
                hint=f"use an index from {-n} to {n - 1} (negative counts from the end)",
            )
        return axis, self.index % n

    def output_shape(self, ins: list[Shape]) -> Shape:
        axis, _ = self.position(ins[0])
        return (*ins[0][:axis], *ins[0][axis + 1 :])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # the other axes keep their positions (those after the removed one move down one); a spatial axis
        # removed takes the layout with it, as global pooling does, and the field ends
        axis, _ = self.position(ins[0])
        return Moved(tuple(None if a == axis else a - (a > axis) for a in range(len(ins[0]))))

    def label(self) -> str:
        return f"select {self.index} (axis {self.axis})"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Select as Module

        axis, index = self.position(ins[0])
        return Module(axis + 1, index)


class _Several(_Part):
    """One part of a layer with several outputs; the loader makes one layer per part and sets ``index``."""

    index: NonNegInt | None = Field(default=None, description="Which part this layer is (set by the loader: NAME:INDEX).")

    def _index(self) -> int:
        if self.index is None:  # the loader sets it; only a hand-built layer can lack it
            raise LayerError(f"{self.kind()} needs `index` to say which part this layer is", field="index")
        return self.index


class Split(_Several):
    """Parts of given sizes along one axis (torch.split with a list); refer to them as NAME:0, NAME:1, ..."""

    type: Literal["split"]
    sizes: list[Annotated[int, Strict(), Field(ge=1)]] = Field(min_length=1, description="Size of each part, in order.")

    @classmethod
    def part_count(cls, fields: Mapping[str, Any]) -> int | None:
        sizes = fields.get("sizes")
        return len(sizes) if isinstance(sizes, list) and sizes and "index" not in fields else None

    def bounds(self, shape: Shape) -> tuple[int, int, int]:
        axis = _axis(self.axis, len(shape))
        if sum(self.sizes) != shape[axis]:
            raise LayerError(
                f"split sizes {self.sizes} add up to {sum(self.sizes)}, but the {axis_name(len(shape), axis)} "
                f"has {shape[axis]} ({fmt_shape(shape)})",
                field="sizes",
                hint="the sizes must add up to the length of the axis",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )
        index = self._index()
        if index >= len(self.sizes):
            raise LayerError(f"split has {len(self.sizes)} parts, not part {index}", field="index")
        start = sum(self.sizes[:index])
        return start, start + self.sizes[index], 1

    def label(self) -> str:
        return f"split part {self.index} of {self.sizes}"


class Chunk(_Several):
    """``chunks`` parts of equal size along one axis, the last one smaller if it must (torch.chunk);
    refer to them as NAME:0, NAME:1, ..."""

    type: Literal["chunk"]
    chunks: PosInt = Field(description="Number of parts (torch.chunk: each ceil(n / chunks) long, the last one shorter).")

    @classmethod
    def part_count(cls, fields: Mapping[str, Any]) -> int | None:
        chunks = fields.get("chunks")
        ok = isinstance(chunks, int) and not isinstance(chunks, bool) and chunks >= 1
        return chunks if ok and "index" not in fields else None

    def bounds(self, shape: Shape) -> tuple[int, int, int]:
        axis = _axis(self.axis, len(shape))
        n, index = shape[axis], self._index()
        size = -(-n // self.chunks)
        parts = -(-n // size)
        if index >= parts:
            raise LayerError(
                f"chunk {index} is empty: torch.chunk cuts {n} positions of the {axis_name(len(shape), axis)} "
                f"into {parts} chunk{'s' if parts > 1 else ''} of {size}, not {self.chunks}",
                field="chunks",
                hint=f"use chunks: {parts}, or a split with explicit sizes",
                code=Code.NON_POSITIVE_OUTPUT_SIZE,
            )
        return index * size, min(n, (index + 1) * size), 1

    def label(self) -> str:
        return f"chunk part {self.index} of {self.chunks}"


PerAxisList = Annotated[int, Strict()] | list[Annotated[int, Strict()]]


def _per_axis(value: PerAxisList, rank: int, field: str, minimum: int) -> tuple[int, ...]:
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank:
        axes = "[" + ", ".join(a[0] for a in AXIS_NAMES.get(rank, ())) + "]"
        raise LayerError(f"{field} needs one value per spatial axis {axes}, got {value}", field=field)
    if min(values) < minimum:
        raise LayerError(f"{field} values must be at least {minimum}, got {value}", field=field, code=Code.INVALID_VALUE)
    return values


class _Crop(_Reshape):
    """Keeps a box of positions on the spatial axes; its size is given or that of a second input."""

    arity = (1, 2)
    value_inputs = 1  # a second input lends only its size
    size: PerAxisList | None = Field(
        default=None, description="Size kept on each spatial axis (a number or one per axis); default: the second input's."
    )

    def _sizes(self, ins: list[Shape]) -> tuple[int, ...]:
        shape = ins[0]
        if len(shape) < 2:
            raise LayerError(f"{self.kind()} needs spatial axes (C×L, C×H×W, ...), got {fmt_shape(shape)}")
        if (self.size is None) == (len(ins) == 1):
            raise LayerError(
                f"{self.kind()} takes its size from `size` or from a second input, and needs exactly one of them",
                field="size" if self.size is not None else "inputs",
                hint="`inputs: [big, small]` crops `big` to the size of `small`",
            )
        if self.size is not None:
            return _per_axis(self.size, len(shape) - 1, "size", 1)
        if len(ins[1]) != len(shape):
            raise LayerError(
                f"{self.kind()} crops to the size of an input of the same rank, got {fmt_shape(shape)} and {fmt_shape(ins[1])}",
                field="inputs",
            )
        return ins[1][1:]

    def starts(self, ins: list[Shape]) -> tuple[int, ...]:
        raise NotImplementedError

    def output_shape(self, ins: list[Shape]) -> Shape:
        sizes = self._sizes(ins)
        for axis, (n, m, start) in enumerate(zip(ins[0][1:], sizes, self.starts(ins)), 1):
            if start + m > n:
                raise LayerError(
                    f"{self.kind()} to {m} from position {start} does not fit the {axis_name(len(ins[0]), axis)} "
                    f"of {fmt_shape(ins[0])}",
                    field="size" if self.size is not None else "inputs",
                    hint="crop the larger path to the smaller one (`inputs: [larger, smaller]`)",
                    code=Code.SIZE_CONTRADICTS_INPUT,
                )
        return (ins[0][0], *sizes)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return tuple(Window((1,), (1,), (-start,)) for start in self.starts(ins))  # a shift on every axis

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Crop as Module

        return Module(self.starts(ins), self._sizes(ins))


class CenterCrop(_Crop):
    """Keeps the centre of the spatial axes (U-Net's skip connections): on an axis of n cropped to m it keeps
    positions d … d + m − 1 with d = (n − m) // 2, so an odd difference leaves the extra position at the end."""

    type: Literal["center_crop"]
    aliases = ("CenterCrop", "centercrop")

    def starts(self, ins: list[Shape]) -> tuple[int, ...]:
        return tuple(max(0, (n - m) // 2) for n, m in zip(ins[0][1:], self._sizes(ins)))

    def label(self) -> str:
        return "center crop"


class Crop(_Crop):
    """Keeps positions ``start`` … ``start + size − 1`` of each spatial axis."""

    type: Literal["crop"]
    aliases = ("Cropping2D", "Cropping3D")
    start: PerAxisList = Field(default=0, description="First position kept on each spatial axis (a number or one per axis).")

    def starts(self, ins: list[Shape]) -> tuple[int, ...]:
        return _per_axis(self.start, len(ins[0]) - 1, "start", 0)

    def label(self) -> str:
        return f"crop from {self.start}"
