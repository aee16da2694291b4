"""Read one delimited file with DuckDB, validate it, and materialise a typed TEMP TABLE.

This is the one reader both datasets share: a dataset module only declares its files as
`FileSpec`s. Every problem becomes an `InputError` naming the file and, where it applies, the
1-based line, the field, the bad value and the expected form.

How it works, and why:
1. The first line is read in Python (cheap): it gives the header for files that have one, and
   catches a wrong delimiter before DuckDB reports something less clear.
2. DuckDB reads every field as VARCHAR into a staging table (`null_padding` turns a short line
   into trailing NULLs we can report; `nullstr` is set to a NUL byte so that an empty field stays
   '' and is not confused with a missing one).
3. Checks run in SQL over the whole staging table (first offender by line), so they stay fast on
   tens of millions of rows.
4. The typed table keeps file order; its `line` column is the line in the file (header and
   blank lines counted), so errors and Tenrec's click order point at the real line.

A fast path skips steps 2-3 for the common large file: when every byte after the header is a
digit, the delimiter, a line end or the missing-value token (one pass over the bytes, which also
counts the lines), a field has exactly one reading, so DuckDB reads the file typed and the checks
become one aggregate over the typed columns (_plain.py). Anything that aggregate does not
prove clean (a parse error, an empty field, a blank line, a value out of range, a repeated row)
sends the file down the checked path above, which words the error;
tests/test_data_order.py shows both paths build the same tables.

What carries no data is tolerated and counted (`ReadResult.tolerated`, shown in the raw_logs
asset's metadata): blank lines anywhere (DuckDB skips them; leading ones are skipped before the
header), a UTF-8 byte-order mark, CRLF line ends, empty trailing columns in a header or in rows
(up to `_EXTRA_FIELDS` of them: ratings.csv copies ending their header with ",,,,"), and spaces
around numbers. Columns the header leaves unnamed at its end are not part of the format: their
values are ignored, the rows that carried any are counted and named in one warning (spreadsheet
residue: `userId,movieId,rating,timestamp,,,,` over `1,1129,2,1260759185,,3.45,,3.54`). A value
beyond the header's last column, or beyond a headerless layout, is still an error, and so is
everything else that could change meaning.
"""
from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import duckdb

from pcl_pipeline.errors import InputError
from pcl_pipeline.formats._plain import plain_bytes, read_plain
from pcl_pipeline.formats._spec import (
    INTEGER_TYPES, NO_NULL_STRING, Field, FileSpec, ReadResult, drop_relation, missing_note, output_sql,
    quoted_name,
)

__all__ = ["Field", "FileSpec", "ReadResult", "read_table"]

log = logging.getLogger(__name__)

