"""A PCL task model: frozen backbone + this task's prompt, contextual module and adapter."""
from __future__ import annotations

import torch
from torch import nn

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.model.adapters import ClassifierAdapter, ItemAdapter
from pcl_pipeline.model.prompts import ContextualPrompt, PositionPrompt
from pcl_pipeline.model.sasrec import SASRec, masked_mean


class PCLTaskModel(nn.Module):
    """forward(seq) -> task scores. For PCL only `prompt`, `context` and `adapter` ever train.

    The study's baselines are the same model with parts left out or opened up: prompt None (no
    position-wise prompt, then no contextual module either: the Adapter baseline), and
    train_backbone (the backbone trains with the task and its tensors belong to the task's
    artifact: FineAll, SinMo). PCL itself uses neither option."""

    def __init__(self, backbone: SASRec, prompt: PositionPrompt | None, context: ContextualPrompt | None,
                 adapter: nn.Module, texts: torch.Tensor, lam: float, *, item_prior: torch.Tensor | None = None,
                 pool: str = "last", train_backbone: bool = False) -> None:
        super().__init__()
        # item_prior (n_targets + 1,) long: backbone item id of each target (0 = not a backbone
        # item, whose padding row is zero): the frozen backbone's scores enter the task's scores.
        # Derived from the vocabulary and the backbone, so it is rebuilt at load, never stored.
        self.register_buffer("item_prior", item_prior, persistent=False)
        self.pool = pool  # "last": the last position's state; "mean_last": [mean over items, last]
        self.backbone = backbone
        self.prompt = prompt
        self.context = context  # None = ablation without contextual prompt
        self.adapter = adapter
        self.register_buffer("texts", texts, persistent=False)  # (k, text_dim), frozen encoder output
        self.lam = lam
        if prompt is None and context is not None:
            raise ValueError("a contextual prompt needs the position-wise prompt's positions (prompt is None)")
        self.train_backbone = train_backbone
        if train_backbone:
            backbone.requires_grad_(True)
        else:
            freeze(backbone)

    def train(self, mode: bool = True) -> "PCLTaskModel":
        super().train(mode)
        if not self.train_backbone:
            self.backbone.eval()  # frozen: no dropout noise, no state changes, ever
        return self

    def user_repr(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded item ids -> (B, d) user representation (the last position)."""
        return self.hidden(seq)[:, -1]

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded item ids -> (B, L, d) prompted hidden states."""
        L = seq.shape[1]
        if self.prompt is None:
            return self.backbone.encode(seq)
        extra = self.prompt(L)  # (L, d)
        if self.context is not None:
            t = min(self.prompt.weight.shape[0], L)
            mask = torch.zeros(L, 1, device=seq.device, dtype=extra.dtype)
            mask[L - t:] = 1.0
            extra = extra + self.lam * mask * self.context(self.texts)  # broadcast over prompted rows
        return self.backbone.encode(seq, extra)

    def pooled(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) -> the user representation the adapter reads: the last position's prompted state
        (B, d), or with pool "mean_last" [mean over the items' states, last] (B, 2d)."""
        h = self.hidden(seq)  # (B, L, d)
        return mean_last(h, seq) if self.pool == "mean_last" else h[:, -1]

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        if self.pool == "mean_last":
            return self.adapter(self.pooled(seq), seq)
        last = self.pooled(seq)  # (B, d)
        scores = self.adapter(last)
        if self.item_prior is not None:
            scores = scores + self.backbone.item_scores(last)[:, self.item_prior]  # (B, n_targets + 1)
        return scores

    def auxiliary_loss(self, seq: torch.Tensor) -> torch.Tensor | None:
        """A term the model adds to its task loss on a training batch `seq` (a recipe's model may
        keep what earlier tasks learned this way, e.g. knowledge retention); None: the task loss only."""
        return None

    def part_parameters(self) -> list[nn.Parameter]:
        """The task's own parts: the prompt, the contextual module and the adapter (those that exist)."""
        parts = ([self.prompt] if self.prompt is not None else []) + [self.adapter] + \
            ([self.context] if self.context is not None else [])
        return [p for part in parts for p in part.parameters()]

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Exactly the task's parts, and the backbone when it trains."""
        return self.part_parameters() + (list(self.backbone.parameters()) if self.train_backbone else [])

    def task_state(self) -> dict[str, torch.Tensor]:
        """The per-task artifact: every trainable tensor; the backbone's (under `backbone.`) only
        when it trains with the task."""
        return {k: v.detach().clone() for k, v in self.state_dict().items()
                if self.train_backbone or not k.startswith("backbone.")}


def mean_last(h: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """Hidden states h (B, L, d) of left-padded inputs seq (B, L) -> [mean over the items' states,
    last state] (B, 2d)."""
    return torch.cat([masked_mean(h, seq), h[:, -1]], dim=-1)


def freeze(module: nn.Module) -> None:
    module.requires_grad_(False)
    module.eval()


def count_parameters(params: list[nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


def build_task_model(backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
                     inherit_prompt: torch.Tensor | None, to_backbone: torch.Tensor | None = None, *,
                     with_prompt: bool = True, train_backbone: bool = False) -> PCLTaskModel:
    """Fresh per-task parts around the frozen backbone; p_k copied from p_{k-1} when given.

    lam = 0 builds no contextual module at all (the ablation without contextual prompt), so the
    artifact holds no dead weights and reloads from its params alone. to_backbone (item tasks in
    T1's item space): target id -> backbone item id; with params.item_prior the task's scores are
    the frozen backbone's item scores plus the adapter's residual.

    with_prompt False builds neither prompt (the Adapter baseline); train_backbone trains the
    given backbone itself (the caller passes a copy or a fresh one: FineAll, SinMo).
    """
    d = backbone.cfg.hidden
    if not with_prompt:
        if inherit_prompt is not None:
            raise ValueError("a model without prompt cannot inherit one")
        context = None
        prompt = None
    else:
        prompt = PositionPrompt(params.prompt_len, d)
    if prompt is not None and inherit_prompt is not None:
        if tuple(inherit_prompt.shape) != tuple(prompt.weight.shape):
            raise ValueError(f"inherited prompt has shape {tuple(inherit_prompt.shape)}; expected "
                             f"{tuple(prompt.weight.shape)} (prompt_len x hidden must match the previous task)")
        with torch.no_grad():
            prompt.weight.copy_(inherit_prompt)
    if prompt is not None:
        context = ContextualPrompt(texts.shape[1], d, params.context_heads) if params.lam > 0 else None
    prior = to_backbone if (kind == "item_rec" and params.item_prior) else None
    if kind == "item_rec":
        adapter = ItemAdapter(d, n_targets, residual=prior is not None)
        pool = "last"
    else:
        pool = params.pool
        adapter = ClassifierAdapter(2 * d if pool == "mean_last" else d, params.adapter_hidden, n_targets,
                                    params.adapter_dropout, backbone.cfg.n_items if params.input_items else None)
    return PCLTaskModel(backbone, prompt, context, adapter, texts, params.lam, item_prior=prior, pool=pool,
                        train_backbone=train_backbone)
