"""What a run is about: the data source of each dataset, the embedded default's scale, the seed."""
from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource


class ExperimentResource(ConfigurableResource):
    """Real data folders (unset = the embedded default), its scale, and the one seed of the run."""

    movielens_path: str | None = None
    tenrec_path: str | None = None
    synthetic_scale: float = 1.0
    seed: int = 0  # data generation, splits and training

    def data_path(self, dataset: str) -> Path | None:
        value = {"movielens": self.movielens_path, "tenrec": self.tenrec_path}[dataset]
        return Path(value) if value else None

    def source_label(self, dataset: str) -> str:
        """'embedded' or the real data path, as reported in metadata and summary.json."""
        path = self.data_path(dataset)
        return "embedded" if path is None else str(path)
