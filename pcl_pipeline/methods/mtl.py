"""MTL: one copy of the pretrained backbone fine-tuned jointly on every task after T1, a head
per task (training/multitask.py). Not continual: it needs all tasks at once, and adding a task
retrains everything; the study runs it as the upper reference the paper compares PCL with."""
from __future__ import annotations

from pcl_pipeline.methods.base import Method

MTL = Method("MTL", "one backbone copy fine-tuned jointly on all tasks after T1, an adapter per task",
             backbone="joint", prompt=False, backbone_lr_grid=(1e-4, 1e-3))
