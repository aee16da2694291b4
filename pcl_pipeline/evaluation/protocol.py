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
from pcl_pipeline.evaluation.ranking import RankingAccumulator, ranking_metrics, target_ranks
from pcl_pipeline.model.sasrec import SASRec

Scorer = Callable[[torch.Tensor], torch.Tensor]  # (B, L) inputs on device -> (B, V) scores
COLD_START_MAX_TRAIN = 5  # a test target with at most this many training interactions is cold
MISS_RANK = 1 << 40  # rank of a target outside the vocabulary: beyond every cutoff, even with V < k
SCORE_BUDGET = 1 << 25  # scores held at once (128 MiB of float32): rows per batch shrink as V grows


def rows_per_batch(n_targets: int, cap: int = 512) -> int:
    """Rows of a (rows, V) score matrix that fit the budget, so a million-item vocabulary streams."""
    return max(1, min(cap, SCORE_BUDGET // (n_targets + 1)))


def history_mask(inputs: torch.Tensor, to_target: torch.Tensor | None, n_targets: int) -> torch.Tensor | None:
    """(B, n_targets + 1) bool: the targets that are items of the user's input history.

    inputs (B, H) must be the whole input history (Split.full_history), not only the last L
    items the model reads: a user rates a movie once, whenever it was.
    to_target maps backbone item ids to the task's target ids (0 = not in the task vocabulary);
    None means the task's items live in another namespace and nothing is excluded.
    """
    if to_target is None:
        return None
    mapped = to_target[inputs]  # (B, L)
    mask = torch.zeros(inputs.shape[0], n_targets + 1, dtype=torch.bool, device=inputs.device)
    mask.scatter_(1, mapped, True)
    mask[:, 0] = False  # padding is dropped by the ranking itself
    return mask


def _add_batch(acc: RankingAccumulator, scores: torch.Tensor, targets: torch.Tensor,
               exclude: torch.Tensor | None, n_targets: int) -> None:
    """Rank one batch; a target 0 (outside the task's vocabulary) is a miss at MISS_RANK,
    since no model could have ranked it."""
    known = targets > 0  # (B,)
    if bool(known.all()):
        acc.add(scores, targets, exclude)
        return
    ranks = torch.full(targets.shape, MISS_RANK, dtype=torch.long, device=targets.device)
    if bool(known.any()):
        ranks[known] = target_ranks(scores[known], targets[known],
                                    exclude[known] if exclude is not None else None)
    acc.add_ranks(ranks)


@torch.no_grad()
def split_ranks(score: Scorer, split: Split, to_target: torch.Tensor | None, n_targets: int,
                device: torch.device) -> torch.Tensor:
    """0-based pessimistic rank of every row's target, streamed in batches; the whole input
    history is excluded, and a target outside the vocabulary is a miss."""
    acc = RankingAccumulator()
    to_target = to_target.to(device) if to_target is not None else None
    for idx in batch_indices(len(split), rows_per_batch(n_targets)):
        # scores, the history mask and the ranks stay on the device: only (B,) ranks come back
        scores = score(split.inputs(idx).to(device)).float()  # (B, V)
        _add_batch(acc, scores, split.targets[idx].to(device),
                   history_mask(split.full_history(idx).to(device), to_target, n_targets), n_targets)
    return acc.ranks()


def popularity_ranks(test: Split, train_items: torch.Tensor, to_target: torch.Tensor | None,
                     n_targets: int) -> torch.Tensor:
    popular = popularity_scores(train_items, n_targets + 1)  # (V,)
    acc = RankingAccumulator()
    for idx in batch_indices(len(test), rows_per_batch(n_targets)):
        _add_batch(acc, popular.expand(len(idx), -1), test.targets[idx],
                   history_mask(test.full_history(idx), to_target, n_targets), n_targets)
    return acc.ranks()


def evaluate_ranking(score: Scorer, test: Split, train_items: torch.Tensor, to_target: torch.Tensor | None,
                     n_targets: int, device: torch.device) -> dict:
    """Metrics, popularity baseline and cold-start slice of an item task on `test`.

    train_items: every training interaction of the task's target items (any shape, 0 = padding);
    it defines both the popularity ranking and which test targets are cold.
    """
    ranks = split_ranks(score, test, to_target, n_targets, device)
    base = popularity_ranks(test, train_items, to_target, n_targets)
    known = test.targets > 0
    cold = ~known  # a target outside the vocabulary has no training interaction: the coldest of all
    if bool(known.any()):
        cold[known] = cold_start_mask(test.targets[known], train_items[train_items > 0], n_targets + 1,
                                      COLD_START_MAX_TRAIN)
    result = {"metrics": ranking_metrics(ranks), "baselines": ranking_metrics(base),
              "baseline_name": "popularity", "n_test": len(test),
              "n_out_of_vocab": int((~known).sum())}  # test targets no training row teaches: counted misses
    n_cold = int(cold.sum())
    result["cold_start"] = {"n": n_cold}
    if n_cold:
        result["cold_start"].update({"model": ranking_metrics(ranks[cold]), "popularity": ranking_metrics(base[cold])})
    return result


def evaluate_next_item(model: SASRec, data: NextItemData, device: torch.device) -> dict:
    """T1 test metrics of the backbone beside popularity over every training interaction (the
    whole training sequences, not only the last L the model reads), with the cold-start slice."""
    train = (data.train.history if data.train.history is not None else data.train.sequences).long()
    return evaluate_ranking(model.full_sort_scores, data.test, train, data.to_target, data.n_items, device)


@torch.no_grad()
def split_scores(score: Scorer, split: Split, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    return torch.cat([score(split.inputs(idx).to(device)).float() for idx in batch_indices(len(split), batch_size)]).cpu()


def evaluate_classification(score: Scorer, test: Split, train_labels: torch.Tensor, n_classes: int,
                            device: torch.device) -> dict:
    """Metrics of a classification task on `test`, beside the majority class of the training split."""
    metrics = classification_metrics(test.targets, split_scores(score, test, device))
    majority = majority_class(train_labels)
    base = classification_metrics(test.targets, majority_scores(len(test), n_classes, majority))
    baselines = {**base, "majority_accuracy": base["accuracy"]}
    return {"metrics": metrics, "baselines": baselines, "baseline_name": "majority", "n_test": len(test),
            "majority_class": majority}
