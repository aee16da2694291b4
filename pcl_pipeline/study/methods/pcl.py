"""PCL and its ablations: frozen backbone, prompt (+ contextual module) and adapter per task."""
from __future__ import annotations

from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.cards import CARDS

PCL = Method.of(CARDS["PCL"])
PCL_NO_CONTEXT = Method.of(CARDS["PCL-no-context"])
PCL_NO_INHERIT = Method.of(CARDS["PCL-no-inherit"])
PCL_RANDOM_TEXT = Method.of(CARDS["PCL-random-text"])
