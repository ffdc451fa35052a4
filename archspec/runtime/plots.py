"""Figures of a training run: loss/accuracy curves (the text's Figure 8), confusion matrices and predicted masks."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt

from archspec.fileio import atomic_file


def curves(history: list[dict], path: str | Path, title: str, verdict: dict | None = None) -> None:
    """Loss and accuracy per epoch, train against test (and mean IoU for segmentation: rows with ``test_miou``);
    the best test epoch and any over-fitting onset marked."""
    epochs = [h["epoch"] for h in history]
    panels = [("loss", "Loss (cross-entropy)"), ("acc", "Accuracy")]
    if history and "test_miou" in history[0]:
        panels = [("loss", "Loss (per-pixel cross-entropy)"), ("acc", "Pixel accuracy"), ("miou", "Mean IoU")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), dpi=120)
    for ax, (key, label) in zip(axes, panels):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", color="#1f77b4", label="train", markersize=3)
        ax.plot(epochs, [h[f"test_{key}"] for h in history], "s-", color="#d62728", label="test", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if verdict and verdict.get("best_epoch") is not None:
            ax.axvline(
                verdict["best_epoch"],
                color="#2ca02c",
                linestyle="--",
                linewidth=1,
                label=f"best test epoch ({verdict['best_epoch']})",
            )
        if verdict and verdict.get("overfitting_from") is not None:
            ax.axvspan(
                verdict["overfitting_from"], epochs[-1], color="#ff7f0e", alpha=0.12, label="test loss rising, train loss falling"
            )
        if len(epochs) < 15:
            ax.set_xticks(epochs)
        if key != "loss":
            ax.set_ylim(0, 1)
        if key == "acc":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_file(path) as handle:  # a killed run never leaves half a picture
        fig.savefig(handle, format="png")
    plt.close(fig)


def confusion(matrix, classes: list[str], path: str | Path, title: str) -> None:
    """A confusion matrix (rows: true class, columns: predicted), each row as shares of that class."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 0.55 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=120)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 20 and counts.max(initial=0) < 1e5:  # pixel counts of segmentation would not fit a cell
        for i in range(len(classes)):
            for j in range(len(classes)):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(counts[i, j])),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black",
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def mask_overlays(images, predicted, classes: list[str], path: str | Path, names: list[str], truth=None) -> None:
    """Predicted masks over their images, one row per image: the image, the prediction over it and, where known,
    the true mask over it; each class in its own colour (class 0, the background, left clear), with a legend."""
    import numpy as np
    from matplotlib.patches import Patch

    palette = plt.get_cmap("tab10" if len(classes) <= 11 else "tab20")
    colours = np.array([(0, 0, 0, 0)] + [palette((k - 1) % palette.N) for k in range(1, len(classes))])
    columns = [("image", None), ("predicted", predicted)] + ([("true", truth)] if truth is not None else [])
    rows = len(images)
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.4 * len(columns), 2.5 * rows), dpi=120, squeeze=False)
    shown: set[int] = set()
    for i, image in enumerate(images):
        picture = np.asarray(image).transpose(1, 2, 0)
        picture = picture[..., 0] if picture.shape[2] == 1 else picture
        for j, (heading, masks) in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            if masks is not None:
                mask = np.asarray(masks[i]).astype(int)
                overlay = colours[mask].copy()
                overlay[mask > 0, 3] = 0.7
                ax.imshow(overlay, interpolation="nearest")
                shown.update(int(k) for k in np.unique(mask) if k > 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(heading, fontsize=9)
        axes[i, 0].set_ylabel(names[i], fontsize=8)
    handles = [Patch(color=colours[k], alpha=0.7, label=classes[k]) for k in sorted(shown)]
    handles.insert(0, Patch(facecolor="none", edgecolor="0.5", label=f"{classes[0]} (clear)"))
    fig.tight_layout()
    below = axes[-1, 0].get_position().y0  # the legend goes right under the last row; the saved box takes it in
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, below), ncol=min(len(handles), 4), fontsize=8, frameon=False
    )
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
