"""Task adapters on the user representation."""
from __future__ import annotations

import torch
from torch import nn

from pcl_pipeline.model.sasrec import masked_mean


class ItemAdapter(nn.Module):
    """Owns an output item table over the task's own target vocabulary, so targets the backbone
    never saw (another domain, cold-start items) are learnable. Index 0 is padding.

    With `residual` the adapter is a correction added to the frozen backbone's own item scores
    (PCLTaskModel adds them): its table starts at zero, so training starts from what the
    backbone knows instead of from noise, and items of a new domain still learn their rows.
    """

    def __init__(self, hidden: int, n_targets: int, residual: bool = False) -> None:
        super().__init__()
        self.transform = nn.Linear(hidden, hidden)
        self.items = nn.Embedding(n_targets + 1, hidden)
        self.bias = nn.Parameter(torch.zeros(n_targets + 1))
        if residual:
            nn.init.zeros_(self.items.weight)
        else:
            nn.init.normal_(self.items.weight, std=0.02)

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        """user (B, d) -> scores (B, n_targets + 1)."""
        return self.transform(user) @ self.items.weight.T + self.bias


class ClassifierAdapter(nn.Module):
    """MLP in_dim -> hidden -> C (in_dim = d for the last state, 2d for mean-pool + last).

    With n_items, the adapter also owns an input item table (n_items + 1, C), zero at start:
    the mean of its rows over the input items is added to the logits (a bag-of-items term,
    as the item adapters own an output item table). Off by default (PAPER.md's adapter reads
    the user representation only)."""

    def __init__(self, in_dim: int, width: int, n_classes: int, dropout: float = 0.0,
                 n_items: int | None = None) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, width), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(width, n_classes))
        self.input_items = None
        if n_items is not None:
            self.input_items = nn.Embedding(n_items + 1, n_classes, padding_idx=0)
            nn.init.zeros_(self.input_items.weight)

    def forward(self, user: torch.Tensor, seq: torch.Tensor | None = None) -> torch.Tensor:
        """user (B, in_dim), seq (B, L) item ids (needed with an input item table) -> logits (B, C)."""
        logits = self.mlp(user)
        if self.input_items is not None:
            logits = logits + self.bag_of_items(seq)
        return logits

    def bag_of_items(self, seq: torch.Tensor) -> torch.Tensor:
        """seq (B, L) -> (B, C): the mean of the input item table's rows over the input items."""
        return masked_mean(self.input_items(seq), seq)