# Delimiters we try on a line that did not split, only to say what the file looks like.
_LIKELY_DELIMITERS = ("::", "\t", "|", ",", ";")
_CHUNK = 1 << 20
# Rows may carry up to this many extra trailing fields, accepted only while they are empty.
_EXTRA_FIELDS = 8
_TOO_MANY = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def read_table(
    con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, *alternatives: FileSpec
) -> ReadResult:
    """Read `path`, validate it and create raw_<table>: a TEMP TABLE, or on the plain-digits path
    a TEMP VIEW over the typed table it read.

    The table has `line BIGINT` (1-based line number in the file, header and blank lines
    included) and then `spec.output`, in file order. `alternatives` are other accepted layouts of
    a header file: the first spec whose required columns are all in the header is used.
    Raises InputError for any problem with the file's content, and ValueError if `con` does
    not preserve insertion order (rowid would then not follow the file, and neither would `line`).
    """
    (ordered,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    if not ordered:
        raise ValueError("read_table needs a DuckDB connection with preserve_insertion_order=true")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file: no data rows", expected=_describe(spec))
    first, lead, raw_first = _first_line(path, spec.encoding)
    tolerated: dict[str, int] = {}
    if raw_first.startswith(b"\xef\xbb\xbf"):
        tolerated["UTF-8 byte-order mark"] = 1
    if raw_first.endswith(b"\r\n"):
        tolerated["CRLF line ends"] = 1
    unnamed = 0  # trailing header columns without a name: ignored, values or not
    if spec.header:
        header = [name.strip() for name in _split(first, spec)]
        while len(header) > 1 and header[-1] == "":  # ratings.csv copies end their header with ",,,,"
            header.pop()
            unnamed += 1
        if unnamed:
            tolerated["empty trailing header columns"] = unnamed
        spec = _match_header(path, header, (spec, *alternatives))
        position = {n: i for i, n in reversed(list(enumerate(header)))}  # first occurrence wins
        columns = [position.get(f.header_name) for f in spec.fields]  # None: an optional column is absent
        # Errors name standard fields; a dropped extra column keeps its header name.
        names = list(header)
        for f, c in zip(spec.fields, columns):
            if c is not None:
                names[c] = f.name
        absent = [f.name for f, c in zip(spec.fields, columns) if c is None]
        if absent:
            log.info("%s: optional columns absent, read as missing: %s", path, ", ".join(absent))
    else:
        _check_first_line(path, first, spec)
        names = [f.name for f in spec.fields]
        columns = list(range(len(spec.fields)))

    content, plain = _scan(path, plain_bytes(spec), skip=lead + spec.header)
    if plain and not unnamed:
        fast = read_plain(con, path, spec, names, columns, lead, content - spec.header - lead, tolerated)
        if fast is not None:
            log.info("read %s: %d rows into %s (plain digits; tolerated: %s)", path, fast.rows, fast.table,
                     fast.tolerated or "nothing")
            return fast
    stage = f"_stage_{spec.table}"
    extra = _stage(con, path, spec, stage, len(names) + unnamed, lead)
    try:
        rows, lines = _check_lines(con, path, spec, stage, names, lead, tolerated, content, unnamed, extra)
        for field, column in zip(spec.fields, columns):
            if column is not None:
                _check_field(con, path, spec, stage, field, f"c{column}", lines)
        _count_missing(con, stage, spec, columns, tolerated)
        _count_spaces(con, stage, spec, columns, tolerated)
        repeats = _check_unique(con, path, spec, stage, columns, lines, tolerated)
        table = f"raw_{spec.table}"
        _materialise(con, spec, stage, table, columns, lines, repeats)
    finally:
        for suffix in ("", "_lines", "_repeats"):
            con.execute(f"DROP TABLE IF EXISTS {stage}{suffix}")
    log.info("read %s: %d rows into %s (tolerated: %s)", path, rows, table, tolerated or "nothing")
    return ReadResult(table, rows, tolerated)


class _Lines:
    """Line number (1-based, in the file) of a staged row: rowid + offset, plus the blank lines
    before it when the file has any (DuckDB skips them)."""

    def __init__(self, offset: int, blanks: list[int]) -> None:
        self.offset = offset  # header and leading blank lines
        self.blanks = blanks  # blank line numbers after the first content line, ascending

    def of(self, rowid: int) -> int:
        line = rowid + self.offset
        for blank in self.blanks:
            if blank <= line:
                line += 1
            else:
                break
        return line

    def sql(self, rowid: str, stage: str) -> str:
        """SQL for the line of `rowid` (a column of `stage`): a join only when there are blanks."""
        if not self.blanks:
            return f"({rowid} + {self.offset})"
        # k-th blank (0-based) sits after (blank - offset - k) rows; a row is shifted by every blank
        # whose "rows before" count is <= its rowid
        return (f"({rowid} + {self.offset} + (SELECT count(*) FROM {stage}_lines b "
                f"WHERE b.rows_before <= {rowid}))")


def _stage(
    con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, stage: str, n_fields: int, lead: int
) -> int:
    """All fields as VARCHAR, positional names c0..c<n-1>, rows in file order; the `lead` blank
    lines before the first content line skipped (DuckDB would take the first row as the header).
    Read at the layout's width first; only a file with a longer line is read again with
    _EXTRA_FIELDS more columns (empty trailing fields are tolerated, values there are reported).
    Returns how many extra columns the stage has (0 or _EXTRA_FIELDS)."""
    quote = '"' if spec.quoted else ""
    for extra in (0, _EXTRA_FIELDS):
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM read_csv(?, delim = ?, "
                "header = ?, quote = ?, escape = ?, null_padding = true, auto_detect = false, "
                "columns = ?, encoding = ?, nullstr = ?, skip = ?)",
                [str(path), spec.delimiter, spec.header, quote, quote,
                 {f"c{i}": "VARCHAR" for i in range(n_fields + extra)}, spec.encoding, NO_NULL_STRING, lead],
            )
            return extra
        except duckdb.Error as err:
            if extra or not _TOO_MANY.search(str(err)):
                raise _duckdb_error(path, spec, n_fields, err) from None  # named + unnamed columns
    raise AssertionError("unreachable")


def _check_lines(
    con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, stage: str, names: list[str], lead: int,
    tolerated: dict[str, int], content: int, unnamed: int, extra: int,
) -> tuple[int, _Lines]:
    """No data rows, short (truncated) lines, values in trailing extra fields; blank lines skipped
    and counted; rows with values in the header's `unnamed` trailing columns counted (and the
    values ignored). Returns the row count and the line numbering."""
    (rows,) = con.execute(f"SELECT count(*) FROM {stage}").fetchone()
    if rows == 0:
        raise InputError(path, "no data rows", expected=_describe(spec))
    lines = content - spec.header - lead
    blanks: list[int] = []
    if rows != lines:
        blanks = _blank_lines(path, after=lead + 1)
        if rows != lines - len(blanks):
            raise InputError(path, f"read {rows} rows from {lines - len(blanks)} lines",
                             expected="one row per line (a quoted field must not span lines)")
    if lead or blanks:
        tolerated["blank lines skipped"] = lead + len(blanks)
    numbering = _Lines(1 + spec.header + lead, blanks)
    if blanks:
        offset = numbering.offset
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage}_lines AS SELECT blank, "
                    f"blank - {offset} - (row_number() OVER (ORDER BY blank) - 1) AS rows_before "
                    f"FROM (SELECT unnest(?::BIGINT[]) AS blank)", [blanks])
    # null_padding fills a short line from the end, so its last field is NULL.
    last = len(names) - 1
    short = con.execute(
        f"SELECT rowid, * FROM {stage} WHERE c{last} IS NULL ORDER BY rowid LIMIT 1"
    ).fetchone()
    if short is not None:
        missing = next(i for i, v in enumerate(short[1:]) if v is None)
        raise InputError(
            path, f"line has {missing} of {len(names)} fields (truncated?)",
            line=numbering.of(short[0]), field=names[missing], expected=_describe(spec),
        )
    carried, residue_sql = 0, "FALSE"
    if unnamed:
        residue = [f"c{i}" for i in range(len(names), len(names) + unnamed)]
        residue_sql = _any_value(residue)
        (carried,) = con.execute(f"SELECT count(*) FROM {stage} WHERE {residue_sql}").fetchone()
        if carried:
            first, last = len(names) + 1, len(names) + unnamed
            columns = f"column {first}" if first == last else f"columns {first}-{last}"
            tolerated[f"rows with values in unnamed {columns} (ignored: the header names no such column)"] = carried
            log.warning("%s: the header leaves %s unnamed; their values in %d rows are ignored", path, columns, carried)
    width = len(names) + unnamed  # the fields a line may carry values in
    extras = [f"c{i}" for i in range(width, width + extra)]  # none: no line is longer (_stage)
    bad = extras and con.execute(f"SELECT rowid, {', '.join(extras)} FROM {stage} WHERE {_any_value(extras)} "
                                 f"ORDER BY rowid LIMIT 1").fetchone()
    if bad:
        n = width + max(i + 1 for i, v in enumerate(bad[1:]) if v is not None)
        raise InputError(path, f"line has {n} fields", line=numbering.of(bad[0]),
                         value=next(v for v in bad[1:] if v is not None and v.strip()),
                         expected=f"{width} fields: {_describe(spec)}")
    if width + extra == len(names):  # the stage has no column beyond the named ones
        return rows, numbering
    (empty,) = con.execute(f"SELECT count(*) FROM {stage} WHERE c{len(names)} IS NOT NULL "
                           f"AND NOT ({residue_sql})").fetchone()  # trailing fields, all empty
    if empty:
        tolerated["rows with empty trailing fields"] = empty
    return rows, numbering


