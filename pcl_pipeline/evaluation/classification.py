"""Classification metrics for user-attribute tasks: accuracy, macro-F1, and AUC when binary."""
from __future__ import annotations

import torch


def _check_inputs(y_true: torch.Tensor, scores: torch.Tensor) -> None:
    """Raise ValueError naming the bad argument, its value and the expected form."""
    if scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError(
            f"scores: got shape {tuple(scores.shape)} dtype {scores.dtype}; "
            "expected a float (N, C) tensor"
        )
    n, c = scores.shape
    if n == 0:
        raise ValueError("scores: got 0 rows; a metric over no rows is undefined, not 0")
    if c < 2:
        raise ValueError(f"scores: got C={c} classes; expected C >= 2")
    if y_true.shape != (n,) or y_true.is_floating_point() or y_true.dtype == torch.bool:
        raise ValueError(
            f"y_true: got shape {tuple(y_true.shape)} dtype {y_true.dtype}; "
            f"expected an integer ({n},) tensor"
        )
    bad = (y_true < 0) | (y_true >= c)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"y_true: row {row} has label {int(y_true[row])}; expected a class in [0, {c})"
        )
    nan = torch.isnan(scores)
    if nan.any():
        row, col = (int(i) for i in nan.nonzero()[0])
        raise ValueError(f"scores: NaN at row {row}, column {col}; expected finite scores")


def macro_f1(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> float:
    """Mean F1 over classes that appear in y_true or y_pred; F1 is 0 where precision + recall = 0.

    A class with no true and no predicted rows is skipped: it says nothing about the model.
    """
    # confusion[t, p] = number of rows with true class t predicted as p
    confusion = torch.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    confusion = confusion.view(n_classes, n_classes).double()  # (C, C)
    tp = confusion.diag()  # (C,)
    n_pred = confusion.sum(dim=0)  # (C,)
    n_true = confusion.sum(dim=1)  # (C,)
    present = (n_true + n_pred) > 0
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (n_true + n_pred): equal to 2PR/(P+R), and 0 when TP = 0.
    f1 = 2.0 * tp[present] / (n_true[present] + n_pred[present])
    return f1.mean().item()


def binary_auc(y_true: torch.Tensor, margin: torch.Tensor) -> float:
    """ROC AUC as the Mann-Whitney statistic: P(margin_pos > margin_neg), ties counted 1/2.

    y_true (N,) in {0, 1}; margin (N,) float. ValueError if only one class is present.
    """
    pos = y_true == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"y_true: {n_pos} positive and {n_neg} negative rows; AUC needs both classes present"
        )
    # Average ranks (1-based) make each tie between a positive and a negative count exactly 1/2.
    _, inverse, counts = torch.unique(margin.double(), return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()  # (U,) 1-based rank of the last element of each tie group
    avg_rank = (ends - (counts.double() - 1.0) / 2.0)[inverse]  # (N,)
    u = avg_rank[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return (u / (n_pos * n_neg)).item()


def classification_metrics(y_true: torch.Tensor, scores: torch.Tensor) -> dict[str, float]:
    """Accuracy, macro-F1, and AUC when binary, for predictions argmax(scores).

    y_true (N,) integer labels in [0, C); scores (N, C) logits or probabilities.
    macro_f1 averages over classes that appear in y_true or in the predictions. 'auc' is present
    only when C == 2: Mann-Whitney with ties counted 1/2 on scores[:, 1] - scores[:, 0]
    (monotone in p(1) for probabilities and equal to the log-odds for logits); it raises
    ValueError if y_true holds only one class. Empty input or NaN raises ValueError.
    """
    _check_inputs(y_true, scores)
    y_true = y_true.long()
    n_classes = scores.shape[1]
    y_pred = scores.argmax(dim=1)  # (N,)
    out = {
        "accuracy": (y_pred == y_true).double().mean().item(),
        "macro_f1": macro_f1(y_true, y_pred, n_classes),
    }
    if n_classes == 2:
        out["auc"] = binary_auc(y_true, scores[:, 1] - scores[:, 0])
    return out
