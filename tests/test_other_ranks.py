"""1-D and 3-D networks against torch: R3D-18 against torchvision's video model, M5 against a
hand-written torch module (the PyTorch audio tutorial's M5), figure by figure and output by output."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

torch = pytest.importorskip("torch")
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from archspec.runtime.weights import load_weights

SPECS = Path(__file__).resolve().parent.parent / "specs"


def meta_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty((1, *shape), device="meta"))
    return counter.get_total_flops() // 2


# --- R3D-18: torchvision.models.video.r3d_18 ---


@pytest.fixture(scope="module")
def r3d():
    torchvision = pytest.importorskip("torchvision")
    spec = archspec.load(SPECS / "r3d_18.yaml")
    return spec, archspec.analyze(spec), torchvision.models.video.r3d_18


def test_r3d_18_figures_are_torchvisions(r3d):
    _spec, report, r3d_18 = r3d
    with torch.device("meta"):
        reference = r3d_18().eval()
    assert report.totals()["params"] == sum(p.numel() for p in reference.parameters()) == 33_371_472
    assert report.totals()["buffers"] == sum(b.numel() for b in reference.buffers())
    assert report.totals()["macs"] == meta_macs(reference, (3, 16, 112, 112)) == 40_696_553_472
    assert report.output_shape == (400,)


def test_r3d_18_outputs_are_identical_after_loading_torchvisions_weights(r3d):
    _spec, report, r3d_18 = r3d
    torch.manual_seed(0)
    reference = r3d_18().eval()
    ours = load_weights(archspec.build(report), reference.state_dict()).eval()  # by name: the spec has its module names
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_r3d_18_receptive_fields_have_three_axes(r3d):
    _, report, _ = r3d
    stem = report.layer("stem.0").rf
    assert [(a.size, a.stride, a.padding) for a in stem] == [(3, 1, 1), (7, 2, 3), (7, 2, 3)]
    # layer2's first 3x3x3 conv at stride 2 on a field (7, 1, 3) / (15, 2, 7) per axis: r + 2S
    conv = report.layer("layer2.0.conv1.0").rf
    before = report.layer("layer1.1.relu").rf
    assert [a.size for a in conv] == [b.size + 2 * b.stride for b in before]
    assert [a.stride for a in conv] == [2 * b.stride for b in before]


# --- M5 on raw audio ---


class M5(nn.Module):
    """The PyTorch audio tutorial's M5, written out by hand (n_input=1, n_output=35, stride 16, 32 channels)."""

    def __init__(self, n_input: int = 1, n_output: int = 35, stride: int = 16, n_channel: int = 32):
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x):
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        x = self.pool3(F.relu(self.bn3(self.conv3(x))))
        x = self.pool4(F.relu(self.bn4(self.conv4(x))))
        x = F.avg_pool1d(x, x.shape[-1])
        x = self.fc1(x.permute(0, 2, 1))
        return F.log_softmax(x, dim=2)[:, 0]


def test_m5_figures_are_the_hand_written_modules():
    report = archspec.analyze(archspec.load(SPECS / "m5_audio.yaml"))
    with torch.device("meta"):
        reference = M5().eval()
    assert report.totals()["params"] == sum(p.numel() for p in reference.parameters()) == 26_915
    assert report.totals()["buffers"] == sum(b.numel() for b in reference.buffers())
    assert report.totals()["macs"] == meta_macs(reference, (1, 16000))
    # the pooled lengths of the text of the tutorial: 996 -> 249, 247 -> 61, 59 -> 14, 12 -> 3
    assert [report.layer(f"stage{i}.pool").output_shape for i in (1, 2, 3, 4)] == [(32, 249), (32, 61), (64, 14), (64, 3)]


def test_m5_outputs_are_identical_after_loading_its_weights():
    torch.manual_seed(0)
    reference = M5().eval()
    for m in reference.modules():  # non-trivial running statistics, so evaluation mode is tested too
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    # by order: the spec groups its layers in stage blocks (stage1.conv), the tutorial names them flat (conv1)
    ours = load_weights(archspec.build(archspec.load(SPECS / "m5_audio.yaml")), reference.state_dict(), match="order")
    x = torch.randn(3, 1, 16000)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), reference(x))


# --- the receptive-field overlay on a sequence and a volume ---


def test_rf_overlay_of_a_sequence_gives_the_spans_of_the_static_field(tmp_path):
    from archspec.runtime.inspect import run_rf

    out = tmp_path / "rf.png"
    # stage2.pool of M5: r = 80 + 15·16 + ... = 448, S = 16·4·4 = 256, P = 0 (hand: see the describe table)
    result = run_rf(archspec.load(SPECS / "m5_audio.yaml"), str(out), layer="stage2.pool", unit=[30])
    assert result["spans"] == [[(0, 447)], [(7680, 8127)]]
    assert out.read_bytes().startswith(b"\x89PNG")


def test_rf_overlay_of_a_volume_spans_frames_rows_and_columns(tmp_path):
    from archspec.runtime.inspect import InspectError, run_rf

    spec = archspec.load(SPECS / "r3d_18.yaml")
    result = run_rf(spec, str(tmp_path / "rf.png"), layer="stem.0", unit=[0, 10, 20])
    # the stem: r = (3, 7, 7), S = (1, 2, 2), P = (1, 3, 3): unit (0, 10, 20) sees frames -1…1, rows 17…23, columns 37…43
    assert result["spans"][1] == [(-1, 1), (17, 23), (37, 43)]
    with pytest.raises(InspectError, match="3 spatial axes"):
        run_rf(spec, str(tmp_path / "rf2.png"), layer="stem.0", unit=[1, 2])
