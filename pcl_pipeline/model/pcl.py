"""A PCL task model: frozen backbone + this task's prompt, contextual module and adapter."""
from __future__ import annotations

import torch
from torch import nn

from pcl_pipeline.catalog import TaskParams
from pcl_pipeline.model.adapters import ClassifierAdapter, ItemAdapter
from pcl_pipeline.model.prompts import ContextualPrompt, PositionPrompt
from pcl_pipeline.model.sasrec import SASRec


class PCLTaskModel(nn.Module):
    """forward(seq) -> task scores. Only `prompt`, `context` and `adapter` ever train."""

    def __init__(self, backbone: SASRec, prompt: PositionPrompt, context: ContextualPrompt | None,
                 adapter: nn.Module, texts: torch.Tensor, lam: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.prompt = prompt
        self.context = context  # None = ablation without contextual prompt
        self.adapter = adapter
        self.register_buffer("texts", texts, persistent=False)  # (k, text_dim), frozen encoder output
        self.lam = lam
        freeze(backbone)

    def train(self, mode: bool = True) -> "PCLTaskModel":
        super().train(mode)
        self.backbone.eval()  # frozen: no dropout noise, no state changes, ever
        return self

    def user_repr(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded item ids -> (B, d) user representation."""
        L = seq.shape[1]
        extra = self.prompt(L)  # (L, d)
        if self.context is not None:
            t = min(self.prompt.weight.shape[0], L)
            mask = torch.zeros(L, 1, device=seq.device, dtype=extra.dtype)
            mask[L - t:] = 1.0
            extra = extra + self.lam * mask * self.context(self.texts)  # broadcast over prompted rows
        return self.backbone.encode(seq, extra)[:, -1]

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.user_repr(seq))

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Exactly the prompt, the contextual module and the adapter."""
        parts = [self.prompt, self.adapter] + ([self.context] if self.context is not None else [])
        return [p for part in parts for p in part.parameters()]

    def task_state(self) -> dict[str, torch.Tensor]:
        """The per-task artifact: every trainable tensor, nothing of the backbone."""
        return {k: v.detach().clone() for k, v in self.state_dict().items() if not k.startswith("backbone.")}


def freeze(module: nn.Module) -> None:
    module.requires_grad_(False)
    module.eval()


def count_parameters(params: list[nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


def build_task_model(backbone: SASRec, kind: str, n_targets: int, params: TaskParams, texts: torch.Tensor,
                     inherit_prompt: torch.Tensor | None) -> PCLTaskModel:
    """Fresh per-task parts around the frozen backbone; p_k copied from p_{k-1} when given.

    lam = 0 builds no contextual module at all (the ablation without contextual prompt), so the
    artifact holds no dead weights and reloads from its params alone.
    """
    d = backbone.cfg.hidden
    prompt = PositionPrompt(params.prompt_len, d)
    if inherit_prompt is not None:
        if tuple(inherit_prompt.shape) != tuple(prompt.weight.shape):
            raise ValueError(f"inherited prompt has shape {tuple(inherit_prompt.shape)}; expected "
                             f"{tuple(prompt.weight.shape)} (prompt_len x hidden must match the previous task)")
        with torch.no_grad():
            prompt.weight.copy_(inherit_prompt)
    context = ContextualPrompt(texts.shape[1], d, params.context_heads) if params.lam > 0 else None
    if kind == "item_rec":
        adapter = ItemAdapter(d, n_targets)
    else:
        adapter = ClassifierAdapter(d, params.adapter_hidden, n_targets)
    return PCLTaskModel(backbone, prompt, context, adapter, texts, params.lam)
