"""Tenrec file layouts (lifelong task_k.csv files, raw scenario files) for the shared reader.

Every file is a UTF-8 CSV with a header; columns are matched by name and extra ones dropped.
Only the ids and `click` are required: the released files differ in which behaviour and
profile columns they carry (RELEASED_HEADERS), so every other column is optional (absent: read
as missing, and a task that needs it is not applicable on that data) and `\\N` in it means
missing. Tenrec has no timestamp: rows are in click order, so the `line` column is the order.
"""
from __future__ import annotations

import re
from collections.abc import Collection

from pcl_pipeline.formats._spec import Field, FileSpec

DATASET = "tenrec"

# Tenrec ids are anonymised integers that may start at 0 (Tenrec's own code re-encodes them);
# downstream maps them to 1-based ids, so only negative ids are rejected here.
_MISSING = "\\N"  # how the released files write a missing value (e.g. video_category)


def _optional(name: str, type_: str = "BIGINT", **bounds) -> Field:
    return Field(name, type_, required=False, missing=_MISSING, **bounds)


_IDS = (Field("user_id", min=0), Field("item_id", min=0), Field("click"))
_VIDEO_FIELDS = _IDS + (
    _optional("follow"), _optional("like"), _optional("share"), _optional("video_category"),
    _optional("watching_times", "DOUBLE", min=0), _optional("gender"), _optional("age"),
)
_ARTICLE_FIELDS = _IDS + (
    _optional("follow"), _optional("like"), _optional("share"), _optional("category_first"),
    _optional("category_second"), _optional("read"), _optional("read_percentage", "DOUBLE", min=0),
    _optional("favorite"), _optional("gender"), _optional("age"),
)
# The headers of the lifelong files as Tenrec releases them (a published inspection of the
# downloaded files; Tenrec's own loaders read only user_id,item_id,click / like and gender,age).
# The embedded default writes exactly these lines.
RELEASED_HEADERS = {
    "task_0.csv": "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age",
    "task_1.csv": "user_id,item_id,click,gender,age,read,share,like,follow,favorite",
    "task_2.csv": "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age",
    "task_3.csv": "user_id,item_id,click,gender,age",
}


def _video(table: str) -> FileSpec:
    return FileSpec(table, ",", True, _VIDEO_FIELDS, tuple(f.name for f in _VIDEO_FIELDS),
                    quoted=True)


def _article(table: str) -> FileSpec:
    return FileSpec(table, ",", True, _ARTICLE_FIELDS, tuple(f.name for f in _ARTICLE_FIELDS),
                    quoted=True)


SCENARIO_FILES = {
    "QK-video.csv": _video, "QB-video.csv": _video, "QK-article.csv": _article,
    "QB-article.csv": _article, "sbr_data_1M.csv": _video,
}
_TASK_FILE = re.compile(r"task_(0|[1-9][0-9]*)\.csv")
# Video for tasks 0 and 2, article for task 1. Tenrec's gen_lifelong.py writes the article
# table to task_3.csv although task 3 is described as video, so task_3 (and any later k)
# accepts either layout, chosen by its header.
_TASK_LAYOUTS = {0: (_video,), 1: (_article,), 2: (_video,)}
RECOGNISED = ("task_0.csv", "task_1.csv", "task_2.csv", "task_3.csv", *SCENARIO_FILES)


def table_name(file_name: str) -> str:
    """Standard table name of a file: stem lower-cased with '-' -> '_' (QK-video.csv: qk_video)."""
    return file_name.rsplit(".", 1)[0].lower().replace("-", "_")


def lifelong_header(file_name: str) -> str:
    """The header line of lifelong file `file_name` (task_k.csv) as released (RELEASED_HEADERS);
    a later task_k the release does not have gets the full video layout. The synthetic
    generator writes exactly these lines, so generated files are what users feed the readers.
    Raises ValueError for a name that is not task_k.csv."""
    found = _TASK_FILE.fullmatch(file_name)
    if found is None:
        raise ValueError(f"not a Tenrec lifelong file name: {file_name!r} (expected task_k.csv)")
    if file_name in RELEASED_HEADERS:
        return RELEASED_HEADERS[file_name]
    return _video(table_name(file_name)).layout()


def detect(names: Collection[str]) -> str | None:
    """'tenrec-lifelong' if any task_k.csv is present, else 'tenrec-scenario' if any scenario
    file is, else None."""
    if any(_TASK_FILE.fullmatch(n) for n in names):
        return "tenrec-lifelong"
    if any(n in SCENARIO_FILES for n in names):
        return "tenrec-scenario"
    return None


def files(fmt: str, names: Collection[str]) -> dict[str, tuple[FileSpec, ...]]:
    """File name -> accepted layouts: every task_k.csv present (task_0.csv always required), or
    every scenario file present."""
    if fmt == "tenrec-lifelong":
        tasks = {int(m.group(1)): m.group(0) for n in names if (m := _TASK_FILE.fullmatch(n))}
        tasks.setdefault(0, "task_0.csv")  # required: absent means a missing-file error
        return {
            name: tuple(make(table_name(name))
                        for make in _TASK_LAYOUTS.get(k, (_video, _article)))
            for k, name in sorted(tasks.items())
        }
    return {n: (make(table_name(n)),) for n, make in SCENARIO_FILES.items() if n in names}
