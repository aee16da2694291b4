"""SASRec (Kang & McAuley 2018): causal self-attention over a user's item sequence.

Sequences are left-padded with 0 so the last position always holds the latest item; the
position-wise prompt of PCL is then simply added to the last t positions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pcl_pipeline.model.arch import SASRecArch

BLOCKED = -1e9  # additive attention mask value: finite, so a fully blocked (padding) row gives no NaN


def masked_mean(x: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """x (B, L, ...) per position of the left-padded inputs seq (B, L) -> (B, ...): the mean over
    the item positions (padding, id 0, left out; zeros for an empty sequence)."""
    keep = (seq > 0).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
    return (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)


class SASRecConfig(SASRecArch):
    n_items: int = Field(ge=1)  # vocabulary size without padding; ids are 1..n_items, 0 is padding

    @classmethod
    def build(cls, n_items: int, arch: SASRecArch) -> "SASRecConfig":
        return cls(n_items=n_items, **arch.architecture())

    def to_dict(self) -> dict:
        return self.model_dump()


class Block(nn.Module):
    """Pre-LayerNorm transformer block; the mask blocks later positions and padding keys.

    Attention runs through F.scaled_dot_product_attention (a fused kernel where the backend has
    one) on the parameters of an nn.MultiheadAttention, which stays for its parameter layout
    (in_proj_weight/in_proj_bias/out_proj: stored artifacts keep their tensor names)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.hidden)
        self.attn = nn.MultiheadAttention(cfg.hidden, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.ln_ffn = nn.LayerNorm(cfg.hidden)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.hidden),
            nn.Dropout(cfg.dropout),
        )

    def attend(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Multi-head attention of queries q over keys = values = x, (B, L, d) each; mask (B, 1, L, L)
        additive, shared by the heads."""
        B, L, d = q.shape
        heads = self.attn.num_heads
        w_q, w_kv = self.attn.in_proj_weight.split([d, 2 * d])
        b_q, b_kv = self.attn.in_proj_bias.split([d, 2 * d])
        query = F.linear(q, w_q, b_q).view(B, L, heads, d // heads).transpose(1, 2)  # (B, h, L, d/h)
        key, value = F.linear(x, w_kv, b_kv).view(B, L, 2, heads, d // heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                             dropout_p=self.attn.dropout if self.training else 0.0)
        return self.attn.out_proj(out.transpose(1, 2).reshape(B, L, d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        q = self.ln_attn(x)  # (B, L, d)
        x = q + self.attend(q, x, mask)  # residual from the normalised query, as the reference implementation does
        x = x + self.ffn(self.ln_ffn(x))
        return x * pad  # keep padded positions at exactly zero


class SASRec(nn.Module):
    """encode(seq) -> hidden states; item_scores and full_sort_scores score them against the
    shared item table (a task adapter may own another table for its own vocabulary)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.n_items + 1, cfg.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.blocks))
        self.ln_out = nn.LayerNorm(cfg.hidden)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        causal = torch.triu(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)  # True = may not attend

    def attention_mask(self, seq: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Additive mask (B, 1, L, L), shared by the heads: no position attends to later ones or to
        padding keys (as RecBole does), so left-padding carries no signal into the user's states.
        Padding queries, fully blocked, attend uniformly; their outputs are zeroed anyway."""
        L = seq.shape[1]
        blocked = self.causal[:L, :L].unsqueeze(0) | (seq == 0).unsqueeze(1)  # (B, L, L)
        return torch.zeros((), dtype=dtype, device=seq.device).masked_fill(blocked, BLOCKED).unsqueeze(1)

    def embed(self, seq: torch.Tensor) -> torch.Tensor:
        """Item + position embeddings of a left-padded (B, L) batch -> (B, L, d)."""
        positions = torch.arange(seq.shape[1], device=seq.device)
        x = self.item_emb(seq) * (self.cfg.hidden ** 0.5) + self.pos_emb(positions)  # (B, L, d)
        return x

    def encode(self, seq: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, L, d). `extra` (B, L, d) or (L, d) is added after the positional
        embedding, before the first block: this is where PCL's prompts enter."""
        x = self.embed(seq)
        if extra is not None:
            x = x + extra
        pad = (seq > 0).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        x = self.drop(x) * pad
        mask = self.attention_mask(seq, x.dtype)
        for block in self.blocks:
            x = block(x, mask, pad)
        return self.ln_out(x)

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over all items from hidden states: (..., d) -> (..., n_items + 1); shared table."""
        return hidden @ self.item_emb.weight.T

    def full_sort_scores(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) inputs -> (B, n_items + 1): the last position's state against every item (T1)."""
        return self.item_scores(self.encode(seq)[:, -1])

