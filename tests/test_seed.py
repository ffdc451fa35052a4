"""The seed text's own numbers, from the bundled specs (Figures 4-6 and 11-13)."""

from __future__ import annotations

from pathlib import Path

import archspec

SPECS = Path(__file__).resolve().parent.parent / "specs"


def report(name: str):
    return archspec.analyze(archspec.load(SPECS / name))


def test_figure_4_tensor_sizes():
    r = report("seed_cnn.yaml")
    # "three 64x64 colour channel images ... 4 64x64 ... 4 32x32 ... 8 32x32 ... 8 16x16 ... 2048 ... 10"
    shapes = [r.layer(n).output_shape for n in ("conv1", "pool1", "conv2", "pool2", "flatten", "fc", "softmax")]
    assert r.input_shape == (3, 64, 64)
    assert shapes == [(4, 64, 64), (4, 32, 32), (8, 32, 32), (8, 16, 16), (2048,), (10,), (10,)]


def test_figure_6_parameter_counts():
    r = report("seed_cnn.yaml")
    assert r.layer("conv1").params == 3 * 4 * 9 + 4 == 112
    assert r.layer("conv2").params == 4 * 8 * 9 + 8 == 296
    assert r.layer("fc").params == 2048 * 10 + 10 == 20490
    assert all(r.layer(n).params == 0 for n in ("pool1", "pool2", "flatten", "relu1", "relu2", "softmax"))
    assert r.totals()["params"] == 20898
    assert r.totals()["trainable_params"] == 20898


def test_figure_6_weights_are_the_papers_kernels():
    r = report("seed_cnn.yaml")
    # a 3x3 kernel per (out, in) channel pair plus one bias per feature map
    assert r.layer("conv1").weights == {"weight": (4, 3, 3, 3), "bias": (4,)}
    assert r.layer("fc").weights == {"weight": (10, 2048), "bias": (10,)}


def test_describe_json_contract_for_the_seed():
    d = report("seed_cnn.yaml").to_dict()
    assert d["name"] == "seed-cnn"
    assert d["input_shape"] == [3, 64, 64]
    assert d["output_shape"] == [10]
    assert d["totals"]["params"] == 20898
    # MACs by hand: conv1 64·64·4 outputs × 27, conv2 32·32·8 × 36, fc 2048·10
    macs = 64 * 64 * 4 * 27 + 32 * 32 * 8 * 36 + 2048 * 10
    assert d["totals"]["macs"] == macs == 757_760
    assert d["totals"]["flops"] == 2 * macs
    assert d["totals"]["param_bytes"] == 4 * 20898
    # activations: every layer's output elements, float32
    elements = 2 * 4 * 64 * 64 + 4 * 32 * 32 + 2 * 8 * 32 * 32 + 8 * 16 * 16 + 2048 + 10 + 10
    assert d["totals"]["activation_bytes"] == 4 * elements
    first = d["layers"][0]
    assert first == {
        **first,
        "name": "conv1",
        "type": "conv2d",
        "inputs": ["input"],
        "output_shape": [4, 64, 64],
        "params": 112,
        "macs": 442368,
        "receptive_field": {"size": [3, 3], "stride": [1, 1], "padding": [1, 1]},
    }
    assert [layer["name"] for layer in d["layers"]] == [
        "conv1",
        "relu1",
        "pool1",
        "conv2",
        "relu2",
        "pool2",
        "flatten",
        "fc",
        "softmax",
    ]
    assert d["layers"][6]["receptive_field"] is None  # flatten: no spatial layout


def test_figure_11_receptive_fields_3_6_7():
    r = report("receptive_field.yaml")
    sizes = [tuple(a.size for a in r.layer(n).rf) for n in ("conv3x3", "conv4x4", "pool")]
    assert sizes == [(3, 3), (6, 6), (7, 7)]
    # Figure 13: two adjacent 6x6 fields one input pixel apart make the 7x7 field
    assert r.layer("conv4x4").rf[0].stride == 1
    assert r.layer("pool").rf[0].stride == 2


def test_classifier_holds_most_parameters_as_the_seed_notes():
    from archspec.lint import lint_file

    found = [d for d in lint_file(str(SPECS / "seed_cnn.yaml")) if d.code == "I501"]
    assert len(found) == 1 and "20,490 of 20,898" in found[0].message
