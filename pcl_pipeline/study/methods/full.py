"""Baselines that train a whole SASRec with each task; each task's artifact holds the backbone
as it was after that task. Their backbone learning rate is chosen per task on validation from
their search space (methods/search.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.model.pcl import PCLTaskModel
from pcl_pipeline.model.sasrec import SASRec
from pcl_pipeline.recipe import Start
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.cards import CARDS


@dataclass(frozen=True)
class SequentialFineTuning(Method):
    """One encoder fine-tuned on the tasks in sequence: task k starts from the encoder task k-1
    left, and every stored head is scored with the encoder of the task learned last (the current
    one), not the one it was trained with; that is where its forgetting shows."""

    def start(self, store: DatasetStore, chain: list[TaskSpec], backbone: SASRec, device: torch.device) -> Start:
        if len(chain) < 3:
            return Start(backbone, lineage={"encoder_from": None})
        previous = chain[-2].name
        sha = store.load_task_tensors(previous)[1]["sha256"]
        return Start(store.load_encoder(previous, device), (sha,), {"encoder_from": previous})

    def load_for_scoring(self, store: DatasetStore, task: str, device: torch.device,
                         current: str) -> tuple[PCLTaskModel, dict]:
        model, manifest = store.load_task_model(task, device)
        if current != task:
            model.backbone.load_state_dict(store.load_encoder(current, device).state_dict(), strict=True)
        return model, {**manifest, "encoder_from": current}


FINE_ALL = Method.of(CARDS["FineAll"])
SIN_MO = Method.of(CARDS["SinMo"])
SEQ_FT = SequentialFineTuning.of(CARDS["SeqFT"])
