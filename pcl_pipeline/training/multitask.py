"""Joint training of several tasks on one shared, trainable backbone (the MTL baseline).

One step draws a batch of every task and sums their losses; an epoch lasts as long as the
task with the most batches (the others start over). Early stopping follows the mean over tasks
of each task's relative gain over its initial validation score (the tasks' metrics have
different scales, so raw scores cannot be averaged); model selection is per task: each task
keeps the epoch with its own best validation score (the shared backbone as it was then, and its
head), so no task is judged at an epoch that suits the others (a classification head picked on
the ranking tasks' gain fell below the majority class). Each task's parts train at its own lr,
the backbone at `backbone_lr`; the loop's schedule (epochs, patience, weight decay) is the first
task's. No resume checkpoint: the per-task best states live outside the loop's checkpoint, so
an interrupted joint run starts over rather than resume to another result.
"""
from __future__ import annotations

import torch

from dataclasses import dataclass

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.data.splits import TaskData
from pcl_pipeline.model.pcl import PCLTaskModel
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import FitResult, LoopConfig, Objective, fit, seed_everything
from pcl_pipeline.training.prompt_tuning import task_loss, train_batches, validation_score


def relative_gain(score: float, initial: float) -> float:
    """(score - initial) / |initial|; the raw difference when initial is 0."""
    return (score - initial) / abs(initial) if initial != 0 else score - initial


@dataclass
class TaskBest:
    """One task's best validation score in a joint run, its epoch (0: the initial state) and the
    state then: the shared backbone under "backbone." and the task's own parts."""
    score: float
    epoch: int
    state: dict[str, torch.Tensor]


def tune_jointly(models: list[PCLTaskModel], datas: list[TaskData], params: list[TaskParams], metrics: list[str],
                 backbone_lr: float, ctx: TrainContext) -> tuple[FitResult, list[TaskBest]]:
    """Train every model's parts and their one shared backbone together until the mean relative
    gain stops improving; return the fit and each task's own best (TaskBest). The models are left
    at the loop's best state (the best mean gain)."""
    backbone = models[0].backbone
    if any(m.backbone is not backbone or not m.train_backbone for m in models):
        raise ValueError("joint training needs one trainable backbone shared by every task model")
    device = ctx.device
    seed_everything(ctx.seed)
    for model in models:
        model.to(device)
    losses = [task_loss(m, d, p, device) for m, d, p in zip(models, datas, params)]

    def scores() -> list[float]:
        return [validation_score(m, d, d.valid, metric, device, p.select_on)
                for m, d, p, metric in zip(models, datas, params, metrics)]

    def task_state(i: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in models[i].state_dict().items()
                if k.startswith("backbone.") or k in models[i].task_state()}

    initial = scores()
    bests = [TaskBest(s, 0, task_state(i)) for i, s in enumerate(initial)]
    epoch = {"n": 0}

    def validate() -> float:
        now = scores()
        epoch["n"] += 1
        for i, score in enumerate(now):
            if score > bests[i].score:
                bests[i] = TaskBest(score, epoch["n"], task_state(i))
        return sum(relative_gain(s, s0) for s, s0 in zip(now, initial)) / len(models)

    def batches(generator: torch.Generator):
        n_batches = [-(-len(d.train) // p.batch_size) for d, p in zip(datas, params)]
        iterators = [train_batches(d.train, p.batch_size, generator, device) for d, p in zip(datas, params)]
        for _ in range(max(n_batches)):
            step_batches = []
            for i, (d, p) in enumerate(zip(datas, params)):
                batch = next(iterators[i], None)
                if batch is None:  # this task ran out: start it over, in a new drawn order
                    iterators[i] = train_batches(d.train, p.batch_size, generator, device)
                    batch = next(iterators[i])
                step_batches.append(batch)
            yield step_batches

    def step(step_batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, int]:
        total = sum(loss(inputs, targets) for loss, (inputs, targets) in zip(losses, step_batches))
        return total, sum(inputs.shape[0] for inputs, _ in step_batches)

    def get_state() -> dict[str, torch.Tensor]:
        state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
        for i, model in enumerate(models):
            state.update({f"task{i}.{k}": v for k, v in model.task_state().items() if not k.startswith("backbone.")})
        return state

    def set_state(state: dict[str, torch.Tensor]) -> None:
        backbone.load_state_dict({k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")})
        for i, model in enumerate(models):
            prefix = f"task{i}."
            model.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=False)

    groups = [{"params": m.part_parameters(), "lr": p.lr} for m, p in zip(models, params)]
    groups.append({"params": list(backbone.parameters()), "lr": backbone_lr})
    first = params[0]
    loop = LoopConfig(epochs=first.epochs, patience=first.patience, lr=backbone_lr, weight_decay=first.weight_decay,
                      validate_initial=True,
                      initial_score=0.0)  # the initial state's gain over itself: `initial` already measured it
    result = fit(Objective(groups, step, batches, validate, get_state, set_state), loop, ctx.replace(checkpoint=None))
    for model in models:
        model.eval()
    return result, bests
