"""The eval stage: test metrics of a task from its stored artifact, beside the trivial baseline."""
from __future__ import annotations

import time

import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.evaluation.protocol import evaluate_classification, evaluate_ranking
from pcl_pipeline.evaluation.reference import logistic_reference
from pcl_pipeline.layout import Layout
from pcl_pipeline.stages.backbone import evaluate_next_item, load_backbone, load_next_item_data
from pcl_pipeline.stages.prompt import load_task_data, load_task_model
from pcl_pipeline.storage import write_json


def evaluate_stored(layout: Layout, task: TaskSpec, t1: TaskSpec, device: torch.device) -> dict:
    """Evaluate `task` on its test split using only stored artifacts (backbone, and the task's parts)."""
    t0 = time.perf_counter()
    if task.kind == "next_item":
        model, manifest = load_backbone(layout, device)
        result = evaluate_next_item(model, load_next_item_data(layout, t1), device)
    else:
        model, manifest = load_task_model(layout, task, device)
        data = load_task_data(layout, task, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
        if task.kind == "item_rec":
            result = evaluate_ranking(model, data.test, data.train.targets, data.to_target, data.n_targets, device)
        else:
            result = evaluate_classification(model, data.test, data.train.targets, data.n_targets, device)
            result["reference"] = logistic_reference(data.train, data.valid, data.test, model.backbone.cfg.n_items,
                                                     data.n_targets, seed=manifest["seed"])
    result.update({
        "name": task.name, "kind": task.kind, "order": task.order, "metric": task.metric,
        "trainable_params": manifest["trainable_params"], "wall_seconds": manifest["wall_seconds"],
        "eval_seconds": time.perf_counter() - t0, "artifact_sha256": manifest["sha256"],
        "init_from": manifest.get("init_from"), "epochs_run": manifest["epochs_run"],
    })
    return result


def evaluate_task(layout: Layout, task: TaskSpec, t1: TaskSpec, device: torch.device) -> dict:
    """evaluate_stored, written to the task's eval file (the record at learning time)."""
    result = evaluate_stored(layout, task, t1, device)
    write_json(layout.eval(task.name), result)
    return result
