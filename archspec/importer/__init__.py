"""Import a PyTorch model as a spec (needs the ``torch`` extra): ``archspec.from_torch`` and ``archspec import``.

The model is traced with torch.fx (modules a kind covers are leaves and keep their module
paths as layer names, so its weights load by name), run once on an example input, and each
node is read as a kind. An operation no kind states exactly stops the import with
``UnsupportedOp``; every imported layer's shape is checked against the run before the text
is returned, so the spec never computes something else in shape.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.errors import ArchspecError
from archspec.importer.emit import spec_text
from archspec.importer.graph import Imported, UnsupportedOp, read

__all__ = ["ModelRefError", "UnsupportedOp", "from_torch", "load_ref"]


class ModelRefError(ArchspecError):
    """A model reference (``package.module:callable`` or ``file.py:Name``) that gives no torch module."""


def from_torch(
    module: nn.Module,
    input_shape: Sequence[int],
    name: str | None = None,
    source: str | None = None,
    partial: bool = False,
    blocks: bool = False,
) -> str:
    """The spec text of ``module`` for inputs of ``input_shape`` (batch left out).

    Raises UnsupportedOp at the first operation no kind expresses; with ``partial``, returns
    the spec up to it instead, ending in a comment that says where it stopped. With ``blocks``,
    repeated submodules are written once as blocks (when the result expands to the same layers).
    """
    shape = tuple(int(n) for n in input_shape)
    was_training = module.training
    module.eval()  # the graph of inference: dropout and batch norm as they run in evaluation
    try:
        example = torch.randn((2, *shape))  # two samples: an op that mixes the batch shows in the shapes
        imported = read(module, example, partial=partial)
    finally:
        module.train(was_training)
    name = name or type(module).__name__.lower()
    text = spec_text(imported, name, shape, source)
    _check_shapes(text, imported)
    if blocks:  # repeated submodules as blocks, kept only if they expand to exactly the flat spec
        folded = spec_text(imported, name, shape, source, blocks=True)
        if folded != text and _same_layers(folded, text):
            return folded
    return text


def _same_layers(folded: str, flat: str) -> bool:
    """Whether two spec texts give the same layers: names, kinds, inputs, every field and shape."""
    from archspec import analyze, loads

    try:
        a, b = analyze(loads(folded)), analyze(loads(flat))
    except ArchspecError:
        return False

    def layers(report: Any) -> list[Any]:
        return [
            (i.name, i.type, i.inputs, i.output_shape, i.layer and i.layer.model_dump(exclude={"name", "inputs"}))
            for i in report.layers
        ]

    return a.ok and b.ok and all(i.layer is not None for i in a.layers) and layers(a) == layers(b)


def _check_shapes(text: str, imported: Imported) -> None:
    """Every layer's static output shape equals the one the traced graph produced (a guard against a misread field)."""
    from archspec import analyze, loads

    report = analyze(loads(text))
    for layer in imported.layers:
        info = report.get(layer.name)
        static = info.output_shape if info is not None else None
        if layer.shape is not None and static != layer.shape:
            raise ArchspecError(f"imported layer `{layer.name}` ({layer.tag}) has shape {static}, torch gives {layer.shape}")
    if not report.ok:
        raise ArchspecError("the imported spec has errors:\n" + "\n".join(d.format() for d in report.diagnostics))


def load_ref(ref: str) -> tuple[nn.Module, str]:
    """The model a reference names, built with no arguments (``weights=None``), and a name for it.

    ``torchvision.models:resnet18`` imports a module and calls the callable; ``path/to/file.py:Net``
    loads the file first.
    """
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise ModelRefError(f"{ref!r} is not a model reference: write `package.module:callable` or `path/to/file.py:Name`")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ModelRefError(f"{where}: no such file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        owner = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, owner)
        spec.loader.exec_module(owner)
    else:
        try:
            owner = importlib.import_module(where)
        except ImportError as exc:
            raise ModelRefError(f"cannot import {where}: {exc}") from None
    factory = getattr(owner, attr, None)
    if not callable(factory):
        raise ModelRefError(f"{where} has no callable `{attr}`")
    model = factory(**_no_downloads(factory)) if where.startswith("torchvision.") else factory()
    if not isinstance(model, nn.Module):
        raise ModelRefError(f"{ref} returned a {type(model).__name__}, not a torch.nn.Module")
    return model, attr.lower() if attr[0].islower() else type(model).__name__.lower()


def _no_downloads(factory: Any) -> dict[str, None]:
    """``weights=None``, and ``weights_backbone=None`` for a builder that takes one (segmentation and detection
    models load an ImageNet backbone by default)."""
    try:
        takes = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):  # a callable without a signature to read
        takes = set()
    return {"weights": None} | ({"weights_backbone": None} if "weights_backbone" in takes else {})
