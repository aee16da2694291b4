"""Find which official format a folder holds and read all its files into standard tables."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import duckdb

from pcl_pipeline.errors import InputError
from pcl_pipeline.formats import movielens, tenrec
from pcl_pipeline.formats._csv import read_table

_DATASETS: dict[str, ModuleType] = {movielens.DATASET: movielens, tenrec.DATASET: tenrec}


@dataclass(frozen=True)
class SourceTables:
    """The standard tables read from one folder of official files."""

    dataset: str  # "movielens" | "tenrec"
    format: str  # "ml-1m" | "ml-100k" | "ml-latest" | "tenrec-lifelong" | "tenrec-scenario"
    folder: Path
    tables: dict[str, str]  # standard table name -> DuckDB TEMP TABLE in the reading connection
    files: dict[str, Path]  # standard table name -> file it was read from
    # file name -> what carried no data and was skipped ({"blank lines skipped": 1}); only files with any
    tolerated: dict[str, dict[str, int]]
    # standard table name -> columns proven to hold each combination once (ReadResult.distinct);
    # only tables with any
    distinct: dict[str, tuple[str, ...]] = field(default_factory=dict)


def detect_format(dataset: str, folder: Path) -> str:
    """The format of `folder`, decided by which recognised file names it holds.

    MovieLens: ratings.dat -> ml-1m, else u.data -> ml-100k, else ratings.csv -> ml-latest.
    Tenrec: any task_k.csv -> tenrec-lifelong, else any scenario file -> tenrec-scenario.
    Only names are looked at; `read_source` checks that the companion files exist.
    Raises InputError if the folder is missing, empty or holds none of the recognised names.
    """
    module = _module(dataset, folder)
    names = _names(folder)
    if not names:
        raise InputError(folder, "data folder is empty",
                         expected="one of " + ", ".join(module.RECOGNISED))
    fmt = module.detect(names)
    if fmt is None:
        found = ", ".join(sorted(names)) or "nothing"
        raise InputError(folder, f"unknown {dataset} format: no recognised file", value=found,
                         expected="one of " + ", ".join(module.RECOGNISED))
    return fmt


def read_source(con: duckdb.DuckDBPyConnection, dataset: str, folder: Path) -> SourceTables:
    """Detect the format of `folder`, then read and validate each of its files into a typed
    TEMP TABLE raw_<table> in `con` (file order kept, `line` = 1-based line in the file).

    Raises InputError naming the file (and line, field, value, expected form) for a missing
    companion file or any bad content.
    """
    folder = Path(folder)
    fmt = detect_format(dataset, folder)
    module = _DATASETS[dataset]
    # Tenrec lifelong reads every task_k.csv present; a MovieLens format has a fixed file set.
    plan = tenrec.files(fmt, _names(folder)) if module is tenrec else movielens.files(fmt)
    for name in plan:
        if not (folder / name).is_file():
            raise InputError(folder / name, f"missing file required by format {fmt}",
                             expected=f"files {', '.join(plan)} in {folder}")
    tables: dict[str, str] = {}
    files: dict[str, Path] = {}
    tolerated: dict[str, dict[str, int]] = {}
    distinct: dict[str, tuple[str, ...]] = {}
    for name, specs in plan.items():
        path = folder / name
        result = read_table(con, path, *specs)
        tables[specs[0].table] = result.table
        files[specs[0].table] = path
        if result.tolerated:
            tolerated[name] = result.tolerated
        if result.distinct:
            distinct[specs[0].table] = result.distinct
    return SourceTables(dataset, fmt, folder, tables, files, tolerated, distinct)


def _module(dataset: str, folder: Path) -> ModuleType:
    if dataset not in _DATASETS:
        raise InputError(folder, "unknown dataset", value=dataset,
                         expected=" or ".join(repr(d) for d in _DATASETS))
    return _DATASETS[dataset]


def _names(folder: Path) -> set[str]:
    """Entry names in `folder` (sub-folders with a trailing '/', so an error shows them)."""
    if not folder.is_dir():
        raise InputError(folder, "data folder does not exist or is not a folder",
                         expected="a folder with the official data files")
    return {p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()}
