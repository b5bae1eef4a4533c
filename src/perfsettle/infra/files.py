"""Writing an output file atomically: a reader sees the old file or the new one, never half.

Every output is written to a temporary file in the destination's own folder (so that the
rename stays on one filesystem), flushed to disk, then renamed over the destination. The
temporary file is created with mode 0666 less the process umask, as ``open()`` would create
the file itself: the outputs of a shared outbox are readable by whoever may read the folder
(``tempfile.mkstemp`` would keep 0600).
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["write_atomic", "atomic_path"]


def _create_temp(dest: Path) -> Path:
    """A new empty file beside ``dest``, created with the umask's mode."""
    for _ in range(100):
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {dest}")


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(dest: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path for a writer that takes a file name (xlsxwriter, openpyxl, zipfile).

    On a normal exit of the block the file is flushed to disk (``durable``) and renamed to
    ``dest``; on an exception it is removed and ``dest`` is left as it was::

        with atomic_path(out) as tmp:
            book = xlsxwriter.Workbook(str(tmp)); ...; book.close()
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(dest)
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: Path, data: bytes | str, *, encoding: str = "utf-8",
                 durable: bool = True) -> Path:
    """Write ``data`` (text is encoded as given, newlines kept as they are) to ``path``
    atomically; return ``path``."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path, durable=durable) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)
    return path
