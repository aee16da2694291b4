"""Dagster resources: the seams to the outside world (storage, DuckDB, text encoder, torch)."""
from resources.compute import TorchResource
from resources.storage import PCLStorage
from resources.text import TextEncoderResource

__all__ = ["PCLStorage", "TextEncoderResource", "TorchResource"]
