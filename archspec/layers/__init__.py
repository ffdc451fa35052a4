"""The layer kinds. Adding a kind means adding one class to a family module and to KINDS."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from archspec.layers.activation import (
    ELU,
    GELU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    ReLU6,
    SiLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from archspec.layers.base import LayerBase, LayerError, Receptive, Shape, Window, count, fmt_shape
from archspec.layers.conv import Conv2d
from archspec.layers.linear import Flatten, Identity, Linear
from archspec.layers.merge import Add, Concat, MergeError
from archspec.layers.norm import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d, LocalResponseNorm
from archspec.layers.pool import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d

KINDS: tuple[type[LayerBase], ...] = (
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    GlobalAvgPool2d,
    BatchNorm2d,
    BatchNorm1d,
    LocalResponseNorm,
    Dropout,
    Dropout2d,
    ReLU,
    ReLU6,
    LeakyReLU,
    ELU,
    GELU,
    SiLU,
    Hardswish,
    Hardsigmoid,
    Sigmoid,
    Tanh,
    Softmax,
    LogSoftmax,
    Flatten,
    Linear,
    Identity,
    Add,
    Concat,
)

KIND_BY_TYPE: dict[str, type[LayerBase]] = {cls.kind(): cls for cls in KINDS}

Layer = Annotated[Union[KINDS], Field(discriminator="type")]  # type: ignore[valid-type]
LAYER_ADAPTER: TypeAdapter = TypeAdapter(Layer)

__all__ = [
    "KINDS",
    "KIND_BY_TYPE",
    "LAYER_ADAPTER",
    "Layer",
    "LayerBase",
    "LayerError",
    "MergeError",
    "Receptive",
    "Shape",
    "Window",
    "count",
    "fmt_shape",
]
