"""Writing files so that a reader (or a crash) never sees half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only once complete.

    Written to a temporary file in the same folder (``.NAME.XXXX.tmp``), flushed and fsynced,
    renamed over ``path``, and the folder fsynced; on any error the temporary file is removed.
    The file gets ordinary permissions (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:  # some systems cannot open folders; the rename is done all the same
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_atomically(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)
