"""Lint rules beyond validation: one function per rule, each reading the static Report.

Rules ask a layer kind for its traits (``learned_linear``, ``batch_statistics``, ...) and
for how it acts on each axis (``receptive``); they never test its class or type name.

A rule yields (layer name, field or None, message, hint) tuples; the runner turns
them into positioned diagnostics. Most rules judge one layer at a time, from its own figures and
those of the layers next to it (``reads="layer"``): after an edit, only the layers whose figures
changed, and their neighbours, are judged again. Each rule's name, summary, rationale and fix live in the
code table (archspec.codes), from which the README and ``archspec explain`` are generated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from archspec.analysis import receptive_field as rf
from archspec.analysis.report import LayerInfo, Report
from archspec.arith import Window, product
from archspec.codes import TABLE, Code
from archspec.graph import INPUT
from archspec.layers import Receptive, Shape, fmt_shape
from archspec.layers.base import Moved
from archspec.layers.fields import AXIS_NAMES, axis_name

Finding = tuple[str, str | None, str, str | None]  # layer, field, message, hint
Check = Callable[[Report], Iterator[Finding]]
LayerCheck = Callable[[Report, LayerInfo], Iterator[Finding]]
#: what a rule's findings depend on: one layer's figures and its neighbours' (inputs and readers), each
#: finding on that layer; the wiring of the graph alone; or anything in the network
Reads = Literal["layer", "graph", "network"]


@dataclass(frozen=True)
class Rule:
    code: Code
    check: Check
    whole: bool  # judges the network as a whole: skipped while errors leave parts unknown
    reads: Reads = "network"
    each: LayerCheck | None = None  # the check of one layer, for rules that read one layer

    @property
    def name(self) -> str:
        return self.code.rule

    @property
    def summary(self) -> str:
        return TABLE[self.code].summary

    def check_layers(self, report: Report, infos: Iterable[LayerInfo]) -> Iterator[Finding]:
        """The findings on some layers only (a rule that reads one layer at a time)."""
        assert self.each is not None
        for info in infos:
            yield from self.each(report, info)


RULES: list[Rule] = []


def rule(code: Code, *, whole: bool = False, reads: Reads = "network") -> Callable[[Check], Check]:
    """Register a rule under its code; its name and summary live in the code table (archspec.codes)."""

    def register(check: Check) -> Check:
        RULES.append(Rule(code, check, whole, reads))
        return check

    return register


def layer_rule(code: Code) -> Callable[[LayerCheck], LayerCheck]:
    """Register a rule that judges each layer from its own figures and its neighbours' alone."""

    def register(each: LayerCheck) -> LayerCheck:
        def check(report: Report) -> Iterator[Finding]:
            for info in report.layers:
                yield from each(report, info)

        RULES.append(Rule(code, check, False, "layer", each))
        return each

    return register


def _consumers(report: Report, name: str) -> list[str]:
    """The layers reading ``name``, in file order (whatever order the graph's edges were added in)."""
    if report.graph is None or name not in report.graph:
        return []
    return sorted(report.graph.successors(name), key=lambda n: report.graph.nodes[n]["order"])


@layer_rule(Code.CONV_BIAS_BEFORE_BATCHNORM)
def conv_bias_before_batchnorm(report: Report, info: LayerInfo) -> Iterator[Finding]:
    if info.layer is None or "bias" not in info.weights or info.output_shape is None:
        return
    if info.weights["bias"] != info.output_shape[:1]:
        return  # only a bias per channel is a constant the normalisation subtracts
    after = _consumers(report, info.name)
    if after and all(_is(report, c, "cancels_bias") for c in after):
        yield (
            info.name,
            "bias",
            f"`{info.name}` has a bias but feeds {report.layer(after[0]).label} `{after[0]}`, which subtracts "
            "the mean and cancels it",
            f"set `bias: false` (saves {info.weights['bias'][0]:,} parameters)",
        )


def _is(report: Report, name: str, trait: str) -> bool:
    """Does layer ``name`` have ``trait`` (False for the input and for layers that failed validation)?"""
    info = report.get(name)
    return info is not None and info.layer is not None and bool(getattr(info.layer, trait))


