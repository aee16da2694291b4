"""Baselines that train a whole SASRec with each task; each task's artifact holds the backbone
as it was after that task."""
from __future__ import annotations

from pcl_pipeline.methods.base import Method

FINE_ALL = Method("FineAll", "a copy of the pretrained backbone fine-tuned fully with the task's adapter",
                  backbone="finetune", prompt=False)
SIN_MO = Method("SinMo", "a fresh SASRec (same architecture) trained from scratch with the task's adapter",
                backbone="scratch", prompt=False)
SEQ_FT = Method("SeqFT", "one encoder fine-tuned on the tasks in sequence, a head per task; earlier heads are "
                        "scored with the current encoder (forgetting)", backbone="sequential", prompt=False)
