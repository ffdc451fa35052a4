"""Dense prediction: the synthetic data's masks, per-pixel training and its metrics, evaluate, predict, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.errors import DataError, SpecError
from archspec.lint import lint_file

torch = pytest.importorskip("torch")

from archspec.runtime import checkpoint, data
from archspec.runtime.augment import StreamBatches, TensorBatches, augment, pipeline
from archspec.runtime.confusion import accuracy, confusion, iou, mean_iou
from archspec.runtime.train import train
from archspec.spec.training import Affine, ColorJitter, HFlip

FCN = """\
archspec: 1
name: fcn-tiny
input: [3, 64, 64]
layers:
  - {type: conv2d, name: c1, out_channels: 16, kernel_size: 3, padding: 1}
  - {type: relu, name: r1}
  - {type: conv2d, name: c2, out_channels: 16, kernel_size: 3, padding: 1}
  - {type: relu, name: r2}
  - {type: conv2d, name: out, out_channels: 11, kernel_size: 1}
training:
  task: segmentation
  epochs: 2
  batch_size: 8
  data: {source: synthetic, train_size: 64, test_size: 32}
  optimizer: {name: adam, lr: 0.01}
"""


def write_spec(tmp_path: Path, text: str = FCN) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


# --- the masks ---


def test_a_mask_is_where_its_shape_was_painted():
    """Painted alone on black (same draws), a shape's non-black pixels are exactly its mask's foreground."""
    generator = lambda: torch.Generator().manual_seed(data._chunk_seed(0, 0))  # noqa: E731
    alone, labels, _, masks = data._draw(256, 3, 64, 64, generator(), masks=True, scene=False)
    assert masks is not None
    painted = alone.amax(dim=1) > 0
    assert torch.equal(painted, masks > 0)
    assert painted.sum(dim=(1, 2)).min() > 50  # every image holds a shape of some size
    # each mask carries its image's class (k + 1), and only that
    for mask, label in zip(masks, labels):
        assert set(mask.unique().tolist()) == {0, int(label) + 1}
    scene = data.synthetic(256, masks=True)
    assert torch.equal(scene.masks, masks) and torch.equal(scene.labels, labels)


def test_masks_change_no_image_and_follow_the_index():
    plain, with_masks = data.synthetic(300), data.synthetic(300, masks=True)
    assert plain.masks is None and with_masks.masks.shape == (300, 64, 64) and with_masks.masks.dtype == torch.uint8
    assert torch.equal(plain.images, with_masks.images)
    alone = data.synthetic(1, start=280, masks=True)  # made alone, from the second chunk
    assert torch.equal(alone.masks[0], with_masks.masks[280]) and torch.equal(alone.images[0], with_masks.images[280])
    assert not torch.equal(data.synthetic(8, seed=1, masks=True).masks, with_masks.masks[:8])
    assert torch.equal(with_masks.subset(torch.tensor([5, 7])).masks, with_masks.masks[[5, 7]])


def test_the_mask_classes_are_the_background_and_the_shapes():
    assert data.MASK_CLASSES == ("background", *data.SHAPES)
    train_set, test_set = data.load_data(archspec.spec.training.Data(train_size=16, test_size=8), (3, 64, 64), masks=True)
    assert train_set.classes == test_set.classes == list(data.MASK_CLASSES)
    assert torch.equal(train_set.targets, train_set.masks) and int(train_set.masks.max()) <= 10


# --- metrics ---


def test_confusion_iou_and_mean_iou_by_hand():
    target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    predicted = torch.tensor([[0, 1, 1], [1, 2, 0]])
    matrix = confusion(predicted, target, 4)
    # rows true, columns predicted: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert accuracy(matrix) == pytest.approx(4 / 6)
    # class 0: TP 1, FP 1 (a 2 read as 0), FN 1 (a 0 read as 1) -> 1/3; class 1: 2 / (2 + 1) ; class 2: 1 / 2
    values = iou(matrix)
    assert values[:3] == pytest.approx([1 / 3, 2 / 3, 1 / 2]) and values[3] != values[3]  # class 3: never seen, NaN
    assert mean_iou(matrix) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


# --- augmentation ---


def test_geometric_transforms_move_the_mask_with_the_image_and_colour_leaves_it():
    generator = torch.Generator().manual_seed(data._chunk_seed(0, 0))
    alone, _, _, masks = data._draw(8, 3, 64, 64, generator, masks=True, scene=False)
    assert masks is not None
    torch.manual_seed(3)
    geometric = pipeline([HFlip(type="hflip", p=1.0), Affine(type="affine", degrees=30, translate=(0.2, 0.2))])
    for image, mask in zip(alone, masks):
        moved_image, moved_mask = augment(geometric, image, mask)
        assert type(moved_mask) is torch.Tensor and moved_mask.dtype == torch.uint8
        assert torch.equal(moved_image.amax(dim=0) > 0, moved_mask > 0)  # nearest interpolation: the same pixels move
        assert set(moved_mask.unique().tolist()) <= set(mask.unique().tolist())
    colour = pipeline([ColorJitter(type="color_jitter", brightness=0.5, hue=0.2)])
    moved_image, moved_mask = augment(colour, alone[0], masks[0])
    assert torch.equal(moved_mask, masks[0]) and not torch.equal(moved_image, alone[0])


@pytest.mark.parametrize("Batches", [TensorBatches, StreamBatches])
def test_both_data_paths_give_masks_moved_with_their_images(Batches):
    """Held on the device or streamed through a DataLoader: a certain flip moves image and mask alike."""
    generator = torch.Generator().manual_seed(data._chunk_seed(0, 0))
    alone, labels, boxes, masks = data._draw(8, 3, 64, 64, generator, masks=True, scene=False)
    painted = data.ImageSet(alone, labels, list(data.MASK_CLASSES), boxes, masks)
    flip = pipeline([HFlip(type="hflip", p=1.0)])
    extra = {"workers": 0} if Batches is StreamBatches else {}
    batches = Batches(painted, 4, "cpu", torch.zeros(3), torch.ones(3), flip, **extra)
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert y.dtype == torch.int64 and torch.equal(y, masks.flip(-1).long())
    assert torch.equal(x.amax(dim=1) > 0, y > 0)


# --- training, evaluate, predict ---


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny fully-convolutional network trained 2 epochs on 64 images."""
    folder = tmp_path_factory.mktemp("seg")
    spec = archspec.load(write_spec(folder))
    return spec, folder / "run", train(spec, folder / "run", quiet=True)


