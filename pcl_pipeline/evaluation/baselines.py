"""Trivial baselines reported beside every metric: popularity ranking and majority class.

Also the cold-start slice, since it is defined by the same training-interaction counts.
"""
from __future__ import annotations

import torch


def _item_counts(items: torch.Tensor, vocab_size: int, name: str) -> torch.Tensor:
    """(vocab_size,) long: occurrences of each id in items (any shape); ids checked in range."""
    if items.is_floating_point() or items.dtype == torch.bool:
        raise ValueError(f"{name}: got dtype {items.dtype}; expected integer item ids")
    flat = items.reshape(-1).long()
    bad = (flat < 0) | (flat >= vocab_size)
    if bad.any():
        raise ValueError(
            f"{name}: got item id {int(flat[bad][0])}; expected ids in [0, {vocab_size})"
        )
    return torch.bincount(flat, minlength=vocab_size)


def popularity_scores(train_targets: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(vocab_size,) float: how often each item occurs among the training targets/interactions.

    Any shape of train_targets is accepted (e.g. padded (N, L) sequences): 0 is padding and
    never counted as an item; its score is -inf. Broadcast with .expand(N, -1) into target_ranks,
    which applies the same history exclusion and pessimistic ties as for the model.
    """
    if vocab_size < 2:
        raise ValueError(f"vocab_size: got {vocab_size}; expected >= 2 (0 is padding)")
    scores = _item_counts(train_targets, vocab_size, "train_targets").float()  # (V,)
    scores[0] = float("-inf")
    return scores


def majority_class(train_labels: torch.Tensor) -> int:
    """The most frequent class id among train_labels; a tie goes to the smallest id."""
    if train_labels.numel() == 0:
        raise ValueError("train_labels: got 0 rows; the majority of no labels is undefined")
    if train_labels.is_floating_point() or train_labels.dtype == torch.bool:
        raise ValueError(
            f"train_labels: got dtype {train_labels.dtype}; expected integer class ids"
        )
    if (train_labels < 0).any():
        raise ValueError(f"train_labels: got class {int(train_labels.min())}; expected ids >= 0")
    # torch.argmax returns the first maximum, i.e. the smallest id among tied classes.
    return int(torch.bincount(train_labels.reshape(-1).long()).argmax())


def majority_scores(n_rows: int, n_classes: int, cls: int) -> torch.Tensor:
    """(n_rows, n_classes) one-hot scores predicting cls for every row.

    Goes through the same classification_metrics as the model; its binary margin is constant,
    so every pair ties and the AUC is exactly 0.5.
    """
    if n_rows < 0 or n_classes < 1 or not 0 <= cls < n_classes:
        raise ValueError(
            f"majority_scores: got n_rows={n_rows}, n_classes={n_classes}, cls={cls}; "
            "expected n_rows >= 0, n_classes >= 1 and 0 <= cls < n_classes"
        )
    scores = torch.zeros(n_rows, n_classes)  # (N, C)
    scores[:, cls] = 1.0
    return scores


def cold_start_mask(
    test_targets: torch.Tensor, train_targets: torch.Tensor, vocab_size: int, max_train: int = 5
) -> torch.Tensor:
    """bool (N,): test rows whose target occurs at most max_train times among train_targets.

    test_targets (N,) ids in [1, vocab_size); train_targets any shape, 0 (padding) not counted.
    """
    if test_targets.dim() != 1:
        raise ValueError(f"test_targets: got shape {tuple(test_targets.shape)}; expected (N,)")
    if max_train < 0:
        raise ValueError(f"max_train: got {max_train}; expected >= 0")
    _item_counts(test_targets, vocab_size, "test_targets")  # range and dtype check
    if (test_targets == 0).any():
        raise ValueError("test_targets: got item id 0; 0 is padding, never a target")
    counts = _item_counts(train_targets, vocab_size, "train_targets")  # (V,)
    return counts[test_targets.long()] <= max_train  # (N,)
