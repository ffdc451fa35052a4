"""An independent reading of spec dicts in torch, used as the oracle of the property tests.

It does not use archspec: each layer dict becomes the torch.nn module a PyTorch
user would write, sized from the actual incoming tensor, and runs in list order.
Its figures (output shapes, parameter and buffer counts, FLOPs/2) are torch's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leakyrelu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def module_for(fields: dict, xs: list[torch.Tensor]) -> nn.Module:
    t = fields["type"]
    x = xs[0]
    if t == "conv2d":
        c = x.shape[1]
        groups = c if fields.get("groups") == "depthwise" else fields.get("groups", 1)
        k = fields["kernel_size"]
        return nn.Conv2d(
            c,
            fields["out_channels"],
            tuple(k) if isinstance(k, list) else k,
            stride=fields.get("stride", 1),
            padding=fields.get("padding", 0),
            dilation=fields.get("dilation", 1),
            groups=groups,
            bias=fields.get("bias", True),
        )
    if t == "maxpool2d":
        return nn.MaxPool2d(
            fields["kernel_size"],
            fields.get("stride"),
            fields.get("padding", 0),
            fields.get("dilation", 1),
            ceil_mode=fields.get("ceil_mode", False),
        )
    if t == "avgpool2d":
        return nn.AvgPool2d(
            fields["kernel_size"],
            fields.get("stride"),
            fields.get("padding", 0),
            ceil_mode=fields.get("ceil_mode", False),
            count_include_pad=fields.get("count_include_pad", True),
        )
    if t == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(fields["output_size"])
    if t == "globalavgpool2d":
        return Lambda(lambda x: x.mean(dim=(2, 3)))
    if t == "batchnorm2d":
        return nn.BatchNorm2d(x.shape[1], affine=fields.get("affine", True))
    if t == "localresponsenorm":
        return nn.LocalResponseNorm(fields["size"], k=fields.get("k", 1.0))
    if t == "dropout":
        return nn.Dropout(fields.get("p", 0.5))
    if t == "dropout2d":
        return nn.Dropout2d(fields.get("p", 0.5))
    if t in ACTIVATIONS:
        return ACTIVATIONS[t]()
    if t == "flatten":
        return nn.Flatten()
    if t == "linear":
        return nn.Linear(x.shape[-1], fields["out_features"])
    if t == "identity":
        return nn.Identity()
    if t == "add":
        return Lambda(lambda *xs: sum(xs[1:], xs[0]))
    if t == "concat":
        return Lambda(lambda *xs: torch.cat(xs, dim=1))
    raise KeyError(t)


@dataclass
class Run:
    figures: dict[str, dict] = field(default_factory=dict)  # layer -> output_shape, params, buffers, macs
    failed_at: str | None = None
    error: str = ""


def run(spec: dict, device: str = "meta") -> Run:
    """Every layer's figures as torch computes them, on ``device``; stops at the first layer torch refuses."""
    result = Run()
    values = {"input": torch.empty((1, *spec["input"]), device=device)}
    previous = "input"
    for index, fields in enumerate(spec["layers"]):
        name, inputs = _name_and_inputs(fields, index, previous)
        xs = [values[i] for i in inputs]
        try:
            with torch.device(device):
                module = module_for(fields, xs).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                y = module(*xs)
            if y.numel() == 0:
                raise RuntimeError("empty output")
        except Exception as exc:  # torch refuses this layer: the spec is invalid here
            result.failed_at, result.error = name, f"{type(exc).__name__}: {exc}"
            return result
        values[name] = y
        result.figures[name] = {
            "output_shape": tuple(y.shape[1:]),
            "params": sum(p.numel() for p in module.parameters()),
            "buffers": sum(b.numel() for b in module.buffers()),
            "macs": counter.get_total_flops() // 2,
        }
        previous = name
    return result


def _name_and_inputs(fields: dict, index: int, previous: str) -> tuple[str, list[str]]:
    """A layer's name (anonymous layers get a private one) and its inputs (default: the previous layer)."""
    name = fields.get("name")
    inputs = fields.get("inputs") or previous
    return (name if isinstance(name, str) else f"#{index}"), ([inputs] if isinstance(inputs, str) else list(inputs))


def transparent_forward(spec: dict, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of a version of the network whose every input pixel in a window reaches the output.

    Max and average pools become sums over the same windows (a depthwise conv of ones,
    padded on the right as far as ceil_mode reaches), so gradients flow to every
    position of every window; weights are positive so nothing cancels.
    """
    values = {"input": x}
    previous = "input"
    for index, fields in enumerate(spec["layers"]):
        name, inputs = _name_and_inputs(fields, index, previous)
        xs = [values[i] for i in inputs]
        module = module_for(fields, xs).to(x.dtype).eval()
        if fields["type"] in ("maxpool2d", "avgpool2d"):
            y = _window_sum(module, xs[0], fields)
        else:
            for p in module.parameters():
                with torch.no_grad():
                    p.fill_(1.0 / max(1, p[0].numel()) if p.dim() > 1 else 0.01)
            y = module(*xs)
        values[name] = y
        previous = name
    return values


def _window_sum(pool: nn.Module, x: torch.Tensor, fields: dict) -> torch.Tensor:
    with torch.no_grad():
        out_h, out_w = pool(x).shape[2:]  # torch decides the output size, ceil_mode included
    k = fields["kernel_size"]
    s = fields.get("stride") or k
    p = fields.get("padding", 0)
    d = fields.get("dilation", 1)
    c = x.shape[1]
    span = d * (k - 1) + 1
    extra_h = max(0, (out_h - 1) * s + span - (x.shape[2] + 2 * p))
    extra_w = max(0, (out_w - 1) * s + span - (x.shape[3] + 2 * p))
    padded = F.pad(x, (p, p + extra_w, p, p + extra_h))
    ones = torch.ones((c, 1, k, k), dtype=x.dtype)
    y = F.conv2d(padded, ones, stride=s, dilation=d, groups=c) / (k * k)
    return y[:, :, :out_h, :out_w]
