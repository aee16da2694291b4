"""Baselines that train a whole SASRec with each task; each task's artifact holds the backbone
as it was after that task. Their backbone learning rate is chosen per task on validation from
backbone_lr_grid (from scratch: around the pretraining rate; fine-tuning: below it)."""
from __future__ import annotations

from pcl_pipeline.methods.base import Method

FINE_ALL = Method("FineAll", "a copy of the pretrained backbone fine-tuned fully with the task's adapter",
                  backbone="finetune", prompt=False, backbone_lr_grid=(1e-4, 1e-3))
SIN_MO = Method("SinMo", "a fresh SASRec (same architecture) trained from scratch with the task's adapter",
                backbone="scratch", prompt=False, backbone_lr_grid=(1e-3, 3e-3))
SEQ_FT = Method("SeqFT", "one encoder fine-tuned on the tasks in sequence, a head per task; earlier heads are "
                        "scored with the current encoder (forgetting)", backbone="sequential", prompt=False,
                backbone_lr_grid=(1e-4, 1e-3))
