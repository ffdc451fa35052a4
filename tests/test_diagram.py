"""Diagrams: structure (every layer, every edge, the static figures on the labels), golden DOT, rendering."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.render import diagram as dg

pgv = pytest.importorskip("pygraphviz")

SPECS = Path(__file__).resolve().parent.parent / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden" / "diagrams"


def report(name: str):
    return archspec.analyze(archspec.load(SPECS / f"{name}.yaml"))


def parsed(dot: str):
    g = pgv.AGraph(string=dot)
    nodes = {n: g.get_node(n).attr["label"].replace("\\n", "\n") for n in g.nodes()}
    edges = {(u, v): g.get_edge(u, v).attr["label"] for u, v in g.edges()}
    return g, nodes, edges


def test_layers_style_has_every_layer_and_every_edge():
    r = report("seed_cnn")
    _, nodes, edges = parsed(dg.to_dot(r, "layers"))
    assert set(nodes) == {i.name for i in r.layers} | {"input", "output"}
    expected = {(p, i.name) for i in r.layers for p in i.inputs} | {("softmax", "output")}
    assert set(edges) == expected
    # Figure 5: sizes on the connections, the function in the node
    assert edges[("input", "conv1")] == "3×64×64"
    assert edges[("pool2", "flatten")] == "8×16×16"
    assert edges[("flatten", "fc")] == "2048"
    assert nodes["conv1"] == "conv1\nconv 3×3, stride 1, pad 1"
    assert nodes["pool1"] == "pool1\nmaxpool 2×2, stride 2"


def test_params_style_carries_figure_6s_numbers():
    _, nodes, _ = parsed(dg.to_dot(report("seed_cnn"), "params"))
    assert nodes["conv1"].endswith("3×4×9 + 4 = 112")
    assert nodes["conv2"].endswith("4×8×9 + 8 = 296")
    assert nodes["fc"].endswith("2048×10 + 10 = 20,490")
    assert nodes["pool1"].endswith("no parameters")
    assert nodes["output"] == "output\ntotal 20,898 parameters"


def test_rf_style_carries_figure_11s_fields():
    _, nodes, _ = parsed(dg.to_dot(report("receptive_field"), "rf"))
    assert [nodes[n].splitlines()[-1] for n in ("conv3x3", "conv4x4", "pool")] == ["RF 3×3", "RF 6×6", "RF 7×7"]


def test_tensors_style_tells_figure_4s_story():
    _g, nodes, edges = parsed(dg.to_dot(report("seed_cnn"), "tensors"))
    # walk the chain of tensors from the input
    order, node = [], "input"
    while True:
        order.append(nodes[node].splitlines()[0])
        nxt = [v for (u, v) in edges if u == node]
        if not nxt:
            break
        (node,) = nxt
    assert order == ["3×64×64", "4×64×64", "4×32×32", "8×32×32", "8×16×16", "2048", "10"]
    assert edges[("input", "conv1")] == "conv 3×3, stride 1, pad 1 → relu"  # relu folded into the edge
    assert edges[("flatten", "fc")] == "linear →10 → softmax"


def test_resnet_branches_are_real_branches():
    r = report("resnet18")
    _, nodes, edges = parsed(dg.to_dot(r, "layers", collapse=False))
    assert ("layer2.0.downsample.1", "layer2.0.add") in edges and ("layer2.0.bn2", "layer2.0.add") in edges
    assert ("layer1.0.relu2", "layer1.1.add") in edges  # identity shortcut
    assert len(nodes) == len(r.layers) + 2


def test_expanded_blocks_are_clusters():
    g = pgv.AGraph(string=dg.to_dot(report("resnet18"), "layers", collapse=False))
    clusters = {s.name: {n for n in s.nodes()} for s in g.subgraphs()}
    assert set(clusters) == {f"cluster_layer{i}.{j}" for i in range(1, 5) for j in range(2)}
    assert "layer3.1.conv2" in clusters["cluster_layer3.1"]


def test_resnet50_collapses_to_one_node_per_stage():
    r = report("resnet50")
    _, nodes, edges = parsed(dg.to_dot(r))  # auto: 175 layers > 60, collapsed
    stages = {n: nodes[n].splitlines()[1] for n in nodes if n.startswith("layer")}
    assert stages == {"layer1": "bottleneck ×3", "layer2": "bottleneck ×4", "layer3": "bottleneck ×6", "layer4": "bottleneck ×3"}
    assert edges[("maxpool", "layer1")] == "64×56×56"
    assert edges[("layer1", "layer2")] == "256×56×56"
    assert edges[("layer4", "avgpool")] == "2048×7×7"
    assert len(nodes) == 4 + 7 + 2  # stages, stem/head layers, input/output
    _, nodes, _ = parsed(dg.to_dot(r, "params", collapse=True))
    assert nodes["layer1"].endswith(f"{sum(i.params for i in r.layers if i.name.startswith('layer1.')):,} parameters")


def test_vit_b_16s_twelve_alike_encoder_layers_are_one_node():
    """Twelve uses of encoder_block, each its own call with the same parameters, chained: one node ×12, its
    parameters by hand (torchvision's EncoderBlock: two LayerNorms, attention 4·D² + 4·D, MLP D·M + M + M·D + D)."""
    r = report("vit_b_16")
    _, nodes, edges = parsed(dg.to_dot(r, "params", collapse=True))
    d, m = 768, 3072
    each = 2 * (2 * d) + (4 * d * d + 4 * d) + (d * m + m + m * d + d)
    assert each == 7_087_872
    block = "encoder.layers.encoder_layer_0"
    assert nodes[block].splitlines() == [
        "encoder.layers.encoder_layer_0 … encoder_layer_11",
        "encoder_block ×12",
        f"12 × 7,087,872 = {12 * each:,} parameters",
    ]
    assert not any(n.startswith("encoder.layers.encoder_layer_1") for n in nodes)
    assert edges[("encoder.dropout", block)] == edges[(block, "encoder.ln")] == "197 tokens × 768"
    assert nodes["encoder.pos_embedding"].endswith("1×197×768 = 151,296")  # stored with its batch axis, as torchvision
    expanded = pgv.AGraph(string=dg.to_dot(r, "layers", collapse=False))  # expanded: a cluster per use, as before
    assert {s.name for s in expanded.subgraphs()} == {f"cluster_encoder.layers.encoder_layer_{i}" for i in range(12)}


def test_token_sequences_say_so_on_their_edges():
    """N tokens of D features (positions first) read `N tokens × D`; the C×L map before the transpose does not."""
    _, _, edges = parsed(dg.to_dot(report("vit_b_16"), "layers"))
    assert edges[("patches", "tokens")] == "768×196"
    assert edges[("tokens", "with_class_token")] == "196 tokens × 768"
    assert edges[("class_token", "with_class_token")] == "1×768"  # a learned tensor: no positions
    assert edges[("class_token_out", "heads.head")] == "768"


def blocks_spec(*calls: str, skip: bool = False) -> str:
    """Uses of a block `unit` (a conv and a ReLU) on a 4×8×8 map, one per line of ``calls``."""
    head = "  - {type: add, name: join, inputs: [c0, c2]}\n" if skip else ""
    return (
        "archspec: 1\ninput: [4, 8, 8]\nblocks:\n  unit:\n    params: {width: 4, k: 3, bias: true}\n    layers:\n"
        "      - {type: conv2d, name: conv, out_channels: $width, kernel_size: $k, padding: 1, bias: $bias}\n"
        "      - {type: relu, name: act}\nlayers:\n" + "".join(f"  - {c}\n" for c in calls) + head
    )


def test_uses_that_differ_or_branch_keep_their_own_nodes():
    alike = [f"{{type: unit, name: c{i}}}" for i in range(3)]
    drawn = dg.units(archspec.analyze(archspec.loads(blocks_spec(*alike))), collapse=True)
    assert [(u.id, u.op, u.label) for u in drawn] == [("c0", "unit ×3", "c0 … c2")]
    assert drawn[0].layers == [f"c{i}.{n}" for i in range(3) for n in ("conv", "act")]
    # the defaults written out are the same use; a conv without bias (same shapes) is not, nor other shapes
    other = [alike[0], "{type: unit, name: c1, k: 3, width: 4}", "{type: unit, name: c2, bias: false}"]
    drawn = dg.units(archspec.analyze(archspec.loads(blocks_spec(*other, "{type: unit, name: c3, k: 1}"))), collapse=True)
    assert [(u.id, u.op, u.shape) for u in drawn] == [
        ("c0", "unit ×2", (4, 8, 8)),
        ("c2", "unit", (4, 8, 8)),
        ("c3", "unit", (4, 10, 10)),
    ]
    # a use whose output another layer also reads: the run stops there, so the edge can be drawn
    drawn = dg.units(archspec.analyze(archspec.loads(blocks_spec(*alike, skip=True))), collapse=True)
    assert [(u.id, u.op, u.inputs) for u in drawn] == [
        ("c0", "unit", ["input"]),
        ("c1", "unit ×2", ["c0"]),
        ("join", "+", ["c0", "c1"]),
    ]
    # the network's output stays a node of its own, read by the output edge
    drawn = dg.units(archspec.analyze(archspec.loads(blocks_spec(*alike) + "output: c1\n")), collapse=True)
    assert [(u.id, u.op) for u in drawn] == [("c0", "unit ×2"), ("c2", "unit")]


def test_deterministic():
    r = report("mobilenet_v2")
    assert dg.to_dot(r, "params") == dg.to_dot(report("mobilenet_v2"), "params")


@pytest.mark.parametrize("spec", sorted(p.stem for p in SPECS.glob("*.yaml")))
def test_golden_dot(spec, regen_golden):
    styles = ("tensors", "layers", "params", "rf") if spec in ("seed_cnn", "receptive_field") else ("layers",)
    for style in styles:
        text = dg.to_dot(report(spec), style)
        golden = GOLDEN / f"{spec}.{style}.dot"
        if regen_golden:
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"{golden.name}: run pytest --regen-golden after an intended change"


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_rendering(tmp_path, fmt, magic):
    path = dg.render(dg.to_dot(report("resnet18"), "layers"), tmp_path / f"r18.{fmt}")
    data = path.read_bytes()
    assert data.startswith(magic) and len(data) > 2000
    again = dg.render(dg.to_dot(report("resnet18"), "layers"), tmp_path / f"again.{fmt}")
    if fmt != "pdf":  # PDFs carry a creation date
        assert again.read_bytes() == data


def test_no_renderer_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pygraphviz(name, *args, **kw):
        if name == "pygraphviz":
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pygraphviz)
    monkeypatch.setattr(dg.shutil, "which", lambda _: None)
    with pytest.raises(dg.DiagramError, match=r"`pip install pygraphviz` \(or `pip install -e '\.\[diagram\]'` in a clone"):
        dg.render(dg.to_dot(report("seed_cnn")), tmp_path / "x.svg")
    assert dg.render(dg.to_dot(report("seed_cnn")), tmp_path / "x.dot").read_text().startswith("// archspec")