def _any_value(columns: list[str]) -> str:
    """SQL: true where any of the staged `columns` holds something other than blanks."""
    return " OR ".join(f"({c} IS NOT NULL AND trim({c}) <> '')" for c in columns)


def _check_unique(con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, stage: str, columns: list,
                  lines: _Lines, tolerated: dict[str, int]) -> bool:
    """Rows repeating spec.unique: identical ones go to TEMP TABLE <stage>_repeats (dropped by
    _materialise, counted; returns True), one with other values is an InputError. One aggregate
    when there are none (the common case); the window only runs when there are repeats."""
    if not spec.unique:
        return False
    where = {f.name: c for f, c in zip(spec.fields, columns)}
    key = ", ".join(f"trim(c{where[name]})" for name in spec.unique)
    (repeats,) = con.execute(f"SELECT count(*) - count(DISTINCT ({key})) FROM {stage}").fetchone()
    if not repeats:
        return False
    present = [(f, c) for f, c in zip(spec.fields, columns) if c is not None]
    row = ", ".join(f"trim(c{c})" for _, c in present)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {stage}_repeats AS
        SELECT rowid AS repeat_row, first_row, same FROM (
            SELECT rowid, first_value(rowid) OVER w AS first_row, row_number() OVER w AS k,
                   ([{row}]) = first_value([{row}]) OVER w AS same
            FROM {stage} WINDOW w AS (PARTITION BY {key} ORDER BY rowid)) WHERE k > 1""")
    clash = con.execute(f"SELECT repeat_row, first_row FROM {stage}_repeats WHERE NOT same "
                        f"ORDER BY repeat_row LIMIT 1").fetchone()
    if clash is not None:
        values = con.execute(f"SELECT rowid, {row} FROM {stage} WHERE rowid IN (?, ?) ORDER BY rowid",
                             list(clash[::-1])).fetchall()
        first, repeat = values[0][1:], values[1][1:]
        field = next(f.name for (f, _), a, b in zip(present, first, repeat) if a != b)
        index = [f.name for f, _ in present].index(field)
        raise InputError(path, f"repeats the ({', '.join(spec.unique)}) of line {lines.of(clash[1])} with another "
                         f"{field} ({first[index]!r} there)", line=lines.of(clash[0]), field=field, value=repeat[index],
                         expected=f"one row per ({', '.join(spec.unique)}), or an exact repeat (dropped)")
    tolerated["exact repeated rows dropped"] = repeats
    return True


def _count_spaces(con: duckdb.DuckDBPyConnection, stage: str, spec: FileSpec, columns: list[int],
                  tolerated: dict[str, int]) -> None:
    """Rows whose numeric fields carry surrounding spaces (read as the number they surround)."""
    numeric = [f"c{c}" for f, c in zip(spec.fields, columns) if f.type != "VARCHAR" and c is not None]
    if not numeric:
        return
    condition = " OR ".join(f"{c} <> trim({c})" for c in numeric)
    (n,) = con.execute(f"SELECT count(*) FROM {stage} WHERE {condition}").fetchone()
    if n:
        tolerated["rows with spaces around numbers"] = n


def _check_field(
    con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, stage: str, field: Field,
    column: str, lines: _Lines,
) -> None:
    """Type, then range/allowed values of one field: each the first offender by line, in SQL."""
    checks: list[tuple[str, list[object], str]] = []  # (condition on bad rows, params, problem)
    if field.type in INTEGER_TYPES:
        # TRY_CAST alone accepts '3.5' (rounded to 4) and '0x10'; an id must be plain digits.
        checks.append((f"TRY_CAST({column} AS {field.type}) IS NULL "
                       f"OR NOT regexp_full_match({column}, '\\s*[+-]?[0-9]+\\s*')",
                       [], "not an integer"))
    elif field.type == "DOUBLE":
        checks.append((f"isfinite(TRY_CAST({column} AS DOUBLE)) IS NOT TRUE", [],
                       "not a finite number"))
    limits: list[str] = []
    params: list[object] = []
    if field.min is not None:
        limits.append(f"TRY_CAST({column} AS DOUBLE) < ?")
        params.append(field.min)
    if field.max is not None:
        limits.append(f"TRY_CAST({column} AS DOUBLE) > ?")
        params.append(field.max)
    if field.allowed:
        limits.append(f"NOT list_contains(?::VARCHAR[], {column})")
        params.append(list(field.allowed))
    if limits:
        checks.append((" OR ".join(limits), params, "value out of range"))

    for condition, values, problem in checks:
        if field.missing is not None:  # the missing-value token is not a bad value
            condition = f"{column} <> ? AND ({condition})"
            values = [field.missing, *values]
        row = con.execute(
            f"SELECT rowid, {column} FROM {stage} WHERE {condition} ORDER BY rowid LIMIT 1",
            values,
        ).fetchone()
        if row is not None:
            raise InputError(path, problem, line=lines.of(row[0]), field=field.name,
                             value=row[1], expected=field.expected())


def _materialise(
    con: duckdb.DuckDBPyConnection, spec: FileSpec, stage: str, table: str, columns: list[int], lines: _Lines,
    drop_repeats: bool = False,
) -> None:
    """CREATE TEMP TABLE raw_<table>(line, output...) in file order from the checked stage (an
    earlier read's raw_<table> in this connection, table or view, replaced)."""
    typed = ", ".join(_typed(f, c) for f, c in zip(spec.fields, columns))
    out = output_sql(spec)
    keep = f"WHERE s.rowid NOT IN (SELECT repeat_row FROM {stage}_repeats)" if drop_repeats else ""
    drop_relation(con, table)
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT line, {out} FROM "
        f"(SELECT {lines.sql('s.rowid', stage)} AS line, {typed} FROM {stage} s {keep}) ORDER BY line"
    )


