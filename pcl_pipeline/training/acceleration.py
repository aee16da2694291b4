"""How training fills the device: batch size, learning rate and warm-up scaled together, data
resident on the device, a loss without data-dependent shapes. Chosen automatically from the
device (PCL_ACCELERATION=auto): on for CUDA, off for the CPU, where a batch of 128 already keeps
the cores busy and the catalog's settings are what the reported CPU numbers were tuned with.

A GPU at batch 128 is launch-bound (docs/results.md: batch 4096 gives 11x the throughput), so
the large-batch recipe multiplies the catalog's batch by up to `batch_multiplier`, but keeps at
least `min_steps_per_epoch` optimizer steps per epoch (a small data set gets a smaller factor, so
it still takes enough steps to converge). Adam's learning rate grows with the square root of the
factor (the square-root rule for adaptive optimizers: the gradient noise shrinks with sqrt(k))
and one more epoch of linear warm-up absorbs the larger first steps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from pcl_pipeline.data.splits import Split

Mode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Acceleration:
    enabled: bool = False
    # at most 4x (batch 128 -> 512): on scale-3 tenrec T2, validation NDCG@10 fell 0.8% at 4x,
    # 3.0% at 8x (benchmarks/bench_recipe.py, docs/results.md)
    batch_multiplier: int = 4
    min_steps_per_epoch: int = 16  # a factor that would leave fewer steps per epoch is lowered
    max_lr: float = 1e-2  # the scaled learning rate never exceeds this (Adam on a transformer)
    extra_warmup_epochs: int = 1  # added to the catalog's warm-up when the batch grows
    # torch.compile T1's loss (PCL_TORCH_COMPILE; CUDA: mode reduce-overhead, i.e. CUDA graphs).
    # Off unless asked: a compile costs tens of seconds per model and shape, more than a
    # scale-3 backbone trains, and its gain on the GPU is not measured yet (benchmarks/gpu_check.sh)
    compile: bool = False

    def scale(self, batch_size: int, lr: float, warmup_epochs: int, n_rows: int) -> "Recipe":
        """The batch, learning rate and warm-up to train n_rows rows with."""
        if not self.enabled:
            return Recipe(batch_size, lr, warmup_epochs, 1)
        factor = 1
        while factor * 2 <= self.batch_multiplier and n_rows / (batch_size * factor * 2) >= self.min_steps_per_epoch:
            factor *= 2
        if factor == 1:
            return Recipe(batch_size, lr, warmup_epochs, 1)
        return Recipe(batch_size * factor, min(lr * math.sqrt(factor), max(lr, self.max_lr)),
                      warmup_epochs + self.extra_warmup_epochs, factor)

    def place(self, split: Split, device: torch.device) -> Split:
        """The training split where its batches are gathered: on the device under the recipe
        (moved once, no copy per step), where it is otherwise."""
        return split.to(device) if self.enabled else split


@dataclass(frozen=True)
class Recipe:
    """What one training run uses; recorded in its artifact's manifest."""

    batch_size: int
    lr: float
    warmup_epochs: int
    batch_factor: int  # batch_size / the catalog's batch size

    @property
    def key(self) -> str:
        """Part of a checkpoint's fingerprint: a run with another recipe does not resume it."""
        return f"b{self.batch_size}-lr{self.lr:g}-w{self.warmup_epochs}"

    def lr_factor(self, catalog_lr: float) -> float:
        return self.lr / catalog_lr

    def as_dict(self) -> dict:
        return asdict(self)


OFF = Acceleration(enabled=False)


def resolve(mode: Mode, device: torch.device, compile: bool = False) -> Acceleration:
    """auto: on for CUDA, off otherwise; on/off force it (on a CPU: to measure what the recipe
    does to quality without a GPU). compile needs the recipe on (its loss has static shapes)."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"acceleration: got {mode!r}; expected auto, on or off")
    enabled = device.type == "cuda" if mode == "auto" else mode == "on"
    return Acceleration(enabled=enabled, compile=compile and enabled)
