"""Tasks after T1: train only the prompt, the contextual module and the adapter."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.evaluation.classification import classification_metrics
from pcl_pipeline.evaluation.protocol import split_ranks, split_scores
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.model.adapters import ClassifierAdapter, ItemAdapter
from pcl_pipeline.model.pcl import PCLTaskModel
from pcl_pipeline.model.prompts import ContextualPrompt, PositionPrompt
from pcl_pipeline.model.sasrec import SASRec
from pcl_pipeline.training.batches import Split, batch_indices, load_split
from pcl_pipeline.training.device import autocast
from pcl_pipeline.training.loop import FitResult, LoopConfig, fit, seed_everything


@dataclass(frozen=True)
class TaskData:
    kind: str  # "item_rec" | "classification"
    train: Split
    valid: Split
    test: Split
    n_targets: int  # item tasks: target vocabulary size (ids 1..n); classification: classes (ids 0..n-1)
    to_target: torch.Tensor | None  # backbone item id -> target id, for history exclusion (same namespace)
    to_backbone: torch.Tensor | None = None  # (n_targets + 1,) target id -> backbone item id (0 = none)

    @classmethod
    def load(cls, kind: str, rows: Path, vocab: Path, max_len: int, n_backbone_items: int) -> "TaskData":
        table = pq.read_table(vocab, columns=["idx", "backbone_idx"])
        idx = table["idx"].to_pylist()
        to_target, to_backbone = item_maps(kind, idx, table["backbone_idx"].to_pylist(), n_backbone_items)
        splits = {s: load_split(rows, s, max_len) for s in ("train", "valid", "test")}
        return cls(kind=kind, n_targets=len(idx), to_target=to_target, to_backbone=to_backbone, **splits)


def item_maps(kind: str, idx: list[int], backbone_idx: list[int | None],
              n_backbone_items: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """backbone id -> target id (history exclusion) and target id -> backbone id (the backbone's
    scores as the adapter's prior); both None when the task's items are not backbone items."""
    if kind != "item_rec" or all(item is None for item in backbone_idx):
        return None, None
    to_target = torch.zeros(n_backbone_items + 1, dtype=torch.long)
    to_backbone = torch.zeros(len(idx) + 1, dtype=torch.long)
    for target, item in zip(idx, backbone_idx):
        if item is not None:
            to_target[item] = target
            to_backbone[target] = item
    return to_target, to_backbone


def build_task_model(backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
                     inherit_prompt: torch.Tensor | None, use_context: bool = True,
                     to_backbone: torch.Tensor | None = None) -> PCLTaskModel:
    """Fresh per-task parts around the frozen backbone; p_k copied from p_{k-1} when given.

    to_backbone (item tasks in T1's item space): target id -> backbone item id; with
    params.item_prior the task scores = frozen backbone scores + the adapter's residual."""
    d = backbone.cfg.hidden
    prompt = PositionPrompt(params.prompt_len, d)
    if inherit_prompt is not None:
        if tuple(inherit_prompt.shape) != tuple(prompt.weight.shape):
            raise ValueError(f"inherited prompt has shape {tuple(inherit_prompt.shape)}; expected "
                             f"{tuple(prompt.weight.shape)} (prompt_len x hidden must match the previous task)")
        with torch.no_grad():
            prompt.weight.copy_(inherit_prompt)
    context = ContextualPrompt(texts.shape[1], d, params.context_heads) if use_context else None
    prior = to_backbone if (kind == "item_rec" and params.item_prior) else None
    if kind == "item_rec":
        adapter = ItemAdapter(d, n_targets, residual=prior is not None)
        pool = "last"
    else:
        pool = params.pool
        adapter = ClassifierAdapter(2 * d if pool == "mean_last" else d, params.adapter_hidden, n_targets,
                                    params.adapter_dropout, backbone.cfg.n_items if params.input_items else None)
    return PCLTaskModel(backbone, prompt, context, adapter, texts, params.lam, item_prior=prior, pool=pool)


def validation_score(model: PCLTaskModel, data: TaskData, split: Split, metric: str, device: torch.device,
                     select_on: str = "log_loss") -> float:
    """Higher is better. Item tasks: `metric` of the ranking. Classification: AUC (binary) or
    minus the log-loss, never accuracy, which on a few dozen validation users rewards
    predicting the majority class."""
    model.eval()
    with autocast(device):
        if data.kind == "item_rec":
            ranks = split_ranks(model, split, data.to_target, data.n_targets, device)
            return ranking_metrics(ranks)[metric]
        scores = split_scores(model, split, device)
    if select_on == "auc" and scores.shape[1] == 2:
        return classification_metrics(split.targets, scores)["auc"]
    return -F.cross_entropy(scores, split.targets).item()


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C,) inverse class frequency, normalised so a balanced set has weight 1 everywhere."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp(min=1.0)
    return counts.sum() / (n_classes * counts)


def tune_task(model: PCLTaskModel, data: TaskData, params: TaskParams, metric: str, *, seed: int,
              device: torch.device, fingerprint: str, checkpoint: Path | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train the task's parts with the backbone frozen; keep the best validation `metric`."""
    seed_everything(seed)
    model.to(device)
    train = data.train
    weight = None
    if data.kind == "classification" and params.class_balanced:
        weight = class_weights(train.targets, data.n_targets).to(device)

    def batches(generator: torch.Generator):
        for idx in batch_indices(len(train), params.batch_size, generator):
            yield train.inputs[idx].to(device), train.targets[idx].to(device)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        inputs, targets = batch
        model.train()
        with autocast(device):
            logits = model(inputs)
        if data.kind == "item_rec":
            logits = logits.float()
            logits[:, 0] = float("-inf")  # padding is never a target
        return F.cross_entropy(logits.float(), targets, weight=weight), inputs.shape[0]

    def get_state() -> dict[str, torch.Tensor]:
        return model.task_state()

    def set_state(state: dict[str, torch.Tensor]) -> None:
        model.load_state_dict(state, strict=False)

    loop = LoopConfig(epochs=params.epochs, patience=params.patience, lr=params.lr,
                      weight_decay=params.weight_decay, seed=seed, fingerprint=fingerprint,
                      validate_initial=data.kind == "item_rec" and model.item_prior is not None)
    result = fit(model.trainable_parameters(), step, batches,
                 lambda: validation_score(model, data, data.valid, metric, device, params.select_on),
                 get_state, set_state, loop, checkpoint, on_epoch)
    model.eval()
    return result
