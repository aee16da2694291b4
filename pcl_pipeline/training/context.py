"""What one training run is, apart from its model, data and hyperparameters: the seed, the device
and how it is used, where it checkpoints, what identifies it, and who hears about its epochs.

Every training entry point (training.loop.fit, pretrain_backbone, tune_task, tune_jointly) takes
one TrainContext instead of the same six keyword arguments each, and a caller that trains several
models in one run derives each one's context from its own (`with_fingerprint`, `replace`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from pcl_pipeline.training.acceleration import OFF, Acceleration
from pcl_pipeline.training.memo import FitMemo

CPU = torch.device("cpu")


@dataclass(frozen=True)
class TrainContext:
    seed: int
    device: torch.device = CPU
    # identifies model + data + config: a checkpoint written under another fingerprint is not resumed
    fingerprint: str = ""
    # how training fills the device (training/acceleration.py); None: off for the training
    # functions, chosen from the device by the stages (on for CUDA, off for the CPU)
    acceleration: Acceleration | None = None
    checkpoint: Path | None = None  # the resume checkpoint (None: never written, never read)
    on_epoch: Callable[[dict], None] | None = None  # called with every epoch's record
    # False reads a checkpoint but never writes or removes it (the other ranks of a data-parallel run)
    write_checkpoint: bool = True
    # fits already run, read back instead of run again (training/memo.py; the study sets it,
    # the pipeline does not)
    memo: FitMemo | None = None

    @property
    def applied_acceleration(self) -> Acceleration:
        """The acceleration training applies (off when none was chosen)."""
        return self.acceleration or OFF

    def replace(self, **changes) -> "TrainContext":
        return dataclasses.replace(self, **changes)

    def with_fingerprint(self, *parts: str) -> "TrainContext":
        """This context, its fingerprint extended by `parts` (e.g. the training recipe's key)."""
        return self.replace(fingerprint=":".join([self.fingerprint, *parts]))
