"""Helpers shared by the stages: fingerprints, text embeddings, curves."""
from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.layout import Layout
from pcl_pipeline.storage import atomic_path


def fingerprint(*parts: object) -> str:
    """Stable hash of JSON-able parts (config, data versions, seed): the config hash of manifests."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def load_texts(layout: Layout, tasks: list[TaskSpec]) -> tuple[torch.Tensor, dict[str, str]]:
    """Description embeddings of `tasks` in order -> (k, text_dim), and their text hashes."""
    rows, hashes = [], {}
    for task in tasks:
        path = layout.task_text(task.name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: task text embedding missing; materialize "
                                    f"{layout.dataset}/task_text/{task.name} first")
        record = json.loads(path.read_text(encoding="utf-8"))
        rows.append(np.asarray(record["embedding"], dtype=np.float32))
        hashes[task.name] = record["sha256"]
    return torch.from_numpy(np.stack(rows)), hashes


def save_curve(path: Path, history: list[dict], title: str) -> str:
    """Training curve (loss and validation score per epoch) as a PNG; returns it base64-encoded
    so the Dagster UI can show it inline in Markdown metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    ax.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["valid"] for h in history], color="tab:orange", label="validation")
    ax2.set_ylabel("validation score", color="tab:orange")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return base64.b64encode(buffer.getvalue()).decode("ascii")
