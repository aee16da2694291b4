"""Score histories with a stored task: its top-k items, class probabilities or user representations.

The library's way to use what the pipeline trained, without Dagster: open a store, pick a dataset
and a task, and score batches of histories given as original item ids, oldest first.

    from pcl_pipeline.serving import TaskPredictor
    t2 = TaskPredictor.open(".pcl", "movielens", "T2_rate_4plus")
    t2.recommend([[1193, 661, 914], []], k=10)   # pyarrow Table: row, rank, item_id, score, fallback
    TaskPredictor.open(".pcl", "movielens", "T4_gender").predict([[1193, 661]])  # row, label, prob_F, prob_M, fallback
    t2.embed([[1193, 661, 914]])                  # numpy (1, d): the representation the task's adapter reads

A history is scored exactly as the evaluation scores a row: the model reads its last max_len
known items; every item of the whole history is excluded from the ranking (when the task's items
are the backbone's); equal scores keep the lower item index first (at the k-th place, which
of several equal items makes the cut is torch.topk's choice). Item ids the backbone never saw are
skipped and counted (`unknown_item_ids` in the table's metadata); a history with no known item
gets the popularity ranking of the task's training targets (item tasks) or the class prior of
its training labels, with `fallback` true. T1 (the backbone itself) recommends next items.
The models load once; scoring runs in batches on the chosen device.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from pcl_pipeline.data.splits import load_vocab
from pcl_pipeline.errors import InputError
from pcl_pipeline.settings import DATASETS
from pcl_pipeline.store.artifact_store import DEFAULT_VARIANT, ArtifactStore, DatasetStore
from pcl_pipeline.store.artifacts import load_manifest

BATCH = 512  # histories scored at once


@dataclass(frozen=True)
class Encoded:
    """A batch of histories in the backbone's item ids."""
    seqs: torch.Tensor  # (B, L) long: the last L known items, left-padded with 0
    histories: list[list[int]]  # every known item of each history (what a ranking excludes)
    empty: torch.Tensor  # (B,) bool: no known item (the fallback answers)
    unknown: int  # item ids skipped: not in the backbone's vocabulary


def _padded(histories: list[list[int]]) -> torch.Tensor:
    """(B, H) long: the histories right-padded with 0 (H = the longest, at least 1)."""
    out = torch.zeros(len(histories), max([1] + [len(h) for h in histories]), dtype=torch.long)
    for row, history in enumerate(histories):
        if history:
            out[row, :len(history)] = torch.tensor(history)
    return out


def _typed(values: list[str]) -> pa.Array:
    """Original ids/labels as stored (text) -> int64 when every one is an integer, else strings."""
    try:
        return pa.array([int(v) for v in values], pa.int64())
    except ValueError:
        return pa.array(values, pa.string())


