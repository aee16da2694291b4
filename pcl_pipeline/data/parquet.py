"""Parquet between stages, written by DuckDB with bound parameters and atomic renames."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import duckdb

from pcl_pipeline.store.files import atomic_path


def copy_query_to_parquet(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[object], path: Path) -> int:
    """Run `query` and write its rows to `path`; return the row count. The query fixes the row
    order: it ends in an ORDER BY, or scans one table in its stored order on a connection that
    preserves insertion order (read_table's tables, which are in file order)."""
    with atomic_path(path) as tmp:
        con.execute(f"COPY ({query}) TO '{_quoted(tmp)}' (FORMAT parquet, COMPRESSION zstd)", list(params)).fetchall()
    return count_rows(con, path)


def count_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0][0]


def _quoted(path: Path) -> str:
    # COPY ... TO does not take a bound parameter for its target; the path is ours (a temp file
    # under PCL_HOME), and quotes are escaped anyway.
    return str(path).replace("'", "''")