def _typed(field: Field, column: int | None) -> str:
    """SQL of one typed field: absent -> NULL, the missing token -> NULL, else the cast value."""
    name = quoted_name(field.name)
    if column is None:
        return f"CAST(NULL AS {field.type}) AS {name}"
    value = f"c{column}" if field.type == "VARCHAR" else f"CAST(trim(c{column}) AS {field.type})"
    if field.missing is not None:
        token = field.missing.replace("'", "''")
        value = f"CASE WHEN c{column} = '{token}' THEN NULL ELSE {value} END"
    return f"{value} AS {name}"


def _count_missing(con: duckdb.DuckDBPyConnection, stage: str, spec: FileSpec, columns: list,
                   tolerated: dict[str, int]) -> None:
    """Per field with a missing-value token: how many rows carry it (read as NULL); one scan."""
    fields = [(f, c) for f, c in zip(spec.fields, columns) if c is not None and f.missing is not None]
    if not fields:
        return
    counts = con.execute("SELECT " + ", ".join(f"count_if(c{c} = ?)" for _, c in fields) + f" FROM {stage}",
                         [f.missing for f, _ in fields]).fetchone()
    for (f, _), n in zip(fields, counts):
        if n:
            tolerated[missing_note(f)] = n


def _first_line(path: Path, encoding: str) -> tuple[str, int, bytes]:
    """The first non-blank line (BOM and line end removed), the blank lines before it, its bytes."""
    lead = 0
    with open(path, "rb") as f:  # binary: a text-mode read would decode far past line 1
        for raw in f:
            body = raw[3:] if lead == 0 and raw.startswith(b"\xef\xbb\xbf") else raw
            if body.strip(b"\r\n"):
                break
            lead += 1
        else:
            raise InputError(path, "no data rows: only blank lines", expected="a file with rows")
    try:
        first = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(path, "text is not in the expected encoding", line=lead + 1,
                         expected=f"{encoding} text") from err
    return first.lstrip("\ufeff").rstrip("\r\n"), lead, raw


