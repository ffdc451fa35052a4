"""From a torch module to a list of spec layers: trace with torch.fx, run the graph once, read each node.

Modules that a kind covers are leaves of the trace and keep their module path as the layer's
name (``layer1.0.conv1``), so weights load by name. Everything else is traced into. Running the
traced graph once on an example input gives every node's value: the shapes and constants that
the fields need (``x.view(x.size(0), -1)``), and the figures the imported spec is checked against.
"""

from __future__ import annotations

import inspect
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from archspec.errors import ArchspecError
from archspec.importer.kinds import Inexpressible, module_fields, module_kind, module_tail
from archspec.importer.ops import HANDLERS, Call, Made, Part, Same, handler, kind
from archspec.layers import KIND_BY_TYPE


class UnsupportedOp(ArchspecError):
    """A node of the traced graph that no kind expresses exactly; the spec is not written."""

    def __init__(self, node: str, op: str, module: str, reason: str, where: str | None = None):
        self.node, self.op, self.module, self.reason, self.where = node, op, module, reason, where  # where: file:line
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
    key: str | None = None  # the output's key where the model returns a dict of one tensor (`{"out": x}`)
    unused: list[str] = field(default_factory=list)  # modules with weights that evaluation never calls (aux heads)
    classes: dict[str, str] = field(default_factory=dict)  # module path -> its class's name (names the blocks)


def trace(module: nn.Module) -> fx.GraphModule:
    """The module's fx graph with torch.nn leaves; a model fx cannot trace is refused with fx's reason."""
    try:
        graph = _Tracer().trace(module, concrete_args=_defaults(module))
    except Exception as exc:  # fx's errors (control flow on tensors, unsupported Python) are the user's model's limits
        raise UnsupportedOp("(trace)", type(exc).__name__, "", f"torch.fx cannot trace the model: {exc}") from None
    _drop_guards(graph)
    return fx.GraphModule(module, graph)


_CONSTANTS = (type(None), bool, int, float, str)


