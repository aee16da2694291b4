"""The task_text stage: the frozen sentence encoder's embedding of one task's description."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.layout import Layout
from pcl_pipeline.storage import text_sha256, write_json
from pcl_pipeline.text_encoder import task_text


class Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def embed_task(layout: Layout, task: TaskSpec, encoder: Encoder, encoder_name: str) -> dict:
    """Write {task, text, sha256, encoder, embedding} for `task`; return it (without the vector)."""
    text = task_text(task)
    vector = encoder.encode([text])[0]
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"encoder {encoder_name} returned a non-finite embedding for task {task.name}")
    record = {"task": task.name, "text": text, "sha256": text_sha256(text), "encoder": encoder_name,
              "dim": int(vector.shape[0]), "embedding": [float(x) for x in vector]}
    write_json(layout.task_text(task.name), record)
    return {k: v for k, v in record.items() if k != "embedding"}
