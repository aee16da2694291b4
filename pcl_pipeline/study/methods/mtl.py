"""MTL: one copy of the pretrained backbone fine-tuned jointly on every task after T1, a head
per task (training/multitask.py). Not continual: it needs all tasks at once, and adding a task
retrains everything; the study runs it as the upper reference the paper compares PCL with."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.plots import training_curve_png
from pcl_pipeline.recipe import Candidate
from pcl_pipeline.stages.prompt import TrainedTask, check_variant, task_manifest
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import fingerprint
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import seed_everything
from pcl_pipeline.training.multitask import tune_jointly


@dataclass(frozen=True)
class JointTraining(Method):
    """Trains every task of the chain at once (train_all) instead of one task after another."""

    def train_all(self, store: DatasetStore, chain: list[TaskSpec], ctx: TrainContext,
                  candidates: list[Candidate] | None = None) -> list[TrainedTask]:
        """Every task after T1 of `chain` at once on one copy of the stored backbone, one joint
        model per backbone learning rate, the best on validation kept. Each task's artifact holds
        the shared backbone and its own adapter."""
        check_variant(store, self)
        tasks = chain[1:]
        t0 = time.perf_counter()
        stored, backbone_manifest = store.load_backbone(ctx.device)
        datas = [store.task_data(t, stored.cfg.n_items, stored.cfg.max_len) for t in tasks]
        versions = [store.task_data_version(t.name) for t in tasks]
        texts, text_hashes = self.texts(store, chain)
        params = [self.task_params(t.task_params) for t in tasks]
        tried = candidates or self.candidates(params[0])
        config_hash = fingerprint(*[self.config_parts(p) for p in params], [t.kind for t in tasks], ctx.seed,
                                  [t.name for t in chain])
        best, selection = None, {}
        for candidate in tried:
            backbone_lr = candidate.backbone_lr or params[0].lr
            seed_everything(ctx.seed)
            shared = copy.deepcopy(stored)
            models = [self.build(shared, t.kind, d.n_targets, p, texts[:k + 2], None, to_backbone=d.to_backbone)
                      for k, (t, d, p) in enumerate(zip(tasks, datas, params))]
            candidate_hash = fingerprint(config_hash, candidate.knobs)
            fit = tune_jointly(models, datas, params, [t.metric for t in tasks], backbone_lr, ctx.replace(
                checkpoint=store.checkpoint(f"joint-{tasks[-1].name}"),
                fingerprint=fingerprint(candidate_hash, versions, backbone_manifest["sha256"], text_hashes)))
            selection[candidate.label] = fit.best_score
            if best is None or fit.best_score > best[2].best_score:
                best = (models, candidate, fit, candidate_hash)
        models, candidate, fit, candidate_hash = best
        wall = time.perf_counter() - t0
        out = []
        for k, (task, model, data, p, version) in enumerate(zip(tasks, models, datas, params, versions)):
            seen = chain[:k + 2]  # tasks 1..k+1 (task k+1 = this one)
            manifest = task_manifest(
                store, self, seen, data, model, fit, ctx, "joint_relative_gain", config_hash=candidate_hash,
                params=p.model_dump(), data_version=version, backbone_manifest=backbone_manifest,
                text_hashes={t.name: text_hashes[t.name] for t in seen}, candidate=candidate.knobs or None,
                candidate_selection=selection if len(tried) > 1 else None, init_from=None,
                inherited_prompt_from=None, wall_seconds=wall / len(tasks), trained_with=[t.name for t in tasks])
            out.append(TrainedTask(model, manifest, training_curve_png(fit.history, f"{store.dataset} MTL")))
        return out


MTL = JointTraining("MTL", "one backbone copy fine-tuned jointly on all tasks after T1, an adapter per task",
                    backbone="joint", prompt=False, backbone_lr_grid=(1e-4, 1e-3))
