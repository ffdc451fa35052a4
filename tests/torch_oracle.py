"""An independent reading of spec dicts in torch, used as the oracle of the property tests.

It does not use archspec: each layer dict becomes the torch.nn module a PyTorch
user would write (``BUILDERS``, one entry per layer type), sized from the actual
incoming tensor, and runs in list order.
Its figures (output shapes, parameter and buffer counts, FLOPs/2) are torch's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leakyrelu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def saved_bytes(module: nn.Module, run) -> tuple[int, object]:
    """Bytes autograd keeps for the backward pass while ``run()`` runs (each storage once, the module's own
    parameters and buffers left out), and what ``run()`` returned: torch's own account of saved memory."""
    state = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    saved: dict[int, int] = {}

    def keep(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in state:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        out = run()
    return sum(saved.values()), out


def _size(value):
    """A per-axis field as torch takes it: an int, or a tuple."""
    return tuple(value) if isinstance(value, list) else value


def _rank(x: torch.Tensor) -> int:
    """Spatial axes of a batched tensor (N, C, ...)."""
    return x.dim() - 2


def _conv(fields: dict, x: torch.Tensor) -> nn.Module:
    c = x.shape[1]
    groups = c if fields.get("groups") == "depthwise" else fields.get("groups", 1)
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[_rank(x)]
    return conv(
        c,
        fields["out_channels"],
        _size(fields["kernel_size"]),
        stride=_size(fields.get("stride", 1)),
        padding=_size(fields.get("padding", 0)),
        dilation=_size(fields.get("dilation", 1)),
        groups=groups,
        bias=fields.get("bias", True),
        padding_mode=fields.get("padding_mode", "zeros"),
    )


def _maxpool(fields: dict, x: torch.Tensor) -> nn.Module:
    pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[_rank(x)]
    return pool(
        _size(fields["kernel_size"]),
        _size(fields.get("stride")),
        _size(fields.get("padding", 0)),
        _size(fields.get("dilation", 1)),
        ceil_mode=fields.get("ceil_mode", False),
    )


def _avgpool(fields: dict, x: torch.Tensor) -> nn.Module:
    pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[_rank(x)]
    return pool(
        _size(fields["kernel_size"]),
        _size(fields.get("stride")),
        _size(fields.get("padding", 0)),
        ceil_mode=fields.get("ceil_mode", False),
        count_include_pad=fields.get("count_include_pad", True),
    )


def _adaptive(kind: str):
    def build(fields: dict, x: torch.Tensor) -> nn.Module:
        return getattr(nn, f"Adaptive{kind}Pool{_rank(x)}d")(_size(fields["output_size"]))

    return build


def _global(reduce: str):
    def build(fields: dict, x: torch.Tensor) -> nn.Module:
        dims = tuple(range(2, x.dim()))
        return Lambda(lambda x: x.mean(dim=dims) if reduce == "mean" else x.amax(dim=dims))

    return build


def _batchnorm(fields: dict, x: torch.Tensor) -> nn.Module:
    norm = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[x.dim()]
    return norm(x.shape[1], affine=fields.get("affine", True))


def _dropout(kind):
    return lambda fields, x: kind(fields.get("p", 0.5))


def _plain(cls):
    return lambda fields, x: cls()


def _per_sample(xs) -> list[torch.Tensor]:
    """Inputs broadcast sample by sample: a lower-rank input gains axes after the batch axis, not before it."""
    rank = max(x.dim() for x in xs)
    out = []
    for x in xs:
        while x.dim() < rank:
            x = x.unsqueeze(1)
        out.append(x)
    return out


def _concat(fields: dict, x: torch.Tensor) -> nn.Module:
    axis = fields.get("axis", 0)
    return Lambda(lambda *xs: torch.cat(xs, dim=axis + 1 if axis >= 0 else axis))


def _softmax(fn):
    def build(fields: dict, x: torch.Tensor) -> nn.Module:
        axis = fields.get("axis", 0)
        return Lambda(lambda x: fn(x, dim=axis + 1 if axis >= 0 else axis))

    return build


class ChannelsLast(nn.Module):
    """``inner`` applied with the channels moved last (ConvNeXt's LayerNorm2d written out, for any rank)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, *range(2, x.dim()), 1)).permute(0, x.dim() - 1, *range(1, x.dim() - 1))


def _layernorm(fields: dict, x: torch.Tensor) -> nn.Module:
    affine = {"elementwise_affine": fields.get("elementwise_affine", True), "bias": fields.get("bias", True)}
    eps = fields.get("eps", 1e-5)
    if fields.get("over") == "channels":
        if x.dim() == 4:  # torchvision's own
            from torchvision.models.convnext import LayerNorm2d

            return LayerNorm2d(x.shape[1], eps=eps, **affine)
        return ChannelsLast(nn.LayerNorm(x.shape[1], eps=eps, **affine))
    if fields.get("normalized_shape"):
        return nn.LayerNorm(fields["normalized_shape"], eps=eps, **affine)
    n = fields.get("over", 1)
    if n >= x.dim():
        raise ValueError(f"{n} trailing axes of a sample of rank {x.dim() - 1}")
    return nn.LayerNorm(x.shape[x.dim() - n :], eps=eps, **affine)


def _instancenorm(fields: dict, x: torch.Tensor) -> nn.Module:
    norm = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}[x.dim()]
    return norm(x.shape[1], affine=fields.get("affine", False), track_running_stats=fields.get("track_running_stats", False))


def _dim(axis: int) -> int:
    """A per-sample axis (negative from the end) as torch counts it, batch included."""
    return axis + 1 if axis >= 0 else axis


def _slice(fields: dict, x: torch.Tensor) -> nn.Module:
    index = [slice(None)] * x.dim()
    index[_dim(fields.get("axis", 0))] = slice(fields.get("start", 0), fields.get("stop"), fields.get("step", 1))
    return Lambda(lambda x: x[tuple(index)])


def _select(fields: dict, x: torch.Tensor) -> nn.Module:
    """An integer index, as Python indexing takes it: the axis goes."""
    dim = _dim(fields.get("axis", 0)) % x.dim()
    return Lambda(lambda x: x[(slice(None),) * dim + (fields["index"],)])


def _crop(centre: bool):
    """U-Net's crop of the first input to a size (`size`, or the second input's): from (n - m) // 2 when centred."""

    def build(fields: dict, x: torch.Tensor) -> nn.Module:
        def crop(x, *ref):
            sizes = ref[0].shape[2:] if ref else _per_axis(fields["size"], _rank(x))
            starts = [(n - m) // 2 for n, m in zip(x.shape[2:], sizes)] if centre else _per_axis(fields.get("start", 0), _rank(x))
            for axis, (start, m) in enumerate(zip(starts, sizes), 2):
                if start + m > x.shape[axis]:
                    raise ValueError("the crop does not fit")
                x = x.narrow(axis, start, m)
            return x

        return Lambda(crop)

    return build


def _permute(fields: dict, x: torch.Tensor) -> nn.Module:
    rank = x.dim() - 1
    return Lambda(lambda x: x.permute(0, *(a % rank + 1 for a in fields["axes"])))


def _mean(fields: dict, x: torch.Tensor) -> nn.Module:
    dims = [_dim(a) for a in fields["axes"]]
    return Lambda(lambda x: x.mean(dim=dims, keepdim=fields.get("keepdim", False)))


def _sum(fields: dict, x: torch.Tensor) -> nn.Module:
    dims = [_dim(a) for a in fields["axes"]]
    return Lambda(lambda x: torch.sum(x, dim=dims, keepdim=fields.get("keepdim", False)))


_PADS = {"constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}


def _pad(fields: dict, x: torch.Tensor) -> nn.Module:
    """torch.nn's padding module of the mode and rank, its padding as torch orders it: the last axis first,
    (left, right, top, bottom, front, back)."""
    rank = x.dim() - 2
    padding = fields["padding"]
    per_axis = [padding] * rank if isinstance(padding, int) else padding
    if len(per_axis) != rank:
        raise ValueError("one entry per spatial axis")
    sides = [(p, p) if isinstance(p, int) else tuple(p) for p in per_axis]
    order = tuple(n for before, after in reversed(sides) for n in (before, after))
    mode = fields.get("mode", "constant")
    cls = getattr(nn, f"{_PADS[mode]}{rank}d")
    return cls(order, fields.get("value", 0.0)) if mode == "constant" else cls(order)


class Learned(nn.Module):
    """A learned tensor and nothing else: the output is the parameter, with a batch axis of one."""

    def __init__(self, shape, value: float):
        super().__init__()
        self.tensor = nn.Parameter(torch.full(shape, value))

    def forward(self):
        return torch.stack([self.tensor])  # a new tensor (FlopCounterMode refuses a view of a parameter)


class SelfAttention(nn.Module):
    """Multi-head self-attention as the papers write it: projections of its own, SDPA per head."""

    def __init__(self, features: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(features, 3 * features, bias=bias)
        self.out = nn.Linear(features, features, bias=bias)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # (b, heads, n, d / heads)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


def _window_attention(fields: dict, x: torch.Tensor) -> nn.Module:
    """torchvision's own Swin attention (N×H×W×C); it drops a shift where one window covers the axis."""
    from torchvision.models.swin_transformer import ShiftedWindowAttention

    def pair(value):
        return list(value) if isinstance(value, (list, tuple)) else [value, value]

    return ShiftedWindowAttention(
        x.shape[-1],
        pair(fields["window_size"]),
        pair(fields.get("shift_size", 0)),
        fields["num_heads"],
        qkv_bias=fields.get("qkv_bias", True),
        proj_bias=fields.get("proj_bias", True),
    )


def _patch_merging(fields: dict, x: torch.Tensor) -> nn.Module:
    from torchvision.models.swin_transformer import _patch_merging_pad

    return Lambda(_patch_merging_pad)


def _stochastic_depth(fields: dict, x: torch.Tensor) -> nn.Module:
    from torchvision.ops import StochasticDepth

    return StochasticDepth(fields["p"], fields.get("mode", "row"))


def _conv_transpose(fields: dict, x: torch.Tensor) -> nn.Module:
    conv = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[_rank(x)]
    return conv(
        x.shape[1],
        fields["out_channels"],
        _size(fields["kernel_size"]),
        stride=_size(fields.get("stride", 1)),
        padding=_size(fields.get("padding", 0)),
        output_padding=_size(fields.get("output_padding", 0)),
        groups=fields.get("groups", 1),
        bias=fields.get("bias", True),
        dilation=_size(fields.get("dilation", 1)),
    )


def _upsample(fields: dict, x: torch.Tensor) -> nn.Module:
    if fields.get("size") is None and fields.get("scale_factor") is None:  # to a second input's size
        mode, corners = fields.get("mode", "nearest"), fields.get("align_corners")
        return Lambda(lambda x, like: nn.functional.interpolate(x, size=like.shape[2:], mode=mode, align_corners=corners))
    return nn.Upsample(
        size=_size(fields.get("size")),
        scale_factor=_size(fields.get("scale_factor")),
        mode=fields.get("mode", "nearest"),
        align_corners=fields.get("align_corners"),
    )


#: type -> how a PyTorch user would write that layer, given its fields and the incoming tensor
BUILDERS = {
    **{f"conv{n}d": _conv for n in (1, 2, 3)},
    **{f"maxpool{n}d": _maxpool for n in (1, 2, 3)},
    **{f"avgpool{n}d": _avgpool for n in (1, 2, 3)},
    **{f"adaptiveavgpool{n}d": _adaptive("Avg") for n in (1, 2, 3)},
    **{f"adaptivemaxpool{n}d": _adaptive("Max") for n in (1, 2, 3)},
    **{f"globalavgpool{n}d": _global("mean") for n in (1, 2, 3)},
    **{f"globalmaxpool{n}d": _global("amax") for n in (1, 2, 3)},
    **{f"batchnorm{n}d": _batchnorm for n in (1, 2, 3)},
    "layernorm": _layernorm,
    "groupnorm": lambda fields, x: nn.GroupNorm(
        fields["num_groups"], fields.get("num_channels", x.shape[1]), affine=fields.get("affine", True)
    ),
    **{f"instancenorm{n}d": _instancenorm for n in (1, 2, 3)},
    "parameter": lambda fields, x: Learned(tuple(fields["shape"]), float(fields.get("value", 0.0))),
    "stochastic_depth": _stochastic_depth,
    "window_attention": _window_attention,
    "patch_merging": _patch_merging,
    "multihead_attention": lambda fields, x: SelfAttention(x.shape[-1], fields["num_heads"], fields.get("bias", True)),
    **{f"conv_transpose{n}d": _conv_transpose for n in (1, 2, 3)},
    "upsample": _upsample,
    "localresponsenorm": lambda fields, x: nn.LocalResponseNorm(fields["size"], k=fields.get("k", 1.0)),
    "dropout": _dropout(nn.Dropout),
    "dropout1d": _dropout(nn.Dropout1d),
    "dropout2d": _dropout(nn.Dropout2d),
    "dropout3d": _dropout(nn.Dropout3d),
    **{name: _plain(cls) for name, cls in ACTIVATIONS.items()},
    "softmax": _softmax(torch.softmax),
    "log_softmax": _softmax(torch.log_softmax),
    "flatten": lambda fields, x: nn.Flatten(),
    "linear": lambda fields, x: nn.Linear(x.shape[-1], fields["out_features"]),
    "identity": lambda fields, x: nn.Identity(),
    "add": lambda fields, x: Lambda(lambda *xs: sum(_per_sample(xs)[1:], _per_sample(xs)[0])),
    "mul": lambda fields, x: Lambda(lambda *xs: torch.stack(torch.broadcast_tensors(*_per_sample(xs))).prod(dim=0)),
    "sub": lambda fields, x: Lambda(lambda a, b: torch.sub(*_per_sample([a, b]))),
    "scale": lambda fields, x: Lambda(lambda x: x * fields["factor"]),
    "concat": _concat,
    "permute": _permute,
    "transpose": lambda fields, x: Lambda(lambda x: x.transpose(_dim(fields["axis0"]), _dim(fields["axis1"]))),
    "reshape": lambda fields, x: Lambda(lambda x: x.reshape(x.shape[0], *fields["shape"])),
    "unflatten": lambda fields, x: nn.Unflatten(_dim(fields["axis"]), fields["sizes"]),
    "channel_shuffle": lambda fields, x: nn.ChannelShuffle(fields["groups"]),
    "mean": _mean,
    "sum": _sum,
    "slice": _slice,
    "select": _select,
    # several outputs: a tuple of parts, stored as NAME:0, NAME:1, ... (see `run`)
    "split": lambda fields, x: Lambda(lambda x: torch.split(x, fields["sizes"], dim=_dim(fields.get("axis", 0)))),
    "chunk": lambda fields, x: Lambda(lambda x: torch.chunk(x, fields["chunks"], dim=_dim(fields.get("axis", 0)))),
    "center_crop": _crop(centre=True),
    "crop": _crop(centre=False),
    "pad": _pad,
}


#: types that take no input (the rest default to the previous layer)
NO_INPUT = {"parameter"}


def module_for(fields: dict, xs: list[torch.Tensor]) -> nn.Module:
    return BUILDERS[fields["type"]](fields, xs[0] if xs else None)


@dataclass
class Run:
    figures: dict[str, dict] = field(default_factory=dict)  # layer -> output_shape, params, buffers, macs
    failed_at: str | None = None
    error: str = ""


def run(spec: dict, device: str = "meta") -> Run:
    """Every layer's figures as torch computes them, on ``device``; stops at the first layer torch refuses."""
    result = Run()
    values = {"input": torch.empty((1, *spec["input"]), device=device)}
    previous = "input"
    for index, fields in enumerate(spec["layers"]):
        name, inputs = _name_and_inputs(fields, index, previous)
        xs = [values[i] for i in inputs]
        if any(i not in values for i in inputs):  # a part that torch.chunk did not make
            missing = next(i for i in inputs if i not in values)
            result.failed_at, result.error = missing, "no such part"
            return result
        try:
            with torch.device(device):
                module = module_for(fields, xs).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                y = module(*xs)
            outputs = _outputs(name, y)
            if any(part.numel() == 0 for part in outputs.values()):
                raise RuntimeError("empty output")
        except Exception as exc:  # torch refuses this layer: the spec is invalid here
            several = fields["type"] in ("split", "chunk")  # its parts are the layers NAME:0, NAME:1, ...
            result.failed_at, result.error = f"{name}:0" if several else name, f"{type(exc).__name__}: {exc}"
            return result
        if fields["type"] == "chunk" and len(outputs) < fields["chunks"]:  # torch.chunk made fewer parts than asked
            result.failed_at, result.error = f"{name}:{len(outputs)}", "torch.chunk makes fewer parts"
            return result
        for part, value in outputs.items():
            values[part] = value
            result.figures[part] = {
                "output_shape": tuple(value.shape[1:]),
                "params": sum(p.numel() for p in module.parameters()),
                "buffers": sum(b.numel() for b in module.buffers()),
                "macs": counter.get_total_flops() // 2,
            }
        previous = name
    return result


def _outputs(name: str, y) -> dict[str, torch.Tensor]:
    """A layer's outputs by name: NAME, or NAME:0, NAME:1, ... for the parts of a split or chunk."""
    return {f"{name}:{i}": part for i, part in enumerate(y)} if isinstance(y, tuple) else {name: y}


def _name_and_inputs(fields: dict, index: int, previous: str) -> tuple[str, list[str]]:
    """A layer's name (anonymous layers get a private one) and its inputs (default: the previous layer)."""
    name = fields.get("name")
    inputs = fields.get("inputs") or ([] if fields.get("type") in NO_INPUT else previous)
    return (name if isinstance(name, str) else f"#{index}"), ([inputs] if isinstance(inputs, str) else list(inputs))


def transparent_forward(spec: dict, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of a version of the network whose every input position in a window reaches the output.

    Max and average pools become sums over the same windows (a depthwise conv of ones,
    padded on the far side as far as ceil_mode reaches), so gradients flow to every
    position of every window; adaptive max pools become adaptive average pools; a softmax
    becomes an unnormalised mix along its axis (``_mix``); weights are positive so nothing cancels.
    """
    values = {"input": x}
    previous = "input"
    for index, fields in enumerate(spec["layers"]):
        name, inputs = _name_and_inputs(fields, index, previous)
        xs = [_ContiguousGrad.apply(values[i]) for i in inputs]
        kind = fields["type"]
        if kind.startswith("adaptivemaxpool"):  # the same windows, every position reaching the output
            kind = kind.replace("max", "avg")
        elif kind == "sub":  # a difference can cancel a dependency (a window sum minus its centre): a sum keeps each
            kind = "add"
        elif kind == "scale":  # a negative factor could cancel one in a later sum
            kind = "identity"
        module = module_for({**fields, "type": kind}, xs).to(x.dtype).eval()
        if kind in ("softmax", "log_softmax"):
            y = _mix(xs[0], fields.get("axis", 0))
        elif kind.startswith(("maxpool", "avgpool")):
            y = _window_sum(module, xs[0], fields)
        elif kind in ("hardsigmoid", "relu6", "sigmoid", "tanh"):  # pointwise, but flat past a bound (sigmoid's
            # 1.0 in float64 beyond 37) that sums of residual paths soon pass (values double at each add, four
            # times in two encoder blocks): passed through, every dependency stays visible
            y = xs[0]
        elif xs and _statistics_axes(fields, xs[0]) is not None:
            y = _norm_mix(xs[0], fields)
        else:
            for p in module.parameters():
                with torch.no_grad():
                    if p.dim() > 1:  # a weighted mean: positive, and different per input channel (a softmax
                        # over the channels followed by equal weights would sum to a constant and hide its inputs)
                        ramp = torch.arange(1, p.shape[1] + 1, dtype=p.dtype).view(1, -1, *[1] * (p.dim() - 2))
                        weights = ramp.expand_as(p)
                        p.copy_(weights / weights[0].sum())
                    else:
                        p.fill_(0.01)
            y = module(*xs)
        values.update(_outputs(name, y))
        previous = name
    return values


class _ContiguousGrad(torch.autograd.Function):
    """Identity that hands every layer a contiguous input and its producer a contiguous gradient. A permute
    makes strides unusual, and the CPU backward of instance and batch norm in evaluation reads such
    tensors wrongly (torch 2.x: the gradient of one output position lands on other positions; a batch
    norm fed a permuted, channels-last-like map did so in a property test)."""

    @staticmethod
    def forward(ctx, x):
        return x.contiguous() if not x.is_contiguous() else x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


def _mix(x: torch.Tensor, axis: int) -> torch.Tensor:
    """What a softmax along ``axis`` connects, without its normalisation: each output depends on every
    position of the axis. (A softmax sums to one, so a later sum over that axis would be constant and
    hide its inputs from the gradient; this keeps values positive and dependencies visible.)"""
    dim = axis + 1 if axis >= 0 else axis
    return (x + x.mean(dim=dim, keepdim=True)) / 2  # the scale stays that of x: no later clamp saturates


def _statistics_axes(fields: dict, x: torch.Tensor) -> tuple[int, ...] | None:
    """The axes (of the batched tensor) a per-sample normalisation takes its statistics over, or None."""
    kind, rank = fields["type"], x.dim()
    if kind == "layernorm":
        if fields.get("over") == "channels":
            return (1,)
        n = len(fields["normalized_shape"]) if fields.get("normalized_shape") else fields.get("over", 1)
        return tuple(range(rank - n, rank))
    if kind == "groupnorm" or (kind.startswith("instancenorm") and not fields.get("track_running_stats", False)):
        return tuple(range(2, rank))  # (group norm also spans its group's channels: _norm_mix)
    return None


def _norm_mix(x: torch.Tensor, fields: dict) -> torch.Tensor:
    """What a layer, group or instance normalisation connects, without its normalisation: each output
    depends on every value its statistics span. (Normalising removes what the inputs share, so channels
    made alike upstream would cancel and hide their inputs from the gradient.)"""
    if fields["type"] == "groupnorm":
        groups = x.reshape(x.shape[0], fields["num_groups"], -1)
        return (groups + groups.mean(dim=2, keepdim=True)).reshape(x.shape) / 2
    return (x + x.mean(dim=_statistics_axes(fields, x), keepdim=True)) / 2


def _per_axis(value, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _window_sum(pool: nn.Module, x: torch.Tensor, fields: dict) -> torch.Tensor:
    rank = _rank(x)
    with torch.no_grad():
        outs = pool(x).shape[2:]  # torch decides the output size, ceil_mode included
    k = _per_axis(fields["kernel_size"], rank)
    s = _per_axis(fields.get("stride") or fields["kernel_size"], rank)
    p = _per_axis(fields.get("padding", 0), rank)
    d = _per_axis(fields.get("dilation", 1), rank)
    c = x.shape[1]
    pads = []
    for axis in reversed(range(rank)):  # F.pad takes the last axis first
        span = d[axis] * (k[axis] - 1) + 1
        extra = max(0, (outs[axis] - 1) * s[axis] + span - (x.shape[2 + axis] + 2 * p[axis]))
        pads += [p[axis], p[axis] + extra]
    padded = F.pad(x, pads)
    ones = torch.ones((c, 1, *k), dtype=x.dtype)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    y = conv(padded, ones, stride=s, dilation=d, groups=c) / float(torch.tensor(k).prod())
    return y[(slice(None), slice(None), *(slice(0, n) for n in outs))]
