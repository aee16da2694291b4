"""T1: SASRec next-item pretraining with cross-entropy at every position."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from pcl_pipeline.catalog import BackboneParams
from pcl_pipeline.data.splits import NextItemData, batch_indices
from pcl_pipeline.evaluation.protocol import split_ranks
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.training.device import autocast
from pcl_pipeline.training.loop import FitResult, LoopConfig, fit, seed_everything

log = logging.getLogger(__name__)


def next_item_loss(model: SASRec, seqs: torch.Tensor, params: BackboneParams) -> torch.Tensor:
    """Cross-entropy of predicting position i+1 from positions <= i, at every non-padded position.

    Full softmax over the item table, or a sampled softmax (shared uniform negatives) when the
    vocabulary exceeds params.sampled_softmax_above, where the (B, L, V) logits would not fit.
    """
    inputs, labels = seqs[:, :-1], seqs[:, 1:]  # (B, L), (B, L)
    hidden = model.encode(inputs)  # (B, L, d)
    keep = (labels > 0) & (inputs > 0)
    h, y = hidden[keep], labels[keep]  # (M, d), (M,)
    if model.cfg.n_items <= params.sampled_softmax_above:
        logits = model.item_scores(h)  # (M, V + 1)
        logits[:, 0] = float("-inf")  # padding is never a prediction
        return F.cross_entropy(logits.float(), y)
    negatives = torch.randint(1, model.cfg.n_items + 1, (params.num_negatives,), device=h.device)
    table = model.item_emb.weight
    pos = (h * table[y]).sum(-1, keepdim=True)  # (M, 1)
    neg = h @ table[negatives].T  # (M, K)
    neg = neg.masked_fill(negatives.unsqueeze(0) == y.unsqueeze(1), float("-inf"))  # a sampled positive is no negative
    logits = torch.cat([pos, neg], dim=1).float()
    return F.cross_entropy(logits, torch.zeros_like(y))


def bce_next_item_loss(model: SASRec, seqs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The original SASRec recipe (Kang & McAuley 2018): at every non-padded position, binary
    cross-entropy of the next item against one negative drawn uniformly from the items that are
    not this user's (in-batch) sequence, as the reference implementation samples it."""
    inputs, labels = seqs[:, :-1], seqs[:, 1:]  # (B, L), (B, L)
    hidden = model.encode(inputs)  # (B, L, d)
    keep = (labels > 0) & (inputs > 0)
    negatives = torch.randint(1, model.cfg.n_items + 1, labels.shape, device=seqs.device, generator=generator)
    for _ in range(10):  # redraw the few negatives that hit an item of the user's sequence
        clash = (negatives.unsqueeze(-1) == seqs.unsqueeze(1)).any(-1)  # (B, L)
        if not bool(clash.any()):
            break
        negatives = torch.where(clash, torch.randint_like(negatives, 1, model.cfg.n_items + 1), negatives)
    table = model.item_emb.weight
    pos = (hidden * table[labels]).sum(-1)[keep]  # (M,)
    neg = (hidden * table[negatives]).sum(-1)[keep]  # (M,)
    return F.binary_cross_entropy_with_logits(pos.float(), torch.ones_like(pos.float())) + \
        F.binary_cross_entropy_with_logits(neg.float(), torch.zeros_like(neg.float()))


def pretrain_backbone(data: NextItemData, params: BackboneParams, *, seed: int, device: torch.device,
                      fingerprint: str, checkpoint: Path | None = None,
                      on_epoch: Callable[[dict], None] | None = None) -> tuple[SASRec, FitResult]:
    """Train SASRec on T1 and return the model with the best validation NDCG@10 (test untouched)."""
    seed_everything(seed)
    model = SASRec(SASRecConfig.build(data.n_items, params)).to(device)
    train = data.train

    def batches(generator: torch.Generator):
        for idx in batch_indices(len(train), params.batch_size, generator):
            yield train.inputs[idx].to(device)

    def step(seqs: torch.Tensor) -> tuple[torch.Tensor, int]:
        model.train()
        with autocast(device):
            loss = bce_next_item_loss(model, seqs) if params.loss == "bce" else next_item_loss(model, seqs, params)
        return loss, seqs.shape[0]

    def validate() -> float:
        model.eval()
        with autocast(device):
            ranks = split_ranks(model.full_sort_scores, data.valid, data.to_target, data.n_items, device)
        return ranking_metrics(ranks)["ndcg@10"]

    loop = LoopConfig(epochs=params.epochs, patience=params.patience, lr=params.lr,
                      weight_decay=params.weight_decay, seed=seed, fingerprint=fingerprint,
                      warmup_epochs=params.warmup_epochs, decay_patience=params.decay_patience,
                      decay_factor=params.decay_factor, max_decays=params.max_decays)
    result = fit(list(model.parameters()), step, batches, validate, model.state_dict, model.load_state_dict,
                 loop, checkpoint, on_epoch)
    model.eval()
    return model, result

