"""Adapter-only (PeterRec-style): frozen backbone + a per-task adapter, no prompts."""
from __future__ import annotations

from pcl_pipeline.study.methods.base import Method

ADAPTER = Method("Adapter", "adapter only; backbone frozen; no prompt, no contextual module", prompt=False)
