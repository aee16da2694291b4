"""What the shared reader reads: a file's layout (`FileSpec`) and fields (`Field`), what a read
returns (`ReadResult`), and the SQL pieces both read paths (_csv.py, _plain.py) build from them."""
from __future__ import annotations

from dataclasses import dataclass

INTEGER_TYPES = ("BIGINT", "INTEGER")
_TYPES = (*INTEGER_TYPES, "DOUBLE", "VARCHAR")
# A value that never occurs in these files: makes DuckDB keep empty fields as '' (see _csv.py).
NO_NULL_STRING = "\x00"


@dataclass(frozen=True)
class ReadResult:
    table: str  # raw_<table> in the reading connection: a TEMP TABLE, or a TEMP VIEW (plain-digits path)
    rows: int
    tolerated: dict[str, int]  # what carried no data and was skipped, e.g. {"blank lines skipped": 1}
    # columns proven to hold each combination of values at most once (FileSpec.narrow_unique); ()
    # when the read proved nothing beyond FileSpec.unique
    distinct: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """One field of a file: its standard name, type and the cheap range checks on it."""

    name: str  # standard column name, used in the typed table and in error messages
    type: str = "BIGINT"  # one of BIGINT, INTEGER, DOUBLE, VARCHAR
    source: str | None = None  # name in the file's header (or official docs); default: name
    min: float | None = None  # inclusive bounds, numeric types only
    max: float | None = None
    allowed: tuple[str, ...] = ()  # VARCHAR only: the accepted values; empty = anything
    required: bool = True  # header files: False = the column may be absent (then all missing)
    missing: str | None = None  # the token that means a missing value here (Tenrec: \N); None: none

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")

    @property
    def header_name(self) -> str:
        return self.source or self.name

    def expected(self) -> str:
        """The valid form in words, for error messages."""
        if self.allowed:
            return "one of " + ", ".join(repr(v) for v in self.allowed)
        kind = {"DOUBLE": "a number", "VARCHAR": "text"}.get(self.type, "an integer")
        if self.min is not None and self.max is not None:
            return f"{kind} in {_num(self.min)}..{_num(self.max)}"
        if self.min is not None:
            return f"{kind} >= {_num(self.min)}"
        return kind


@dataclass(frozen=True)
class FileSpec:
    """How one file is laid out and which standard table it becomes (`raw_<table>`)."""

    table: str  # standard table name; the result is TEMP TABLE raw_<table>
    delimiter: str
    header: bool  # True: fields are matched by name in the header row, any order, extras dropped
    fields: tuple[Field, ...]  # header=False: every field of a line, in file order
    output: tuple[str, ...]  # standard columns after `line`, in this order
    derived: tuple[tuple[str, str], ...] = ()  # (column, SQL over the typed fields); fixed text
    encoding: str = "utf-8"  # DuckDB encoding name: utf-8 or latin-1
    quoted: bool = False  # CSV double-quote quoting ("a, b" is one field); False: quote=''
    # fields that identify a row (a rating: user, item, time): a repeated row identical in every
    # field is dropped and counted, a repeat with other values is an error naming both lines
    unique: tuple[str, ...] = ()
    # a part of `unique` the plain-digits reader tries to prove distinct first (one aggregate
    # either way): distinct, it proves `unique` too and is recorded (ReadResult.distinct) for
    # later steps, e.g. a ratings table with each (user_id, item_id) once needs no repeat count
    # in the interactions step
    narrow_unique: tuple[str, ...] = ()

    def layout(self) -> str:
        """The expected line or header, e.g. 'UserID::MovieID::Rating::Timestamp'."""
        return self.delimiter.join(f.header_name for f in self.fields)


def drop_relation(con, name: str) -> None:
    """Drop the temp table or view `name` if either exists (the two read paths make raw_<table> a
    table or a view, and DuckDB's DROP TABLE / DROP VIEW each refuse the other kind)."""
    row = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ? "
                      "AND table_catalog = 'temp'", [name]).fetchone()
    if row is not None:
        con.execute(f"DROP {'VIEW' if row[0] == 'VIEW' else 'TABLE'} {name}")


def quoted_name(name: str) -> str:
    # Names come from our own fixed specs; quoting is needed because 'like' and 'read' are
    # SQL keywords.
    assert name.isidentifier(), name
    return f'"{name}"'


def missing_note(field: Field) -> str:
    """The key under which a read counts a field's missing-value tokens (ReadResult.tolerated)."""
    return f"{field.name} {field.missing} read as missing"


def output_sql(spec: FileSpec) -> str:
    """The SELECT list of the typed table after `line`: every output column, derived or not."""
    derived = dict(spec.derived)
    return ", ".join(f"{derived.get(n, quoted_name(n))} AS {quoted_name(n)}" for n in spec.output)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