def _split(line: str, spec: FileSpec) -> list[str]:
    if spec.quoted:
        return next(csv.reader([line], delimiter=spec.delimiter), [])
    return line.split(spec.delimiter)


def _check_first_line(path: Path, first: str, spec: FileSpec) -> None:
    """A headerless line that does not split at all means the file uses another delimiter."""
    parts = _split(first, spec)
    n = len(spec.fields)
    if len(parts) == 1 and n > 1:
        looks = [d for d in _LIKELY_DELIMITERS if d != spec.delimiter and d in first]
        hint = f" (it looks {looks[0]!r}-separated)" if looks else ""
        raise InputError(
            path, f"wrong delimiter: line does not split into {n} fields on "
            f"{spec.delimiter!r}{hint}", line=1, value=_clip(first), expected=_describe(spec),
        )
    if len(parts) > n and any(p.strip() for p in parts[n:]):  # empty trailing fields carry no data
        raise InputError(path, f"line has {len(parts)} fields", line=1, value=_clip(first),
                         expected=_describe(spec))


def _match_header(path: Path, names: list[str], specs: tuple[FileSpec, ...]) -> FileSpec:
    """Of the specs whose required columns are all in the header, the one covering most of it;
    else say what is missing."""
    present = set(names)
    fitting = [s for s in specs if all(f.header_name in present for f in s.fields if f.required)]
    if fitting:  # the layout that names the most of the header's columns (the first on a tie)
        return max(fitting, key=lambda s: sum(f.header_name in present for f in s.fields))
    spec = specs[0]
    expected = " or ".join(repr(s.layout()) for s in specs)
    optional = sorted({f.header_name for s in specs for f in s.fields if not f.required})
    expected = (f"a header {expected} (any order, extra columns allowed"
                + (f"; optional: {', '.join(optional)}" if optional else "") + ")")
    if len(names) == 1 and len(spec.fields) > 1:
        looks = [d for d in _LIKELY_DELIMITERS if d != spec.delimiter and d in names[0]]
        hint = f" (it looks {looks[0]!r}-separated)" if looks else ""
        raise InputError(path, f"wrong delimiter: header does not split on "
                         f"{spec.delimiter!r}{hint}", line=1, value=_clip(names[0]),
                         expected=expected)
    missing = next(f.header_name for f in spec.fields if f.required and f.header_name not in present)
    raise InputError(path, "header lacks a required column", line=1, field=missing,
                     value=_clip(spec.delimiter.join(names)), expected=expected)


