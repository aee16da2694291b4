"""T1: SASRec next-item pretraining with cross-entropy at every position."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pcl_pipeline.catalog import BackboneParams
from pcl_pipeline.data.splits import NextItemData, batch_indices
from pcl_pipeline.evaluation.protocol import split_ranks
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.device import autocast
from pcl_pipeline.training.loop import FitResult, LoopConfig, Objective, fit, seed_everything

log = logging.getLogger(__name__)


def next_item_loss(model: SASRec, seqs: torch.Tensor, params: BackboneParams, reduction: str = "mean",
                   dense: bool = False) -> torch.Tensor:
    """Cross-entropy of predicting position i+1 from positions <= i, at every non-padded position.

    Full softmax over the item table, or a sampled softmax (shared uniform negatives) when the
    vocabulary exceeds params.sampled_softmax_above, where the (B, L, V) logits would not fit.
    reduction "sum" gives the sum over positions (data-parallel training divides by the global count).
    dense computes every position and weighs the padded ones 0: the same value without a shape
    that depends on the data, so no step waits for the device to count positions (GPU); the
    default selects the kept positions first, which spends no work on padding (CPU).
    """
    inputs, labels = seqs[:, :-1], seqs[:, 1:]  # (B, L), (B, L)
    hidden = model.encode(inputs)  # (B, L, d)
    keep = (labels > 0) & (inputs > 0)
    if dense:
        h, y = hidden.flatten(0, 1), torch.where(keep, labels, 1).flatten()  # (B*L, d), (B*L,): any valid id
    else:
        h, y = hidden[keep], labels[keep]  # (M, d), (M,)
    if model.cfg.n_items <= params.sampled_softmax_above:
        # scores of items 1..V only: padding is never a prediction (no -inf column written into
        # the logits, whose in-place write costs a copy of them in the backward pass)
        logits, y = h @ model.item_emb.weight[1:].T, y - 1  # (M, V), (M,)
    else:
        negatives = torch.randint(1, model.cfg.n_items + 1, (params.num_negatives,), device=h.device)
        table = model.item_emb.weight
        pos = (h * table[y]).sum(-1, keepdim=True)  # (M, 1)
        neg = h @ table[negatives].T  # (M, K)
        neg = neg.masked_fill(negatives.unsqueeze(0) == y.unsqueeze(1), float("-inf"))  # a sampled positive is no negative
        logits, y = torch.cat([pos, neg], dim=1), torch.zeros_like(y)
    if not dense:
        return F.cross_entropy(logits.float(), y, reduction=reduction)
    losses = F.cross_entropy(logits.float(), y, reduction="none") * keep.flatten()
    return losses.sum() if reduction == "sum" else losses.sum() / keep.sum().clamp(min=1)


def positions(seqs: torch.Tensor) -> torch.Tensor:
    """The number of next-item examples in a batch (the count next_item_loss averages over)."""
    return ((seqs[:, 1:] > 0) & (seqs[:, :-1] > 0)).sum()


@dataclass(frozen=True)
class Shard:
    """This process's place in data-parallel pretraining (torch.distributed initialised)."""
    rank: int
    world_size: int


class _DistributedLoss(torch.nn.Module):
    """The T1 loss as a module's forward, so DistributedDataParallel can sync its gradients."""

    def __init__(self, model: SASRec, params: BackboneParams) -> None:
        super().__init__()
        self.model, self.params = model, params

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        return next_item_loss(self.model, seqs, self.params, reduction="sum")


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


def pretrain_backbone(data: NextItemData, params: BackboneParams, ctx: TrainContext,
                      shard: Shard | None = None) -> tuple[SASRec, FitResult]:
    """Train SASRec on T1 and return the model with the best validation NDCG@10 (test untouched).

    With `shard` (torch.distributed initialised, e.g. under torchrun: training/distributed.py),
    every process takes its slice of each global batch of params.batch_size sequences, the same
    batches in the same order as one process would; the loss is the sum over this slice's
    positions divided by the global count / world size, and DistributedDataParallel averages the
    gradients, so a step equals one process's step on the whole global batch. Every process
    validates the same (synchronised) model, so all stop alike; only rank 0 writes checkpoints.

    ctx.acceleration (training/acceleration.py; on for CUDA by default) scales the batch, learning
    rate and warm-up together, keeps the training sequences on the device and uses the dense loss;
    the recipe used is FitResult.recipe.
    """
    device, acceleration = ctx.device, ctx.applied_acceleration
    seed_everything(ctx.seed)
    model = SASRec(SASRecConfig.build(data.n_items, params)).to(device)
    recipe = acceleration.scale(params.batch_size, params.lr, params.warmup_epochs, len(data.train))
    dense = acceleration.enabled

    def loss_of(seqs: torch.Tensor) -> torch.Tensor:
        return next_item_loss(model, seqs, params, dense=dense)
    if acceleration.compile and shard is None and params.loss == "ce":
        loss_of = torch.compile(loss_of, dynamic=False, mode="reduce-overhead" if device.type == "cuda" else None)
    train = acceleration.place(data.train, device)
    ddp = None
    if shard is not None:
        if params.loss != "ce":
            raise ValueError("data-parallel pretraining supports loss 'ce' (the default)")
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(_DistributedLoss(model, params),
                                            device_ids=[device.index] if device.type == "cuda" else None)

    def batches(generator: torch.Generator):
        for idx in batch_indices(len(train), recipe.batch_size, generator, train.sequences.device):
            if shard is not None:
                idx = idx[shard.rank::shard.world_size]
            yield train.inputs(idx).to(device)

    def step(seqs: torch.Tensor) -> tuple[torch.Tensor, int]:
        model.train()
        with autocast(device):
            if ddp is not None:
                total = positions(seqs).to(device=device, dtype=torch.float32)
                torch.distributed.all_reduce(total)
                loss = ddp(seqs) * shard.world_size / total.clamp(min=1.0)
            elif params.loss == "bce":
                loss = bce_next_item_loss(model, seqs)
            else:
                loss = loss_of(seqs)
        return loss, seqs.shape[0]

    def validate() -> float:
        model.eval()
        with autocast(device):
            ranks = split_ranks(model.full_sort_scores, data.valid, data.to_target, data.n_items, device)
        return ranking_metrics(ranks)["ndcg@10"]

    loop = LoopConfig(epochs=params.epochs, patience=params.patience, lr=recipe.lr,
                      weight_decay=params.weight_decay, warmup_epochs=recipe.warmup_epochs,
                      decay_patience=params.decay_patience, decay_factor=params.decay_factor,
                      max_decays=params.max_decays)
    objective = Objective(list(model.parameters()), step, batches, validate, model.state_dict, model.load_state_dict)
    result = fit(objective, loop, ctx.with_fingerprint(recipe.key).replace(
        write_checkpoint=ctx.write_checkpoint and (shard is None or shard.rank == 0)))
    model.eval()
    result.recipe = recipe.as_dict()
    return model, result
