"""Per-task rows (inputs = the user's T1 behaviour sequence, labels, user-level splits) and the
task's target vocabulary, built from the standard tables with DuckDB."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.interactions import filter_sql, order_columns, parquet_columns
from pcl_pipeline.data.parquet import copy_query_to_parquet
from pcl_pipeline.data.sequences import build_item_vocab, build_next_item_rows
from pcl_pipeline.errors import InputError



@dataclass(frozen=True)
class TaskDataPaths:
    rows: Path  # user_idx, user_id, split, input (list of backbone item_idx), target
    vocab: Path  # idx, value (raw item id or class value), backbone_idx (same item namespace only)


@dataclass(frozen=True)
class StageInputs:
    interactions: Path
    sequences: Path
    raw_dir: Path  # standard tables as <name>.parquet


def build_task_data(con: duckdb.DuckDBPyConnection, task: TaskSpec, t1: TaskSpec, inputs: StageInputs,
                    out: TaskDataPaths, *, seed: int) -> int:
    """Write the task's rows and vocabulary; return the number of rows."""
    if task.kind == "next_item":
        build_item_vocab(con, inputs.interactions, out.vocab)
        return build_next_item_rows(con, inputs.sequences, out.rows)
    source = source_table(inputs.raw_dir, task)
    _user_splits(con, inputs.sequences)
    if task.kind == "item_rec":
        same_namespace = _item_targets(con, task, t1, inputs, source, seed)
        # The ranking vocabulary is what the training rows can teach: targets of training users,
        # plus T1's items when the task lives in T1's item space (the backbone knows them). A
        # validation/test target outside it stays in the rows with target 0: a counted miss.
        t1_items = """UNION SELECT DISTINCT item_id, item_idx AS backbone_idx FROM read_parquet(?)"""
        vocab_query = f"""
            WITH items AS (
                SELECT DISTINCT t.item_id, t.backbone_idx FROM targets t JOIN user_split u USING (user_id)
                WHERE u.split = 'train'
                {t1_items if same_namespace else ""}
            )
            SELECT dense_rank() OVER (ORDER BY item_id) AS idx, CAST(item_id AS VARCHAR) AS value,
                   backbone_idx FROM items"""
        return _write(con, out, inputs.sequences, vocab_query, [str(inputs.interactions)] if same_namespace else [])
    _class_labels(con, task, inputs, source)
    return _write(con, out, inputs.sequences, vocab_query="""
        SELECT DISTINCT dense_rank() OVER (ORDER BY item_id) - 1 AS idx, item_id AS value,
               CAST(NULL AS BIGINT) AS backbone_idx FROM targets""", vocab_params=[])


def source_table(raw_dir: Path, task: TaskSpec) -> Path:
    """The standard table a task's label names, or an InputError naming the task file."""
    path = raw_dir / f"{task.label.source}.parquet"
    if not path.exists():
        available = sorted(p.stem for p in raw_dir.glob("*.parquet"))
        raise InputError(task.file, "the task's source table is not available on this data (e.g. ML-latest has "
                         "no users table, so no demographics)", field="label.source", value=task.label.source,
                         expected=f"one of {available}")
    return path


