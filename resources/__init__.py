"""Dagster resources: the seams to the outside world (artifact store, data sources and seed,
text encoder, torch device; DuckDB comes from dagster-duckdb)."""
from resources.compute import TorchResource
from resources.experiment import ExperimentResource
from resources.store import StoreResource
from resources.study import StudyResource
from resources.text import TextEncoderResource

__all__ = ["ExperimentResource", "StoreResource", "StudyResource", "TextEncoderResource", "TorchResource"]
