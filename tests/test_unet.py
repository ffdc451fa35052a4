"""specs/unet.yaml against a hand-written torch U-Net (Ronneberger et al. 2015, Figure 1).

The oracle is written here from the paper, not from the spec: unpadded 3×3 convolutions with ReLU,
2×2 max pooling with stride 2, 2×2 up-convolutions that halve the channels, the contracting path's
map centre-cropped to the expansive path's size and concatenated before it, and a final 1×1
convolution to two classes; 1×572×572 in, 2×388×388 out.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest

import archspec

torch = pytest.importorskip("torch")
nn = torch.nn

SPEC = Path(__file__).resolve().parent.parent / "specs" / "unet.yaml"
WIDTHS = (64, 128, 256, 512)


def double_conv(cin: int, cout: int):
    return nn.Sequential(
        OrderedDict(conv1=nn.Conv2d(cin, cout, 3), relu1=nn.ReLU(), conv2=nn.Conv2d(cout, cout, 3), relu2=nn.ReLU())
    )


def center_crop(skip, like):
    top = (skip.shape[-2] - like.shape[-2]) // 2
    left = (skip.shape[-1] - like.shape[-1]) // 2
    return skip[..., top : top + like.shape[-2], left : left + like.shape[-1]]


class UNet(nn.Module):
    """Figure 1 of the paper, module names as in the spec (down1..4, bottom, upconv4..1, up4..1, head)."""

    def __init__(self) -> None:
        super().__init__()
        cin = 1
        for i, width in enumerate(WIDTHS, 1):
            setattr(self, f"down{i}", double_conv(cin, width))
            cin = width
        self.bottom = double_conv(512, 1024)
        for i, width in reversed(list(enumerate(WIDTHS, 1))):
            setattr(self, f"upconv{i}", nn.ConvTranspose2d(2 * width, width, kernel_size=2, stride=2))
            setattr(self, f"up{i}", double_conv(2 * width, width))
        self.head = nn.Conv2d(64, 2, kernel_size=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x):
        skips = []
        for i in range(1, 5):
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for i in range(4, 0, -1):
            x = getattr(self, f"upconv{i}")(x)
            x = getattr(self, f"up{i}")(torch.cat([center_crop(skips[i - 1], x), x], dim=1))
        return self.head(x)


@pytest.fixture(scope="module")
def report():
    return archspec.analyze(archspec.load(SPEC))


def test_parameters_equal_the_hand_written_module(report):
    assert report.ok
    assert report.totals()["params"] == sum(p.numel() for p in UNet().parameters()) == 31_030_658


def test_shapes_of_figure_1(report):
    assert tuple(report.input_shape) == (1, 572, 572)
    assert tuple(report.output_shape) == (2, 388, 388)
    # the sizes printed in Figure 1
    assert report.layer("down1.relu2").output_shape == (64, 568, 568)
    assert report.layer("down4.relu2").output_shape == (512, 64, 64)
    assert report.layer("bottom.relu2").output_shape == (1024, 28, 28)
    assert report.layer("upconv4").output_shape == (512, 56, 56)
    assert report.layer("crop4").output_shape == (512, 56, 56)
    assert report.layer("concat4").output_shape == (1024, 56, 56)
    assert report.layer("up4.relu2").output_shape == (512, 52, 52)
    assert report.layer("crop1").output_shape == (64, 392, 392)
    assert report.layer("up1.relu2").output_shape == (64, 388, 388)


def test_macs_equal_flop_counter_on_the_hand_written_module(report):
    from torch.utils.flop_counter import FlopCounterMode

    model = UNet().to("meta")
    with FlopCounterMode(display=False) as counter:
        out = model(torch.empty(1, 1, 572, 572, device="meta"))
    assert tuple(out.shape[1:]) == (2, 388, 388)
    assert report.totals()["macs"] == counter.get_total_flops() // 2 == 150_428_424_448


def test_identical_outputs_after_loading_the_hand_written_weights():
    """At 1×188×188 to spare the CPU: the smallest input the network takes (572 − 24 × 16; it gives 2×4×4)."""
    text = SPEC.read_text(encoding="utf-8").replace("input: [1, 572, 572]", "input: [1, 188, 188]")
    torch.manual_seed(0)
    theirs = UNet().eval()
    ours = archspec.load_weights(archspec.build(archspec.loads(text)), theirs.state_dict()).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(2, 1, 188, 188)
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert tuple(got.shape) == (2, 2, 4, 4)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
