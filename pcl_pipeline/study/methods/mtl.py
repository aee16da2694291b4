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
from pcl_pipeline.study.methods.cards import CARDS
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import seed_everything
from pcl_pipeline.training.multitask import tune_jointly
from pcl_pipeline.training.prompt_tuning import selection_criterion


@dataclass(frozen=True)
class JointTraining(Method):
    """Trains every task of the chain at once (train_all) instead of one task after another."""

    def train_all(self, store: DatasetStore, chain: list[TaskSpec], ctx: TrainContext,
                  candidates: dict[str, list[Candidate]] | None = None) -> list[TrainedTask]:
        """Every task after T1 of `chain` at once on one copy of the stored backbone: one joint run
        per candidate (those allowed for any task: `candidates` task -> list, else the search
        space), each task keeping its own best (candidate, epoch) on its validation split
        (training/multitask.py). Each task's artifact holds the shared backbone as it was at that
        task's best epoch, and its own adapter."""
        check_variant(store, self)
        tasks = chain[1:]
        t0 = time.perf_counter()
        stored, backbone_manifest = store.load_backbone(ctx.device)
        datas = [store.task_data(t, stored.cfg.n_items, stored.cfg.max_len) for t in tasks]
        versions = [store.task_data_version(t.name) for t in tasks]
        texts, text_hashes = self.texts(store, chain)
        params = [self.task_params(t.task_params) for t in tasks]
        allowed = {t.name: (candidates or {}).get(t.name) or self.candidates(p) for t, p in zip(tasks, params)}
        union = list({c.label: c for options in allowed.values() for c in options}.values())
        config_hash = fingerprint(*[self.config_parts(p) for p in params], [t.kind for t in tasks], ctx.seed,
                                  [t.name for t in chain])
        runs = {}
        for candidate in union:
            tuned = [candidate.apply(p) for p in params]
            seed_everything(ctx.seed)
            shared = copy.deepcopy(stored)
            models = [self.build(shared, t.kind, d.n_targets, p, texts[:k + 2], None, to_backbone=d.to_backbone)
                      for k, (t, d, p) in enumerate(zip(tasks, datas, tuned))]
            candidate_hash = fingerprint(config_hash, candidate.knobs)
            # the run ends once the tasks that may choose this candidate have stopped (a reported
            # seed's tasks each allow only the tuning seed's choice); the others train until then
            needed = [candidate.label in {c.label for c in allowed[t.name]} for t in tasks]
            fit, bests = tune_jointly(models, datas, tuned, [t.metric for t in tasks],
                                      candidate.backbone_lr or params[0].lr,
                                      ctx.replace(fingerprint=fingerprint(candidate_hash, versions,
                                                                          backbone_manifest["sha256"], text_hashes)),
                                      needed=needed)
            runs[candidate.label] = (candidate, fit, bests, candidate_hash, tuned, models)
        wall = time.perf_counter() - t0
        out = []
        for k, (task, data, version) in enumerate(zip(tasks, datas, versions)):
            options = [runs[c.label] for c in allowed[task.name]]
            candidate, fit, bests, candidate_hash, tuned, models = max(options, key=lambda r: r[2][k].score)
            model, best = models[k], bests[k]
            model.backbone = copy.deepcopy(model.backbone)  # this task's own: the shared one at its best epoch
            model.load_state_dict(best.state, strict=False)
            model.eval()
            criterion = selection_criterion(data, task.metric, tuned[k].select_on)
            seen = chain[:k + 2]  # tasks 1..k+1 (task k+1 = this one)
            manifest = task_manifest(
                store, self, seen, data, model, fit, ctx, criterion, config_hash=candidate_hash,
                params=tuned[k].model_dump(), data_version=version, backbone_manifest=backbone_manifest,
                text_hashes={t.name: text_hashes[t.name] for t in seen}, candidate=candidate.knobs or None,
                candidate_selection={label: r[2][k].score for label, r in runs.items()} if len(options) > 1 else None,
                init_from=None, inherited_prompt_from=None, wall_seconds=wall / len(tasks),
                trained_with=[t.name for t in tasks], joint_best_epoch=fit.best_epoch)
            manifest.update({"best_epoch": best.epoch, f"best_valid_{criterion}": best.score})
            out.append(TrainedTask(model, manifest, training_curve_png(fit.history, f"{store.dataset} MTL")))
        return out


MTL = JointTraining.of(CARDS["MTL"])
