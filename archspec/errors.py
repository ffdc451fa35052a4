"""One error base class and one diagnostic type for every problem archspec reports.

YAML errors, schema errors, graph/shape errors and lint findings all become a
``Diagnostic``; only their code differs (E1xx YAML/structure, E2xx schema/values,
E3xx graph and shapes, W4xx lint warnings, I5xx information). The codes, with
what each finds and how to fix it, are the table in ``archspec.codes``.

Every exception archspec raises on purpose derives from ``ArchspecError``, so a
caller can catch them all in one clause (the command line prints the message and
exits 2, or, for a ``SpecError``, prints the diagnostics and exits 1). Modules are
under ``archspec.``::

    ArchspecError (errors)
    ├── SpecError (errors): a spec cannot be loaded; .diagnostics lists why
    ├── TorchMissingError (errors): the torch extra is missing (not raised at present: the CLI names the extra)
    ├── DiagramError (render.diagram): a diagram cannot be rendered (no Graphviz, bad format)
    ├── TooManyLayers (spec.expand): internal; becomes an E105 diagnostic
    ├── _TooBig, _TooDeep (spec.load): internal; become E105 diagnostics
    ├── ExprError, NeedsInput, Reported (spec.expr): internal; a bad `${...}` becomes an E2xx diagnostic
    │   (the runtime, with the torch extra:)
    ├── MemoryRefused (runtime.build): the model or its training would not fit the device's memory
    ├── CheckpointError (runtime.checkpoint): a checkpoint missing, unreadable, damaged or of another spec
    ├── DataError (errors; raised by runtime.data and preflight): data that cannot be used with the spec
    │   (missing, wrong shape, unreadable)
    ├── TrainingError (errors; raised by runtime.train and preflight): training cannot start or had to stop
    │   (settings, device, run folder, a diverging loss)
    ├── WeightsError (runtime.weights): a weights file or state dict that does not fit the model
    ├── InspectError (errors; raised by runtime.inspect and preflight): kernels, feature maps, receptive fields
    │   or augmentation cannot be drawn
    ├── GradCamError (runtime.gradcam): no usable target layer
    │   (the importer, with the torch extra:)
    ├── ModelRefError (importer): a model reference (`package.module:callable`, `file.py:Name`) gives no module
    └── UnsupportedOp (importer.graph): a traced operation no kind expresses (its node, module path and line)

``DataError``, ``TrainingError`` and ``InspectError`` are defined here, without torch, so that
``archspec.preflight`` can refuse a command before torch is imported; the runtime modules that
raise them re-export them under their old names (``archspec.runtime.data.DataError``, ...).

``archspec.layers.base.LayerError`` (and its ``MergeError``) is not in the tree:
it is control flow inside the analysis, always caught and turned into an
E304-E307 diagnostic. Nor is ``archspec.importer.kinds.Inexpressible``: the importer turns it into an
``UnsupportedOp`` that names the graph node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @classmethod
    def of_code(cls, code: str) -> Severity:
        return {"E": cls.ERROR, "W": cls.WARNING, "I": cls.INFO}[code[0]]


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    path: str = "<string>"
    line: int = 0  # 1-based; 0 when no position applies
    column: int = 0  # 1-based
    hint: str | None = None
    layer: str | None = None  # the layer concerned, when there is one

    def __post_init__(self) -> None:
        if type(self.code) is not str:  # a Code member: kept as its plain text, as JSON writes it
            object.__setattr__(self, "code", str(self.code))

    @property
    def severity(self) -> Severity:
        return Severity.of_code(self.code)

    def format(self) -> str:
        """``path:line:col: CODE message`` with an optional indented hint line."""
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        text = f"{where}: {self.code} {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.code, self.message)


def one_per_place(diagnostics: list[Diagnostic], in_block: Callable[[str], bool]) -> list[Diagnostic]:
    """A finding repeated in every instance of a block is one diagnostic at the block's line, with a count.

    Only findings about layers inside blocks are merged: two findings on one plain
    layer at the same place are different findings and both stay.
    """
    out: list[Diagnostic] = []
    first: dict[tuple[str, str, int, int], int] = {}
    extra: dict[tuple[str, str, int, int], int] = {}
    for d in diagnostics:
        key = (d.code, d.path, d.line, d.column)
        if d.layer and in_block(d.layer) and d.line:
            if key in first:
                extra[key] += 1
                continue
            first[key], extra[key] = len(out), 0
        out.append(d)
    for key, n in extra.items():
        if n:
            d = out[first[key]]
            out[first[key]] = replace(d, message=f"{d.message} (and {n} more instance{'s' * (n > 1)} of this block)")
    return out


class ArchspecError(Exception):
    """Base class of every error archspec raises on purpose."""


class SpecError(ArchspecError):
    """A spec file could not be loaded; ``diagnostics`` lists every problem found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class TorchMissingError(ArchspecError):
    """Lowering/training needs the optional torch extra."""


class DataError(ArchspecError):
    """The data cannot be used with this spec (missing, wrong shape, unreadable)."""


class TrainingError(ArchspecError):
    """Training cannot start or had to stop (settings, device, data, run folder, a diverging loss)."""


class InspectError(ArchspecError):
    """Kernels, feature maps, receptive fields, Grad-CAM images or augmentation cannot be drawn as asked."""
