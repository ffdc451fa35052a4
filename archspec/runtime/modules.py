"""Small torch modules for spec operations that torch.nn has no module for."""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """Elementwise sum of all inputs (a residual connection)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Concatenation along ``dim`` (batch axis included)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GlobalAvgPool2d(nn.Module):
    """Mean over height and width: N×C×H×W → N×C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))
