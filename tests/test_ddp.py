"""Backbone pretraining under torch DDP (torchrun, 2 gloo processes on the CPU) trains the same
model as one process on the same global batch: every step sees the same sequences, the loss is
normalised by the global count, the gradients are averaged."""
from __future__ import annotations

import duckdb
import torch
import yaml

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.training.loop import seed_everything
from pcl_pipeline.training.context import TrainContext
from tests.conftest import write_tiny_catalog

CPU = torch.device("cpu")


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path):
    tasks_dir = write_tiny_catalog(tmp_path / "tasks")
    t1_file = tasks_dir / "movielens" / "T1_next_item.yaml"
    spec = yaml.safe_load(t1_file.read_text())
    # no dropout: its masks are drawn per process, the one thing that must differ between the runs
    spec["hyperparameters"] = {"epochs": 3, "batch_size": 64, "dropout": 0.0}
    t1_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    tasks = load_catalog(tasks_dir, "movielens")
    store = ArtifactStore(tmp_path / "home").dataset("movielens")
    stages.prepare_tables(duckdb.connect(), store, tasks, None, seed=0, scale=0.3)

    one = train_backbone(store, tasks[0], TrainContext(seed=0, device=CPU))
    two = train_backbone(store, tasks[0], TrainContext(seed=0, device=CPU), processes=2, backend="gloo")
    assert two.manifest["processes"] == 2 and two.manifest["epochs_run"] == one.manifest["epochs_run"]
    gaps = {k: (v - two.model.state_dict()[k]).abs().max().item() for k, v in one.model.state_dict().items()}
    assert max(gaps.values()) < 1e-4, sorted(gaps.items(), key=lambda kv: -kv[1])[:3]
    seed_everything(0)  # the initialisation both started from: training moved far from it
    start = SASRec(SASRecConfig.build(one.model.cfg.n_items, tasks[0].backbone_params)).state_dict()
    assert max((v - start[k]).abs().max().item() for k, v in one.model.state_dict().items()) > 100 * max(gaps.values())
    # the same validation score every epoch (the logged loss is rank 0's share, so it differs)
    assert [round(h["valid"], 6) for h in one.manifest["history"]] == [round(h["valid"], 6) for h in two.manifest["history"]]
    assert abs(one.manifest["test"]["metrics"]["ndcg@10"] - two.manifest["test"]["metrics"]["ndcg@10"]) < 1e-4
