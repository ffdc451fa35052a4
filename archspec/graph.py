"""Spec -> layer graph (networkx DiGraph): one node per layer plus ``input``, an edge per reference."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from archspec.codes import Code
from archspec.errors import Diagnostic
from archspec.layers import LayerBase
from archspec.spec import Spec
from archspec.spec.load import Mark, mark_of

INPUT = "input"


def build_graph(spec: Spec) -> tuple[nx.DiGraph[str], list[Diagnostic]]:
    """The DAG of the spec and any cycle diagnostics (cyclic edges are dropped so analysis can go on).

    The order of a layer's inputs is ``layer.inputs``; edges only carry the topology.
    Node attribute ``order`` is the file position, used to keep topological order stable.
    """
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node(INPUT, layer=None, order=-1)
    for order, layer in enumerate(spec.layers):
        graph.add_node(layer_name(layer), layer=layer, order=order)
    for order, name in enumerate(spec.unparsed, len(spec.layers)):
        graph.add_node(name, layer=None, order=order, unparsed=True)
    for name, inputs in _all_inputs(spec):
        for producer in inputs or ():
            graph.add_edge(producer, name)
    return graph, _break_cycles(graph, spec)


def _all_inputs(spec: Spec) -> Iterator[tuple[str, list[str] | None]]:
    for layer in spec.layers:
        yield layer_name(layer), layer.inputs
    yield from spec.unparsed.items()


def layer_name(layer: LayerBase) -> str:
    """The name of a layer of a Spec (the loader names every one; ``name`` is optional only in the file)."""
    assert layer.name is not None
    return layer.name


def _break_cycles(graph: nx.DiGraph[str], spec: Spec) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    if nx.is_directed_acyclic_graph(graph):  # the usual case, and much cheaper than a cycle search
        return diagnostics
    for _ in range(100):  # each pass reports one cycle and cuts it
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            break
        names = [u for u, _ in cycle]
        first = min(names, key=lambda n: graph.nodes[n]["order"])
        start = names.index(first)
        loop = names[start:] + names[:start] + [first]
        mark = layer_mark(spec, first, "inputs")
        diagnostics.append(
            Diagnostic(
                Code.CYCLIC_REFERENCE,
                "cyclic reference: " + " → ".join(f"`{n}`" for n in reversed(loop)),
                spec.path,
                mark.line,
                mark.column,
                "a layer cannot depend on its own output; check the `inputs` of these layers",
                layer=first,
            )
        )
        graph.remove_edge(*cycle[-1][:2])
    return diagnostics


def topological(graph: nx.DiGraph[str]) -> list[str]:
    """Layer names in dependency order, ties broken by file order (so a chain reads as written)."""
    order = nx.get_node_attributes(graph, "order")
    return [n for n in nx.lexicographical_topological_sort(graph, key=order.__getitem__) if n != INPUT]


def layer_mark(spec: Spec, name: str, field: str | None = None) -> Mark:
    """Where a layer (or one of its fields, when present) stands in the file."""
    data = spec.source.get(name)
    if data is None:
        return Mark(1, 1)
    if field is not None:
        mark = mark_of(data, field)
        if mark is not None:
            return mark
    return data.mark


def spliced(
    graph: nx.DiGraph[str], order: list[str], removed: list[str], added: list[LayerBase], rewired: tuple[str, str] | None
) -> tuple[list[str], nx.DiGraph[str]] | None:
    """The order and graph once the layers ``removed`` (consecutive in ``order``) are replaced by ``added``, read
    only from layers before them, and the layer ``rewired[0]`` reads ``rewired[1]`` instead: the new layers take
    the removed ones' place in the order, which stays the one ``topological`` gives. None when the removed
    layers are not consecutive there (a layer before them in the file comes later in the order)."""
    at = order.index(removed[0])
    if order[at : at + len(removed)] != removed:
        return None
    place = nx.get_node_attributes(graph, "order")  # the file's order
    low = max((place[n] for n in order[:at]), default=-1)
    high = min((place[n] for n in order[at + len(removed) :]), default=low + 1)
    if not low < min(place[n] for n in removed) <= max(place[n] for n in removed) < high:
        return None
    out = graph.copy()
    kept = [(u, v) for u in removed for v in graph.successors(u) if v not in removed]  # readers of a name written again
    out.remove_nodes_from(removed)
    for k, layer in enumerate(added, 1):
        name = layer_name(layer)
        out.add_node(name, layer=layer, order=low + (high - low) * k / (len(added) + 1))  # between, in file order
        for producer in layer.inputs or ():
            out.add_edge(producer, name)
    names = {layer_name(layer) for layer in added}
    out.add_edges_from((u, v) for u, v in kept if u in names and (rewired is None or v != rewired[0]))
    if rewired is not None:
        reader, producer = rewired
        out.add_edge(producer, reader)
    return [*order[:at], *(layer_name(layer) for layer in added), *order[at + len(removed) :]], out
