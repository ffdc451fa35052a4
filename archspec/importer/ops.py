"""Functions and tensor methods of a traced graph, each read as a kind and its fields.

A handler receives the call (``Call``: its arguments as the graph holds them, their values from
running the graph once, the output's value) and returns what the spec says instead: a new layer
(``Made``), another node's output unchanged (``Same``, for ``x.contiguous()``) or one part of a
layer with several outputs (``Part``, for ``torch.chunk(...)[1]``). An operation it cannot state
exactly raises ``Inexpressible`` with the reason.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from archspec.importer.kinds import Inexpressible, axis, kind_named, module_fields, plain


@dataclass
class Call:
    args: tuple[Any, ...]  # as the graph holds them: nodes or constants
    kwargs: dict[str, Any]
    value: Callable[[Any], Any]  # the value an argument had when the graph ran
    out: Any

    def raw(self, i: int, name: str, default: Any = None) -> Any:
        return self.args[i] if i < len(self.args) else self.kwargs.get(name, default)

    def get(self, i: int, name: str, default: Any = None) -> Any:
        return self.value(self.raw(i, name, default))

    @property
    def rank(self) -> int:
        """Dimensions of the first input, the batch included."""
        return int(self.value(self.args[0]).dim())


@dataclass
class Made:
    tag: str
    fields: dict[str, Any]
    inputs: list[fx.Node]


@dataclass
class Same:
    node: fx.Node


@dataclass
class Part:
    node: fx.Node
    index: int


Result = Made | Same | Part
Handler = Callable[[Call], Result]


def kind(like: Any) -> str:
    """The kind of the torch function, method or class ``like`` (by torch's name)."""
    tag = kind_named(like.__name__)
    if tag is None:  # the tables below name only torch operations that have a kind
        raise AssertionError(f"no kind is named after {like.__name__}")
    return tag


def _tensor(c: Call, raw: Any) -> fx.Node:
    if not (isinstance(raw, fx.Node) and isinstance(c.value(raw), torch.Tensor)):
        raise Inexpressible(f"takes the constant {raw!r} where archspec has only tensors of the network")
    return raw


def _batch_axis(c: Call, dim: int, what: str) -> int:
    if dim % c.rank == 0:
        raise Inexpressible(f"{what} the batch axis")
    return axis(dim, c.rank)


def _merge(like: Callable[..., Any]) -> Handler:
    def handle(c: Call) -> Result:
        if c.kwargs.get("alpha", 1) != 1:
            raise Inexpressible("scales the second term (alpha)")
        a, b = c.raw(0, "input"), c.raw(1, "other")
        if like is operator.add:  # a sum that starts at 0 (MobileOne's branches, one missing): the other term
            for term, zero in ((a, b), (b, a)):
                if type(c.value(zero)) in (int, float) and c.value(zero) == 0 and isinstance(c.value(term), torch.Tensor):
                    return Same(_tensor(c, term))
        return Made(kind(like), {}, [_tensor(c, a), _tensor(c, b)])

    return handle


def _cat(c: Call) -> Result:
    parts = [_tensor(c, p) for p in c.raw(0, "tensors")]
    if len(parts) == 1:
        return Same(parts[0])  # DenseNet's first layer joins a list of one
    rank = int(c.value(parts[0]).dim())
    d = c.get(1, "dim", 0)
    if d % rank == 0:
        raise Inexpressible("joins along the batch axis")
    fields = {"axis": axis(d, rank)} if axis(d, rank) else {}
    return Made(kind(torch.cat), fields, parts)


def _flatten(c: Call) -> Result:
    start, end = c.get(1, "start_dim", 0), c.get(2, "end_dim", -1)
    fields: dict[str, Any] = {}
    if _batch_axis(c, start, "flattens"):
        fields["start_axis"] = axis(start, c.rank)
    if end % c.rank != c.rank - 1:
        fields["end_axis"] = axis(end, c.rank)
    return Made(kind(torch.flatten), fields, [_tensor(c, c.args[0])])


def _reshape(c: Call) -> Result:
    x, out = c.value(c.args[0]), c.out
    if out.dim() == 0 or out.shape[0] != x.shape[0]:
        raise Inexpressible("moves values across the batch axis")
    if out.dim() == 2 and x.dim() > 2:
        return Made(kind(torch.flatten), {}, [_tensor(c, c.args[0])])  # x.view(x.size(0), -1)
    return Made(kind(torch.reshape), {"shape": list(out.shape[1:])}, [_tensor(c, c.args[0])])


def _dims(c: Call, name: str) -> list[int]:
    """Dimensions given as varargs (``x.permute(0, 2, 1)``) or as one sequence."""
    first = c.get(1, name)
    if isinstance(first, (tuple, list)):
        return list(first)
    return [c.value(a) for a in c.args[1:]] if len(c.args) > 1 else [first]


def _reduce(like: Callable[..., Any], verb: str) -> Handler:
    """torch.mean or torch.sum over the given dimensions; ``verb`` says what it does in a refusal."""

    def handle(c: Call) -> Result:
        if c.kwargs.get("dtype") is not None:
            raise Inexpressible("changes the dtype")
        dims = c.get(1, "dim")
        if dims is None or dims == [] or dims == ():
            raise Inexpressible(f"{verb} over the batch axis too")
        dims = [dims] if isinstance(dims, int) else list(dims)
        fields: dict[str, Any] = {"axes": [_batch_axis(c, d, f"{verb} over") for d in dims]}
        if c.get(2, "keepdim", False):
            fields["keepdim"] = True
        return Made(kind(like), fields, [_tensor(c, c.args[0])])

    return handle


def _product(c: Call) -> Result:
    """``a * b``: of two tensors a mul layer; of a tensor and a number (``q * 0.125``) a scale."""
    a, b = c.raw(0, "input"), c.raw(1, "other")
    for x, number in ((a, b), (b, a)):
        factor = c.value(number)
        if isinstance(factor, (int, float)) and not isinstance(factor, bool) and isinstance(c.value(x), torch.Tensor):
            return Made(kind(torch.ops.aten.mul.Scalar), {"factor": factor}, [_tensor(c, x)])
    return _mul(c)


def _pad(c: Call) -> Result:
    """F.pad: torch's amounts come in pairs from the last axis backwards; a pad kind gives them per spatial axis."""
    amounts, mode, value = list(c.get(1, "pad")), c.get(2, "mode", "constant"), c.get(3, "value", None)
    if any(n < 0 for n in amounts):
        raise Inexpressible(f"crops (negative padding {tuple(amounts)})")
    pairs = [(0, 0)] * (c.rank - len(amounts) // 2) + [tuple(amounts[i : i + 2]) for i in range(len(amounts) - 2, -1, -2)]
    if all(pair == (0, 0) for pair in pairs):
        return Same(_tensor(c, c.args[0]))  # nothing to add (Swin pads a map to whole windows, here already whole)
    if any(pair != (0, 0) for pair in pairs[:2]):
        raise Inexpressible(f"pads the batch or channel axis ({tuple(amounts)}); a pad layer pads the axes after the channels")
    fields: dict[str, Any] = {"padding": plain([before if before == after else [before, after] for before, after in pairs[2:]])}
    if mode != "constant":
        fields["mode"] = mode
    elif value:
        fields["value"] = float(value)
    return Made(kind(F.pad), fields, [_tensor(c, c.args[0])])


def _permute(c: Call) -> Result:
    dims = _dims(c, "dims")
    if dims[0] % c.rank != 0:
        raise Inexpressible("moves the batch axis")
    return Made(kind(torch.permute), {"axes": [axis(d, c.rank) for d in dims[1:]]}, [_tensor(c, c.args[0])])


def _transpose(c: Call) -> Result:
    a, b = (_batch_axis(c, c.get(i, n), "swaps") for i, n in ((1, "dim0"), (2, "dim1")))
    return Made(kind(torch.transpose), {"axis0": a, "axis1": b}, [_tensor(c, c.args[0])])


def _chunk(c: Call) -> Result:
    fields: dict[str, Any] = {"chunks": c.get(1, "chunks")}
    if d := _batch_axis(c, c.get(2, "dim", 0), "splits"):
        fields["axis"] = d
    return Made(kind(torch.chunk), fields, [_tensor(c, c.args[0])])


def _split(c: Call) -> Result:
    dim = c.get(2, "dim", 0)
    fields: dict[str, Any] = {"sizes": [int(t.shape[dim]) for t in c.out]}
    if d := _batch_axis(c, dim, "splits"):
        fields["axis"] = d
    return Made(kind(torch.split), fields, [_tensor(c, c.args[0])])


def _getitem(c: Call) -> Result:
    base, index = c.args[0], c.value(c.args[1])
    if isinstance(c.value(base), (tuple, list)) and isinstance(index, int):
        return Part(base, index % len(c.value(base)))
    keys = index if isinstance(index, tuple) else (index,)
    whole = slice(None)
    picked = [(d, k) for d, k in enumerate(keys) if k != whole]
    if not isinstance(c.value(base), torch.Tensor) or len(picked) != 1 or picked[0][0] == 0:
        raise Inexpressible(f"indexes with {index!r} (archspec takes one position or slice of one axis)")
    d, key = picked[0]
    if isinstance(key, int):
        return Made(kind(torch.select), {"axis": d - 1, "index": key} if d > 1 else {"index": key}, [_tensor(c, base)])
    if not isinstance(key, slice) or any(v is not None and not isinstance(v, int) for v in (key.start, key.stop, key.step)):
        raise Inexpressible(f"indexes with {key!r}")
    fields = {"axis": d - 1, "start": key.start or 0, "stop": key.stop, "step": key.step or 1}
    defaults = {"axis": 0, "start": 0, "stop": None, "step": 1}
    return Made(kind(slice), {k: v for k, v in fields.items() if v != defaults[k]}, [_tensor(c, base)])


#: arguments of a functional form that its module does not take: those that change nothing in evaluation,
#: and those that change nothing at one value
_IGNORED = {"training", "inplace", "_stacklevel"}
_ONLY = {"dtype": None, "antialias": False}


def _twin(cls: type[nn.Module], *names: str) -> Handler:
    """A function that does what a torch.nn module does (F.relu and nn.ReLU): build the module, read it."""
    accepted = set(inspect.signature(cls).parameters)

    def handle(c: Call) -> Result:
        given = {n: c.value(a) for n, a in zip(names, c.args[1:])} | {k: c.value(v) for k, v in c.kwargs.items()}
        for name, value in given.items():
            if name not in accepted and name not in _IGNORED and (name not in _ONLY or value != _ONLY[name]):
                raise Inexpressible(f"is called with {name}={value!r}")
        module = cls(**{k: v for k, v in given.items() if k in accepted})
        return Made(kind(cls), module_fields(module, kind(cls), c.rank), [_tensor(c, c.args[0])])

    return handle


def _expand(c: Call) -> Result:
    x, out = c.value(c.args[0]), c.out
    if x.shape[0] != 1 or out.shape[1:] != x.shape[1:]:
        raise Inexpressible(
            f"expands {tuple(x.shape)} to {tuple(out.shape)} (archspec broadcasts only a learned tensor's batch axis)"
        )
    return Same(_tensor(c, c.args[0]))  # a learned tensor repeated for every sample (ViT's class token): concat does it


_upsample = _twin(nn.Upsample, "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")


def _interpolate(c: Call) -> Result:
    """F.interpolate; to the size of another tensor (``size=y.shape[-2:]``, as segmentation heads resize to the
    image) it is an upsample with that tensor as its second input, which stays right when the input size changes."""
    made = _upsample(c)
    like = _spatial_size_of(c, c.raw(1, "size"))
    if like is None or not isinstance(made, Made):
        return made
    return Made(made.tag, {k: v for k, v in made.fields.items() if k != "size"}, [*made.inputs, like])


def _spatial_size_of(c: Call, raw: Any) -> fx.Node | None:
    """The tensor of the input's rank whose spatial axes ``raw`` is (``y.shape[2:]``, ``y.size()[-2:]``), or None."""
    if not (isinstance(raw, fx.Node) and raw.target is operator.getitem and isinstance(raw.args[1], slice)):
        return None
    shape: Any
    key: slice
    shape, key = raw.args  # type: ignore[assignment]
    is_shape = isinstance(shape, fx.Node) and (
        (shape.target is getattr and shape.args[1:] == ("shape",)) or (shape.target == "size" and len(shape.args) == 1)
    )
    if not is_shape or not isinstance(shape.args[0], fx.Node) or key.stop is not None or key.step not in (None, 1):
        return None
    like = shape.args[0]
    value = c.value(like)
    if not isinstance(value, torch.Tensor) or value.dim() != c.rank or key.start is None or key.start % c.rank != 2:
        return None
    return like


_dropout_module = _twin(nn.Dropout, "p", "training", "inplace")


def _dropout(c: Call) -> Result:
    """F.dropout, whose ``training`` defaults to True: it drops in evaluation unless given ``self.training``, and
    a dropout layer does nothing there."""
    if c.get(2, "training", True) and c.get(1, "p", 0.5) > 0:
        raise Inexpressible("drops values in evaluation too (training=True, its default); a dropout layer passes them")
    return _dropout_module(c)


def _same(c: Call) -> Result:
    return Same(_tensor(c, c.args[0]))


_POOLS = ("kernel_size", "stride", "padding")
_mul = _merge(operator.mul)

#: every function and tensor method the importer reads (methods are looked up on torch.Tensor)
HANDLERS: dict[Any, Handler] = {
    **dict.fromkeys([operator.add, operator.iadd, torch.add, torch.Tensor.add], _merge(operator.add)),
    **dict.fromkeys([operator.mul, operator.imul, torch.mul, torch.Tensor.mul], _product),
    **dict.fromkeys(
        [operator.sub, operator.isub, torch.sub, torch.subtract, torch.Tensor.sub, torch.Tensor.subtract], _merge(operator.sub)
    ),
    **dict.fromkeys([torch.cat, torch.concat], _cat),
    **dict.fromkeys([torch.flatten, torch.Tensor.flatten], _flatten),
    **dict.fromkeys([torch.reshape, torch.Tensor.reshape, torch.Tensor.view], _reshape),
    **dict.fromkeys([torch.mean, torch.Tensor.mean], _reduce(torch.mean, "averages")),
    **dict.fromkeys([torch.sum, torch.Tensor.sum], _reduce(torch.sum, "sums")),
    F.pad: _pad,
    **dict.fromkeys([torch.permute, torch.Tensor.permute], _permute),
    **dict.fromkeys([torch.transpose, torch.Tensor.transpose], _transpose),
    **dict.fromkeys([torch.chunk, torch.Tensor.chunk], _chunk),
    **dict.fromkeys([torch.split, torch.Tensor.split], _split),
    operator.getitem: _getitem,
    torch.Tensor.contiguous: _same,
    torch.Tensor.expand: _expand,
    **dict.fromkeys([F.relu, torch.relu, torch.Tensor.relu], _twin(nn.ReLU, "inplace")),
    F.relu6: _twin(nn.ReLU6, "inplace"),
    F.gelu: _twin(nn.GELU, "approximate"),
    F.silu: _twin(nn.SiLU, "inplace"),
    F.hardswish: _twin(nn.Hardswish, "inplace"),
    F.hardsigmoid: _twin(nn.Hardsigmoid, "inplace"),
    F.leaky_relu: _twin(nn.LeakyReLU, "negative_slope", "inplace"),
    F.elu: _twin(nn.ELU, "alpha", "inplace"),
    **dict.fromkeys([torch.sigmoid, F.sigmoid, torch.Tensor.sigmoid], _twin(nn.Sigmoid)),
    **dict.fromkeys([torch.tanh, F.tanh, torch.Tensor.tanh], _twin(nn.Tanh)),  # type: ignore[list-item]
    **dict.fromkeys([F.softmax, torch.softmax, torch.Tensor.softmax], _twin(nn.Softmax, "dim", "_stacklevel", "dtype")),
    **dict.fromkeys([F.log_softmax, torch.Tensor.log_softmax], _twin(nn.LogSoftmax, "dim", "_stacklevel", "dtype")),
    F.dropout: _dropout,
    F.adaptive_avg_pool1d: _twin(nn.AdaptiveAvgPool1d, "output_size"),
    F.adaptive_avg_pool2d: _twin(nn.AdaptiveAvgPool2d, "output_size"),
    F.adaptive_avg_pool3d: _twin(nn.AdaptiveAvgPool3d, "output_size"),
    F.adaptive_max_pool2d: _twin(nn.AdaptiveMaxPool2d, "output_size", "return_indices"),
    **{f: _twin(nn.MaxPool2d, *_POOLS, "dilation", "ceil_mode", "return_indices") for f in (F.max_pool2d, torch.max_pool2d)},
    F.max_pool1d: _twin(nn.MaxPool1d, *_POOLS, "dilation", "ceil_mode", "return_indices"),
    F.avg_pool1d: _twin(nn.AvgPool1d, *_POOLS, "ceil_mode", "count_include_pad"),
    F.avg_pool2d: _twin(nn.AvgPool2d, *_POOLS, "ceil_mode", "count_include_pad", "divisor_override"),
    F.interpolate: _interpolate,
}


def handler(node: fx.Node) -> Handler | None:
    """The handler of a call_function or call_method node, None for an operation with no kind."""
    target = (
        getattr(torch.Tensor, node.target, None) if node.op == "call_method" and isinstance(node.target, str) else node.target
    )
    try:
        return HANDLERS.get(target)
    except TypeError:  # an unhashable target
        return None
