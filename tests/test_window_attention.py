"""Swin's window attention and patch merging: figures, outputs and saved memory against torchvision and torch,
and specs/swin_t.yaml against torchvision.models.swin_t."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.lint import lint_text

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import torch_oracle
from test_properties import QUICK, check_against_torch
from torchvision.models.swin_transformer import PatchMerging, ShiftedWindowAttention, _patch_merging_pad

SWIN = Path(__file__).resolve().parent.parent / "specs" / "swin_t.yaml"


def swin_spec(c: int, h: int, w: int, heads: int, window, shift=0, merge: bool = False, **fields) -> dict:
    """A C×H×W map put channels last, attended in windows (and merged 2×2), channels first again."""
    layers = [
        {"type": "permute", "name": "last", "axes": [1, 2, 0]},
        {"type": "window_attention", "name": "attn", "num_heads": heads, "window_size": window, "shift_size": shift, **fields},
    ]
    if merge:
        layers.append({"type": "patch_merging", "name": "merge"})
    layers.append({"type": "permute", "name": "first", "axes": [2, 0, 1]})
    return {"archspec": 1, "input": [c, h, w], "layers": layers}


def analyze(spec: dict):
    return archspec.analyze(archspec.loads(yaml.safe_dump(spec, sort_keys=False)))


def errors_of(spec: dict):
    return [d for d in lint_text(yaml.safe_dump(spec, sort_keys=False), "a.yaml") if d.severity.value == "error"]


def pair(value) -> list[int]:
    return list(value) if isinstance(value, (list, tuple)) else [value, value]


# window, shift on maps that need padding, are one window, or roll on one axis only
CASES = [
    (12, 9, 11, 3, 4, 2),
    (8, 14, 14, 2, 7, 3),
    (6, 7, 7, 3, 7, 3),  # one window covers the map: torchvision ignores the shift
    (8, 5, 16, 4, [5, 4], [0, 2]),
    (4, 6, 10, 1, [3, 5], [1, 2]),
]


@pytest.mark.parametrize("c, h, w, heads, window, shift", CASES)
def test_outputs_equal_torchvisions_shifted_window_attention(c, h, w, heads, window, shift):
    model = archspec.build(analyze(swin_spec(c, h, w, heads, window, shift))).eval()
    reference = ShiftedWindowAttention(c, pair(window), pair(shift), heads).eval()
    with torch.no_grad():  # a bias table of real size, so a wrong index or mask shows
        reference.relative_position_bias_table.normal_(std=1.0)
    model.get_submodule("attn").load_state_dict(reference.state_dict())  # strict: same names, the index buffer too
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        expected = reference(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("c, h, w, heads, window, shift", CASES)
def test_params_buffers_and_macs_equal_torchvision_on_the_meta_device(c, h, w, heads, window, shift):
    from torch.utils.flop_counter import FlopCounterMode

    info = analyze(swin_spec(c, h, w, heads, window, shift)).layer("attn")
    reference = ShiftedWindowAttention(c, pair(window), pair(shift), heads, qkv_bias=False).to("meta")
    with FlopCounterMode(display=False) as counter:
        reference(torch.empty(1, h, w, c, device="meta"))
    assert info.macs == counter.get_total_flops() // 2
    mh, mw = pair(window)
    padded = -(-h // mh) * mh * (-(-w // mw) * mw)
    assert info.macs == padded * (4 * c * c + 2 * mh * mw * c)  # by hand: projections, Q·Kᵀ and A·V per position
    biased = sum(p.numel() for p in ShiftedWindowAttention(c, pair(window), pair(shift), heads).parameters())
    assert info.params == biased == 4 * c * c + 4 * c + (2 * mh - 1) * (2 * mw - 1) * heads
    assert info.buffers == {"relative_position_index": ((mh * mw) ** 2,)}
    assert reference.relative_position_index.numel() == (mh * mw) ** 2


def test_without_biases_only_the_matrices_and_the_table_are_learned():
    info = analyze(swin_spec(8, 8, 8, 2, 4, qkv_bias=False, proj_bias=False)).layer("attn")
    assert info.weights == {"qkv.weight": (24, 8), "proj.weight": (8, 8), "relative_position_bias_table": (49, 2)}


@pytest.mark.parametrize("h, w", [(8, 8), (7, 9), (1, 3)])
def test_patch_merging_equals_torchvisions(h, w):
    spec = swin_spec(3, h, w, 1, 1, merge=True)
    report = analyze(spec)
    assert report.layer("merge").output_shape == (-(-h // 2), -(-w // 2), 12)
    model = archspec.build(report).eval()
    x = torch.randn(2, 3, h, w)
    with torch.no_grad():
        attended = model.get_submodule("attn")(x.permute(0, 2, 3, 1))
        torch.testing.assert_close(model(x), _patch_merging_pad(attended).permute(0, 3, 1, 2))


def test_swin_merging_block_has_torchvisions_names_and_count():
    spec = {
        "archspec": 1,
        "input": [5, 5, 6],
        "layers": [
            {"type": "patch_merging", "name": "pad"},
            {"type": "layernorm", "name": "norm"},
            {"type": "linear", "name": "reduction", "out_features": 12, "bias": False},
        ],
    }
    report = analyze(spec)
    reference = PatchMerging(6)
    assert report.totals()["params"] == sum(p.numel() for p in reference.parameters()) == 24 * 12 + 2 * 24
    model = archspec.load_weights(archspec.build(report).eval(), reference.state_dict())
    x = torch.randn(2, 5, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


@pytest.mark.parametrize("attention_dropout, dropout", [(0.0, 0.0), (0.2, 0.0), (0.0, 0.3), (0.1, 0.1)])
@pytest.mark.parametrize("shape, window, shift", [((14, 14, 8), 7, 3), ((9, 6, 4), 4, 0)])
def test_saved_bytes_are_what_autograd_keeps(shape, window, shift, attention_dropout, dropout):
    """Every tensor torchvision's attention saves for backward, by storage, the parameters and index left out."""
    h, w, c = shape
    fields = {"attention_dropout": attention_dropout, "dropout": dropout}
    layer = analyze(swin_spec(c, h, w, 2, window, shift, **fields)).layer("attn").layer
    reference = ShiftedWindowAttention(c, pair(window), pair(shift), 2, **fields).train()
    x = torch.randn(1, h, w, c, requires_grad=True)
    saved, _ = torch_oracle.saved_bytes(reference, lambda: reference(x))
    assert layer.extra_saved_bytes([shape], shape) == saved


