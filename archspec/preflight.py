"""What the torch commands can refuse from the spec, the settings and the disk alone, before torch is imported.

Importing torch takes seconds. A mistake that the static report or a look at the file system finds is
reported at once instead: a run folder that already holds a run, a spec whose output is not a vector of
class scores (for training), a data folder that is not there, a layer that does not exist or has no feature
maps, an output file in a folder that does not exist. The runtime asks the same questions through these
functions, so ``archspec.train`` and the inspection functions refuse the same things from Python; the
command line asks them first. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archspec.analysis import Report
from archspec.codes import Code
from archspec.errors import ArchspecError, DataError, Diagnostic, InspectError, SpecError, TrainingError
from archspec.graph import INPUT, layer_mark
from archspec.layers import fmt_shape
from archspec.spec import Spec
from archspec.spec.locate import suggest
from archspec.spec.training import Data, Training

CIFAR_FOLDER = "cifar-10-batches-py"
SYNTHETIC_CLASSES = 10  # the ten shapes of the built-in data (archspec.runtime.data.SHAPES)
MASK_CLASSES = SYNTHETIC_CLASSES + 1  # its masks: the background and the ten shapes (archspec.runtime.data.MASK_CLASSES)


# --- training ---


def settings_for(spec: Spec, overrides: dict[str, Any] | None = None) -> Training:
    """The spec's ``training:`` section (defaults where absent) with dotted-path overrides applied."""
    base = (spec.training or Training()).model_dump()
    for dotted, value in (overrides or {}).items():
        node: Any = base
        *path, leaf = dotted.split(".")
        for part in path:
            node = node.get(part)
            if not isinstance(node, dict):
                raise TrainingError(f"invalid training settings: no setting `{dotted}`")
        node[leaf] = value
    try:
        return Training.model_validate(base)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise TrainingError(f"invalid training settings: {exc}") from None


def scores_layer(report: Report) -> str:
    """The layer whose output training feeds to the loss: the output, or the layer before a final softmax."""
    out = report.layer(report.output)
    if out.layer is not None and out.layer.output_activation and len(out.inputs) == 1:
        return out.inputs[0]
    return report.output


def check_classifier(spec: Spec, report: Report) -> None:
    """Refuse (a SpecError, W411) a network whose scores are not a vector, one score per class."""
    name = scores_layer(report)
    shape = report.input_shape if name == INPUT else report.layer(name).output_shape
    if shape is None or len(shape) == 1:
        return
    message = (
        f"cannot train: the output layer `{name}` gives {fmt_shape(shape)}, not a vector of class scores: "
        "add a flatten or global pooling before the classifier"
    )
    _refuse_output(spec, name, message)


def check_segmenter(spec: Spec, report: Report, classes: int | None = None) -> None:
    """Refuse (a SpecError, W411) a segmentation network whose output is not class scores per pixel: K×H×W at
    the input's H×W, with K = ``classes`` where the number of classes is known."""
    name = scores_layer(report)
    shape = report.input_shape if name == INPUT else report.layer(name).output_shape
    if shape is None:
        return
    size = tuple(report.input_shape[1:])
    wanted = f"{classes or 'K'}×{fmt_shape(size)}"
    problem = f"a segmentation network outputs class scores per pixel ({wanted}, at the input's size)"
    if len(shape) == 1:
        fix = "drop the flatten and classifier and end in a 1×1 convolution with one channel per class"
    elif len(shape) != len(report.input_shape) or tuple(shape[1:]) != size:
        fix = f"bring the decoder back to the input's {fmt_shape(size)} (upsampling, transposed convolutions or padding)"
    elif classes and shape[0] != classes:
        fix = f"make it give {classes} channels, one per class of the masks"
    else:
        return
    _refuse_output(spec, name, f"cannot train: {problem}, but the output layer `{name}` gives {fmt_shape(shape)}: {fix}")


def check_scores(spec: Spec, report: Report, task: str, classes: int | None = None) -> None:
    """The network's output fits the task: a vector of class scores, or class scores per pixel."""
    if task == "segmentation":
        check_segmenter(spec, report, classes)
    else:
        check_classifier(spec, report)


def _refuse_output(spec: Spec, name: str, message: str) -> None:
    mark = layer_mark(spec, name)
    raise SpecError([Diagnostic(Code.NON_VECTOR_OUTPUT, message, spec.path, mark.line, mark.column, layer=name)])


def check_run_dir(run_dir: Path, *, resume: bool, force: bool) -> None:
    """A new run needs an empty (or absent) folder unless forced; a resumed one needs the run's last.pt."""
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"{run_dir} is a file, not a run folder: choose another --out")
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise TrainingError(f"{run_dir} holds no run to resume (no last.pt): leave out --resume to start one")
    elif run_dir.is_dir() and any(run_dir.iterdir()) and not force:
        raise TrainingError(f"{run_dir} already holds a run: use --resume to continue it or --force to start over")


