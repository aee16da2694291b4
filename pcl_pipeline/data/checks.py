"""Data checks in SQL: what must hold before anything is trained on a table.

Each returns CheckOutcome values; the Dagster layer turns them into blocking asset checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pcl_pipeline.data.interactions import order_columns, parquet_columns
from pcl_pipeline.data.task_data import TaskDataPaths

MIN_USERS = 10  # below this a split or table is too small to train or evaluate anything

# What each check asserts (shown on the check's page in the UI and in its result).
INTERACTION_CHECKS = {
    "ids_valid": "user_idx and item_idx are non-null, dense and in 1..n (0 is padding)",
    "order_kept": "each user's positions follow the source order (time where there is one, else file order)",
    "min_size": f"at least {MIN_USERS} users",
}
TASK_DATA_CHECKS = {
    "held_out_targets": "leave-one-out: no validation/test target is in the user's training sequence",
    "users_disjoint": "no user is in both train and test",
    "one_user_split": "every user has the dataset's one split (from the sequences), the same in every task",
    "target_not_in_input": "no target is present in that user's input sequence",
    "min_size": f"every split has users, train has >= {MIN_USERS}, >= 2 targets/classes in train",
}


def task_data_check_names(kind: str) -> tuple[str, ...]:
    """The checks of a task's rows, by task kind (T1 is leave-one-out; later tasks split users)."""
    if kind == "next_item":
        return ("held_out_targets", "target_not_in_input", "min_size")
    return ("users_disjoint", "one_user_split", "target_not_in_input", "min_size")


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def _one(con: duckdb.DuckDBPyConnection, query: str, params: list[object]) -> tuple:
    return con.execute(query, params).fetchall()[0]


def check_interactions(con: duckdb.DuckDBPyConnection, path: Path, *, seed: int) -> list[CheckOutcome]:
    src = str(path)
    bad_ids, n_users, n_items, rows = _one(con, """
        SELECT count(*) FILTER (WHERE user_idx IS NULL OR item_idx IS NULL OR user_idx < 1 OR item_idx < 1
                                 OR user_idx > (SELECT max(user_idx) FROM read_parquet($1))
                                 OR item_idx > (SELECT count(DISTINCT item_id) FROM read_parquet($1))),
               count(DISTINCT user_idx), count(DISTINCT item_idx), count(*)
        FROM read_parquet($1)""", [src])
    gaps = _one(con, "SELECT max(user_idx) - count(DISTINCT user_idx) FROM read_parquet(?)", [src])[0]
    order = order_columns(parquet_columns(con, path), seed)
    disorder = _one(con, f"""
        SELECT count(*) FROM (
            SELECT pos, row_number() OVER (PARTITION BY user_idx ORDER BY {order}) - 1 AS expected
            FROM read_parquet(?)) WHERE pos <> expected""", [src])[0]
    return [
        CheckOutcome("ids_valid", bad_ids == 0 and gaps == 0 and rows > 0, INTERACTION_CHECKS["ids_valid"],
                     {"bad_rows": bad_ids, "user_id_gaps": gaps, "users": n_users, "items": n_items}),
        CheckOutcome("order_kept", disorder == 0, INTERACTION_CHECKS["order_kept"],
                     {"out_of_order_rows": disorder, "order": order}),
        CheckOutcome("min_size", n_users >= MIN_USERS, INTERACTION_CHECKS["min_size"], {"users": n_users}),
    ]


def check_task_data(con: duckdb.DuckDBPyConnection, paths: TaskDataPaths, kind: str,
                    sequences: Path | None = None) -> list[CheckOutcome]:
    """The checks of task_data_check_names(kind); `sequences` (with its `split` column) is needed
    for one_user_split, i.e. for every task after T1."""
    rows, vocab = str(paths.rows), str(paths.vocab)
    split_users = dict(con.execute("SELECT split, count(DISTINCT user_idx) FROM read_parquet(?) GROUP BY split",
                                   [rows]).fetchall())
    outcomes = []
    if kind == "next_item":
        leaked = _one(con, """
            WITH t AS (SELECT user_idx, list_append(input, target) AS seq FROM read_parquet($1) WHERE split = 'train')
            SELECT count(*) FROM read_parquet($1) r JOIN t USING (user_idx)
            WHERE r.split IN ('valid', 'test') AND list_contains(t.seq, r.target)""", [rows])[0]
        outcomes.append(CheckOutcome("held_out_targets", leaked == 0, TASK_DATA_CHECKS["held_out_targets"],
                                     {"leaking_rows": leaked}))
    else:
        shared = _one(con, """
            SELECT count(*) FROM (SELECT user_idx FROM read_parquet($1) WHERE split = 'train'
                                  INTERSECT SELECT user_idx FROM read_parquet($1) WHERE split = 'test')""", [rows])[0]
        outcomes.append(CheckOutcome("users_disjoint", shared == 0, TASK_DATA_CHECKS["users_disjoint"],
                                     {"shared_users": shared}))
        if sequences is None:
            raise ValueError(f"{paths.rows}: the one_user_split check of a {kind} task needs the sequences table")
        other = _one(con, """
            SELECT count(*) FROM read_parquet(?) r JOIN read_parquet(?) s USING (user_idx)
            WHERE r.split <> s.split""", [rows, str(sequences)])[0]
        outcomes.append(CheckOutcome("one_user_split", other == 0, TASK_DATA_CHECKS["one_user_split"],
                                     {"rows_with_another_split": other}))
    in_input = 0
    if kind != "classification":
        in_input = _one(con, """
            SELECT count(*) FROM read_parquet(?) r JOIN read_parquet(?) v ON v.idx = r.target
            WHERE v.backbone_idx IS NOT NULL AND list_contains(r.input, v.backbone_idx)""", [rows, vocab])[0]
    outcomes.append(CheckOutcome("target_not_in_input", in_input == 0, TASK_DATA_CHECKS["target_not_in_input"],
                                 {"rows": in_input}))
    n_targets = _one(con, "SELECT count(*) FROM read_parquet(?)", [vocab])[0]
    train_classes = _one(con, "SELECT count(DISTINCT target) FROM read_parquet(?) WHERE split = 'train'", [rows])[0]
    small = {s: split_users.get(s, 0) for s in ("train", "valid", "test")}
    ok = all(v >= 1 for v in small.values()) and small["train"] >= MIN_USERS and n_targets >= 2 and train_classes >= 2
    outcomes.append(CheckOutcome("min_size", ok, TASK_DATA_CHECKS["min_size"],
                                 {**{f"{s}_users": v for s, v in small.items()}, "targets": n_targets,
                                  "train_distinct_targets": train_classes}))
    return outcomes
