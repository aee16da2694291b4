"""A study step run again (interrupted, or `pcl study --select`) skips the seeds it finished: per
seed and method variant, the finished chain's result is kept (DONE_FILE in the variant) under a key
of everything it depends on, and read back only under the same key (equal to training it again:
tests/test_study.py)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.recipe import Candidate
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import fingerprint, write_json

DONE_FILE = "study_run.json"


def source_signature() -> str:
    """A hash of the pipeline's Python sources (pcl_pipeline/**/*.py): a finished seed of a study
    step is reused only by the code that produced it."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def seed_key(store: DatasetStore, name: str, seed: int, served: list[TaskSpec],
             chosen: dict[str, list[Candidate]] | None, backbone_sha: str, device: torch.device, code: str) -> str:
    """Everything a method's chain on one seed depends on: the code, the method, the seed, the task
    specs and their data versions, the candidates it may try, the seed's backbone, the device and
    the torch thread count (artifact bytes depend on it)."""
    return fingerprint(code, name, seed, [(t.model_dump(), store.task_data_version(t.name)) for t in served],
                       None if chosen is None else {t: [c.knobs for c in cs] for t, cs in chosen.items()},
                       backbone_sha, str(device), torch.get_num_threads())


def finished(store: DatasetStore, key: str):
    """What an earlier run of this seed's chain left in the variant, if it ran under `key`; else None."""
    path = store.variant_dir / DONE_FILE
    if not path.exists():
        return None
    done = json.loads(path.read_text(encoding="utf-8"))
    return done["result"] if done.get("key") == key else None


def save_finished(store: DatasetStore, key: str, result) -> None:
    write_json(store.variant_dir / DONE_FILE, {"key": key, "result": result})
