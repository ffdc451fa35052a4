"""Number formatting shared by the renderers."""

from __future__ import annotations

from collections.abc import Iterable


def si(n: int | float) -> str:
    """Short decimal magnitude, torchinfo-style.

    >>> si(757760), si(4089184256), si(112), si(0)
    ('757.76 K', '4.09 G', '112', '0')
    """
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {unit}"
    return f"{n:g}"


def size(nbytes: int) -> str:
    """Bytes in binary units.

    >>> size(83592), size(512), size(3 * 2**30)
    ('81.63 KiB', '512 B', '3.00 GiB')
    """
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if nbytes >= factor:
            return f"{nbytes / factor:.2f} {unit}"
    return f"{nbytes} B"


def dims(values: Iterable[int] | None) -> str:
    """``(3, 64, 64)`` -> ``3×64×64``; a square pair is written once: ``(3, 3)`` -> ``3``.

    >>> dims((3, 64, 64)), dims((3, 3)), dims((3, 5)), dims(None)
    ('3×64×64', '3', '3×5', '—')
    """
    if values is None:
        return "—"
    values = tuple(values)
    if len(values) == 2 and values[0] == values[1]:
        return str(values[0])
    return "×".join(str(v) for v in values)
