"""Full-ranking metrics for item tasks: target rank, HR@k, NDCG@k, MRR@k.

Protocol (PAPER.md): every candidate of the task's vocabulary is ranked, items already in the
user's history are excluded, and ties are broken pessimistically. Column 0 is padding.
"""
from __future__ import annotations

import math

import torch

DEFAULT_KS: tuple[int, ...] = (5, 10)


def _check_rank_inputs(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None
) -> None:
    """Raise ValueError naming the bad argument, its value and the expected form."""
    if scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError(
            f"scores: got shape {tuple(scores.shape)} dtype {scores.dtype}; "
            "expected a float (N, V) tensor"
        )
    n, v = scores.shape
    if v < 2:
        raise ValueError(f"scores: got V={v} columns; expected V >= 2 (column 0 is padding)")
    if targets.shape != (n,) or targets.dtype != torch.long:
        raise ValueError(
            f"targets: got shape {tuple(targets.shape)} dtype {targets.dtype}; "
            f"expected a long ({n},) tensor"
        )
    bad = (targets < 1) | (targets >= v)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"targets: row {row} has item id {int(targets[row])}; expected an id in [1, {v}) "
            "(0 is padding, never a target)"
        )
    if exclude is not None and (exclude.shape != scores.shape or exclude.dtype != torch.bool):
        raise ValueError(
            f"exclude: got shape {tuple(exclude.shape)} dtype {exclude.dtype}; "
            f"expected a bool {tuple(scores.shape)} tensor or None"
        )
    nan = torch.isnan(scores)
    if nan.any():
        row, col = (int(i) for i in nan.nonzero()[0])
        raise ValueError(
            f"scores: NaN at row {row}, column {col} ({int(nan.sum())} NaN in all); "
            "expected finite scores or -inf (a NaN is a model bug, not a rank)"
        )


def target_ranks(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """0-based rank of each row's target among all candidates.

    scores (N, V) float; targets (N,) long with ids in [1, V) (0 is padding: ValueError);
    exclude (N, V) bool or None marks candidates removed from the ranking (items already in the
    user's history). The target itself is never excluded, even if marked. Ties are pessimistic:
    every other non-excluded candidate whose score is >= the target's counts as ranked above it.
    Column 0 is padding and always excluded. NaN in scores raises ValueError.
    Returns (N,) long on the device of scores.
    """
    _check_rank_inputs(scores, targets, exclude)
    rows = torch.arange(scores.shape[0], device=scores.device)
    target_score = scores[rows, targets].unsqueeze(1)  # (N, 1)
    # >= rather than >: a model that scores everything equal must not look perfect.
    above = scores >= target_score  # (N, V)
    if exclude is not None:
        above &= ~exclude
    above[:, 0] = False  # padding is never a candidate
    above[rows, targets] = False  # the target does not outrank itself, excluded or not
    return above.sum(dim=1)  # (N,)


def _check_ks(ks: tuple[int, ...]) -> None:
    if len(ks) == 0 or any(not isinstance(k, int) or k < 1 for k in ks) or len(set(ks)) != len(ks):
        raise ValueError(f"ks: got {ks!r}; expected distinct positive ints, e.g. (5, 10)")


def ranking_metrics(ranks: torch.Tensor, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
    """Means over rows of HR@k, NDCG@k and MRR@k for each k, from 0-based target ranks.

    With one relevant item per row: HR@k = 1[rank < k], NDCG@k = 1/log2(rank + 2) if rank < k
    else 0, MRR@k = 1/(rank + 1) if rank < k else 0. Keys are 'hr@k', 'ndcg@k', 'mrr@k' in the
    order of ks. ranks (N,) integer, non-negative; empty input raises ValueError.
    """
    _check_ks(ks)
    if ranks.dim() != 1 or ranks.is_floating_point() or ranks.dtype == torch.bool:
        raise ValueError(
            f"ranks: got shape {tuple(ranks.shape)} dtype {ranks.dtype}; "
            "expected an integer (N,) tensor"
        )
    if ranks.numel() == 0:
        raise ValueError("ranks: got 0 rows; a metric over no rows is undefined, not 0")
    if (ranks < 0).any():
        raise ValueError(f"ranks: got minimum {int(ranks.min())}; expected 0-based ranks >= 0")
    r = ranks.to(torch.float64)  # (N,) float64 so means over 100k rows do not drift
    out: dict[str, float] = {}
    for k in ks:
        hit = r < k  # (N,)
        out[f"hr@{k}"] = hit.double().mean().item()
        out[f"ndcg@{k}"] = torch.where(hit, math.log(2.0) / torch.log(r + 2.0), 0.0).mean().item()
        out[f"mrr@{k}"] = torch.where(hit, 1.0 / (r + 1.0), 0.0).mean().item()
    return out


class RankingAccumulator:
    """Streams batches of scores into target ranks, so 100k users never need one (N, V) matrix.

    Only the (N,) ranks are kept, on the CPU; result() equals ranking_metrics over all rows.
    """

    def __init__(self) -> None:
        self._ranks: list[torch.Tensor] = []

    def add(
        self, scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Rank one batch (same contract as target_ranks) and keep its ranks; returns them."""
        batch = target_ranks(scores, targets, exclude).cpu()  # (B,)
        self._ranks.append(batch)
        return batch

    def add_ranks(self, ranks: torch.Tensor) -> None:
        """Keep ranks computed elsewhere (e.g. misses of targets outside the vocabulary)."""
        self._ranks.append(ranks.long().cpu())

    def __len__(self) -> int:
        return sum(int(r.numel()) for r in self._ranks)

    def ranks(self) -> torch.Tensor:
        """(N,) long: every rank added so far, in order of addition."""
        if not self._ranks:
            return torch.empty(0, dtype=torch.long)
        return torch.cat(self._ranks)

    def result(self, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
        """ranking_metrics over every row added so far; ValueError if nothing was added."""
        return ranking_metrics(self.ranks(), ks)