class TaskPredictor:
    """One stored task of one dataset, loaded for scoring (open() builds it)."""

    def __init__(self, store: DatasetStore, task: str, kind: str, device: torch.device) -> None:
        self.store, self.task, self.kind, self.device = store, task, kind, device
        self.t1 = load_manifest(store.backbone_paths)["task"]
        self.model = None
        # the scoring model and its artifact's manifest: the backbone (T1), else the task's model
        # around the backbone it loads itself (its encoder, for methods that train one)
        if kind == "next_item":
            self.backbone, self.manifest = store.load_backbone(device)
        else:
            self.model, self.manifest = store.load_task_model(task, device)
            self.backbone = self.model.backbone
        self.max_len = self.backbone.cfg.max_len
        t1_values = pq.read_table(store.task_data_paths(self.t1).vocab, columns=["idx", "value"])
        self.item_index = dict(zip(t1_values["value"].to_pylist(), t1_values["idx"].to_pylist()))
        if kind == "next_item":
            values = t1_values
            self.to_target = torch.arange(self.backbone.cfg.n_items + 1, device=device)  # targets = backbone items
        else:
            vocab = store.task_data_paths(task).vocab
            values = pq.read_table(vocab, columns=["idx", "value"])
            _, to_target, _ = load_vocab(kind, vocab, self.backbone.cfg.n_items)
            self.to_target = to_target.to(device) if to_target is not None else None
        values = values.sort_by("idx")
        self.values = _typed(values["value"].to_pylist())  # by target index (from 0 or 1)
        self.first_index = int(values["idx"][0].as_py()) if len(values) else 0
        self.prior = self._prior()

    @classmethod
    def open(cls, home: str | Path, dataset: str, task: str, device: str | torch.device = "cpu",
             variant: str = DEFAULT_VARIANT) -> "TaskPredictor":
        """The task `task` of `dataset` as stored under the PCL_HOME `home` (T1's name: the backbone)."""
        if dataset not in DATASETS:
            raise InputError(home, f"no dataset {dataset!r}", field="dataset", expected=" or ".join(DATASETS))
        store = ArtifactStore(Path(home)).dataset(dataset, variant)
        if not store.backbone_paths.manifest.exists():
            raise InputError(store.backbone_paths.manifest, "no trained backbone in this PCL_HOME",
                             expected="a materialized store (make run)")
        available = cls.tasks(store)
        if task not in available:
            raise InputError(store.root, f"no trained task {task!r} of {dataset}", field="task",
                             expected="one of " + ", ".join(available))
        return cls.from_store(store, task, device)

    @classmethod
    def from_store(cls, store: DatasetStore, task: str, device: str | torch.device = "cpu") -> "TaskPredictor":
        """The task `task` of a dataset's store (its backbone and, after T1, the task's parts stored)."""
        kind = "next_item" if task == load_manifest(store.backbone_paths)["task"] \
            else load_manifest(store.task_parts_paths(task))["kind"]
        return cls(store, task, kind, torch.device(device))

    @staticmethod
    def tasks(store: DatasetStore) -> list[str]:
        """The tasks with a stored model: T1 (the backbone's) first, then the prompt artifacts."""
        t1 = load_manifest(store.backbone_paths)["task"]
        return [t1] + sorted(p.stem for p in (store.variant_dir / "prompt").glob("*.json"))

    # ---- input ---------------------------------------------------------------------------------
    def encode(self, histories: Sequence[Iterable]) -> Encoded:
        """Original item ids (oldest first) -> the backbone's ids; unknown ids skipped and counted."""
        seqs = torch.zeros(len(histories), self.max_len, dtype=torch.long)
        known_histories, unknown = [], 0
        for row, history in enumerate(histories):
            ids = [self.item_index.get(str(item)) for item in history]
            known = [i for i in ids if i is not None]
            unknown += len(ids) - len(known)
            tail = known[-self.max_len:]
            if tail:
                seqs[row, self.max_len - len(tail):] = torch.tensor(tail)
            known_histories.append(known)
        empty = torch.tensor([not h for h in known_histories], dtype=torch.bool)
        return Encoded(seqs, known_histories, empty, unknown)

    def encode_ids(self, histories: Sequence[Sequence[int]]) -> Encoded:
        """Histories already in the backbone's item ids (the store's sequences): nothing unknown."""
        seqs = torch.zeros(len(histories), self.max_len, dtype=torch.long)
        known = [[int(i) for i in h if i > 0] for h in histories]
        for row, history in enumerate(known):
            tail = history[-self.max_len:]
            if tail:
                seqs[row, self.max_len - len(tail):] = torch.tensor(tail)
        return Encoded(seqs, known, torch.tensor([not h for h in known], dtype=torch.bool), 0)

    def _batches(self, enc: Encoded):
        for start in range(0, len(enc.histories), BATCH):
            yield start, slice(start, start + BATCH)

    # ---- what the task computes --------------------------------------------------------------
    @torch.no_grad()
    def _scores(self, seqs: torch.Tensor) -> torch.Tensor:
        seqs = seqs.to(self.device)
        if self.model is None:
            return self.backbone.full_sort_scores(seqs).float()
        return self.model(seqs).float()

    def _prior(self) -> torch.Tensor:
        """What an empty history gets: popularity of the training targets (items) or the training
        labels' class frequencies, by target index."""
        rows = pq.read_table(self.store.task_data_paths(self.task).rows, columns=["split", "target"])
        train = rows.filter(pc.equal(rows["split"], "train"))["target"].to_numpy()
        size = len(self.values) + self.first_index
        counts = torch.bincount(torch.from_numpy(train.astype(np.int64)), minlength=size).float()
        return counts if self.kind != "classification" else counts / counts.sum().clamp(min=1.0)

    def recommend(self, histories: Sequence[Iterable], k: int = 20) -> pa.Table:
        """Top-k items per history (item tasks and T1): row, rank (1..k), item_id, score, fallback."""
        if self.kind == "classification":
            raise InputError(self.task, "a classification task has no items to recommend", field="task",
                             expected="an item task or T1; predict() gives this task's class probabilities")
        return self.recommend_encoded(self.encode(histories), k)

    @torch.no_grad()
    def recommend_encoded(self, enc: Encoded, k: int) -> pa.Table:
        parts = []
        for start, part in self._batches(enc):
            scores = self._scores(enc.seqs[part])  # (B, V + 1)
            empty = enc.empty[part].to(scores.device)
            scores = torch.where(empty.unsqueeze(1), self.prior.to(scores.device).unsqueeze(0), scores)
            if self.to_target is not None:  # every item of the whole history is excluded
                history = _padded(enc.histories[part]).to(scores.device)  # (B, H), 0 = padding
                scores.scatter_(1, self.to_target[history], float("-inf"))
            scores[:, 0] = float("-inf")  # padding is never an item
            top_scores, top = torch.topk(scores, min(k, scores.shape[1]), dim=1)  # (B, k), best first
            # equal scores in index order, whatever topk did with them (sort by index, then stably by score)
            by_index = torch.argsort(top, dim=1)
            top, top_scores = top.gather(1, by_index), top_scores.gather(1, by_index)
            by_score = torch.sort(top_scores, dim=1, descending=True, stable=True).indices
            top, top_scores = top.gather(1, by_score).cpu(), top_scores.gather(1, by_score).cpu()
            keep = torch.isfinite(top_scores)  # an excluded item is never recommended: fewer than k left
            shape = top.shape
            parts.append({
                "row": (torch.arange(shape[0]) + start).unsqueeze(1).expand(shape)[keep],
                "rank": (torch.arange(shape[1]) + 1).unsqueeze(0).expand(shape)[keep],
                "target": top[keep], "score": top_scores[keep],
                "fallback": empty.cpu().unsqueeze(1).expand(shape)[keep]})
        cat = {key: (torch.cat([p[key] for p in parts]) if parts else torch.zeros(0, dtype=torch.long))
               for key in ("row", "rank", "target", "score", "fallback")}
        items = self.values.take(pa.array((cat["target"] - self.first_index).numpy(), pa.int64()))
        table = pa.table({"row": pa.array(cat["row"].numpy(), pa.int64()),
                          "rank": pa.array(cat["rank"].numpy().astype("int32"), pa.int32()),
                          "item_id": items, "score": pa.array(cat["score"].float().numpy(), pa.float32()),
                          "fallback": pa.array(cat["fallback"].bool().numpy(), pa.bool_())})
        return self._with_counts(table, enc)

    def probabilities(self, histories: Sequence[Iterable]) -> tuple[torch.Tensor, Encoded]:
        """(B, C) class probabilities (classification tasks), the class prior for empty histories."""
        if self.kind != "classification":
            raise InputError(self.task, "an item task has no classes", field="task",
                             expected="a classification task; recommend() ranks this task's items")
        enc = self.encode(histories)
        return self.probabilities_encoded(enc), enc

    @torch.no_grad()
    def probabilities_encoded(self, enc: Encoded) -> torch.Tensor:
        parts = []
        for _, part in self._batches(enc):
            probs = torch.softmax(self._scores(enc.seqs[part]), dim=1).cpu()
            parts.append(torch.where(enc.empty[part].unsqueeze(1), self.prior.unsqueeze(0), probs))
        return torch.cat(parts) if parts else torch.zeros(0, len(self.values))

    def predict(self, histories: Sequence[Iterable]) -> pa.Table:
        """Per history: row, label (the original value of the most probable class), prob_<label>
        per class, fallback."""
        probs, enc = self.probabilities(histories)
        return self.predict_table(probs, enc)

    def predict_table(self, probs: torch.Tensor, enc: Encoded) -> pa.Table:
        labels = self.values.take(pa.array(probs.argmax(1).tolist() if len(probs) else [], pa.int64()))
        columns = {"row": pa.array(range(len(probs)), pa.int64()), "label": labels}
        for c, value in enumerate(self.values.to_pylist()):
            columns[f"prob_{value}"] = pa.array(probs[:, c].numpy(), pa.float32())
        columns["fallback"] = pa.array(enc.empty.numpy(), pa.bool_())
        return self._with_counts(pa.table(columns), enc)

    def embed(self, histories: Sequence[Iterable]) -> np.ndarray:
        """(B, d) float32: the user representation the task's adapter reads (T1: the backbone's
        last-position state); an empty history gets the representation of an all-padding input."""
        return self.embed_encoded(self.encode(histories))

    @torch.no_grad()
    def embed_encoded(self, enc: Encoded) -> np.ndarray:
        self._count(enc)
        parts = []
        for _, part in self._batches(enc):
            seqs = enc.seqs[part].to(self.device)
            state = self.backbone.encode(seqs)[:, -1] if self.model is None else self.model.pooled(seqs)
            parts.append(state.float().cpu())
        return (torch.cat(parts) if parts else torch.zeros(0, self.repr_width)).numpy()

    @property
    def repr_width(self) -> int:
        """The width of embed()'s vectors."""
        mean_last = self.model is not None and self.model.pool == "mean_last"
        return (2 if mean_last else 1) * self.backbone.cfg.hidden

    def _count(self, enc: Encoded) -> None:
        """What the last call met: item ids skipped as unknown, histories that fell back."""
        self.last_counts = {"unknown_item_ids": enc.unknown, "empty_histories": int(enc.empty.sum())}

    def _with_counts(self, table: pa.Table, enc: Encoded) -> pa.Table:
        self._count(enc)
        return table.replace_schema_metadata({k: str(v) for k, v in self.last_counts.items()})
