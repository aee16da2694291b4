"""The data stages: raw files -> standard tables -> interactions -> sequences -> task data."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.applicability import applicability, not_applicable_reason
from pcl_pipeline.data.interactions import DISTINCT_KEY, build_interactions
from pcl_pipeline.data.parquet import copy_query_to_parquet
from pcl_pipeline.data.sequences import build_sequences
from pcl_pipeline.data.task_data import build_task_data, source_table
from pcl_pipeline.errors import InputError
from pcl_pipeline.formats import read_source
from pcl_pipeline.store.files import file_sha256, fingerprint
from pcl_pipeline.synthetic import generate_movielens, generate_tenrec

if TYPE_CHECKING:  # the data stages run on DuckDB alone; the store also reads tensors
    from pcl_pipeline.store.artifact_store import DatasetStore

GENERATORS = {"movielens": generate_movielens, "tenrec": generate_tenrec}


def ingest_raw(con: duckdb.DuckDBPyConnection, store: DatasetStore, data_path: Path | None, *, seed: int,
               scale: float) -> dict:
    """Read the dataset's files (real ones at data_path, or the embedded default generated into
    store.embedded_dir) through the format readers into one Parquet file per standard table.

    Every file is read and validated before any table is written, so bad input leaves the
    previously materialized tables untouched.
    """
    folder = data_path
    if folder is None:
        folder = store.embedded_dir
        GENERATORS[store.dataset](folder, seed=seed, scale=scale)
    source = read_source(con, store.dataset, folder)
    rows = {}
    for name, temp in sorted(source.tables.items()):
        # the table is in line order already (read_table): no sort; what the read proved distinct
        # travels in the file (build_interactions skips its repeat count on it)
        distinct = source.distinct.get(name)
        rows[name] = copy_query_to_parquet(con, f"SELECT * FROM {temp}", [], store.raw_dir / f"{name}.parquet",
                                           metadata={DISTINCT_KEY: ",".join(distinct)} if distinct else None)
    for stale in store.raw_dir.glob("*.parquet"):
        if stale.stem not in source.tables:  # e.g. a users table from an earlier ML-1M source
            stale.unlink()
    record = source_record(data_path, source.format, source.files, seed=seed, scale=scale)
    store.save_source(record)
    return {"format": source.format, "folder": str(folder), "rows": rows, "source": record,
            "files": {name: str(path) for name, path in source.files.items()}, "tolerated": source.tolerated}


def source_record(data_path: Path | None, fmt: str, files: dict[str, Path], *, seed: int, scale: float) -> dict:
    """The data fingerprint every number downstream names: the source ('embedded' or the real
    folder), each file read (name, size, SHA-256 of its bytes), the seed (splits, ties, training)
    and, for the embedded default, the scale; `id` is a short hash of all of it."""
    record = {"source": "embedded" if data_path is None else str(data_path), "format": fmt,
              "files": {Path(path).name: {"size": Path(path).stat().st_size, "sha256": file_sha256(Path(path))}
                        for path in sorted(files.values(), key=lambda p: Path(p).name)},
              "seed": seed, "scale": scale if data_path is None else None}
    return {**record, "id": fingerprint(record)}


def check_applicability(con: duckdb.DuckDBPyConnection, store: DatasetStore, tasks: list[TaskSpec]) -> dict[str, str]:
    """Before any training: the tasks this data cannot serve -> why (data/applicability.py).
    T1 must be applicable (every other task builds on it): InputError otherwise."""
    reasons = {name: why for name, why in applicability(con, store.raw_dir, tasks).items() if why}
    if tasks[0].name in reasons:
        raise InputError(store.raw_dir, f"{tasks[0].name} ({tasks[0].file}) cannot be built from this data: "
                         f"{reasons[tasks[0].name]}", expected="the table and columns its label names")
    return reasons


def not_applicable(store: DatasetStore, task: TaskSpec) -> str | None:
    """Why `task` cannot be built from the stored raw tables, or None."""
    with duckdb.connect() as con:
        return not_applicable_reason(con, store.raw_dir, task)


def applicable_chain(store: DatasetStore, chain: list[TaskSpec]) -> list[TaskSpec]:
    """The tasks of a chain the data can serve (a skipped task is no link: p_k inherits from the
    last applicable task before it)."""
    with duckdb.connect() as con:
        return [t for t in chain if not_applicable_reason(con, store.raw_dir, t) is None]


def interactions(con: duckdb.DuckDBPyConnection, store: DatasetStore, t1: TaskSpec, *, seed: int) -> int:
    return build_interactions(con, t1, source_table(store.raw_dir, t1), store.interactions, seed=seed)


def sequences(con: duckdb.DuckDBPyConnection, store: DatasetStore, *, seed: int) -> int:
    return build_sequences(con, store.interactions, store.sequences, seed=seed)


def task_data(con: duckdb.DuckDBPyConnection, store: DatasetStore, task: TaskSpec, t1: TaskSpec, *, seed: int) -> int:
    return build_task_data(con, task, t1, store.stage_inputs(), store.task_data_paths(task.name), seed=seed)



def prepare_tables(con: duckdb.DuckDBPyConnection, store: DatasetStore, tasks: list[TaskSpec],
                   data_path: Path | None, *, seed: int, scale: float = 1.0) -> dict[str, str]:
    """Every data stage in order for a catalog (tasks[0] is T1): raw tables, interactions,
    sequences and each task's rows, what the data assets materialize one by one. Returns the
    tasks this data cannot serve -> why (their rows are not built)."""
    ingest_raw(con, store, data_path, seed=seed, scale=scale)
    skipped = check_applicability(con, store, tasks)
    interactions(con, store, tasks[0], seed=seed)
    sequences(con, store, seed=seed)
    for task in tasks:
        if task.name not in skipped:
            task_data(con, store, task, tasks[0], seed=seed)
    return skipped
