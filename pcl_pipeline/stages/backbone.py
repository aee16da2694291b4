"""The backbone stage: pretrain SASRec on T1, evaluate it on T1's test split, store it."""
from __future__ import annotations

import time
from typing import Callable

import pyarrow.parquet as pq
import torch

from pcl_pipeline.artifacts import load_artifact, load_manifest, save_artifact
from pcl_pipeline.catalog import BackboneParams, TaskSpec
from pcl_pipeline.evaluation.protocol import evaluate_ranking
from pcl_pipeline.layout import Layout
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.stages.common import fingerprint, save_curve
from pcl_pipeline.training.pretrain import NextItemData, identity_map, pretrain_backbone, score_all_items


def n_backbone_items(layout: Layout, t1: TaskSpec) -> int:
    return pq.read_metadata(layout.task_data(t1.name).vocab).num_rows


def load_next_item_data(layout: Layout, t1: TaskSpec) -> NextItemData:
    params: BackboneParams = t1.params  # type: ignore[assignment]
    return NextItemData.load(layout.task_data(t1.name).rows, n_backbone_items(layout, t1), params.max_len)


def evaluate_next_item(model: SASRec, data: NextItemData, device: torch.device) -> dict:
    """T1 test metrics beside popularity over the training sequences, with the cold-start slice."""
    return evaluate_ranking(score_all_items(model), data.test, data.train.inputs, identity_map(data.n_items),
                            data.n_items, device)


def train_backbone(layout: Layout, t1: TaskSpec, *, seed: int, device: torch.device, data_version: str,
                   on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Pretrain, evaluate and save the backbone; return its manifest (with metrics and timings)."""
    params: BackboneParams = t1.params  # type: ignore[assignment]
    data = load_next_item_data(layout, t1)
    config_hash = fingerprint(params.model_dump(), seed)
    t0 = time.perf_counter()
    model, fit = pretrain_backbone(data, params, seed=seed, device=device,
                                   fingerprint=fingerprint(config_hash, data_version),
                                   checkpoint=layout.backbone_checkpoint, on_epoch=on_epoch)
    evaluation = evaluate_next_item(model, data, device)
    curve = save_curve(layout.curve("backbone"), fit.history, f"{layout.dataset} backbone (T1 {t1.name})")
    manifest = {
        "asset": f"{layout.dataset}/backbone", "task": t1.name, "init_from": None,
        "model_config": model.cfg.to_dict(), "params": params.model_dump(), "config_hash": config_hash,
        "seed": seed, "data_version": data_version, "device": str(device),
        "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, "best_valid_ndcg@10": fit.best_score,
        "history": fit.history, "throughput_seq_per_s": fit.throughput,
        "trainable_params": sum(p.numel() for p in model.parameters()),
        "train_sequences": len(data.train), "wall_seconds": time.perf_counter() - t0,
        "test": evaluation,
    }
    saved = save_artifact(layout.backbone, model.state_dict(), manifest)
    saved["curve_png_base64"] = curve
    return saved


def load_backbone(layout: Layout, device: torch.device) -> tuple[SASRec, dict]:
    """The stored backbone, frozen and in eval mode, after strict shape and hash checks."""
    manifest = load_manifest(layout.backbone)
    model = SASRec(SASRecConfig(**manifest["model_config"]))
    tensors, manifest = load_artifact(layout.backbone, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(tensors, strict=True)
    model.requires_grad_(False)
    return model.to(device).eval(), manifest
