"""What the reproduction study runs: its seeds, the catalog it permutes, how many steps at once."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource


class StudyResource(ConfigurableResource):
    tasks_dir: str  # the catalog (the task-order study reloads it in every order)
    seeds: list[int] = [0, 1, 2]  # PCL_STUDY_SEEDS
    # PCL_STUDY_TUNING_SEED: each method's settings are chosen on its validation split (never reported)
    tuning_seed: Optional[int] = 100
    workers: int = 2  # PCL_STUDY_WORKERS: study steps at once (the study job's max_concurrent)
    # non-catalog task orders per seed, taken in turn from every permutation so that the seeds
    # cover them all (None: every order on every seed); the order effect is judged over all seeds
    orders_per_seed: Optional[int] = 1
    markdown: Optional[str] = None  # PCL_STUDY_MARKDOWN; None: $PCL_HOME/reports/study.md

    def use_threads(self) -> int:
        """Give this step its share of the CPU cores (steps run `workers` at once); the count."""
        import torch  # with the step, not the definitions (resources/compute.py)

        threads = max(1, (os.cpu_count() or 1) // self.workers)
        torch.set_num_threads(threads)
        return threads

    def markdown_path(self) -> Path | None:
        return Path(self.markdown) if self.markdown else None
