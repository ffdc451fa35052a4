"""Field types shared by the layer kinds: strict numbers and per-axis values.

Numbers are strict (YAML ``"3"`` is a string, not 3). A *per-axis* field accepts a
scalar or one value per spatial axis (``[l]``, ``[h, w]``, ``[d, h, w]``) and is stored
as a tuple, the way PyTorch's ``_single``/``_pair``/``_triple`` do.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

#: PyTorch stores sizes, strides and paddings as int64: a larger value can never run
INT64_MAX = 2**63 - 1

Int = Annotated[int, Strict(), Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]  # strict floats still accept ints
PosInt = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]
NonNegInt = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: how the spatial axes of each rank are called in messages
AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def axis_words(rank: int) -> str:
    """``[h, w]``-style reminder of what a list of ``rank`` values means.

    >>> axis_words(1), axis_words(2), axis_words(3)
    ('[l]', '[h, w]', '[d, h, w]')
    """
    return "[" + ", ".join(name[0] for name in AXIS_NAMES.get(rank, ())) + "]" if rank in AXIS_NAMES else f"[{rank} values]"


def axis_name(rank: int, axis: int) -> str:
    """What axis ``axis`` of a rank-``rank`` per-sample shape is called.

    >>> axis_name(3, 0), axis_name(3, 1), axis_name(2, 1), axis_name(4, 1), axis_name(1, 0)
    ('channels', 'height', 'length', 'depth', 'features')
    """
    if rank == 1:
        return "features"
    return "channels" if axis == 0 else AXIS_NAMES.get(rank - 1, ())[axis - 1] if rank - 1 in AXIS_NAMES else f"axis {axis}"


_COUNT = {1: "one integer", 2: "two integers", 3: "three integers"}


def per_axis(value: Any, rank: int, minimum: int) -> tuple[int, ...]:
    """A scalar or one value per spatial axis, stored as a tuple (PyTorch's ``_single``/``_pair``/``_triple``).

    >>> per_axis(3, 2, 1), per_axis([1, 2, 2], 3, 1), per_axis(0, 1, 0)
    ((3, 3), (1, 2, 2), (0,))
    """
    if _is_int(value):
        items: tuple[int, ...] = (value,) * rank
    elif isinstance(value, (list, tuple)) and len(value) == rank and all(map(_is_int, value)):
        items = tuple(value)
    else:
        raise PydanticCustomError(
            "pair_type",
            "expected an integer or a list of {count} {axes}, got {value}",
            {"count": _COUNT.get(rank, f"{rank} integers"), "axes": axis_words(rank), "value": repr(value)},
        )
    if min(items) < minimum:
        raise PydanticCustomError(
            "pair_range", "every value must be at least {minimum}, got {value}", {"minimum": minimum, "value": repr(value)}
        )
    if max(items) > INT64_MAX:
        raise PydanticCustomError(
            "pair_range", "{value} is beyond PyTorch's int64 sizes (at most 2**63 - 1)", {"value": repr(value)}
        )
    return items


def conv_padding(value: Any, rank: int) -> tuple[int, ...] | str:
    """A convolution's padding: 'same', 'valid', or non-negative per-axis values."""
    if value in ("same", "valid"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        raise PydanticCustomError(
            "padding_value",
            "padding must be 'same', 'valid', an integer or {axes}, got {value}",
            {"axes": axis_words(rank), "value": repr(value)},
        )
    return per_axis(value, rank, 0)


#: the stored type of per-axis fields; kinds validate them for their own rank (see layers.base.Spatial)
PerAxis = tuple[int, ...]


def _inputs(value: Any) -> Any:
    """``inputs: a`` is shorthand for ``inputs: [a]``."""
    if isinstance(value, str):
        return [value]
    return value


Inputs = Annotated[list[Annotated[str, Strict()]], BeforeValidator(_inputs, json_schema_input_type=str | list[str])]
