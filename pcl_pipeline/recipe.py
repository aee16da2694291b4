"""How a task after T1 is trained, stored and re-scored: the one interface the core calls.

The pipeline trains every task with PCL, the base TaskRecipe: a frozen, shared backbone, the
position-wise prompt p_k (inheriting p_{k-1} from k >= 3), the contextual module over the task
texts, and the task's adapter. Other methods (the study's baselines and ablations, in
pcl_pipeline/study/methods) are recipes too: they override what they change (which parts train,
where the backbone they train comes from, which texts they read, which settings of their own
knobs are tried) and nothing in the core (store, stages, model, training) knows them by name,
in the way PEFT keeps each method's config and wrapper outside the base model.

What a stored artifact needs to be rebuilt is recorded in its manifest ("architecture"), so
the store loads any recipe's artifact without knowing the recipe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from pcl_pipeline.catalog import TaskParams, TaskSpec, previous_prompt_task
from pcl_pipeline.model.pcl import PCLTaskModel, build_task_model
from pcl_pipeline.model.sasrec import SASRec

if TYPE_CHECKING:  # the store imports this module's architecture rules
    from pcl_pipeline.store.artifact_store import DatasetStore


@dataclass(frozen=True)
class Candidate:
    """One setting of a recipe's own knobs: a model is trained per candidate of a task and the
    best validation score kept (the manifest records every candidate's score)."""
    knobs: dict = field(default_factory=dict)  # e.g. {"backbone_lr": 1e-3}; {} for the one default setting

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(self.knobs.items()))

    @property
    def backbone_lr(self) -> float | None:
        return self.knobs.get("backbone_lr")

    def apply(self, params: TaskParams) -> TaskParams:
        """The task's params under this candidate ("lr_factor" scales the task parts' lr)."""
        if "lr_factor" in self.knobs:
            return params.model_copy(update={"lr": params.lr * self.knobs["lr_factor"]})
        return params


@dataclass(frozen=True)
class Start:
    """Where task k's model starts: the backbone it is built around, what the fingerprint of its
    training adds for it, and the lineage fields its manifest records."""
    backbone: SASRec
    fingerprint_parts: tuple = ()
    lineage: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Architecture:
    """What a stored task artifact holds besides the adapter: the prompts (and, with lam > 0, the
    contextual module), and the backbone's tensors when the task trained it."""
    prompt: bool = True
    backbone_in_artifact: bool = False

    def as_dict(self) -> dict:
        return {"prompt": self.prompt, "backbone_in_artifact": self.backbone_in_artifact}

    @classmethod
    def of(cls, manifest: dict) -> "Architecture":
        """A manifest's architecture; one written before it was recorded is PCL's (the only
        recipe the pipeline stores)."""
        return cls(**manifest.get("architecture", {}))


class TaskRecipe:
    """PCL, as the pipeline trains every task; methods override what they change."""

    name: str  # what manifests record as "method"
    architecture: Architecture = Architecture()
    # the store variant this recipe's artifacts must live in (None: any, e.g. a task-order variant)
    required_variant: str | None = None

    def task_params(self, params: TaskParams) -> TaskParams:
        """The task's catalog params as this recipe trains them."""
        return params

    def candidates(self, params: TaskParams) -> list[Candidate]:
        """The settings of the recipe's own knobs to try on a task (a model each, best on validation)."""
        return [Candidate()]

    def texts(self, store: "DatasetStore", chain: list[TaskSpec]) -> tuple[torch.Tensor, dict[str, str]]:
        """Description embeddings of tasks 1..k and their hashes: the dataset's stored ones."""
        return store.load_texts(chain)

    def inherited_prompt(self, store: "DatasetStore", chain: list[TaskSpec],
                         params: TaskParams) -> tuple[TaskSpec | None, torch.Tensor | None]:
        """(task k-1, its trained prompt) that initialises p_k, from k >= 3; (None, None) otherwise."""
        previous = previous_prompt_task(chain)
        if not self.architecture.prompt or not params.inherit_prompt or previous is None:
            return None, None
        tensors, _ = store.load_task_tensors(previous.name)
        return previous, tensors["prompt.weight"]

    def start(self, store: "DatasetStore", chain: list[TaskSpec], backbone: SASRec, device: torch.device) -> Start:
        """The backbone task k's model is built around: the stored pretrained one."""
        return Start(backbone)

    def build(self, backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
              inherit_prompt: torch.Tensor | None, to_backbone: torch.Tensor | None = None) -> PCLTaskModel:
        """The task model around `backbone` (frozen: PCL never trains it)."""
        return build_task_model(backbone, kind, n_targets, params, texts, inherit_prompt, to_backbone,
                                with_prompt=self.architecture.prompt,
                                train_backbone=self.architecture.backbone_in_artifact)

    def config_parts(self, params: TaskParams) -> list:
        """What a task's config hash covers: its params, without inherit_prompt at its default, so
        artifacts trained before that field existed keep their config hash and checkpoints."""
        dump = params.model_dump()
        if dump["inherit_prompt"]:
            del dump["inherit_prompt"]
        return [dump]

    def load_for_scoring(self, store: "DatasetStore", task: str, device: torch.device,
                         current: str) -> tuple[PCLTaskModel, dict]:
        """Task `task`'s model as it is scored once `current` (the task of the scored chain learned
        last) has been learned: for PCL, what its artifact stores, whatever was learned after it.
        `current` comes from the chain, never from what the store holds (a variant may still hold
        artifacts of an earlier run that this run has not reached yet)."""
        return store.load_task_model(task, device)

    def backbone_for_scoring(self, store: "DatasetStore", device: torch.device,
                             current: str | None) -> tuple[SASRec, dict]:
        """The backbone T1 (next item) is scored with once `current` has been learned (None: no
        task after T1 yet): the stored pretrained one, which PCL never changes. A method that
        keeps changing one encoder scores T1 with the encoder `current` left."""
        return store.load_backbone(device)


class _PipelinePCL(TaskRecipe):
    name = "PCL"


PCL = _PipelinePCL()
