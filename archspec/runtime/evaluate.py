"""``archspec evaluate`` (accuracy, per-class accuracy, confusion matrix; for segmentation pixel accuracy and IoU)
and ``archspec predict`` (top-k classes; for segmentation the predicted masks drawn over the images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from archspec.analysis import analyze
from archspec.runtime.augment import TensorBatches, normalise
from archspec.runtime.build import SpecModule
from archspec.runtime.checkpoint import Checkpoint
from archspec.runtime.confusion import accuracy, confusion, iou, mean_iou
from archspec.runtime.data import DataError, load_test, read_image
from archspec.spec import Spec


def restore(spec: Spec, checkpoint_path: str | Path, device: str = "cpu") -> tuple[SpecModule, Checkpoint]:
    """The trained model of a checkpoint (refused if the checkpoint belongs to another spec), in eval mode."""
    saved = Checkpoint.load(checkpoint_path, spec.text)
    model = SpecModule(analyze(spec))
    model.load_state_dict(saved.model)
    return model.to(device).eval(), saved


@torch.no_grad()
def evaluate(
    spec: Spec, checkpoint_path: str | Path, overrides: dict[str, Any] | None = None, batch_size: int = 256
) -> dict[str, Any]:
    """Accuracy, per-class accuracy and the confusion matrix on the test data of the checkpoint's settings; for a
    segmentation run, pixel accuracy, each class's IoU, their mean and the confusion matrix of pixels."""
    model, saved = restore(spec, checkpoint_path)
    data_settings = saved.settings.data.model_copy(update=overrides or {})
    if saved.settings.task == "segmentation":
        return _evaluate_masks(model, saved, data_settings, batch_size)
    test, _ = load_test(data_settings, model.report.input_shape)
    classes = saved.classes
    k = len(classes)
    matrix = torch.zeros(k, k, dtype=torch.long)
    for x, y in TensorBatches(test, batch_size, "cpu", saved.mean, saved.std):
        predicted = model.forward_logits(x).argmax(1)
        matrix += torch.bincount(y * k + predicted, minlength=k * k).view(k, k)
    per_class = (matrix.diag().double() / matrix.sum(1).clamp_min(1)).tolist()
    return {
        "accuracy": matrix.diag().sum().item() / matrix.sum().item(),
        "per_class": dict(zip(classes, per_class)),
        "confusion": matrix.tolist(),
        "classes": classes,
        "images": int(matrix.sum()),
        "epoch": saved.epoch,
    }


def _evaluate_masks(model: SpecModule, saved: Checkpoint, data_settings: Any, batch_size: int) -> dict[str, Any]:
    test, _ = load_test(data_settings, model.report.input_shape, masks=True)
    classes = saved.classes
    k = len(classes)
    matrix = torch.zeros(k, k, dtype=torch.long)
    for x, y in TensorBatches(test, batch_size, "cpu", saved.mean, saved.std):
        matrix += confusion(model.forward_logits(x).argmax(1), y, k)
    per_class = [None if v != v else v for v in iou(matrix)]  # NaN (a class never seen nor predicted) as null
    return {
        "task": "segmentation",
        "pixel_accuracy": accuracy(matrix),
        "mean_iou": mean_iou(matrix),
        "per_class_iou": dict(zip(classes, per_class)),
        "confusion": matrix.tolist(),
        "classes": classes,
        "images": len(test),
        "pixels": int(matrix.sum()),
        "epoch": saved.epoch,
    }


@torch.no_grad()
def predict(
    spec: Spec,
    checkpoint_path: str | Path,
    images: list[str | Path] | None = None,
    top_k: int = 5,
    *,
    output: str | Path | None = None,
    index: int | None = None,
    count: int = 4,
) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for image files (resized to the spec's input where they differ), or for
    ``count`` test images from ``index``. For a segmentation run, each image's share of pixels per predicted class,
    and the predicted masks drawn over the images into ``output`` (PNG; the true masks beside them for test images)."""
    model, saved = restore(spec, checkpoint_path)
    segmentation = saved.settings.task == "segmentation"
    batch, names, resized, truth = _inputs(model, saved, images, index, count, masks=segmentation)
    logits = model.forward_logits(normalise(batch, saved.mean, saved.std))
    if segmentation:
        return _masks(logits, batch, names, resized, truth, saved.classes, output or f"{spec.name}-predict.png")
    results = []
    for i, probs in enumerate(logits.softmax(1)):
        top = probs.topk(min(top_k, len(saved.classes)))
        results.append(
            {
                "image": names[i],
                "resized": resized[i],
                "top": [{"class": saved.classes[c], "probability": p} for p, c in zip(top.values.tolist(), top.indices.tolist())],
            }
        )
        if truth is not None:
            results[-1]["true"] = saved.classes[int(truth[i])]
    return results


def _inputs(
    model: SpecModule, saved: Checkpoint, paths: list[str | Path] | None, index: int | None, count: int, masks: bool
) -> tuple[torch.Tensor, list[str], list[bool], torch.Tensor | None]:
    """The images to predict (uint8, at the spec's input size), their names, whether each was resized, and
    their true labels or masks where known (test images)."""
    from torchvision.transforms.v2 import functional as F

    channels, height, width = model.report.input_shape
    if paths:
        images, resized = [], []
        for path in paths:
            image = read_image(path, channels)
            resized.append(tuple(image.shape[1:]) != (height, width))
            images.append(F.resize(image, [height, width], antialias=True) if resized[-1] else image)
        return torch.stack(images), [str(p) for p in paths], resized, None
    start = index or 0
    test, total = load_test(saved.settings.data, model.report.input_shape, start, count, masks=masks)
    if not 0 <= start < total:
        raise DataError(f"--index {start} is outside the test data (images 0 to {total - 1})")
    names = [f"test image {start + i}" for i in range(len(test))]
    return test.images, names, [False] * len(test), test.targets


def _masks(
    logits: torch.Tensor,
    images: torch.Tensor,
    names: list[str],
    resized: list[bool],
    truth: torch.Tensor | None,
    classes: list[str],
    output: str | Path,
) -> list[dict[str, Any]]:
    """Each image's predicted mask drawn over it into ``output``; each one's share of pixels per predicted class."""
    from archspec.runtime.plots import mask_overlays

    predicted = logits.argmax(1)
    mask_overlays(images, predicted, classes, output, names, truth)
    results = []
    for name, was_resized, mask in zip(names, resized, predicted):
        shares = torch.bincount(mask.flatten(), minlength=len(classes)).double() / mask.numel()
        pixels = {classes[k]: shares[k].item() for k in shares.argsort(descending=True).tolist() if shares[k] > 0}
        results.append({"image": name, "resized": was_resized, "pixels": pixels, "output": str(output)})
    return results
