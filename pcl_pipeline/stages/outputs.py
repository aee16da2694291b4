"""A task's outputs for every user of the dataset: its predictions and its user representations.

Each user's input is their sequence in the store (sequences.parquet: the history the task splits
are built from, in the backbone's item ids; a `split` column says which split the user is in),
scored by serving.TaskPredictor exactly as the evaluation scores a row. Users stream through in
batches of OUTPUT_BATCH and are written as Parquet row groups, so memory is bounded by a batch
whatever the number of users; the file appears atomically. Columns carry original ids:

    predictions_<task>.parquet   item tasks and T1: user_id, split, rank, item_id, score, fallback
                                 (top k, the user's history excluded); classification: user_id,
                                 split, label, prob_<class> per class, fallback
    user_repr_<task>.parquet     user_id, split, repr (fixed-size list of float32): what the task's
                                 adapter reads (T1: the backbone's last-position state)
"""
from __future__ import annotations

import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pcl_pipeline.serving.predictor import TaskPredictor
from pcl_pipeline.store.artifact_store import DatasetStore
from pcl_pipeline.store.files import atomic_path, file_sha256

OUTPUT_BATCH = 4096  # users scored and written at once (one row group)
PREVIEW_ROWS = 5


Shard = tuple[int, int]  # (i, n): the users whose shard_of(user_id, n) is i


def shard_of(user_id, n: int) -> int:
    """A user's shard among n: CRC-32 of the user id's text, mod n (the same on every machine and
    Python version, unlike hash()), so n workers split the users without talking to each other."""
    return zlib.crc32(str(user_id).encode("utf-8")) % n


def _users(store: DatasetStore, shard: Shard | None = None):
    """The store's users in batches: (user ids, splits, backbone-id histories); with `shard`, only
    that shard's users."""
    for batch in pq.ParquetFile(store.sequences).iter_batches(OUTPUT_BATCH, columns=["user_id", "split", "items"]):
        if shard is not None:
            keep = [shard_of(u, shard[1]) == shard[0] for u in batch.column("user_id").to_pylist()]
            batch = batch.filter(pa.array(keep, pa.bool_()))
        yield batch.column("user_id"), batch.column("split"), batch.column("items").to_pylist()


def _write(path, tables, metadata: dict) -> tuple[int, pa.Table | None]:
    """Write the tables as row groups of one Parquet file, atomically; (rows, the first table)."""
    rows, first, writer = 0, None, None
    with atomic_path(path) as tmp:
        try:
            for table in tables:
                if writer is None:
                    first = table
                    schema = table.schema.with_metadata({k: str(v) for k, v in metadata.items()})
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{path}: no users to score (in this shard: {metadata.get('shard', 'all')})")
    return rows, first


def write_predictions(store: DatasetStore, task: str, k: int, device: torch.device, *, shard: Shard | None = None,
                      path: Path | None = None) -> dict:
    """predictions_<task>.parquet (or `path`; with `shard`, only that shard's users); returns what
    the asset reports (rows, users, k or classes, the model artifact's SHA-256, a preview, the
    file's SHA-256)."""
    predictor = TaskPredictor.from_store(store, task, device)
    users = 0

    def tables():
        nonlocal users
        for user_ids, splits, histories in _users(store, shard):
            users += len(histories)
            enc = predictor.encode_ids(histories)
            if predictor.kind == "classification":
                table = predictor.predict_table(predictor.probabilities_encoded(enc), enc)
            else:
                table = predictor.recommend_encoded(enc, k)
            rows = table["row"]
            yield table.drop(["row"]).add_column(0, "split", splits.take(rows)).add_column(0, "user_id",
                                                                                          user_ids.take(rows))

    shape = {"classes": len(predictor.values)} if predictor.kind == "classification" else {"k": k}
    path = path or store.predictions_path(task)
    rows, first = _write(path, tables(), {"task": task, "artifact_sha256": predictor.manifest["sha256"], **shape,
                                          **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {})})
    return {"path": path, "rows": rows, "users": users, **shape, "artifact_sha256": predictor.manifest["sha256"],
            "preview": first.slice(0, PREVIEW_ROWS), "sha256": file_sha256(path)}


def write_user_repr(store: DatasetStore, task: str, device: torch.device, *, shard: Shard | None = None,
                    path: Path | None = None) -> dict:
    """user_repr_<task>.parquet (or `path`, `shard` as in write_predictions); returns what the
    asset reports (as write_predictions, with the width)."""
    predictor = TaskPredictor.from_store(store, task, device)
    width = predictor.repr_width

    def tables():
        for user_ids, splits, histories in _users(store, shard):
            reprs = predictor.embed_encoded(predictor.encode_ids(histories))
            values = pa.FixedSizeListArray.from_arrays(pa.array(reprs.reshape(-1), pa.float32()), width)
            yield pa.table({"user_id": user_ids, "split": splits, "repr": values})

    path = path or store.user_repr_output_path(task)
    rows, first = _write(path, tables(), {"task": task, "artifact_sha256": predictor.manifest["sha256"],
                                          "width": width, **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {})})
    return {"path": path, "rows": rows, "users": rows, "width": width,
            "artifact_sha256": predictor.manifest["sha256"], "preview": first.slice(0, PREVIEW_ROWS),
            "sha256": file_sha256(path)}
