"""Parquet between stages, written by DuckDB with bound parameters and atomic renames."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import duckdb

from pcl_pipeline.store.files import atomic_path


# zstd without dictionary pages: DuckDB's writer tries a dictionary per column chunk and falls back
# to plain encoding once it fills, which on the large id columns is work thrown away. On the 25M-
# rating interactions table the write takes 4.2 s instead of 5.8 s, the file is the same size
# (208 MB) and the values read back are the same (docs/results.md, "Data at scale").
WRITE_OPTIONS = "FORMAT parquet, COMPRESSION zstd, DICTIONARY_SIZE_LIMIT 1"


def copy_query_to_parquet(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[object], path: Path,
                          metadata: dict[str, str] | None = None) -> int:
    """Run `query` and write its rows to `path`; return the row count. The query fixes the row
    order: it ends in an ORDER BY, or scans one table in its stored order on a connection that
    preserves insertion order (read_table's tables, which are in file order). `metadata` goes
    into the file's key-value metadata (read back with `file_metadata`), written with the rows."""
    options = WRITE_OPTIONS
    if metadata:
        options += ", KV_METADATA {" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in metadata.items()) + "}"
    with atomic_path(path) as tmp:
        con.execute(f"COPY ({query}) TO {_literal(tmp)} ({options})", list(params)).fetchall()
    return count_rows(con, path)


def file_metadata(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """The key-value metadata copy_query_to_parquet wrote into `path` (DuckDB's own keys too)."""
    rows = con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(path)]).fetchall()
    return {bytes(k).decode("utf-8"): bytes(v).decode("utf-8") for k, v in rows}


def count_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0][0]


def _literal(value: object) -> str:
    """A SQL string literal, quotes escaped. COPY ... TO takes no bound parameter for its target
    (the path is ours, a temp file under PCL_HOME) nor for KV_METADATA's keys and values."""
    return "'" + str(value).replace("'", "''") + "'"
