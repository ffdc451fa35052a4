"""Elementwise arithmetic and concatenation: the merges of several inputs (sum for residuals, difference,
product for gates, concatenation) and the product with a constant (scale)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from archspec.arith import product
from archspec.codes import Code
from archspec.layers.base import LayerBase, LayerError, Pointwise, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Float, Int, axis_name


class MergeError(LayerError):
    """Inputs ``first`` and ``second`` of a merge disagree (on ``axis``, when one axis is to blame);
    the graph names the paths behind them."""

    def __init__(self, message: str, first: int, second: int, axis: int | None = None, **kw: Any):
        super().__init__(message, code=Code.MERGE_SHAPE_MISMATCH, **kw)
        self.first = first
        self.second = second
        self.axis = axis


class _Merge(LayerBase):
    """Traits of the merging kinds; a merged unit sees the union of its paths' fields."""

    arity: ClassVar[tuple[int, int | None]] = (2, None)
    family = "merge"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()  # elementwise (add, mul); concat says otherwise


def broadcast(kind: str, ins: list[Shape]) -> Shape:
    """The shape of an elementwise result, as numpy broadcasts: trailing axes aligned, each equal or 1.

    >>> broadcast("mul", [(8, 5, 5), (8, 1, 1)]), broadcast("add", [(1, 5, 5), (8, 1, 1)]), broadcast("add", [(3, 4), (4,)])
    ((8, 5, 5), (8, 5, 5), (3, 4))
    """
    rank = max(len(s) for s in ins)
    out = list(ins[0]) if len(ins[0]) == rank else [1] * (rank - len(ins[0])) + list(ins[0])
    owner = [0] * rank  # which input set each axis's size so far (to name it in a mismatch)
    for i, shape in enumerate(ins):
        padded = (1,) * (rank - len(shape)) + shape
        for axis, (have, size) in enumerate(zip(out, padded)):
            if size == have or size == 1:
                continue
            if have == 1:
                out[axis], owner[axis] = size, i
                continue
            same_rank = len(shape) == len(ins[owner[axis]])
            clashes = [d for d, (h, s) in enumerate(zip(out, padded)) if h != s and 1 not in (h, s)]
            one_axis = same_rank and rank == len(shape) and len(clashes) == 1  # one axis to blame
            raise MergeError(
                f"{kind} needs shapes that broadcast (each axis equal, or 1 in one input), got "
                f"{fmt_shape(ins[owner[axis]])} and {fmt_shape(shape)}",
                owner[axis],
                i,
                axis=axis if one_axis else None,
                hint="make both paths change the shape the same way (e.g. a strided 1×1 conv on the shortcut)"
                + (", or reduce one to size 1 on that axis to broadcast it (a C×1×1 gate)" if one_axis else ""),
            )
    return tuple(out)


class _Broadcast(_Merge):
    """An elementwise merge: shapes broadcast as numpy does (C×H×W with C×1×1), every input's field kept (a
    broadcast input's field spans its whole axis, analysis/receptive_field.py)."""

    module: ClassVar[str]  # its module's name in torch_modules

    def output_shape(self, ins: list[Shape]) -> Shape:
        return broadcast(self.kind(), ins)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.KEEP

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers import torch_modules

        return getattr(torch_modules, self.module)(max(len(s) for s in ins))


class Add(_Broadcast):
    """Elementwise sum of inputs (residual connections); shapes broadcast as numpy does (C×H×W with C×1×1)."""

    type: Literal["add"]
    module = "Add"

    def label(self) -> str:
        return "+"


class Sub(_Broadcast):
    """Elementwise difference of two inputs, the first minus the second; shapes broadcast as numpy does."""

    type: Literal["sub"]
    aliases = ("Subtract",)
    arity = (2, 2)
    module = "Sub"

    def label(self) -> str:
        return "−"


class Mul(_Broadcast):
    """Elementwise product of inputs (gates: squeeze-and-excitation); shapes broadcast as numpy does."""

    type: Literal["mul"]
    aliases = ("Multiply", "prod", "product")
    affine_map = False  # a product of two paths is not affine in the network's input
    saves = ("input",)  # d(a·b)/da needs b and vice versa
    module = "Mul"

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        # more than two inputs multiply in turn: each partial product is kept as an operand of the next
        return sum(product(broadcast("mul", ins[: k + 1])) for k in range(1, len(ins) - 1)) * 4  # float32

    def label(self) -> str:
        return "×"


class Concat(_Merge):
    """Concatenation along one axis, channels by default (torch.cat)."""

    type: Literal["concat"]
    aliases = ("Concatenate", "cat")
    axis: Int = Field(default=0, description="Axis of the per-sample shape to join on (0 = channels).")

    def _axis(self, shape: Shape) -> int:
        rank = len(shape)
        if not -rank <= self.axis < rank:
            raise LayerError(f"axis {self.axis} is out of range for a rank-{rank} input", field="axis")
        return self.axis % rank

    def output_shape(self, ins: list[Shape]) -> Shape:
        first = ins[0]
        rank = len(first)
        axis = self._axis(first)
        for i, shape in enumerate(ins[1:], 1):
            if len(shape) != rank:
                raise MergeError(f"concat needs inputs of one rank, got {fmt_shape(first)} and {fmt_shape(shape)}", 0, i)
            wrong = [d for d, (a, b) in enumerate(zip(first, shape)) if d != axis and a != b]
            if wrong:
                joined, other = axis_name(rank, axis), axis_name(rank, wrong[0])
                raise MergeError(
                    f"concat along the {joined} needs the {other} equal, got {fmt_shape(first)} and {fmt_shape(shape)}",
                    0,
                    i,
                    axis=wrong[0],
                    hint=f"inputs may differ in their {joined}; make the {other} agree (pad, crop or pool both paths alike), "
                    "or join along another axis",
                )
        return (*first[:axis], sum(s[axis] for s in ins), *first[axis + 1 :])

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return None  # joined along an axis: positions are not kept there

    def joined_axis(self, ins: list[Shape]) -> int | None:
        return self._axis(ins[0])

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        # joined channels keep every position; joined along a spatial axis, unit i of the result
        # belongs to one input or another, and no single (r, S, P) describes them all
        if len(ins[0]) == 1 or self._axis(ins[0]) == 0:
            return Receptive.KEEP
        return Receptive.UNDEFINED

    def label(self) -> str:
        return "concat"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Concat as Module

        return Module(self.axis + 1 if self.axis >= 0 else self.axis)


class Scale(Pointwise):
    """Elementwise product with a constant number (attention's ``q * head_dim ** -0.5``)."""

    type: Literal["scale"]
    aliases = ("mul.Scalar",)  # ATen's name of a tensor times a number, which the importer reads
    factor: Float = Field(description="The number every value is multiplied by.")
    family = "act"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True
    learned_linear = False
    random_in_training = False

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset()  # elementwise, whatever the layout

    def label(self) -> str:
        return f"× {self.factor:g}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import Scale as Module

        return Module(self.factor)
