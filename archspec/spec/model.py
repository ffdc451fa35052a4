"""The spec file's top level (Pydantic) and the validated, expanded ``Spec``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from archspec.layers import LayerBase, Shape
from archspec.layers.fields import PosInt
from archspec.spec.load import YDict
from archspec.spec.training import Training

FORMAT_VERSION = 1
MAX_INPUT_RANK = 4  # [C, D, H, W]: three spatial axes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class BlockDef(_Strict):
    """A reusable, parameterised group of layers; use it as a layer ``type``."""

    description: str | None = Field(default=None, description="What the block is, for readers.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameter names and defaults (null = required); use as `$name` in the layers."
    )
    layers: Annotated[list[Any], Field(min_length=1)] = Field(description="The block's layers; `input` is the block's input.")


class SpecFile(_Strict):
    """An archspec network specification."""

    archspec: Literal[1] = Field(description="Format version of this file.")
    name: Annotated[str, Strict()] | None = Field(default=None, description="Network name (default: the file name).")
    description: str | None = Field(default=None, description="What the network is, for readers.")
    input: Annotated[list[PosInt], Field(min_length=1, max_length=MAX_INPUT_RANK)] = Field(
        description="Per-sample input shape, batch left out: [F] for vectors, [C, L] for sequences (audio), "
        "[C, H, W] for images, [C, D, H, W] for volumes and videos."
    )
    blocks: dict[str, BlockDef] = Field(default_factory=dict, description="Reusable blocks, by name.")
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Field defaults by layer kind (or block), for every such layer of the spec: "
        "`{batchnorm2d: {eps: 0.001}}`. A layer's own value wins.",
    )
    layers: Annotated[list[Any], Field(min_length=1)] = Field(
        description="The layers, in order (a chain unless `inputs` say otherwise)."
    )
    output: str | None = Field(default=None, description="Name of the output layer (default: the last layer).")
    training: Training | None = Field(default=None, description="How `archspec train` trains this network.")


@dataclass
class Spec:
    """A validated spec with blocks expanded: every layer named, every input resolved.

    ``layers`` are in file order; ``source[name]`` is the mapping a layer came
    from (with positions); ``block_of[name]`` is the block instance a layer
    belongs to (outermost first), and ``block_types[instance]`` its block name.
    """

    name: str
    input_shape: Shape
    layers: list[LayerBase]
    output: str
    path: str = "<string>"
    text: str = ""
    description: str | None = None
    format_version: int = FORMAT_VERSION
    source: dict[str, YDict] = field(default_factory=dict, repr=False)
    block_of: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    block_types: dict[str, str] = field(default_factory=dict, repr=False)
    #: each use of a block (``layer1``) -> its instances (``layer1.0``, ``layer1.1``, ...)
    block_calls: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: layers that failed validation (name -> inputs); empty in any spec that load() returns
    training: Training | None = None
    unparsed: dict[str, list[str] | None] = field(default_factory=dict, repr=False)
    #: layers that failed validation but were repaired (misspelt key renamed, bad optional key dropped)
    repaired: set[str] = field(default_factory=set, repr=False)
    #: the YAML document as written, with its marks (before blocks are expanded): what an editor shows
    document: Any = field(default=None, repr=False)

    def layer(self, name: str) -> LayerBase:
        return self._by_name()[name]

    def get(self, name: str) -> LayerBase | None:
        """The layer of that name, None for one that failed validation (or no layer)."""
        return self._by_name().get(name)

    def _by_name(self) -> dict[str, LayerBase]:
        cache = self.__dict__.get("_index")
        if cache is None or len(cache) != len(self.layers):
            cache = {layer.name: layer for layer in self.layers}
            self.__dict__["_index"] = cache
        return cache
