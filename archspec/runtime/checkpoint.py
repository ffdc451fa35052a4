"""Checkpoints that describe themselves, written atomically, read with ``weights_only=True``.

A checkpoint holds the spec's text and hash, the training settings, the epoch,
the model, optimiser and scheduler state, RNG states, the metrics so far and the
normalisation statistics, so ``evaluate``, ``predict`` and ``--resume`` need
nothing else. It is refused for a spec whose text hashes differently.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from archspec.errors import ArchspecError
from archspec.fileio import atomic_file

FORMAT = 1


class CheckpointError(ArchspecError):
    """A checkpoint is missing, unreadable, or belongs to another spec."""


def spec_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (see archspec.fileio.atomic_file)."""
    with atomic_file(path) as handle:
        torch.save({"format": FORMAT, **state}, handle)


def load(path: str | Path, text: str | None = None) -> dict[str, Any]:
    """Read a checkpoint (weights only: no code in the file runs); with ``text``, insist it is this spec's."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise CheckpointError(f"{path}: not an archspec checkpoint")
    if text is not None and state.get("spec_hash") != spec_hash(text):
        raise CheckpointError(
            f"{path}: made for another spec (its spec hash {str(state.get('spec_hash'))[:12]} differs from "
            f"{spec_hash(text)[:12]}); the checkpoint holds its own spec text if you need it"
        )
    return state
