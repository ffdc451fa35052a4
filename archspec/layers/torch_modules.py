"""Small torch modules for kinds that torch.nn has no module for.

Imported only inside ``lower()`` methods: the static core never imports torch.
"""

from __future__ import annotations

import torch
from torch import nn


class _Elementwise(nn.Module):
    """Combines all inputs elementwise, broadcast per sample as numpy does: an input of lower rank gets
    leading axes of size 1 after the batch axis (torch alone would align it with the batch axis)."""

    def __init__(self, rank: int = 0):
        super().__init__()
        self.rank = rank  # of the per-sample result

    def aligned(self, xs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        return [x.reshape(x.shape[0], *[1] * (self.rank + 1 - x.dim()), *x.shape[1:]) for x in xs]


class Add(_Elementwise):
    """Elementwise sum of all inputs (a residual connection)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        first, *rest = self.aligned(xs)
        for x in rest:
            first = first + x
        return first


class Sub(_Elementwise):
    """Elementwise difference of two inputs, the first minus the second."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = self.aligned((a, b))
        return a - b


class Scale(nn.Module):
    """Elementwise product with a constant number."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Pad(nn.Module):
    """Pads each spatial axis by (before, after) positions with F.pad in ``mode`` (``value`` in mode constant)."""

    def __init__(self, sides: tuple[tuple[int, int], ...], mode: str, value: float):
        super().__init__()
        self.sides, self.mode, self.value = sides, mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amounts = [n for pair in reversed(self.sides) for n in pair]  # torch starts from the last axis
        return nn.functional.pad(x, amounts, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self) -> str:
        return f"sides={self.sides}, mode={self.mode!r}, value={self.value}"


class Mul(_Elementwise):
    """Elementwise product of all inputs (a squeeze-and-excitation gate)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        first, *rest = self.aligned(xs)
        for x in rest:
            first = first * x
        return first


class Concat(nn.Module):
    """Concatenation along ``dim`` (batch axis included)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        # a learned tensor (batch axis 1: a class token) joins every sample, as torchvision expands it
        batch = max(x.shape[0] for x in xs)
        return torch.cat([x.expand(batch, *x.shape[1:]) for x in xs], dim=self.dim)

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


class ChannelLayerNorm(nn.LayerNorm):
    """Layer normalisation over the channels at every position of an N×C×… map (ConvNeXt's LayerNorm2d, any rank).

    A subclass of nn.LayerNorm, so its tensors are ``weight`` and ``bias`` as in torchvision's state dicts.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class Permute(nn.Module):
    """Reorders the per-sample axes ``order`` (the batch axis stays first)."""

    def __init__(self, order: tuple[int, ...]):
        super().__init__()
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *(a + 1 for a in self.order))

    def extra_repr(self) -> str:
        return f"order={self.order}"


class Reshape(nn.Module):
    """Gives each sample the shape ``shape``."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Slice(nn.Module):
    """Positions ``start:stop:step`` of dimension ``dim`` (batch axis included)."""

    def __init__(self, dim: int, start: int, stop: int, step: int = 1):
        super().__init__()
        self.dim, self.start, self.stop, self.step = dim, start, stop, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        index[self.dim] = slice(self.start, self.stop, self.step)
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, {self.start}:{self.stop}:{self.step}"


class Select(nn.Module):
    """Position ``index`` of dimension ``dim`` (batch axis included), the dimension removed (torch.select)."""

    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


class ResizeLike(nn.Module):
    """Interpolates the first input to the spatial size of the second (whose values are not read)."""

    def __init__(self, mode: str, align_corners: bool | None):
        super().__init__()
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=like.shape[2:], mode=self.mode, align_corners=self.align_corners)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, align_corners={self.align_corners}"


class Crop(nn.Module):
    """Keeps ``sizes`` positions from ``starts`` on each spatial axis; a second input (lending its size) is ignored."""

    def __init__(self, starts: tuple[int, ...], sizes: tuple[int, ...]):
        super().__init__()
        self.starts, self.sizes = starts, sizes

    def forward(self, x: torch.Tensor, *size_of: torch.Tensor) -> torch.Tensor:
        box = (slice(None), slice(None), *(slice(a, a + n) for a, n in zip(self.starts, self.sizes)))  # batch, channels kept
        return x[box]

    def extra_repr(self) -> str:
        return f"starts={self.starts}, sizes={self.sizes}"


class Mean(nn.Module):
    """Mean over dimensions ``dims`` (batch axis included)."""

    def __init__(self, dims: tuple[int, ...], keepdim: bool = False):
        super().__init__()
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdim}"


class Sum(Mean):
    """Sum over dimensions ``dims`` (batch axis included)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=self.dims, keepdim=self.keepdim)


