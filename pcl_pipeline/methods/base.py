"""A method of the study: which parts of the one task model train, which text encoder its task
texts use, and which TaskParams it overrides. Every method shares the data, the splits, the one
training loop (training.prompt_tuning.tune_task) and the evaluation; a new method is one small
module plus its line in methods/registry.py."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.model.pcl import PCLTaskModel, build_task_model
from pcl_pipeline.model.sasrec import SASRec

# What a task's backbone is: the stored pretrained one, frozen and shared ("frozen"); a copy of it
# fine-tuned with the task ("finetune"); a fresh SASRec of the same architecture trained from
# scratch on the task ("scratch"); one encoder fine-tuned on the tasks in sequence ("sequential":
# task k starts from the encoder left by task k-1, and every stored head is scored with the
# current encoder); one copy of it fine-tuned jointly on all tasks after T1 with a head per task
# ("joint": MTL, not continual: it needs every task at once). All but "frozen" store the
# backbone in each task's artifact.
BackboneMode = Literal["frozen", "finetune", "scratch", "sequential", "joint"]
# Where a task's description embeddings come from: the dataset's stored task_text embeddings
# (MiniLM in the pipeline), or the random text encoder (the random-task-embedding ablation).
TextEncoderKind = Literal["stored", "random"]


@dataclass(frozen=True)
class Method:
    name: str
    summary: str  # one line: what trains
    backbone: BackboneMode = "frozen"
    prompt: bool = True  # position-wise prompt (and, with lam > 0, the contextual module)
    text_encoder: TextEncoderKind = "stored"
    overrides: dict = field(default_factory=dict)  # TaskParams fields this method fixes (e.g. lam=0)
    # methods that train the backbone: the backbone learning rates tried per task (a model per
    # rate), the best validation score kept; the task's own parts keep the catalog's lr
    backbone_lr_grid: tuple[float, ...] = ()

    @property
    def variant(self) -> str:
        """The store variant holding this method's task artifacts and evals (apart from the catalog's)."""
        return f"method-{self.name}"

    def trains(self, params: TaskParams) -> tuple[str, ...]:
        """The parts that train on a task with these (overridden) params, named as the prefixes
        of the task model's state_dict keys."""
        parts = ("prompt",) if self.prompt else ()
        if self.prompt and params.lam > 0:
            parts += ("context",)
        parts += ("adapter",)
        if self.backbone != "frozen":
            parts += ("backbone",)
        return parts

    @property
    def trains_backbone(self) -> bool:
        return self.backbone != "frozen"

    def task_params(self, params: TaskParams) -> TaskParams:
        """The task's catalog params with this method's overrides (validated again)."""
        return TaskParams(**{**params.model_dump(), **self.overrides})

    def build(self, backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
              inherit_prompt: torch.Tensor | None, to_backbone: torch.Tensor | None = None) -> PCLTaskModel:
        """The task model around `backbone` (the stored pretrained one); the stored backbone object
        itself is never trained: "finetune" and "sequential" train a copy of what they are given
        (for "sequential", the encoder left by the previous task), "scratch" a fresh, seeded SASRec;
        "joint" trains the `backbone` given, which the caller copied once and shares across tasks."""
        if self.backbone in ("finetune", "sequential"):
            backbone = copy.deepcopy(backbone)
        elif self.backbone == "scratch":
            backbone = SASRec(backbone.cfg).to(backbone.item_emb.weight.device)
        return build_task_model(backbone, kind, n_targets, params, texts,
                                inherit_prompt if self.prompt else None, to_backbone,
                                with_prompt=self.prompt, train_backbone=self.backbone != "frozen")
