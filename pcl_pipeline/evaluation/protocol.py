"""The evaluation protocol of PAPER.md: a model's scores on a split, beside its trivial baseline.

Item tasks: full ranking over the task's target vocabulary, items of the user's input history
excluded (for the model and for popularity alike), pessimistic ties, plus the cold-start slice.
Classification: accuracy, macro-F1 (AUC when binary) beside the majority class.
"""
from __future__ import annotations

from typing import Callable

import torch

from pcl_pipeline.data.splits import NextItemData, Split, batch_indices
from pcl_pipeline.evaluation.baselines import cold_start_mask, majority_class, majority_scores, popularity_scores
from pcl_pipeline.evaluation.classification import classification_metrics
from pcl_pipeline.evaluation.ranking import RankingAccumulator, ranking_metrics
from pcl_pipeline.model.sasrec import SASRec

Scorer = Callable[[torch.Tensor], torch.Tensor]  # (B, L) inputs on device -> (B, V) scores
COLD_START_MAX_TRAIN = 5  # a test target with at most this many training interactions is cold
SCORE_BUDGET = 1 << 25  # scores held at once (128 MiB of float32): rows per batch shrink as V grows


def rows_per_batch(n_targets: int, cap: int = 512) -> int:
    """Rows of a (rows, V) score matrix that fit the budget, so a million-item vocabulary streams."""
    return max(1, min(cap, SCORE_BUDGET // (n_targets + 1)))


def history_mask(inputs: torch.Tensor, to_target: torch.Tensor | None, n_targets: int) -> torch.Tensor | None:
    """(B, n_targets + 1) bool: the targets that are items of the user's input history.

    to_target maps backbone item ids to the task's target ids (0 = not in the task vocabulary);
    None means the task's items live in another namespace and nothing is excluded.
    """
    if to_target is None:
        return None
    mapped = to_target[inputs]  # (B, L)
    mask = torch.zeros(inputs.shape[0], n_targets + 1, dtype=torch.bool)
    mask.scatter_(1, mapped, True)
    mask[:, 0] = False  # padding is dropped by the ranking itself
    return mask


@torch.no_grad()
def split_ranks(score: Scorer, split: Split, to_target: torch.Tensor | None, n_targets: int,
                device: torch.device) -> torch.Tensor:
    """0-based pessimistic rank of every row's target, streamed in batches."""
    acc = RankingAccumulator()
    for idx in batch_indices(len(split), rows_per_batch(n_targets)):
        inputs = split.inputs[idx]
        scores = score(inputs.to(device)).float().cpu()  # (B, V)
        acc.add(scores, split.targets[idx], history_mask(inputs, to_target, n_targets))
    return acc.ranks()


def popularity_ranks(test: Split, train_items: torch.Tensor, to_target: torch.Tensor | None,
                     n_targets: int) -> torch.Tensor:
    popular = popularity_scores(train_items, n_targets + 1)  # (V,)
    acc = RankingAccumulator()
    for idx in batch_indices(len(test), rows_per_batch(n_targets)):
        acc.add(popular.expand(len(idx), -1), test.targets[idx], history_mask(test.inputs[idx], to_target, n_targets))
    return acc.ranks()


def evaluate_ranking(score: Scorer, test: Split, train_items: torch.Tensor, to_target: torch.Tensor | None,
                     n_targets: int, device: torch.device) -> dict:
    """Metrics, popularity baseline and cold-start slice of an item task on `test`.

    train_items: every training interaction of the task's target items (any shape, 0 = padding);
    it defines both the popularity ranking and which test targets are cold.
    """
    ranks = split_ranks(score, test, to_target, n_targets, device)
    base = popularity_ranks(test, train_items, to_target, n_targets)
    cold = cold_start_mask(test.targets, train_items[train_items > 0], n_targets + 1, COLD_START_MAX_TRAIN)
    result = {"metrics": ranking_metrics(ranks), "baselines": ranking_metrics(base),
              "baseline_name": "popularity", "n_test": len(test)}
    n_cold = int(cold.sum())
    result["cold_start"] = {"n": n_cold}
    if n_cold:
        result["cold_start"].update({"model": ranking_metrics(ranks[cold]), "popularity": ranking_metrics(base[cold])})
    return result


def evaluate_next_item(model: SASRec, data: NextItemData, device: torch.device) -> dict:
    """T1 test metrics of the backbone beside popularity over the training sequences, with the
    cold-start slice."""
    return evaluate_ranking(model.full_sort_scores, data.test, data.train.inputs, data.to_target, data.n_items,
                            device)


@torch.no_grad()
def split_scores(score: Scorer, split: Split, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    return torch.cat([score(split.inputs[idx].to(device)).float().cpu() for idx in batch_indices(len(split), batch_size)])


def evaluate_classification(score: Scorer, test: Split, train_labels: torch.Tensor, n_classes: int,
                            device: torch.device) -> dict:
    """Metrics of a classification task on `test`, beside the majority class of the training split."""
    metrics = classification_metrics(test.targets, split_scores(score, test, device))
    majority = majority_class(train_labels)
    base = classification_metrics(test.targets, majority_scores(len(test), n_classes, majority))
    baselines = {**base, "majority_accuracy": base["accuracy"]}
    return {"metrics": metrics, "baselines": baselines, "baseline_name": "majority", "n_test": len(test),
            "majority_class": majority}
