"""Loading weights into spec-built models, including torchvision's own weight files."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from archspec.errors import ArchspecError


class WeightsError(ArchspecError):
    """A weights file or state dict does not fit the model."""


def read_state_dict(source: Mapping[str, torch.Tensor] | str | Path) -> Mapping[str, torch.Tensor]:
    """A state dict from a mapping or a file (loaded with ``weights_only=True``: no code runs)."""
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, Mapping) and "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path}: holds a {type(loaded).__name__}, not a state dict")
    return loaded


def load_weights(
    model: nn.Module,
    state_dict_or_path: Mapping[str, torch.Tensor] | str | Path,
    source: Literal["torchvision", "archspec"] = "torchvision",
) -> nn.Module:
    """Copy weights into ``model``.

    ``source="archspec"`` matches tensors by name. ``source="torchvision"`` matches
    them by order: a spec that mirrors a torchvision architecture registers the same
    tensors in the same order under other names (``downsample_conv`` for
    ``downsample.0``), so the n-th tensor of one is the n-th of the other; every
    pair's shape is checked and any difference is an error naming both tensors.
    """
    given = read_state_dict(state_dict_or_path)
    target = model.state_dict()
    if source == "archspec":
        mapped = dict(given)
    elif source == "torchvision":
        mapped = _by_order(given, target)
    else:
        raise WeightsError(f"unknown weights source {source!r}; use 'torchvision' or 'archspec'")
    missing = [k for k in target if k not in mapped]
    unexpected = [k for k in mapped if k not in target]
    if missing or unexpected:
        raise WeightsError(_diff_message(missing, unexpected))
    for key, tensor in mapped.items():
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise WeightsError(
                f"`{key}`: the weights have shape {tuple(tensor.shape)}, the model wants {tuple(target[key].shape)}"
            )
    model.load_state_dict(mapped, strict=True)
    return model


def _by_order(given: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> OrderedDict:
    ours = list(target.items())
    theirs = list(given.items())
    if len(ours) != len(theirs):
        raise WeightsError(
            f"the weights hold {len(theirs)} tensors, the model {len(ours)}: not the same architecture"
            + _first_difference(theirs, ours)
        )
    mapped = OrderedDict()
    for n, ((their_key, tensor), (our_key, wanted)) in enumerate(zip(theirs, ours)):
        if tuple(tensor.shape) != tuple(wanted.shape):
            raise WeightsError(
                f"tensor {n}: `{their_key}` has shape {tuple(tensor.shape)} but the spec's `{our_key}` "
                f"wants {tuple(wanted.shape)}; the spec and the weights describe different architectures"
            )
        mapped[our_key] = tensor
    return mapped


def _first_difference(theirs, ours) -> str:
    for n, ((tk, tt), (ok, ot)) in enumerate(zip(theirs, ours)):
        if tuple(tt.shape) != tuple(ot.shape):
            return f" (first difference at tensor {n}: `{tk}` {tuple(tt.shape)} vs `{ok}` {tuple(ot.shape)})"
    return ""


def _diff_message(missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"missing from the weights: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    if unexpected:
        parts.append(f"not in the model: {', '.join(unexpected[:5])}" + (" …" if len(unexpected) > 5 else ""))
    return "; ".join(parts)
