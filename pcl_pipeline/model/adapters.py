"""Task adapters on the user representation (the last position's hidden state)."""
from __future__ import annotations

import torch
from torch import nn


class ItemAdapter(nn.Module):
    """Owns an output item table over the task's own target vocabulary, so targets the backbone
    never saw (another domain, cold-start items) are learnable. Index 0 is padding."""

    def __init__(self, hidden: int, n_targets: int) -> None:
        super().__init__()
        self.transform = nn.Linear(hidden, hidden)
        self.items = nn.Embedding(n_targets + 1, hidden)
        self.bias = nn.Parameter(torch.zeros(n_targets + 1))
        nn.init.normal_(self.items.weight, std=0.02)

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        """user (B, d) -> scores (B, n_targets + 1)."""
        return self.transform(user) @ self.items.weight.T + self.bias


class ClassifierAdapter(nn.Module):
    """MLP d -> hidden -> C."""

    def __init__(self, hidden: int, width: int, n_classes: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.ReLU(), nn.Linear(width, n_classes))

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        """user (B, d) -> logits (B, C)."""
        return self.mlp(user)
