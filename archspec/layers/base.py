"""What every layer kind provides, and the defaults most kinds keep.

A kind is one Pydantic model (its spec fields and validators) plus its rules:
``output_shape``, ``weights`` / ``buffers`` (named tensor shapes, so parameter
counts match ``named_parameters()`` one to one), ``receptive`` (its step in the
receptive-field recursion), ``macs`` and ``lower`` (to torch, imported lazily).
Shapes leave the batch dimension out: (C, H, W) for images, (F,) for vectors.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field

from archspec.arith import product
from archspec.layers.fields import Bool, Inputs
from archspec.layers.init import InitField

Shape = tuple[int, ...]


class LayerError(Exception):
    """A rule found the layer's inputs unusable. ``field`` names the spec field to point at."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None, code: str = "E306"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint
        self.code = code


class Window(NamedTuple):
    """A sliding window's geometry per axis (h, w); padding is the leading (top/left) padding."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)


class Receptive:
    """How a layer changes the receptive field: it keeps it, loses it, or applies a Window."""

    KEEP = "keep"  # elementwise / per-channel layers
    LOST = "lost"  # flatten, linear, global pooling: no spatial layout after this


class LayerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str | None = Field(default=None, description="Layer name (generated when omitted).")
    inputs: Inputs | None = Field(
        default=None, description="Names of the producing layers; default: the previous layer ('input' is the network input)."
    )
    when: Bool = Field(default=True, description="Keep this layer; when false it passes its first input through.")
    trainable: Bool = Field(default=True, description="Whether the layer's parameters are trained (false freezes them).")
    init: InitField | None = Field(default=None, description="Initialisation of weight/bias when lowered (default: PyTorch's).")

    #: how many inputs the kind takes (min, max); None = any number
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: ranks of input the kind accepts (None = any)
    ranks: ClassVar[tuple[int, ...] | None] = None
    #: True when the layer is an affine map of its input (lint: two convs/linears with
    #: only affine layers between them collapse into one)
    affine_map: ClassVar[bool] = False
    #: what autograd keeps of this layer for the backward pass: "input" and/or "output"
    #: (memory model of training; see analysis/memory.py)
    saves: ClassVar[tuple[str, ...]] = ()
    #: the output is a view of the input (no memory of its own)
    aliases_input: ClassVar[bool] = False

    @classmethod
    def kind(cls) -> str:
        """The ``type`` tag of this kind, e.g. ``conv2d``."""
        return get_args(cls.model_fields["type"].annotation)[0]

    # --- rules (defaults are those of a shape-preserving, parameter-free layer) ---

    def check_inputs(self, ins: list[Shape]) -> None:
        if self.ranks is not None:
            for shape in ins:
                if len(shape) not in self.ranks:
                    raise LayerError(
                        f"{self.kind()} needs a {_rank_words(self.ranks)} input, got {fmt_shape(shape)}",
                        hint="add a flatten layer before it" if 1 in self.ranks else None,
                    )

    def output_shape(self, ins: list[Shape]) -> Shape:
        return ins[0]

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        """Learnable tensors by their torch names (weight, bias, ...)."""
        return {}

    def buffers(self, ins: list[Shape]) -> dict[str, Shape]:
        """Non-learnable state tensors (running statistics) by their torch names."""
        return {}

    def receptive(self, ins: list[Shape]) -> Window | str:
        return Receptive.KEEP

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        """Bytes autograd keeps besides whole inputs/outputs (pooling indices, dropout masks), one sample."""
        return 0

    def macs(self, ins: list[Shape], out: Shape) -> int:
        """Multiply-accumulates of the weights for one sample (bias and elementwise work excluded)."""
        return 0

    def label(self) -> str:
        """A short human label for tables and diagrams."""
        return self.kind()

    def lower(self, ins: list[Shape]) -> Any:
        """The torch module computing this layer (torch is imported only here)."""
        raise NotImplementedError(f"{self.kind()} cannot be lowered to torch yet")

    # --- helpers for kinds ---

    def spec_fields(self) -> dict[str, Any]:
        """The kind's own fields (without name/inputs/when/trainable/type)."""
        common = set(LayerBase.model_fields) | {"type"}  # name, inputs, when, trainable, init
        return {k: getattr(self, k) for k in type(self).model_fields if k not in common}


def fmt_shape(shape: Shape) -> str:
    """``(3, 64, 64)`` -> ``3×64×64``, the way the seed writes tensor sizes."""
    return "×".join(str(d) for d in shape) if shape else "scalar"


def count(tensors: dict[str, Shape]) -> int:
    return sum(product(s) for s in tensors.values())


def _rank_words(ranks: tuple[int, ...]) -> str:
    words = {1: "vector (features)", 3: "C×H×W image"}
    return " or ".join(words.get(r, f"rank-{r}") for r in ranks)
