"""PCL mechanics: freezing is exact, the trainable set is exactly prompt + context + adapter,
inheritance copies p_{k-1}, the loop resumes from its checkpoint, artifacts load strictly."""
from __future__ import annotations

import pytest
import torch

from pcl_pipeline.catalog import BackboneParams, TaskParams
from pcl_pipeline.data.splits import Split, TaskData, left_pad
from pcl_pipeline.model.pcl import build_task_model, count_parameters
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.store.artifacts import ArtifactError, ArtifactPaths, load_artifact, save_artifact
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import LoopConfig, Objective, fit
from pcl_pipeline.training.pretrain import next_item_loss
from pcl_pipeline.training.prompt_tuning import tune_task

D, N_ITEMS, TEXT_DIM = 16, 30, 384


def _split(n: int, n_targets: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(1, N_ITEMS + 1, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]
    return Split(users=torch.arange(n), sequences=left_pad(seqs, 10),
                 targets=torch.randint(1 if n_targets > 3 else 0, n_targets, (n,), generator=g))


def _backbone() -> SASRec:
    torch.manual_seed(0)
    return SASRec(SASRecConfig(n_items=N_ITEMS, hidden=D, blocks=1, heads=2, max_len=10, dropout=0.2)).eval()


def _texts(k: int) -> torch.Tensor:
    return torch.randn(k, TEXT_DIM)


@pytest.mark.parametrize("kind,n_targets", [("item_rec", 12), ("classification", 3)])
def test_backbone_is_bit_identical_after_training_a_task(kind, n_targets):
    backbone = _backbone()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    data = TaskData(kind=kind, train=_split(64, n_targets, 1), valid=_split(16, n_targets, 2),
                    test=_split(16, n_targets, 3), n_targets=n_targets - (kind == "item_rec"), to_target=None)
    params = TaskParams(epochs=3, batch_size=16, prompt_len=4, adapter_hidden=8)
    model = build_task_model(backbone, kind, data.n_targets, params, _texts(2), None)
    prompt_before = model.prompt.weight.detach().clone()
    metric = "ndcg@10" if kind == "item_rec" else "accuracy"
    tune_task(model, data, params, metric, TrainContext(seed=0, fingerprint="t"))
    for key, value in backbone.state_dict().items():
        assert torch.equal(before[key], value), key
    assert all(not p.requires_grad for p in backbone.parameters())
    assert not torch.equal(prompt_before, model.prompt.weight)  # the task's own parts did train


def test_trainable_parameters_are_exactly_prompt_context_adapter():
    backbone = _backbone()
    params = TaskParams(prompt_len=4, context_heads=2)
    model = build_task_model(backbone, "item_rec", 12, params, _texts(3), None)
    t, d, n = 4, D, 12
    prompt = t * d
    context = (TEXT_DIM * d + d) + (3 * d * d + 3 * d) + (d * d + d)  # projection + attention in/out
    adapter = (d * d + d) + (n + 1) * d + (n + 1)  # transform + own item table + bias
    assert count_parameters(model.trainable_parameters()) == prompt + context + adapter
    trainable_ids = {id(p) for p in model.trainable_parameters()}
    assert trainable_ids == {id(p) for p in model.parameters() if p.requires_grad}
    assert set(model.task_state()) == {k for k in model.state_dict() if not k.startswith("backbone.")}
    clf = build_task_model(backbone, "classification", 3, TaskParams(prompt_len=4, adapter_hidden=8), _texts(2), None)
    # mean-pool + last state: the MLP reads 2d features
    assert count_parameters(clf.trainable_parameters()) == prompt + context + (2 * d * 8 + 8) + (8 * 3 + 3)


def test_item_prior_scores_start_at_the_frozen_backbone_scores():
    backbone = _backbone()
    to_backbone = torch.tensor([0, 3, 1, 0, 2])  # target 3 is a new item: no backbone row
    model = build_task_model(backbone, "item_rec", 4, TaskParams(prompt_len=4), _texts(2), None,
                             to_backbone=to_backbone).eval()
    seq = left_pad([[1, 2, 3], [4, 5]], backbone.cfg.max_len)
    with torch.no_grad():
        user = model.user_repr(seq)  # (B, d)
        expected = backbone.item_scores(user)[:, to_backbone] + model.adapter.bias  # residual table is zero
        expected[:, 3] = model.adapter.bias[3]
        assert torch.allclose(model(seq), expected, atol=1e-6)
    assert "item_prior" not in model.task_state()  # derived from vocabulary + backbone, never stored
    assert torch.count_nonzero(model.adapter.items.weight) == 0


def test_prompt_is_inherited_from_the_previous_task():
    backbone = _backbone()
    previous = torch.randn(4, D)
    model = build_task_model(backbone, "item_rec", 5, TaskParams(prompt_len=4), _texts(3), previous)
    assert torch.equal(model.prompt.weight.detach(), previous)
    with pytest.raises(ValueError, match="inherited prompt has shape"):
        build_task_model(backbone, "item_rec", 5, TaskParams(prompt_len=8), _texts(3), previous)


def test_prompt_only_touches_the_last_t_positions():
    backbone = _backbone()
    model = build_task_model(backbone, "item_rec", 5, TaskParams(prompt_len=3), _texts(2), None)
    layout = model.prompt(10)
    assert torch.count_nonzero(layout[:7]) == 0 and torch.equal(layout[7:], model.prompt.weight)


def test_next_item_loss_full_and_sampled_softmax_are_finite_and_learn():
    model = _backbone().train()
    seqs = left_pad([[1, 2, 3, 4, 5], [6, 7, 8]], 11)
    full = next_item_loss(model, seqs, BackboneParams())
    sampled = next_item_loss(model, seqs, BackboneParams(sampled_softmax_above=10, num_negatives=8))
    assert torch.isfinite(full) and torch.isfinite(sampled)
    full.backward()
    assert model.item_emb.weight.grad is not None


class _Stop(Exception):
    pass


def _regression_fit(checkpoint, stop_at: int | None = None, steps: list | None = None, **schedule):
    """A tiny least-squares problem through the real loop; optionally interrupted after an epoch;
    `steps` collects the size of every batch it trains on (what a resumed run really trained)."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(32, 1, generator=torch.Generator().manual_seed(2))

    def batches(g):
        yield from torch.randperm(32, generator=g).split(8)

    def step(idx):
        if steps is not None:
            steps.append(len(idx))
        return ((layer(x[idx]) - y[idx]) ** 2).mean(), len(idx)

    def validate():
        with torch.no_grad():
            return -float(((layer(x) - y) ** 2).mean())

    def on_epoch(record):
        if record["epoch"] == stop_at:
            raise _Stop  # raised before that epoch's checkpoint: the previous epoch's one remains

    cfg = LoopConfig(**{"epochs": 4, "patience": 100, "lr": 0.05, "weight_decay": 0.0, "checkpoint_seconds": 0.0,
                        **schedule})
    return fit(Objective(list(layer.parameters()), step, batches, validate, layer.state_dict, layer.load_state_dict),
               cfg, TrainContext(seed=0, fingerprint="f", checkpoint=checkpoint, on_epoch=on_epoch))


def _assert_resumed(caplog, ckpt, steps: list, epochs_left: int) -> None:
    """The run really resumed: it said so, trained only the epochs after the checkpoint's, and
    rejected nothing (a silently rejected checkpoint would retrain from epoch 1 to the same result)."""
    assert any(f"resuming from {ckpt}" in r.getMessage() for r in caplog.records)
    assert len(steps) == epochs_left * 4 and sum(steps) == epochs_left * 32  # 4 batches of 8 per epoch
    assert not ckpt.with_name(ckpt.name + ".rejected").exists()
    assert not any("not a checkpoint" in r.getMessage() for r in caplog.records)


def test_training_resumes_from_its_checkpoint(tmp_path, caplog):
    """A run interrupted after epoch 2 and resumed gives exactly the uninterrupted run's result."""
    full = _regression_fit(None)
    ckpt = tmp_path / "ck.pt"
    with pytest.raises(_Stop):
        _regression_fit(ckpt, stop_at=3)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2  # a legitimate checkpoint loads without pickled code
    steps: list[int] = []
    with caplog.at_level("INFO", logger="pcl_pipeline.training.loop"):
        resumed = _regression_fit(ckpt, steps=steps)
    _assert_resumed(caplog, ckpt, steps, epochs_left=2)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.best_score == full.best_score
    assert all(torch.equal(resumed.best_state[k], full.best_state[k]) for k in full.best_state)
    assert not ckpt.exists()  # a finished run leaves no checkpoint behind


def test_training_with_a_schedule_resumes_bit_exact(tmp_path, caplog):
    """Warm-up and plateau cuts survive an interruption: the checkpoint carries the schedule."""
    schedule = {"epochs": 12, "lr": 0.5, "warmup_epochs": 2, "decay_patience": 1}
    full = _regression_fit(None, **schedule)
    lrs = [h["lr"] for h in full.history]
    assert lrs[:3] == [0.5 / 3, 0.5 * 2 / 3, 0.5] and min(lrs[3:6]) < 0.5  # warmed up, then cut by epoch 6
    ckpt = tmp_path / "ck.pt"
    with pytest.raises(_Stop):
        _regression_fit(ckpt, stop_at=7, **schedule)
    steps: list[int] = []
    with caplog.at_level("INFO", logger="pcl_pipeline.training.loop"):
        resumed = _regression_fit(ckpt, steps=steps, **schedule)
    _assert_resumed(caplog, ckpt, steps, epochs_left=len(full.history) - 6)
    assert resumed.history == [{**h, "seconds": r["seconds"]} for h, r in zip(full.history, resumed.history)]
    assert resumed.best_score == full.best_score and resumed.stop_reason == full.stop_reason
    assert all(torch.equal(resumed.best_state[k], full.best_state[k]) for k in full.best_state)


def _scripted_fit(scores: list[float], **schedule):
    """The loop on a model that never changes, validated by a script: the schedule alone acts."""
    weight = torch.nn.Parameter(torch.zeros(1))
    it = iter(scores)
    cfg = LoopConfig(**{"epochs": len(scores), "patience": 100, "lr": 0.1, "weight_decay": 0.0, **schedule})
    return fit(Objective([weight], lambda _: ((weight * 0).sum(), 1), lambda g: [None], lambda: next(it),
                         lambda: {"w": weight.detach()}, lambda s: None), cfg, TrainContext(seed=0, fingerprint="s"))


def test_schedule_warms_up_halves_on_plateau_and_stops_when_converged():
    scores = [0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.35, 0.3, 0.3, 0.3, 0.3, 0.3]
    run = _scripted_fit(scores, warmup_epochs=2, decay_patience=2, decay_factor=0.5, max_decays=1)
    # linear warm-up to the peak at epoch 3; two epochs without a better score after the best
    # (epoch 3) halve the lr after epoch 5; the better score at 7 restarts the count; two more
    # flat epochs with the one allowed cut used up: converged, stop after epoch 9
    assert [h["lr"] for h in run.history] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert (run.best_epoch, run.epochs_run, run.stop_reason) == (7, 9, "converged")
    # without max_decays only patience stops: cuts after 5, 9 and 11; patience 4 ends it after epoch 11
    run = _scripted_fit(scores, warmup_epochs=2, decay_patience=2, patience=4)
    assert [h["lr"] for h in run.history][5:] == pytest.approx([0.05, 0.05, 0.05, 0.05, 0.025, 0.025])
    assert (run.best_epoch, run.epochs_run, run.stop_reason) == (7, 11, "patience")
    # no schedule: constant lr, and running every epoch is reported as stopping at the cap
    run = _scripted_fit(scores)
    assert {h["lr"] for h in run.history} == {0.1} and (run.epochs_run, run.stop_reason) == (12, "cap")


def test_artifact_roundtrip_and_strict_loading(tmp_path):
    paths = ArtifactPaths.at(tmp_path, "a")
    tensors = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    manifest = save_artifact(paths, tensors, {"task": "T2", "init_from": None})
    loaded, got = load_artifact(paths, {"w": (2, 3), "b": (3,)})
    assert torch.equal(loaded["w"], tensors["w"]) and got["task"] == "T2" and got["sha256"] == manifest["sha256"]
    with pytest.raises(ArtifactError, match=r"w: shape \(2, 3\), expected \(3, 2\)"):
        load_artifact(paths, {"w": (3, 2), "b": (3,)})
    with pytest.raises(ArtifactError, match=r"missing keys \['c'\]"):
        load_artifact(paths, {"w": (2, 3), "b": (3,), "c": (1,)})
    data = bytearray(paths.tensors.read_bytes())
    data[-1] ^= 0xFF
    paths.tensors.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        load_artifact(paths)
    paths.manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match="manifest is not valid JSON"):
        load_artifact(paths)