def _window(report: Report, info: LayerInfo) -> Window | None:
    """The sliding window a layer applies, when it applies one and its shapes are known."""
    if info.layer is None or info.output_shape is None or len(info.inputs) != 1:
        return None
    step = info.layer.receptive([_input_shape(report, info)])
    return step if isinstance(step, Window) else None


def _input_shape(report: Report, info: LayerInfo) -> Shape:
    """The shape of a layer's first input, for a layer whose own output shape is known (so are its inputs')."""
    shape = report_shape(report, info.inputs[0])
    assert shape is not None
    return shape


_UNITS = {"length": "position(s)", "depth": "frame(s)", "height": "row(s)", "width": "column(s)"}


@layer_rule(Code.WINDOW_DROPS_INPUT)
def window_drops_input(report: Report, info: LayerInfo) -> Iterator[Finding]:
    window = _window(report, info)
    if window is None or info.layer is None or info.output_shape is None or window.strides_past_kernel():
        return  # (a stride past the window: W403 says it better)
    shape = _input_shape(report, info)
    lost = window.dropped(shape[1:], info.output_shape[1:])
    if any(lost):
        what = " and ".join(f"{n} {_UNITS[axis]}" for n, axis in zip(lost, AXIS_NAMES[window.rank]))
        yield (
            info.name,
            "stride" if "stride" in info.layer.model_fields_set else "kernel_size",
            f"`{info.name}` never reads the last {what} of its {fmt_shape(shape)} input",
            "add padding, use ceil_mode: true (pooling), or change the input size",
        )


@layer_rule(Code.STRIDE_EXCEEDS_KERNEL)
def stride_exceeds_kernel(report: Report, info: LayerInfo) -> Iterator[Finding]:
    window = _window(report, info)
    if window is not None and window.strides_past_kernel():
        yield (
            info.name,
            "stride",
            f"`{info.name}` strides {fmt_shape(window.stride)} over a {fmt_shape(window.spans)} window: "
            "positions between windows are never read",
            "use a stride no larger than the kernel",
        )


def _where_space_ends(report: Report) -> tuple[LayerInfo, LayerInfo, tuple[int, ...]] | None:
    """(features, end, sizes): on the path to the output, the layer ``end`` after which no spatial layout
    is left (flatten, linear, global pooling, or pooling to a single position), and the layer ``features``
    feeding it, when the features it receives each see less than the whole input; ``sizes`` are their fields.

    The path is walked back from the output, so a global pooling inside the network (a squeeze-and-excitation
    gate, pooled to C×1×1 and multiplied back onto the map) is not mistaken for the classifier's."""
    if len(report.input_shape) < 2:
        return None
    end = report.get(report.output)
    seen: set[str] = set()
    while end is not None and end.name not in seen and not _spatial(end.output_shape):
        seen.add(end.name)  # a cyclic spec (reported as E302) must not loop here
        main = _main_input(report, end)
        if main is None:
            return None
        if _spatial(main.output_shape):
            if len(end.inputs) != 1 or main.rf is None:
                return None
            sizes = tuple(a.size for a in main.rf)
            if all(s < n for s, n in zip(sizes, report.input_shape[1:])):
                return main, end, sizes
            return None
        end = main
    return None


def _spatial(shape: Shape | None) -> bool:
    """A map with a spatial layout: axes beyond the channels, one of them longer than one."""
    return shape is not None and len(shape) >= 2 and any(n > 1 for n in shape[1:])


def _main_input(report: Report, info: LayerInfo) -> LayerInfo | None:
    """The input carrying the most values (the trunk, not a C×1×1 gate); None for the network input
    or for a layer with no input (a learned tensor)."""
    known = [report.layer(i) for i in info.inputs if i != INPUT]
    if not known or len(known) != len(info.inputs) or any(k.output_shape is None for k in known):
        return None
    return max(known, key=lambda k: product(k.output_shape or ()))


def _whole(report: Report) -> str:
    return "image" if len(report.input_shape) == 3 else "input"


def _pools(info: LayerInfo) -> bool:
    return info.layer is not None and info.layer.family == "pool"


