"""Adapter-only (PeterRec-style): frozen backbone + a per-task adapter, no prompts."""
from __future__ import annotations

from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.cards import CARDS

ADAPTER = Method.of(CARDS["Adapter"])
