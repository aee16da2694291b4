"""The no-deep-model reference for classification tasks: a bag-of-items logistic regression.

Reported beside every classification result (PAPER.md): on the same input sequences (each row's
whole input history) and the same user splits, with the inverse regularisation C chosen on the
validation split by log-loss, never on test.

The fits run under one BLAS/OpenMP thread (threadpoolctl): with 7 classes x ~1,700 columns,
OpenBLAS spread every small vector operation over all cores and waited on thread wake-ups (14
fits: 20.2 s on 16 threads, 0.84 s on one, same C and accuracy, measured on a 16-core host;
benchmarks/bench_reference.py reruns the comparison on any machine).
The reference depends on the task's data only: the eval stage keeps it per data version
(`reference_key`), so it is fitted once, not in every eval.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from pcl_pipeline.data.splits import Split
from pcl_pipeline.evaluation.classification import classification_metrics
from pcl_pipeline.store.files import fingerprint

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
# scipy and sklearn are imported where a reference is fitted: the definitions (and so every code
# server start and `dagster dev` reload) load this module, and those two take ~1 s to import

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REFERENCE_NAME = "bag-of-items logistic regression"
REFERENCE_VERSION = "1"  # bump when the reference's inputs, model or selection change


def reference_key(data_version: str, n_items: int, n_classes: int, seed: int, grid: tuple[float, ...] = C_GRID) -> str:
    """What the reference's result depends on: the task's rows (their content hash), the item
    and class counts, the seed and the grid of C."""
    return fingerprint(REFERENCE_VERSION, data_version, n_items, n_classes, seed, list(grid))


def bag_of_items(split: Split, n_items: int) -> sparse.csr_matrix:
    from scipy import sparse

    """(N, n_items + 1) binary CSR: which items are in each row's whole input history."""
    values, offsets = split.row_histories()
    indices, indptr = values.numpy(), offsets.numpy()
    data = np.ones(len(indices), dtype=np.float64)
    bag = sparse.csr_matrix((data, indices, indptr), shape=(len(split), n_items + 1))
    bag.sum_duplicates()
    bag.data[:] = 1.0
    return bag


def logistic_reference(train: Split, valid: Split, test: Split, n_items: int, n_classes: int, *,
                       seed: int, grid: tuple[float, ...] = C_GRID) -> dict:
    """The reference on each row's whole input history ("metrics"), and on the last L inputs the
    model reads ("last_L": same keys), each with its own C chosen on validation. One BLAS thread
    (see the module docstring)."""
    with threadpool_limits(limits=1):
        whole = _fit_reference(train, valid, test, n_items, n_classes, seed=seed, grid=grid)
        last = _fit_reference(*(s.last_only() for s in (train, valid, test)),
                              n_items, n_classes, seed=seed, grid=grid)
    return {**whole, "last_L": {k: last[k] for k in ("C", "metrics")}}


def _fit_reference(train: Split, valid: Split, test: Split, n_items: int, n_classes: int, *,
                   seed: int, grid: tuple[float, ...]) -> dict:
    """Fit one LR per C on train, keep the C of the lowest validation log-loss, report its test
    metrics (classification_metrics on its logits). Returns name, C, valid log-loss per C, metrics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    x_train, x_valid, x_test = (bag_of_items(s, n_items) for s in (train, valid, test))
    y_train, y_valid = train.targets.numpy(), valid.targets.numpy()
    labels = np.arange(n_classes)
    losses, models = {}, {}
    for c in grid:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x_train, y_train)
        proba = _proba(model, x_valid, n_classes)
        losses[c] = float(log_loss(y_valid, proba, labels=labels))
        models[c] = model
    best = min(grid, key=lambda c: (losses[c], c))
    test_scores = torch.from_numpy(np.log(np.clip(_proba(models[best], x_test, n_classes), 1e-12, None)))
    return {"name": REFERENCE_NAME, "C": best, "valid_log_loss": {str(c): v for c, v in losses.items()},
            "metrics": classification_metrics(test.targets, test_scores.float())}


def _proba(model: LogisticRegression, x: sparse.csr_matrix, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities, with columns for classes absent from training set to 0."""
    out = np.zeros((x.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out