@rule(Code.SMALL_RECEPTIVE_FIELD, whole=True)
def small_receptive_field(report: Report) -> Iterator[Finding]:
    found = _where_space_ends(report)
    if found and _pools(found[1]):
        features, end, sizes = found
        yield (
            features.name,
            None,
            f"the receptive field at `{features.name}` is {fmt_shape(sizes)}, smaller than the "
            f"{fmt_shape(report.input_shape[1:])} input, and `{end.name}` pools it globally: no unit sees the whole {_whole(report)}",
            "add layers or downsample more before the global pooling",
        )


@rule(Code.LOCAL_FEATURES_TO_CLASSIFIER, whole=True)
def local_features_to_classifier(report: Report) -> Iterator[Finding]:
    found = _where_space_ends(report)
    if found and not _pools(found[1]):
        features, end, sizes = found
        yield (
            features.name,
            None,
            f"the receptive field at `{features.name}` is {fmt_shape(sizes)}, smaller than the "
            f"{fmt_shape(report.input_shape[1:])} input: only the fully-connected layers after `{end.name}` see the whole {_whole(report)}",
            None,
        )


@rule(Code.STACKED_LINEAR_LAYERS)
def stacked_linear_layers(report: Report) -> Iterator[Finding]:
    for info in report.layers:
        if info.layer is None or not info.layer.learned_linear or info.output_shape is None:
            continue
        chain = _affine_chain(report, info)
        if chain is None:
            continue
        merged, separate = _merged_parameters(report, chain)
        if merged <= separate:  # a factorisation that saves parameters (depthwise, bottleneck) is a design
            yield (
                info.name,
                None,
                f"`{info.name}` follows `{chain[0].name}` with no non-linearity between them: together they are one "
                f"linear map, which one layer computes with {merged:,} parameters instead of {separate:,}",
                "add an activation (relu, ...) between them, or merge them",
            )


def _affine_chain(report: Report, info: LayerInfo) -> list[LayerInfo] | None:
    """The layers from the learned linear map before ``info`` to ``info``, when only affine maps lie between."""
    chain = [info]
    name = info.inputs[0] if len(info.inputs) == 1 else INPUT
    while name != INPUT and name not in {c.name for c in chain}:  # a cyclic spec (E302) must not loop here
        before = report.layer(name)
        if before.layer is None or before.output_shape is None or not before.layer.affine_map or len(before.inputs) != 1:
            return None
        if _consumers(report, name) != [chain[0].name] or name == report.output:
            return None
        chain.insert(0, before)
        if before.layer.learned_linear:
            return chain
        name = before.inputs[0]
    return None


def _merged_parameters(report: Report, chain: list[LayerInfo]) -> tuple[int, int]:
    """(merged, separate): parameters of one layer computing what ``chain`` computes, and of the chain.

    Where every layer of the chain keeps the spatial layout and slides a window or acts per position,
    the merged layer is one convolution mixing all input channels into all output channels over the
    composed window (span r + (r' - 1)·S on each axis); otherwise a dense map from every input value
    to every output value. Both are the most a merged layer needs (a grouped merge can need fewer),
    so the rule fires only where merging cannot add parameters. A bias per output is counted."""
    first, last = chain[0], chain[-1]
    ins, out = _input_shape(report, first), last.output_shape
    assert out is not None
    spans: tuple[int, ...] | None = (1,) * (len(ins) - 1)
    strides = spans
    for info in chain:
        step = info.layer.receptive([_input_shape(report, info)]) if info.layer is not None else None
        keeps = info.output_shape is not None and len(info.output_shape) == len(ins) and len(ins) >= 2
        if not keeps or spans is None or strides is None or not (isinstance(step, Window) or step == "keep"):
            spans = None
            continue
        if isinstance(step, Window):
            spans = tuple(r + (s - 1) * t for r, s, t in zip(spans, step.spans, strides))
            strides = tuple(t * s for t, s in zip(strides, step.stride))
    if spans is not None:
        merged = ins[0] * out[0] * product(spans) + out[0]
    else:
        merged = product(ins) * product(out) + out[0]
    return merged, sum(info.params for info in chain)


