"""Data-flow diagrams in the styles of the introductory text's figures, as Graphviz DOT.

- ``tensors`` (its Figure 4): tensors are the nodes, labelled with their sizes; operations on the edges.
- ``layers`` (Figure 5): operations are the nodes; tensor sizes on the edges.
- ``params`` (Figure 6): as ``layers``, each node with its parameter count and how it is made up.
- ``rf`` (Figure 11): as ``layers``, each node with its receptive field.

Block instances are drawn as clusters, or collapsed to one node per use (``layer1: bottleneck ×3``); a run of
uses of one block that are alike and chained, each reading only the one before (a ViT's twelve encoder
layers, each its own use), is one node too (``encoder_layer_0 … encoder_layer_11: encoder_block ×12``).
DOT needs only the pure-Python ``graphviz`` package; SVG/PNG/PDF need Graphviz itself, which the
``pygraphviz`` wheel bundles (``pip install pygraphviz``, or ``pip install -e '.[diagram]'`` in a clone
of this repository).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import graphviz

from archspec.analysis.report import LayerInfo, Report
from archspec.arith import RF, product
from archspec.errors import ArchspecError
from archspec.fileio import write_atomically
from archspec.graph import INPUT
from archspec.layers import Shape, fmt_shape

STYLES = ("tensors", "layers", "params", "rf")
Direction = Literal["LR", "TB"]  # left to right, top to bottom
FORMATS = ("svg", "png", "pdf", "dot")
AUTO_COLLAPSE_ABOVE = 60  # layers; beyond this a network is drawn with its blocks collapsed

COLOURS = {  # fill colours by layer family
    "conv": "#cfe2f3",
    "pool": "#d9ead3",
    "norm": "#fff2cc",
    "act": "#eeeeee",
    "drop": "#f4cccc",
    "shape": "#ffffff",
    "dense": "#fce5cd",
    "merge": "#ead1dc",
    "tensor": "#d9d2e9",
    "block": "#d0e0e3",
    "io": "#e0e0e0",
}


class DiagramError(ArchspecError):
    """A diagram could not be rendered (typically: no Graphviz)."""


@dataclass
class Unit:
    """One node of the drawing: a layer, or a whole use of a block when collapsed."""

    id: str
    op: str
    family: str
    inputs: list[str]
    shape: Shape | None
    params: int
    formula: str | None
    rf: tuple[RF, ...] | None
    clusters: tuple[str, ...] = ()
    layers: list[str] = field(default_factory=list)
    size_only: set[str] = field(default_factory=set)  # inputs it takes only the size of (a crop or resize to them)
    label: str | None = None  # the name drawn, when not the id (a run of uses: `layer_0 … layer_3`)
    tokens: bool = False  # its output is N tokens of D features (the positions on the first axis)


def formula(weights: dict[str, Shape], learned_tensor: bool = False) -> str | None:
    """How a layer's parameter count is made up, as the text writes it: ``3×4×9 + 4 = 112``; a learned tensor
    (no input, so no in × out) by its shape.

    >>> formula({"weight": (4, 3, 3, 3), "bias": (4,)})
    '3×4×9 + 4 = 112'
    >>> formula({"weight": (10, 2048), "bias": (10,)})
    '2048×10 + 10 = 20,490'
    >>> formula({"weight": (1, 197, 768)}, learned_tensor=True)
    '1×197×768 = 151,296'
    >>> formula({}) is None
    True
    """
    if not weights:
        return None
    terms, total = [], 0
    for shape in weights.values():
        if learned_tensor:
            terms.append("×".join(map(str, shape)))
        elif len(shape) >= 3:  # conv of any rank: in × out × (weights per kernel)
            terms.append(f"{shape[1]}×{shape[0]}×{product(shape[2:])}")
        elif len(shape) == 2:  # linear: in × out
            terms.append(f"{shape[1]}×{shape[0]}")
        else:
            terms.append("×".join(map(str, shape)) or "1")
        total += product(shape)
    return " + ".join(terms) + f" = {total:,}"


def units(report: Report, collapse: bool) -> list[Unit]:
    """The nodes to draw, in topological order, with inputs mapped onto drawn nodes."""
    spec = report.spec
    call_of = {inst: call for call, insts in spec.block_calls.items() for inst in insts}
    owner: dict[str, str] = {INPUT: INPUT}
    for info in report.layers:
        chain = spec.block_of.get(info.name, ())
        owner[info.name] = call_of[chain[0]] if collapse and chain else info.name

    out: dict[str, Unit] = {}
    for info in report.layers:
        uid = owner[info.name]
        inputs = [owner[i] for i in info.inputs if owner[i] != uid]
        if uid == info.name:
            out[uid] = Unit(
                uid,
                info.layer.op_text() if info.layer is not None else info.type,
                info.layer.family if info.layer is not None else "act",
                _unique(inputs),
                info.output_shape,
                info.params,
                formula(info.weights, info.layer is not None and info.layer.family == "tensor"),
                info.rf,
                spec.block_of.get(info.name, ()),
                [info.name],
                _size_only(info, owner),
                tokens=_tokens(info),
            )
            continue
        unit = out.get(uid)
        if unit is None:
            instances = spec.block_calls[uid]
            kind = spec.block_types[instances[0]]
            op = f"{kind} ×{len(instances)}" if len(instances) > 1 else kind
            unit = out[uid] = Unit(uid, op, "block", [], None, 0, None, None)
        unit.inputs = _unique(unit.inputs + inputs)
        unit.params += info.params
        unit.layers.append(info.name)
    drawn = _chained_uses(report, list(out.values()), owner) if collapse else list(out.values())
    for unit in drawn:  # a collapsed block's output is its last layer read from outside
        if unit.family == "block":
            last = _block_output(report, unit, owner)
            unit.shape, unit.rf, unit.tokens = last.output_shape, last.rf, _tokens(last)
            if unit.formula is None:
                unit.formula = f"{unit.params:,} parameters"
    return drawn


def _chained_uses(report: Report, drawn: list[Unit], owner: dict[str, str]) -> list[Unit]:
    """Runs of uses of one block drawn as one node: each use alike (the same layers with the same fields and
    shapes, so the same parameters) and reading only the use before it, which nothing else reads. ``owner``
    is updated to map the layers of a run onto its first use."""
    readers: dict[str, set[str]] = {}
    for u in drawn:
        for i in u.inputs:
            readers.setdefault(i, set()).add(u.id)
    kept: list[Unit] = []
    run: list[Unit] = []  # the uses merged into kept[-1], when it is a run
    renamed: dict[str, str] = {}
    for u in drawn:
        u.inputs = _unique([renamed.get(i, i) for i in u.inputs])
        u.size_only = {renamed.get(i, i) for i in u.size_only}
        if run and _extends(report, run[-1], u, kept[-1].id, readers):
            run.append(u)
            renamed[u.id] = kept[-1].id
            continue
        _close_run(report, kept, run, owner)
        kept.append(u)
        run = [u] if u.family == "block" else []
    _close_run(report, kept, run, owner)
    return kept


def _extends(report: Report, last: Unit, u: Unit, head: str, readers: dict[str, set[str]]) -> bool:
    """Does use ``u`` continue the run whose last use is ``last``, drawn as node ``head``? Only if it reads
    nothing but the run, ``last`` is read by nothing but ``u`` (nor is the network's output), and both are alike."""
    return (
        u.family == "block"
        and u.inputs == [head]
        and readers.get(last.id) == {u.id}
        and report.output not in last.layers
        and _use_signature(report, u) == _use_signature(report, last)
    )


def _close_run(report: Report, kept: list[Unit], run: list[Unit], owner: dict[str, str]) -> None:
    """Make ``kept[-1]`` the node of a run of two or more alike uses."""
    if len(run) < 2:
        return
    first, uses = kept[-1], len(run)
    instances = sum(len(report.spec.block_calls[u.id]) for u in run)
    first.op = f"{report.spec.block_types[report.spec.block_calls[first.id][0]]} ×{instances}"
    first.label = f"{first.id} … {_after_common_prefix(run[-1].id, first.id)}"
    first.formula = f"{uses} × {first.params:,} = {first.params * uses:,} parameters"
    for u in run[1:]:
        first.params += u.params
        first.layers += u.layers
        for name in u.layers:
            owner[name] = first.id


def _after_common_prefix(name: str, other: str) -> str:
    """``name`` without the dotted path it shares with ``other``: ``encoder.layers.encoder_layer_11`` after
    ``encoder.layers.encoder_layer_0`` is ``encoder_layer_11``.

    >>> _after_common_prefix("encoder.layers.encoder_layer_11", "encoder.layers.encoder_layer_0")
    'encoder_layer_11'
    >>> _after_common_prefix("layer_3", "layer_0")
    'layer_3'
    """
    parts, others = name.split("."), other.split(".")
    shared = 0
    while shared < min(len(parts), len(others)) - 1 and parts[shared] == others[shared]:
        shared += 1
    return ".".join(parts[shared:])


def _use_signature(report: Report, unit: Unit) -> list[tuple[object, ...]]:
    """What makes two uses of a block alike: each layer's place in the use, its fields (the block's parameters
    filled in), inputs inside the use, and its input and output shapes."""
    prefix = unit.id + "."
    signature: list[tuple[object, ...]] = []
    for name in unit.layers:
        info = report.layer(name)
        fields = info.layer.model_dump(exclude={"name", "inputs"}) if info.layer is not None else None
        inputs = [i.removeprefix(prefix) if i.startswith(prefix) else "outside" for i in info.inputs]
        ins = [report.input_shape if i == INPUT else report.layer(i).output_shape for i in info.inputs]
        signature.append((name.removeprefix(prefix), info.type, fields, inputs, ins, info.output_shape))
    return signature


def _tokens(info: LayerInfo) -> bool:
    """Is the output a token sequence, N×D with the input's positions along N (a map's positions flattened and
    transposed, as a ViT makes its patches, or a sequence transposed)? Known where the receptive field is."""
    shape = info.output_shape
    return info.rf is not None and shape is not None and len(shape) == 2 and set(info.rf_axes) == {0}


def size_text(shape: Shape | None, tokens: bool = False) -> str:
    """An edge's tensor size; a token sequence says so, unlike a C×L map.

    >>> size_text((197, 768), tokens=True), size_text((768, 196)), size_text(None)
    ('197 tokens × 768', '768×196', '?')
    """
    if shape is None:
        return "?"
    return f"{shape[0]} tokens × {shape[1]}" if tokens else fmt_shape(shape)


def _size_only(info: LayerInfo, owner: dict[str, str]) -> set[str]:
    values = info.layer.value_inputs if info.layer is not None else None
    return set() if values is None else {owner[i] for i in info.inputs[values:]} - {owner[i] for i in info.inputs[:values]}


def _block_output(report: Report, unit: Unit, owner: dict[str, str]) -> LayerInfo:
    read_outside = [
        n for n in unit.layers if n == report.output or any(owner.get(c) != unit.id for c in report.graph.successors(n))
    ]
    return report.layer(read_outside[-1] if read_outside else unit.layers[-1])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def to_dot(report: Report, style: str = "layers", direction: str = "LR", collapse: bool | None = None) -> str:
    """The diagram of a report as DOT text (deterministic: same spec, same text)."""
    if style not in STYLES:
        raise DiagramError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    if collapse is None:
        collapse = len(report.layers) > AUTO_COLLAPSE_ABOVE
    drawn = units(report, collapse)
    graph = graphviz.Digraph(name=report.name, comment=f"archspec diagram of {report.name} ({style})")
    graph.attr(rankdir=direction, fontname="Helvetica", nodesep="0.25", ranksep="0.35", labelloc="t")
    graph.attr(label=f"{report.name} — {_caption(style)}", fontsize="14")
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11", color="#666666")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#555555", arrowsize="0.7")
    if style == "tensors":
        _draw_tensors(graph, report, drawn)
    else:
        _draw_operations(graph, report, drawn, style)
    source: str = graph.source
    return source


def _caption(style: str) -> str:
    return {
        "tensors": "tensor sizes (nodes) and operations (edges)",
        "layers": "operations (nodes) and tensor sizes (edges)",
        "params": "parameters of each operation",
        "rf": "receptive field after each operation",
    }[style]


def _draw_operations(graph: graphviz.Digraph, report: Report, drawn: list[Unit], style: str) -> None:
    shapes = {INPUT: report.input_shape, **{u.id: u.shape for u in drawn}}
    tokens = {u.id for u in drawn if u.tokens}
    skips = skip_edges(drawn, report.input_shape)
    graph.node(INPUT, _lines("input", fmt_shape(report.input_shape)), fillcolor=COLOURS["io"])
    _clustered(graph, drawn, lambda sub, u: sub.node(_dot(u.id), _operation_label(u, style), fillcolor=COLOURS[u.family]))
    for u in drawn:
        for i in u.inputs:
            label = size_text(shapes[i], i in tokens)
            if i in u.size_only:  # lends its size, not its values: no data flows along it
                graph.edge(_dot(i), _dot(u.id), label=f"size {label}", **SIZE_EDGE)
            elif (i, u.id) in skips:  # a long straight edge along the level it leaves and rejoins, drawn apart
                graph.edge(_dot(i), _dot(u.id), label=f"skip {label}", **SKIP_EDGE)
            else:
                graph.edge(_dot(i), _dot(u.id), label=label)
    final = next(u for u in reversed(drawn) if report.output in u.layers)
    if style == "params":
        total = report.totals()["params"]
        graph.node("output", _lines("output", f"total {total:,} parameters"), fillcolor=COLOURS["io"])
    else:
        graph.node("output", "output", fillcolor=COLOURS["io"])
    graph.edge(_dot(final.id), "output", label=size_text(final.shape, final.tokens))


def _dot(name: str) -> str:
    """A layer's node id in DOT, where `a:b` in an edge would mean port b of node a (the parts of a split
    are named `parts:0`); labels keep the real name."""
    return name.replace(":", "∶")


SKIP_EDGE = {"style": "dashed", "color": "#3c78d8", "fontcolor": "#3c78d8", "penwidth": "1.4"}
SIZE_EDGE = {"style": "dotted", "color": "#909090", "fontcolor": "#707070", "arrowhead": "empty"}


def skip_edges(drawn: list[Unit], input_shape: Shape) -> set[tuple[str, str]]:
    """The encoder-decoder skip connections: edges (source, merge) into a unit with several inputs where another
    of its inputs is reached from the source through a smaller spatial map than both the source's and the
    merge's (down to a coarser level and back up). A residual shortcut never leaves its level, nor does a
    strided block's projection return to it, so neither is a skip here.

    >>> unit = lambda name, inputs, shape: Unit(name, name, "conv", inputs, shape, 0, None, None)
    >>> drawn = [unit("enc", ["input"], (8, 4, 4)), unit("down", ["enc"], (8, 2, 2)), unit("up", ["down"], (8, 4, 4)),
    ...          unit("join", ["enc", "up"], (16, 4, 4))]
    >>> sorted(skip_edges(drawn, (3, 4, 4)))
    [('enc', 'join')]
    """
    shapes: dict[str, Shape | None] = {INPUT: input_shape, **{u.id: u.shape for u in drawn}}
    readers: dict[str, list[str]] = {}
    for u in drawn:
        for i in u.inputs:
            readers.setdefault(i, []).append(u.id)

    def area(name: str, rank: int) -> int | None:  # spatial size of a map of the given rank
        shape = shapes.get(name)
        return product(shape[1:]) if shape is not None and len(shape) == rank and rank > 1 else None

    skips = set()
    for u in drawn:
        for source in [i for i in u.inputs if i not in u.size_only] if len(u.inputs) > 1 else ():
            source_shape = shapes[source]
            rank = len(source_shape) if source_shape is not None else 0
            here, there = area(source, rank), area(u.id, rank)
            if here is None or there is None:
                continue
            if _returns_through_coarser(source, u, min(here, there), readers, partial(area, rank=rank)):
                skips.add((source, u.id))
    return skips


def _returns_through_coarser(
    source: str, merge: Unit, limit: int, readers: dict[str, list[str]], area: Callable[[str], int | None]
) -> bool:
    """Whether another input of ``merge`` is reached from ``source`` (not through the merge) by a path that
    passes a map smaller than ``limit``."""
    others = set(merge.inputs) - {source}

    def smaller(name: str) -> bool:
        return (area(name) or limit) < limit

    seen: set[tuple[str, bool]] = set()
    todo = [(r, smaller(r)) for r in readers.get(source, []) if r != merge.id]
    while todo:
        name, lower = todo.pop()
        if (name, lower) in seen:
            continue
        seen.add((name, lower))
        if name in others and lower:
            return True
        todo += [(r, lower or smaller(r)) for r in readers.get(name, []) if r != merge.id]
    return False


def _operation_label(u: Unit, style: str) -> str:
    name = u.label or u.id
    lines = [name] if u.op == name else [name, u.op]  # `flatten` named flatten: say it once
    if style == "params":
        lines.append(u.formula if u.formula else "no parameters")
    elif style == "rf":
        lines.append(f"RF {fmt_shape(tuple(a.size for a in u.rf))}" if u.rf else "RF —")
    return _lines(*lines)


def _lines(*lines: str) -> str:
    """A multi-line Graphviz label (DOT's own line-break escape, so the text stays one line)."""
    return "\\n".join(lines)


def _draw_tensors(graph: graphviz.Digraph, report: Report, drawn: list[Unit]) -> None:
    """Figure 4: a node per tensor; a shape-preserving step after a tensor only it reads is folded into the edge."""
    readers: dict[str, int] = {}
    for u in drawn:
        for i in u.inputs:
            readers[i] = readers.get(i, 0) + 1
    tensor = {INPUT: INPUT}
    ops: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    shapes: dict[str, Shape | None] = {INPUT: report.input_shape}
    for u in drawn:
        folds = (
            len(u.inputs) == 1
            and u.inputs[0] != INPUT
            and u.shape == shapes.get(tensor[u.inputs[0]])
            and readers.get(u.inputs[0], 0) == 1
            and u.family != "block"
        )
        if folds:
            tensor[u.id] = tensor[u.inputs[0]]
            ops[tensor[u.id]].append(u.op)
            continue
        tensor[u.id] = u.id
        ops[u.id] = [u.op]
        sources[u.id] = [tensor[i] for i in u.inputs]
        shapes[u.id] = u.shape
    graph.node(
        INPUT,
        _lines(fmt_shape(report.input_shape), "input"),
        fillcolor=COLOURS["io"],
        shape="box3d" if len(report.input_shape) == 3 else "box",
    )
    for tid, shape in shapes.items():
        if tid == INPUT:
            continue
        box = "box3d" if shape is not None and len(shape) == 3 else "box"
        graph.node(_dot(tid), _lines(fmt_shape(shape) if shape else "?", tid), fillcolor=COLOURS["shape"], shape=box)
        for source in sources[tid]:
            graph.edge(_dot(source), _dot(tid), label=" → ".join(ops[tid]))


def _clustered(graph: graphviz.Digraph, drawn: list[Unit], add: Callable[[Any, Unit], None]) -> None:
    """Add nodes inside nested clusters, one per block instance (outermost first)."""
    tree: dict[str | None, Any] = {}  # instance -> its subtree; None -> the units drawn at this level
    for u in drawn:
        node = tree
        for inst in u.clusters:
            node = node.setdefault(inst, {})
        node.setdefault(None, []).append(u)

    def emit(sub: Any, node: dict[str | None, Any]) -> None:  # sub: a graphviz graph or subgraph
        for u in node.get(None, []):
            add(sub, u)
        for inst, child in node.items():
            if inst is not None:
                with sub.subgraph(name=f"cluster_{inst}") as c:
                    c.attr(label=inst, style="rounded,dashed", color="#999999", fontsize="10")
                    emit(c, child)

    emit(graph, tree)


def render(source: str, path: str | Path, fmt: str | None = None) -> Path:
    """Write a DOT diagram to ``path`` as svg/png/pdf/dot (format from the suffix unless given)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if fmt not in FORMATS:
        raise DiagramError(f"unknown diagram format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "dot":
        data = source.encode("utf-8")
    else:
        data = _graphviz_render(source, fmt)
    write_atomically(path, data)
    return path


def _graphviz_render(source: str, fmt: str) -> bytes:
    try:
        import pygraphviz
    except ImportError:
        pygraphviz = None
    if pygraphviz is not None:
        agraph = pygraphviz.AGraph(string=source)
        if fmt == "png":
            agraph.graph_attr["dpi"] = "144"
        with _without_fontconfig_warnings():
            image: bytes = agraph.draw(format=fmt, prog="dot")
        return image
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError(
            f"rendering {fmt.upper()} needs Graphviz: `pip install pygraphviz` (or `pip install -e '.[diagram]'` in a "
            "clone of archspec's repository) installs the pygraphviz wheel, which bundles it (no system package "
            "needed); or install Graphviz's `dot`. `--format dot` needs neither."
        )
    args = [dot, f"-T{fmt}"] + (["-Gdpi=144"] if fmt == "png" else [])
    return subprocess.run(args, input=source.encode("utf-8"), capture_output=True, check=True).stdout


@contextlib.contextmanager
def _without_fontconfig_warnings() -> Iterator[None]:
    """Drop fontconfig's warnings from what Graphviz writes to stderr while it renders, pass the rest on.

    The fontconfig inside the pygraphviz wheel is older than many systems' configuration and, when it starts,
    warns about every element it does not know (``Fontconfig warning: ".../05-reset-dirs-sample.conf", line 6:
    unknown element "reset-dirs"``) whatever FONTCONFIG_FILE says, since it also scans its configuration
    templates. The warnings are harmless (the fonts are found) and say nothing about the diagram. They are
    written by C code to file descriptor 2, so that is where they are caught.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    with contextlib.suppress(AttributeError, ValueError, OSError):  # Python's own buffered stderr first
        sys.stderr.flush()
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().splitlines(keepends=True)
            kept = b"".join(_reworded(line) for line in lines if not line.startswith(b"Fontconfig warning:"))
            if kept:
                os.write(2, kept)


def _reworded(line: bytes) -> bytes:
    """Graphviz's note that a PNG was scaled down to fit cairo's largest bitmap (a long network drawn left
    to right), in words that say what to do about it; other lines as they are."""
    if b"graph is too large for cairo-renderer bitmaps" in line:
        return b"note: the PNG was scaled down to fit the renderer's largest bitmap; SVG or PDF keep every detail\n"
    return line
