"""Using what the pipeline trained: score histories with a stored task (no Dagster)."""
from pcl_pipeline.serving.predictor import TaskPredictor

__all__ = ["TaskPredictor"]
