"""The on-disk cache of the synthetic sets: a cached load is the generated set, bit for bit; damage is caught."""

from __future__ import annotations

import pytest
import torch

from archspec.runtime import data as data_module
from archspec.runtime.data import cached_synthetic, synthetic, synthetic_cache_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSPEC_CACHE_DIR", str(tmp_path))
    return tmp_path


def _same(a, b) -> None:
    assert a.classes == b.classes
    for name in ("images", "labels", "boxes", "masks"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
        else:
            assert x.dtype == y.dtype and torch.equal(x, y), name


@pytest.mark.parametrize("masks", [False, True])
def test_a_cached_load_is_the_fresh_generation_bit_for_bit(cache, monkeypatch, masks):
    shape = (3, 20, 24)
    first = cached_synthetic(300, shape, seed=5, masks=masks)  # made and stored
    path = synthetic_cache_path(300, shape, 5, masks)
    assert path.is_file() and path.parent.parent == cache
    made = []
    monkeypatch.setattr(data_module, "synthetic", lambda *a, **k: made.append(a) or synthetic(*a, **k))
    loaded = cached_synthetic(300, shape, seed=5, masks=masks)
    assert made == []  # read, not generated
    _same(loaded, synthetic(300, shape, seed=5, masks=masks))
    _same(first, loaded)
    assert not list(path.parent.glob(".*.tmp"))  # the write left no temporary file


@pytest.mark.parametrize("damage", ["flip a byte", "cut short", "garbage", "empty"])
def test_a_damaged_cache_file_is_detected_and_made_again(cache, monkeypatch, damage):
    shape = (1, 16, 16)
    cached_synthetic(64, shape, seed=2)
    path = synthetic_cache_path(64, shape, 2)
    raw = bytearray(path.read_bytes())
    if damage == "flip a byte":
        raw[-100] ^= 0xFF  # a pixel of the last image
    elif damage == "cut short":
        raw = raw[:-1]
    elif damage == "garbage":
        raw = bytearray(b"not a cache file\n" * 10)
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    made = []
    monkeypatch.setattr(data_module, "synthetic", lambda *a, **k: made.append(a) or synthetic(*a, **k))
    again = cached_synthetic(64, shape, seed=2)
    assert len(made) == 1  # the damaged copy was not trusted
    _same(again, synthetic(64, shape, seed=2))
    monkeypatch.undo()
    monkeypatch.setenv("ARCHSPEC_CACHE_DIR", str(cache))
    assert path.read_bytes() != bytes(raw)  # and it was written again, sound
    _same(cached_synthetic(64, shape, seed=2), synthetic(64, shape, seed=2))


def test_the_key_changes_with_seed_size_masks_and_generator_version(cache, monkeypatch):
    base = synthetic_cache_path(100, (3, 32, 32), 0)
    others = {
        synthetic_cache_path(100, (3, 32, 32), 1),
        synthetic_cache_path(101, (3, 32, 32), 0),
        synthetic_cache_path(100, (3, 32, 16), 0),
        synthetic_cache_path(100, (1, 32, 32), 0),
        synthetic_cache_path(100, (3, 32, 32), 0, masks=True),
    }
    monkeypatch.setattr(data_module, "GENERATOR_VERSION", data_module.GENERATOR_VERSION + 1)
    others.add(synthetic_cache_path(100, (3, 32, 32), 0))
    assert base not in others and len(others) == 6
    # a file of another set put under this set's name is refused by its header, not served
    monkeypatch.undo()
    monkeypatch.setenv("ARCHSPEC_CACHE_DIR", str(cache))
    cached_synthetic(40, (3, 8, 8), seed=1)
    synthetic_cache_path(40, (3, 8, 8), 0).parent.mkdir(parents=True, exist_ok=True)
    synthetic_cache_path(40, (3, 8, 8), 1).replace(synthetic_cache_path(40, (3, 8, 8), 0))
    _same(cached_synthetic(40, (3, 8, 8), seed=0), synthetic(40, (3, 8, 8), seed=0))


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHSPEC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_module.cache_dir() == tmp_path / "xdg" / "archspec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_module.cache_dir() == tmp_path / "home" / ".cache" / "archspec"
    monkeypatch.setenv("ARCHSPEC_CACHE_DIR", str(tmp_path / "mine"))
    assert data_module.cache_dir() == tmp_path / "mine"


def test_an_unwritable_cache_costs_only_the_generation(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ARCHSPEC_CACHE_DIR", str(blocker))
    _same(cached_synthetic(10, (3, 8, 8), seed=0), synthetic(10, (3, 8, 8), seed=0))


def test_channel_stats_equal_the_moments_of_the_pixels():
    from archspec.runtime.data import channel_stats

    images = torch.randint(0, 256, (70, 3, 9, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    images[:, 1] = 255  # a constant channel: no spread
    mean, std = channel_stats(images, chunk=16)  # several chunks, the last one short
    x = images.double().permute(1, 0, 2, 3).reshape(3, -1) / 255
    assert torch.allclose(mean.double(), x.mean(dim=1), rtol=0, atol=1e-7)
    assert torch.allclose(std.double(), x.std(dim=1, correction=0), rtol=0, atol=1e-6)
    assert float(mean[1]) == 1.0 and float(std[1]) < 1e-5
