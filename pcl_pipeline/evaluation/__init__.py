"""Evaluation library: torch tensors in, plain floats out. Knows nothing of Dagster."""
from pcl_pipeline.evaluation.baselines import (
    cold_start_mask,
    majority_class,
    majority_scores,
    popularity_scores,
)
from pcl_pipeline.evaluation.classification import classification_metrics
from pcl_pipeline.evaluation.ranking import RankingAccumulator, ranking_metrics, target_ranks

__all__ = [
    "RankingAccumulator",
    "classification_metrics",
    "cold_start_mask",
    "majority_class",
    "majority_scores",
    "popularity_scores",
    "ranking_metrics",
    "target_ranks",
]