@layer_rule(Code.DROPOUT_BEFORE_BATCHNORM)
def dropout_before_batchnorm(report: Report, info: LayerInfo) -> Iterator[Finding]:
    if info.layer is not None and info.layer.random_in_training:
        for after in _consumers(report, info.name):
            if _is(report, after, "batch_statistics"):
                yield (
                    info.name,
                    None,
                    f"dropout `{info.name}` feeds batchnorm `{after}`: the variance it sees in training differs from evaluation",
                    "move the dropout after the batchnorm (or after the block)",
                )


@layer_rule(Code.MISALIGNED_MERGE)
def misaligned_merge(report: Report, info: LayerInfo) -> Iterator[Finding]:
    merged = info.inputs[: info.layer.value_inputs] if info.layer is not None else info.inputs  # not shape-only ones
    if len(merged) > 1 and info.output_shape is not None:
        fields = [report.layer(i).rf if i != INPUT else rf.input_field(report.input_shape) for i in merged]
        ins = [report_shape(report, i) for i in merged]
        if all(s is not None for s in ins):  # a broadcast path (C×1×1 gate) sees one span everywhere
            fields = rf.seen_whole(fields, [s for s in ins if s is not None])
        if not rf.aligned(fields):
            centres = ", ".join(f"`{i}` at {tuple(a.center for a in f)}" for i, f in zip(merged, fields) if f is not None)
            yield (
                info.name,
                "inputs",
                f"`{info.name}` merges paths that look at different input positions (first-unit centres: {centres})",
                "pad the paths alike (e.g. padding k//2 on each conv) so their windows stay centred",
            )


@rule(Code.UNUSED_LAYER, whole=True, reads="graph")
def unused_layer(report: Report) -> Iterator[Finding]:
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


@rule(Code.OVERSIZED, whole=True)
def oversized(report: Report) -> Iterator[Finding]:
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


@rule(Code.CLASSIFIER_DOMINATES, whole=True)
def classifier_dominates(report: Report) -> Iterator[Finding]:
    total = report.totals()["params"]
    for info in report.layers:
        if info.layer is not None and info.layer.family == "dense" and info.params * 2 > total:
            yield (
                info.name,
                None,
                f"`{info.name}` holds {info.params:,} of {total:,} parameters ({100 * info.params / total:.0f}%)",
                "global average pooling before the classifier shrinks it",
            )


@rule(Code.SOFTMAX_OUTPUT, whole=True)
def softmax_output(report: Report) -> Iterator[Finding]:
    if _is(report, report.output, "output_activation"):
        kind = report.layer(report.output).type
        yield (
            report.output,
            None,
            f"the output layer `{report.output}` is a {kind}: training feeds the logits before it to cross-entropy "
            f"(which applies log-softmax itself) and keeps the {kind} for inference",
            None,
        )


def report_shape(report: Report, name: str) -> Shape | None:
    return report.input_shape if name == INPUT else report.layer(name).output_shape


def _last_axis_not_spatial(report: Report, name: str, rank: int) -> bool:
    """Does the field of ``name`` show its spatial axes moved off the last axis (by a permute)?"""
    if name == INPUT:
        return False
    info = report.layer(name)
    return info.rf is not None and bool(info.rf_axes) and rank - 1 not in info.rf_axes


@layer_rule(Code.LINEAR_ON_SPATIAL_MAP)
def linear_on_spatial_map(report: Report, info: LayerInfo) -> Iterator[Finding]:
    if len(report.input_shape) < 2:
        return
    if info.layer is None or info.layer.family != "dense" or len(info.inputs) != 1 or info.output_shape is None:
        return
    shape = report_shape(report, info.inputs[0])
    if shape is not None and len(shape) == len(report.input_shape):  # a map with the input's spatial axes
        last = len(shape) - 1
        if _last_axis_not_spatial(report, info.inputs[0], len(shape)) or report.flow.channels[info.inputs[0]] == last:
            return  # a permute put the channels last (ConvNeXt's MLP, Swin): a per-position linear map
        axis = axis_name(len(shape), len(shape) - 1)
        yield (
            info.name,
            None,
            f"`{info.name}` acts on the last axis (the {axis}) of its {fmt_shape(shape)} input and gives "
            f"{fmt_shape(info.output_shape)}: was a flatten or global pooling meant before it?",
            "add `{type: flatten}` or a global pooling before it",
        )


