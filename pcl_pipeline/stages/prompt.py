"""The prompt stage: train task k's prompt, contextual module and adapter on the frozen backbone."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch

from pcl_pipeline.catalog import TaskParams, TaskSpec
from pcl_pipeline.methods.base import Method
from pcl_pipeline.methods.registry import DEFAULT_METHOD, METHODS
from pcl_pipeline.model.pcl import PCLTaskModel, count_parameters
from pcl_pipeline.plots import training_curve_png
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import fingerprint, text_sha256
from pcl_pipeline.text_encoder import RandomTextEncoder, task_text
from pcl_pipeline.training.acceleration import Acceleration, resolve
from pcl_pipeline.training.loop import seed_everything
from pcl_pipeline.training.prompt_tuning import selection_criterion, tune_task


@dataclass(frozen=True)
class TrainedTask:
    model: PCLTaskModel  # the frozen backbone with this task's trained parts (best validation state)
    manifest: dict
    curve_png: bytes


def previous_prompt_task(chain: list[TaskSpec]) -> TaskSpec | None:
    """The task whose trained prompt p_{k-1} initialises p_k: none for the first task after T1."""
    return chain[-2] if len(chain) >= 3 else None


def backbone_lr_candidates(method: Method, params: TaskParams, backbone_lrs: tuple[float, ...] | None) -> tuple:
    """The backbone learning rates to try for a task: the given ones, else the method's grid, else
    the params' own (one model, no selection). Frozen-backbone methods train none."""
    if not method.trains_backbone:
        return (None,)
    return tuple(backbone_lrs or method.backbone_lr_grid or (params.backbone_lr,))


def _check_variant(store: DatasetStore, method: Method) -> None:
    if method.name != DEFAULT_METHOD and store.variant != method.variant:
        raise ValueError(f"method {method.name} stores its artifacts in variant {method.variant!r}, "
                         f"not {store.variant!r}: use ArtifactStore(home).dataset(dataset, {method.variant!r})")


def train_prompt(store: DatasetStore, chain: list[TaskSpec], *, seed: int, device: torch.device,
                 init_from: dict | None, on_epoch: Callable[[dict], None] | None = None,
                 method: Method | None = None, backbone_lrs: tuple[float, ...] | None = None,
                 acceleration: Acceleration | None = None) -> TrainedTask:
    """Train chain[-1] (task k) given tasks 1..k, with `method` (PCL when None).

    `init_from` describes p_{k-1}'s asset (key, run id) for the lineage record; the prompt tensor
    itself is read from the previous task's stored artifact (in the same store variant). A method
    other than PCL trains only into its own variant (method.variant), never the catalog's. A
    method that trains the backbone trains one model per backbone learning rate
    (backbone_lr_candidates) and keeps the best on validation; the manifest records every score.
    acceleration None: chosen from the device (training/acceleration.py).
    """
    method = method or METHODS[DEFAULT_METHOD]
    acceleration = acceleration or resolve("auto", device)
    _check_variant(store, method)
    task = chain[-1]
    catalog_params = method.task_params(task.task_params)
    t0 = time.perf_counter()
    backbone, backbone_manifest = store.load_backbone(device)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    data = store.task_data(task, backbone.cfg.n_items, backbone.cfg.max_len)
    data_version = store.task_data_version(task.name)
    texts, text_hashes = _texts(store, chain, method)
    previous = previous_prompt_task(chain) if method.prompt and catalog_params.inherit_prompt else None
    inherit = None
    if previous is not None:
        prev_tensors, _ = store.load_task_tensors(previous.name)
        inherit = prev_tensors["prompt.weight"]
    encoder_from, encoder_sha = None, None
    start = backbone
    if method.backbone == "sequential" and len(chain) >= 3:  # SeqFT: start from the encoder task k-1 left
        encoder_from = chain[-2].name
        start = store.load_encoder(encoder_from, device)
        encoder_sha = store.load_task_tensors(encoder_from)[1]["sha256"]
    best = None
    selection = {}
    for backbone_lr in backbone_lr_candidates(method, catalog_params, backbone_lrs):
        params = catalog_params.model_copy(update={"backbone_lr": backbone_lr}) if backbone_lr else catalog_params
        # The task's fresh parts are drawn from the seed, not from whatever ran before in this
        # process: the same task gives the same artifact in a full run and when added alone.
        seed_everything(seed)
        model = method.build(start, task.kind, data.n_targets, params, texts, inherit,
                             to_backbone=data.to_backbone).to(device)
        config_hash = fingerprint(*_config_parts(params, method), task.kind, task.metric, seed,
                                  [t.name for t in chain])
        fit = tune_task(model, data, params, task.metric, seed=seed, device=device,
                        fingerprint=fingerprint(config_hash, data_version, backbone_manifest["sha256"], text_hashes,
                                                *([encoder_sha] if encoder_sha else [])),
                        checkpoint=store.checkpoint(task.name), on_epoch=on_epoch, acceleration=acceleration)
        if backbone_lr is not None:
            selection[str(backbone_lr)] = fit.best_score
        if best is None or fit.best_score > best[2].best_score:
            best = (model, params, fit, config_hash)
    model, params, fit, config_hash = best
    _assert_frozen(before, backbone)
    manifest = _manifest(store, method, task, chain, params, data, config_hash, seed, data_version, device,
                         backbone_manifest, text_hashes, model, fit,
                         selection_criterion(data, task.metric, params.select_on), selection or None,
                         init_from=init_from, inherited_prompt_from=previous.name if previous else None,
                         encoder_from=encoder_from, wall_seconds=time.perf_counter() - t0)
    return TrainedTask(model, manifest, training_curve_png(fit.history, f"{store.dataset} {task.name}"))


