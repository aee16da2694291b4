"""Experiment driver (no Dagster): the MovieLens chain through the library's stage functions.

    PCL_MOVIELENS_PATH=/tmp/ml-100k python benchmarks/exp_ml100k.py --home /tmp/h --seed 0 \
        [--backbone '{"epochs": 200}'] [--task T2_rate_4plus='{"lr": 1e-3}'] [--reuse-backbone] [--tasks T2,T3]

Prints one JSON line per stage: backbone (valid and test), then each task (valid best score,
test metrics beside baselines). Selection happens on validation inside the library; test
numbers are only printed.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.layout import Layout
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.evaluate import evaluate_task
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.text_encoder import MiniLMEncoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default="movielens")
    ap.add_argument("--backbone", default="{}")
    ap.add_argument("--task", action="append", default=[], help="NAME=JSON hyperparameter overrides")
    ap.add_argument("--tasks", default="", help="comma-separated tasks after T1 to run (default all)")
    ap.add_argument("--reuse-backbone", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    tasks = load_catalog(default_tasks_dir(), args.dataset)
    over = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.task)}
    tasks = [t.model_copy(update={"hyperparameters": {**t.hyperparameters,
                                                      **(json.loads(args.backbone) if t.order == 1 else over.get(t.name, {}))}})
             for t in tasks]
    layout = Layout(args.home, args.dataset)
    data_path = os.environ.get("PCL_MOVIELENS_PATH" if args.dataset == "movielens" else "PCL_TENREC_PATH")
    t0 = time.perf_counter()
    if not (args.reuse_backbone and layout.backbone.tensors.exists()):
        con = duckdb.connect()
        stages.ingest_raw(con, layout, Path(data_path) if data_path else None, seed=args.seed, scale=1.0)
        stages.interactions(con, layout, tasks[0], seed=args.seed)
        stages.sequences(con, layout)
        for task in tasks:
            stages.task_data(con, layout, task, tasks[0], seed=args.seed)
        encoder = MiniLMEncoder()
        for task in tasks:
            embed_task(layout, task, encoder, "minilm")
        man = train_backbone(layout, tasks[0], seed=args.seed, device=device, data_version="exp")
        print(json.dumps({"stage": "backbone", "best_epoch": man["best_epoch"], "epochs_run": man["epochs_run"],
                          "valid_ndcg@10": man["best_valid_ndcg@10"], "wall": round(man["wall_seconds"], 1),
                          "test": man["test"]["metrics"], "popularity": man["test"]["baselines"]}), flush=True)
    chosen = [t for t in tasks[1:] if not args.tasks or t.name in args.tasks.split(",")]
    for task in chosen:
        chain = tasks[:task.order]
        man = train_prompt(layout, chain, seed=args.seed, device=device, data_version="exp", init_from=None)
        ev = evaluate_task(layout, task, tasks[0], device)
        out = {"stage": task.name, "params": task.hyperparameters, "best_epoch": man["best_epoch"],
               "epochs_run": man["epochs_run"], "valid": man[f"best_valid_{task.metric}"],
               "valid_extra": man.get("valid_extra"), "wall": round(man["wall_seconds"], 1),
               "test": ev["metrics"], "baseline": ev["baselines"], "n_oov": ev.get("n_out_of_vocab"),
               "n_test": ev["n_test"]}
        if "reference" in ev:
            out["reference"] = ev["reference"]["metrics"]
            out["reference_C"] = ev["reference"]["C"]
            out["reference_last_L"] = ev["reference"]["last_L"]["metrics"]
        print(json.dumps(out), flush=True)
    print(json.dumps({"stage": "total", "wall": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
