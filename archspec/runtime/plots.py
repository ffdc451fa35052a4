"""Figures of a training run: loss/accuracy curves (the text's Figure 8) and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt

from archspec.fileio import atomic_file


def curves(history: list[dict], path: str | Path, title: str, verdict: dict | None = None) -> None:
    """Loss and accuracy per epoch, train against test; the best test epoch and any over-fitting onset marked."""
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for ax, key, label in ((loss_ax, "loss", "Loss (cross-entropy)"), (acc_ax, "acc", "Accuracy")):
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
    acc_ax.set_ylim(0, 1)
    acc_ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    loss_ax.legend(loc="best", fontsize=8)
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
    if len(classes) <= 20:
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