def _manifest(store: DatasetStore, method: Method, task: TaskSpec, chain: list[TaskSpec], params: TaskParams, data,
              config_hash: str, seed: int, data_version: str, device: torch.device, backbone_manifest: dict,
              text_hashes: dict[str, str], model: PCLTaskModel, fit, selected_on: str, selection: dict | None,
              **fields) -> dict:
    """What a task artifact's manifest records: config, lineage, data and backbone versions, the
    fit (best epoch, curve, throughput) and the backbone-rate selection; `fields` adds the rest
    (init_from, inherited_prompt_from, encoder_from, wall_seconds, ...)."""
    return {
        "asset": f"{store.dataset}/prompt/{task.name}", "method": method.name, "task": task.name, "kind": task.kind,
        "order": task.order, "metric": task.metric, "n_targets": data.n_targets, "params": params.model_dump(),
        "config_hash": config_hash, "seed": seed, "data_version": data_version, "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "backbone": {"sha256": backbone_manifest["sha256"], "data_version": backbone_manifest["data_version"]},
        "text_sha256": text_hashes, "chain": [t.name for t in chain],
        "trainable_params": count_parameters(model.trainable_parameters()),
        "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, "stop_reason": fit.stop_reason,
        "selected_on": selected_on, f"best_valid_{selected_on}": fit.best_score, "history": fit.history, "throughput_seq_per_s": fit.throughput,
        "backbone_lr_selection": selection, "train_rows": len(data.train), "recipe": fit.recipe, **fields,
    }


