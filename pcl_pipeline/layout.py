"""Where every table and artifact lives under PCL_HOME (one place, so nothing hard-codes paths)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pcl_pipeline.artifacts import ArtifactPaths
from pcl_pipeline.data.task_data import StageInputs, TaskDataPaths


@dataclass(frozen=True)
class Layout:
    home: Path  # PCL_HOME
    dataset: str
    variant: str = "default"  # task-order variant: its prompts, evals and report live apart

    @property
    def root(self) -> Path:
        return self.home / self.dataset

    @property
    def embedded_dir(self) -> Path:
        """Where the embedded default writes its synthetic files (in the official formats)."""
        return self.root / "embedded"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def interactions(self) -> Path:
        return self.root / "interactions.parquet"

    @property
    def sequences(self) -> Path:
        return self.root / "sequences.parquet"

    def stage_inputs(self) -> StageInputs:
        return StageInputs(interactions=self.interactions, sequences=self.sequences, raw_dir=self.raw_dir)

    def task_data(self, task: str) -> TaskDataPaths:
        folder = self.root / "task_data"
        return TaskDataPaths(rows=folder / f"{task}.parquet", vocab=folder / f"{task}.vocab.parquet")

    def task_text(self, task: str) -> Path:
        return self.root / "task_text" / f"{task}.json"

    @property
    def backbone(self) -> ArtifactPaths:
        return ArtifactPaths.at(self.root / "backbone", "backbone")

    @property
    def runs(self) -> Path:
        return self.root / "variants" / self.variant

    def prompt(self, task: str) -> ArtifactPaths:
        return ArtifactPaths.at(self.runs / "prompt", task)

    def eval(self, task: str) -> Path:
        return self.runs / "eval" / f"{task}.json"

    def curve(self, name: str) -> Path:
        return self.runs / "curves" / f"{name}.png"

    def checkpoint(self, name: str) -> Path:
        """A task's training checkpoint (only while a run is interrupted)."""
        return self.runs / "checkpoints" / f"{name}.pt"

    @property
    def backbone_checkpoint(self) -> Path:
        """The backbone is shared by every task-order variant, and so is its checkpoint."""
        return self.root / "checkpoints" / "backbone.pt"

    @property
    def report(self) -> Path:
        return self.runs / "report.json"


def reports_dir(home: Path) -> Path:
    return home / "reports"
