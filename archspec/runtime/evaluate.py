"""``archspec evaluate`` (accuracy, per-class accuracy, confusion matrix) and ``archspec predict`` (top-k)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from archspec.analysis import analyze
from archspec.runtime.augment import TensorBatches, normalise
from archspec.runtime.build import SpecModule
from archspec.runtime.checkpoint import Checkpoint
from archspec.runtime.data import load_test, read_image
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
    """Accuracy, per-class accuracy and the confusion matrix on the test data of the checkpoint's settings."""
    model, saved = restore(spec, checkpoint_path)
    data_settings = saved.settings.data.model_copy(update=overrides or {})
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


@torch.no_grad()
def predict(spec: Spec, checkpoint_path: str | Path, images: list[str | Path], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for image files (resized to the spec's input where they differ)."""
    from torchvision.transforms.v2 import functional as F

    model, saved = restore(spec, checkpoint_path)
    channels, height, width = model.report.input_shape
    classes = saved.classes
    results = []
    for path in images:
        image = read_image(path, channels)
        resized = tuple(image.shape[1:]) != (height, width)
        if resized:
            image = F.resize(image, [height, width], antialias=True)
        probs = model.forward_logits(normalise(image[None], saved.mean, saved.std)).softmax(1)[0]
        top = probs.topk(min(top_k, len(classes)))
        results.append(
            {
                "image": str(path),
                "resized": resized,
                "top": [{"class": classes[i], "probability": p} for p, i in zip(top.values.tolist(), top.indices.tolist())],
            }
        )
    return results
