"""T1 on the whole history (history_cut 1.0): our backbone recipe (softmax CE at every position)
beside SASRec's original recipe (BCE, one sampled negative per position), same model class,
same leave-one-out split and tie rule, both selected on validation NDCG@10.

    PCL_MOVIELENS_PATH=/tmp/ml-100k python benchmarks/exp_t1_bce.py --home /tmp/h --seed 0 \
        [--ce '{"epochs": 200}'] [--bce '{"epochs": 200}']
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import BackboneParams, load_catalog
from pcl_pipeline.layout import Layout
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import evaluate_next_item, load_next_item_data
from pcl_pipeline.training.pretrain import pretrain_backbone


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ce", default="{}")
    ap.add_argument("--bce", default="{}")
    ap.add_argument("--only", default="ce,bce")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t1 = load_catalog(default_tasks_dir(), "movielens")[0]
    t1 = t1.model_copy(update={"label": t1.label.model_copy(update={"history_cut": 1.0})})
    layout = Layout(args.home, "movielens")
    con = duckdb.connect()
    path = os.environ.get("PCL_MOVIELENS_PATH")
    stages.ingest_raw(con, layout, Path(path) if path else None, seed=args.seed, scale=1.0)
    stages.interactions(con, layout, t1, seed=args.seed)
    stages.sequences(con, layout)
    stages.task_data(con, layout, t1, t1, seed=args.seed)
    data = load_next_item_data(layout, t1)
    for name in args.only.split(","):
        over = json.loads(getattr(args, name))
        params = BackboneParams(**{**t1.hyperparameters, "loss": name, **over})
        t0 = time.perf_counter()
        model, fit = pretrain_backbone(data, params, seed=args.seed, device=torch.device("cpu"),
                                       fingerprint=f"t1-{name}")
        ev = evaluate_next_item(model, data, torch.device("cpu"))
        print(json.dumps({"recipe": name, "params": over, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                          "valid_ndcg@10": fit.best_score, "test": ev["metrics"], "popularity": ev["baselines"],
                          "wall": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