class LearnedTensor(nn.Module):
    """A learned tensor as a layer's output, with a batch axis of 1 (which add and mul broadcast).

    In a built model ``adopt`` hands the parameter to the enclosing module under the layer's own
    name (``features.1.0.layer_scale``, as torchvision keys it); forward then reads it from there.
    """

    def __init__(self, shape: tuple[int, ...], value: float, batched: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, float(value)))
        self.batched = batched  # stored with its batch axis of 1 already (ViT's class token)
        self._owner: tuple[nn.Module, str] | None = None

    def adopt(self, parent: nn.Module, name: str) -> None:
        parent.register_parameter(name, self._parameters.pop("weight"))
        object.__setattr__(self, "_owner", (parent, name))  # not a submodule: the parent holds the tensor

    def forward(self) -> torch.Tensor:
        tensor = self.weight if self._owner is None else getattr(*self._owner)
        # a copy, not a view: a view of a parameter made under no_grad claims requires_grad without a
        # grad_fn, which torch's module trackers (FlopCounterMode) refuse; the copy is as small as the tensor
        return (tensor if self.batched else tensor.unsqueeze(0)).clone()


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth without torchvision: zero a whole sample ('row') or the whole batch
    ('batch') with probability p in training, scaling survivors by 1/(1-p); identity in evaluation."""

    def __init__(self, p: float, mode: str):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        keep = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        if self.p < 1.0:
            keep.div_(1.0 - self.p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention called as self-attention on one input (query = key = value), the output alone.

    A subclass, so its tensors keep torch's names (``in_proj_weight``, ``out_proj.weight``) and torchvision's
    ViT weights load by name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


class WindowAttention(nn.Module):
    """Shifted-window multi-head self-attention on N×H×W×C maps (Swin), computed in the eager way, with
    torchvision's tensor names (``qkv``, ``proj``, ``relative_position_bias_table`` and the
    ``relative_position_index`` buffer) so its Swin weights load by name."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: tuple[int, int],
        shift: tuple[int, int],
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        proj_bias: bool = True,
    ):
        super().__init__()
        self.num_heads, self.window, self.shift = num_heads, window, shift
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        mh, mw = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * mh - 1) * (2 * mw - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # token t of a window sits at (t // mw, t % mw); a pair's offset (dy, dx), both shifted to start at 0,
        # picks row dy·(2·mw − 1) + dx of the table
        rows, cols = torch.arange(mh * mw) // mw, torch.arange(mh * mw) % mw
        dy = rows[:, None] - rows[None, :] + mh - 1
        dx = cols[:, None] - cols[None, :] + mw - 1
        self.relative_position_index: torch.Tensor
        self.register_buffer("relative_position_index", (dy * (2 * mw - 1) + dx).flatten())

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """N×H×W×C (H, W whole windows) → (N·windows)×T×C, windows in row order, tokens in row order."""
        n, h, w, c = x.shape
        mh, mw = self.window
        x = x.view(n, h // mh, mh, w // mw, mw, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, mh * mw, c)

    def mask(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        """Per window, −100 between tokens that the roll brought together from different parts of the map."""
        region = torch.zeros(h, w, device=device)
        for axis, (size, m, s) in enumerate(zip((h, w), self.window, self.shift)):
            if s:  # three bands along this axis: untouched, the last window's rest, the rolled-in strip
                band = torch.zeros(size, device=device)
                band[size - m : size - s] = 1
                band[size - s :] = 2
                region = region * 3 + (band[:, None] if axis == 0 else band[None, :])
        ids = self.windows(region[None, :, :, None]).squeeze(-1)
        return (ids[:, :, None] != ids[:, None, :]).float() * -100.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        mh, mw = self.window
        ph, pw = -(-h // mh) * mh, -(-w // mw) * mw
        x = nn.functional.pad(x, (0, 0, 0, pw - w, 0, ph - h))
        rolled = any(self.shift)
        if rolled:
            x = torch.roll(x, shifts=(-self.shift[0], -self.shift[1]), dims=(1, 2))
        tokens = self.windows(x)
        b, t, _ = tokens.shape
        heads, d = self.num_heads, c // self.num_heads
        q, k, v = self.qkv(tokens).reshape(b, t, 3, heads, d).permute(2, 0, 3, 1, 4)
        scores = (q * d**-0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index].view(t, t, heads)
        scores = scores + bias.permute(2, 0, 1)
        if rolled:
            scores = (scores.view(n, -1, heads, t, t) + self.mask(ph, pw, x.device)[None, :, None]).view(b, heads, t, t)
        weights = nn.functional.dropout(scores.softmax(dim=-1), self.attention_dropout, self.training)
        out = self.proj((weights @ v).transpose(1, 2).reshape(b, t, c))
        out = nn.functional.dropout(out, self.dropout, self.training)
        out = out.view(n, ph // mh, pw // mw, mh, mw, c).permute(0, 1, 3, 2, 4, 5).reshape(n, ph, pw, c)
        if rolled:
            out = torch.roll(out, shifts=self.shift, dims=(1, 2))
        return out[:, :h, :w].contiguous()

    def extra_repr(self) -> str:
        return f"window={self.window}, shift={self.shift}, num_heads={self.num_heads}"


class PatchMerging(nn.Module):
    """N×H×W×C → N×⌈H/2⌉×⌈W/2⌉×4C: each 2×2 neighbourhood's vectors side by side, (0,0), (1,0), (0,1), (1,1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = nn.functional.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        return torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
