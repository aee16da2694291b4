"""Bytes out: several files written atomically together, and rows encoded as delimited lines."""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pcl_pipeline.store.files import atomic_path

# Chunks of users arrive as a few large buffers; a large buffer turns them into few system calls.
_BUFFER = 1 << 20


@contextmanager
def atomic_files(out_dir: Path, names: Sequence[str]) -> Iterator[dict[str, BinaryIO]]:
    """Yield {name: binary handle} for files `names` in out_dir; they appear only if all succeed.

    Each handle writes a temporary file beside its final name (store.files.atomic_path). When the
    block succeeds, every handle is closed (flushed) first and only then are the files renamed, so
    an error while writing or flushing any of them leaves no file of this call under a final name
    (a file already there keeps its old content). Only a failing rename itself, after the data is
    complete, can leave some of the new files in place and not others.
    """
    with ExitStack() as renames:  # exits last: renames on success, deletes the temporaries on error
        tmp = {name: renames.enter_context(atomic_path(Path(out_dir) / name)) for name in names}
        with ExitStack() as handles:
            yield {
                name: handles.enter_context(open(path, "wb", buffering=_BUFFER))
                for name, path in tmp.items()
            }
        for path in tmp.values():
            # mkstemp creates 0600 files; give the data the permissions of an ordinary file.
            os.chmod(path, 0o644)


def encode_lines(columns: Sequence[np.ndarray | pa.Array | str], sep: str) -> pa.Buffer | bytes:
    """Encode rows as `c1<sep>c2...\\n` lines, column-wise in Arrow (no per-row Python).

    A str column is a constant. Integers are written in decimal. Returns the bytes of all lines.
    """
    parts: list[pa.Array | str] = []
    for i, col in enumerate(columns):
        if i:
            parts.append(sep)
        if isinstance(col, str):
            parts.append(col)
        else:
            arr = col if isinstance(col, pa.Array) else pa.array(col)
            parts.append(arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string()))
    joined = pc.binary_join_element_wise(*parts, "\n", "")
    if len(joined) == 0:
        return b""
    # A string array's value buffer is the concatenation of its values: the lines, back to back.
    _, offset_buf, data_buf = joined.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32, count=len(joined) + 1, offset=4 * joined.offset)
    return data_buf[int(offsets[0]) : int(offsets[-1])]