def test_shift_must_be_smaller_than_the_window():
    errors = errors_of(swin_spec(4, 8, 8, 2, 4, 4))
    assert errors and errors[0].code == "E204" and "shift_size" in errors[0].message


def test_heads_must_divide_the_channels_and_the_map_must_be_channels_last():
    (divide,) = errors_of(swin_spec(6, 8, 8, 4, 4))
    assert divide.code == "E307" and divide.layer == "attn" and "divisible by 4" in divide.message
    flat = {"archspec": 1, "input": [16], "layers": [{"type": "window_attention", "num_heads": 2, "window_size": 4}]}
    (rank,) = errors_of(flat)
    assert "H×W×C" in rank.message and "permute" in rank.hint


def test_a_whole_map_window_sees_the_whole_map_and_smaller_windows_state_no_field():
    whole = analyze(swin_spec(4, 7, 7, 2, 7)).layer("attn").rf
    assert [(a.size, a.stride) for a in whole] == [(7, 0), (7, 0)]
    assert analyze(swin_spec(4, 14, 14, 2, 7)).layer("attn").rf is None  # a unit's window depends on where it sits


@pytest.mark.parametrize("word", ["ShiftedWindowAttention", "WindowAttention", "PatchMerging"])
def test_torchvision_names_point_to_the_kinds(word):
    from archspec.spec.kind_names import meaning

    assert meaning(word, [])[0] in ("window_attention", "patch_merging")


@QUICK
@given(
    st.sampled_from([(4, 1), (4, 2), (6, 3)]),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 10),
    st.integers(1, 10),
    st.data(),
)
def test_figures_equal_an_independent_torch_reading(channels_heads, h, w, mh, mw, data):
    c, heads = channels_heads
    shift = [data.draw(st.integers(0, mh - 1)), data.draw(st.integers(0, mw - 1))]
    check_against_torch(swin_spec(c, h, w, heads, [mh, mw], shift, merge=data.draw(st.booleans())))


# --- Swin-T (specs/swin_t.yaml) against torchvision ---


def test_swin_t_counts_equal_torchvision_on_the_meta_device():
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        reference = torchvision.models.swin_t(weights=None).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(torch.empty(1, 3, 224, 224, device="meta"))
    report = archspec.analyze(archspec.load(SWIN))
    assert report.totals()["params"] == sum(p.numel() for p in reference.parameters()) == 28_288_354
    assert report.totals()["macs"] == counter.get_total_flops() // 2 == 4_490_566_656
    assert report.totals()["buffers"] == sum(b.numel() for b in reference.buffers())
    ours = {k: tuple(v.shape) for k, v in archspec.build(report, device="meta").state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in reference.state_dict().items()}  # torchvision's names and shapes


def test_swin_t_gives_torchvisions_outputs_with_its_weights():
    torch.manual_seed(0)
    reference = torchvision.models.swin_t(weights=None).eval()
    with torch.no_grad():  # torchvision zeroes the biases: random values everywhere so nothing hides
        for p in reference.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    model = archspec.load_weights(archspec.build(archspec.load(SWIN)).eval(), reference.state_dict())
    # the same tensors; in another order only where a spec lists layers in data-flow order (patch merging's norm
    # comes before its reduction, which torchvision registers first)
    assert sorted(model.state_dict()) == sorted(reference.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert expected.abs().mean() > 0.01
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_swin_t_lints_with_one_note_why_its_fields_end():
    """Its linear layers act on the channels (a permute put them last, and window attention keeps them there):
    no W410; the first window attention ends the fields, and I504 says why without a useless permute hint."""
    (note,) = lint_text(SWIN.read_text(encoding="utf-8"), str(SWIN))
    assert note.code == "I504" and "features.1.0.attn" in note.message and note.hint is None
    assert "their own window" in note.message


def test_a_linear_on_a_channels_first_map_after_window_attention_is_still_flagged():
    spec = swin_spec(4, 8, 8, 2, 4)
    spec["layers"].append({"type": "linear", "name": "fc", "out_features": 3})  # on the width of C×H×W
    assert [d.code for d in lint_text(yaml.safe_dump(spec, sort_keys=False), "a.yaml") if d.code == "W410"] == ["W410"]
