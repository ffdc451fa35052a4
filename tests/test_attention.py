"""Multi-head self-attention: its figures against torch's own module, its field against input gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.lint import lint_text

torch = pytest.importorskip("torch")

import torch_oracle
from test_properties import QUICK, check_against_torch, check_receptive_fields


def tokens_spec(n: int, d: int, heads: int, **fields) -> dict:
    """A C×L map made into L tokens of C features, attended over and turned back."""
    return {
        "archspec": 1,
        "input": [d, n],
        "layers": [
            {"type": "transpose", "name": "tokens", "axis0": 0, "axis1": 1},
            {"type": "multihead_attention", "name": "attn", "num_heads": heads, **fields},
            {"type": "transpose", "name": "back", "axis0": 0, "axis1": 1},
        ],
    }


def analyze(spec: dict):
    return archspec.analyze(archspec.loads(yaml.safe_dump(spec, sort_keys=False)))


def test_parameters_are_torchs_by_name_and_shape():
    report = analyze(tokens_spec(7, 12, 3))
    model = archspec.build(report, device="meta")
    names = {k: tuple(v.shape) for k, v in model.named_parameters()}
    assert names == {
        "attn.in_proj_weight": (36, 12),
        "attn.in_proj_bias": (36,),
        "attn.out_proj.weight": (12, 12),
        "attn.out_proj.bias": (12,),
    }
    reference = torch.nn.MultiheadAttention(12, 3, batch_first=True, device="meta")
    assert report.layer("attn").params == sum(p.numel() for p in reference.parameters()) == 4 * 12 * 12 + 4 * 12
    assert analyze(tokens_spec(7, 12, 3, bias=False)).layer("attn").params == 4 * 12 * 12


def test_macs_count_projections_and_both_products_as_flopcounter_on_meta():
    from torch.utils.flop_counter import FlopCounterMode

    n, d, heads = 197, 768, 12
    reference = torch.nn.MultiheadAttention(d, heads, batch_first=True, device="meta").eval()
    x = torch.empty(1, n, d, device="meta")
    with FlopCounterMode(display=False) as counter:
        reference(x, x, x, need_weights=False)
    by_hand = 4 * n * d * d + 2 * n * n * d  # Q, K, V, output projections; Q·Kᵀ and A·V
    assert by_hand == 464_781_312 + 59_610_624 == 524_391_936
    assert counter.get_total_flops() // 2 == by_hand
    assert analyze(tokens_spec(n, d, heads)).layer("attn").macs == by_hand


def test_the_fused_cpu_path_hides_attention_from_flopcounter():
    """Why the convention is read on the meta device: on the CPU in evaluation without gradients
    nn.MultiheadAttention runs one fused operation, and FlopCounterMode counts none of it."""
    from torch.utils.flop_counter import FlopCounterMode

    reference = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(1, 10, 32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(x, x, x, need_weights=False)
    assert counter.get_total_flops() == 0
    assert analyze(tokens_spec(10, 32, 4)).layer("attn").macs == 4 * 10 * 32 * 32 + 2 * 10 * 10 * 32 > 0


def test_outputs_equal_torchs_module_with_the_same_weights():
    report = analyze(tokens_spec(9, 8, 2))
    model = archspec.build(report).eval()
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    model.get_submodule("attn").load_state_dict(reference.state_dict())
    x = torch.randn(3, 8, 9)
    tokens = x.transpose(1, 2)
    expected = reference(tokens, tokens, tokens, need_weights=False)[0].transpose(1, 2)
    torch.testing.assert_close(model(x), expected)


def test_every_output_token_sees_every_input_token():
    spec = tokens_spec(11, 4, 2)
    assert check_receptive_fields(spec) >= 2  # the tokens and the attention, measured by input gradients
    rf = analyze(spec).layer("attn").rf
    assert [(a.size, a.stride, a.padding) for a in rf] == [(11, 0, 0)]


def test_heads_must_divide_the_features():
    text = yaml.safe_dump(tokens_spec(5, 10, 3), sort_keys=False)
    errors = [d for d in lint_text(text, "a.yaml") if d.severity.value == "error"]
    assert [d.code for d in errors] == ["E307"] and errors[0].layer == "attn" and "divisible by 3" in errors[0].message


def test_a_map_is_not_a_token_sequence():
    spec = {"archspec": 1, "input": [4, 5, 5], "layers": [{"type": "multihead_attention", "name": "attn", "num_heads": 2}]}
    errors = [d for d in lint_text(yaml.safe_dump(spec), "a.yaml") if d.severity.value == "error"]
    assert errors and "N×D token sequence" in errors[0].message and errors[0].hint


@pytest.mark.parametrize("n, d, heads, dropout", [(50, 64, 4, 0.0), (50, 64, 4, 0.1), (17, 24, 3, 0.0), (17, 24, 6, 0.5)])
def test_saved_bytes_are_what_autograd_keeps(n, d, heads, dropout):
    """Every tensor autograd saves in training, by storage, the parameters left out (measured on the CPU)."""
    report = analyze(tokens_spec(n, d, heads, dropout=dropout))
    reference = torch.nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True).train()
    x = torch.randn(1, n, d, requires_grad=True)
    saved, _ = torch_oracle.saved_bytes(reference, lambda: reference(x, x, x, need_weights=False))
    layer = report.layer("attn").layer
    assert n * d * 4 + layer.extra_saved_bytes([(n, d)], (n, d)) == saved


@pytest.mark.parametrize("word", ["MultiHeadAttention", "MultiheadAttention", "attention", "selfattention"])
def test_torch_and_keras_names_point_to_the_kind(word):
    from archspec.spec.kind_names import meaning

    assert meaning(word, []) == ("multihead_attention", None)


@QUICK
@given(st.integers(1, 9), st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 4)]), st.booleans())
def test_figures_equal_an_independent_torch_reading(n, features_heads, bias):
    d, heads = features_heads
    check_against_torch(tokens_spec(n, d, heads, bias=bias))


# --- ViT-B/16 (specs/vit_b_16.yaml) against torchvision ---

VIT = archspec.load(Path(__file__).resolve().parent.parent / "specs" / "vit_b_16.yaml")


def test_vit_b_16_counts_equal_torchvision_on_the_meta_device():
    torchvision = pytest.importorskip("torchvision")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        reference = torchvision.models.vit_b_16(weights=None).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(torch.empty(1, 3, 224, 224, device="meta"))
    report = archspec.analyze(VIT)
    assert report.totals()["params"] == sum(p.numel() for p in reference.parameters()) == 86_567_656
    assert report.totals()["macs"] == counter.get_total_flops() // 2 == 17_563_828_224
    ours = {k: tuple(v.shape) for k, v in archspec.build(report, device="meta").state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in reference.state_dict().items()}  # torchvision's names and shapes


def test_vit_b_16_gives_torchvisions_outputs_with_its_weights():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.vit_b_16(weights=None).eval()
    with torch.no_grad():  # torchvision zeroes the class token and the head: random values so nothing hides
        for p in reference.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    model = archspec.build(archspec.analyze(VIT)).eval()
    archspec.load_weights(model, reference.state_dict(), source="torchvision")
    x = torch.randn(2, 3, 224, 224)  # two images: the class token joins each
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert expected.abs().mean() > 0.01
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
