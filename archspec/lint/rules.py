"""Lint rules beyond validation: one function per rule, each reading the static Report.

A rule yields (layer name, field or None, message, hint) tuples; the runner turns
them into positioned diagnostics. ``RULES`` is the table the README documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from archspec.analysis import receptive_field as rf
from archspec.analysis.report import Report
from archspec.arith import dropped_by_window, effective_kernel
from archspec.graph import INPUT
from archspec.layers import fmt_shape
from archspec.layers.activation import Softmax
from archspec.layers.conv import Conv2d
from archspec.layers.linear import Flatten, Linear
from archspec.layers.norm import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d
from archspec.layers.pool import _AdaptivePool, _WindowPool

Finding = tuple[str, str | None, str, str | None]  # layer, field, message, hint


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    check: Callable[[Report], Iterator[Finding]]
    whole: bool  # judges the network as a whole: skipped while errors leave parts unknown


RULES: list[Rule] = []


def rule(code: str, name: str, summary: str, *, whole: bool = False):
    def register(check):
        RULES.append(Rule(code, name, summary, check, whole))
        return check

    return register


def _consumers(report: Report, name: str) -> list[str]:
    return list(report.graph.successors(name)) if report.graph is not None and name in report.graph else []


@rule("W401", "conv-bias-before-batchnorm", "a convolution with a bias feeding only a batchnorm (the bias is cancelled by it)")
def conv_bias_before_batchnorm(report: Report):
    for info in report.layers:
        if isinstance(info.layer, Conv2d) and info.layer.bias:
            after = _consumers(report, info.name)
            if after and all(isinstance(report.layer(c).layer, BatchNorm2d) for c in after):
                yield (
                    info.name,
                    "bias",
                    f"`{info.name}` has a bias but feeds batchnorm `{after[0]}`, which subtracts the mean and cancels it",
                    "set `bias: false` (saves out_channels parameters)",
                )


@rule("W402", "window-drops-input", "a convolution or pooling window that never reads the last rows/columns of its input")
def window_drops_input(report: Report):
    for info in report.layers:
        layer = info.layer
        if not isinstance(layer, (Conv2d, _WindowPool)) or layer.padding == "same" or info.output_shape is None:
            continue
        shape = report_shape(report, info.inputs[0])
        window = layer.receptive([shape])
        ceil = getattr(layer, "ceil_mode", False)
        lost = [
            dropped_by_window(size, k, s, p, d, ceil)
            for size, k, s, p, d in zip(shape[1:], window.kernel, window.stride, window.padding, window.dilation)
        ]
        if any(lost) and not _strides_past_kernel(window):  # W403 says it better
            yield (
                info.name,
                "stride" if "stride" in layer.model_fields_set else "kernel_size",
                f"`{info.name}` never reads the last {lost[0]} row(s) and {lost[1]} column(s) of its {fmt_shape(shape)} input",
                "add padding, use ceil_mode: true (pooling), or change the input size",
            )


def _strides_past_kernel(window) -> bool:
    return any(s > effective_kernel(k, d) for s, k, d in zip(window.stride, window.kernel, window.dilation))


@rule("W403", "stride-exceeds-kernel", "a stride larger than the window, leaving input positions no window covers")
def stride_exceeds_kernel(report: Report):
    for info in report.layers:
        layer = info.layer
        if isinstance(layer, (Conv2d, _WindowPool)) and info.output_shape is not None:
            window = layer.receptive([report_shape(report, info.inputs[0])])
            spans = [effective_kernel(k, d) for k, d in zip(window.kernel, window.dilation)]
            if _strides_past_kernel(window):
                yield (
                    info.name,
                    "stride",
                    f"`{info.name}` strides {fmt_shape(window.stride)} over a {fmt_shape(tuple(spans))} window: positions between windows are never read",
                    "use a stride no larger than the kernel",
                )


def _where_space_ends(report: Report):
    """(features, end): the layer where the spatial layout ends (flatten, linear, global or 1×1 adaptive
    pooling) and the layer feeding it, if the features it receives see less than the whole input."""
    if len(report.input_shape) != 3:
        return None
    for end in report.layers:
        if end.output_shape is None or len(end.inputs) != 1:
            continue
        pooled_to_one = isinstance(end.layer, _AdaptivePool) and end.output_shape[1:] == (1, 1)
        features = report.get(end.inputs[0])
        if (end.rf is None or pooled_to_one) and features is not None and features.rf is not None:
            sizes = tuple(a.size for a in features.rf)
            if all(s < n for s, n in zip(sizes, report.input_shape[1:])):
                return features, end, sizes
            return None
    return None


@rule("W404", "small-receptive-field", "global pooling over features that each see less than the whole input", whole=True)
def small_receptive_field(report: Report):
    found = _where_space_ends(report)
    if found and not isinstance(found[1].layer, (Flatten, Linear)):
        features, end, sizes = found
        yield (
            features.name,
            None,
            f"the receptive field at `{features.name}` is {fmt_shape(sizes)}, smaller than the "
            f"{fmt_shape(report.input_shape[1:])} input, and `{end.name}` pools it globally: no unit sees the whole image",
            "add layers or downsample more before the global pooling",
        )


@rule(
    "I503",
    "local-features-to-classifier",
    "the last spatial features see less than the whole input; only the flattened head combines them",
    whole=True,
)
def local_features_to_classifier(report: Report):
    found = _where_space_ends(report)
    if found and isinstance(found[1].layer, (Flatten, Linear)):
        features, end, sizes = found
        yield (
            features.name,
            None,
            f"the receptive field at `{features.name}` is {fmt_shape(sizes)}, smaller than the "
            f"{fmt_shape(report.input_shape[1:])} input: only the fully-connected layers after `{end.name}` see the whole image",
            None,
        )


@rule(
    "W405",
    "stacked-linear-layers",
    "two convolutions/linear layers with only affine layers between them (they collapse into one)",
)
def stacked_linear_layers(report: Report):
    for info in report.layers:
        if not isinstance(info.layer, (Conv2d, Linear)):
            continue
        name = info.inputs[0] if len(info.inputs) == 1 else INPUT
        seen = set()
        while name != INPUT and name not in seen:  # a cyclic spec (reported as E302) must not loop here
            seen.add(name)
            before = report.layer(name)
            if before.layer is None or not before.layer.affine_map or len(before.inputs) != 1:
                break
            if isinstance(before.layer, (Conv2d, Linear)):
                yield (
                    info.name,
                    None,
                    f"`{info.name}` follows `{name}` with no non-linearity between them: together they are one linear map",
                    "add an activation (relu, ...) between them, or merge them",
                )
                break
            name = before.inputs[0]


@rule("W406", "dropout-before-batchnorm", "dropout feeding batchnorm (the statistics shift between training and evaluation)")
def dropout_before_batchnorm(report: Report):
    for info in report.layers:
        if isinstance(info.layer, (Dropout, Dropout2d)):
            for after in _consumers(report, info.name):
                if isinstance(report.layer(after).layer, (BatchNorm1d, BatchNorm2d)):
                    yield (
                        info.name,
                        None,
                        f"dropout `{info.name}` feeds batchnorm `{after}`: the variance it sees in training differs from evaluation",
                        "move the dropout after the batchnorm (or after the block)",
                    )


@rule("W407", "misaligned-merge", "paths merged by add/concat whose receptive fields are not centred on the same input position")
def misaligned_merge(report: Report):
    for info in report.layers:
        if len(info.inputs) > 1 and info.output_shape is not None:
            fields = [report.layer(i).rf if i != INPUT else rf.input_field(report.input_shape) for i in info.inputs]
            if not rf.aligned(fields):
                centres = ", ".join(
                    f"`{i}` at {tuple(a.center for a in f)}" for i, f in zip(info.inputs, fields) if f is not None
                )
                yield (
                    info.name,
                    "inputs",
                    f"`{info.name}` merges paths that look at different input positions (first-unit centres: {centres})",
                    "pad the paths alike (e.g. padding k//2 on each conv) so their windows stay centred",
                )


@rule("W408", "unused-layer", "a layer whose output never reaches the network output", whole=True)
def unused_layer(report: Report):
    graph = report.graph
    if graph is None or report.output not in graph:
        return
    import networkx as nx

    needed = nx.ancestors(graph, report.output) | {report.output}
    for info in report.layers:
        if info.name not in needed:
            yield (
                info.name,
                None,
                f"`{info.name}` does not contribute to the output `{report.output}`",
                "remove it or connect it",
            )


HUGE_PARAM_BYTES = 2**36  # 64 GiB of float32 parameters
HUGE_ACTIVATION_BYTES = 2**34  # 16 GiB of activations for a single sample


@rule("W409", "oversized", "parameters or per-sample activations far beyond any accelerator's memory (a units mistake?)", whole=True)
def oversized(report: Report):
    from archspec.render.numbers import size

    t = report.totals()
    if t["param_bytes"] > HUGE_PARAM_BYTES or t["activation_bytes"] > HUGE_ACTIVATION_BYTES:
        big = max(report.layers, key=lambda i: max(i.params, i.activation_elements))
        yield (
            big.name,
            None,
            f"the network holds {size(t['param_bytes'])} of parameters and {size(t['activation_bytes'])} of activations per sample "
            f"(largest: `{big.name}`); no device holds that",
            "check the sizes; `archspec build`/`train` will refuse it unless forced",
        )


@rule("I501", "classifier-dominates", "a fully-connected layer holds most of the parameters (as in the seed's CNN)", whole=True)
def classifier_dominates(report: Report):
    total = report.totals()["params"]
    for info in report.layers:
        if isinstance(info.layer, Linear) and info.params * 2 > total:
            yield (
                info.name,
                None,
                f"`{info.name}` holds {info.params:,} of {total:,} parameters ({100 * info.params / total:.0f}%)",
                "global average pooling before the classifier shrinks it",
            )


@rule("I502", "softmax-output", "the network ends in softmax; training uses the logits before it", whole=True)
def softmax_output(report: Report):
    out = report.get(report.output)
    if out is not None and isinstance(out.layer, Softmax):
        yield (
            report.output,
            None,
            f"the output layer `{report.output}` is a softmax: training feeds the logits before it to cross-entropy "
            "(which applies log-softmax itself) and keeps the softmax for inference",
            None,
        )


def report_shape(report: Report, name: str):
    return report.input_shape if name == INPUT else report.layer(name).output_shape