def _scan(path: Path, plain: bytes | None, skip: int) -> tuple[int, bool]:
    """One pass over the bytes: the lines up to the last non-blank one (DuckDB also ignores
    trailing blank lines), and whether every byte after the first `skip` lines is one of `plain`
    (always False when `plain` is None)."""
    newlines = content = 0
    clean = plain is not None
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if clean:
                body = chunk
                if newlines < skip:  # the header and leading blank lines may hold anything
                    cut = -1
                    for _ in range(skip - newlines):
                        cut = chunk.find(b"\n", cut + 1)
                        if cut < 0:
                            break
                    body = b"" if cut < 0 else chunk[cut + 1:]
                clean = not body.translate(None, plain)
            body = chunk.rstrip(b"\r\n")
            if body:
                content = newlines + body.count(b"\n") + 1
            newlines += chunk.count(b"\n")
    return content, clean


def _blank_lines(path: Path, after: int) -> list[int]:
    """Slow path, only when rows and lines disagree: blank line numbers after line `after` and
    before the last content line (DuckDB skips them; trailing ones are not counted anywhere)."""
    found, pending = [], []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number <= after:
                continue
            if raw.strip(b"\r\n"):
                found += pending
                pending = []
            else:
                pending.append(number)
    return found


def _duckdb_error(path: Path, spec: FileSpec, n_fields: int, err: duckdb.Error) -> InputError:
    """Turn DuckDB's CSV error into an InputError with its line number."""
    text = str(err)
    found = re.search(r"CSV Error on Line: (\d+)", text)
    line = int(found.group(1)) if found else None
    too_many = _TOO_MANY.search(text)
    if too_many:
        return InputError(path, f"line has {too_many.group(2)} fields", line=line,
                          expected=f"{n_fields} fields: {_describe(spec)}")
    if "Invalid unicode" in text:
        return InputError(path, "text is not in the expected encoding", line=line,
                          expected=f"{spec.encoding} text")
    lines = text.splitlines() or [text]
    # DuckDB puts the reason on its first line, or after "Original Line: ..." for line errors.
    after = next((i + 1 for i, s in enumerate(lines) if s.startswith("Original Line")), 0)
    reason = next((s for s in lines[after:] if s.strip()), lines[0]).split("Error: ", 1)[-1]
    return InputError(path, f"cannot be parsed: {reason}", line=line, expected=_describe(spec))


def _describe(spec: FileSpec) -> str:
    kind = "header" if spec.header else "lines"
    quoting = ", CSV quoting" if spec.quoted else ""
    return (f"{kind} {spec.layout()!r} separated by {spec.delimiter!r} "
            f"({spec.encoding}{quoting})")


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