def train_joint(store: DatasetStore, chain: list[TaskSpec], *, seed: int, device: torch.device, method: Method,
                backbone_lrs: tuple[float, ...] | None = None) -> list[TrainedTask]:
    """Train every task after T1 of `chain` at once on one copy of the stored backbone (MTL,
    training/multitask.py), one joint model per backbone learning rate, the best on validation
    kept. Each task's artifact holds the shared backbone and its own adapter."""
    from pcl_pipeline.training.multitask import tune_jointly

    _check_variant(store, method)
    if method.backbone != "joint":
        raise ValueError(f"method {method.name} is not trained jointly (backbone {method.backbone!r})")
    tasks = chain[1:]
    t0 = time.perf_counter()
    stored, backbone_manifest = store.load_backbone(device)
    datas = [store.task_data(t, stored.cfg.n_items, stored.cfg.max_len) for t in tasks]
    versions = [store.task_data_version(t.name) for t in tasks]
    texts, text_hashes = _texts(store, chain, method)
    catalog = [method.task_params(t.task_params) for t in tasks]
    best, selection = None, {}
    for backbone_lr in backbone_lr_candidates(method, catalog[0], backbone_lrs):
        backbone_lr = backbone_lr or catalog[0].lr
        params = [p.model_copy(update={"backbone_lr": backbone_lr}) for p in catalog]
        seed_everything(seed)
        shared = copy.deepcopy(stored)
        models = [method.build(shared, t.kind, d.n_targets, p, texts[:k + 2], None, to_backbone=d.to_backbone)
                  for k, (t, d, p) in enumerate(zip(tasks, datas, params))]
        config_hash = fingerprint(*[_config_parts(p, method) for p in params], [t.kind for t in tasks], seed,
                                  [t.name for t in chain])
        fit = tune_jointly(models, datas, params, [t.metric for t in tasks], backbone_lr=backbone_lr, seed=seed,
                           device=device, fingerprint=fingerprint(config_hash, versions, backbone_manifest["sha256"],
                                                                  text_hashes),
                           checkpoint=store.checkpoint(f"joint-{tasks[-1].name}"))
        selection[str(backbone_lr)] = fit.best_score
        if best is None or fit.best_score > best[2].best_score:
            best = (models, params, fit, config_hash)
    models, params, fit, config_hash = best
    wall = time.perf_counter() - t0
    out = []
    for k, (task, model, data, p, version) in enumerate(zip(tasks, models, datas, params, versions)):
        seen = chain[:k + 2]  # tasks 1..k+1 (task k+1 = this one)
        manifest = _manifest(store, method, task, seen, p, data, config_hash, seed, version, device, backbone_manifest,
                             {t.name: text_hashes[t.name] for t in seen}, model, fit, "joint_relative_gain", selection,
                             init_from=None, inherited_prompt_from=None, encoder_from=None,
                             wall_seconds=wall / len(tasks), trained_with=[t.name for t in tasks])
        out.append(TrainedTask(model, manifest, training_curve_png(fit.history, f"{store.dataset} MTL")))
    return out


def _texts(store: DatasetStore, chain: list[TaskSpec], method: Method) -> tuple[torch.Tensor, dict[str, str]]:
    """Description embeddings of tasks 1..k: the dataset's stored ones, or the random encoder's."""
    if method.text_encoder == "stored":
        return store.load_texts(chain)
    texts = [task_text(t) for t in chain]
    vectors = torch.from_numpy(RandomTextEncoder().encode(texts))
    return vectors, {t.name: "random:" + text_sha256(text) for t, text in zip(chain, texts)}


def _config_parts(params: TaskParams, method: Method) -> list:
    """What the config hash covers. PCL's default (inherit_prompt, method PCL) adds nothing, so
    artifacts trained before the methods existed keep their config hash and checkpoints."""
    dump = params.model_dump()
    if dump["inherit_prompt"]:
        del dump["inherit_prompt"]
    if dump["backbone_lr"] is None:
        del dump["backbone_lr"]
    return [dump] if method.name == DEFAULT_METHOD else [dump, method.name]


def _assert_frozen(before: dict[str, torch.Tensor], backbone: torch.nn.Module) -> None:
    for key, value in backbone.state_dict().items():
        if not torch.equal(before[key], value):
            raise RuntimeError(f"backbone tensor {key} changed during task training: freezing is broken")
