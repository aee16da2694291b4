"""Atomic file writes and content hashes: a failed run never leaves a half-written artifact.

The one atomic-write helper of the project: the artifact store and the synthetic-data writer
both go through `atomic_path`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success rename it over `final`, else delete it.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one.
    """
    with atomic_paths(Path(final)) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*finals: Path) -> Iterator[tuple[Path, ...]]:
    """Temporary paths for several files that belong together (an artifact's tensors and its
    manifest): all are written completely before any is renamed into place, so a failure while
    writing (a full disk) leaves every earlier file as it was."""
    with contextlib.ExitStack() as stack:
        temps = tuple(stack.enter_context(_temporary(Path(final))) for final in finals)
        yield temps
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)


@contextlib.contextmanager
def _temporary(final: Path) -> Iterator[Path]:
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts and reports are for the whole team to read
    try:
        yield tmp
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, keys sorted so identical content gives identical bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def file_sha256(*paths: Path) -> str:
    """Hex SHA-256 over the bytes of the given files, in order (a content-based data version)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def folder_signature(folder: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime in ns) of every file in `folder`, sorted: a cheap sign that its files
    changed, taken without reading them (a missing folder gives [])."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p.name, (st := p.stat()).st_size, st.st_mtime_ns) for p in folder.iterdir() if p.is_file())


def fingerprint(*parts: object) -> str:
    """Stable hash of JSON-able parts (config, data versions, seed): the config hash of manifests."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]
