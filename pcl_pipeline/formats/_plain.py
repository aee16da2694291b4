"""The reader's fast path: a file of plain digits, read typed and proved clean by one aggregate.

A file whose data bytes are only digits, the delimiter, line ends and the layout's missing-value
token (the line count's byte scan in _csv.py checks it) has exactly one reading per field, so
DuckDB reads it with typed columns and one aggregate over them replaces the checked path's
per-field scans of a VARCHAR staging table. Whatever the aggregate cannot prove clean goes back
to the checked path (_csv.py), which words the error; both build the same table
(tests/test_data_order.py).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from pcl_pipeline.formats._spec import (
    NO_NULL_STRING, FileSpec, ReadResult, drop_relation, missing_note, output_sql, quoted_name,
)


def plain_bytes(spec: FileSpec) -> bytes | None:
    """The bytes of a file read_plain may take: digits, the delimiter, line ends and the
    missing-value token. None when the layout has a text field (its values need the checked
    path) or more than one missing token (DuckDB's reader takes one)."""
    if any(f.type == "VARCHAR" for f in spec.fields) or len(_missing_tokens(spec)) > 1:
        return None
    return b"0123456789\r\n" + "".join([spec.delimiter, *_missing_tokens(spec)]).encode("ascii")


def _missing_tokens(spec: FileSpec) -> set[str]:
    return {f.missing for f in spec.fields if f.missing is not None}


def read_plain(
    con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, names: list[str], columns: list[int | None],
    lead: int, lines: int, tolerated: dict[str, int],
) -> ReadResult | None:
    """The fast path for a file whose data lines hold only digits, delimiters and the missing
    token (_scan): DuckDB reads it typed into TEMP TABLE _plain_<table>, the checks become one
    aggregate over the typed columns, and raw_<table> is a view over it. A field of plain digits
    has exactly one reading (no sign, spaces, decimals or hex can occur), so the table equals what
    the checked path builds from the same bytes. Returns None
    (the caller takes the checked path, which words the error) on anything that path would treat
    specially: a parse error (an empty field, or the token inside a value), a short or long line,
    blank lines, a missing value where the field has no token, a value out of range or a repeated
    row."""
    field_of = {c: f for f, c in zip(spec.fields, columns) if c is not None}
    fast = f"_plain_{spec.table}"
    # DuckDB reads an empty field as NULL unless nullstr is set: a token that never occurs does
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {fast} AS SELECT * FROM read_csv(?, delim = ?, header = ?, "
            "quote = '', escape = '', null_padding = false, auto_detect = false, columns = ?, skip = ?, "
            "nullstr = ?)",
            [str(path), spec.delimiter, spec.header,
             {f"c{i}": field_of[i].type if i in field_of else "VARCHAR" for i in range(len(names))}, lead,
             next(iter(_missing_tokens(spec)), NO_NULL_STRING)])
    except duckdb.Error:
        return None
    kept = False  # the typed table stays, under the raw_<table> view, once the file proved clean
    try:
        aggregates, limits = ["count(*)"], []
        missing = [(column, field) for column, field in field_of.items() if field.missing is not None]
        for column, field in field_of.items():
            if field.missing is None:  # only the token reads as NULL
                aggregates.append(f"count(c{column}) = count(*)")
            if field.type == "DOUBLE":
                aggregates.append(f"count_if(NOT isfinite(c{column})) = 0")
            if field.min is not None:
                aggregates.append(f"coalesce(min(c{column}) >= ?, TRUE)")
                limits.append(field.min)
            if field.max is not None:
                aggregates.append(f"coalesce(max(c{column}) <= ?, TRUE)")
                limits.append(field.max)
        # distinct hashes == rows proves the keys distinct; a collision only sends the file to
        # the checked path, which compares the keys themselves. The narrow key goes first: when
        # it is distinct, so is the whole one.
        present = {f.name for f, c in zip(spec.fields, columns) if c is not None}
        narrow = spec.narrow_unique if spec.narrow_unique and set(spec.narrow_unique) <= present else ()
        unique_at = len(aggregates) - 1  # its index in `passed` below
        if spec.unique:
            aggregates.append(_all_distinct(spec, columns, narrow or spec.unique))
        aggregates += [f"count(*) - count(c{column})" for column, _ in missing]
        rows, *passed = con.execute(f"SELECT {', '.join(aggregates)} FROM {fast}", limits).fetchone()
        counts = passed[len(passed) - len(missing):]
        distinct = narrow if spec.unique and passed[unique_at] else ()
        if narrow and not passed[unique_at]:  # a pair repeats (at another time, say): the whole key
            whole = _all_distinct(spec, columns, spec.unique)
            (passed[unique_at],) = con.execute(f"SELECT {whole} FROM {fast}").fetchone()
        if rows == 0 or rows != lines or not all(passed[:len(passed) - len(missing)]):
            return None
        typed = ", ".join(
            f"c{c} AS {quoted_name(f.name)}" if c is not None else f"CAST(NULL AS {f.type}) AS {quoted_name(f.name)}"
            for f, c in zip(spec.fields, columns))
        out = output_sql(spec)
        table = f"raw_{spec.table}"
        # a view over the typed table, not a copy of it (0.8 s and the memory of a second table
        # for 25M ratings); rowid follows the file (the connection preserves insertion order:
        # read_table checks it)
        drop_relation(con, table)
        con.execute(f"CREATE TEMP VIEW {table} AS SELECT line, {out} FROM "
                    f"(SELECT rowid + {1 + spec.header + lead} AS line, {typed} FROM {fast})")
        kept = True
    finally:
        if not kept:
            con.execute(f"DROP TABLE IF EXISTS {fast}")
    if lead:
        tolerated["blank lines skipped"] = lead
    for (_, field), n in zip(missing, counts):
        if n:
            tolerated[missing_note(field)] = n
    return ReadResult(table, rows, tolerated, distinct)


def _all_distinct(spec: FileSpec, columns: list[int | None], names: tuple[str, ...]) -> str:
    """SQL aggregate: whether the typed columns of fields `names` hash to as many values as there
    are rows (every key distinct, short of a hash collision)."""
    key = ", ".join(f"c{c}" for f, c in zip(spec.fields, columns) if f.name in names)
    return f"count(DISTINCT hash({key})) = count(*)"
