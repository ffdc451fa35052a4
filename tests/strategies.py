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
    """kernel/stride/padding/dilation for one conv or pool over a size×size map."""
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


@st.composite
def layer(draw, shape: tuple[int, int, int]):
    """One random layer after a C×H×W tensor; returns (fields, rough next shape)."""
    c, h, w = shape
    kind = draw(
        st.sampled_from(
            ["conv2d"] * 4
            + [
                "maxpool2d",
                "avgpool2d",
                "batchnorm2d",
                "act",
                "act",
                "dropout",
                "dropout2d",
                "localresponsenorm",
                "identity",
                "adaptiveavgpool2d",
            ]
        )
    )
    if kind == "conv2d":
        k, s, p, d = draw(window(min(h, w), allow_same=True))
        groups = draw(st.sampled_from([1, 1, 1, "depthwise", "divisor"]))
        if groups == "divisor":
            groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        if groups == "depthwise":
            out = c * draw(st.integers(1, 2))
        else:
            out = groups * draw(st.integers(1, 3))
        fields = {
            "type": "conv2d",
            "out_channels": out,
            "kernel_size": k,
            "stride": s,
            "padding": p,
            "dilation": d,
            "groups": groups,
            "bias": draw(st.booleans()),
        }
        if draw(st.integers(0, 4)) == 0:  # a rectangular kernel now and then
            fields["kernel_size"] = [k, max(1, k - 1)]
        return fields, (out, _span(h, k, s, p, d), _span(w, k, s, p, d))
    if kind in ("maxpool2d", "avgpool2d"):
        k, s, p, d = draw(window(min(h, w), allow_same=False))
        k = max(k, 2 * p)  # torch: padding at most half the kernel
        ceil = draw(st.booleans())
        fields = {"type": kind, "kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
        if kind == "maxpool2d":
            fields["dilation"] = d
            if 2 * p > d * (k - 1) + 1:
                fields["padding"] = p = 0
        else:
            d = 1
            fields["count_include_pad"] = draw(st.booleans())
        return fields, (c, _span(h, k, s, p, d, ceil), _span(w, k, s, p, d, ceil))
    if kind == "adaptiveavgpool2d":
        out = draw(st.integers(1, max(1, min(h, w))))
        return {"type": "adaptiveavgpool2d", "output_size": out}, (c, out, out)
    if kind == "act":
        return {"type": draw(st.sampled_from(ACTIVATIONS))}, shape
    if kind == "localresponsenorm":
        return {"type": kind, "size": draw(st.integers(1, 5)), "k": 2.0}, shape
    if kind in ("dropout", "dropout2d"):
        return {"type": kind, "p": draw(st.sampled_from([0.0, 0.1, 0.5]))}, shape
    if kind == "batchnorm2d":
        return {"type": kind, "affine": draw(st.booleans())}, shape
    return {"type": kind}, shape


@st.composite
def network(draw, max_layers: int = 7):
    """A spec dict: a chain with optional residual adds and concats, then an optional head."""
    c = draw(st.integers(1, 4))
    h = draw(st.integers(6, 20))
    w = draw(st.sampled_from([h, draw(st.integers(6, 20))]))
    shape = (c, h, w)
    layers: list[dict] = []
    for index in range(draw(st.integers(1, max_layers))):
        prev = layers[-1]["name"] if layers else "input"
        if layers and shape[1] >= 3 and shape[2] >= 3 and draw(st.integers(0, 5)) == 0:
            # a branch of two convs from `prev`, merged by add (same channels) or concat
            merge = draw(st.sampled_from(["add", "concat"]))
            k = draw(st.sampled_from([1, 3]))
            outs = (shape[0], shape[0]) if merge == "add" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            a = {
                "type": "conv2d",
                "name": f"n{index}a",
                "inputs": prev,
                "out_channels": outs[0],
                "kernel_size": k,
                "padding": k // 2,
            }
            b = {"type": "conv2d", "name": f"n{index}b", "inputs": prev, "out_channels": outs[1], "kernel_size": 3, "padding": 1}
            m = {"type": merge, "name": f"n{index}", "inputs": [f"n{index}a", f"n{index}b"]}
            layers += [a, b, m]
            shape = (sum(outs) if merge == "concat" else shape[0], shape[1], shape[2])
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
        layers.append({"type": "globalavgpool2d", "name": "gap"})
        layers.append({"type": "linear", "name": "fc", "out_features": draw(st.integers(1, 5))})
    return {"archspec": 1, "name": "random", "input": [c, h, w], "layers": layers}
