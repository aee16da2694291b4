"""Joint training of several tasks on one shared, trainable backbone (the MTL baseline).

One step draws a batch of every active task and sums their losses; an epoch lasts as long as the
active task with the most batches (the others start over). Each task stops on its own: it stays
active while its own validation score improved within its own `patience` epochs, and then leaves
the joint objective (no more batches, no more validation); the run ends when no task is active or
at the largest epoch cap among the tasks. Model selection is per task: each task keeps the epoch
with its own best validation score (the shared backbone as it was then, and its head), so no task
is judged at an epoch that suits the others. (One stopping rule for all tasks, the mean relative
gain, ended the ML-100K runs after 7 epochs, when the ranking tasks had peaked at epoch 1-2 and
the gender head, which needs tens of epochs at batch 32, had not learned: AUC 0.46-0.66 and
accuracy below the majority class.) Each task's parts train at its own lr, the backbone at
`backbone_lr`, weight decay is the first task's. No resume checkpoint: the per-task best states
live outside the loop's checkpoint, so an interrupted joint run starts over rather than resume to
another result.
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


@dataclass
class TaskBest:
    """One task's best validation score in a joint run, its epoch (0: the initial state) and the
    state then: the shared backbone under "backbone." and the task's own parts."""
    score: float
    epoch: int
    state: dict[str, torch.Tensor]


def tune_jointly(models: list[PCLTaskModel], datas: list[TaskData], params: list[TaskParams], metrics: list[str],
                 backbone_lr: float, ctx: TrainContext, needed: list[bool] | None = None) -> tuple[FitResult, list[TaskBest]]:
    """Train every model's parts and their one shared backbone together, each task until its own
    patience runs out (see the module docstring); return the fit and each task's own best
    (TaskBest). `needed` (default: all) marks the tasks whose best the caller keeps: the run ends
    once none of them is active (the others still train with them until then, so the needed
    tasks' bests are those of the full run; the others' are cut short). The models are left at
    the loop's last improving epoch."""
    backbone = models[0].backbone
    if any(m.backbone is not backbone or not m.train_backbone for m in models):
        raise ValueError("joint training needs one trainable backbone shared by every task model")
    device = ctx.device
    seed_everything(ctx.seed)
    for model in models:
        model.to(device)
    losses = [task_loss(m, d, p, device) for m, d, p in zip(models, datas, params)]

    def score(i: int) -> float:
        return validation_score(models[i], datas[i], datas[i].valid, metrics[i], device, params[i].select_on)

    def task_state(i: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in models[i].state_dict().items()
                if k.startswith("backbone.") or k in models[i].task_state()}

    bests = [TaskBest(score(i), 0, task_state(i)) for i in range(len(models))]
    progress = {"epoch": 0, "improvements": 0}

    def active() -> list[int]:
        """The tasks whose own score improved within their own patience."""
        return [i for i, p in enumerate(params) if progress["epoch"] - bests[i].epoch < p.patience
                and progress["epoch"] < p.epochs]

    def validate() -> float:
        """The number of (task, epoch) improvements so far: it grows while any task improves."""
        tasks = active()
        progress["epoch"] += 1
        for i in tasks:
            now = score(i)
            if now > bests[i].score:
                bests[i] = TaskBest(now, progress["epoch"], task_state(i))
                progress["improvements"] += 1
        return float(progress["improvements"])

    wanted = [True] * len(models) if needed is None else list(needed)
    if len(wanted) != len(models):
        raise ValueError(f"needed has {len(wanted)} flags for {len(models)} tasks")

    def finished() -> bool:
        """No task whose best is kept is still active (every later epoch would change none of them)."""
        return not any(wanted[i] for i in active())

    def batches(generator: torch.Generator):
        tasks = active()
        n_batches = [-(-len(datas[i].train) // params[i].batch_size) for i in tasks]
        iterators = {i: train_batches(datas[i].train, params[i].batch_size, generator, device) for i in tasks}
        for _ in range(max(n_batches, default=0)):
            step_batches = []
            for i in tasks:
                batch = next(iterators[i], None)
                if batch is None:  # this task ran out: start it over, in a new drawn order
                    iterators[i] = train_batches(datas[i].train, params[i].batch_size, generator, device)
                    batch = next(iterators[i])
                step_batches.append((i, batch))
            yield step_batches

    def step(step_batches: list[tuple[int, tuple[torch.Tensor, torch.Tensor]]]) -> tuple[torch.Tensor, int]:
        total = sum(losses[i](inputs, targets) for i, (inputs, targets) in step_batches)
        return total, sum(inputs.shape[0] for _, (inputs, _) in step_batches)

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
    # the loop stops once no task improved for the longest patience (every task has left by then)
    # or at the largest epoch cap
    loop = LoopConfig(epochs=max(p.epochs for p in params), patience=max(p.patience for p in params), lr=backbone_lr,
                      weight_decay=params[0].weight_decay, validate_initial=True,
                      initial_score=0.0)  # no improvement yet: the initial scores are each task's first best
    result = fit(Objective(groups, step, batches, validate, get_state, set_state, finished), loop,
                 ctx.replace(checkpoint=None))
    for model in models:
        model.eval()
    return result, bests
