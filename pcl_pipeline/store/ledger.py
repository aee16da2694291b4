"""The store's own record of what wrote it: one stamp per asset under $PCL_HOME/.ledger/.

A stamp says which run wrote an asset's files, under which code version, from which versions of
its inputs, and what the files were (path under PCL_HOME, size, modification time). With it a
run can vouch for what the store holds without trusting anything else: a file that is gone or
was rewritten since, a stamp whose run the orchestrator never recorded (another instance, or a
wiped one), a code version or an input that changed, all show up as a reason to rebuild.

A stamp is removed when its asset starts and written when it has finished, so an asset killed
half-way has none and counts as missing. One file per asset: steps running in several processes
never write the same file. The ledger knows nothing of Dagster: keys are plain strings.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pcl_pipeline.store.files import write_json

LEDGER_DIR = ".ledger"


@dataclass(frozen=True)
class Stamp:
    key: str  # the asset's key, e.g. "movielens/raw_logs"
    run_id: str  # the run that wrote it
    code_version: str  # the asset's code version then
    data_version: str  # what it produced (a content hash; the run id where an asset gives none)
    inputs: dict[str, str] = field(default_factory=dict)  # input key -> the data version it read
    files: dict[str, list[int]] = field(default_factory=dict)  # path under PCL_HOME -> [size, mtime_ns]


class Ledger:
    """The stamps of one PCL_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.folder = self.home / LEDGER_DIR

    def _path(self, key: str) -> Path:
        return self.folder / (key.replace("/", "__") + ".json")

    def get(self, key: str) -> Stamp | None:
        path = self._path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            return Stamp(**record)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # unreadable: as good as absent (the asset is rebuilt)
            return None

    def forget(self, key: str) -> None:
        """The asset is being rewritten: until it finishes, nothing vouches for its files."""
        self._path(key).unlink(missing_ok=True)

    def record(self, key: str, *, run_id: str, code_version: str, data_version: str,
               inputs: dict[str, str], files: list[Path]) -> Stamp:
        """Stamp `key` after its asset wrote `files` (those that exist are recorded)."""
        listed = {}
        for path in files:
            path = Path(path)
            if path.is_file():
                st = path.stat()
                listed[self._relative(path)] = [st.st_size, st.st_mtime_ns]
        stamp = Stamp(key=key, run_id=run_id, code_version=code_version, data_version=data_version,
                      inputs=dict(sorted(inputs.items())), files=dict(sorted(listed.items())))
        write_json(self._path(key), asdict(stamp))
        return stamp

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.home.resolve()))
        except ValueError:
            raise ValueError(f"{path}: an asset's file must lie under PCL_HOME ({self.home})") from None

    def damaged(self, stamp: Stamp) -> str | None:
        """Why the stamped files are no longer what the run wrote (missing, resized or rewritten), or None."""
        for relative, (size, mtime_ns) in stamp.files.items():
            path = self.home / relative
            if not path.is_file():
                return f"{relative} is missing from PCL_HOME"
            st = path.stat()
            if st.st_size != size or st.st_mtime_ns != mtime_ns:
                return f"{relative} was rewritten after run {stamp.run_id[:8]} wrote it"
        return None

    def keys(self) -> list[str]:
        return sorted(p.stem.replace("__", "/") for p in self.folder.glob("*.json")) if self.folder.is_dir() else []
