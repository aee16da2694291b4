"""The prompt stage: train task k's prompt, contextual module and adapter on the frozen backbone."""
from __future__ import annotations

import time
from typing import Callable

import torch

from pcl_pipeline.artifacts import load_artifact, load_manifest, save_artifact
from pcl_pipeline.catalog import TaskParams, TaskSpec
from pcl_pipeline.layout import Layout
from pcl_pipeline.model.pcl import PCLTaskModel, count_parameters
from pcl_pipeline.stages.backbone import load_backbone
from pcl_pipeline.stages.common import fingerprint, load_texts, save_curve
from pcl_pipeline.training.loop import seed_everything
from pcl_pipeline.training.prompt_tuning import TaskData, build_task_model, tune_task

TEXTS_KEY = "texts"  # the description embeddings of tasks 1..k travel inside the artifact


def previous_prompt_task(chain: list[TaskSpec]) -> TaskSpec | None:
    """The task whose trained prompt p_{k-1} initialises p_k: none for the first task after T1."""
    return chain[-2] if len(chain) >= 3 else None


def load_task_data(layout: Layout, task: TaskSpec, n_items: int, max_len: int) -> TaskData:
    paths = layout.task_data(task.name)
    return TaskData.load(task.kind, paths.rows, paths.vocab, max_len, n_items)


def train_prompt(layout: Layout, chain: list[TaskSpec], *, seed: int, device: torch.device, data_version: str,
                 init_from: dict | None, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train chain[-1] (task k) given tasks 1..k; return the saved artifact's manifest.

    `init_from` describes p_{k-1}'s asset (key, run id) for the lineage record; the prompt tensor
    itself is read from the previous task's stored artifact.
    """
    task = chain[-1]
    params: TaskParams = task.params  # type: ignore[assignment]
    t0 = time.perf_counter()
    backbone, backbone_manifest = load_backbone(layout, device)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    data = load_task_data(layout, task, backbone.cfg.n_items, backbone.cfg.max_len)
    texts, text_hashes = load_texts(layout, chain)
    previous = previous_prompt_task(chain)
    inherit = None
    if previous is not None:
        prev_tensors, _ = load_artifact(layout.prompt(previous.name))
        inherit = prev_tensors["prompt.weight"]
    # The task's fresh parts are drawn from the seed, not from whatever ran before in this
    # process: the same task gives the same artifact in a full run and when added alone.
    seed_everything(seed)
    model = build_task_model(backbone, task.kind, data.n_targets, params, texts, inherit,
                             to_backbone=data.to_backbone).to(device)
    config_hash = fingerprint(params.model_dump(), task.kind, task.metric, seed, [t.name for t in chain])
    fit = tune_task(model, data, params, task.metric, seed=seed, device=device,
                    fingerprint=fingerprint(config_hash, data_version, backbone_manifest["sha256"], text_hashes),
                    checkpoint=layout.checkpoint(task.name), on_epoch=on_epoch)
    _assert_frozen(before, backbone)
    curve = save_curve(layout.curve(task.name), fit.history, f"{layout.dataset} {task.name}")
    tensors = dict(model.task_state())
    tensors[TEXTS_KEY] = texts
    manifest = {
        "asset": f"{layout.dataset}/prompt/{task.name}", "task": task.name, "kind": task.kind, "order": task.order,
        "metric": task.metric, "n_targets": data.n_targets, "params": params.model_dump(), "config_hash": config_hash,
        "seed": seed, "data_version": data_version, "device": str(device),
        "init_from": init_from, "inherited_prompt_from": previous.name if previous else None,
        "backbone": {"sha256": backbone_manifest["sha256"], "data_version": backbone_manifest["data_version"]},
        "text_sha256": text_hashes, "chain": [t.name for t in chain],
        "trainable_params": count_parameters(model.trainable_parameters()),
        "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, f"best_valid_{task.metric}": fit.best_score,
        "history": fit.history, "throughput_seq_per_s": fit.throughput, "train_rows": len(data.train),
        "wall_seconds": time.perf_counter() - t0,
    }
    saved = save_artifact(layout.prompt(task.name), tensors, manifest)
    saved["curve_png_base64"] = curve
    return saved


def _assert_frozen(before: dict[str, torch.Tensor], backbone: torch.nn.Module) -> None:
    for key, value in backbone.state_dict().items():
        if not torch.equal(before[key], value):
            raise RuntimeError(f"backbone tensor {key} changed during task training: freezing is broken")


def load_task_model(layout: Layout, task: TaskSpec, device: torch.device) -> tuple[PCLTaskModel, dict]:
    """Task k's stored parts around the stored backbone, checked strictly against the model shapes."""
    backbone, _ = load_backbone(layout, device)
    manifest = load_manifest(layout.prompt(task.name))
    params = TaskParams(**manifest["params"])
    k = len(manifest["chain"])
    placeholder = torch.zeros(k, manifest["tensors"][TEXTS_KEY][1])
    to_backbone = None
    if manifest["kind"] == "item_rec":  # the frozen backbone's scores are a prior: rebuild the map from the vocabulary
        to_backbone = load_task_data(layout, task, backbone.cfg.n_items, backbone.cfg.max_len).to_backbone
    model = build_task_model(backbone, manifest["kind"], manifest["n_targets"], params, placeholder, None,
                             to_backbone=to_backbone)
    expected = {key: tuple(v.shape) for key, v in model.task_state().items()}
    expected[TEXTS_KEY] = tuple(placeholder.shape)
    tensors, manifest = load_artifact(layout.prompt(task.name), expected)
    model.texts = tensors.pop(TEXTS_KEY)
    model.load_state_dict(tensors, strict=False)
    return model.to(device).eval(), manifest