def test_attention_mask_blocks_the_future_and_padding_keys():
    model = _backbone()
    seq = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    mask = model.attention_mask(seq, torch.float32)  # (B, 1, L, L): one mask for every head
    assert mask.shape == (2, 1, 4, 4)
    blocked = mask[0, 0] < 0  # first row
    assert blocked[:, :2].all()  # padding keys blocked for every query
    assert not blocked[3, 2:].any() and blocked[2, 3]  # causal: position 2 may not see 3
    assert not (mask[1, 0] < 0).tril().any()  # second row, no padding: only the future blocked
    out = model.encode(seq)
    assert torch.isfinite(out).all() and torch.count_nonzero(out[0, :2]) == 0


def test_a_task_trains_to_the_same_artifact_whatever_ran_before(tmp_path):
    """The stage seeds the task's fresh parts itself: a full run and a task added alone agree."""
    import duckdb

    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.stages import data as stages
    from pcl_pipeline.stages.backbone import train_backbone
    from pcl_pipeline.stages.prompt import train_prompt
    from pcl_pipeline.stages.text import embed_task
    from pcl_pipeline.store.artifact_store import ArtifactStore
    from pcl_pipeline.text_encoder import RandomTextEncoder
    from tests.conftest import write_tiny_catalog

    tasks = load_catalog(write_tiny_catalog(tmp_path / "tasks"), "movielens")
    store = ArtifactStore(tmp_path / "home").dataset("movielens")
    con = duckdb.connect()
    stages.prepare_tables(con, store, tasks[:2], None, seed=0, scale=0.3)
    for task in tasks[:2]:
        store.save_task_text(embed_task(task, RandomTextEncoder(), "random"))
    cpu = torch.device("cpu")
    backbone = train_backbone(store, tasks[0], TrainContext(seed=0, device=cpu))
    store.save_backbone(backbone.model, backbone.manifest)

    def train_and_save() -> str:
        trained = train_prompt(store, tasks[:2], TrainContext(seed=0, device=cpu), init_from=None)
        return store.save_task_parts(tasks[1].name, trained.model, trained.manifest)["sha256"]

    first = train_and_save()
    torch.rand(12345)  # other work in the same process moves the global RNG
    second = train_and_save()
    assert first == second
    reloaded, _ = store.load_task_model(tasks[1].name, cpu)  # the stored parts rebuild the same model
    assert store.save_task_parts("copy", reloaded, {})["sha256"] == first