def _defaults(module: nn.Module) -> dict[str, Any]:
    """The forward's arguments after the input that default to a constant (ViT's ``attn_mask=None``,
    ``is_causal=False``), fixed at it, as a call with the input alone leaves them."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in params[1:] if p.kind in named and isinstance(p.default, _CONSTANTS)}


def _drop_guards(graph: fx.Graph) -> None:
    """fx keeps each fixed argument as an input with a check of its value; without them the model has one input."""
    guards = {n for n in graph.nodes if n.op == "placeholder"} - {next(iter(graph.nodes), None)}
    for node in graph.nodes:
        if node.op == "call_function" and node.all_input_nodes and all(i in guards for i in node.all_input_nodes):
            guards.add(node)  # `is_causal == False`, torch._assert(...), _assert_is_none(...)
    for node in reversed(list(graph.nodes)):
        if node in guards and all(user in guards for user in node.users):
            graph.erase_node(node)


def run(gm: fx.GraphModule, example: torch.Tensor) -> dict[fx.Node, Any]:
    """Every node's value on ``example``."""
    values: dict[fx.Node, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            values[n] = super().run_node(n)
            return values[n]

        def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
            # plain lists, as the traced code passes them: a wrapped function may change its list in place (Swin3D's)
            return super().call_function(target, _mutable(args), _mutable(kwargs))

    try:
        with torch.no_grad():
            Recorder(gm).run(example)
    except Exception as exc:  # the model's own error on this input (a wrong --input): say so, without a trace
        shape = "x".join(str(n) for n in example.shape[1:])
        raise ArchspecError(f"the model fails on an input of {shape}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return values


def _mutable(value: Any) -> Any:
    """fx's immutable lists and dicts, nested, as plain ones (a torch.Size or named tuple stays as it is)."""
    if type(value) is tuple:
        return tuple(_mutable(v) for v in value)
    if isinstance(value, list):
        return [_mutable(v) for v in value]
    if isinstance(value, dict):
        return {k: _mutable(v) for k, v in value.items()}
    return value


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
    reader = _Reader(gm, run(gm, example))
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)  # hold layers; not a unit to write once
    reader.out.classes = {path: type(m).__name__ for path, m in module.named_modules() if path and not isinstance(m, containers)}
    for node in gm.graph.nodes:
        if node.op == "output":
            result, reader.out.key = _returned(node)
            if not isinstance(result, fx.Node) or result not in reader.refs:
                raise UnsupportedOp(node.name, "output", "", "the model returns something other than one tensor")
            reader.out.output = reader.refs[result]
            reader.out.unused = _unused(module, gm)
            break
        try:
            reader.read(node)
        except UnsupportedOp as error:
            if not partial:
                raise
            reader.out.stopped = error
            break
    return reader.out


def _returned(node: fx.Node) -> tuple[Any, str | None]:
    """What the output node returns, and its key when that is a dict of one (a segmentation model's ``{"out": x}``
    without its auxiliary head; an entry that is None in evaluation, a head only training runs, is no output).
    A dict of several is refused: a spec has one output, and dropping one of them would leave layers that the
    spec computes for nothing."""
    result = node.args[0]
    if not isinstance(result, dict):
        return result, None
    outputs = {k: v for k, v in result.items() if v is not None}
    if len(outputs) != 1:
        keys = f"{len(outputs)} outputs ({', '.join(f'`{k}`' for k in outputs)})"
        raise UnsupportedOp(node.name, "output", "", f"the model returns a dict of {keys}; a spec has one")
    ((key, value),) = outputs.items()
    return value, str(key)


def _unused(module: nn.Module, gm: fx.GraphModule) -> list[str]:
    """The outermost modules whose every parameter and buffer the evaluation graph leaves unread: heads that only
    training calls (GoogLeNet's `aux1`). The spec has no layer for them, so their tensors are no part of its weights."""
    read = {str(n.target) for n in gm.graph.nodes if n.op in ("call_module", "get_attr")}
    keys = list(module.state_dict())
    left = {k for k in keys if not any(k == r or k.startswith(r + ".") for r in read)}
    paths: list[str] = []
    for k in keys:
        if k not in left:
            continue
        parts = k.split(".")
        owners = (".".join(parts[:i]) for i in range(1, len(parts)))  # from the outermost module in
        outer = next((p for p in owners if all(o in left for o in keys if o.startswith(p + "."))), k)
        if outer not in paths:
            paths.append(outer)
    return paths


class _Reader:
    """The walk over the graph's nodes in order, and what it has found so far."""

    def __init__(self, gm: fx.GraphModule, values: dict[fx.Node, Any]) -> None:
        self.gm, self.values = gm, values
        self.out = Imported()
        self.refs: dict[fx.Node, str] = {}  # node -> the spec reference of its value
        self.names = _Names()
        self.firsts: set[fx.Node] = set()  # modules that return a tuple whose first element is the layer's output
        self.used: set[str] = set()  # modules already called: a second call of one with parameters shares them
        self.unbatched: set[fx.Node] = set()  # learned tensors stored without a batch axis (torch's value lacks it)

    def refuse(self, node: fx.Node, reason: str) -> UnsupportedOp:
        return UnsupportedOp(node.name, _op(self.gm, node), _scope(node), f"it {reason}", _where(node))

    def read(self, node: fx.Node) -> None:
        value = self.values[node]
        if node.op == "placeholder":
            if self.refs:
                raise UnsupportedOp(node.name, "placeholder", "", "the model takes several inputs; archspec has one")
            self.refs[node] = "input"
            return
        if not isinstance(value, (torch.Tensor, tuple, list)) or _only_sizes(value):
            return  # a size or a constant (x.size(0)): handlers read its value where it is used
        learned = node.args[0] if node.args else None
        if isinstance(learned, fx.Node) and learned in self.unbatched and handler(node) is HANDLERS[torch.reshape]:
            assert isinstance(value, torch.Tensor)  # a layer scale's gamma.view(C, 1, 1)
            self.refs[node] = self.reshape_learned(node, learned, value)
            return
        try:
            made = _read_node(self.gm, node, self.values, self.used)
        except Inexpressible as exc:
            raise self.refuse(node, str(exc)) from None
        if isinstance(made, Same):
            self.refs[node] = self.refs[made.node]
            if made.node in self.unbatched:
                self.unbatched.add(node)
        elif isinstance(made, Part) and made.node in self.firsts:  # attention's (output, weights): the output
            if made.index:
                raise self.refuse(node, "reads attention's weights")
            self.refs[node] = self.refs[made.node]
        elif isinstance(made, Part):
            self.refs[node] = f"{self.refs[made.node]}:{made.index}"
        else:
            unbatched = next((i for i in made.inputs if i in self.unbatched), None)
            if unbatched is not None and KIND_BY_TYPE[made.tag].family != "merge":  # add and mul broadcast it
                raise self.refuse(node, f"takes `{unbatched.target}`, a learned tensor torch keeps without a batch axis")
            self.refs[node] = self.add(node, made)

    def reshape_learned(self, node: fx.Node, learned: fx.Node, value: torch.Tensor) -> str:
        """A reshape of a learned tensor kept without a batch axis (``gamma.view(C, 1, 1)``, ``gamma.reshape(1, -1,
        1, 1)``). The spec's learned tensor has a batch axis of 1, which its reshape keeps: torch's leading 1 is that
        axis, and a shape without one broadcasts in an add or mul as the spec's does with it (and stays unbatched)."""
        batch = value.dim() > 1 and value.shape[0] == 1
        shape = tuple(value.shape[1:] if batch else value.shape)
        name = self.add(node, Made(kind(torch.reshape), {"shape": list(shape)}, [learned]), shape)
        if not batch:
            self.unbatched.add(node)
        return name

    def add(self, node: fx.Node, made: Made, static: tuple[int, ...] | None = None) -> str:
        """The layer ``made`` for ``node``; returns its name. ``static``: its shape where torch's value has no batch
        axis (a reshape of a learned tensor: the spec's has a batch axis of 1, broadcast alike)."""
        inputs = [self.refs[i] for i in made.inputs]
        if node.op == "call_module" and type(self.gm.get_submodule(str(node.target))).__name__ in _FOLLOWED:
            self.names.claim(str(node.target))  # its parts are named under its path
            return _with_parts(self.gm, str(node.target), made, inputs, self.values[node], self.out.layers)
        op = made.tag if node.target is operator.getitem else _op_name(node)  # x[:, 0] is a select
        own = node.op in ("call_module", "get_attr")  # a module's or a learned tensor's own path
        name = self.names.claim(str(node.target) if own else ".".join(p for p in (_scope(node), op) if p))
        value = self.values[node]
        if node.op == "call_module" and isinstance(value, tuple):
            self.firsts.add(node)
            value = value[0]
        shape = tuple(value.shape[1:]) if isinstance(value, torch.Tensor) and static is None else static
        if node.op == "get_attr":  # a learned tensor has no batch axis, or one of 1 (batch_axis)
            shape = tuple(made.fields["shape"])
            if not made.fields.get("batch_axis"):
                self.unbatched.add(node)
        self.out.layers.append(Layer(made.tag, name, inputs, made.fields, shape))
        if node.op == "call_module":  # a timm norm's activation: a layer of its own after the norm, `bn1_act` after `bn1`
            for child, part in module_tail(self.gm.get_submodule(str(node.target))):
                tag = module_kind(part)
                assert tag is not None and isinstance(value, torch.Tensor)  # checked when the node was read
                step = self.names.claim(f"{node.target}_{child}")  # not `bn1.act`: a layer holds no other layers
                self.out.layers.append(Layer(tag, step, [name], module_fields(part, tag, value.dim()), shape))
                name = step
        return name


#: torchvision modules whose kind is the first step of their forward, the rest their own child modules in order:
#: their own step's name in the spec, and the children's
_FOLLOWED = {"PatchMerging": ("merge", ("norm", "reduction"))}


def _with_parts(gm: fx.GraphModule, path: str, made: Made, inputs: list[str], value: Any, layers: list[Layer]) -> str:
    """Swin's PatchMerging as torchvision's names have it: `features.2.merge`, then `features.2.norm` and
    `features.2.reduction` (its child modules). Returns the last layer's name."""
    module = gm.get_submodule(path)
    own, children = _FOLLOWED[type(module).__name__]
    layers.append(Layer(made.tag, f"{path}.{own}", inputs, made.fields, None))
    for child in children:
        part = getattr(module, child)
        tag = module_kind(part)
        if tag is None:
            raise UnsupportedOp(path, type(module).__name__, path, f"its `{child}` ({type(part).__name__}) has no kind")
        layers.append(Layer(tag, f"{path}.{child}", [layers[-1].name], module_fields(part, tag, value.dim()), None))
    layers[-1].shape = tuple(value.shape[1:])
    return layers[-1].name


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
        if isinstance(module, nn.MultiheadAttention):
            return _attention(module, node, values)
        (x,) = node.args if len(node.args) == 1 and not node.kwargs else (None,)
        if not isinstance(x, fx.Node):
            raise Inexpressible("is a module called with more than one argument")
        for child, part in module_tail(module):
            if module_kind(part) is None:
                raise Inexpressible(f"applies its `{child}` ({type(part).__name__}), which has no kind")
        return Made(tag, module_fields(module, tag, values[x].dim()), [x])
    if node.op == "get_attr":
        return _learned(gm, node)
    if node.op in ("call_function", "call_method"):
        handle = handler(node)
        if handle is None:
            raise Inexpressible("has no layer kind in archspec")
        return handle(Call(tuple(node.args), dict(node.kwargs), value, values[node]))
    raise Inexpressible(f"is a `{node.op}` node")


def _learned(gm: fx.GraphModule, node: fx.Node) -> Made:
    """A parameter the model reads directly (ConvNeXt's layer scale, ViT's class token): a `parameter` layer of
    the same name, so it loads by name. A leading axis of 1 is its batch axis (broadcast over the samples)."""
    owner, _, attr = str(node.target).rpartition(".")
    tensor = getattr(gm.get_submodule(owner), attr)
    if not isinstance(tensor, nn.Parameter):
        raise Inexpressible("is a buffer or constant tensor the model reads directly (archspec learns or computes each value)")
    shape = list(tensor.shape)
    fields: dict[str, Any] = {"shape": shape}
    if len(shape) > 1 and shape[0] == 1:
        fields = {"shape": shape[1:], "batch_axis": True}
    first = float(f"{float(tensor.detach().flatten()[0]):.7g}")  # float32's digits: 1e-06, not 9.999999974752427e-07
    if first and bool((tensor == first).all()):
        fields["value"] = first  # every element alike (a layer scale's 1e-6): the value a fresh build starts from
    return Made(kind(nn.Parameter), fields, [])


def _attention(module: nn.MultiheadAttention, node: fx.Node, values: dict[fx.Node, Any]) -> Made:
    """``attention(x, x, x)``: self-attention over batch-first tokens is a `multihead_attention` layer."""
    q, k, v = (*node.args, None, None, None)[:3]
    extra = {key: values.get(a, a) if isinstance(a, fx.Node) else a for key, a in node.kwargs.items()}
    if not (isinstance(q, fx.Node) and q is k is v):
        raise Inexpressible("is attention between different query, key and value (archspec has self-attention)")
    if any(extra.get(m) is not None for m in ("key_padding_mask", "attn_mask")) or extra.get("is_causal"):
        raise Inexpressible("is attention with a mask")
    if not module.batch_first or not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
        raise Inexpressible("is attention that is not batch-first self-attention of one width")
    return Made(kind(nn.MultiheadAttention), module_fields(module, kind(nn.MultiheadAttention), values[q].dim()), [q])
