"""Every layer kind's rules against hand-computed tables, then against torch itself.

Expected values are worked out by hand from the PyTorch formulas, e.g. for a
convolution: out = floor((in + 2p - d(k-1) - 1) / s) + 1, params = out_c·in_c/g·kh·kw + out_c,
MACs = out elements · in_c/g · kh·kw.
"""

from __future__ import annotations

import json

import pytest

from archspec.layers import KINDS, LAYER_ADAPTER, LayerBase, Receptive, Window, count
from archspec.layers.base import Moved

# (fields, input shapes, output shape, params, buffer elements, MACs)
TABLE = [
    # convolutions
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, [(3, 64, 64)], (4, 64, 64), 112, 0, 442_368),
    (
        {
            "type": "conv2d",
            "out_channels": 8,
            "kernel_size": [3, 5],
            "stride": [2, 1],
            "padding": [1, 2],
            "dilation": [1, 2],
            "bias": False,
        },
        [(4, 32, 32)],
        (8, 16, 28),  # h: (32+2-3)//2+1 = 16; w: span 2·4+1 = 9, (32+4-9)+1 = 28
        480,  # 8·4·3·5
        0,
        215_040,  # 8·16·28 outputs · 4·15
    ),
    (
        {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1, "groups": "depthwise", "bias": False},
        [(32, 10, 10)],
        (32, 10, 10),
        288,
        0,
        28_800,
    ),
    ({"type": "conv2d", "out_channels": 6, "kernel_size": 1, "groups": 2}, [(4, 5, 5)], (6, 5, 5), 18, 0, 300),
    ({"type": "conv2d", "out_channels": 3, "kernel_size": 4, "padding": "same"}, [(2, 7, 7)], (3, 7, 7), 99, 0, 4_704),
    ({"type": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": "valid"}, [(1, 5, 5)], (1, 3, 3), 10, 0, 81),
    (
        {"type": "conv2d", "out_channels": 64, "kernel_size": 11, "stride": 4, "padding": 2},
        [(3, 224, 224)],
        (64, 55, 55),
        23_296,
        0,
        70_276_800,
    ),
    # 1-D: (100+2-3)//2+1 = 50; 8·4·3+8 = 104 params; 8·50 outputs · 4·3
    ({"type": "conv1d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}, [(4, 100)], (8, 50), 104, 0, 4_800),
    # M5's stem on one second of 16 kHz audio: (16000-80)//16+1 = 996; 32·80+32 params; 32·996 · 80
    ({"type": "conv1d", "out_channels": 32, "kernel_size": 80, "stride": 16}, [(1, 16000)], (32, 996), 2_592, 0, 2_549_760),
    (
        {"type": "conv1d", "out_channels": 6, "kernel_size": [5], "padding": "same", "groups": 3, "bias": False},
        [(3, 7)],
        (6, 7),
        30,
        0,
        210,
    ),
    # 3-D, r3d_18's stem on 16 frames of 112×112: t (16+2-3)+1 = 16, h (112+6-7)//2+1 = 56;
    # 64·3·3·7·7 = 28,224 params; 64·16·56·56 outputs · 3·147 = 1,416,167,424 MACs
    (
        {
            "type": "conv3d",
            "out_channels": 64,
            "kernel_size": [3, 7, 7],
            "stride": [1, 2, 2],
            "padding": [1, 3, 3],
            "bias": False,
        },
        [(3, 16, 112, 112)],
        (64, 16, 56, 56),
        28_224,
        0,
        1_416_167_424,
    ),
    (
        {"type": "conv3d", "out_channels": 4, "kernel_size": 3, "padding": "same", "groups": "depthwise"},
        [(4, 5, 6, 7)],
        (4, 5, 6, 7),
        112,
        0,
        22_680,
    ),
    # pooling
    ({"type": "maxpool2d", "kernel_size": 2}, [(4, 64, 64)], (4, 32, 32), 0, 0, 0),
    ({"type": "maxpool1d", "kernel_size": 4}, [(32, 996)], (32, 249), 0, 0, 0),
    (
        {"type": "maxpool1d", "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2},
        [(2, 11)],
        (2, 5),
        0,
        0,
        0,
    ),  # (11+2-5)//2+1
    ({"type": "maxpool3d", "kernel_size": [1, 2, 2]}, [(4, 8, 16, 16)], (4, 8, 8, 8), 0, 0, 0),
    (
        {"type": "maxpool3d", "kernel_size": 3, "stride": 2, "padding": 1},
        [(2, 5, 9, 9)],
        (2, 3, 5, 5),
        0,
        0,
        0,
    ),  # (5+2-3)//2+1 = 3
    ({"type": "avgpool1d", "kernel_size": 3, "stride": 1, "padding": 1}, [(3, 10)], (3, 10), 0, 0, 0),
    ({"type": "avgpool3d", "kernel_size": 2, "ceil_mode": True}, [(2, 5, 6, 6)], (2, 3, 3, 3), 0, 0, 0),
    ({"type": "adaptiveavgpool1d", "output_size": 5}, [(3, 20)], (3, 5), 0, 0, 0),
    ({"type": "adaptiveavgpool3d", "output_size": 1}, [(512, 2, 7, 7)], (512, 1, 1, 1), 0, 0, 0),
    ({"type": "adaptivemaxpool1d", "output_size": 4}, [(2, 9)], (2, 4), 0, 0, 0),
    ({"type": "adaptivemaxpool3d", "output_size": [2, 3, 3]}, [(1, 4, 6, 6)], (1, 2, 3, 3), 0, 0, 0),
    ({"type": "globalavgpool1d"}, [(8, 100)], (8,), 0, 0, 0),
    ({"type": "globalavgpool3d"}, [(512, 2, 7, 7)], (512,), 0, 0, 0),
    ({"type": "globalmaxpool1d"}, [(8, 100)], (8,), 0, 0, 0),
    ({"type": "globalmaxpool2d"}, [(8, 4, 5)], (8,), 0, 0, 0),
    ({"type": "globalmaxpool3d"}, [(3, 2, 4, 5)], (3,), 0, 0, 0),
    ({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True}, [(1, 6, 6)], (1, 3, 3), 0, 0, 0),
    ({"type": "maxpool2d", "kernel_size": 3, "stride": 2}, [(1, 6, 6)], (1, 2, 2), 0, 0, 0),
    ({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}, [(64, 112, 112)], (64, 56, 56), 0, 0, 0),
    ({"type": "maxpool2d", "kernel_size": 2, "stride": 1, "dilation": 2}, [(1, 5, 5)], (1, 3, 3), 0, 0, 0),
    ({"type": "avgpool2d", "kernel_size": 2}, [(16, 10, 10)], (16, 5, 5), 0, 0, 0),
    ({"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, [(2, 8, 8)], (2, 5, 5), 0, 0, 0),
    ({"type": "adaptiveavgpool2d", "output_size": 1}, [(2048, 7, 7)], (2048, 1, 1), 0, 0, 0),
    ({"type": "adaptiveavgpool2d", "output_size": [6, 6]}, [(256, 13, 13)], (256, 6, 6), 0, 0, 0),
    ({"type": "adaptivemaxpool2d", "output_size": [2, 3]}, [(5, 4, 9)], (5, 2, 3), 0, 0, 0),
    ({"type": "globalavgpool2d"}, [(8, 4, 4)], (8,), 0, 0, 0),
    # normalisation and dropout
    ({"type": "batchnorm2d"}, [(16, 8, 8)], (16, 8, 8), 32, 33, 0),  # buffers: mean 16 + var 16 + counter 1
    ({"type": "batchnorm2d", "affine": False, "track_running_stats": False}, [(16, 8, 8)], (16, 8, 8), 0, 0, 0),
    ({"type": "batchnorm1d"}, [(10,)], (10,), 20, 21, 0),
    ({"type": "batchnorm1d"}, [(16, 50)], (16, 50), 32, 33, 0),  # per channel of a sequence
    ({"type": "batchnorm3d"}, [(64, 8, 56, 56)], (64, 8, 56, 56), 128, 129, 0),
    ({"type": "localresponsenorm", "size": 5, "k": 2.0}, [(96, 55, 55)], (96, 55, 55), 0, 0, 0),
    ({"type": "dropout", "p": 0.2}, [(10,)], (10,), 0, 0, 0),
    ({"type": "dropout2d", "p": 0.1}, [(3, 4, 4)], (3, 4, 4), 0, 0, 0),
    ({"type": "dropout1d", "p": 0.1}, [(3, 4)], (3, 4), 0, 0, 0),
    ({"type": "dropout3d", "p": 0.1}, [(3, 2, 4, 4)], (3, 2, 4, 4), 0, 0, 0),
    # activations
    *[
        ({"type": t}, [(3, 4, 4)], (3, 4, 4), 0, 0, 0)
        for t in ("relu", "relu6", "elu", "silu", "hardswish", "hardsigmoid", "sigmoid", "tanh")
    ],
    ({"type": "leakyrelu", "negative_slope": 0.2}, [(3, 4, 4)], (3, 4, 4), 0, 0, 0),
    ({"type": "gelu", "approximate": "tanh"}, [(7,)], (7,), 0, 0, 0),
    ({"type": "softmax"}, [(10,)], (10,), 0, 0, 0),
    ({"type": "log_softmax", "axis": 0}, [(5, 2, 2)], (5, 2, 2), 0, 0, 0),
    # flatten, linear, identity
    ({"type": "flatten"}, [(8, 16, 16)], (2048,), 0, 0, 0),
    ({"type": "flatten", "start_axis": 1}, [(2, 3, 4)], (2, 12), 0, 0, 0),
    ({"type": "linear", "out_features": 10}, [(2048,)], (10,), 20_490, 0, 20_480),
    ({"type": "linear", "out_features": 3, "bias": False}, [(4, 5)], (4, 3), 15, 0, 60),
    # 4·D² + 4·D parameters; MACs 4·N·D² (projections) + 2·N²·D (Q·Kᵀ, A·V): 4·5·64 + 2·25·8
    ({"type": "multihead_attention", "num_heads": 2}, [(5, 8)], (5, 8), 288, 0, 1_680),
    # Swin on a 6×7×8 map padded to 8×8 by 4×4 windows: 4·8² + 4·8 + 7·7·2 (bias table) = 386 parameters, the
    # index buffer (4·4)² = 256; MACs per padded position 4·8² + 2·16·8 = 512, × 64 positions
    ({"type": "window_attention", "num_heads": 2, "window_size": 4, "shift_size": 2}, [(6, 7, 8)], (6, 7, 8), 386, 256, 32_768),
    ({"type": "patch_merging"}, [(5, 4, 3)], (3, 2, 12), 0, 0, 0),  # an odd height padded: ⌈5/2⌉ = 3
    ({"type": "select", "axis": 0, "index": 0}, [(197, 768)], (768,), 0, 0, 0),  # ViT's class token
    ({"type": "identity"}, [(3, 2, 2)], (3, 2, 2), 0, 0, 0),
    # merges
    ({"type": "add"}, [(4, 5, 5), (4, 5, 5), (4, 5, 5)], (4, 5, 5), 0, 0, 0),
    ({"type": "add"}, [(4, 5, 5), (4, 1, 1)], (4, 5, 5), 0, 0, 0),  # broadcast as numpy does
    ({"type": "mul"}, [(4, 5, 5), (4, 1, 1)], (4, 5, 5), 0, 0, 0),
    ({"type": "mul"}, [(1, 5, 5), (4, 1, 1), (4, 5, 1)], (4, 5, 5), 0, 0, 0),
    ({"type": "concat"}, [(4, 5, 5), (6, 5, 5)], (10, 5, 5), 0, 0, 0),
    ({"type": "concat", "axis": -1}, [(2, 3), (2, 5)], (2, 8), 0, 0, 0),
    # per-sample normalisation: weight and bias per normalised element (layer) or channel (group, instance)
    ({"type": "layernorm", "over": "channels"}, [(8, 5, 5)], (8, 5, 5), 16, 0, 0),
    ({"type": "layernorm", "over": 2}, [(4, 6, 5)], (4, 6, 5), 60, 0, 0),  # 2 · 6·5
    ({"type": "groupnorm", "num_groups": 2}, [(4, 6, 6)], (4, 6, 6), 8, 0, 0),
    ({"type": "instancenorm1d", "affine": True, "track_running_stats": True}, [(3, 10)], (3, 10), 6, 7, 0),
    ({"type": "instancenorm3d", "affine": True}, [(2, 3, 4, 4)], (2, 3, 4, 4), 4, 0, 0),
    ({"type": "instancenorm2d"}, [(4, 5, 5)], (4, 5, 5), 0, 0, 0),
    # a learned tensor; stochastic depth
    ({"type": "parameter", "shape": [8, 1, 1]}, [], (8, 1, 1), 8, 0, 0),
    ({"type": "parameter", "shape": [1, 8], "batch_axis": True}, [], (1, 8), 8, 0, 0),  # stored as 1×1×8
    ({"type": "stochastic_depth", "p": 0.2}, [(4, 5, 5)], (4, 5, 5), 0, 0, 0),
    # transposed convolution: (n-1)·s - 2p + k + op; MACs = input values · out/groups · kernel
    (
        {
            "type": "conv_transpose2d",
            "out_channels": 6,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
            "groups": 2,
        },
        [(4, 8, 8)],
        (6, 16, 16),  # 7·2 - 2 + 3 + 1
        114,  # 4·3·3·3 + 6
        0,
        6_912,  # 4·8·8 · 3 · 9
    ),
    ({"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 4, "stride": 3}, [(3, 10)], (2, 31), 26, 0, 240),
    (
        {"type": "conv_transpose3d", "out_channels": 2, "kernel_size": 2, "stride": 2, "bias": False},
        [(1, 2, 3, 3)],
        (2, 4, 6, 6),
        16,
        0,
        288,
    ),
    # upsampling: floor(n · factor), or the size given
    ({"type": "upsample", "scale_factor": 2.0, "mode": "bilinear"}, [(3, 4, 5)], (3, 8, 10), 0, 0, 0),
    ({"type": "upsample", "size": [7], "mode": "linear"}, [(2, 5)], (2, 7), 0, 0, 0),
    # moving and cutting
    ({"type": "permute", "axes": [1, 2, 0]}, [(3, 4, 5)], (4, 5, 3), 0, 0, 0),
    ({"type": "transpose", "axis0": 0, "axis1": -1}, [(3, 4, 5)], (5, 4, 3), 0, 0, 0),
    ({"type": "reshape", "shape": [2, -1, 4, 5]}, [(6, 4, 5)], (2, 3, 4, 5), 0, 0, 0),
    ({"type": "unflatten", "axis": 0, "sizes": [2, 3]}, [(6, 4)], (2, 3, 4), 0, 0, 0),
    ({"type": "channel_shuffle", "groups": 2}, [(6, 4, 4)], (6, 4, 4), 0, 0, 0),
    ({"type": "mean", "axes": [1, 2]}, [(6, 4, 4)], (6,), 0, 0, 0),
    ({"type": "mean", "axes": [-1], "keepdim": True}, [(6, 4, 4)], (6, 4, 1), 0, 0, 0),
    ({"type": "slice", "axis": 2, "start": 1, "stop": -1, "step": 2}, [(3, 8, 8)], (3, 8, 3), 0, 0, 0),
    ({"type": "split", "sizes": [2, 5], "index": 1}, [(7, 4, 4)], (5, 4, 4), 0, 0, 0),
    ({"type": "chunk", "chunks": 3, "index": 2, "axis": 1}, [(2, 7, 4)], (2, 1, 4), 0, 0, 0),  # 3 + 3 + 1
    ({"type": "crop", "start": [1, 2], "size": [3, 3]}, [(2, 8, 8)], (2, 3, 3), 0, 0, 0),
    ({"type": "center_crop"}, [(2, 9, 8), (5, 4, 4)], (2, 4, 4), 0, 0, 0),
    ({"type": "pad", "padding": [[0, 1], 2]}, [(2, 5, 5)], (2, 6, 9), 0, 0, 0),  # 5 + 0 + 1, 5 + 2 + 2
    ({"type": "pad", "padding": 1, "mode": "reflect"}, [(3, 4)], (3, 6), 0, 0, 0),
    ({"type": "pad", "padding": [1, 0, [2, 3]], "mode": "replicate"}, [(1, 2, 3, 4)], (1, 4, 3, 9), 0, 0, 0),
    # elementwise arithmetic: FlopCounterMode counts none of it
    ({"type": "sub"}, [(8, 5, 5), (8, 1, 1)], (8, 5, 5), 0, 0, 0),
    ({"type": "scale", "factor": 0.125}, [(4, 3, 3)], (4, 3, 3), 0, 0, 0),
    ({"type": "sum", "axes": [0]}, [(2, 6, 4, 4)], (6, 4, 4), 0, 0, 0),  # ResNeSt's radix groups
    ({"type": "sum", "axes": [1, 2], "keepdim": True}, [(6, 4, 4)], (6, 1, 1), 0, 0, 0),
]

IDS = [f"{row[0]['type']}-{i}" for i, row in enumerate(TABLE)]


def make(fields: dict) -> LayerBase:
    return LAYER_ADAPTER.validate_python(dict(fields))


@pytest.mark.parametrize("fields, ins, out, params, buffers, macs", TABLE, ids=IDS)
def test_rules(fields, ins, out, params, buffers, macs):
    layer = make(fields)
    layer.check_inputs(ins)
    assert layer.output_shape(ins) == out
    assert count(layer.weights(ins)) == params
    assert count(layer.buffers(ins)) == buffers
    assert layer.macs(ins, out) == macs


def test_every_kind_has_a_table_row():
    covered = {row[0]["type"] for row in TABLE}
    assert covered == {cls.kind() for cls in KINDS}


def test_every_kind_lowers():
    missing = [cls.kind() for cls in KINDS if cls.lower is LayerBase.lower]
    assert missing == []


@pytest.mark.parametrize(
    "fields, ins, expected",
    [
        (
            {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": 1},
            [(1, 8, 8)],
            Window((3, 3), (1, 1), (1, 1), (1, 1)),
        ),
        (
            {"type": "conv2d", "out_channels": 1, "kernel_size": 4, "padding": "same"},
            [(1, 8, 8)],
            Window((4, 4), (1, 1), (1, 1), (1, 1)),
        ),
        (
            {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "dilation": 2},
            [(1, 8, 8)],
            Window((3, 3), (1, 1), (0, 0), (2, 2)),
        ),
        ({"type": "maxpool2d", "kernel_size": 2}, [(1, 8, 8)], Window((2, 2), (2, 2), (0, 0), (1, 1))),
        ({"type": "avgpool2d", "kernel_size": 3, "stride": 1, "padding": 1}, [(1, 8, 8)], Window((3, 3), (1, 1), (1, 1), (1, 1))),
        ({"type": "adaptiveavgpool2d", "output_size": 1}, [(2048, 7, 7)], Window((7, 7), (7, 7), (0, 0), (1, 1))),
        ({"type": "adaptiveavgpool2d", "output_size": 6}, [(256, 6, 6)], Window((1, 1), (1, 1), (0, 0), (1, 1))),
        ({"type": "adaptiveavgpool2d", "output_size": 6}, [(256, 13, 13)], Receptive.UNDEFINED),  # unequal windows
        ({"type": "conv1d", "out_channels": 1, "kernel_size": 3, "padding": 1}, [(1, 8)], Window((3,), (1,), (1,), (1,))),
        ({"type": "maxpool3d", "kernel_size": [1, 2, 2]}, [(1, 4, 8, 8)], Window((1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1))),
        ({"type": "globalmaxpool1d"}, [(8, 4)], Receptive.LOST),
        # softmax over the width: each unit sees its whole row; over the channels: its own position
        ({"type": "softmax", "axis": 2}, [(1, 8, 8)], (Receptive.KEEP, Receptive.MIX)),
        ({"type": "softmax", "axis": -2}, [(1, 4, 8, 8)], (Receptive.KEEP, Receptive.MIX, Receptive.KEEP)),
        ({"type": "log_softmax"}, [(10, 4, 4)], Receptive.KEEP),
        ({"type": "concat"}, [(2, 4, 4), (3, 4, 4)], Receptive.KEEP),
        ({"type": "concat", "axis": 2}, [(1, 8, 8), (1, 8, 8)], Receptive.UNDEFINED),  # no single (r, S, P)
        ({"type": "globalavgpool2d"}, [(8, 4, 4)], Receptive.LOST),
        ({"type": "flatten"}, [(8, 4, 4)], Receptive.LOST),
        ({"type": "linear", "out_features": 2}, [(8,)], Receptive.LOST),
        ({"type": "relu"}, [(8, 4, 4)], Receptive.KEEP),
        ({"type": "batchnorm2d"}, [(8, 4, 4)], Receptive.KEEP),
        ({"type": "localresponsenorm", "size": 5}, [(8, 4, 4)], Receptive.KEEP),
        # a pad shifts each axis by what it adds before: unit i is input position i - before
        ({"type": "pad", "padding": [[0, 1], 2]}, [(1, 8, 8)], (Window((1,), (1,), (0,)), Window((1,), (1,), (2,)))),
        ({"type": "scale", "factor": -2.0}, [(8, 4, 4)], Receptive.KEEP),
        ({"type": "sub"}, [(8, 4, 4), (8, 4, 4)], Receptive.KEEP),
        ({"type": "sum", "axes": [0]}, [(2, 8, 4, 4)], Moved((None, 0, 1, 2))),  # the groups go, the axes move down one
    ],
)
def test_receptive_steps(fields, ins, expected):
    got = make(fields).receptive(ins)
    assert got == expected


@pytest.mark.parametrize("fields, ins, out, params, buffers, macs", TABLE, ids=IDS)
def test_rules_match_torch(fields, ins, out, params, buffers, macs):
    """The same table through torch: the lowered module's output shape and tensor sizes."""
    torch = pytest.importorskip("torch")
    layer = make(fields)
    module = layer.lower(ins)
    module.eval()
    xs = [torch.randn(2, *shape) for shape in ins]
    with torch.no_grad():
        y = module(*xs)
    assert tuple(y.shape) == (2 if ins else 1, *out)  # a learned tensor (no input) has a batch axis of one
    assert sum(p.numel() for p in module.parameters()) == params
    assert sum(b.numel() for b in module.buffers()) == buffers
    named = {k: tuple(v.shape) for k, v in module.named_parameters()}
    assert named == {k: tuple(v) for k, v in layer.weights(ins).items()}


def test_pad_sub_scale_and_sum_compute_what_torch_writes():
    """The lowered layers' values against torch written by hand (F.pad's tuple starts from the last axis)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.manual_seed(0)
    x, gate = torch.randn(2, 3, 5, 6), torch.randn(2, 3, 1, 1)
    cases = [
        ({"type": "pad", "padding": [[0, 1], 2]}, [x], F.pad(x, (2, 2, 0, 1))),
        ({"type": "pad", "padding": 1, "value": -3.0}, [x], F.pad(x, (1, 1, 1, 1), value=-3.0)),
        ({"type": "pad", "padding": [2, [1, 3]], "mode": "reflect"}, [x], F.pad(x, (1, 3, 2, 2), mode="reflect")),
        ({"type": "pad", "padding": [1, 0], "mode": "replicate"}, [x], torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)),
        ({"type": "pad", "padding": [[1, 0], 0], "mode": "circular"}, [x], torch.cat([x[:, :, -1:], x], dim=2)),
        ({"type": "sub"}, [x, gate], x - gate),
        ({"type": "sub"}, [gate, x], gate - x),
        ({"type": "scale", "factor": 0.125}, [x], x / 8),
        ({"type": "sum", "axes": [0, -1], "keepdim": True}, [x], x.sum(dim=(1, 3), keepdim=True)),
    ]
    for fields, xs, want in cases:
        module = make(fields).lower([tuple(t.shape[1:]) for t in xs])
        torch.testing.assert_close(module(*xs), want, rtol=0, atol=0, msg=str(fields))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_the_saved_bytes_of_a_pad_and_the_arithmetic_kinds_are_torchs(mode):
    """What the memory model says autograd keeps for a pad (and a scale, a sub and a sum, which keep nothing): what
    torch keeps, by storage, besides the input batch and the output the loss reads, which the model counts too (a
    scale in front, so that the pad's input is not the input batch)."""
    torch = pytest.importorskip("torch")
    import torch_oracle

    import archspec
    from archspec.analysis.memory import saved_bytes_per_sample

    spec = {
        "archspec": 1,
        "name": "pad",
        "input": [2, 5, 6],
        "layers": [
            {"type": "scale", "name": "a", "factor": 2.0},
            {"type": "pad", "name": "p", "padding": [[1, 2], 1], "mode": mode},
            {"type": "sub", "name": "d", "inputs": ["p", "p"]},
            {"type": "sum", "name": "s", "axes": [0]},
        ],
    }
    report = archspec.analyze(archspec.loads(json.dumps(spec)))
    model = archspec.build(report).train()
    x = torch.randn(1, 2, 5, 6, requires_grad=True)
    saved, out = torch_oracle.saved_bytes(model, lambda: model(x))
    assert saved == (4 * 2 * 5 * 6 if mode in ("reflect", "replicate") else 0)  # the scale's output, or nothing
    assert saved_bytes_per_sample(report) == x.untyped_storage().nbytes() + saved + out.untyped_storage().nbytes()


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ("padding: 1, mode: reflect, value: 2.0", "E204", "value is what mode constant fills in; mode reflect copies"),
        ("padding: [1, 2, 3]", "E306", "padding needs one entry per spatial axis [h, w] of 3×8×8, got [1, 2, 3]"),
        ("padding: [[1, 2, 3], 1]", "E203", "padding"),  # a pair of more than two
        ("padding: 8, mode: reflect", "E306", "reflect padding of 8 on the height does not fit an input height of 8"),
        ("padding: [0, 9], mode: circular", "E306", "circular padding of 9 on the width does not fit an input width of 8"),
    ],
)
def test_a_pad_that_cannot_be_is_a_positioned_diagnostic(fields, code, message):
    from archspec.lint import lint_text

    text = f"archspec: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n  - {{type: pad, name: p, {fields}}}\n"
    (found,) = [d for d in lint_text(text) if d.severity.value == "error"][:1]
    assert (found.code, found.line) == (code, 5) and message in found.message, found.format()