def test_cli(tmp_path, capsys):
    assert main(["diagram", str(SPECS / "seed_cnn.yaml"), "-o", "-", "--style", "tensors"]) == 0
    assert capsys.readouterr().out.startswith("// archspec diagram of seed-cnn (tensors)")
    out = tmp_path / "seed.svg"
    assert main(["diagram", str(SPECS / "seed_cnn.yaml"), "-o", str(out), "--style", "params", "--direction", "TB"]) == 0
    assert "20,898" in out.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("archspec: 1\ninput: [3, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 1, kernel_size: 9}\n")
    assert main(["diagram", str(bad), "-o", str(tmp_path / "bad.svg")]) == 1
    assert "E305" in capsys.readouterr().err


def test_a_png_render_prints_no_fontconfig_warning(tmp_path):
    """The fontconfig in the pygraphviz wheel warns about newer system configuration files on every render."""
    import subprocess
    import sys

    out = tmp_path / "seed.png"
    result = subprocess.run(
        [sys.executable, "-m", "archspec", "diagram", str(SPECS / "seed_cnn.yaml"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and out.read_bytes()[:4] == b"\x89PNG"
    assert result.stderr == f"wrote {out} (layers style)\n"


def test_only_fontconfig_warnings_are_dropped(capfd):
    import os

    with dg._without_fontconfig_warnings():
        os.write(2, b'Fontconfig warning: "x.conf", line 6: unknown element "reset-dirs"\nWarning: a real one\n')
    assert capfd.readouterr().err == "Warning: a real one\n"


def test_graphvizs_scaling_note_is_reworded_and_other_lines_kept():
    from archspec.render.diagram import _reworded

    note = _reworded(b"(null): graph is too large for cairo-renderer bitmaps. Scaling by 0.728674 to fit\n")
    assert note.startswith(b"note: the PNG was scaled down") and b"SVG" in note
    assert _reworded(b"Warning: something else\n") == b"Warning: something else\n"
