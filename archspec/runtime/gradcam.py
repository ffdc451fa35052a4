"""Grad-CAM exactly as the introductory text defines it, with a score on data whose objects are boxed.

Run in evaluation mode, take the class score y^c before any softmax, backpropagate
it to the feature maps A of the target layer, average each map's gradient
(α_k^c = mean_ij ∂y^c/∂A^k_ij) and keep the positive part of Σ_k α_k^c A^k.
No hooks are registered: the target layer's output is read from ``forward_all``,
so nothing can leak from one call to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from archspec.analysis.report import Report
from archspec.errors import ArchspecError
from archspec.graph import INPUT
from archspec.runtime.build import SpecModule


class GradCamError(ArchspecError):
    """No usable target layer."""


def default_layer(report: Report) -> str:
    """The last layer with a spatial output before the spatial layout ends (flatten, global or 1×1 pooling)."""
    spatial = None
    for info in report.layers:
        if _spatial(info.output_shape) and any(n > 1 for n in info.output_shape[1:]):  # type: ignore[index]
            spatial = info.name
        elif spatial is not None and any(i == spatial for i in info.inputs):
            return spatial  # the first layer reading it ends the spatial part
    if spatial is None:
        raise GradCamError("the network has no layer with a spatial output (C×L, C×H×W or C×D×H×W) to explain")
    return spatial


def _spatial(shape: tuple[int, ...] | None) -> bool:
    """A feature map: channels and one to three spatial axes."""
    return shape is not None and 2 <= len(shape) <= 4


def check_layer(report: Report, layer: str) -> None:
    info = report.get(layer)
    if info is None:
        from archspec.spec.locate import suggest

        guess = suggest(layer, [i.name for i in report.layers])
        raise GradCamError(f"no layer `{layer}`" + (f" — did you mean `{guess}`?" if guess else ""))
    if not _spatial(info.output_shape) or len(info.output_shape) != len(report.input_shape):  # type: ignore[arg-type]
        raise GradCamError(
            f"layer `{layer}` has no spatial output ({info.output_shape}); Grad-CAM needs feature maps with the input's axes"
        )


_RESIZE = {1: "linear", 2: "bilinear", 3: "trilinear"}  # interpolation by number of spatial axes


@dataclass
class Cam:
    maps: torch.Tensor  # N×h×w (N×l, N×d×h×w), at the target layer's resolution, ReLU(Σ α A)
    upsampled: torch.Tensor  # N×H×W (N×L, N×D×H×W) at the input resolution, each scaled to [0, 1]
    classes: torch.Tensor  # N, the class explained
    scores: torch.Tensor  # N, its probability
    layer: str


def gradcam(model: SpecModule, x: torch.Tensor, layer: str | None = None, classes: torch.Tensor | int | None = None) -> Cam:
    """Grad-CAM of ``classes`` (default: each image's top class) at ``layer`` (default: the last spatial layer)."""
    report = model.report
    layer = layer or default_layer(report)
    check_layer(report, layer)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            outs = model.forward_all(x)
            features = outs[layer] if layer != INPUT else x
            logits = outs[model.logits_name]
            if classes is None:
                classes = logits.argmax(1)
            elif isinstance(classes, int):
                classes = torch.full((len(x),), classes, dtype=torch.long, device=x.device)
            score = logits.gather(1, classes.view(-1, 1).to(logits.device)).sum()  # y^c, summed over the batch
            (grads,) = torch.autograd.grad(score, features)
        space = tuple(range(2, features.dim()))  # the spatial axes, of any rank
        alpha = grads.mean(dim=space, keepdim=True)  # α_k^c
        maps = F.relu((alpha * features).sum(dim=1)).detach()
        up = F.interpolate(maps[:, None], size=tuple(x.shape[2:]), mode=_RESIZE[len(space)], align_corners=False)[:, 0]
        top = up.flatten(1).max(dim=1).values.clamp_min(1e-12)
        upsampled = up / top.view(-1, *[1] * len(space))
        probs = logits.detach().softmax(1).gather(1, classes.view(-1, 1)).flatten()
    finally:
        model.train(was_training)
    return Cam(maps, upsampled, classes.detach(), probs, layer)


def box_scores(heat: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: does the heat map's maximum fall in the box (pointing game), and the share of heat inside it."""
    n, h, w = heat.shape
    ys = torch.arange(h, device=heat.device).view(1, h, 1)
    xs = torch.arange(w, device=heat.device).view(1, 1, w)
    b = boxes.to(heat.device).view(n, 4, 1, 1)
    inside = (xs >= b[:, 0]) & (xs <= b[:, 2]) & (ys >= b[:, 1]) & (ys <= b[:, 3])
    peak = heat.flatten(1).argmax(dim=1)
    hit = inside.flatten(1).gather(1, peak.view(-1, 1)).flatten()
    share = (heat * inside).flatten(1).sum(1) / heat.flatten(1).sum(1).clamp_min(1e-12)
    return hit.float(), share


@torch.no_grad()
def evaluate_boxes(
    model: SpecModule, images, boxes, labels, mean, std, layer: str | None = None, batch: int = 128, seed: int = 0
) -> dict:
    """Pointing game and heat-in-box on boxed data, for the true class, against a uniform-random heat map."""
    from archspec.runtime.augment import normalise

    hits, shares, random_hits, random_shares = [], [], [], []
    g = torch.Generator().manual_seed(seed)
    used = None
    for start in range(0, len(images), batch):
        x = normalise(images[start : start + batch], mean, std)
        cam = gradcam(model, x, layer, labels[start : start + batch])
        used = cam.layer
        hit, share = box_scores(cam.upsampled, boxes[start : start + batch])
        hits.append(hit)
        shares.append(share)
        noise = torch.rand(cam.upsampled.shape, generator=g)
        hit, share = box_scores(noise, boxes[start : start + batch])
        random_hits.append(hit)
        random_shares.append(share)
    mean_of = lambda parts: torch.cat(parts).mean().item()  # noqa: E731
    return {
        "layer": used,
        "images": len(images),
        "class": "true",
        "pointing_game": mean_of(hits),
        "heat_in_box": mean_of(shares),
        "random_pointing_game": mean_of(random_hits),
        "random_heat_in_box": mean_of(random_shares),
    }
