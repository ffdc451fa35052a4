"""Grad-CAM exactly as the introductory text defines it, with a score on data whose objects are boxed.

Run in evaluation mode, take the class score y^c before any softmax, backpropagate
it to the feature maps A of the target layer, average each map's gradient
(α_k^c = mean_ij ∂y^c/∂A^k_ij) and keep the positive part of Σ_k α_k^c A^k.
No hooks are registered: the target layer's output is read from ``forward_all``,
so nothing can leak from one call to the next.

A map kept channels last (Swin's H×W×C) has its channels put first: the analysis follows their axis through
permutes (``analysis.layout``), so no hand-written permute is needed either.

A transformer's tokens are explained on their grid: the static analysis knows which tokens are the
positions of a flattened map (``LayerInfo.rf_grid``), so the N×D output of a layer such as a ViT's
norm is laid back as D maps on the H×W grid, the class token left out, with no hand-written reshape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from archspec.analysis.layout import channel_axes
from archspec.analysis.report import LayerInfo, Report
from archspec.analysis.token_grid import TokenGrid
from archspec.errors import ArchspecError
from archspec.graph import INPUT, layer_mark
from archspec.layers import fmt_shape
from archspec.runtime.build import SpecModule


class GradCamError(ArchspecError):
    """No usable target layer."""


def default_layer(report: Report) -> str:
    """The last layer with a spatial output before the spatial layout ends (flatten, global or 1×1 pooling);
    in a network of tokens on a grid, the tokens that the last token-mixing layer reads (a ViT's last ln_1)."""
    tokens = _last_tokens_mixed(report)
    if tokens is not None:
        return tokens
    spatial = None
    channels = channel_axes(report)
    for info in report.layers:
        shape = info.output_shape
        if (
            shape is not None
            and _spatial(shape)
            and any(n > 1 for a, n in enumerate(shape) if a != (channels.get(info.name) or 0))
        ):
            spatial = info.name
        elif spatial is not None and any(i == spatial for i in info.inputs):
            return spatial  # the first layer reading it ends the spatial part
    if spatial is None:
        raise GradCamError("the network has no layer with a spatial output (C×L, C×H×W or C×D×H×W) to explain")
    return spatial


def _last_tokens_mixed(report: Report) -> str | None:
    """The last layer with tokens on a grid that feeds a layer mixing its tokens (attention); else the last layer
    with tokens on a grid; None when there are none. After the last attention only the class token reaches the
    score, so the patch tokens' gradients there would be zero: its input is where the grid still matters."""
    mixed, gridded = None, None
    for info in report.layers:
        if token_grid(info) is not None:
            gridded = info.name
        if info.layer is None or info.output_shape is None:
            continue
        ins = [report.input_shape if i == INPUT else report.layer(i).output_shape for i in info.inputs]
        shapes = [s for s in ins if s is not None]
        for name in info.inputs:
            source = report.get(name)
            grid = token_grid(source) if source is not None else None
            if grid is not None and len(shapes) == len(ins) and grid.axis in (info.layer.mixed_axes(shapes) or ()):
                mixed = name
    return mixed or gridded


def token_grid(info: LayerInfo) -> TokenGrid | None:
    """The grid of a layer whose output is tokens × features (or features × tokens) on a grid of positions."""
    shape = info.output_shape
    return info.rf_grid if shape is not None and len(shape) == 2 and info.rf_grid is not None else None


def _spatial(shape: tuple[int, ...] | None) -> bool:
    """A feature map: channels and one to three spatial axes."""
    return shape is not None and 2 <= len(shape) <= 4


def check_layer(report: Report, layer: str) -> None:
    """The layer exists and has feature maps with the input's axes, or tokens on a grid of them."""
    info = report.get(layer)
    if info is None:
        from archspec.spec.locate import suggest

        guess = suggest(layer, [i.name for i in report.layers])
        raise GradCamError(f"no layer `{layer}`" + (f" — did you mean `{guess}`?" if guess else ""))
    if token_grid(info) is not None:
        return
    if not _spatial(info.output_shape) or len(info.output_shape) != len(report.input_shape):  # type: ignore[arg-type]
        shown = fmt_shape(info.output_shape) if info.output_shape is not None else "unknown"
        raise GradCamError(
            f"{_where(report, layer)}layer `{layer}` has no spatial output ({shown}) and no tokens on a grid; "
            "Grad-CAM needs feature maps with the input's axes, or tokens of a map's positions" + _instead(report)
        )


def _where(report: Report, layer: str) -> str:
    """``path:line:column: `` of the layer in its spec, when the report has a spec file."""
    spec = report.spec
    if spec is None or not hasattr(spec, "source"):
        return ""
    mark = layer_mark(spec, layer)
    return f"{spec.path}:{mark.line}:{mark.column}: "


def _instead(report: Report) -> str:
    try:
        return f" (the default here: `{default_layer(report)}`)"
    except GradCamError:
        return ""


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
        grid = token_grid(report.layer(layer)) if layer != INPUT else None
        if grid is not None:  # tokens: D maps on the grid, the other tokens (a class token) left out
            features, grads = on_grid(features, grid), on_grid(grads, grid)
        elif (channels := channel_axes(report).get(layer)) not in (None, 0):  # channels last (Swin): put them first
            features, grads = features.movedim(channels + 1, 1), grads.movedim(channels + 1, 1)
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


def on_grid(tokens: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """A batch of N×D tokens (or D×N) as D maps on the grid, B×D×H×W, leaving out the tokens that are not
    positions of the grid (as pytorch-grad-cam's hand-written ``reshape_transform`` does for a ViT)."""
    if grid.axis == 1:
        tokens = tokens.transpose(1, 2)  # features × tokens: the tokens first
    positions = tokens[:, grid.before : grid.before + grid.positions]
    return positions.transpose(1, 2).reshape(len(tokens), -1, *grid.sizes)


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
