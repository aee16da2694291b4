"""T1 behaviour events: typed, validated, deduplicated, ordered, with ids remapped from 1."""
from __future__ import annotations

from pathlib import Path

import duckdb

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.parquet import copy_query_to_parquet, file_metadata
from pcl_pipeline.errors import InputError


# The key-value metadata entry of a raw table's Parquet file naming columns the reader proved to
# hold each combination once (comma-separated; stages/data.py writes it, formats set it).
DISTINCT_KEY = "pcl.distinct"


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    return [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]


def tie_column(columns: list[str], seed: int) -> str | None:
    """SQL of the seeded tie-break of a source table with timestamps (None without).

    MovieLens ties on timestamp are broken by a seeded hash of (user, item), never by item id:
    on ML-100K half of the test items share their predecessor's timestamp, and id order would
    make "a larger id comes next" learnable (PAPER.md). md5's hex text is stable across DuckDB
    versions and machines (tests/test_data_order.py pins the order it gives).
    """
    if "timestamp" not in columns:
        return None
    # The seed is an int rendered by us, not user text: safe to inline into the SQL.
    return f"md5('{int(seed)}:' || CAST(user_id AS VARCHAR) || ':' || CAST(item_id AS VARCHAR))"


def order_columns(columns: list[str], seed: int) -> str:
    """Behaviour order of a source table, as SQL over its columns: time, then the seeded tie hash
    (tie_column), then the file line; Tenrec has no timestamp and its rows are in click order,
    so the line is the order."""
    tie = tie_column(columns, seed)
    return "line" if tie is None else f"timestamp, {tie}, line"


def pairs_proven_distinct(con: duckdb.DuckDBPyConnection, source: Path) -> bool:
    """Whether the reader proved every (user_id, item_id) of the raw table distinct (its file's
    DISTINCT_KEY names those columns or fewer): no repeat to reduce, under any filter."""
    proven = file_metadata(con, source).get(DISTINCT_KEY)
    return bool(proven) and set(proven.split(",")) <= {"user_id", "item_id"}


def count_repeated_pairs(con: duckdb.DuckDBPyConnection, source: Path, where: str, params: list[object]) -> int:
    """Rows of `source` passing `where` minus their distinct (user_id, item_id) pairs, as hashes:
    0 proves every pair distinct; a hash collision only costs the dedup window."""
    (repeats,) = con.execute(f"SELECT count(*) - count(DISTINCT hash(user_id, item_id)) FROM read_parquet(?) "
                             f"WHERE {where}", [str(source), *params]).fetchone()
    return repeats


def filter_sql(task: TaskSpec, columns: list[str]) -> tuple[str, list[object]]:
    """SQL predicate and its bound parameters for a task's label filter (column checked first)."""
    flt = task.label.filter
    if flt is None:
        return "TRUE", []
    if flt.column not in columns:
        raise InputError(task.file, "label.filter names a column the source table does not have",
                         field="label.filter.column", value=flt.column, expected=f"one of {columns}")
    op = "=" if flt.op == "==" else flt.op
    return f"\"{flt.column}\" {op} ?", [flt.value]


def build_interactions(con: duckdb.DuckDBPyConnection, t1: TaskSpec, source: Path, out: Path, *, seed: int) -> int:
    """Write the T1 events of `source` that pass T1's filter to `out`; return the row count.

    Output columns: user_idx, item_idx (dense, from 1; 0 is padding), pos (0-based position in
    the user's ordered history), n_events, hist_len (events that form the T1 behaviour sequence:
    all of them, or the first `history_cut` fraction), then every column of the source table.
    A user's repeated (user, item) events are reduced to the first one; users with fewer than
    `min_events` events are dropped. `seed` breaks timestamp ties (tie_column).

    The order is order_columns', computed with less work than it spells (same rows, same order:
    tests/test_data_order.py): the per-user sort is on (timestamp, line), which also marks the
    rows whose timestamp a neighbour shares; only those (4% of a 25M-rating log) get the md5 tie
    hash and a second, small sort inside their (user, timestamp) group, keeping the group's
    positions. The ids come from two small lookup tables (distinct users and items, numbered in
    id order) joined back, not from two dense_rank sorts of every row, and the per-(user, item)
    dedup window runs only when a repeated pair may exist (the reader proved the pairs distinct,
    or a count of distinct pair hashes finds out; MovieLens has none).
    """
    columns = parquet_columns(con, source)
    tie = tie_column(columns, seed)
    where, params = filter_sql(t1, columns)
    repeats = 0 if pairs_proven_distinct(con, source) else count_repeated_pairs(con, source, where, params)
    first = (f"QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY {order_columns(columns, seed)}) = 1"
             if repeats else "")
    cut = t1.label.history_cut
    hist = "n_events" if cut is None else "CAST(floor(? * n_events) AS BIGINT)"
    by_time = "timestamp, line" if tie is not None else "line"
    shared = ("coalesce(timestamp = lag(timestamp) OVER w OR timestamp = lead(timestamp) OVER w, FALSE)"
              if tie is not None else "FALSE")
    kept = "_interactions_kept"  # a TEMP table, not a CTE: it spills under the memory limit
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {kept} AS
        WITH src AS (SELECT * FROM read_parquet(?) WHERE {where} {first}),
        ordered AS (
            SELECT *, row_number() OVER w - 1 AS pos, count(*) OVER (PARTITION BY user_id) AS n_events,
                   {shared} AS _tied
            FROM src WINDOW w AS (PARTITION BY user_id ORDER BY {by_time})
        )
        SELECT *, {hist} AS hist_len FROM ordered WHERE n_events >= ?
    """, [str(source), *params] + ([cut] if cut is not None else []) + [t1.label.min_events])
    try:
        if tie is not None:  # the tied rows' order inside their (user, timestamp) group: md5, then line
            con.execute(f"""
                UPDATE {kept} SET pos = fix.pos FROM (
                    SELECT line, min(pos) OVER g + row_number() OVER (g ORDER BY {tie}, line) - 1 AS pos
                    FROM {kept} WHERE _tied WINDOW g AS (PARTITION BY user_id, timestamp)) fix
                WHERE {kept}.line = fix.line""")
        query = f"""
            WITH users AS (SELECT user_id, row_number() OVER (ORDER BY user_id) AS user_idx
                           FROM (SELECT DISTINCT user_id FROM {kept})),
                 items AS (SELECT item_id, row_number() OVER (ORDER BY item_id) AS item_idx
                           FROM (SELECT DISTINCT item_id FROM {kept}))
            SELECT user_idx, item_idx, k.* EXCLUDE (pos, n_events, hist_len, _tied), pos, n_events, hist_len
            FROM {kept} k JOIN users USING (user_id) JOIN items USING (item_id)
            ORDER BY user_idx, pos
        """
        return copy_query_to_parquet(con, query, [], out)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {kept}")
