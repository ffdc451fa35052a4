"""Pictures are written to exactly the file named, whatever its suffix."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from archspec.runtime import visualise


@pytest.mark.parametrize(("name", "magic"), [("kernels", b"\x89PNG"), ("kernels.png", b"\x89PNG"), ("kernels.svg", b"<?xml")])
def test_a_picture_is_written_to_the_path_given(tmp_path, name, magic):
    path = tmp_path / name
    visualise.kernels(torch.randn(4, 3, 3, 3), path, "conv1")
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no `kernels.png` beside a `kernels` that was asked for
    assert path.read_bytes().startswith(magic)
