"""Storage root and data sources: where tables and artifacts go, where real data comes from."""
from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from pcl_pipeline.layout import Layout
from pcl_pipeline.settings import Settings, variant_name


class PCLStorage(ConfigurableResource):
    """PCL_HOME and the data sources of both datasets (unset path = embedded default)."""

    home: str
    movielens_path: str | None = None
    tenrec_path: str | None = None
    synthetic_scale: float = 1.0
    seed: int = 0
    task_orders: dict[str, list[str]] = {}  # dataset -> tasks after T1, when not in catalog order

    @classmethod
    def from_settings(cls, settings: Settings) -> "PCLStorage":
        paths = settings.data_paths
        return cls(home=str(settings.home), seed=settings.seed, synthetic_scale=settings.synthetic_scale,
                   movielens_path=str(paths["movielens"]) if paths["movielens"] else None,
                   tenrec_path=str(paths["tenrec"]) if paths["tenrec"] else None,
                   task_orders=settings.task_orders)

    def layout(self, dataset: str) -> Layout:
        return Layout(Path(self.home), dataset, variant_name(self.task_orders.get(dataset)))

    def data_path(self, dataset: str) -> Path | None:
        value = {"movielens": self.movielens_path, "tenrec": self.tenrec_path}[dataset]
        return Path(value) if value else None

    def source_label(self, dataset: str) -> str:
        path = self.data_path(dataset)
        return "embedded" if path is None else str(path)
