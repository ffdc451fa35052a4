"""Right on every input, kind to a newcomer: synthetic images by index, only what is asked for made, checks that
never crash, refusals before torch is imported, messages that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.cli import main

torch = pytest.importorskip("torch")

from archspec.runtime import data as data_module
from archspec.runtime import inspect
from archspec.runtime.data import load_data, load_test, synthetic

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "specs" / "seed_cnn.yaml"


def small_data_spec(train_size: int = 300, test_size: int = 500) -> archspec.Spec:
    """The seed network with a small synthetic data section."""
    text = SEED.read_text().replace(
        "data: {source: synthetic}", f"data: {{source: synthetic, train_size: {train_size}, test_size: {test_size}}}"
    )
    return archspec.loads(text, "small.yaml")


# --- synthetic images depend on (seed, index) only ---


def test_a_synthetic_image_is_the_same_in_every_set_size():
    small, large = synthetic(500, seed=4), synthetic(4000, seed=4)
    assert torch.equal(small.images[3], large.images[3])
    assert torch.equal(small.images, large.images[:500])
    assert torch.equal(small.labels, large.labels[:500]) and torch.equal(small.boxes, large.boxes[:500])


def test_an_image_made_alone_is_the_one_in_the_batch():
    batch = synthetic(600, seed=4)
    for index in (0, 3, 255, 256, 599):
        alone = synthetic(1, seed=4, start=index)
        assert torch.equal(alone.images[0], batch.images[index]), index
        assert alone.labels.item() == batch.labels[index].item() and torch.equal(alone.boxes[0], batch.boxes[index])
    window = synthetic(20, seed=4, start=250)  # across a chunk boundary
    assert torch.equal(window.images, batch.images[250:270])


def test_test_images_are_not_training_images():
    spec = small_data_spec()
    train, test = load_data(spec.training.data, (3, 64, 64))
    flat_train, flat_test = train.images.flatten(1), test.images.flatten(1)
    assert not (flat_test[:, None] == flat_train[None]).all(2).any()
    assert len({tuple(x.tolist()) for x in flat_test[:100]}) == 100  # no repeats inside a set either


def test_every_command_sees_the_same_image_at_an_index():
    spec = small_data_spec(test_size=500)
    _, test = load_data(spec.training.data, (3, 64, 64))
    picked = inspect.images_for(spec, None, None, 3, 1)
    assert torch.equal(picked["images"][0], test.images[3])
    bigger = small_data_spec(test_size=4000)
    assert torch.equal(inspect.images_for(bigger, None, None, 3, 1)["images"][0], test.images[3])
    alone, total = load_test(spec.training.data, (3, 64, 64), 3, 1)
    assert total == 500 and torch.equal(alone.images[0], test.images[3])


# --- only what is needed is made ---


@pytest.fixture
def drawn(monkeypatch) -> list[int]:
    """The number of synthetic images drawn, chunk by chunk."""
    counts: list[int] = []
    real = data_module._draw

    def counting(n, *args, **kw):
        counts.append(n)
        return real(n, *args, **kw)

    monkeypatch.setattr(data_module, "_draw", counting)
    return counts


def test_rf_at_an_index_draws_one_chunk_not_the_data_set(tmp_path, drawn):
    inspect.run_rf(archspec.load(SEED), str(tmp_path / "rf.png"), index=3)
    assert 0 < sum(drawn) <= 256  # the seed's data: 40,000 training and 4,000 test images


def test_augment_at_an_index_draws_one_chunk(tmp_path, drawn):
    inspect.run_augment(archspec.load(ROOT / "specs" / "seed_cnn_augmented.yaml"), str(tmp_path / "a.png"), index=3, n=2)
    assert 0 < sum(drawn) <= 256


def test_an_index_beyond_the_test_data_is_refused_without_drawing(drawn):
    with pytest.raises(inspect.InspectError, match=r"--index 500 is outside the test data \(0 … 499\)"):
        inspect.images_for(small_data_spec(), None, None, 500, 1)
    assert sum(drawn) == 0


# --- describe --check never crashes on a valid spec ---

ONE_VALUE_PER_CHANNEL = {
    "batchnorm1d after global pooling": """\
archspec: 1
input: [8, 4, 4]
layers:
  - {type: globalavgpool2d}
  - {type: linear, out_features: 16}
  - {type: batchnorm1d}
  - {type: linear, out_features: 10}
""",
    "batchnorm2d on C×1×1": """\
archspec: 1
input: [8, 4, 4]
layers:
  - {type: adaptiveavgpool2d, output_size: 1}
  - {type: batchnorm2d}
  - {type: flatten}
  - {type: linear, out_features: 10}
""",
}


@pytest.mark.parametrize("case", sorted(ONE_VALUE_PER_CHANNEL))
def test_check_with_one_value_per_channel_agrees(case, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(ONE_VALUE_PER_CHANNEL[case])
    assert main(["describe", "--check", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert "figures of 4 layers agree with torch" in err
