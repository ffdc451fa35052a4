"""From a torch module to a list of spec layers: trace with torch.fx, run the graph once, read each node.

Modules that a kind covers are leaves of the trace and keep their module path as the layer's
name (``layer1.0.conv1``), so weights load by name. Everything else is traced into. Running the
traced graph once on an example input gives every node's value: the shapes and constants that
the fields need (``x.view(x.size(0), -1)``), and the figures the imported spec is checked against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from archspec.errors import ArchspecError
from archspec.importer.kinds import Inexpressible, module_fields, module_kind
from archspec.importer.ops import Call, Made, Part, Same, handler


class UnsupportedOp(ArchspecError):
    """A node of the traced graph that no kind expresses exactly; the spec is not written."""

    def __init__(self, node: str, op: str, module: str, reason: str, where: str | None = None, partial: str | None = None):
        self.node, self.op, self.module, self.reason, self.where = node, op, module, reason, where
        self.partial = partial  # the spec up to this node, when asked for (import --partial)
        place = f"in module `{module}`" if module else "in the top-level forward"
        text = f"cannot import graph node `{node}` ({op}) {place}: {reason}"
        super().__init__(text + (f"\n    at {where}" if where else ""))


class _Tracer(fx.Tracer):
    record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_kind(m) is not None


@dataclass
class Layer:
    tag: str
    name: str
    inputs: list[str]
    fields: dict[str, Any]
    shape: tuple[int, ...] | None  # its output without the batch (None for a layer with several outputs)


@dataclass
class Imported:
    layers: list[Layer] = field(default_factory=list)
    output: str = "input"
    stopped: UnsupportedOp | None = None  # where a partial import stopped


def trace(module: nn.Module) -> fx.GraphModule:
    """The module's fx graph with torch.nn leaves; a model fx cannot trace is refused with fx's reason."""
    try:
        graph = _Tracer().trace(module)
    except Exception as exc:  # fx's errors (control flow on tensors, unsupported Python) are the user's model's limits
        raise UnsupportedOp("(trace)", type(exc).__name__, "", f"torch.fx cannot trace the model: {exc}") from None
    return fx.GraphModule(module, graph)


def run(gm: fx.GraphModule, example: torch.Tensor) -> dict[fx.Node, Any]:
    """Every node's value on ``example``."""
    values: dict[fx.Node, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            values[n] = super().run_node(n)
            return values[n]

    try:
        with torch.no_grad():
            Recorder(gm).run(example)
    except Exception as exc:  # the model's own error on this input (a wrong --input): say so, without a trace
        shape = "x".join(str(n) for n in example.shape[1:])
        raise ArchspecError(f"the model fails on an input of {shape}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return values


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return str(list(stack.values())[-1][0]) if stack else ""


def _where(node: fx.Node) -> str | None:
    """``file:line`` of the user's code that made the node (the last frame outside torch), when recorded."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', node.meta.get("stack_trace") or "")
    outside = [f"{path}:{line}" for path, line in frames if "/torch/" not in path]
    return outside[-1] if outside else None


def _op(gm: fx.GraphModule, node: fx.Node) -> str:
    """The operation as a user knows it: ``Tensor.view``, ``torch.nn.functional.pad``, ``module PReLU``."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op == "call_module":
        return f"module {type(gm.get_submodule(str(node.target))).__name__}"
    target = node.target
    owner = getattr(target, "__module__", None) or ""
    return f"{owner}.{getattr(target, '__name__', target)}".lstrip(".")


class _Names:
    """Unique layer names: module paths as they are, operations named after their op inside their module."""

    def __init__(self) -> None:
        self.taken: set[str] = {"input"}

    def _free(self, name: str) -> bool:
        return name not in self.taken and not any(t.startswith(name + ".") or name.startswith(t + ".") for t in self.taken)

    def claim(self, wanted: str) -> str:
        name, n = wanted, 0
        while not self._free(name):
            n += 1
            name = f"{wanted}_{n}"
        self.taken.add(name)
        return name


def _op_name(node: fx.Node) -> str:
    """``add`` for operator.add and x += y, ``adaptive_avg_pool2d`` for F.adaptive_avg_pool2d."""
    name = str(node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "op")).lstrip("_")
    return name[1:] if name in ("iadd", "imul") else name


def read(module: nn.Module, example: torch.Tensor, partial: bool = False) -> Imported:
    """The spec layers of ``module`` on ``example`` (batched). Raises UnsupportedOp at the first node no kind
    expresses, or with ``partial``, returns the layers before it and the error in ``stopped``."""
    gm = trace(module)
    values = run(gm, example)
    out = Imported()
    refs: dict[fx.Node, str] = {}  # node -> the spec reference of its value
    names = _Names()
    used: set[str] = set()  # modules already called: a second call of one with parameters shares them
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if refs:
                raise UnsupportedOp(node.name, "placeholder", "", "the model takes several inputs; archspec has one")
            refs[node] = "input"
            continue
        if node.op == "output":
            result = node.args[0]
            if not isinstance(result, fx.Node) or result not in refs:
                raise UnsupportedOp(node.name, "output", "", "the model returns something other than one tensor")
            out.output = refs[result]
            break
        if not isinstance(values[node], (torch.Tensor, tuple, list)) or _only_sizes(values[node]):
            continue  # a size or a constant (x.size(0)): handlers read its value where it is used
        try:
            made = _read_node(gm, node, values, used)
        except Inexpressible as exc:
            error = UnsupportedOp(node.name, _op(gm, node), _scope(node), f"it {exc}", _where(node))
            if not partial:
                raise error from None
            out.stopped = error
            break
        if isinstance(made, Same):
            refs[node] = refs[made.node]
        elif isinstance(made, Part):
            refs[node] = f"{refs[made.node]}:{made.index}"
        else:
            scope = str(node.target) if node.op == "call_module" else ".".join(p for p in (_scope(node), _op_name(node)) if p)
            name = names.claim(scope)
            value = values[node]
            shape = tuple(value.shape[1:]) if isinstance(value, torch.Tensor) else None
            out.layers.append(Layer(made.tag, name, [refs[i] for i in made.inputs], made.fields, shape))
            refs[node] = name
    return out


def _only_sizes(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and not any(isinstance(v, torch.Tensor) for v in value)


def _read_node(gm: fx.GraphModule, node: fx.Node, values: dict[fx.Node, Any], used: set[str]) -> Made | Same | Part:
    def value(arg: Any) -> Any:
        return fx.node.map_arg(arg, lambda n: values[n])

    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        tag = module_kind(module)
        assert tag is not None  # only modules with a kind are leaves
        if node.target in used and any(True for _ in module.parameters()):
            raise Inexpressible("is a module called twice, which shares its weights; a spec layer has its own")
        used.add(str(node.target))
        (x,) = node.args if len(node.args) == 1 and not node.kwargs else (None,)
        if not isinstance(x, fx.Node):
            raise Inexpressible("is a module called with more than one argument")
        return Made(tag, module_fields(module, tag, values[x].dim()), [x])
    if node.op in ("call_function", "call_method"):
        handle = handler(node)
        if handle is None:
            raise Inexpressible("has no layer kind in archspec")
        return handle(Call(tuple(node.args), dict(node.kwargs), value, values[node]))
    raise Inexpressible(f"is a `{node.op}` node (a tensor held by the model, read directly: no kind yet)")
