"""archspec: a symbolic architecture specification language and static analyser for CNNs.

>>> import archspec
>>> spec = archspec.loads('''
... archspec: 1
... input: [3, 64, 64]
... layers:
...   - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
... ''')
>>> archspec.analyze(spec).totals()["params"]
112
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from archspec.analysis import Report, analyze
from archspec.errors import ArchspecError, Diagnostic, SpecError
from archspec.spec import Spec, load, loads

if TYPE_CHECKING:  # the torch side is imported only when used
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import torch
    from torch import nn

    from archspec.runtime.build import SpecModule
    from archspec.runtime.train import RunResult

__version__ = "0.1.0"

__all__ = [
    "ArchspecError",
    "Diagnostic",
    "Report",
    "Spec",
    "SpecError",
    "__version__",
    "analyze",
    "build",
    "from_torch",
    "load",
    "load_weights",
    "loads",
    "train",
]


def build(spec: Spec | Report, device: str | torch.device | None = None, force: bool = False) -> SpecModule:
    """Lower a spec to a ``torch.nn.Module`` (needs the ``torch`` extra); ``device="meta"`` allocates nothing.

    Refuses (archspec.runtime.build.MemoryRefused) a model too big for the device's free memory unless ``force``."""
    from archspec.runtime import build as _build

    return _build(spec, device, force)


def from_torch(
    module: nn.Module, input_shape: Sequence[int], name: str | None = None, partial: bool = False, blocks: bool = False
) -> str:
    """The spec text (YAML) of a PyTorch model for inputs of ``input_shape`` (batch left out); needs the ``torch``
    extra. Module paths stay layer names, so ``load_weights`` takes the model's state dict by name. An operation
    no kind expresses raises ``archspec.importer.UnsupportedOp`` (with ``partial``: the spec up to it). With
    ``blocks``, repeated submodules are written once as blocks with parameters."""
    from archspec.importer import from_torch as _from_torch

    return _from_torch(module, input_shape, name=name, partial=partial, blocks=blocks)


def train(spec: Spec, run_dir: str | Path | None = None, **kw: Any) -> RunResult:
    """Train a spec (needs the ``torch`` extra); see ``archspec.runtime.train.train``."""
    from archspec.runtime.train import train as _train

    return _train(spec, run_dir, **kw)


def load_weights(
    model: nn.Module,
    state_dict_or_path: Mapping[str, torch.Tensor] | str | Path,
    source: Literal["torchvision", "archspec"] = "torchvision",
    match: Literal["name", "order"] = "name",
) -> nn.Module:
    """Copy weights (a state dict or a file, read with weights_only=True) into a spec-built model.

    Tensors are paired by state-dict key (``match="name"``), or by position (``match="order"``);
    every tensor that does not fit is listed in one WeightsError.
    """
    from archspec.runtime import load_weights as _load

    return _load(model, state_dict_or_path, source, match)