def test_bce_reference_loss_is_finite_and_learns():
    from pcl_pipeline.training.pretrain import bce_next_item_loss

    torch.manual_seed(0)
    model = _backbone().train()
    seqs = left_pad([[1, 2, 3, 4, 5], [6, 7, 8]], 11)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = bce_next_item_loss(model, seqs)
    for _ in range(20):
        loss = bce_next_item_loss(model, seqs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(first) and loss.item() < first.item()


def test_atomic_writes_leave_files_readable_by_others(tmp_path):
    import stat

    from pcl_pipeline.store.files import write_json

    write_json(tmp_path / "r.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_fused_attention_equals_multihead_attention_on_the_same_parameters():
    """Block.attend (scaled_dot_product_attention) computes what nn.MultiheadAttention computes
    with its own parameters and the per-head mask: stored artifacts mean what they meant."""
    model = _backbone().eval()
    seq = torch.tensor([[0, 0, 3, 4, 1], [1, 2, 3, 4, 2], [0, 0, 0, 0, 5]])
    x = model.embed(seq)
    mask = model.attention_mask(seq, x.dtype)  # (B, 1, L, L)
    block = model.blocks[0]
    q = block.ln_attn(x)
    expected, _ = block.attn(q, x, x, attn_mask=mask.squeeze(1).repeat_interleave(model.cfg.heads, dim=0),
                             need_weights=False)
    assert torch.allclose(block.attend(q, x, mask), expected, atol=1e-6)


def test_checkpoints_are_written_by_elapsed_time_not_every_epoch(tmp_path):
    """With the default cadence (30 s), a fit of a few milliseconds writes no checkpoint at all;
    an interruption then restarts from epoch 1 (tested above: with cadence 0 it resumes)."""
    ckpt = tmp_path / "ck.pt"
    with pytest.raises(_Stop):
        _regression_fit(ckpt, stop_at=3, checkpoint_seconds=30.0)
    assert not ckpt.exists()
