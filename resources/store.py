"""The artifact store as a Dagster resource: PCL_HOME and the task order of each dataset."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:  # the store reads tensors (torch): imported by the steps, not the definitions
    from pcl_pipeline.store.artifact_store import ArtifactStore, DatasetStore


class StoreResource(ConfigurableResource):
    """Every artifact's path, save and load (pcl_pipeline.store) under `home`."""

    home: str  # PCL_HOME
    task_orders: dict[str, list[str]] = {}  # dataset -> tasks after T1, when not in catalog order

    def store(self) -> ArtifactStore:
        from pcl_pipeline.store.artifact_store import ArtifactStore

        return ArtifactStore(Path(self.home))

    def dataset(self, dataset: str) -> DatasetStore:
        from pcl_pipeline.store.artifact_store import variant_name

        return self.store().dataset(dataset, variant_name(self.task_orders.get(dataset)))
