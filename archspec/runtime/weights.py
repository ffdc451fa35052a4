"""Loading weights into spec-built models, including torchvision's own weight files.

Tensors are matched by name: a spec whose layers carry torchvision's module paths
(``layer1.0.downsample.0``, ``features.3.conv.1.0``) has torchvision's state-dict
keys, so each tensor finds its place and anything the two sides do not share is
reported. Matching by order is kept for specs named otherwise, on request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from archspec.errors import ArchspecError

Source = Literal["torchvision", "archspec"]
Match = Literal["name", "order"]
SOURCES: dict[str, str] = {"torchvision": "torchvision's weights", "archspec": "the weights"}


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
    source: Source = "torchvision",
    match: Match = "name",
) -> nn.Module:
    """Copy weights into ``model``; nothing is copied unless every tensor fits.

    ``match="name"`` (the default) pairs each tensor with the model's tensor of the same
    state-dict key. ``match="order"`` pairs the n-th tensor of the weights with the n-th
    of the model, for a spec that mirrors an architecture under other layer names; it
    cannot see an operation that is missing, only a count or a shape that differs.
    ``source`` says where the weights come from (``"torchvision"``: a torchvision model's
    state dict or weight file; ``"archspec"``: a spec-built model's); it words the
    messages and changes no pairing.

    Every tensor of the weights that the model lacks, every tensor of the model that the
    weights lack and every pair whose shapes differ is listed in one WeightsError.
    """
    if source not in SOURCES:
        raise WeightsError(f"unknown weights source {source!r}; use 'torchvision' or 'archspec'")
    given = read_state_dict(state_dict_or_path)
    strays = [f"`{k}` ({type(v).__name__})" for k, v in given.items() if not isinstance(v, torch.Tensor)]
    if strays:
        raise WeightsError(f"not a state dict of tensors: {', '.join(strays[:5])}" + (" …" if len(strays) > 5 else ""))
    target = model.state_dict()
    if match == "name":
        mapped = _by_name(given, target, SOURCES[source])
    elif match == "order":
        mapped = _by_order(given, target, SOURCES[source])
    else:
        raise WeightsError(f"unknown match {match!r}; use 'name' or 'order'")
    model.load_state_dict(mapped, strict=True)
    return model


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, tensor.shape)) + ")"


def _by_name(given: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], theirs: str) -> dict[str, torch.Tensor]:
    unmatched = [f"  `{k}` {_shape(t)}" for k, t in given.items() if k not in target]
    missing = [f"  `{k}` {_shape(t)}" for k, t in target.items() if k not in given]
    misshapen = [
        f"  `{k}`: {_shape(given[k])} in {theirs}, {_shape(t)} in the model"
        for k, t in target.items()
        if k in given and tuple(given[k].shape) != tuple(t.shape)
    ]
    problems = [
        (f"{len(unmatched)} tensor(s) of {theirs} that the model does not have:", unmatched),
        (f"{len(missing)} tensor(s) of the model that {theirs} do not have:", missing),
        (f"{len(misshapen)} tensor(s) whose shapes differ:", misshapen),
    ]
    if unmatched or missing or misshapen:
        raise WeightsError(
            f"{theirs} do not fit the model by name (state-dict keys are the spec's layer names, "
            "e.g. `layer1.0.downsample.0.weight`):\n"
            + "\n".join(head + "\n" + "\n".join(lines) for head, lines in problems if lines)
            + "\nthe spec and the weights describe different architectures"
            + (", or name their layers differently (match='order' pairs tensors by position)" if unmatched and missing else "")
        )
    return {k: given[k] for k in target}


def _by_order(given: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], theirs: str) -> dict[str, torch.Tensor]:
    ours = list(target.items())
    others = list(given.items())
    misshapen = [
        f"  tensor {n}: `{their_key}` {_shape(tensor)} in {theirs}, the model's `{our_key}` {_shape(wanted)}"
        for n, ((their_key, tensor), (our_key, wanted)) in enumerate(zip(others, ours))
        if tuple(tensor.shape) != tuple(wanted.shape)
    ]
    unpaired = [f"  tensor {n}: `{k}` {_shape(t)} in {theirs}" for n, (k, t) in enumerate(others) if n >= len(ours)]
    unpaired += [f"  tensor {n}: the model's `{k}` {_shape(t)}" for n, (k, t) in enumerate(ours) if n >= len(others)]
    if unpaired or misshapen:
        problems = [
            (f"{theirs} hold {len(others)} tensors, the model {len(ours)}; without a partner:", unpaired),
            (f"{len(misshapen)} pair(s) of tensors whose shapes differ:", misshapen),
        ]
        raise WeightsError(
            f"{theirs} do not fit the model by order:\n"
            + "\n".join(head + "\n" + "\n".join(lines) for head, lines in problems if lines)
            + "\nthe spec and the weights describe different architectures"
        )
    return {our_key: tensor for (_, tensor), (our_key, _) in zip(others, ours)}
