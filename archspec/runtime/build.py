"""Lowering a spec to a torch module whose forward follows the layer graph.

Each layer becomes a submodule registered under its spec name, nested at the dots
(``layer1.0.conv1``), so ``state_dict`` keys read like torchvision's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import cast

import torch
from torch import nn

from archspec.analysis import Report, analyze
from archspec.errors import ArchspecError
from archspec.graph import INPUT
from archspec.layers import Shape
from archspec.spec import Spec


class SpecModule(nn.Module):
    """A spec as an ``nn.Module``: ``forward(x)`` gives the output layer, ``forward_all(x)`` every layer."""

    def __init__(self, report: Report):
        super().__init__()
        self.report = report
        self.output_name = report.output
        # lowered from a report without errors: every layer validated, every output shape known
        shapes = cast(dict[str, Shape], {INPUT: report.input_shape, **{i.name: i.output_shape for i in report.layers}})
        steps = []
        for info in report.layers:
            layer = info.layer
            assert layer is not None
            module = layer.lower([shapes[i] for i in info.inputs])
            if layer.init is not None:
                layer.init.apply(module)
            if not layer.trainable:
                module.requires_grad_(False)
            self._register(info.name, module)
            steps.append((info.name, module, tuple(info.inputs)))
        self._steps = steps
        self._drops = _last_uses(steps, self.output_name)
        # training feeds logits to the loss: a final output activation (softmax) stays for inference only
        last = report.layer(self.output_name)
        self.logits_name = last.inputs[0] if last.layer is not None and last.layer.output_activation else self.output_name
        self._logit_steps = steps[: [n for n, _, _ in steps].index(self.logits_name) + 1] if self.logits_name != INPUT else []
        self._logit_drops = _last_uses(self._logit_steps, self.logits_name)

    def _register(self, dotted: str, module: nn.Module) -> None:
        parent: nn.Module = self
        *path, leaf = dotted.split(".")
        for part in path:
            child = parent._modules.get(part)
            if child is None:
                child = nn.Module()  # a plain container for a block instance
                parent.add_module(part, child)
            parent = child
        adopt = getattr(module, "adopt", None)
        if adopt is not None:  # a learned tensor: kept on the parent under the layer's own name, as torchvision keys it
            adopt(parent, leaf)
            return
        parent.add_module(leaf, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(x, self._steps, self._drops, self.output_name)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output before a final softmax (what cross-entropy wants); ``forward`` when there is none."""
        return _run(x, self._logit_steps, self._logit_drops, self.logits_name)

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output by layer name (in topological order)."""
        values = {INPUT: x}
        for name, module, inputs in self._steps:
            values[name] = module(*[values[i] for i in inputs])
        del values[INPUT]
        return values

    def layer_modules(self) -> Iterable[tuple[str, nn.Module]]:
        """(layer name, module) in topological order."""
        return ((name, module) for name, module, _ in self._steps)

    def extra_repr(self) -> str:
        return f"spec={self.report.name!r}, input={list(self.report.input_shape)}"


def _run(x: torch.Tensor, steps, drops, output: str) -> torch.Tensor:
    values = {INPUT: x}
    for (name, module, inputs), done in zip(steps, drops):
        values[name] = module(*[values[i] for i in inputs])
        for value in done:  # free activations nobody reads any more
            del values[value]
    return values[output]


def _last_uses(steps, output: str) -> list[tuple[str, ...]]:
    """After step k, the values no later step (nor the output) reads."""
    last: dict[str, int] = {}
    for k, (name, _, inputs) in enumerate(steps):
        last.setdefault(name, k)  # produced but maybe never read: drop right away
        for i in inputs:
            last[i] = k
    last.pop(output, None)
    drops: list[list[str]] = [[] for _ in steps]
    for value, k in last.items():
        drops[k].append(value)
    return [tuple(d) for d in drops]


class MemoryRefused(ArchspecError):
    """The static estimate says the model (or its training) would not fit in the device's memory."""


def available_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (None when unknown, e.g. meta or mps)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def refuse_if_too_big(needed: int, device: torch.device, what: str) -> None:
    """Raise MemoryRefused when ``needed`` bytes exceed what ``device`` has free."""
    free = available_memory(device)
    if free is not None and needed > free:
        raise MemoryRefused(
            f"{what} needs about {_size(needed)} but {device} has {_size(free)} available "
            "(archspec's static estimate); pass force=True (--force-memory) to try anyway"
        )


def _size(n: int) -> str:
    from archspec.render.numbers import size

    return size(n)


def build(spec: Spec | Report, device: str | torch.device | None = None, force: bool = False) -> SpecModule:
    """Lower a spec (or its report) to a SpecModule, constructed on ``device`` (e.g. "meta").

    A model whose parameters and buffers alone exceed the device's free memory is refused
    (before anything is allocated) unless ``force``.
    """
    report = spec if isinstance(spec, Report) else analyze(spec)
    target = torch.device(device) if device is not None else torch.device("cpu")
    if not force and target.type != "meta":
        totals = report.totals()
        refuse_if_too_big(totals["param_bytes"] + totals["buffer_bytes"], target, f"`{report.name}`'s parameters and buffers")
    if device is None:
        return SpecModule(report)
    with torch.device(device):
        return SpecModule(report)
