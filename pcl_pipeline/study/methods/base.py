"""A method of the study: a TaskRecipe (pcl_pipeline/recipe.py) described by a few fields, its
card (methods/cards.py): which parts of the one task model train, where the backbone it trains
comes from, which text encoder its task texts use, which TaskParams it overrides; and the backbone
learning rates it tries. Every method shares the data, the splits, the one training loop and the
evaluation; a new method is its card, one small module of this package and its line in
registry.py, and nothing in the core (store, stages, model, training) changes."""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import torch

from pcl_pipeline.catalog import TaskParams, TaskSpec
from pcl_pipeline.model.pcl import PCLTaskModel
from pcl_pipeline.model.sasrec import SASRec
from pcl_pipeline.recipe import PCL as PIPELINE_PCL
from pcl_pipeline.recipe import Architecture, Candidate, TaskRecipe
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import text_sha256
from pcl_pipeline.study.methods.cards import MethodCard
from pcl_pipeline.study.methods.search import candidates_of
from pcl_pipeline.text_encoder import RandomTextEncoder, task_text

@dataclass(frozen=True)
class Method(MethodCard, TaskRecipe):
    """A method's card (methods/cards.py: its fields) with the code that trains and scores it."""

    @classmethod
    def of(cls, card: MethodCard) -> Method:
        return cls(**{f.name: getattr(card, f.name) for f in fields(MethodCard)})

    @property
    def required_variant(self) -> str:
        return self.variant

    @property
    def architecture(self) -> Architecture:
        return Architecture(prompt=self.prompt, backbone_in_artifact=self.trains_backbone)

    @property
    def trains_backbone(self) -> bool:
        return self.backbone != "frozen"

    def trains(self, params: TaskParams) -> tuple[str, ...]:
        """The parts that train on a task with these (overridden) params, named as the prefixes
        of the task model's state_dict keys."""
        parts = ("prompt",) if self.prompt else ()
        if self.prompt and params.lam > 0:
            parts += ("context",)
        parts += ("adapter",)
        if self.trains_backbone:
            parts += ("backbone",)
        return parts

    def task_params(self, params: TaskParams) -> TaskParams:
        """The task's catalog params with this method's overrides (validated again)."""
        return TaskParams(**{**params.model_dump(), **self.overrides})

    def candidates(self, params: TaskParams) -> list[Candidate]:
        """The method's search space (methods/search.py: one model per candidate, the best on
        validation kept); its one default setting without a declared space."""
        return candidates_of(self.name) or [Candidate()]

    def texts(self, store: DatasetStore, chain: list[TaskSpec]) -> tuple[torch.Tensor, dict[str, str]]:
        if self.text_encoder == "stored":
            return store.load_texts(chain)
        texts = [task_text(t) for t in chain]
        vectors = torch.from_numpy(RandomTextEncoder().encode(texts))
        return vectors, {t.name: "random:" + text_sha256(text) for t, text in zip(chain, texts)}

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
        return super().build(backbone, kind, n_targets, params, texts, inherit_prompt if self.prompt else None,
                             to_backbone)

    def backbone_for_scoring(self, store: DatasetStore, device: torch.device,
                             current: str | None) -> tuple[SASRec, dict]:
        """T1 is re-measured with the encoder `current` (the task the scored chain learned last)
        left, for the methods that keep changing one encoder ("sequential": SeqFT; "joint": MTL's
        jointly trained backbone), with "encoder_from" in the manifest; the stored pretrained
        backbone otherwise, and before any task was learned (current None)."""
        if self.backbone not in ("sequential", "joint") or current is None:
            return store.load_backbone(device)
        _, manifest = store.load_backbone(device)
        return store.load_encoder(current, device), {**manifest, "encoder_from": current}

    def train_all(self, store: DatasetStore, chain: list[TaskSpec], ctx, candidates=None) -> list | None:
        """Methods trained on every task at once (MTL) return the chain's trained tasks; None:
        the chain is trained one task after another (stages.prompt.train_prompt)."""
        return None

    def config_parts(self, params: TaskParams) -> list:
        """PCL's config hash as the pipeline's (the study's PCL artifacts equal the pipeline's);
        every other method's adds its name."""
        parts = super().config_parts(params)
        return parts if self.name == PIPELINE_PCL.name else parts + [self.name]
