"""The layer kinds. Defining a kind class in a family module registers it; this module gathers them.

Adding a kind means adding one class to a family module (and its README row);
a new family module is imported below.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from archspec.arith import Window

# importing the family modules defines, and so registers, their kinds (in this order)
from archspec.layers import (  # noqa: F401
    activation,
    attention,
    conv,
    linear,
    merge,
    move,
    norm,
    pad,
    pool,
    reduce,
    sample_norm,
    select,
    tensor,
    upsample,
    window,
)
from archspec.layers.base import (
    REGISTRY,
    TRAITS,
    Family,
    LayerBase,
    LayerError,
    Receptive,
    ReceptiveStep,
    Shape,
    count,
    fmt_shape,
)
from archspec.layers.merge import MergeError

_ORDER = ("conv", "pool", "norm", "act", "drop", "shape", "dense", "merge", "tensor")  # how the kinds are listed: by family
KINDS: tuple[type[LayerBase], ...] = tuple(sorted(REGISTRY.values(), key=lambda k: _ORDER.index(k.family)))
KIND_BY_TYPE: dict[str, type[LayerBase]] = {cls.kind(): cls for cls in KINDS}

Layer = Annotated[Union[KINDS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007 (a union built from a tuple)
LAYER_ADAPTER: TypeAdapter[Any] = TypeAdapter(Layer)

__all__ = [
    "KINDS",
    "KIND_BY_TYPE",
    "LAYER_ADAPTER",
    "TRAITS",
    "Family",
    "Layer",
    "LayerBase",
    "LayerError",
    "MergeError",
    "Receptive",
    "ReceptiveStep",
    "Shape",
    "Window",
    "count",
    "fmt_shape",
]
