"""Field types shared by the layer kinds: strict numbers and per-axis pairs.

Numbers are strict (YAML ``"3"`` is a string, not 3). A *pair* accepts a scalar
or ``[h, w]`` and is stored as a tuple, the way PyTorch's ``_pair`` does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]  # strict floats still accept ints
PosInt = Annotated[int, Strict(), Field(ge=1)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(minimum: int):
    def check(value: Any) -> tuple[int, int]:
        if _is_int(value):
            items = (value, value)
        elif isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_int, value)):
            items = tuple(value)
        else:
            raise PydanticCustomError(
                "pair_type",
                "expected an integer or a list of two integers [h, w], got {value}",
                {"value": repr(value)},
            )
        if min(items) < minimum:
            raise PydanticCustomError(
                "pair_range", "every value must be at least {minimum}, got {value}", {"minimum": minimum, "value": repr(value)}
            )
        return items  # type: ignore[return-value]

    return check


# json_schema_input_type: editors should offer what a user writes (3 or [3, 5]), not the stored tuple
Pair = Annotated[
    tuple[int, int], BeforeValidator(_pair(1), json_schema_input_type=Annotated[int, Field(ge=1)] | tuple[PosInt, PosInt])
]
NonNegPair = Annotated[
    tuple[int, int], BeforeValidator(_pair(0), json_schema_input_type=Annotated[int, Field(ge=0)] | tuple[NonNegInt, NonNegInt])
]


def _padding(value: Any):
    if value in ("same", "valid"):
        return value
    if isinstance(value, str):
        raise PydanticCustomError(
            "padding_value", "padding must be 'same', 'valid', an integer or [h, w], got {value}", {"value": repr(value)}
        )
    return _pair(0)(value)


Padding = Annotated[
    tuple[int, int] | Literal["same", "valid"],
    BeforeValidator(_padding, json_schema_input_type=Literal["same", "valid"] | NonNegInt | tuple[NonNegInt, NonNegInt]),
]


def _inputs(value: Any):
    """``inputs: a`` is shorthand for ``inputs: [a]``."""
    if isinstance(value, str):
        return [value]
    return value


Inputs = Annotated[list[Annotated[str, Strict()]], BeforeValidator(_inputs, json_schema_input_type=str | list[str])]
