"""The commands that look inside a spec: gradcam, kernels, features, rf, augment (their logic; the CLI stays thin)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch

from archspec.analysis import analyze
from archspec.errors import InspectError as InspectError  # defined without torch, for archspec.preflight
from archspec.layers.fields import AXIS_NAMES
from archspec.preflight import check_augment, check_feature_maps, check_receptive_field
from archspec.runtime import checkpoint as ckpt
from archspec.runtime import visualise
from archspec.runtime.augment import normalise, pipeline
from archspec.runtime.build import SpecModule
from archspec.runtime.data import channel_stats, load_test, read_image
from archspec.runtime.gradcam import evaluate_boxes, gradcam
from archspec.spec import Spec
from archspec.spec.training import Training


def model_and_state(spec: Spec, checkpoint: str | None, weights: str | None = None) -> tuple[SpecModule, ckpt.Checkpoint | None]:
    """The spec's model: trained (checkpoint), with imported weights, or freshly initialised."""
    report = analyze(spec)
    model = SpecModule(report)
    state = None
    if checkpoint:
        state = ckpt.load(checkpoint, spec.text)
        model.load_state_dict(state.model)
    elif weights:
        from archspec.runtime.weights import load_weights

        load_weights(model, weights, source="torchvision")
    return model.eval(), state


def images_for(spec: Spec, state: ckpt.Checkpoint | None, paths: list[str] | None, index: int | None, count: int) -> dict:
    """Images to look at: files (resized to the input if needed) or items of the test data, with labels/boxes if known."""
    shape = analyze(spec).input_shape
    if paths:
        from torchvision.transforms.v2 import functional as F

        images, resized = [], []
        for p in paths:
            image = read_image(p, shape[0])
            resized.append(tuple(image.shape[1:]) != tuple(shape[1:]))
            images.append(F.resize(image, list(shape[1:]), antialias=True) if resized[-1] else image)
        return {
            "images": torch.stack(images),
            "names": [Path(p).name for p in paths],
            "labels": None,
            "boxes": None,
            "resized": any(resized),
        }
    settings = state.settings if state else (spec.training or Training())
    start = index or 0
    chosen, total = load_test(settings.data, shape, start, count)  # only the images asked for are made
    if not 0 <= start < total:
        raise InspectError(f"--index {start} is outside the test data (0 … {total - 1})")
    return {
        "images": chosen.images,
        "names": [f"test #{start + k}" for k in range(len(chosen))],
        "labels": chosen.labels,
        "boxes": chosen.boxes,
        "classes": chosen.classes,
        "resized": False,
    }


def _stats(state, images):
    return (state.mean, state.std) if state else channel_stats(images)


def class_names(state: ckpt.Checkpoint | None, n: int) -> list[str]:
    return list(state.classes) if state and state.classes else [str(k) for k in range(n)]


def run_gradcam(spec: Spec, checkpoint: str, out: str, *, paths=None, index=None, count=4, target="top", layer=None) -> dict:
    model, state = model_and_state(spec, checkpoint)
    picked = images_for(spec, state, paths, index, count)
    mean, std = _stats(state, picked["images"])
    x = normalise(picked["images"], mean, std)
    logits_shape = model.report.layer(model.logits_name).output_shape
    assert logits_shape is not None  # the model was built, so every shape is known
    names = class_names(state, logits_shape[-1])
    classes = None
    if target == "true":
        if picked["labels"] is None:
            raise InspectError("--class true needs images of the test data (--index), whose labels are known")
        classes = picked["labels"]
    elif target != "top":
        classes = int(target) if str(target).isdigit() else _class_index(target, names)
    cam = gradcam(model, x, layer, classes)
    titles = [f"{n}: {names[int(c)]} ({p:.0%})" for n, c, p in zip(picked["names"], cam.classes, cam.scores)]
    if picked["labels"] is not None:  # say what the image really shows
        titles = [f"{t}; true: {names[int(y)]}" for t, y in zip(titles, picked["labels"])]
    visualise.gradcam_overlays(picked["images"], cam.upsampled, titles, out, f"{spec.name}: Grad-CAM at `{cam.layer}`")
    return {"layer": cam.layer, "maps": cam.maps, "classes": cam.classes.tolist(), "titles": titles}


def _class_index(name: str, names: list[str]) -> int:
    if name in names:
        return names.index(name)
    raise InspectError(f"unknown class `{name}`; classes: {', '.join(names)}")


def run_gradcam_evaluation(spec: Spec, checkpoint: str, layer=None, limit: int | None = None) -> dict:
    model, state = model_and_state(spec, checkpoint)
    assert state is not None  # a checkpoint is required here
    settings = state.settings
    test, _ = load_test(settings.data, model.report.input_shape, 0, limit or None)
    if test.boxes is None:
        raise InspectError("--evaluate needs data with object boxes: the built-in synthetic data has them")
    return evaluate_boxes(model, test.images, test.boxes, test.labels, state.mean, state.std, layer)


def first_conv(report) -> str:
    """The first layer whose weights are 2-D kernels (an image convolution)."""
    for info in report.layers:
        if _has_image_kernels(info):
            return info.name
    raise InspectError("the spec has no convolution with 2-D kernels")


