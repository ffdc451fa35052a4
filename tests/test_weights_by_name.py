"""Weight import by name: dotted layer names nest as torch modules, and every tensor that does not fit is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archspec

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from archspec.runtime.weights import WeightsError

SPECS = Path(__file__).resolve().parent.parent / "specs"
RESNET18 = (SPECS / "resnet18.yaml").read_text(encoding="utf-8")


def resnet18_state() -> dict:
    torch.manual_seed(0)
    return dict(torchvision.models.resnet18(weights=None).state_dict())


def edited(old: str, new: str) -> archspec.Spec:
    """The bundled resnet18 spec with one line changed."""
    assert RESNET18.count(old) == 1
    return archspec.loads(RESNET18.replace(old, new), "resnet18.yaml")


def failure(spec: archspec.Spec, state: dict, **kw) -> str:
    with pytest.raises(WeightsError) as caught:
        archspec.load_weights(archspec.build(spec), state, **kw)
    return str(caught.value)


def test_a_spec_that_leaves_out_an_operation_cannot_load_and_the_tensors_are_named():
    # the stem's batch norm replaced by an identity: the spec has every other tensor, under the same names
    spec = edited("\n  - {type: batchnorm2d, name: bn1}\n", "\n  - {type: identity, name: bn1}\n")
    message = failure(spec, resnet18_state())
    assert "5 tensor(s) of torchvision's weights that the model does not have:" in message
    for key, shape in [
        ("bn1.weight", "(64)"),
        ("bn1.bias", "(64)"),
        ("bn1.running_mean", "(64)"),
        ("bn1.running_var", "(64)"),
        ("bn1.num_batches_tracked", "()"),
    ]:
        assert f"  `{key}` {shape}\n" in message
    assert "the model that" not in message and "shapes differ" not in message  # nothing else is wrong
    assert "match='order'" not in message  # the names agree; only the operation is missing


def test_a_spec_that_replaces_an_operation_names_both_shapes():
    # layer4.1's second 3x3 convolution written as a 1x1 one
    block_conv2 = "      - {type: conv2d, name: conv2, out_channels: $planes, kernel_size: 3, padding: 1, bias: false}\n"
    spec = edited(block_conv2, block_conv2.replace("kernel_size: 3, padding: 1", "kernel_size: 1"))
    message = failure(spec, resnet18_state())
    differ = re.findall(r"  `(layer\d\.\d\.conv2\.weight)`: (\(.*?\)) in torchvision's weights, (\(.*?\)) in the model", message)
    assert differ[0] == ("layer1.0.conv2.weight", "(64, 64, 3, 3)", "(64, 64, 1, 1)")
    assert len(differ) == 8  # every block's conv2, none left out of the report
    assert "8 tensor(s) whose shapes differ:" in message


def test_every_kind_of_misfit_is_listed_in_one_error():
    state = resnet18_state()
    state["extra.weight"] = torch.zeros(3)
    del state["fc.bias"]
    state["layer1.0.bn1.weight"] = torch.zeros(32)
    message = failure(archspec.load(SPECS / "resnet18.yaml"), state)
    assert "1 tensor(s) of torchvision's weights that the model does not have:\n  `extra.weight` (3)" in message
    assert "1 tensor(s) of the model that torchvision's weights do not have:\n  `fc.bias` (1000)" in message
    assert (
        "1 tensor(s) whose shapes differ:\n  `layer1.0.bn1.weight`: (32) in torchvision's weights, (64) in the model" in message
    )
    assert "match='order'" in message  # both sides hold names the other lacks: maybe only the names differ


def test_nothing_is_copied_when_a_tensor_does_not_fit():
    model = archspec.build(archspec.load(SPECS / "resnet18.yaml"))
    before = model.state_dict()["conv1.weight"].clone()
    state = resnet18_state()
    del state["fc.bias"]
    with pytest.raises(WeightsError):
        archspec.load_weights(model, state)
    assert torch.equal(model.state_dict()["conv1.weight"], before)


def test_by_order_a_left_out_operation_is_a_count_with_the_unpaired_tensors():
    spec = edited("\n  - {type: batchnorm2d, name: bn1}\n", "\n  - {type: identity, name: bn1}\n")
    message = failure(spec, resnet18_state(), match="order")
    assert "torchvision's weights hold 122 tensors, the model 117; without a partner:" in message
    assert "  tensor 121: `fc.bias` (1000) in torchvision's weights" in message


def test_source_and_match_are_checked():
    model = archspec.build(archspec.load(SPECS / "resnet18.yaml"))
    with pytest.raises(WeightsError, match="unknown weights source 'timm'"):
        archspec.load_weights(model, resnet18_state(), source="timm")  # type: ignore[arg-type]
    with pytest.raises(WeightsError, match="unknown match 'shape'"):
        archspec.load_weights(model, resnet18_state(), match="shape")  # type: ignore[arg-type]
    archspec.load_weights(model, model.state_dict(), source="archspec")  # a spec-built model's own tensors
    with pytest.raises(WeightsError, match=r"not a state dict of tensors: `epoch` \(int\)"):
        archspec.load_weights(model, {**model.state_dict(), "epoch": 3})


DOTTED = """
archspec: 1
input: [3, 8, 8]
blocks:
  residual:
    layers:
      - {type: conv2d, name: conv.0.0, out_channels: 4, kernel_size: 3, padding: 1}
      - {type: relu, name: conv.0.1}
      - {type: conv2d, name: downsample.0, out_channels: 4, kernel_size: 1, inputs: input}
      - {type: add, name: add, inputs: [conv.0.1, downsample.0]}
layers:
  - {type: residual, name: features.1}
  - {type: residual, name: features.2}
  - {type: conv2d, name: head.0, out_channels: 2, kernel_size: 1, inputs: [features.1.add]}
"""


class Hand(torch.nn.Module):
    """DOTTED written with torch's containers: the same module paths."""

    def __init__(self):
        super().__init__()

        def residual(c_in):
            block = torch.nn.Module()
            block.conv = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Conv2d(c_in, 4, 3, padding=1), torch.nn.ReLU()))
            block.downsample = torch.nn.Sequential(torch.nn.Conv2d(c_in, 4, 1))
            return block

        self.features = torch.nn.ModuleDict({"1": residual(3), "2": residual(4)})
        self.head = torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1))

    def forward(self, x):
        one = self.features["1"]
        y = one.conv(x) + one.downsample(x)
        return self.head(y)


def test_dotted_names_nest_like_torch_containers_and_load_by_name():
    spec = archspec.loads(DOTTED, "dotted.yaml")
    report = archspec.analyze(spec)
    assert report.layer("head.0").inputs == ["features.1.add"]
    assert report.layer("features.2.conv.0.0").inputs == ["features.1.add"]  # a block's input is the previous block
    torch.manual_seed(0)
    hand = Hand().eval()
    ours = archspec.load_weights(archspec.build(report), hand.state_dict()).eval()
    assert list(ours.state_dict()) == list(hand.state_dict())
    assert isinstance(dict(ours.named_modules())["features.1.conv.0"], torch.nn.Module)  # a container, as in torch
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(ours.forward_all(x)["head.0"], hand(x))