@rule(Code.NON_VECTOR_OUTPUT, whole=True)
def non_vector_output(report: Report) -> Iterator[Finding]:
    out = report.get(report.output)
    if out is None or out.layer is None:
        return
    scores = report.get(out.inputs[0]) if out.layer.output_activation and len(out.inputs) == 1 else out
    if scores is None or scores.layer is None or scores.output_shape is None:
        return
    training = getattr(report.spec, "training", None)
    if training is not None and training.task == "segmentation":
        size = tuple(report.input_shape[1:])
        if len(scores.output_shape) != len(report.input_shape) or tuple(scores.output_shape[1:]) != size:
            yield (
                scores.name,
                None,
                f"a segmentation network outputs class scores per pixel (K×{fmt_shape(size)}, at the input's size), "
                f"but the output `{scores.name}` is {fmt_shape(scores.output_shape)}",
                f"end in a 1×1 convolution with one channel per class, at the input's {fmt_shape(size)}",
            )
        return
    if len(scores.output_shape) == 1:
        return
    # a classifier: it ends in a fully-connected layer, or the spec says how to train it
    if scores.layer.family == "dense" or training is not None:
        yield (
            scores.name,
            None,
            f"the network's output `{scores.name}` is {fmt_shape(scores.output_shape)}, not a vector of class scores: "
            "`archspec train` trains classifiers, which need one score per class",
            "flatten or pool globally before the classifier (for dense prediction, suppress this with # noqa: W411)",
        )


@layer_rule(Code.SOFTMAX_INSIDE_NETWORK)
def softmax_inside_network(report: Report, info: LayerInfo) -> Iterator[Finding]:
    if info.layer is not None and info.layer.output_activation and info.name != report.output:
        after = _consumers(report, info.name)
        if after:
            yield (
                info.name,
                None,
                f"`{info.name}` is a {info.type} inside the network (it feeds `{after[0]}`): its probabilities "
                "squash the features and their gradients",
                "remove it, or move it to the output",
            )


@layer_rule(Code.NO_SINGLE_RECEPTIVE_FIELD)
def no_single_receptive_field(report: Report, info: LayerInfo) -> Iterator[Finding]:
    if info.layer is None or info.output_shape is None or info.rf is not None:
        return
    ins = [s for s in (report_shape(report, i) for i in info.inputs) if s is not None]
    fields = [rf.input_field(report.input_shape) if i == INPUT else report.layer(i).rf for i in info.inputs]
    if len(ins) < len(info.inputs) or any(f is None for f in fields):
        return  # nothing to lose: an input had no field already
    rule = info.layer.receptive(ins)
    moved = any(i != INPUT and report.layer(i).rf_axes != rf.channels_first(len(s)) for i, s in zip(info.inputs, ins))
    grids = [None if i == INPUT else report.layer(i).rf_grid for i in info.inputs]
    if any(g is not None for g in grids):  # tokens on a grid (a ViT's patches)
        why = rf.why_lost(info.layer, ins, fields, grids)
        if why is None:
            return  # the layout is gone, as after global pooling (the class token taken)
        moved = False
    elif rule == Receptive.UNDEFINED:
        why = info.layer.no_single_field or "have no single receptive-field size and step"
        moved = moved and not info.layer.no_single_field  # the kind says why: permuting would not help
    elif isinstance(rule, Moved):  # the inputs had a field and this one has none: a spatial axis was regrouped
        why = "regroup the positions of a spatial axis"
    elif moved and rule != Receptive.LOST:
        why = "read spatial axes that a permute has moved from where its rule expects them (after the channels)"
    elif isinstance(rule, (Window, tuple)) and info.inputs:  # a window after a field the same everywhere
        why = "include one whose dilated window reads only padding, so not all of them see the same span"
    else:
        return
    yield (
        info.name,
        None,
        f"the units of `{info.name}` ({info.label}) {why}: receptive fields are not given from here on",
        "permute the axes back (channels first) before this layer" if moved else None,
    )
