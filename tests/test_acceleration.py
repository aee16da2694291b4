"""The large-batch recipe (training/acceleration.py): chosen from the device, batch/lr/warm-up
scaled together, data on the device, a dense loss equal to the masked one, and a training loop
that reads the device once per epoch, not once per step."""
from __future__ import annotations

import math

import pytest
import torch

from pcl_pipeline.catalog import BackboneParams
from pcl_pipeline.data.splits import NextItemData, Split, left_pad
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.training.acceleration import OFF, Acceleration, resolve
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import LoopConfig, Objective, fit
from pcl_pipeline.training.pretrain import next_item_loss, pretrain_backbone

CPU = torch.device("cpu")


def test_auto_is_on_for_cuda_only_and_on_off_force_it():
    assert resolve("auto", CPU).enabled is False
    assert resolve("auto", torch.device("cuda")).enabled is True  # decided from the device type, nothing allocated
    assert resolve("on", CPU).enabled is True and resolve("off", torch.device("cuda")).enabled is False
    with pytest.raises(ValueError, match="expected auto, on or off"):
        resolve("fast", CPU)


def test_batch_lr_and_warmup_scale_together_and_small_data_keeps_its_steps():
    on = Acceleration(enabled=True)
    big = on.scale(128, 3e-3, 2, n_rows=1_000_000)
    assert (big.batch_size, big.batch_factor, big.warmup_epochs) == (512, 4, 3)
    assert big.lr == pytest.approx(6e-3)  # 3e-3 * sqrt(4)
    wide = Acceleration(enabled=True, batch_multiplier=16).scale(128, 3e-3, 2, n_rows=1_000_000)
    assert (wide.batch_size, wide.lr) == (2048, pytest.approx(1e-2))  # 3e-3 * sqrt(16) = 1.2e-2, capped at max_lr
    mid = on.scale(128, 2e-4, 0, n_rows=128 * 4 * 16)  # 4x still leaves 16 steps per epoch, 8x would not
    assert (mid.batch_size, mid.batch_factor, mid.warmup_epochs) == (512, 4, 1)
    assert mid.lr == pytest.approx(2e-4 * 2) and mid.lr_factor(2e-4) == pytest.approx(2.0)
    small = on.scale(128, 3e-3, 2, n_rows=1000)  # under 16 steps even at batch 128: the catalog's settings
    assert (small.batch_size, small.lr, small.warmup_epochs) == (128, 3e-3, 2)
    assert OFF.scale(128, 3e-3, 2, n_rows=10**9) == small
    assert big.key != small.key  # a checkpoint of one recipe is not resumed by the other


@pytest.mark.parametrize("n_items,sampled_above", [(40, 50_000), (40, 10)])
def test_dense_loss_equals_the_masked_loss_with_its_gradients(n_items, sampled_above):
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=n_items, hidden=16, blocks=1, heads=2, max_len=8, dropout=0.0))
    params = BackboneParams(hidden=16, blocks=1, heads=2, max_len=8, sampled_softmax_above=sampled_above,
                            num_negatives=16)
    seqs = left_pad([[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12], [7], [3, 30, 31, 32]], 9)  # short and long rows
    values = {}
    for dense in (False, True):
        for reduction in ("mean", "sum"):
            model.zero_grad()
            torch.manual_seed(1)  # the sampled softmax draws the same negatives
            loss = next_item_loss(model, seqs, params, reduction=reduction, dense=dense)
            loss.backward()
            values[dense, reduction] = (loss.detach(), model.item_emb.weight.grad.clone())
    for reduction in ("mean", "sum"):
        (masked, g_masked), (dense, g_dense) = values[False, reduction], values[True, reduction]
        assert torch.allclose(masked, dense, atol=1e-5) and torch.allclose(g_masked, g_dense, atol=1e-6)


