"""The one training loop: seeded, resumable from its checkpoint, early stopping on validation.

Pretraining and prompt tuning differ only in the Objective they pass in (what trains, one step,
one epoch's batches, validation); the run itself (seed, device, checkpoint, fingerprint,
callbacks) is a TrainContext (training/context.py), the schedule a LoopConfig.
"""
from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from pcl_pipeline.store.files import atomic_path
from pcl_pipeline.training.context import TrainContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    """The schedule: how long, how fast, when to stop."""
    epochs: int  # upper bound on epochs
    patience: int  # stop after this many epochs without a better validation score
    lr: float
    weight_decay: float
    # validate the initial state too (epoch 0): a model that starts from what a frozen backbone
    # knows may already be the best, and training must then leave it as it was
    validate_initial: bool = False
    # the initial state's validation score when the caller already knows it (validate() is then
    # not called for epoch 0); only read with validate_initial
    initial_score: float | None = None
    # learning-rate schedule (per epoch; the defaults leave lr constant):
    # linear warm-up: epoch e <= warmup_epochs trains at lr * e / (warmup_epochs + 1)
    warmup_epochs: int = 0
    # plateau decay: multiply the lr by decay_factor after decay_patience epochs without a better
    # validation score (counted from the best epoch or the last cut, whichever is later); None: never
    decay_patience: int | None = None
    decay_factor: float = 0.5
    # stop once the lr has been cut max_decays times and a further decay_patience epochs bring no
    # better score (converged at the smallest step); None: only `patience` stops early
    max_decays: int | None = None
    # write the resume checkpoint after an epoch once this many seconds have passed since the last
    # one (0: after every epoch): a run killed mid-way loses at most this much training, and a
    # short fit writes none (it would cost more than it saves)
    checkpoint_seconds: float = 30.0

    def lr_scale(self, epoch: int, cuts: int) -> float:
        """Multiplier of `lr` for `epoch` (1-based) after `cuts` plateau cuts."""
        warm = epoch / (self.warmup_epochs + 1) if epoch <= self.warmup_epochs else 1.0
        return warm * self.decay_factor ** cuts


@dataclass(frozen=True)
class Objective:
    """What a fit trains and how it measures it.

    params: a list of parameters (all at the loop's lr) or of Adam parameter groups, a group's own
    "lr" being its base rate (e.g. a backbone fine-tuned slower than a fresh head); the schedule
    (warm-up, plateau cuts) scales every group's base rate alike. step(batch) returns (loss,
    number of sequences in the batch); batches(generator) yields one epoch of batches in an order
    drawn from `generator` (seeded per epoch, so a resumed run sees the same order); validate()
    is the score model selection uses (higher is better: test data never reaches the loop);
    get_state/set_state read and restore what the checkpoint and the best state hold; finished(),
    when given, is asked after each epoch's validation whether the objective has nothing left to
    learn (the loop then ends, stop_reason "finished"), before the cap or patience would end it.
    """
    params: list[torch.nn.Parameter] | list[dict]
    step: Callable[[object], tuple[torch.Tensor, int]]
    batches: Callable[[torch.Generator], Iterable[object]]
    validate: Callable[[], float]
    get_state: Callable[[], dict[str, torch.Tensor]]
    set_state: Callable[[dict[str, torch.Tensor]], None]
    finished: Callable[[], bool] | None = None


