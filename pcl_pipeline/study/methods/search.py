"""Every method's search space over its own knobs, in one place (equal tuning: the same number of
candidates per method). Each candidate trains a model per task; the best validation score is
kept on the study's tuning seed, which is never reported, and every reported seed reuses that
choice (study/run.py).

Knobs: "lr_factor" multiplies the catalog's learning rate of the task's own parts (prompt,
contextual module, adapter: the knob of the frozen-backbone methods); "backbone_lr" is the rate
of a backbone that trains with the task (fine-tuning: below the pretraining rate 3e-3; from
scratch: around it)."""
from __future__ import annotations

import itertools

from pcl_pipeline.recipe import Candidate

SEARCH_SPACES: dict[str, dict[str, tuple[float, ...]]] = {
    "PCL": {"lr_factor": (1.0, 3.0)},
    "PCL-no-context": {"lr_factor": (1.0, 3.0)},
    "PCL-no-inherit": {"lr_factor": (1.0, 3.0)},
    "PCL-random-text": {"lr_factor": (1.0, 3.0)},
    "Adapter": {"lr_factor": (1.0, 3.0)},
    "FineAll": {"backbone_lr": (1e-4, 1e-3)},
    "SinMo": {"backbone_lr": (1e-3, 3e-3)},
    "SeqFT": {"backbone_lr": (1e-4, 1e-3)},
    "MTL": {"backbone_lr": (1e-4, 1e-3)},
    "TERACON": {"backbone_lr": (1e-4, 1e-3)},
}


def candidates_of(method: str) -> list[Candidate]:
    """The method's candidates: every combination of its knobs' values ([] for a method without
    a declared space: it trains its one default setting)."""
    space = SEARCH_SPACES.get(method, {})
    names = sorted(space)
    return [Candidate(dict(zip(names, values))) for values in itertools.product(*(space[n] for n in names))]
