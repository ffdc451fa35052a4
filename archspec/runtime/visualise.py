"""Pictures of what a network does: Grad-CAM overlays, kernels, feature maps, receptive fields, augmentation.

All figures are PNG files drawn with matplotlib (no window), with titles a person can read.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle


def save(fig, path: str | Path, **options) -> None:
    """Write ``fig`` to exactly ``path`` and close it: PNG unless the suffix names another format
    (matplotlib would otherwise append ``.png`` to a name without one, not the file reported)."""
    fig.savefig(path, format=Path(path).suffix.lstrip(".").lower() or "png", **options)
    plt.close(fig)


def _show(ax, image: torch.Tensor) -> None:
    """A uint8 or [0, 1] C×H×W image on an axis (grey for one channel)."""
    x = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    if x.shape[0] == 1:
        ax.imshow(x[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(x.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols): one row up to 8 tiles, then a near-square grid (64 kernels: 8×8, as in the text)."""
    cols = cols or (n if n <= 8 else math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def gradcam_overlays(images: torch.Tensor, heat: torch.Tensor, titles: list[str], path: str | Path, suptitle: str) -> None:
    """Each image beside its Grad-CAM heat map laid over it."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(5.6, 2.5 * n + 0.5), dpi=110, squeeze=False, layout="constrained")
    for i in range(n):
        _show(axes[i, 0], images[i])
        axes[i, 0].set_title("input", fontsize=9)
        _show(axes[i, 1], images[i])
        shown = axes[i, 1].imshow(heat[i].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[i, 1].set_title(titles[i], fontsize=9)
    fig.colorbar(shown, ax=axes[:, 1].tolist(), shrink=min(1.0, 0.9 / n**0.5), label="Grad-CAM (scaled to its maximum)")
    fig.suptitle(suptitle, fontsize=10)
    save(fig, path)


def kernels(weight: torch.Tensor, path: str | Path, title: str) -> tuple[float, float]:
    """Convolution kernels normalised to [0, 1] as a whole and tiled (the text's Figure 17).

    Kernels over three channels are shown in colour (the channels as RGB); others one
    grey tile per (output, input) channel pair. Returns the (min, max) that mapped to 0 and 1.
    """
    w = weight.detach().float().cpu()
    low, high = w.min().item(), w.max().item()
    scaled = (w - low) / max(high - low, 1e-12)
    out_c, in_c = scaled.shape[:2]
    if in_c == 3:
        tiles = [scaled[k] for k in range(out_c)]
    else:
        tiles = [scaled[k, c : c + 1] for k in range(out_c) for c in range(in_c)]
    rows, cols = _grid(len(tiles), cols=in_c if in_c != 3 and in_c <= 16 else None)
    size = 0.55 if len(tiles) > 32 else 0.9
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size + 0.4, rows * size + 0.8), dpi=120, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, tile in zip(axes.flat, tiles):
        _show(ax, tile)
        ax.axis("on")
        for side in ax.spines.values():
            side.set_visible(False)
    fig.suptitle(title, fontsize=10)
    save(fig, path, bbox_inches="tight")
    return low, high


def feature_maps(maps: torch.Tensor, path: str | Path, title: str) -> None:
    """One layer's feature maps for one image, each scaled to its own range, in a grid."""
    maps = maps.detach().float().cpu()
    rows, cols = _grid(len(maps))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5 + 0.4, rows * 1.6 + 0.7), dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (ax, m) in enumerate(zip(axes.flat, maps)):
        lo, hi = m.min(), m.max()
        ax.imshow(((m - lo) / max(hi - lo, 1e-12)).numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"map {k}", fontsize=7)
    fig.suptitle(title, fontsize=10)
    save(fig, path, bbox_inches="tight")


def receptive_field(
    image: torch.Tensor, boxes: list[tuple[int, int, int, int]], labels: list[str], path: str | Path, title: str
) -> None:
    """Receptive fields (x0, y0, x1, y1 in input pixels, inclusive, possibly outside the image) drawn on the image."""
    fig, ax = plt.subplots(figsize=(5, 5.3), dpi=110)
    _show(ax, image)
    h, w = image.shape[1:]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, ((x0, y0, x1, y1), label) in enumerate(zip(boxes, labels)):
        colour = colours[k % len(colours)]
        ax.add_patch(
            Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, edgecolor=colour, linewidth=2, label=label)
        )
    ax.set_xlim(-0.5 - 0.15 * w, w - 0.5 + 0.15 * w)
    ax.set_ylim(h - 0.5 + 0.15 * h, -0.5 - 0.15 * h)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, ncol=1, frameon=False)
    ax.set_title(title, fontsize=10)
    save(fig, path, bbox_inches="tight")