@dataclass
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_score: float  # validation score of best_state (higher is better)
    best_epoch: int  # 1-based
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, loss, valid, seconds
    train_seconds: float = 0.0
    samples_seen: int = 0  # training sequences processed (for throughput)
    # "cap" (ran all epochs), "patience", "converged" (lr cut max_decays times) or "finished" (the
    # objective said so: Objective.finished)
    stop_reason: str = "cap"
    recipe: dict = field(default_factory=dict)  # batch size, lr, warm-up the run used (training/acceleration.py)
    # > 0: this result was read back from a FitMemo (training/memo.py), not trained here; the
    # seconds the fit took when it was trained
    reused_seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def throughput(self) -> float:
        """Training sequences per second over the epochs run in this process."""
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    def record(self) -> dict:
        """Everything but the best state (JSON-able): what a FitMemo stores beside the tensors."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("best_state", "reused_seconds")}

    @classmethod
    def from_record(cls, best_state: dict[str, torch.Tensor], record: dict, seconds: float) -> "FitResult":
        """A fit read back (training/memo.py): `seconds` is what it took when it was trained."""
        return cls(best_state=best_state, **record, reused_seconds=seconds)

    def manifest_fields(self, selected_on: str) -> dict:
        """What an artifact's manifest records about the fit that made it; `selected_on` names
        the validation score model selection maximised (best_valid_<selected_on>)."""
        return {"best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "stop_reason": self.stop_reason,
                "selected_on": selected_on, f"best_valid_{selected_on}": self.best_score, "history": self.history,
                "throughput_seq_per_s": self.throughput, "recipe": self.recipe}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(objective: Objective, cfg: LoopConfig, ctx: TrainContext) -> FitResult:
    """Train `objective.params` with Adam under `cfg`'s schedule; after every epoch validate, keep
    the best state, and write ctx.checkpoint when cfg.checkpoint_seconds have passed since the
    last one (a checkpoint of another ctx.fingerprint is not resumed)."""
    seed_everything(ctx.seed)
    get_state, set_state, validate = objective.get_state, objective.set_state, objective.validate
    checkpoint = ctx.checkpoint
    optimizer = make_optimizer(objective.params, cfg)
    result = FitResult(best_state=_clone(get_state()), best_score=float("-inf"), best_epoch=0)
    start_epoch = 1
    schedule = {"cuts": 0, "last_cut": 0}  # plateau cuts so far and the epoch of the last one
    saved = _read_checkpoint(checkpoint) if checkpoint is not None and checkpoint.exists() else None
    if saved is not None:
        if saved.get("fingerprint") == ctx.fingerprint:
            set_state(saved["state"])
            optimizer.load_state_dict(saved["optimizer"])
            result.best_state, result.best_score = saved["best_state"], saved["best_score"]
            result.best_epoch, result.history = saved["best_epoch"], saved["history"]
            torch.set_rng_state(saved["torch_rng"])
            schedule = dict(saved["schedule"])
            result.stop_reason = saved["stop_reason"]
            start_epoch = saved["epoch"] + 1
            log.info("resuming from %s at epoch %d", checkpoint, start_epoch)
        else:
            log.info("ignoring checkpoint %s: it belongs to another model, data or config", checkpoint)

    if start_epoch == 1 and cfg.validate_initial:
        result.best_score = cfg.initial_score if cfg.initial_score is not None else validate()
        result.best_epoch = 0
        log.info("epoch 0 (initial state) valid %.4f", result.best_score)
    last_checkpoint = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs + 1):
        if result.stop_reason != "cap":
            break
        if epoch - result.best_epoch > cfg.patience and result.best_score > float("-inf"):
            result.stop_reason = "patience"
            break
        scale = cfg.lr_scale(epoch, schedule["cuts"])
        lr = cfg.lr * scale
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * scale
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(ctx.seed * 100_003 + epoch)
        # the epoch's loss is summed on the loss's device and read once at its end: no step waits
        # for the device (a GPU step is then queued while the previous one runs)
        total, n_batches = None, 0
        for batch in objective.batches(generator):
            loss, n = objective.step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total = loss.detach().double() if total is None else total + loss.detach().double()
            n_batches += 1
            result.samples_seen += n
        epoch_loss = total.item() / n_batches if total is not None else 0.0
        if not math.isfinite(epoch_loss):  # a NaN or inf step makes the sum non-finite
            raise FloatingPointError(f"training loss became {epoch_loss} at epoch {epoch}")
        train_time = time.perf_counter() - t0
        result.train_seconds += train_time
        score = validate()
        record = {"epoch": epoch, "loss": epoch_loss, "valid": score, "lr": lr,
                  "seconds": time.perf_counter() - t0}
        result.history.append(record)
        if score > result.best_score:
            result.best_score, result.best_epoch = score, epoch
            result.best_state = _clone(get_state())
        if cfg.decay_patience is not None and epoch > cfg.warmup_epochs \
                and epoch - max(result.best_epoch, schedule["last_cut"]) >= cfg.decay_patience:
            if cfg.max_decays is not None and schedule["cuts"] >= cfg.max_decays:
                result.stop_reason = "converged"
            else:
                schedule = {"cuts": schedule["cuts"] + 1, "last_cut": epoch}
        if objective.finished is not None and objective.finished():
            result.stop_reason = "finished"
        log.info("epoch %d loss %.4f valid %.4f (best %.4f @ %d) lr %.2g %.1fs", epoch, record["loss"], score,
                 result.best_score, result.best_epoch, lr, record["seconds"])
        if ctx.on_epoch is not None:
            ctx.on_epoch(record)
        if checkpoint is not None and ctx.write_checkpoint \
                and time.perf_counter() - last_checkpoint >= cfg.checkpoint_seconds:
            _save_checkpoint(checkpoint, cfg, ctx.fingerprint, epoch, get_state(), optimizer, result, schedule)
            last_checkpoint = time.perf_counter()
    set_state(result.best_state)
    if checkpoint is not None and ctx.write_checkpoint and checkpoint.exists():
        checkpoint.unlink()  # finished: the artifact is the result; a checkpoint only serves an interrupted run
    return result


def make_optimizer(params: list[torch.nn.Parameter] | list[dict], cfg: LoopConfig) -> torch.optim.Adam:
    """Adam with its fused kernel (one operation per step for all tensors of a device, CPU or
    CUDA) where the parameters allow it, else the multi-tensor (foreach) implementation; each
    group's "base_lr" is its rate before the schedule scales it."""
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors)
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 **({"fused": True} if fused else {"foreach": True}))
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]
    return optimizer


def _read_checkpoint(path: Path) -> dict | None:
    """A checkpoint this loop wrote, loaded without running pickled code (weights_only=True: only
    tensors, numbers, strings and containers). Anything else (a file planted in PCL_HOME, a
    foreign or damaged file) is not resumed from: it is moved aside to <name>.rejected, nothing is
    executed or lost, and training starts fresh."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict):
            raise TypeError(f"a {type(saved).__name__}, not a checkpoint dict")
        return saved
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, it must not stop or steer training
        rejected = path.with_name(path.name + ".rejected")
        os.replace(path, rejected)
        log.warning("%s is not a checkpoint this pipeline can resume from (%s: %s); moved to %s, training "
                    "from the start", path, type(exc).__name__, str(exc).splitlines()[0][:200], rejected)
        return None


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _save_checkpoint(path: Path, cfg: LoopConfig, fingerprint: str, epoch: int, state: dict,
                     optimizer: torch.optim.Optimizer, result: FitResult, schedule: dict) -> None:
    payload = {
        "fingerprint": fingerprint, "config": asdict(cfg), "epoch": epoch, "state": _clone(state),
        "optimizer": optimizer.state_dict(), "best_state": result.best_state, "best_score": result.best_score,
        "best_epoch": result.best_epoch, "history": result.history, "torch_rng": torch.get_rng_state(),
        "schedule": schedule, "stop_reason": result.stop_reason,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
