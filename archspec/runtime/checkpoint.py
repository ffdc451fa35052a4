"""Checkpoints that describe themselves, written atomically, read with ``weights_only=True``.

A ``Checkpoint`` holds the spec's text (and its hash), the training settings, the epoch,
the model, optimiser, scheduler and gradient-scaler state, RNG states, the metrics so far,
the normalisation statistics and the class names, so ``evaluate``, ``predict`` and
``--resume`` need nothing else. It is refused for a spec whose text hashes differently.

The file is a plain dict of tensors, strings and numbers (so ``torch.load(weights_only=True)``
reads it without running code from the file) whose ``archspec_checkpoint`` key holds the
format version. Older formats are migrated on load; format 1 (archspec's first, a flat dict
marked ``"format": 1``) becomes format 2 through ``_from_v1``. A newer or unknown format, a
damaged file or a file that is not an archspec checkpoint is a ``CheckpointError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from archspec.errors import ArchspecError
from archspec.fileio import atomic_file
from archspec.spec.training import Training

VERSION = 2  # the format written; every older one has a migration in MIGRATIONS
MARKER = "archspec_checkpoint"  # the key of the format version (from format 2 on)

Raw = dict[str, Any]


class CheckpointError(ArchspecError):
    """A checkpoint is missing, unreadable, damaged, of an unknown format, or belongs to another spec."""


def spec_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """One epoch's state of a training run.

    Read it by attribute. Indexing by the names of format 1 (``ckpt["model"]``, ``ckpt["mean"]``…)
    still works for code written against the plain dict checkpoints were before.
    """

    spec_text: str
    spec_name: str
    settings: Training
    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    history: list[dict[str, Any]]
    mean: torch.Tensor
    std: torch.Tensor
    classes: list[str]
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    migrated_from: int | None = None  # the older format version this was read from, if any

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec_text)

    # --- files ---

    def save(self, path: str | Path) -> None:
        """Write this checkpoint to ``path`` atomically (see archspec.fileio.atomic_file), in the current format."""
        with atomic_file(path) as handle:
            torch.save(self.to_raw(), handle)

    @classmethod
    def load(cls, path: str | Path, text: str | None = None) -> Checkpoint:
        """Read a checkpoint (weights only: no code in the file runs); with ``text``, insist it is this spec's."""
        path = Path(path)
        raw = _read(path)
        version = _version(raw, path)
        migrated_from = version if version < VERSION else None
        try:
            while version < VERSION:
                raw, version = MIGRATIONS[version](raw), version + 1
            checkpoint = _from_raw(raw, migrated_from)
        except _Damage as exc:
            raise CheckpointError(f"{path}: damaged archspec checkpoint: {exc}") from None
        if text is not None and checkpoint.spec_hash != spec_hash(text):
            raise CheckpointError(
                f"{path}: made for another spec (its spec hash {checkpoint.spec_hash[:12]} differs from "
                f"{spec_hash(text)[:12]}); the checkpoint holds its own spec text if you need it"
            )
        return checkpoint

    def to_raw(self) -> Raw:
        """The dict written to the file (format ``VERSION``)."""
        return {
            MARKER: VERSION,
            "spec": {"name": self.spec_name, "text": self.spec_text, "hash": self.spec_hash},
            "settings": self.settings.model_dump(mode="json"),
            "epoch": self.epoch,
            "state": {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler},
            "rng": self.rng,
            "history": self.history,
            "normalisation": {"mean": self.mean, "std": self.std},
            "classes": self.classes,
        }


def save(state: Checkpoint, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (the one place training writes checkpoints through)."""
    state.save(path)


def load(path: str | Path, text: str | None = None) -> Checkpoint:
    """``Checkpoint.load``: read a checkpoint, migrated to the current format; with ``text``, insist it is this spec's."""
    return Checkpoint.load(path, text)


# --- reading ---


def _read(path: Path) -> Raw:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: not an archspec checkpoint (it holds a {type(raw).__name__})")
    return raw


def _version(raw: Raw, path: Path) -> int:
    """The file's format version (1 for the flat dicts marked ``"format": 1``)."""
    if MARKER in raw:
        version = raw[MARKER]
    elif "format" in raw and "model" in raw:  # the flat layout, which only format 1 had
        if raw["format"] != 1:
            raise CheckpointError(f"{path}: unknown checkpoint format version {raw['format']!r} (in the flat layout of format 1)")
        return 1
    else:
        raise CheckpointError(f"{path}: not an archspec checkpoint (no format version in it)")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{path}: unknown checkpoint format version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this archspec reads (1 to {VERSION}); "
            "upgrade archspec to use it"
        )
    return version


def _from_v1(raw: Raw) -> Raw:
    """Format 1 (a flat dict marked ``"format": 1``) to format 2 (grouped, marked by ``archspec_checkpoint``)."""
    return {
        MARKER: 2,
        "spec": {"name": _part(raw, "spec_name"), "text": _part(raw, "spec_text"), "hash": _part(raw, "spec_hash")},
        "settings": _part(raw, "settings"),
        "epoch": _part(raw, "epoch"),
        "state": {key: _part(raw, key) for key in ("model", "optimizer", "scheduler", "scaler")},
        "rng": raw.get("rng", {}),
        "history": _part(raw, "history"),
        "normalisation": {"mean": _part(raw, "mean"), "std": _part(raw, "std")},
        "classes": _part(raw, "classes"),
    }


MIGRATIONS: dict[int, Callable[[Raw], Raw]] = {1: _from_v1}


def _from_raw(raw: Raw, migrated_from: int | None) -> Checkpoint:
    """A Checkpoint from a dict of the current format, every part's type checked (a _Damage if one is wrong)."""
    spec, state, norm = _part(raw, "spec", dict), _part(raw, "state", dict), _part(raw, "normalisation", dict)
    checkpoint = Checkpoint(
        spec_text=_part(spec, "text", str),
        spec_name=_part(spec, "name", str),
        settings=_settings(_part(raw, "settings", dict)),
        epoch=_part(raw, "epoch", int),
        model=_part(state, "model", dict),
        optimizer=_part(state, "optimizer", dict),
        scheduler=_part(state, "scheduler", dict),
        scaler=_part(state, "scaler", dict),
        history=_part(raw, "history", list),
        mean=_part(norm, "mean", torch.Tensor),
        std=_part(norm, "std", torch.Tensor),
        classes=_part(raw, "classes", list),
        rng=_part(raw, "rng", dict),
        migrated_from=migrated_from,
    )
    if _part(spec, "hash", str) != checkpoint.spec_hash:
        raise _Damage("its spec text does not match its spec hash")
    return checkpoint


def _settings(values: Raw) -> Training:
    try:
        return Training.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _Damage(f"its training settings are not valid ({problems})") from None


class _Damage(Exception):
    """A missing or mistyped part of a checkpoint file (becomes a CheckpointError naming the file)."""


def _part(container: Raw, key: str, kind: type = object) -> Any:
    """``container[key]``, which must be there and be a ``kind``."""
    if key not in container:
        raise _Damage(f"it lacks `{key}`")
    value = container[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Damage(f"`{key}` should be {kind.__name__}, not {type(value).__name__}")
    return value
