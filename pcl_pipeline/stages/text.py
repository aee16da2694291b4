"""The task_text stage: the frozen sentence encoder's embedding of one task's description."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.store.files import text_sha256
from pcl_pipeline.text_encoder import task_text


class Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def embed_task(task: TaskSpec, encoder: Encoder, encoder_name: str) -> dict:
    """The record {task, text, sha256, encoder, dim, embedding} of `task`'s description."""
    text = task_text(task)
    vector = encoder.encode([text])[0]
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"encoder {encoder_name} returned a non-finite embedding for task {task.name}")
    return {"task": task.name, "text": text, "sha256": text_sha256(text), "encoder": encoder_name,
            "dim": int(vector.shape[0]), "embedding": [float(x) for x in vector]}
