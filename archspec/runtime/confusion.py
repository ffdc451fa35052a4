"""Confusion matrices and what is read from them: accuracy (per image or per pixel) and intersection over union.

One matrix serves both tasks: rows are the true classes, columns the predicted ones, and it counts
images (classification) or pixels (segmentation). Matrices add up over batches and over processes,
so the epoch's metrics are those of all its predictions together, not means of per-batch figures.
"""

from __future__ import annotations

import math

import torch


def confusion(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """The classes×classes count of (true, predicted) pairs of two integer tensors of one shape (int64)."""
    pairs = target.reshape(-1).long() * classes + predicted.reshape(-1).long()
    return torch.bincount(pairs, minlength=classes * classes).view(classes, classes)


def accuracy(matrix: torch.Tensor) -> float:
    """The share of predictions on the diagonal (of images, or of pixels)."""
    total = int(matrix.sum())
    return int(matrix.diag().sum()) / total if total else math.nan


def iou(matrix: torch.Tensor) -> list[float]:
    """Each class's intersection over union, TP / (TP + FP + FN); NaN for a class neither present nor predicted."""
    m = matrix.double()
    hits = m.diag()
    union = m.sum(0) + m.sum(1) - hits
    return [h / u if u else math.nan for h, u in zip(hits.tolist(), union.tolist())]


def mean_iou(matrix: torch.Tensor) -> float:
    """The mean of the classes' IoU over the classes that are present or predicted (the others have no IoU)."""
    values = [v for v in iou(matrix) if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan
