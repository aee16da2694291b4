"""Readers for the official MovieLens and Tenrec file formats (library layer, no Dagster).

`read_source(con, dataset, folder)` detects the format from the file names, reads every
recognised file with DuckDB, validates it, and returns `SourceTables`: standard table name ->
raw_<table> in `con` (a TEMP TABLE, or a TEMP VIEW where the plain-digits path read the file),
each with a `line` column (1-based line in its file).
See docs/formats.md for the formats, tables and errors.
"""
from pcl_pipeline.formats.detect import SourceTables, detect_format, read_source

__all__ = ["SourceTables", "detect_format", "read_source"]
