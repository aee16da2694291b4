"""Tasks after T1: train only the prompt, the contextual module and the adapter."""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.data.splits import Split, TaskData, batch_indices
from pcl_pipeline.evaluation.classification import classification_metrics
from pcl_pipeline.evaluation.protocol import split_ranks, split_scores
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.model.pcl import PCLTaskModel
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.device import autocast
from pcl_pipeline.training.loop import FitResult, LoopConfig, Objective, fit, seed_everything


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


def selection_criterion(data: TaskData, metric: str, select_on: str = "log_loss") -> str:
    """The name of what validation_score returns for this task: the metric (item tasks), "auc"
    (binary, select_on auc) or "neg_log_loss" (minus the validation log-loss)."""
    if data.kind == "item_rec":
        return metric
    return "auc" if select_on == "auc" and data.n_targets == 2 else "neg_log_loss"


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C,) inverse class frequency, normalised so a balanced set has weight 1 everywhere."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp(min=1.0)
    return counts.sum() / (n_classes * counts)


def task_loss(model: PCLTaskModel, data: TaskData, params: TaskParams,
              device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(inputs, targets) of one batch of this task: cross-entropy over the task's targets
    (padding is never a target; classification weighted by inverse class frequency when asked)."""
    weight = None
    if data.kind == "classification" and params.class_balanced:
        weight = class_weights(data.train.targets, data.n_targets).to(device)

    def loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        model.train()
        with autocast(device):
            logits = model(inputs)
        logits = logits.float()
        if data.kind == "item_rec":  # targets 1..n: the padding column 0 is never a prediction
            return F.cross_entropy(logits[:, 1:], targets - 1)
        return F.cross_entropy(logits, targets, weight=weight)
    return loss


def train_batches(split: Split, batch_size: int, generator: torch.Generator, device: torch.device):
    """One epoch of (inputs, targets) batches of `split`, in an order drawn from `generator`
    (gathered where the split is: on the device when it was moved there)."""
    for idx in batch_indices(len(split), batch_size, generator, split.targets.device):
        yield split.inputs(idx).to(device), split.targets[idx].to(device)


def parameter_groups(model: PCLTaskModel, params: TaskParams, lr_factor: float = 1.0,
                     backbone_lr: float | None = None) -> list[dict]:
    """The task's parts at params.lr; a backbone that trains (model.train_backbone) at backbone_lr
    (None: params.lr), scaled by lr_factor (a larger batch's learning-rate scaling)."""
    groups = [{"params": model.part_parameters()}]
    if model.train_backbone:
        groups.append({"params": list(model.backbone.parameters()), "lr": (backbone_lr or params.lr) * lr_factor})
    return groups


def tune_task(model: PCLTaskModel, data: TaskData, params: TaskParams, metric: str, ctx: TrainContext,
              backbone_lr: float | None = None) -> FitResult:
    """Train the task's parts (and the backbone at backbone_lr, for models that train it); keep
    the best validation `metric`. ctx.acceleration as in pretrain_backbone (the recipe is
    FitResult.recipe)."""
    device, acceleration = ctx.device, ctx.applied_acceleration
    seed_everything(ctx.seed)
    model.to(device)
    loss = task_loss(model, data, params, device)
    recipe = acceleration.scale(params.batch_size, params.lr, 0, len(data.train))
    train = acceleration.place(data.train, device)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        value, extra = loss(*batch), model.auxiliary_loss(batch[0])
        return (value if extra is None else value + extra), batch[0].shape[0]

    def set_state(state: dict[str, torch.Tensor]) -> None:
        model.load_state_dict(state, strict=False)

    loop = LoopConfig(epochs=params.epochs, patience=params.patience, lr=recipe.lr,
                      weight_decay=params.weight_decay,
                      validate_initial=data.kind == "item_rec" and model.item_prior is not None,
                      warmup_epochs=recipe.warmup_epochs)
    groups = parameter_groups(model, params, recipe.lr_factor(params.lr), backbone_lr)
    objective = Objective(groups, step, lambda generator: train_batches(train, recipe.batch_size, generator, device),
                          lambda: validation_score(model, data, data.valid, metric, device, params.select_on),
                          model.task_state, set_state)

    def run_fit() -> FitResult:
        result = fit(objective, loop, ctx.with_fingerprint(recipe.key))
        result.recipe = recipe.as_dict()
        return result
    if ctx.memo is None:
        result = run_fit()
    else:  # the same model, data and schedule trained before (by another method of the study): its fit
        key = ctx.memo.key(model, groups, {k: v for k, v in params.model_dump().items() if k != "inherit_prompt"},
                           data.kind, metric, ctx.seed, str(device), loop, recipe.as_dict())
        stored = ctx.memo.load(key, device)
        if stored is None:
            t0 = time.perf_counter()
            result = run_fit()
            ctx.memo.save(key, result.best_state, result.record(), time.perf_counter() - t0)
        else:
            result = FitResult.from_record(*stored)
            set_state(result.best_state)
    model.eval()
    return result
