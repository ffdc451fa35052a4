"""Small torch modules for kinds that torch.nn has no module for.

Imported only inside ``lower()`` methods: the static core never imports torch.
"""

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


class GlobalPool(nn.Module):
    """Mean or maximum over the spatial axes ``dims``: N×C×… → N×C."""

    def __init__(self, reduce: str, dims: tuple[int, ...]):
        super().__init__()
        self.reduce = reduce
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims) if self.reduce == "mean" else x.amax(dim=self.dims)

    def extra_repr(self) -> str:
        return f"{self.reduce} over dims {self.dims}"
