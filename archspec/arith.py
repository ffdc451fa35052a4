"""Pure size and receptive-field arithmetic: per axis, and one window rule over N spatial axes.

These are the formulas of the PyTorch documentation for ConvNd / MaxPoolNd /
AvgPoolNd / AdaptiveAvgPoolNd, and of Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019, for receptive fields.
Everything here works on Python ints, so huge sizes never overflow.

``Window`` is the one rule every sliding-window kind of every rank uses (as ONNX's
``convPoolShapeInference`` serves Conv and every pool): output sizes, the positions
a window never reads, the receptive-field step and the MACs, axis by axis.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def transposed_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a transposed convolution along one axis (PyTorch's ConvTranspose formula).

    Each input position spreads the kernel over the output at ``stride`` steps; ``padding`` trims both
    ends and ``output_padding`` adds positions at the far end.

    >>> transposed_output_size(8, 2, stride=2)                             # U-Net's up-convolution doubles
    16
    >>> transposed_output_size(8, 3, stride=2, padding=1, output_padding=1)
    16
    >>> transposed_output_size(5, 3, padding=1), transposed_output_size(5, 3, dilation=2, output_padding=1)
    (5, 10)
    >>> transposed_output_size(1, 1, padding=1)                            # trimmed to nothing
    -1
    """
    return (size - 1) * stride - 2 * padding + effective_kernel(kernel, dilation) + output_padding


def transposed_window(kernel: int, padding: int = 0, dilation: int = 1) -> tuple[int, int]:
    """(kernel span, leading padding) of the ordinary window a stride-1 transposed convolution is.

    Output unit j reads inputs j + padding - t·dilation for t < kernel: a window of the same span whose
    leading padding is span - 1 - padding (negative when the padding trims more than the kernel adds).

    >>> transposed_window(3, padding=1), transposed_window(3), transposed_window(3, padding=1, dilation=2)
    ((3, 1), (3, 2), (5, 3))
    """
    span = effective_kernel(kernel, dilation)
    return span, span - 1 - padding


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

    def through(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> RF:
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

    def across(self, positions: int) -> RF:
        """The field of a unit that mixes all ``positions`` units of an axis (softmax over it, attention).

        Every output unit then sees the same input span: stride 0 says so, and a later
        window cannot widen it.

        >>> RF(3, 1, 1).across(8)                 # softmax over 8 columns after a 3-wide conv
        RF(size=10, stride=0, padding=1)
        >>> RF(3, 1, 1).across(8).through(3)      # nothing more to see
        RF(size=10, stride=0, padding=1)
        """
        return RF(self.size + (positions - 1) * self.stride, 0, self.padding)

    @staticmethod
    def union(fields: list[RF]) -> RF:
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


class Window(NamedTuple):
    """A sliding window over N spatial axes, one value per axis; ``padding`` is the leading padding.

    >>> w = Window(kernel=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    >>> w.rank, w.spans
    (2, (3, 3))
    """

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...] = ()

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def dilations(self) -> tuple[int, ...]:
        return self.dilation or (1,) * self.rank

    @property
    def spans(self) -> tuple[int, ...]:
        """Extent of the (dilated) window on each axis."""
        return tuple(effective_kernel(k, d) for k, d in zip(self.kernel, self.dilations))

    def output_sizes(self, sizes: Iterable[int], ceil_mode: bool = False) -> tuple[int, ...]:
        """Output length on every axis (symmetric padding), possibly below one.

        >>> Window((3,), (1,), (1,)).output_sizes((16000,))                       # 1-D, 'same'-like
        (16000,)
        >>> Window((3, 7, 7), (1, 2, 2), (1, 3, 3)).output_sizes((16, 112, 112))  # r3d_18's stem
        (16, 56, 56)
        >>> Window((2, 2), (2, 2), (0, 0)).output_sizes((5, 5), ceil_mode=True)
        (3, 3)
        """
        return tuple(
            window_output_size(n, k, s, p, d, ceil_mode)
            for n, k, s, p, d in zip(sizes, self.kernel, self.stride, self.padding, self.dilations)
        )

    def dropped(self, sizes: Iterable[int], outs: Iterable[int]) -> tuple[int, ...]:
        """Input positions at the far end of each axis that no window reads, given the output sizes.

        >>> Window((2, 2), (2, 2), (0, 0)).dropped((5, 4), (2, 2))
        (1, 0)
        """
        return tuple(
            max(0, n - 1 - ((o - 1) * s + span - 1 - p)) if o > 0 else 0
            for n, o, s, p, span in zip(sizes, outs, self.stride, self.padding, self.spans)
        )

    def blind(self, sizes: Iterable[int]) -> tuple[bool, ...]:
        """Does some output position on each axis read padding only (every tap outside the input)?

        Only a dilated window wider than its input can: its taps step over the few real positions.

        >>> Window((2,), (1,), (1,), (2,)).blind((1,)), Window((2,), (1,), (1,), (2,)).blind((2,))
        ((True,), (False,))
        >>> Window((3, 3), (1, 1), (1, 1)).blind((1, 1))
        (False, False)
        """
        blind = []
        for n, k, s, p, d in zip(sizes, self.kernel, self.stride, self.padding, self.dilations):
            out = window_output_size(n, k, s, p, d)
            # only positions whose window overhangs an end can miss the input
            border = [o for o in range(out) if o * s - p < 0 or o * s - p + (k - 1) * d > n - 1]
            blind.append(any(all(not 0 <= o * s - p + j * d < n for j in range(k)) for o in border))
        return tuple(blind)

    def strides_past_kernel(self) -> bool:
        """Does some axis step further than the window reaches (leaving positions unread)?

        >>> Window((1, 1), (2, 2), (0, 0)).strides_past_kernel(), Window((3,), (2,), (1,)).strides_past_kernel()
        (True, False)
        """
        return any(s > span for s, span in zip(self.stride, self.spans))

    def field(self, fields: Iterable[RF]) -> tuple[RF, ...]:
        """The receptive field after this window, axis by axis.

        >>> Window((3, 3), (2, 2), (1, 1)).field((RF(7, 2, 3), RF(7, 2, 3)))
        (RF(size=11, stride=4, padding=5), RF(size=11, stride=4, padding=5))
        """
        return tuple(
            rf.through(k, s, p, d) for rf, k, s, p, d in zip(fields, self.kernel, self.stride, self.padding, self.dilations)
        )

    def macs(self, out_shape: Iterable[int], inputs_per_output: int) -> int:
        """Multiply-accumulates of a convolution: each output value reads ``inputs_per_output`` channels x the kernel.

        >>> Window((3, 3), (1, 1), (1, 1)).macs((4, 64, 64), 3)   # the seed's conv1: 4·64·64 · 3·3·3
        442368
        """
        return product(out_shape) * inputs_per_output * product(self.kernel)


def product(values: Iterable[int]) -> int:
    """Product of ints (1 for none), exact at any size.

    >>> product((3, 64, 64)), product(())
    (12288, 1)
    """
    out = 1
    for v in values:
        out *= v
    return out
