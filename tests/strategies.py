"""Hypothesis strategies: random network specs (mostly valid, some not) as plain dicts.

The generator follows sizes only roughly, to steer towards networks that fit;
it is not an oracle. Whether a spec is valid, and every figure, is decided by
torch itself in the tests (tests/torch_oracle.py).
"""

from __future__ import annotations

import hypothesis.strategies as st

ACTIVATIONS = ["relu", "relu6", "leakyrelu", "elu", "gelu", "silu", "hardswish", "hardsigmoid", "sigmoid", "tanh"]


@st.composite
def window(draw, size: int, allow_same: bool):
    """kernel/stride/padding/dilation for one conv or pool over a map whose smallest side is ``size``."""
    k = draw(st.integers(1, 5))
    d = draw(st.sampled_from([1, 1, 1, 2]))
    s = draw(st.sampled_from([1, 1, 2, 3]))
    p = draw(st.integers(0, (d * (k - 1) + 1) // 2))
    if allow_same and s == 1 and draw(st.booleans()):
        p = "same"
    if draw(st.integers(0, 9)) and p != "same":  # mostly keep the window inside the map
        while d * (k - 1) + 1 > size + 2 * p and k > 1:
            k -= 1
    return k, s, p, d


def _span(size: int, k: int, s: int, p, d: int, ceil: bool = False) -> int:
    if p == "same":
        return size
    span = size + 2 * p - d * (k - 1) - 1
    return max(0, (-(-span // s) if ceil else span // s) + 1)


def _spans(sizes: tuple[int, ...], ks, s: int, p, d: int, ceil: bool = False) -> tuple[int, ...]:
    ks = ks if isinstance(ks, list) else [ks] * len(sizes)
    return tuple(_span(n, k, s, p, d, ceil) for n, k in zip(sizes, ks))


def _product(sizes) -> int:
    out = 1
    for n in sizes:
        out *= n
    return out


#: spatial ranks the generator draws, and the ranks whose convolution it knows
RANKS = [1, 2, 2, 2, 3]
CONV_RANKS = (1, 2, 3)


@st.composite
def conv_layer(draw, c: int, sizes: tuple[int, ...]):
    """A random convolution of the rank of ``sizes``; returns (fields, rough next shape)."""
    n = len(sizes)
    k, s, p, d = draw(window(min(sizes), allow_same=True))
    groups = draw(st.sampled_from([1, 1, 1, "depthwise", "divisor"]))
    if groups == "divisor":
        groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    if groups == "depthwise":
        out = c * draw(st.integers(1, 2))
    else:
        out = groups * draw(st.integers(1, 3))
    fields = {
        "type": f"conv{n}d",
        "out_channels": out,
        "kernel_size": k,
        "stride": s,
        "padding": p,
        "dilation": d,
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    if n > 1 and draw(st.integers(0, 4)) == 0:  # a rectangular kernel now and then
        fields["kernel_size"] = [k] * (n - 1) + [max(1, k - 1)]
    if draw(st.integers(0, 5)) == 0:  # padding that reflects, wraps around or replicates the input
        fields["padding_mode"] = draw(st.sampled_from(["reflect", "circular", "replicate"]))
    return fields, (out, *_spans(sizes, fields["kernel_size"], s, p, d))


@st.composite
def layer(draw, shape: tuple[int, ...]):
    """One random layer after a C×(spatial) tensor of 1 to 3 spatial axes; returns (fields, rough next shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
    kinds = ["maxpool", "avgpool", "batchnorm", "act", "act", "dropout", "channel_dropout", "identity", "adaptive", "softmax"]
    kinds.append("stochastic_depth")
    if n in CONV_RANKS:
        kinds += ["conv"] * 4
    if n == 2:
        kinds.append("localresponsenorm")
    kinds += ["layernorm", "groupnorm", "instancenorm"]
    kind = draw(st.sampled_from(kinds))
    if kind == "conv":
        return draw(conv_layer(c, sizes))
    if kind in ("maxpool", "avgpool"):
        k, s, p, d = draw(window(min(sizes), allow_same=False))
        k = max(k, 2 * p)  # torch: padding at most half the kernel
        ceil = draw(st.booleans())
        fields = {"type": f"{kind}{n}d", "kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
        if kind == "maxpool":
            fields["dilation"] = d
        else:
            d = 1
            fields["count_include_pad"] = draw(st.booleans())
        return fields, (c, *_spans(sizes, k, s, p, d, ceil))
    if kind == "adaptive":
        out = draw(st.integers(1, max(1, min(sizes))))
        return {"type": f"adaptive{draw(st.sampled_from(['avg', 'max']))}pool{n}d", "output_size": out}, (c, *[out] * n)
    if kind == "act":
        return {"type": draw(st.sampled_from(ACTIVATIONS))}, shape
    if kind == "softmax":  # over the channels, or over one spatial axis
        return {"type": draw(st.sampled_from(["softmax", "log_softmax"])), "axis": draw(st.integers(-n - 1, n))}, shape
    if kind == "localresponsenorm":
        return {"type": kind, "size": draw(st.integers(1, 5)), "k": 2.0}, shape
    if kind == "stochastic_depth":
        return {"type": kind, "p": draw(st.sampled_from([0.0, 0.1, 0.5])), "mode": draw(st.sampled_from(["row", "batch"]))}, shape
    if kind in ("dropout", "channel_dropout"):
        name = "dropout" if kind == "dropout" else f"dropout{n}d"
        return {"type": name, "p": draw(st.sampled_from([0.0, 0.1, 0.5]))}, shape
    if kind == "layernorm":  # over the channels, or over 1 to all trailing axes (of more than one value: one
        # value normalises to a constant, which depends on no input position)
        sizes_of = {"channels": c, **{k: _product(shape[n + 1 - k :]) for k in range(1, n + 2)}}
        over = draw(st.sampled_from([k for k, size in sizes_of.items() if size > 1] or ["channels"]))
        fields = {"type": kind, "over": over, "elementwise_affine": draw(st.booleans()), "bias": draw(st.booleans())}
        return fields, shape
    if kind == "groupnorm":
        return {"type": kind, "num_groups": draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0] + [c + 1]))}, shape
    if kind == "instancenorm":
        fields = {"type": f"instancenorm{n}d", "affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}
        return fields, shape
    if kind == "batchnorm":
        return {"type": f"batchnorm{n}d", "affine": draw(st.booleans())}, shape
    return {"type": kind}, shape


#: every layer type the generator can draw (the meta-test checks each kind is here)
GENERATED_TYPES = frozenset(
    [f"{k}{n}d" for n in CONV_RANKS for k in ("conv",)]
    + [
        f"{k}{n}d"
        for n in (1, 2, 3)
        for k in (
            "maxpool",
            "avgpool",
            "adaptiveavgpool",
            "adaptivemaxpool",
            "globalavgpool",
            "globalmaxpool",
            "batchnorm",
            "dropout",
        )
    ]
    + ACTIVATIONS
    + ["softmax", "log_softmax", "localresponsenorm", "dropout", "identity", "flatten", "linear", "add", "concat", "batchnorm1d"]
    + ["mul"]
    + ["layernorm", "groupnorm", "instancenorm1d", "instancenorm2d", "instancenorm3d"]
    + ["parameter", "stochastic_depth"]
)


@st.composite
def gate(draw, prev: str, name: str, shape: tuple[int, ...]):
    """A broadcast merge of ``prev`` with a 1×…×1 summary of it (squeeze-and-excitation when it multiplies),
    or with a 1×H×W map (a spatial gate); the inputs in either order."""
    n = len(shape) - 1
    squeeze = draw(st.booleans())
    if squeeze:
        summary = {"type": f"adaptive{draw(st.sampled_from(['avg', 'max']))}pool{n}d", "name": f"{name}s", "inputs": prev}
        summary["output_size"] = 1
        width = shape[0]
    else:
        summary = {"type": f"conv{n}d", "name": f"{name}s", "inputs": prev, "out_channels": 1, "kernel_size": 3, "padding": 1}
        width = draw(st.sampled_from([1, shape[0]]))
    excite = {"type": f"conv{n}d", "name": f"{name}e", "out_channels": width, "kernel_size": 1}
    act = {"type": draw(st.sampled_from(["sigmoid", "hardsigmoid", "relu"])), "name": f"{name}g"}
    order = [prev, f"{name}g"] if draw(st.booleans()) else [f"{name}g", prev]
    merge = {"type": draw(st.sampled_from(["mul", "mul", "add"])), "name": name, "inputs": order}
    return [summary, excite, act, merge]


@st.composite
def learned(draw, prev: str, name: str, shape: tuple[int, ...]):
    """A learned tensor merged into ``prev``: a C×1×…×1 layer scale multiplied in (ConvNeXt), or a tensor of
    the full shape added (a position embedding); the inputs in either order."""
    scale = draw(st.booleans())
    tensor = {"type": "parameter", "name": f"{name}p", "shape": [shape[0]] + ([1] * (len(shape) - 1) if scale else list(shape[1:]))}
    tensor["value"] = draw(st.sampled_from([1e-6, 0.5, 1.0]))
    order = [prev, f"{name}p"] if draw(st.booleans()) else [f"{name}p", prev]
    return [tensor, {"type": "mul" if scale else "add", "name": name, "inputs": order}]


def _input_shape(draw, n: int) -> tuple[int, ...]:
    c = draw(st.integers(1, 4))
    if n == 1:
        return (c, draw(st.integers(8, 40)))
    if n == 3:
        return (c, *[draw(st.integers(3, 8)) for _ in range(3)])
    h = draw(st.integers(6, 20))
    return (c, h, draw(st.sampled_from([h, draw(st.integers(6, 20))])))


@st.composite
def network(draw, max_layers: int = 7, ranks: list[int] | None = None):
    """A spec dict: a chain with optional residual adds and concats, then an optional head."""
    n = draw(st.sampled_from(ranks or RANKS))
    shape = _input_shape(draw, n)
    input_shape = shape
    layers: list[dict] = []
    for index in range(draw(st.integers(1, max_layers))):
        prev = layers[-1]["name"] if layers else "input"
        if n in CONV_RANKS and layers and min(shape[1:]) >= 3 and draw(st.integers(0, 5)) == 0:
            # a branch of two convs from `prev`, merged by add (same channels) or concat (channels or, now and then, space)
            merge = draw(st.sampled_from(["add", "concat", "concat", "concat_space"]))
            k = draw(st.sampled_from([1, 3]))
            same = merge == "add" or merge == "concat_space"
            outs = (shape[0], shape[0]) if same else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            conv = f"conv{n}d"
            a = {"type": conv, "name": f"n{index}a", "inputs": prev, "out_channels": outs[0], "kernel_size": k, "padding": k // 2}
            b = {"type": conv, "name": f"n{index}b", "inputs": prev, "out_channels": outs[1], "kernel_size": 3, "padding": 1}
            m = {"type": "add" if merge == "add" else "concat", "name": f"n{index}", "inputs": [f"n{index}a", f"n{index}b"]}
            if merge == "concat_space":
                axis = draw(st.integers(1, n))
                m["axis"] = axis
                shape = tuple(2 * d if i == axis else d for i, d in enumerate(shape))
            else:
                shape = (sum(outs) if merge == "concat" else shape[0], *shape[1:])
            layers += [a, b, m]
            continue
        if n in CONV_RANKS and layers and draw(st.integers(0, 6)) == 0:
            layers += draw(gate(prev, f"n{index}", shape))
            continue
        if draw(st.integers(0, 8)) == 0:
            layers += draw(learned(prev, f"n{index}", shape))
            continue
        fields, shape = draw(layer(shape))
        fields["name"] = f"n{index}"
        layers.append(fields)
        if min(shape[1:]) < 1:
            break
    head = draw(st.sampled_from(["none", "none", "flatten", "gap"]))
    if head == "flatten":
        layers.append({"type": "flatten", "name": "flat"})
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    elif head == "gap":
        layers.append({"type": f"global{draw(st.sampled_from(['avg', 'max']))}pool{n}d", "name": "gap"})
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    return {"archspec": 1, "name": "random", "input": list(input_shape), "layers": layers}