def check_data(data: Data, masks: bool = False) -> None:
    """The data folders a ``training.data`` section names exist and are laid out as expected; with ``masks``
    (segmentation), the source has per-pixel masks."""
    if masks and data.source != "synthetic":
        raise DataError(
            f"segmentation needs per-pixel masks, and the data source `{data.source}` has none: "
            "train on the built-in data (source: synthetic), whose masks come with it"
        )
    if data.source == "folder":
        if data.root is None:
            raise DataError("data source `folder` needs `root` (--data-root)")
        root = Path(data.root)
        if not root.is_dir():
            raise DataError(f"image folder {root} not found")
        halves = [root / "train", root / "test"]
        for folder in halves if all(h.is_dir() for h in halves) else [root]:
            if not any(p.is_dir() for p in folder.iterdir()):
                raise DataError(
                    f"{folder} holds no class folders: put each class's images in a folder of its own "
                    f"({folder}/CLASS/IMAGE.png, torchvision's ImageFolder layout)"
                )
    elif data.source == "cifar10":
        root = Path(data.root or "data")
        if not (root / CIFAR_FOLDER).is_dir():
            raise DataError(cifar_missing(root))


def cifar_missing(root: str | Path) -> str:
    return (
        f"CIFAR-10 not found under {root}: put the python version there (the folder {CIFAR_FOLDER} "
        "from cifar-10-python.tar.gz); archspec never downloads data"
    )


def check_class_count(report: Report, classes: int, data: str) -> None:
    """The network gives at least one score per class of the data."""
    name = scores_layer(report)
    shape = report.input_shape if name == INPUT else report.layer(name).output_shape
    if shape is not None and len(shape) == 1 and shape[0] < classes:
        raise DataError(
            f"the data ({data}) has {classes} classes but the output layer `{name}` gives {shape[0]} scores: "
            f"make it give {classes}"
        )


def data_classes(data: Data, task: str = "classification") -> int | None:
    """The number of classes of a ``training.data`` section, where the disk tells it without reading images
    (for segmentation: of the masks)."""
    if task == "segmentation":
        return MASK_CLASSES if data.source == "synthetic" else None
    if data.source == "synthetic":
        return SYNTHETIC_CLASSES
    if data.source == "cifar10":
        return 10
    if data.root is None:
        return None
    root = Path(data.root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        root = root / "train"
    return sum(1 for p in root.iterdir() if p.is_dir()) if root.is_dir() else None


def check_training(
    spec: Spec, report: Report, run_dir: Path, overrides: dict[str, Any] | None, *, resume: bool, force: bool
) -> None:
    """Everything ``archspec train`` can refuse before torch: the run folder, the network's output, the settings,
    the data folders and the number of classes (a resumed run's settings are in its checkpoint, read later)."""
    check_run_dir(run_dir, resume=resume, force=force)
    if resume:
        check_scores(spec, report, (spec.training or Training()).task)
        return
    settings = settings_for(spec, overrides)
    data, segmentation = settings.data, settings.task == "segmentation"
    check_scores(spec, report, settings.task, data_classes(data, settings.task) if segmentation else None)
    if len(report.input_shape) != 3:
        raise DataError(f"training needs an image input C×H×W; the spec's input is {fmt_shape(report.input_shape)}")
    check_data(data, masks=segmentation)
    classes = data_classes(data)
    if classes and not segmentation:
        check_class_count(report, classes, data.root or data.source)


# --- looking inside ---


def check_layer(report: Report, name: str) -> None:
    """The layer exists (else a "did you mean")."""
    if report.get(name) is None:
        guess = suggest(name, [i.name for i in report.layers])
        raise InspectError(f"no layer `{name}` in {report.name}" + (f" — did you mean `{guess}`?" if guess else ""))


def check_feature_maps(report: Report, name: str) -> None:
    """The layer exists and its output is a stack of image feature maps (C×H×W)."""
    check_layer(report, name)
    shape = report.layer(name).output_shape
    if shape is None or len(shape) != 3:
        shown = "unknown" if shape is None else fmt_shape(shape)
        raise InspectError(f"`{name}` has no feature maps (its output is {shown}): choose a layer with a C×H×W output")


def check_receptive_field(report: Report, name: str, unit: Iterable[int] | None) -> tuple[int, ...]:
    """The layer has a receptive field and the unit is inside its output: the unit (default: the centre one)."""
    info = report.get(name)
    if info is None or info.rf is None or info.output_shape is None:
        raise InspectError(f"`{name}` has no receptive field (no such layer, or its spatial layout is gone)")
    grid = info.rf_units  # on tokens: the grid of patches
    chosen = tuple(unit) if unit is not None else tuple(n // 2 for n in grid)
    if len(chosen) != len(grid):
        raise InspectError(
            f"`{name}`'s output has {len(grid)} spatial ax{'is' if len(grid) == 1 else 'es'} ({fmt_shape(grid)}): "
            "give one index for each"
        )
    if not all(0 <= u < n for u, n in zip(chosen, grid)):
        raise InspectError(f"unit {chosen} is outside `{name}`'s {fmt_shape(grid)} output")
    return chosen


def check_augment(spec: Spec) -> None:
    """The spec lists augmentation to show."""
    if not (spec.training or Training()).augment:
        raise InspectError("the spec's training section lists no augmentation (training.augment)")


def check_output(path: str | Path) -> None:
    """A file can be written there: its folder exists and no folder stands in its place."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise ArchspecError(f"cannot write {path}: the folder {folder} does not exist")
    if Path(path).is_dir():
        raise ArchspecError(f"cannot write {path}: it is a folder")


def check_inputs(paths: Iterable[str | Path], what: str = "image") -> None:
    """Files to read exist."""
    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"{path}: no such {what} file")
