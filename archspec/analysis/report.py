"""The Report: every static figure of a spec, computed once and rendered many ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.analysis.token_grid import TokenGrid
from archspec.arith import RF, product
from archspec.errors import Diagnostic
from archspec.layers import LayerBase, Shape

FLOAT32_BYTES = 4
BUFFER_BYTES = {"num_batches_tracked": 8}  # an int64 counter; other buffers are float32
#: the figures of LayerInfo that a report's totals add up
SUMMED = ("params", "trainable_params", "buffer_elements", "macs", "buffer_bytes", "activation_elements")


@dataclass
class LayerInfo:
    """Static figures of one layer for one sample (batch dimension left out)."""

    name: str
    type: str
    inputs: list[str]
    layer: LayerBase | None = field(repr=False, default=None)
    output_shape: Shape | None = None  # None when it cannot be known (an error upstream)
    weights: dict[str, Shape] = field(default_factory=dict)
    buffers: dict[str, Shape] = field(default_factory=dict)
    macs: int = 0
    rf: tuple[RF, ...] | None = None  # one per spatial axis
    rf_axes: tuple[int, ...] = ()  # where the spatial axes of `rf` lie in the output shape (after a permute: not 1, 2, ...)
    rf_grid: TokenGrid | None = None  # the token grid the spatial axes are flattened into (all on one axis), if they are
    block: tuple[str, ...] = ()

    @property
    def params(self) -> int:
        return sum(product(s) for s in self.weights.values())

    @property
    def trainable_params(self) -> int:
        return self.params if self.layer is not None and self.layer.trainable else 0

    @property
    def buffer_elements(self) -> int:
        return sum(product(s) for s in self.buffers.values())

    @property
    def buffer_bytes(self) -> int:
        return sum(product(s) * BUFFER_BYTES.get(k, FLOAT32_BYTES) for k, s in self.buffers.items())

    @property
    def activation_elements(self) -> int:
        return product(self.output_shape) if self.output_shape is not None else 0

    @property
    def rf_units(self) -> tuple[int, ...]:
        """How many units the output has along each spatial axis of ``rf``: the grid's sizes when the axes are
        flattened into tokens, else the output's sizes where the axes lie."""
        if self.rf_grid is not None:
            return self.rf_grid.sizes
        return tuple(self.output_shape[a] for a in self.rf_axes) if self.output_shape is not None else ()

    @property
    def label(self) -> str:
        return self.layer.label() if self.layer is not None else self.type

    def to_dict(self) -> dict[str, Any]:
        rf = None
        if self.rf is not None:
            rf = {
                "size": [a.size for a in self.rf],
                "stride": [a.stride for a in self.rf],
                "padding": [a.padding for a in self.rf],
            }
            if self.rf_axes != tuple(range(1, len(self.rf) + 1)):  # moved by a permute: say where they lie
                rf["axes"] = list(self.rf_axes)
        return {
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "buffers": self.buffer_elements,
            "macs": self.macs,
            "activation_elements": self.activation_elements,
            "receptive_field": rf,
            "weights": {k: list(v) for k, v in self.weights.items()},
            "label": self.label,
            "block": self.block[-1] if self.block else None,
        }


@dataclass
class Report:
    """The static analysis of one spec. ``to_dict()`` is the describe JSON of DESIGN.md."""

    name: str
    input_shape: Shape
    output: str
    layers: list[LayerInfo]  # topological order
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: Any = field(default=None, repr=False)
    graph: Any = field(default=None, repr=False)
    #: what each layer passed on (analysis.Flow): where re-analysing an edited spec resumes
    flow: Any = field(default=None, repr=False, compare=False)

    def layer(self, name: str) -> LayerInfo:
        return self._index()[name]

    def get(self, name: str) -> LayerInfo | None:
        return self._index().get(name)

    def _index(self) -> dict[str, LayerInfo]:
        cache = self.__dict__.get("_by_name")
        if cache is None:
            cache = self.__dict__["_by_name"] = {info.name: info for info in self.layers}
        return cache

    @property
    def output_shape(self) -> Shape | None:
        out = self.get(self.output)
        return out.output_shape if out is not None else None

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)

    def sums(self) -> dict[str, int]:
        """Each per-layer figure of LayerInfo summed over the layers (computed once: a report is not changed)."""
        cache = self.__dict__.get("_sums")
        if cache is None:
            cache = self.__dict__["_sums"] = {key: sum(getattr(info, key) for info in self.layers) for key in SUMMED}
        return cache

    def totals(self) -> dict[str, int]:
        sums = self.sums()
        params, trainable, macs = sums["params"], sums["trainable_params"], sums["macs"]
        return {
            "params": params,
            "trainable_params": trainable,
            "non_trainable_params": params - trainable,
            "buffers": sums["buffer_elements"],
            "macs": macs,
            "flops": 2 * macs,
            "param_bytes": params * FLOAT32_BYTES,
            "buffer_bytes": sums["buffer_bytes"],
            "input_bytes": product(self.input_shape) * FLOAT32_BYTES,
            "activation_bytes": sums["activation_elements"] * FLOAT32_BYTES,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.output_shape
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "output_shape": list(out) if out is not None else None,
            "output": self.output,
            "totals": self.totals(),
            "layers": [info.to_dict() for info in self.layers],
        }
