"""Per-user T1 behaviour sequences, the dataset's one user split, and T1's leave-one-out rows."""
from __future__ import annotations

from pathlib import Path

import duckdb

from pcl_pipeline.data.parquet import copy_query_to_parquet

MIN_SEQUENCE = 4  # leave-one-out needs a training part of >= 2 items, a validation and a test item
SPLIT_FRACTIONS = (0.80, 0.05)  # train, validation; the remaining 15% of users are test (PAPER.md)


def build_sequences(con: duckdb.DuckDBPyConnection, interactions: Path, out: Path, *, seed: int) -> int:
    """One row per user: `items`, the ordered item_idx list of the T1 behaviour sequence (the
    events before the history cut), and `split`, the user's role in every task after T1.
    Users whose sequence is shorter than MIN_SEQUENCE are dropped.

    The split is drawn once per dataset by a seeded hash over every user (PAPER.md), so a user
    has the same role in every task and no prompt inherited from an earlier task was trained on
    a later task's test user. md5 is stable across DuckDB versions and machines.
    """
    train, valid = SPLIT_FRACTIONS
    query = """
        WITH seqs AS (
            SELECT user_idx, any_value(user_id) AS user_id,
                   list(item_idx ORDER BY pos) AS items, count(*) AS length
            FROM read_parquet(?)
            WHERE pos < hist_len
            GROUP BY user_idx
            HAVING count(*) >= ?
        ), ranked AS (
            SELECT *, (row_number() OVER (ORDER BY md5(? || ':' || CAST(user_id AS VARCHAR))) - 1)
                      / count(*) OVER () AS frac
            FROM seqs
        )
        SELECT user_idx, user_id, items, length,
               CASE WHEN frac < ? THEN 'train' WHEN frac < ? THEN 'valid' ELSE 'test' END AS split
        FROM ranked
        ORDER BY user_idx
    """
    # round: 0.8 + 0.05 is 0.8500000000000001, which would put the user at exactly 85% in validation
    return copy_query_to_parquet(con, query, [str(interactions), MIN_SEQUENCE, str(seed), train,
                                              round(train + valid, 12)], out)


def build_item_vocab(con: duckdb.DuckDBPyConnection, interactions: Path, out: Path) -> int:
    """The backbone's item vocabulary: idx (= item_idx) -> raw item id."""
    query = """
        SELECT DISTINCT item_idx AS idx, CAST(item_id AS VARCHAR) AS value, item_idx AS backbone_idx
        FROM read_parquet(?) ORDER BY idx
    """
    return copy_query_to_parquet(con, query, [str(interactions)], out)


def build_next_item_rows(con: duckdb.DuckDBPyConnection, sequences: Path, out: Path) -> int:
    """T1 task rows, leave-one-out: test = last item, validation = second last, and one train row
    per user whose input + target is the training part (the trainer uses every position of it)."""
    query = """
        WITH s AS (SELECT user_idx, user_id, items, len(items) AS n FROM read_parquet(?))
        SELECT user_idx, user_id, 'train' AS split, items[1:n - 3] AS input, items[n - 2] AS target FROM s
        UNION ALL
        SELECT user_idx, user_id, 'valid', items[1:n - 2], items[n - 1] FROM s
        UNION ALL
        SELECT user_idx, user_id, 'test', items[1:n - 1], items[n] FROM s
        ORDER BY user_idx, split
    """
    return copy_query_to_parquet(con, query, [str(sequences)], out)
