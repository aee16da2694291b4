"""The prompt stage: train task k's prompt, contextual module and adapter on the frozen backbone."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from pcl_pipeline.catalog import TaskParams, TaskSpec, previous_prompt_task
from pcl_pipeline.data.splits import TaskData
from pcl_pipeline.model.pcl import PCLTaskModel, count_parameters
from pcl_pipeline.plots import training_curve_png
from pcl_pipeline.recipe import PCL, Candidate, TaskRecipe
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import fingerprint
from pcl_pipeline.training.acceleration import resolve
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import FitResult, seed_everything
from pcl_pipeline.training.prompt_tuning import selection_criterion, tune_task

__all__ = ["TrainedTask", "previous_prompt_task", "task_manifest", "train_prompt"]


@dataclass(frozen=True)
class TrainedTask:
    model: PCLTaskModel  # the backbone with this task's trained parts (best validation state)
    manifest: dict
    curve_png: bytes


def check_variant(store: DatasetStore, recipe: TaskRecipe) -> None:
    """A recipe with a variant of its own trains only there (never into the catalog's artifacts)."""
    if recipe.required_variant is not None and store.variant != recipe.required_variant:
        raise ValueError(f"method {recipe.name} stores its artifacts in variant {recipe.required_variant!r}, not "
                         f"{store.variant!r}: use ArtifactStore(home).dataset(dataset, {recipe.required_variant!r})")


def train_prompt(store: DatasetStore, chain: list[TaskSpec], ctx: TrainContext, *, init_from: dict | None,
                 recipe: TaskRecipe = PCL, candidates: list[Candidate] | None = None) -> TrainedTask:
    """Train chain[-1] (task k) given tasks 1..k with `recipe` (PCL, the pipeline's, by default).

    `init_from` describes p_{k-1}'s asset (key, run id) for the lineage record; the prompt tensor
    itself is read from the previous task's stored artifact (in the same store variant). One
    model per candidate setting of the recipe's own knobs (`candidates`, else the recipe's), the
    best on validation kept; the manifest records every candidate's score. ctx.checkpoint and
    ctx.fingerprint are the task's own (set here); ctx.acceleration None: chosen from the device.
    With ctx.memo (the study), a candidate whose fit was run before, by any method, is read back
    (training/memo.py); wall_seconds then counts what that fit took when it was trained, and
    reused_fit_seconds says how much of it was read back.
    """
    check_variant(store, recipe)
    task = chain[-1]
    ctx = ctx.replace(acceleration=ctx.acceleration or resolve("auto", ctx.device))
    catalog_params = recipe.task_params(task.task_params)
    t0 = time.perf_counter()
    backbone, backbone_manifest = store.load_backbone(ctx.device)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    data = store.task_data(task, backbone.cfg.n_items, backbone.cfg.max_len)
    data_version = store.task_data_version(task.name)
    texts, text_hashes = recipe.texts(store, chain)
    previous, inherit = recipe.inherited_prompt(store, chain, catalog_params)
    start = recipe.start(store, chain, backbone, ctx.device)
    config_hash = fingerprint(*recipe.config_parts(catalog_params), task.kind, task.metric, ctx.seed,
                              [t.name for t in chain])
    tried = candidates or recipe.candidates(catalog_params)
    best: tuple[PCLTaskModel, Candidate, FitResult, str, TaskParams] | None = None
    selection = {}
    reused = 0.0  # seconds of the candidates' fits read back from ctx.memo (what they took when trained)
    for candidate in tried:
        # The task's fresh parts are drawn from the seed, not from whatever ran before in this
        # process: the same task gives the same artifact in a full run and when added alone.
        seed_everything(ctx.seed)
        params = candidate.apply(catalog_params)
        model = recipe.build(start.backbone, task.kind, data.n_targets, params, texts, inherit,
                             to_backbone=data.to_backbone).to(ctx.device)
        candidate_hash = fingerprint(config_hash, candidate.knobs) if candidate.knobs else config_hash
        fit = tune_task(model, data, params, task.metric, ctx.replace(
            checkpoint=store.checkpoint(task.name),
            fingerprint=fingerprint(candidate_hash, data_version, backbone_manifest["sha256"], text_hashes,
                                    *start.fingerprint_parts),
            memo=ctx.memo and ctx.memo.extended(data_version, text_hashes)), backbone_lr=candidate.backbone_lr)
        reused += fit.reused_seconds
        if candidate.knobs:
            selection[candidate.label] = fit.best_score
        if best is None or fit.best_score > best[2].best_score:
            best = (model, candidate, fit, candidate_hash, params)
    model, candidate, fit, config_hash, params = best
    _assert_frozen(before, backbone)
    manifest = task_manifest(store, recipe, chain, data, model, fit, ctx, selection_criterion(
        data, task.metric, catalog_params.select_on), config_hash=config_hash, data_version=data_version,
        backbone_manifest=backbone_manifest, text_hashes=text_hashes, params=params.model_dump(),
        candidate=candidate.knobs or None, candidate_selection=selection if len(tried) > 1 else None,
        init_from=init_from, inherited_prompt_from=previous.name if previous else None, **start.lineage,
        wall_seconds=time.perf_counter() - t0 + reused, **({"reused_fit_seconds": reused} if reused else {}))
    return TrainedTask(model, manifest, training_curve_png(fit.history, f"{store.dataset} {task.name}"))


def task_manifest(store: DatasetStore, recipe: TaskRecipe, chain: list[TaskSpec], data: TaskData,
                  model: PCLTaskModel, fit: FitResult, ctx: TrainContext, selected_on: str, **fields) -> dict:
    """What a task artifact's manifest records: which task and recipe, how to rebuild the model
    (architecture), the run (seed, device, threads), the fit (training/loop.FitResult) and
    `fields`: config_hash, params, data_version, backbone_manifest (its sha256 and data version
    are kept), text_hashes, lineage (init_from, ...), wall_seconds."""
    task = chain[-1]
    backbone_manifest = fields.pop("backbone_manifest")
    return {
        "asset": f"{store.dataset}/prompt/{task.name}", "method": recipe.name,
        "architecture": recipe.architecture.as_dict(), "task": task.name, "kind": task.kind,
        "order": task.order, "metric": task.metric, "n_targets": data.n_targets, "seed": ctx.seed,
        "device": str(ctx.device), "torch_threads": torch.get_num_threads(),
        "backbone": {"sha256": backbone_manifest["sha256"], "data_version": backbone_manifest["data_version"]},
        "text_sha256": fields.pop("text_hashes"), "chain": [t.name for t in chain],
        "trainable_params": count_parameters(model.trainable_parameters()), "train_rows": len(data.train),
        **fit.manifest_fields(selected_on), **fields,
    }


def _assert_frozen(before: dict[str, torch.Tensor], backbone: torch.nn.Module) -> None:
    for key, value in backbone.state_dict().items():
        if not torch.equal(before[key], value):
            raise RuntimeError(f"backbone tensor {key} changed during task training: freezing is broken")