def test_the_loop_reads_the_loss_once_per_epoch_not_once_per_step(monkeypatch):
    reads = {"item": 0, "bool": 0}
    item, boolean = torch.Tensor.item, torch.Tensor.__bool__

    def counted_item(self):  # the loss and what is summed from it (Adam reads its own CPU step counter: not counted)
        if self.grad_fn is not None or self.dtype == torch.float64:
            reads["item"] += 1
        return item(self)

    def counted_bool(self):
        reads["bool"] += 1
        return boolean(self)

    weight = torch.nn.Parameter(torch.ones(3))
    target = torch.tensor([1.0, 2.0, 3.0])
    batches = [torch.randn(3) for _ in range(50)]
    monkeypatch.setattr(torch.Tensor, "item", counted_item)
    monkeypatch.setattr(torch.Tensor, "__bool__", counted_bool)
    result = fit(Objective([weight], lambda x: (((weight - target + 0.01 * x) ** 2).sum(), 1), lambda g: batches,
                           lambda: -float(((weight.detach() - target) ** 2).sum()), lambda: {"w": weight.detach()},
                           lambda s: weight.data.copy_(s["w"])),
                 LoopConfig(epochs=2, patience=5, lr=0.05, weight_decay=0.0), TrainContext(seed=0, fingerprint="t"))
    monkeypatch.undo()
    assert result.epochs_run == 2 and result.samples_seen == 100
    assert reads["item"] == 2 and reads["bool"] == 0  # 100 steps, 2 epochs: one read per epoch
    assert math.isfinite(result.history[-1]["loss"]) and result.history[-1]["loss"] < result.history[0]["loss"] * 1.5


def _next_item_data(n_users: int, n_items: int, seed: int) -> NextItemData:
    g = torch.Generator().manual_seed(seed)

    def split(width: int, extra: int) -> Split:
        seqs = [torch.randint(1, n_items + 1, (int(torch.randint(4, 12, (1,), generator=g)) + extra,),
                              generator=g).tolist() for _ in range(n_users)]
        return Split(users=torch.arange(n_users), sequences=left_pad([s[:-1] for s in seqs], width),
                     targets=torch.tensor([s[-1] for s in seqs]))
    train = split(9, 1)
    train = Split(users=train.users, sequences=torch.cat([train.sequences[:, 1:], train.targets[:, None]], 1),
                  targets=train.targets)
    return NextItemData(train=train, valid=split(8, 0), test=split(8, 0), n_items=n_items)


def test_accelerated_pretraining_records_its_recipe_and_trains_like_the_catalog_recipe():
    # on a CPU, forced on: the recipe's batches, warm-up and dense loss on the (CPU) device
    data = _next_item_data(n_users=2048, n_items=30, seed=0)
    params = BackboneParams(hidden=16, blocks=1, heads=2, max_len=8, batch_size=32, epochs=4, patience=4,
                            warmup_epochs=0, decay_patience=None, max_decays=None, dropout=0.0)
    _, plain = pretrain_backbone(data, params, TrainContext(seed=0, fingerprint="p"))
    _, fast = pretrain_backbone(data, params, TrainContext(seed=0, fingerprint="p", acceleration=resolve("on", CPU)))
    assert plain.recipe == {"batch_size": 32, "lr": params.lr, "warmup_epochs": 0, "batch_factor": 1}
    assert fast.recipe["batch_size"] == 32 * 4 and fast.recipe["warmup_epochs"] == 1  # 2048 rows: 16 steps at 128
    assert fast.samples_seen == plain.samples_seen  # the same rows per epoch, in 4x fewer steps
    assert fast.history[-1]["loss"] < fast.history[0]["loss"]  # it learns


def test_compiled_loss_trains_like_the_eager_one():
    # PCL_TORCH_COMPILE: the compiled T1 loss (inductor on the CPU; CUDA graphs on a GPU) gives
    # the eager run's losses and validation scores
    data = _next_item_data(n_users=600, n_items=30, seed=1)
    params = BackboneParams(hidden=16, blocks=1, heads=2, max_len=8, batch_size=32, epochs=2, patience=2,
                            warmup_epochs=0, decay_patience=None, max_decays=None, dropout=0.0)
    _, eager = pretrain_backbone(data, params, TrainContext(seed=0, fingerprint="c", acceleration=resolve("on", CPU)))
    _, compiled = pretrain_backbone(data, params, TrainContext(seed=0, fingerprint="c",
                                                               acceleration=resolve("on", CPU, compile=True)))
    assert resolve("off", CPU, compile=True).compile is False  # compile only with the recipe's static shapes
    for a, b in zip(eager.history, compiled.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4) and a["valid"] == pytest.approx(b["valid"], abs=1e-4)