def test_training_reports_pixel_accuracy_and_mean_iou(run):
    _, run_dir, result = run
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = ["epoch", "train_loss", "train_acc", "train_miou", "test_loss", "test_acc", "test_miou", "lr", "seconds"]
    assert [list(r)[:-1] for r in rows] == [[*keys]] * 2 and (run_dir / "metrics.csv").read_text().startswith(",".join(keys))
    for r in rows:
        assert 0 <= r["train_miou"] <= 1 and 0 <= r["test_miou"] <= 1 and 0 <= r["test_acc"] <= 1
    assert result.verdict["best_test_miou"] == max(r["test_miou"] for r in rows)
    saved = checkpoint.load(run_dir / "best.pt")
    assert saved.settings.task == "segmentation" and saved.classes == list(data.MASK_CLASSES)
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_gives_iou_per_class(run, capsys):
    spec, run_dir, result = run
    assert main(["evaluate", str(spec.path), "--checkpoint", str(run_dir / "best.pt"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "segmentation" and out["images"] == 32 and out["pixels"] == 32 * 64 * 64
    assert list(out["per_class_iou"]) == list(data.MASK_CLASSES)
    best = max(result.history, key=lambda h: h["test_miou"])
    assert out["mean_iou"] == pytest.approx(best["test_miou"]) and out["pixel_accuracy"] == pytest.approx(best["test_acc"])
    assert main(["evaluate", str(spec.path), "--checkpoint", str(run_dir / "best.pt")]) == 0
    assert "mean IoU" in capsys.readouterr().out


def test_the_run_s_mean_iou_is_that_of_its_predictions_counted_pixel_by_pixel(run):
    """The oracle: the checkpoint's own predictions, each class's IoU from boolean masks (no confusion matrix)."""
    from archspec.runtime.augment import normalise
    from archspec.runtime.evaluate import restore

    spec, run_dir, result = run
    model, saved = restore(spec, run_dir / "best.pt")
    test, _ = data.load_test(saved.settings.data, (3, 64, 64), masks=True)
    with torch.no_grad():
        predicted = model(normalise(test.images, saved.mean, saved.std)).argmax(1).numpy()
    truth = test.masks.numpy()
    ious = []
    for k in range(11):
        union = ((predicted == k) | (truth == k)).sum()
        if union:
            ious.append(((predicted == k) & (truth == k)).sum() / union)
    best = max(result.history, key=lambda h: h["test_miou"])
    assert best["test_miou"] == pytest.approx(sum(ious) / len(ious))
    assert best["test_acc"] == pytest.approx((predicted == truth).mean())


@pytest.mark.slow
def test_the_small_unet_beats_a_constant_background_predictor(tmp_path):
    """specs/unet_small.yaml, trained briefly: a higher test mean IoU than saying background everywhere."""
    spec = archspec.load(Path(__file__).resolve().parent.parent / "specs" / "unet_small.yaml")
    overrides = {"data.train_size": 1000, "data.test_size": 100, "epochs": 2}
    result = train(spec, tmp_path / "run", overrides=overrides, quiet=True)
    test, _ = data.load_test(spec.training.data.model_copy(update={"test_size": 100}), (3, 64, 64), masks=True)
    # saying background everywhere: the background's IoU is its share of pixels, every shape present scores 0
    constant = (test.masks == 0).double().mean().item() / len(test.masks.unique())
    assert max(h["test_miou"] for h in result.history) > constant


def test_predict_draws_the_masks_over_the_images(run, tmp_path, capsys):
    spec, run_dir, _ = run
    picture = tmp_path / "x.png"
    data.write_image(data.synthetic(1, seed=5).images[0], picture)
    argv = ["predict", str(spec.path), "--checkpoint", str(run_dir / "best.pt"), "--format", "json"]
    assert main([*argv, "--image", str(picture), "-o", str(tmp_path / "masks.png")]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert prediction["output"] == str(tmp_path / "masks.png") and sum(prediction["pixels"].values()) == pytest.approx(1)
    assert (tmp_path / "masks.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*argv, "--index", "3", "--count", "2", "-o", str(tmp_path / "test.png")]) == 0
    assert [p["image"] for p in json.loads(capsys.readouterr().out)] == ["test image 3", "test image 4"]
    assert (tmp_path / "test.png").read_bytes()[:4] == b"\x89PNG"


# --- refusals ---


def refusal(tmp_path: Path, text: str, capsys, *flags: str, code: int = 1) -> str:
    """What `archspec train` says when it refuses: exit 1 for a finding in the spec, 2 for other errors."""
    assert main(["train", str(write_spec(tmp_path, text)), "-o", str(tmp_path / "run"), "--quiet", *flags]) == code
    return capsys.readouterr().err


def test_a_vector_output_is_refused_for_segmentation(tmp_path, capsys):
    text = FCN.replace("  - {type: conv2d, name: out, out_channels: 11, kernel_size: 1}\n", "")
    text = text.replace("training:", "  - {type: flatten, name: flat}\n  - {type: linear, name: fc, out_features: 11}\ntraining:")
    err = refusal(tmp_path, text, capsys)
    assert "net.yaml:10:" in err and "W411" in err and "a segmentation network outputs class scores per pixel" in err
    assert "`fc` gives 11" in err and "1×1 convolution" in err


def test_wrong_classes_or_size_per_pixel_are_refused(tmp_path, capsys):
    err = refusal(tmp_path, FCN.replace("out_channels: 11", "out_channels: 4"), capsys)
    assert "net.yaml:9:" in err and "11×64×64" in err and "make it give 11 channels" in err
    strided = FCN.replace(
        "name: c2, out_channels: 16, kernel_size: 3, padding: 1", "name: c2, out_channels: 16, kernel_size: 2, stride: 2"
    )
    err = refusal(tmp_path, strided, capsys)
    assert "gives 11×32×32" in err and "back to the input's 64×64" in err


def test_segmentation_needs_the_synthetic_masks(tmp_path, capsys):
    (tmp_path / "images" / "a").mkdir(parents=True)
    err = refusal(tmp_path, FCN, capsys, "--data", "folder", "--data-root", str(tmp_path / "images"), code=2)
    assert "segmentation needs per-pixel masks" in err and "source: synthetic" in err
    with pytest.raises(DataError, match="per-pixel masks"):
        data.load_data(archspec.spec.training.Data(source="cifar10"), (3, 64, 64), masks=True)


def test_a_classifier_is_refused_for_segmentation_by_flag(tmp_path, capsys):
    seed = Path(__file__).resolve().parent.parent / "specs" / "seed_cnn.yaml"
    assert main(["train", str(seed), "-o", str(tmp_path / "run"), "--task", "segmentation", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "seed_cnn.yaml:17:" in err and "per pixel" in err and "`fc` gives 10" in err


def test_an_unknown_task_is_a_positioned_spec_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        archspec.load(write_spec(tmp_path, FCN.replace("task: segmentation", "task: segmentaton")))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.line == 11 and "segmentation" in diagnostic.message


def test_lint_judges_a_segmentation_output_per_pixel(tmp_path):
    assert not [d for d in lint_file(str(write_spec(tmp_path))) if d.code == "W411"]
    wrong = FCN.replace(
        "name: c2, out_channels: 16, kernel_size: 3, padding: 1", "name: c2, out_channels: 16, kernel_size: 2, stride: 2"
    )
    findings = [d for d in lint_file(str(write_spec(tmp_path, wrong))) if d.code == "W411"]
    assert len(findings) == 1 and "class scores per pixel" in findings[0].message and findings[0].line == 9


# --- diagrams ---

UNET_TINY = """\
archspec: 1
name: unet-tiny
input: [3, 16, 16]
blocks:
  up:        # depth to space: 4·C×h×w -> C×2h×2w
    params: {out: null, size: null}
    layers:
      - {type: conv2d, name: widen, out_channels: "${4 * out}", kernel_size: 1}
      - {type: reshape, name: split, shape: [$out, 2, 2, $size, $size]}
      - {type: permute, name: interleave, axes: [0, 3, 1, 4, 2]}
      - {type: reshape, name: merge, shape: [$out, "${2 * size}", "${2 * size}"]}
layers:
  - {type: conv2d, name: enc1, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: maxpool2d, name: pool1, kernel_size: 2}
  - {type: conv2d, name: enc2, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: maxpool2d, name: pool2, kernel_size: 2}
  - {type: conv2d, name: bottom, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: up, name: up2, out: 8, size: 4}
  - {type: concat, name: join2, inputs: [enc2, up2]}
  - {type: up, name: up1, out: 4, size: 8}
  - {type: concat, name: join1, inputs: [enc1, up1]}
  - {type: conv2d, name: head, out_channels: 11, kernel_size: 1}
"""


def test_diagrams_draw_encoder_decoder_skips_apart():
    from archspec.render import diagram

    dot = diagram.to_dot(archspec.analyze(archspec.loads(UNET_TINY)), collapse=True)
    skips = sorted(line.split("[")[0].strip() for line in dot.splitlines() if "skip " in line)
    assert skips == ["enc1 -> join1", "enc2 -> join2"]
    assert all("dashed" in line for line in dot.splitlines() if "skip " in line)
    resnet = diagram.to_dot(archspec.analyze(archspec.load(Path(__file__).resolve().parent.parent / "specs" / "resnet18.yaml")))
    assert "skip " not in resnet and 'dashed" color="#3c78d8' not in resnet  # residual shortcuts stay on their level
