"""What the large-batch recipe (training/acceleration.py) does to a task's quality, on any device:
one task after T1 trained with the catalog's settings (the baseline) and with the recipe at
several batch factors, each from the same stored backbone, validation and test side by side.

    python benchmarks/bench_recipe.py --dataset tenrec --task T2_article_rec --scale 3
    python benchmarks/bench_recipe.py --dataset movielens --task T2_rate_4plus --factors 2,4,8 --seed 1
    python benchmarks/bench_recipe.py --dataset movielens --task T1_next_item --scale 14 --factors 4

The data is the embedded default at --scale through the real readers and DuckDB stages, the
text encoder the random one, the backbone trained once per data folder (kept under --home, so
a rerun reuses it); with T1 the backbone itself is trained under each recipe. Factors are upper bounds: the recipe lowers a factor that would leave fewer
than 16 steps per epoch. The choice of the default factor is made on validation; test is
printed beside it only to show what the choice costs.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.evaluate import evaluate_stored
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.text_encoder import RandomTextEncoder
from pcl_pipeline.training.acceleration import Acceleration
from pcl_pipeline.training.context import TrainContext


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="tenrec")
    parser.add_argument("--task", default="T2_article_rec")
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factors", default="4,8", help="comma-separated batch factors (upper bounds) to try")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--home", type=Path, default=Path("/tmp/pcl-bench-recipe"))
    args = parser.parse_args()
    device = torch.device(args.device)
    tasks = load_catalog(default_tasks_dir(), args.dataset)
    k = next(i for i, t in enumerate(tasks) if t.name == args.task)
    task = tasks[k]
    store = ArtifactStore(args.home / f"{args.dataset}-scale{args.scale:g}-seed{args.seed}").dataset(args.dataset)
    if not store.task_data_paths(tasks[-1].name).rows.exists():
        stages.prepare_tables(duckdb.connect(), store, tasks, None, seed=args.seed, scale=args.scale)
        for t in tasks:
            store.save_task_text(embed_task(t, RandomTextEncoder(), "random"))
    if k > 0 and not store.backbone_paths.tensors.exists():
        backbone = train_backbone(store, tasks[0], TrainContext(seed=args.seed, device=device))
        store.save_backbone(backbone.model, backbone.manifest)
    runs = [("catalog", Acceleration(enabled=False))]
    runs += [(f"recipe x{f}", Acceleration(enabled=True, batch_multiplier=int(f))) for f in args.factors.split(",")]
    rows = []
    for name, acceleration in runs:
        t0 = time.perf_counter()
        if k == 0:  # the backbone under this recipe, evaluated on T1's test split by train_backbone
            manifest = train_backbone(store, task, TrainContext(seed=args.seed, device=device,
                                                                acceleration=acceleration)).manifest
            valid, test = manifest["best_valid_ndcg@10"], manifest["test"]["metrics"]["ndcg@10"]
        else:
            trained = train_prompt(store, tasks[:k + 1], TrainContext(seed=args.seed, device=device,
                                                                      acceleration=acceleration), init_from=None)
            store.save_task_parts(task.name, trained.model, trained.manifest)
            test = evaluate_stored(store, task, tasks[0], device, with_reference=False)["metrics"][task.metric]
            manifest = trained.manifest
            valid = manifest[f"best_valid_{manifest['selected_on']}"]
        rows.append((name, manifest["recipe"], valid, test, manifest["epochs_run"], time.perf_counter() - t0))
    base_valid, base_test = rows[0][2], rows[0][3]
    print(f"\n== {args.dataset}/{task.name}, scale {args.scale:g}, seed {args.seed}, {device}; "
          f"{manifest.get('train_rows', manifest.get('train_sequences')):,} training rows; baseline: catalog ==")
    print(f"{'run':<12} {'batch':>6} {'lr':>9} {'warm-up':>8} {'valid ' + task.metric:>15} {'change':>8} "
          f"{'test ' + task.metric:>14} {'change':>8} {'epochs':>7} {'seconds':>8}")
    for name, recipe, valid, test, epochs, seconds in rows:
        print(f"{name:<12} {recipe['batch_size']:>6} {recipe['lr']:>9.2e} {recipe['warmup_epochs']:>8} {valid:>15.4f} "
              f"{(valid - base_valid) / base_valid:>+8.1%} {test:>14.4f} {(test - base_test) / base_test:>+8.1%} "
              f"{epochs:>7} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
