"""Token grids: a map's positions flattened into one axis of tokens, as a ViT makes its patches.

A reshape that merges the spatial axes of a map into one axis, in row-major order (C×H×W → C×HW),
regroups positions without losing any: token t is position (t // W, t % W). ``TokenGrid`` keeps that
layout, with the tokens joined in front of the grid or behind it that see no input position (a learned
class token), so receptive fields can go on per grid axis (analysis/receptive_field.py) and Grad-CAM
can lay tokens back on the grid. This module is the layout arithmetic only; fields are not its business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from archspec.arith import product

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TokenGrid:
    """The spatial positions ``sizes`` (H×W, or L, or D×H×W) flattened row-major into tensor axis ``axis``,
    after ``before`` tokens and before ``after`` tokens that are not positions of the grid.

    >>> grid = TokenGrid(axis=0, sizes=(14, 14), before=1)   # ViT-B/16's 197 tokens: the class token, then 14×14
    >>> grid.tokens, grid.token((0, 0)), grid.token((1, 2)), grid.axes
    (197, 1, 17, (0, 0))
    """

    axis: int
    sizes: tuple[int, ...]
    before: int = 0
    after: int = 0

    @property
    def positions(self) -> int:
        return product(self.sizes)

    @property
    def tokens(self) -> int:
        """The length of the token axis: the grid's positions and the other tokens."""
        return self.before + self.positions + self.after

    @property
    def axes(self) -> tuple[int, ...]:
        """Where each spatial axis lies in the tensor: all on the token axis."""
        return (self.axis,) * len(self.sizes)

    def token(self, position: Sequence[int]) -> int:
        """The index on the token axis of a grid position (one index per spatial axis)."""
        index = 0
        for p, n in zip(position, self.sizes):
            index = index * n + p
        return self.before + index


def merged(old: Shape, new: Shape, axes: tuple[int, ...]) -> TokenGrid | None:
    """The grid a reshape from ``old`` to ``new`` makes of spatial axes lying on tensor axes ``axes``: when
    they lie next to each other in order and the reshape merges exactly them into one axis (other axes kept).

    >>> merged((768, 14, 14), (768, 196), (1, 2))
    TokenGrid(axis=1, sizes=(14, 14), before=0, after=0)
    >>> merged((768, 14, 14), (768, 14, 14), (1, 2)), merged((8, 4, 4), (4, 32), (1, 2)), merged((8, 4, 4), (8, 16), (2, 1))
    (None, None, None)
    """
    if len(axes) < 2:
        return None
    first, k = axes[0], len(axes)
    if axes != tuple(range(first, first + k)):
        return None  # not next to each other in row-major order (a transpose of height and width first)
    block = old[first : first + k]
    if new[:first] != old[:first] or new[first + 1 :] != old[first + k :] or len(new) <= first or new[first] != product(block):
        return None
    return TokenGrid(first, tuple(block))


def unflattened(grid: TokenGrid, old: Shape, new: Shape) -> tuple[int, ...] | None:
    """Where the spatial axes lie when a reshape from ``old`` to ``new`` splits a token axis that holds nothing but
    the grid back into the grid's axes (the other axes kept); None when it does not.

    >>> unflattened(TokenGrid(1, (14, 14)), (768, 196), (768, 14, 14)), unflattened(TokenGrid(1, (14, 14), 1), (768, 197), (768, 197))
    ((1, 2), None)
    """
    a, k = grid.axis, len(grid.sizes)
    if grid.before or grid.after or new[:a] != old[:a] or new[a + k :] != old[a + 1 :] or new[a : a + k] != grid.sizes:
        return None
    return tuple(range(a, a + k))


def joined(grid: TokenGrid, lengths_before: int, lengths_after: int) -> TokenGrid:
    """The grid after other tokens are joined to its token axis, ``lengths_before`` in front and ``lengths_after`` behind."""
    return replace(grid, before=grid.before + lengths_before, after=grid.after + lengths_after)


def kept(grid: TokenGrid, positions: range) -> TokenGrid | None:
    """The grid when only ``positions`` of the token axis are kept: the same grid, less other tokens, when the
    positions hold all of it in order; else None.

    >>> kept(TokenGrid(0, (2, 2), 1), range(1, 5)), kept(TokenGrid(0, (2, 2), 1), range(0, 3))
    (TokenGrid(axis=0, sizes=(2, 2), before=0, after=0), None)
    """
    start, stop = grid.before, grid.before + grid.positions
    if positions.step == 1 and positions.start <= start and stop <= positions.stop:
        return replace(grid, before=start - positions.start, after=positions.stop - stop)
    return None


def touches(grid: TokenGrid, positions: range) -> bool:
    """Do ``positions`` of the token axis include a position of the grid (not only a class token)?

    >>> touches(TokenGrid(0, (2, 2), 1), range(0, 1)), touches(TokenGrid(0, (2, 2), 1), range(0, 3))
    (False, True)
    """
    return any(grid.before <= p < grid.before + grid.positions for p in positions)
