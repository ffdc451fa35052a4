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
def enlarging(draw, kind: str, shape: tuple[int, ...]):
    """A transposed convolution or an upsampling; returns (fields, rough next shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
    if kind == "conv_transpose":  # stride 1 (an exact window) or an upsampling stride
        k, s, p, d = (
            draw(st.integers(1, 4)),
            draw(st.sampled_from([1, 1, 2, 3])),
            draw(st.integers(0, 2)),
            draw(st.sampled_from([1, 1, 2])),
        )
        op = draw(st.integers(0, max(s, d) - 1)) if draw(st.booleans()) else 0
        g = draw(st.sampled_from([g for g in (1, 2) if c % g == 0]))
        out = g * draw(st.integers(1, 3))
        fields = {"type": f"conv_transpose{n}d", "out_channels": out, "kernel_size": k, "stride": s, "padding": p}
        fields.update(output_padding=op, dilation=d, groups=g, bias=draw(st.booleans()))
        return fields, (out, *[max(0, (m - 1) * s - 2 * p + d * (k - 1) + op + 1) for m in sizes])
    if kind == "upsample":
        mode = draw(
            st.sampled_from(
                ["nearest", "nearest-exact", {1: "linear", 2: "bilinear", 3: "trilinear"}[n]] + (["bicubic"] if n == 2 else [])
            )
        )
        fields = {"type": kind, "mode": mode}
        if draw(st.booleans()):
            factor = draw(st.sampled_from([2.0, 1.5, 1.0, 0.5]))
            fields["scale_factor"] = factor
            out_sizes = tuple(int(m * factor) for m in sizes)
        else:
            out_sizes = tuple(draw(st.integers(1, 2 * m + 1)) for m in sizes)
            fields["size"] = list(out_sizes) if draw(st.booleans()) or len(set(out_sizes)) > 1 else out_sizes[0]
        if not mode.startswith("nearest") and draw(st.booleans()):
            fields["align_corners"] = draw(st.booleans())
        return fields, (c, *out_sizes)
    raise AssertionError(kind)


@st.composite
def sample_norm(draw, kind: str, shape: tuple[int, ...]):
    """Layer, group or instance normalisation; returns (fields, shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
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
    raise AssertionError(kind)


@st.composite
def padding(draw, kind: str, shape: tuple[int, ...]):
    """A pad: one number for every side, or per axis a number or [before, after]; a constant (of some value),
    or the input reflected, replicated or wrapped around (torch refuses more than the input holds)."""
    c, sizes = shape[0], shape[1:]
    amounts = st.integers(0, 3)
    if draw(st.booleans()):
        given = draw(amounts)
        sides = [(given, given)] * len(sizes)
    else:
        given = [draw(st.one_of(amounts, st.lists(amounts, min_size=2, max_size=2))) for _ in sizes]
        sides = [(p, p) if isinstance(p, int) else tuple(p) for p in given]
    fields = {"type": kind, "padding": given, "mode": draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))}
    if fields["mode"] == "constant" and draw(st.booleans()):
        fields["value"] = draw(st.sampled_from([0.5, -1.0]))
    return fields, (c, *(n + before + after for n, (before, after) in zip(sizes, sides)))


@st.composite
def scaling(draw, kind: str, shape: tuple[int, ...]):
    """A product with a number, never 0 (which would depend on no input)."""
    return {"type": kind, "factor": draw(st.sampled_from([0.125, 0.5, -2.0, 3]))}, shape


#: kinds whose fields another strategy draws
DRAWN_APART = {
    "conv_transpose": enlarging,
    "upsample": enlarging,
    "layernorm": sample_norm,
    "groupnorm": sample_norm,
    "instancenorm": sample_norm,
    "pad": padding,
    "scale": scaling,
}


