"""The eval stage: test metrics of a task from stored artifacts, beside the trivial baseline, and
the forgetting row: every earlier task re-scored from what is stored at the same moment."""
from __future__ import annotations

import time

import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.evaluation.protocol import evaluate_classification, evaluate_next_item, evaluate_ranking
from pcl_pipeline.evaluation.reference import logistic_reference, reference_key
from pcl_pipeline.recipe import PCL, TaskRecipe
from pcl_pipeline.store.artifact_store import DatasetStore


def evaluate_stored(store: DatasetStore, task: TaskSpec, t1: TaskSpec, device: torch.device,
                    with_reference: bool = True, recipe: TaskRecipe = PCL, current: str | None = None) -> dict:
    """Evaluate `task` on its test split using only stored artifacts (backbone, and the task's parts),
    loaded as `recipe` scores them once `current` (the scored chain's last task; None: only T1)
    has been learned (recipe.load_for_scoring, recipe.backbone_for_scoring).

    Classification also gets the bag-of-items logistic-regression reference (with_reference),
    which depends on the data only, so the forgetting row leaves it out."""
    t0 = time.perf_counter()
    if task.kind == "next_item":
        model, manifest = recipe.backbone_for_scoring(store, device, current)
        result = evaluate_next_item(model, store.next_item_data(t1), device)
    else:
        model, manifest = recipe.load_for_scoring(store, task.name, device, current or task.name)
        data = store.task_data(task, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
        if task.kind == "item_rec":
            result = evaluate_ranking(model, data.test, data.train.targets, data.to_target, data.n_targets, device)
        else:
            result = evaluate_classification(model, data.test, data.train.targets, data.n_targets, device)
            if with_reference:
                result["reference"] = reference(store, task, data, model.backbone.cfg.n_items, manifest["seed"])
    result.update({
        "name": task.name, "kind": task.kind, "order": task.order, "metric": task.metric,
        "trainable_params": manifest["trainable_params"], "wall_seconds": manifest["wall_seconds"],
        "eval_seconds": time.perf_counter() - t0, "artifact_sha256": manifest["sha256"],
        "init_from": manifest.get("init_from"), "epochs_run": manifest["epochs_run"],
    })
    return result


def reference(store: DatasetStore, task: TaskSpec, data, n_items: int, seed: int) -> dict:
    """The task's logistic-regression reference, fitted once per version of its data (kept in the
    store under reference_key; an eval of the same data reads it back, identical)."""
    key = reference_key(store.task_data_version(task.name), n_items, data.n_targets, seed)
    cached = store.load_reference(task.name, key)
    if cached is not None:
        return cached
    return store.save_reference(task.name, key, logistic_reference(data.train, data.valid, data.test, n_items,
                                                                   data.n_targets, seed=seed))


def evaluate_task(store: DatasetStore, chain: list[TaskSpec], device: torch.device, recipe: TaskRecipe = PCL) -> dict:
    """The eval record of chain[-1] (task k, just learned), with `after_learning`: the metrics of
    tasks 1..k-1 measured now from their stored artifacts (row k of the forgetting matrix), as
    `recipe` scores them."""
    t1 = chain[0]
    current = chain[-1].name if len(chain) > 1 else None  # the chain's state, not the store's newest file
    record = evaluate_stored(store, chain[-1], t1, device, recipe=recipe, current=current)
    record["after_learning"] = {
        earlier.name: {"metrics": (r := evaluate_stored(store, earlier, t1, device, False, recipe,
                                                        current))["metrics"],
                       "artifact_sha256": r["artifact_sha256"]}
        for earlier in chain[:-1]
    }
    return record


def not_applicable_record(task: TaskSpec, reason: str) -> dict:
    """The eval record of a task this data cannot serve: no metrics, the reason."""
    return {"name": task.name, "kind": task.kind, "order": task.order, "metric": task.metric,
            "status": "not_applicable", "reason": reason}