def _item_targets(con: duckdb.DuckDBPyConnection, task: TaskSpec, t1: TaskSpec, inputs: StageInputs,
                  source: Path, seed: int) -> bool:
    """TEMP TABLE targets(user_id, item_id, backbone_idx): the task's positive items per user, first
    occurrence only, users with a T1 sequence only; items of T1's own namespace that are already in
    the user's input sequence are dropped (they would leak the label into the input). Returns
    whether the task shares T1's item namespace."""
    same_namespace = task.label.source == t1.label.source
    if task.label.after_history_cut:
        if not same_namespace:
            raise InputError(task.file, "after_history_cut takes targets from T1's own events", field="label.source",
                             value=task.label.source, expected=t1.label.source)
        events, extra = inputs.interactions, "pos >= hist_len"
    else:
        events, extra = source, "TRUE"
    columns = parquet_columns(con, events)
    where, params = filter_sql(task, columns)
    bidx = "v.item_idx" if same_namespace else "CAST(NULL AS BIGINT)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE targets AS
        WITH ev AS (
            SELECT user_id, item_id, row_number() OVER (ORDER BY user_id, {order_columns(columns, seed)}) AS ord
            FROM read_parquet(?) WHERE {where} AND {extra}
        ), vocab AS (SELECT DISTINCT item_id, item_idx FROM read_parquet(?))
        SELECT ev.user_id, ev.item_id, {bidx} AS backbone_idx
        FROM ev JOIN read_parquet(?) s USING (user_id) LEFT JOIN vocab v USING (item_id)
        WHERE NOT ({str(same_namespace).upper()} AND v.item_idx IS NOT NULL AND list_contains(s.items, v.item_idx))
        QUALIFY row_number() OVER (PARTITION BY ev.user_id, ev.item_id ORDER BY ev.ord) = 1
    """, [str(events), *params, str(inputs.interactions), str(inputs.sequences)]).fetchall()
    return same_namespace


def _class_labels(con: duckdb.DuckDBPyConnection, task: TaskSpec, inputs: StageInputs, source: Path) -> None:
    """TEMP TABLE targets(user_id, item_id = the class value as text): one label per user (its first
    non-null row in the source), "unknown" values dropped."""
    columns = parquet_columns(con, source)
    column = task.label.column
    if column not in columns:
        raise InputError(task.file, "label.column is not a column of the source table", field="label.column",
                         value=column, expected=f"one of {columns}")
    where, params = filter_sql(task, columns)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE targets AS
        WITH lab AS (
            SELECT user_id, CAST(arg_min("{column}", line) AS VARCHAR) AS item_id
            FROM read_parquet(?) WHERE "{column}" IS NOT NULL AND {where} GROUP BY user_id
        )
        SELECT lab.user_id, lab.item_id FROM lab JOIN read_parquet(?) s USING (user_id)
        WHERE NOT list_contains(?::VARCHAR[], lab.item_id)
    """, [str(source), *params, str(inputs.sequences), list(task.label.drop_values)]).fetchall()


def _user_splits(con: duckdb.DuckDBPyConnection, sequences: Path) -> None:
    """TEMP TABLE user_split(user_id, split): the dataset's one user split, drawn with the
    sequences (data/sequences.py), so every task uses the same roles."""
    if "split" not in parquet_columns(con, sequences):
        raise RuntimeError(f"{sequences}: written by an earlier version without the dataset's user split; "
                           "re-materialize the sequences asset of this dataset (make run does)")
    con.execute("CREATE OR REPLACE TEMP TABLE user_split AS SELECT user_id, split FROM read_parquet(?)",
                [str(sequences)]).fetchall()


def _write(con: duckdb.DuckDBPyConnection, out: TaskDataPaths, sequences: Path, vocab_query: str,
           vocab_params: list[object]) -> int:
    """Write vocabulary and rows from TEMP TABLEs targets and user_split. A target outside the
    vocabulary (never the case for training rows) is written as 0."""
    copy_query_to_parquet(con, vocab_query + " ORDER BY idx", vocab_params, out.vocab)
    query = """
        WITH vocab AS (SELECT idx, value FROM read_parquet(?))
        SELECT s.user_idx, t.user_id, u.split, s.items AS input, COALESCE(v.idx, 0) AS target
        FROM targets t JOIN user_split u USING (user_id)
             LEFT JOIN vocab v ON v.value = CAST(t.item_id AS VARCHAR)
             JOIN read_parquet(?) s USING (user_id)
        ORDER BY s.user_idx, target, t.item_id
    """
    return copy_query_to_parquet(con, query, [str(out.vocab), str(sequences)], out.rows)
