"""Pure size and receptive-field arithmetic, one axis at a time.

These are the formulas of the PyTorch documentation for Conv2d / MaxPool2d /
AvgPool2d / AdaptiveAvgPool2d, and of Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019, for receptive fields.
Everything here works on Python ints, so huge sizes never overflow.
"""

from __future__ import annotations

from typing import NamedTuple


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Span of a dilated kernel.

    >>> effective_kernel(3)
    3
    >>> effective_kernel(3, dilation=2)
    5
    """
    return dilation * (kernel - 1) + 1


def window_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a sliding window (convolution or pooling) along one axis.

    ``padding`` is the padding on each side. With ``ceil_mode`` a last, partial
    window is kept, unless it would start inside the right padding (as PyTorch does).

    >>> window_output_size(64, 3, padding=1)          # the seed's 3x3 convolutions
    64
    >>> window_output_size(64, 2, stride=2)           # the seed's 2x2 max-pooling
    32
    >>> window_output_size(224, 11, stride=4, padding=2)  # AlexNet's first layer
    55
    >>> window_output_size(5, 2, stride=2), window_output_size(5, 2, stride=2, ceil_mode=True)
    (2, 3)
    >>> window_output_size(2, 5)                      # a window larger than its input
    -2
    """
    span = size + 2 * padding - effective_kernel(kernel, dilation)
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def dropped_by_window(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """How many input positions at the far end no window ever reads.

    >>> dropped_by_window(5, 2, stride=2)       # 5 rows, 2x2 pooling: the last row is lost
    1
    >>> dropped_by_window(64, 2, stride=2)
    0
    >>> dropped_by_window(224, 7, stride=2, padding=3)
    0
    """
    out = window_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    if out <= 0:
        return 0
    last_read = (out - 1) * stride + effective_kernel(kernel, dilation) - 1 - padding  # in input coordinates
    return max(0, size - 1 - last_read)


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that keeps the size at stride 1, as ``padding='same'`` in PyTorch.

    >>> same_padding(3), same_padding(4), same_padding(3, dilation=2)
    ((1, 1), (1, 2), (2, 2))
    """
    total = effective_kernel(kernel, dilation) - 1
    return total // 2, total - total // 2


def adaptive_window(size: int, out: int) -> int | None:
    """Kernel (= stride) of an adaptive pool when all its windows are equal, else None.

    PyTorch's window i covers [floor(i*size/out), ceil((i+1)*size/out)).

    >>> adaptive_window(14, 7), adaptive_window(6, 6), adaptive_window(7, 1), adaptive_window(13, 6)
    (2, 1, 7, None)
    """
    return size // out if size % out == 0 else None


class RF(NamedTuple):
    """Receptive field along one axis: size r, effective stride S, effective padding P.

    The first output unit sees input positions -P ... -P + r - 1 (Distill 2019);
    unit i sees -P + i*S ... -P + i*S + r - 1.
    """

    size: int
    stride: int
    padding: int

    @property
    def center(self) -> float:
        """Centre of the first unit's field, in input coordinates."""
        return -self.padding + (self.size - 1) / 2

    def through(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> "RF":
        """The field after one more sliding-window layer.

        >>> RF(1, 1, 0).through(3).through(4).through(2, stride=2)   # the seed's Figure 11
        RF(size=7, stride=2, padding=0)
        >>> RF(1, 1, 0).through(7, 2, 3).through(3, 2, 1)             # ResNet stem
        RF(size=11, stride=4, padding=5)
        """
        return RF(
            self.size + (effective_kernel(kernel, dilation) - 1) * self.stride,
            self.stride * stride,
            self.padding + padding * self.stride,
        )

    @staticmethod
    def union(fields: list["RF"]) -> "RF":
        """Field of a unit that merges several paths (add, concat): the span of all of them.

        Callers check first that the strides agree.

        >>> RF.union([RF(3, 1, 1), RF(1, 1, 0)])
        RF(size=3, stride=1, padding=1)
        >>> RF.union([RF(5, 2, 2), RF(3, 2, 0)])
        RF(size=5, stride=2, padding=2)
        """
        start = min(-f.padding for f in fields)
        end = max(-f.padding + f.size - 1 for f in fields)
        return RF(end - start + 1, fields[0].stride, -start)


INITIAL_RF = RF(1, 1, 0)


def product(values) -> int:
    """Product of ints (1 for none), exact at any size.

    >>> product((3, 64, 64)), product(())
    (12288, 1)
    """
    out = 1
    for v in values:
        out *= v
    return out
