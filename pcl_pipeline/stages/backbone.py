"""The backbone stage: pretrain SASRec on T1 and evaluate it on T1's test split."""
from __future__ import annotations

import time
from dataclasses import dataclass
import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.evaluation.protocol import evaluate_next_item
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.plots import training_curve_png
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import fingerprint
from pcl_pipeline.training.acceleration import resolve
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.distributed import launch
from pcl_pipeline.training.pretrain import pretrain_backbone


@dataclass(frozen=True)
class TrainedBackbone:
    model: SASRec  # best validation state, in eval mode
    manifest: dict  # what the artifact's manifest records (metrics, config, timings, lineage)
    curve_png: bytes  # loss and validation NDCG@10 per epoch


def train_backbone(store: DatasetStore, t1: TaskSpec, ctx: TrainContext, *, processes: int = 1,
                   backend: str = "auto") -> TrainedBackbone:
    """Pretrain on T1's rows (resuming the store's checkpoint if one fits) and evaluate on test.
    processes > 1: data-parallel under torchrun (training/distributed.py), same global batch.
    ctx.acceleration None: chosen from the device (training/acceleration.py; the DDP path uses
    the catalog's batch as the global batch). The checkpoint and fingerprint are set here."""
    seed, device = ctx.seed, ctx.device
    acceleration = ctx.acceleration or resolve("auto", device)
    params = t1.backbone_params
    data = store.next_item_data(t1)
    data_version = store.task_data_version(t1.name)
    config_hash = fingerprint(params.model_dump(), seed)
    t0 = time.perf_counter()
    if processes > 1:
        fit = launch(store.home, store.dataset, store.variant, t1, seed=seed, processes=processes, device=device,
                     backend=backend, config_fingerprint=fingerprint(config_hash, data_version, "ddp", processes))
        model = SASRec(SASRecConfig.build(data.n_items, params)).to(device)
        model.load_state_dict(fit.best_state)
        model.eval()
    else:
        model, fit = pretrain_backbone(data, params, ctx.replace(
            fingerprint=fingerprint(config_hash, data_version), acceleration=acceleration,
            checkpoint=store.backbone_checkpoint))
    evaluation = evaluate_next_item(model, data, device)
    manifest = {
        "asset": f"{store.dataset}/backbone", "task": t1.name, "init_from": None,
        "model_config": model.cfg.to_dict(), "params": params.model_dump(), "config_hash": config_hash,
        "seed": seed, "data_version": data_version, "device": str(device), "torch_threads": torch.get_num_threads(),
        "processes": processes, **fit.manifest_fields("ndcg@10"),
        "trainable_params": sum(p.numel() for p in model.parameters()),
        "train_sequences": len(data.train), "wall_seconds": time.perf_counter() - t0,
        "test": evaluation,
    }
    curve = training_curve_png(fit.history, f"{store.dataset} backbone (T1 {t1.name})")
    return TrainedBackbone(model, manifest, curve)