@st.composite
def layer(draw, shape: tuple[int, ...]):
    """One random layer after a C×(spatial) tensor of 1 to 3 spatial axes; returns (fields, rough next shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
    kinds = ["maxpool", "avgpool", "batchnorm", "act", "act", "dropout", "channel_dropout", "identity", "adaptive", "softmax"]
    kinds.append("stochastic_depth")
    if n in CONV_RANKS:
        kinds += ["conv_transpose", "upsample"]
    if n in CONV_RANKS:
        kinds += ["conv"] * 4
    if n == 2:
        kinds.append("localresponsenorm")
    kinds += ["layernorm", "groupnorm", "instancenorm", "pad", "scale"]
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
    if kind in DRAWN_APART:
        return draw(DRAWN_APART[kind](kind, shape))
    if kind == "stochastic_depth":
        return {"type": kind, "p": draw(st.sampled_from([0.0, 0.1, 0.5])), "mode": draw(st.sampled_from(["row", "batch"]))}, shape
    if kind in ("dropout", "channel_dropout"):
        name = "dropout" if kind == "dropout" else f"dropout{n}d"
        return {"type": name, "p": draw(st.sampled_from([0.0, 0.1, 0.5]))}, shape
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
    + ["mul", "permute", "transpose", "reshape", "unflatten", "channel_shuffle", "mean", "slice", "split", "chunk"]
    + ["crop", "center_crop", "select", "pad", "scale", "sub", "sum"]
    + ["layernorm", "groupnorm", "instancenorm1d", "instancenorm2d", "instancenorm3d"]
    + ["parameter", "stochastic_depth", "multihead_attention"]
    + ["window_attention", "patch_merging"]
    + ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "upsample"]
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
    merge = {"type": draw(st.sampled_from(["mul", "mul", "add", "sub"])), "name": name, "inputs": order}
    return [summary, excite, act, merge]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def moves(draw, prev: str, name: str, shape: tuple[int, ...]):
    """Layers that move or cut values (permute, reshape, split, crop, ...), returning channels-first
    tensors mostly (some leave the spatial axes elsewhere, which the field must follow or give up);
    returns (layers, rough next shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
    kind = draw(
        st.sampled_from(
            [
                "convnext",
                "transpose",
                "unflatten",
                "shuffle",
                "mean",
                "sum",
                "slice",
                "parts",
                "crop",
                "center_crop",
                "reshape",
                "attention",
                "select",
                "swin",
            ]
        )
    )
    first = {"name": f"{name}a", "inputs": prev}
    if kind == "convnext":  # channels last, a linear on them (and an activation), channels first again
        width = draw(st.integers(1, 4))
        return [
            {**first, "type": "permute", "axes": [*range(1, n + 1), 0]},
            {"type": "linear", "name": f"{name}b", "out_features": width},
            {"type": draw(st.sampled_from(["gelu", "identity"])), "name": f"{name}c"},
            {"type": "permute", "name": name, "axes": [n, *range(n)]},
        ], (width, *sizes)
    if kind == "attention":  # positions as tokens (L×C; a map's positions flattened first), attention, and back
        tokens = [{**first, "type": "reshape", "shape": [c, -1]}] if n > 1 else []
        tokens.append({"type": "transpose", "name": f"{name}b", "axis0": 0, "axis1": 1, **({} if n > 1 else first)})
        heads = draw(st.sampled_from(_divisors(c)))
        attend = {"type": "multihead_attention", "name": f"{name}c", "num_heads": heads, "bias": draw(st.booleans())}
        back = {"type": "transpose", "name": name if n == 1 else f"{name}d", "axis0": 0, "axis1": 1}
        unflat = [{"type": "reshape", "name": name, "shape": [c, *sizes]}] if n > 1 else []
        return [*tokens, attend, back, *unflat], shape
    if kind == "transpose":  # two axes swapped; swapped back now and then
        a, b = draw(st.integers(-n - 1, n)), draw(st.integers(0, n))
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        layers = [{**first, "type": "transpose", "axis0": a, "axis1": b}]
        if draw(st.booleans()):
            layers.append({"type": "transpose", "name": f"{name}b", "axis0": b, "axis1": a})
            out = list(shape)
        return layers, tuple(out)
    if kind in ("unflatten", "reshape"):  # channels into groups, and back (positions stay)
        g = draw(st.sampled_from(_divisors(c)))
        split = (
            {**first, "type": "unflatten", "axis": 0, "sizes": [g, -1]}
            if kind == "unflatten"
            else {**first, "type": "reshape", "shape": [g, c // g, *sizes]}
        )
        back = {"type": "reshape", "name": name, "shape": [-1, *sizes] if draw(st.booleans()) else [c, *sizes[:-1], -1]}
        if draw(st.integers(0, 3)) == 0:  # a reshape that regroups positions (the field is lost), rank kept
            back["shape"] = [c * sizes[0], 1, *sizes[1:]] if n > 1 else [1, c * sizes[0]]
            return [split, back], tuple(back["shape"])
        return [split, back], shape
    if kind == "shuffle":
        return [{**first, "type": "channel_shuffle", "groups": draw(st.sampled_from(_divisors(c)))}], shape
    if kind in ("mean", "sum"):  # with keepdim: each reduced axis becomes 1
        axes = draw(st.lists(st.integers(0, n), min_size=1, max_size=n + 1, unique=True))
        return [{**first, "type": kind, "axes": axes, "keepdim": True}], tuple(1 if a in axes else d for a, d in enumerate(shape))
    if kind == "slice":
        axis = draw(st.integers(0, n))
        size = shape[axis]
        start, stop, step = draw(st.integers(-size, size - 1)), draw(st.integers(-size, size)), draw(st.integers(1, 3))
        fields = {**first, "type": "slice", "axis": axis, "start": start, "step": step}
        if draw(st.booleans()):
            fields["stop"] = stop
        length = len(range(*slice(start, fields.get("stop"), step).indices(size)))
        return [fields], tuple(length if a == axis else d for a, d in enumerate(shape))
    if kind in CUTS:
        return draw(CUTS[kind](prev, name, shape))
    # crops: to another path's size (U-Net) or to a fixed box
    small = {"type": f"conv{n}d", "name": f"{name}b", "inputs": prev, "out_channels": c, "kernel_size": 3}
    if kind == "center_crop" and n in CONV_RANKS and min(sizes) >= 3:
        return [
            small,
            {**first, "type": "center_crop", "inputs": [prev, f"{name}b"]},
            {"type": "concat", "name": name, "inputs": [f"{name}a", f"{name}b"]},
        ], (2 * c, *[d - 2 for d in sizes])
    box = [draw(st.integers(1, d)) for d in sizes]
    start = [draw(st.integers(0, d - b)) for d, b in zip(sizes, box)]
    fields = {**first, "type": kind, "size": box}
    if kind == "crop":
        fields["start"] = start
    return [fields], (c, *box)


@st.composite
def _swin(draw, prev: str, name: str, shape: tuple[int, ...]):
    """Channels last, (shifted) window attention, a patch merging now and then, channels first again."""
    if len(shape) != 3:  # Swin's pieces act on H×W×C maps only
        return draw(_parts(prev, name, shape))
    c, sizes = shape[0], shape[1:]
    first = {"name": f"{name}a", "inputs": prev}
    window = [draw(st.integers(1, size + 1)) for size in sizes]  # larger than the map too: padding
    attend = {"type": "window_attention", "name": f"{name}b", "num_heads": draw(st.sampled_from(_divisors(c)))}
    attend |= {"window_size": window, "shift_size": [draw(st.integers(0, m - 1)) for m in window]}
    attend |= {"qkv_bias": draw(st.booleans()), "proj_bias": draw(st.booleans())}
    layers = [{**first, "type": "permute", "axes": [1, 2, 0]}, attend]
    out = shape
    if draw(st.booleans()):
        layers.append({"type": "patch_merging", "name": f"{name}c"})
        out = (4 * c, *(-(-s // 2) for s in sizes))
    return [*layers, {"type": "permute", "name": name, "axes": [2, 0, 1]}], out


@st.composite
def _parts(draw, prev: str, name: str, shape: tuple[int, ...]):
    """split or chunk along an axis, the last part through a conv now and then (ShuffleNet), joined again."""
    sizes = shape[1:]
    n = len(sizes)
    first = {"name": f"{name}a", "inputs": prev}
    axis = draw(st.integers(0, n))
    size = shape[axis]
    if draw(st.booleans()):
        chunks = draw(st.integers(1, min(3, size)))
        cut = {"type": "chunk", "chunks": chunks, "axis": axis}
        step = -(-size // chunks)
        parts = -(-size // step)
    else:
        first_size = draw(st.integers(1, size))
        cut = {"type": "split", "sizes": [first_size, size - first_size] if first_size < size else [size], "axis": axis}
        parts = len(cut["sizes"])
    layers = [{**first, **cut}]
    last = f"{name}a:{parts - 1}"
    if axis == 0 and n in CONV_RANKS:
        layers.append(
            {"type": f"conv{n}d", "name": f"{name}b", "inputs": last, "out_channels": 2, "kernel_size": 3, "padding": 1}
        )
        last = f"{name}b"
    joined = [f"{name}a:{i}" for i in range(parts - 1)] + [last]
    if len(joined) == 1:
        layers.append({"type": "identity", "name": name, "inputs": joined})
        return layers, ((2, *sizes) if last == f"{name}b" else shape)
    layers.append({"type": "concat", "name": name, "inputs": joined, "axis": axis})
    return layers, ((shape[0] - cut_last(cut, size) + 2, *sizes) if last == f"{name}b" else shape)


@st.composite
def _select(draw, prev: str, name: str, shape: tuple[int, ...]):
    """One position of an axis, the axis gone (the channels, or a spatial axis); on a C×L sequence, which it
    would leave a vector, the parts of a split or chunk instead."""
    if len(shape) < 3:
        return draw(_parts(prev, name, shape))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    index = draw(st.integers(-shape[axis], shape[axis] - 1))
    kept = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    return [{"type": "select", "name": name, "inputs": prev, "axis": axis, "index": index}], kept


#: moves drawn by their own strategies (cuts, Swin's window attention)
CUTS = {"parts": _parts, "select": _select, "swin": _swin}


def cut_last(cut: dict, size: int) -> int:
    """Length of the last part of a split or chunk of ``size``."""
    if cut["type"] == "split":
        return cut["sizes"][-1]
    step = -(-size // cut["chunks"])
    return size - step * (-(-size // step) - 1)


@st.composite
def learned(draw, prev: str, name: str, shape: tuple[int, ...]):
    """A learned tensor merged into ``prev``: a C×1×…×1 layer scale multiplied in (ConvNeXt), or a tensor of
    the full shape added (a position embedding); the inputs in either order."""
    scale = draw(st.booleans())
    tensor = {
        "type": "parameter",
        "name": f"{name}p",
        "shape": [shape[0]] + ([1] * (len(shape) - 1) if scale else list(shape[1:])),
    }
    tensor["value"] = draw(st.sampled_from([1e-6, 0.5, 1.0]))
    order = [prev, f"{name}p"] if draw(st.booleans()) else [f"{name}p", prev]
    return [tensor, {"type": "mul" if scale else "add", "name": name, "inputs": order}]


@st.composite
def transformer(draw, prev: str, name: str, shape: tuple[int, ...]):
    """ViT on ``prev``'s map: its positions flattened and transposed to N×C tokens, a class token (a parameter
    with a batch axis) concatenated in front or behind now and then, a position embedding added, one or two
    pre-norm encoder blocks (layernorm, multihead_attention, a residual add; layernorm, linear, GELU, linear,
    a residual add); then one token selected (a C vector: the end of the network), or the positions' tokens
    back to the map. Returns (layers, rough next shape)."""
    c, sizes = shape[0], shape[1:]
    n = len(sizes)
    layers: list[dict] = [{"type": "reshape", "name": f"{name}r", "inputs": prev, "shape": [c, -1]}] if n > 1 else []
    layers.append({"type": "transpose", "name": f"{name}t", "axis0": 0, "axis1": 1, **({} if n > 1 else {"inputs": prev})})
    positions = _product(sizes)
    tokens, last = positions, f"{name}t"
    place = draw(st.sampled_from(["none", "front", "behind"]))
    if place != "none":
        layers.append({"type": "parameter", "name": f"{name}cls", "shape": [1, c], "value": 0.5, "batch_axis": True})
        joined = [f"{name}cls", last] if place == "front" else [last, f"{name}cls"]
        layers.append({"type": "concat", "name": f"{name}cat", "inputs": joined})
        tokens, last = tokens + 1, f"{name}cat"
    if draw(st.booleans()):
        embedding = {"type": "parameter", "name": f"{name}pos", "shape": [tokens, c], "value": 0.1}
        embedding["batch_axis"] = draw(st.booleans())
        layers += [embedding, {"type": "add", "name": f"{name}emb", "inputs": [last, f"{name}pos"]}]
        last = f"{name}emb"
    for block in range(draw(st.integers(1, 2))):
        b = f"{name}{block}"
        heads = draw(st.sampled_from(_divisors(c)))
        layers += [
            {"type": "layernorm", "name": f"{b}ln1", "inputs": last},
            {"type": "multihead_attention", "name": f"{b}att", "num_heads": heads, "bias": draw(st.booleans())},
            {"type": "add", "name": f"{b}res1", "inputs": [f"{b}att", last]},
            {"type": "layernorm", "name": f"{b}ln2"},
            {"type": "linear", "name": f"{b}fc1", "out_features": draw(st.integers(1, 2 * c))},
            {"type": "gelu", "name": f"{b}gelu"},
            {"type": "linear", "name": f"{b}fc2", "out_features": c},
            {"type": "add", "name": f"{b}res2", "inputs": [f"{b}fc2", f"{b}res1"]},
        ]
        last = f"{b}res2"
    if draw(st.booleans()):  # one token (the class token, or any) as a vector
        index = draw(st.integers(-tokens, tokens - 1))
        layers.append({"type": "select", "name": name, "inputs": last, "axis": 0, "index": index})
        return layers, (c,)
    if place != "none":  # the positions' tokens without the class token
        start = 1 if place == "front" else 0
        layers.append({"type": "slice", "name": f"{name}s", "inputs": last, "axis": 0, "start": start, "stop": start + positions})
    back = {"type": "transpose", "name": name if n == 1 else f"{name}b", "axis0": 0, "axis1": 1}
    layers += [back] + ([{"type": "reshape", "name": name, "shape": [c, *sizes]}] if n > 1 else [])
    return layers, shape


@st.composite
def token_network(draw):
    """A ViT in small: a map of 1 to 3 spatial axes, made patches by a strided convolution now and then, then
    ``transformer`` (tokens, class token, position embedding, encoder blocks, a token selected or the map back)
    and a linear head now and then."""
    n = draw(st.sampled_from(RANKS))
    shape = input_shape = _input_shape(draw, n)
    layers: list[dict] = []
    if draw(st.booleans()):
        patch = draw(st.integers(1, 3))
        width = draw(st.integers(1, 4)) * draw(st.sampled_from([1, 2]))
        layers.append({"type": f"conv{n}d", "name": "patches", "out_channels": width, "kernel_size": patch, "stride": patch})
        shape = (width, *(size // patch for size in shape[1:]))
    more, shape = draw(transformer(layers[-1]["name"] if layers else "input", "vit", shape))
    layers += more
    if draw(st.booleans()):
        layers.append({"type": "linear", "name": "head", "out_features": draw(st.integers(1, 5))})
    return {"archspec": 1, "name": "random-vit", "input": list(input_shape), "layers": layers}


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
            # a branch of two convs from `prev`, merged by add or sub (same channels) or concat (channels or, now and then, space)
            merge = draw(st.sampled_from(["add", "sub", "concat", "concat", "concat_space"]))
            k = draw(st.sampled_from([1, 3]))
            same = merge in ("add", "sub", "concat_space")
            outs = (shape[0], shape[0]) if same else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            conv = f"conv{n}d"
            a = {"type": conv, "name": f"n{index}a", "inputs": prev, "out_channels": outs[0], "kernel_size": k, "padding": k // 2}
            b = {"type": conv, "name": f"n{index}b", "inputs": prev, "out_channels": outs[1], "kernel_size": 3, "padding": 1}
            m = {
                "type": merge if merge in ("add", "sub") else "concat",
                "name": f"n{index}",
                "inputs": [f"n{index}a", f"n{index}b"],
            }
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
        if draw(st.integers(0, 9)) == 0:
            more, shape = draw(transformer(prev, f"n{index}", shape))
            layers += more
            if len(shape) == 1:  # a token selected: a vector
                break
            continue
        if draw(st.integers(0, 4)) == 0:
            more, shape = draw(moves(prev, f"n{index}", shape))
            layers += more
            n = len(shape) - 1  # a select removes an axis
            if min(shape) < 1 or n == 0:  # a slice can empty the channels too; a selected token is a vector
                break
            continue
        fields, shape = draw(layer(shape))
        fields["name"] = f"n{index}"
        if fields["type"] == "upsample" and draw(st.integers(0, 2)) == 0:  # to the network input's size, as heads do
            fields.pop("size", None), fields.pop("scale_factor", None)
            fields["inputs"] = [prev, "input"]
            shape = (shape[0], *input_shape[1:])
        layers.append(fields)
        if min(shape[1:]) < 1:
            break
    head = draw(st.sampled_from(["none", "none", "flatten", "gap"] if len(shape) > 1 else ["none", "linear"]))
    if head == "linear":
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    if head == "flatten":
        layers.append({"type": "flatten", "name": "flat"})
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    elif head == "gap":
        layers.append({"type": f"global{draw(st.sampled_from(['avg', 'max']))}pool{n}d", "name": "gap"})
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    return {"archspec": 1, "name": "random", "input": list(input_shape), "layers": layers}
