"""PCL's two prompts: a position-wise prompt and a contextual prompt from task descriptions."""
from __future__ import annotations

import torch
from torch import nn

PROMPT_INIT_STD = 0.02  # p_2 ~ N(0, 0.02^2) (PAPER.md); p_k for k >= 3 is copied from p_{k-1}


class PositionPrompt(nn.Module):
    """p_k in R^{t x d}, added to the embeddings of the last t positions of the input."""

    def __init__(self, length: int, hidden: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(length, hidden) * PROMPT_INIT_STD)  # (t, d)

    def forward(self, seq_len: int) -> torch.Tensor:
        """The prompt laid out over a length-L sequence: zeros, then p_k on the last t rows -> (L, d)."""
        t = min(self.weight.shape[0], seq_len)
        out = self.weight.new_zeros(seq_len, self.weight.shape[1])
        out[seq_len - t:] = self.weight[-t:]
        return out


class ContextualPrompt(nn.Module):
    """P_T: attention with task k's description embedding as query over the embeddings of the
    descriptions of tasks 1..k (keys/values), projected from the encoder's width to d first.

    The text embeddings come from a frozen sentence encoder and are inputs, not parameters.
    """

    def __init__(self, text_dim: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.proj = nn.Linear(text_dim, hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)

    def forward(self, texts: torch.Tensor) -> torch.Tensor:
        """texts (k, text_dim), the last row being the current task -> (d,)."""
        z = self.proj(texts).unsqueeze(0)  # (1, k, d)
        out, _ = self.attn(z[:, -1:], z, z, need_weights=False)  # (1, 1, d)
        return out[0, 0]
