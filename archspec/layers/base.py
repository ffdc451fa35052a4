"""What every layer kind provides: its fields, its rules and its traits.

A kind is one Pydantic model (its spec fields and validators) plus
- its rules: ``output_shape``, ``weights`` / ``buffers`` (named tensor shapes, so
  parameter counts match ``named_parameters()`` one to one), ``receptive`` (how it acts
  on each spatial axis), ``macs`` and ``lower`` (to torch, imported lazily);
- its traits (class variables, see ``TRAITS``): what lint, diagrams, the training head
  and Grad-CAM need to know about it. They ask the kind; they never test its class.

Defining a concrete kind (a class with a ``type: Literal[...]`` field) registers it.
Shapes leave the batch dimension out: (F,), (C, L), (C, H, W) or (C, D, H, W).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict, JsonValue

from archspec.arith import Window, product
from archspec.codes import Code
from archspec.layers.fields import AXIS_NAMES, Bool, Inputs, axis_words, conv_padding, per_axis
from archspec.layers.init import InitField

Shape = tuple[int, ...]

#: how a diagram draws a kind (its colour and grouping); dense: fully connected; tensor: learned, no input
Family = Literal["conv", "pool", "norm", "act", "drop", "shape", "dense", "merge", "tensor"]


class LayerError(Exception):
    """A rule found the layer's inputs unusable. ``field`` names the spec field to point at."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None, code: Code = Code.INCOMPATIBLE_INPUT):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint
        self.code = code


class Receptive:
    """How a layer acts on the spatial axes, for the receptive-field recursion.

    ``receptive()`` returns one of these markers, a ``Window`` (a sliding window on every
    spatial axis), or a tuple with one entry per axis: a ``Window`` of rank 1, ``KEEP`` or ``MIX``.
    """

    KEEP: Final = "keep"  # each output position depends on the same input position (elementwise, per channel)
    MIX: Final = "mix"  # (per axis) each output position depends on every position of the axis (softmax over it)
    LOST: Final = "lost"  # no spatial layout after this layer (flatten, linear, global pooling)
    UNDEFINED: Final = "undefined"  # the layout stays, but no single (r, S, P) describes it (unequal adaptive windows)
    CONSTANT: Final = "constant"  # depends on no input position (a learned tensor): a merge keeps the other paths' fields


@dataclass(frozen=True)
class Moved:
    """A layer that moves values without computing them (permute, reshape, channel shuffle): input
    axis ``a`` lands on output axis ``to[a]`` with its positions intact, or its positions are regrouped
    (``to[a]`` is None). The receptive-field analysis follows the spatial axes through it."""

    to: tuple[int | None, ...]


AxisStep = Window | Literal["keep", "mix"]
ReceptiveStep = Window | Literal["keep", "lost", "undefined", "constant"] | tuple[AxisStep, ...] | Moved

#: the traits every kind must declare (on itself or a family base class); a test enforces it
TRAITS: tuple[str, ...] = (
    "family",
    "output_activation",
    "batch_statistics",
    "cancels_bias",
    "affine_map",
    "learned_linear",
    "random_in_training",
)

#: every concrete kind by its ``type`` tag, in definition order
REGISTRY: dict[str, type[LayerBase]] = {}


class LayerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str | None = Field(default=None, description="Layer name (generated when omitted).")
    inputs: Inputs | None = Field(
        default=None, description="Names of the producing layers; default: the previous layer ('input' is the network input)."
    )
    when: Bool = Field(default=True, description="Keep this layer; when false it passes its first input through.")
    trainable: Bool = Field(default=True, description="Whether the layer's parameters are trained (false freezes them).")
    init: InitField | None = Field(default=None, description="Initialisation of weight/bias when lowered (default: PyTorch's).")

    # --- traits: declared by every kind or its family base (no defaults here, on purpose) ---

    #: how diagrams draw it
    family: ClassVar[Family]
    #: an output activation (softmax, log-softmax): training feeds the loss the logits before it
    output_activation: ClassVar[bool]
    #: normalises with statistics of the batch, so training and evaluation differ (batch norm)
    batch_statistics: ClassVar[bool]
    #: subtracts a per-channel mean, so a per-channel bias just before it is redundant
    cancels_bias: ClassVar[bool]
    #: an affine map of its input at inference (lint: two learned linear maps with only these
    #: between them collapse into one)
    affine_map: ClassVar[bool]
    #: a learned linear map of its input (convolution, fully-connected)
    learned_linear: ClassVar[bool]
    #: random in training, identity in evaluation (dropout)
    random_in_training: ClassVar[bool]

    # --- properties of the rules (with defaults: most kinds share them) ---

    #: how many inputs the kind takes (min, max); None = any number
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: ranks of input the kind accepts (None = any)
    ranks: ClassVar[tuple[int, ...] | None] = None
    #: how many of the first inputs the output's values come from (None: all); the others lend only their
    #: shape (a crop to another layer's size), so the receptive field and alignment ignore them
    value_inputs: ClassVar[int | None] = None
    #: what autograd keeps of this layer for the backward pass: "input" and/or "output"
    #: (memory model of training; see analysis/memory.py)
    saves: ClassVar[tuple[str, ...]] = ()
    #: the output is a view of the input (no memory of its own)
    aliases_input: ClassVar[bool] = False
    #: what Keras, PyTorch or habit call this kind, for "did you mean" (matched ignoring case)
    aliases: ClassVar[tuple[str, ...]] = ()
    #: why the units of a kind whose ``receptive()`` is UNDEFINED have no single field, when the kind knows
    #: (lint's I504 says it, completing "the units of `name` ...")
    no_single_field: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "type" in cls.__annotations__:  # a concrete kind, not a family base
            tag = cls.kind()
            if tag in REGISTRY:
                raise TypeError(f"layer type `{tag}` is defined twice: {REGISTRY[tag].__qualname__} and {cls.__qualname__}")
            REGISTRY[tag] = cls

    @classmethod
    def part_count(cls, fields: Mapping[str, Any]) -> int | None:
        """How many outputs a layer with these raw fields has, when more than one (split, chunk): the loader
        makes one layer per part, NAME:0, NAME:1, ..., each with its ``index``. None: one output."""
        return None

    @classmethod
    def kind(cls) -> str:
        """The ``type`` tag of this kind, e.g. ``conv2d``."""
        return str(get_args(cls.model_fields["type"].annotation)[0])

    # --- rules (defaults are those of a shape-preserving, parameter-free layer) ---

    def check_inputs(self, ins: list[Shape]) -> None:
        if self.ranks is not None:
            for shape in ins:
                if len(shape) not in self.ranks:
                    raise LayerError(
                        f"{self.kind()} needs a {rank_words(self.ranks)} input, got {fmt_shape(shape)}",
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

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        """How the layer acts on each spatial axis of its input (see ``Receptive``)."""
        raise NotImplementedError(f"{self.kind()} does not say how it acts on the spatial axes")

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        """Axes of the per-sample shape along which each output value depends on every position (linear: the
        last; softmax: its axis); other axes are kept position by position, wherever they are. None: not
        known apart from ``receptive()``, whose rule assumes channels first and the spatial axes after them.
        The receptive-field analysis uses this once a permute has moved the spatial axes elsewhere."""
        return None

    def joined_axis(self, ins: list[Shape]) -> int | None:
        """The axis of the per-sample shape along which it lays its inputs end to end (concat); None otherwise.
        The receptive-field analysis uses it to follow a token grid with a class token joined to it."""
        return None

    def kept_positions(self, ins: list[Shape]) -> tuple[int, range] | None:
        """The one axis along which it keeps only some positions, and which (a slice); the other axes are kept
        whole. None otherwise. The receptive-field analysis uses it to tell a token grid kept from one cut."""
        return None

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        """Bytes autograd keeps besides whole inputs/outputs (pooling indices, dropout masks), one sample."""
        return 0

    def backward_workspace_bytes(self, ins: list[Shape], out: Shape) -> int:
        """The most the layer's backward pass adds at once to what is alive when it begins (its output's gradient
        included), one sample, where its temporaries outgrow the memory model's generic allowance of an
        activation's gradient and its input's (attention); 0: the generic allowance covers it."""
        return 0

    def macs(self, ins: list[Shape], out: Shape) -> int:
        """Multiply-accumulates of the weights for one sample (bias and elementwise work excluded)."""
        return 0

    def label(self) -> str:
        """A short human label for tables and diagrams."""
        return self.kind()

    def op_text(self) -> str:
        """The operation as the seed's figures write it (``conv 3×3, stride 1, pad 1``); the label by default."""
        return self.label()

    def lower(self, ins: list[Shape]) -> Any:
        """The torch module computing this layer (torch is imported only here)."""
        raise NotImplementedError(f"{self.kind()} cannot be lowered to torch yet")

    # --- helpers for kinds ---

    def spec_fields(self) -> dict[str, Any]:
        """The kind's own fields (without name/inputs/when/trainable/type)."""
        common = set(LayerBase.model_fields) | {"type"}  # name, inputs, when, trainable, init
        return {k: getattr(self, k) for k in type(self).model_fields if k not in common}


class Pointwise(LayerBase):
    """A kind that keeps every position where it is (elementwise or per-channel)."""

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.KEEP


def axis_schema(schema: JsonDict, cls: type[BaseModel]) -> None:
    """Editors see what a user writes for a per-axis field of this rank: a number or exactly `rank` values."""
    rank = getattr(cls, "rank", None)
    properties = schema.get("properties")
    if not isinstance(rank, int) or not isinstance(properties, dict):
        return
    for name, minimum in getattr(cls, "per_axis_fields", {}).items():
        prop = properties.get(name)
        if not isinstance(prop, dict):
            continue
        number: JsonDict = {"type": "integer", "minimum": minimum}
        values: JsonDict = {"type": "array", "items": number, "minItems": rank, "maxItems": rank}
        choices: list[JsonValue] = [number, values]
        if name == "padding" and getattr(cls, "padding_words", False):
            choices.insert(0, {"enum": ["same", "valid"]})
        if "default" in prop and prop["default"] is None:
            choices.append({"type": "null"})
        keep = {k: v for k, v in prop.items() if k in ("description", "default", "title")}
        prop.clear()
        prop.update(keep, anyOf=choices)


class Spatial(LayerBase):
    """A kind for one rank of spatial input: 1 (C×L), 2 (C×H×W) or 3 (C×D×H×W).

    Its per-axis fields (``per_axis_fields``: name -> minimum) take a number or one value per
    axis and are stored as tuples of ``rank`` values, so every rule is written once for all ranks.
    """

    model_config = ConfigDict(json_schema_extra=axis_schema)

    rank: ClassVar[int]
    per_axis_fields: ClassVar[dict[str, int]] = {}
    padding_words: ClassVar[bool] = False  # padding also takes 'same' / 'valid'

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "rank" in cls.__dict__:
            cls.ranks = (cls.rank + 1,)

    @field_validator("kernel_size", "stride", "padding", "dilation", "output_size", mode="before", check_fields=False)
    @classmethod
    def _one_value_per_axis(cls, value: Any, info: Any) -> Any:
        minimum = cls.per_axis_fields.get(info.field_name)
        if value is None or minimum is None:
            return value
        if info.field_name == "padding" and cls.padding_words:
            return conv_padding(value, cls.rank)
        return per_axis(value, cls.rank, minimum)

    @classmethod
    def axes(cls) -> tuple[str, ...]:
        return AXIS_NAMES[cls.rank]

    @classmethod
    def axis_words(cls) -> str:
        return axis_words(cls.rank)


def window_text(label: str, window: Window, padding: str | None) -> str:
    """A windowed operation as the seed's figures write it.

    >>> window_text("conv 3×3", Window((3, 3), (1, 1), (1, 1), (1, 1)), "1")
    'conv 3×3, stride 1, pad 1'
    >>> window_text("maxpool 3", Window((3,), (2,), (0,), (2,)), None)
    'maxpool 3, stride 2, dilation 2'
    """
    parts = [label, f"stride {dims(window.stride)}"]
    if padding is not None:
        parts.append(f"pad {padding}")
    if any(d != 1 for d in window.dilations):
        parts.append(f"dilation {dims(window.dilations)}")
    return ", ".join(parts)


def dims(values: tuple[int, ...]) -> str:
    """Per-axis values written once when all agree: ``(3, 3)`` -> ``3``, ``(3, 5)`` -> ``3×5``."""
    return str(values[0]) if len(set(values)) == 1 else "×".join(map(str, values))


def window_out(shape: Shape, window: Window, ceil_mode: bool = False) -> tuple[int, ...]:
    """Output sizes of a window layer on the spatial axes of ``shape``; a size below one is an error naming the axis."""
    outs = window.output_sizes(shape[1:], ceil_mode)
    names = AXIS_NAMES.get(window.rank, ())
    for axis, size, n, span, p in zip(names, shape[1:], outs, window.spans, window.padding):
        if n < 1:
            raise LayerError(
                f"output {axis} would be {n}: a window spanning {span} does not fit in {size}"
                + (f" + 2×{p} padding" if p else "")
                + f" (input {fmt_shape(shape)})",
                field="kernel_size",
                hint="use a smaller kernel or stride, add padding, or downsample less before this layer",
                code=Code.NON_POSITIVE_OUTPUT_SIZE,
            )
    return outs


def check_in_channels(declared: int | None, shape: Shape) -> None:
    """A convolution's optional ``in_channels`` must be what its input has (it is inferred when left out)."""
    if declared is not None and declared != shape[0]:
        raise LayerError(
            f"in_channels is {declared} but the input has {shape[0]} channels ({fmt_shape(shape)})",
            field="in_channels",
            hint="remove in_channels (it is inferred) or fix the layer before",
            code=Code.SIZE_CONTRADICTS_INPUT,
        )


def fmt_shape(shape: Shape) -> str:
    """``(3, 64, 64)`` -> ``3×64×64``, the way the seed writes tensor sizes."""
    return "×".join(str(d) for d in shape) if shape else "scalar"


def count(tensors: dict[str, Shape]) -> int:
    return sum(product(s) for s in tensors.values())


def rank_words(ranks: tuple[int, ...]) -> str:
    """What a rank of input is called in messages.

    >>> rank_words((1,)), rank_words((2,)), rank_words((3,)), rank_words((4,)), rank_words((1, 2))
    ('vector (features)', 'C×L sequence', 'C×H×W image', 'C×D×H×W volume', 'vector (features) or C×L sequence')
    """
    words = {1: "vector (features)", 2: "C×L sequence", 3: "C×H×W image", 4: "C×D×H×W volume"}
    return " or ".join(words.get(r, f"rank-{r}") for r in ranks)