def receptive_field_on_axes(
    sizes: tuple[int, ...], spans: list[list[tuple[int, int]]], labels: list[str], path: str | Path, title: str
) -> None:
    """Receptive fields of a sequence (one axis) or a volume (depth, height, width) drawn on the input's grid.

    ``spans`` holds, per unit, the (first, last) input position it sees on each axis. A sequence is
    drawn as a band with each field as a bar; a volume as its height×width plane with each field as
    a box, the frames it spans in the legend.
    """
    fig, ax = plt.subplots(figsize=(6, 2.6 if len(sizes) == 1 else 5.3), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(sizes) == 1:
        (n,) = sizes
        ax.add_patch(Rectangle((-0.5, -0.5), n, 1, facecolor="#e0e0e0", edgecolor="black", label=f"input: {n} positions"))
        for k, ((a, b), label) in enumerate(zip((s[0] for s in spans), labels)):
            y = 0.75 + 0.45 * k
            ax.add_patch(Rectangle((a - 0.5, y), b - a + 1, 0.3, color=colours[k % len(colours)], label=label))
        ax.set_xlim(-0.5 - 0.1 * n, n - 0.5 + 0.1 * n)
        ax.set_ylim(-0.8, 1.4 + 0.45 * len(spans))
        ax.set_yticks([])
        ax.set_xlabel("length (input positions)")
    else:
        h, w = sizes[-2:]
        ax.add_patch(Rectangle((-0.5, -0.5), w, h, facecolor="#e0e0e0", edgecolor="black", label=f"input plane: {h}×{w}"))
        for k, (span, label) in enumerate(zip(spans, labels)):
            (y0, y1), (x0, x1) = span[-2:]
            colour = colours[k % len(colours)]
            ax.add_patch(
                Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, edgecolor=colour, linewidth=2, label=label)
            )
        ax.set_xlim(-0.5 - 0.15 * w, w - 0.5 + 0.15 * w)
        ax.set_ylim(h - 0.5 + 0.15 * h, -0.5 - 0.15 * h)
        ax.set_xlabel("width")
        ax.set_ylabel("height")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(sizes) == 1 else -0.1), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    save(fig, path, bbox_inches="tight")


def augmentations(
    original: torch.Tensor, singles: list[tuple[str, torch.Tensor]], composed: list[torch.Tensor], path: str | Path, title: str
) -> None:
    """Top: the image and each elementary transform on its own (Figure 9); below: random compositions (Figure 10)."""
    top = [("original", original), *singles]
    cols = max(len(top), min(6, len(composed)) or 1)
    rows_below = math.ceil(len(composed) / cols) if composed else 0
    fig, axes = plt.subplots(1 + rows_below, cols, figsize=(cols * 1.7, (1 + rows_below) * 1.9 + 0.5), dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, image) in zip(axes[0], top):
        _show(ax, image)
        ax.axis("on")
        ax.set_title(name, fontsize=8)
    for k, image in enumerate(composed):
        ax = axes[1 + k // cols, k % cols]
        _show(ax, image)
        ax.axis("on")
        ax.set_title(f"random {k + 1}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    save(fig, path, bbox_inches="tight")
