"""Training throughput of backbone pretraining and prompt tuning, per device, in one process.

    python benchmarks/bench_training.py --scale 1 --epochs 3            # CPU only
    python benchmarks/bench_training.py --scale 20 --devices cpu,cuda   # CPU baseline beside CUDA
    python benchmarks/bench_training.py --scale 100 --devices cuda,cuda:1024   # batch 128 vs 1024

Data: the embedded MovieLens default at --scale, through the real readers and DuckDB stages.
Prints sequences/s per phase and device, and the ratio against the CPU run (the baseline).
Needs no Dagster (only the library), so it also runs on a bare GPU machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import BackboneParams, TaskParams, load_catalog
from pcl_pipeline.model.pcl import build_task_model
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.artifact_store import ArtifactStore, DatasetStore
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.pretrain import pretrain_backbone
from pcl_pipeline.training.prompt_tuning import tune_task


def prepare(home: Path, scale: float) -> tuple[DatasetStore, list]:
    tasks = load_catalog(default_tasks_dir(), "movielens")
    store = ArtifactStore(home).dataset("movielens")
    con = duckdb.connect()
    stages.prepare_tables(con, store, tasks[:2], None, seed=0, scale=scale)
    return store, tasks


def bench(store: DatasetStore, tasks: list, device: torch.device, epochs: int, batch_size: int | None) -> dict:
    t1, t2 = tasks[0], tasks[1]
    size = {"batch_size": batch_size} if batch_size else {}
    params = BackboneParams(**{**t1.hyperparameters, "epochs": epochs, "patience": epochs, **size})
    data = store.next_item_data(t1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    backbone, fit = pretrain_backbone(data, params, TrainContext(seed=0, device=device, fingerprint=f"bench-{device}"))
    wall = time.perf_counter() - t0
    task_params = TaskParams(**{**t2.hyperparameters, "epochs": epochs, "patience": epochs, **size})
    task_data = store.task_data(t2, backbone.cfg.n_items, backbone.cfg.max_len)
    texts = torch.randn(2, 384)  # throughput only: the encoder's output values do not change the cost
    model = build_task_model(backbone, t2.kind, task_data.n_targets, task_params, texts, None)
    t1_wall = time.perf_counter()
    tfit = tune_task(model, task_data, task_params, t2.metric, TrainContext(seed=0, device=device,
                                                                             fingerprint=f"bench-{device}"))
    return {"device": f"{device}/{params.batch_size}", "backbone_seq_s": fit.throughput, "backbone_wall": wall,
            "backbone_valid_ndcg10": fit.best_score, "prompt_seq_s": tfit.throughput,
            "prompt_wall": time.perf_counter() - t1_wall, "train_sequences": len(data.train),
            "prompt_rows": len(task_data.train)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--devices", default="cpu" + (",cuda" if torch.cuda.is_available() else ""),
                        help="comma-separated; the first is the baseline; DEVICE:BATCH sets a batch size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, tasks = prepare(Path(tmp), args.scale)
        rows = []
        for spec in args.devices.split(","):
            name, _, batch = spec.partition(":")
            rows.append(bench(store, tasks, torch.device(name), args.epochs, int(batch) if batch else None))
    base = rows[0]
    print(f"\nscale {args.scale}, {rows[0]['train_sequences']} T1 training sequences, {rows[0]['prompt_rows']} T2 rows, "
          f"{args.epochs} epochs, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"{'device/batch':<14} {'backbone seq/s':>15} {'x base':>7} {'prompt seq/s':>13} {'x base':>7} "
          f"{'backbone s':>11} {'valid ndcg@10':>14}")
    for r in rows:
        print(f"{r['device']:<14} {r['backbone_seq_s']:>15.0f} {r['backbone_seq_s'] / base['backbone_seq_s']:>7.2f} "
              f"{r['prompt_seq_s']:>13.0f} {r['prompt_seq_s'] / base['prompt_seq_s']:>7.2f} "
              f"{r['backbone_wall']:>11.1f} {r['backbone_valid_ndcg10']:>14.4f}")
    print(f"(baseline: the {base['device']} run in this process; CUDA runs use bf16 autocast)")


if __name__ == "__main__":
    main()