def _has_image_kernels(info) -> bool:
    return info.layer is not None and info.layer.family == "conv" and len(info.weights.get("weight", ())) == 4


def run_kernels(spec: Spec, out: str, *, checkpoint=None, weights=None, layer=None) -> dict:
    model, _ = model_and_state(spec, checkpoint, weights)
    layer = layer or first_conv(model.report)
    info = model.report.get(layer)
    if info is None or not _has_image_kernels(info):
        raise InspectError(f"`{layer}` is not a convolution with 2-D kernels")
    weight = cast(torch.Tensor, model.get_submodule(layer).weight)  # a convolution's weight parameter
    source = "trained" if checkpoint else "imported" if weights else "untrained (initial)"
    out_c, in_c, kh, kw = weight.shape
    low, high = visualise.kernels(
        weight, out, f"{spec.name}: the {out_c} {kh}×{kw} kernels of `{layer}` over {in_c} channels, {source}"
    )
    return {"layer": layer, "kernels": out_c, "min": low, "max": high}


def run_features(spec: Spec, out: str, *, checkpoint=None, paths=None, index=None, layer=None) -> dict:
    report = analyze(spec)
    layer = layer or first_conv(report)
    check_feature_maps(report, layer)  # before a checkpoint is read or an image made
    model, state = model_and_state(spec, checkpoint)
    picked = images_for(spec, state, paths, index, 1)
    mean, std = _stats(state, picked["images"])
    with torch.no_grad():
        maps = model.forward_all(normalise(picked["images"], mean, std))[layer][0]
    visualise.feature_maps(maps, out, f"{spec.name}: the {len(maps)} feature maps of `{layer}` for {picked['names'][0]}")
    return {"layer": layer, "maps": len(maps)}


def run_rf(spec: Spec, out: str, *, paths=None, index=None, layer=None, unit=None) -> dict:
    """Draw the receptive fields of the first and a chosen unit of ``layer``: on an input image for
    C×H×W networks, on the input's axes for sequences and volumes."""
    from archspec.runtime.gradcam import default_layer

    report = analyze(spec)
    layer = layer or default_layer(report)
    chosen = check_receptive_field(report, layer, unit)
    info = report.layer(layer)
    assert info.rf is not None and info.output_shape is not None  # checked above
    grid = info.rf_units
    units = {"first unit": (0,) * len(grid), "chosen unit": chosen}
    spans = {what: [_span(rf, u) for rf, u in zip(info.rf, at)] for what, at in units.items()}
    axes = [_POSITIONS[a] for a in AXIS_NAMES[len(grid)]]
    labels = [
        f"{what} ({', '.join(map(str, units[what]))}): " + ", ".join(f"{axis} {a}…{b}" for axis, (a, b) in zip(axes, spans[what]))
        for what in units
    ]
    r, s, p = ("×".join(str(getattr(a, part)) for a in info.rf) for part in ("size", "stride", "padding"))
    title = f"{spec.name}: receptive field of `{layer}` (r={r}, S={_once(s)}, P={_once(p)})"
    if len(grid) == 2:
        picked = images_for(spec, None, paths, index, 1)
        boxes = [(x0, y0, x1, y1) for (y0, y1), (x0, x1) in spans.values()]
        visualise.receptive_field(picked["images"][0], boxes, labels, out, title)
        return {"layer": layer, "unit": chosen, "boxes": boxes}
    visualise.receptive_field_on_axes(report.input_shape[1:], list(spans.values()), labels, out, title)
    return {"layer": layer, "unit": chosen, "spans": list(spans.values())}


def _once(values: str) -> str:
    """``2×2`` -> ``2``: a per-axis value written once when every axis has it."""
    parts = values.split("×")
    return parts[0] if len(set(parts)) == 1 else values


_POSITIONS = {"length": "positions", "depth": "frames", "height": "rows", "width": "columns"}


def _span(rf, unit: int) -> tuple[int, int]:
    """Input positions (first, last; possibly in the padding) that unit ``unit`` of a field sees on one axis."""
    start = -rf.padding + unit * rf.stride
    return start, start + rf.size - 1


def run_augment(spec: Spec, out: str, *, paths=None, index=None, n: int = 12, seed: int = 0) -> dict:
    check_augment(spec)
    settings = spec.training or Training()
    picked = images_for(spec, None, paths, index, 1)
    image = picked["images"][0]
    torch.manual_seed(seed)
    singles: list[tuple[str, torch.Tensor]] = []
    for step in settings.augment:
        forced = step.model_copy(update={"p": 1.0}) if hasattr(step, "p") else step  # show each transform acting
        alone = pipeline([forced])
        assert alone is not None  # a pipeline is None only for no steps
        singles.append((step.type, alone(image)))
    composed = []
    for _ in range(n):
        every = pipeline(settings.augment)
        assert every is not None  # settings.augment is not empty (checked above)
        composed.append(every(image))
    visualise.augmentations(
        image, singles, composed, out, f"{spec.name}: augmentation — each transform alone, then {n} random compositions"
    )
    return {"singles": [s for s, _ in singles], "composed": n}
