"""The data path's content and order are pinned: the reader's plain-digits fast path builds the
same tables as the checked path (or hands the file to it), the tie order is md5's on every
platform, and the embedded default's tables are byte-for-byte what the code before the fast
data path (f5b3316) wrote: same rows, same order, same types."""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pcl_pipeline.catalog import TaskSpec, load_catalog
from pcl_pipeline.data import interactions as interactions_module
from pcl_pipeline.data.interactions import build_interactions
from pcl_pipeline.errors import InputError
from pcl_pipeline.formats import _csv, read_source
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.synthetic import generate_movielens, generate_tenrec

REPO = Path(__file__).resolve().parent.parent

# sha256 (first 16 hex) of every data table prepare_tables writes at seed 0, computed by the code
# at f5b3316 (checked path only, five sorts in interactions), embedded default at scale 0.5
GOLDEN = {
    "movielens": {
        "interactions.parquet": "0096d06f273d088e", "raw/movies.parquet": "1f31a06e6932b592",
        "raw/ratings.parquet": "2fcc7ae3014faf6c", "raw/users.parquet": "4b035a50cfc49f26",
        "sequences.parquet": "6906895f4fbecdcc", "task_data/T1_next_item.parquet": "73a0626b3d486961",
        "task_data/T1_next_item.vocab.parquet": "e9114dfa25b6be2d",
        "task_data/T2_rate_4plus.parquet": "2709ec3fba46c327",
        "task_data/T2_rate_4plus.vocab.parquet": "e9114dfa25b6be2d",
        "task_data/T3_rate_5.parquet": "8640853e80a55819",
        "task_data/T3_rate_5.vocab.parquet": "e9114dfa25b6be2d",
        "task_data/T4_gender.parquet": "b0a999d2d3e64ef5",
        "task_data/T4_gender.vocab.parquet": "a286820dbcf615ab",
    },
    "tenrec": {
        "interactions.parquet": "b0f6ba8f38b53399", "raw/task_0.parquet": "c1ead6d34189fed3",
        "raw/task_1.parquet": "5aaca690b2c590ce", "raw/task_2.parquet": "25671399696232a5",
        "raw/task_3.parquet": "ee23213ab7dfbf1d", "sequences.parquet": "f0cb7d133aa9aaf9",
        "task_data/T1_next_item.parquet": "c6282ac664291862",
        "task_data/T1_next_item.vocab.parquet": "a32a3569822394de",
        "task_data/T2_article_rec.parquet": "d10ed603d10170ad",
        "task_data/T2_article_rec.vocab.parquet": "85202be476dc5158",
        "task_data/T3_video_like.parquet": "fd0daf6463696eb8",
        "task_data/T3_video_like.vocab.parquet": "f5c72a20603f3d43",
        "task_data/T4_age.parquet": "ce7d7213095dd8b2",
        "task_data/T4_age.vocab.parquet": "23170f7c53261bbf",
    },
}
# the same for real ML-100K (tools/ml100k_from_recbole.py): checked where the files are present
GOLDEN_ML100K = {
    "interactions.parquet": "4aaddfb79c1f2b01", "raw/movies.parquet": "d18bac59df6ff367",
    "raw/ratings.parquet": "1e7fa3832f0aa8e8", "raw/users.parquet": "c9fec82fb48e0853",
    "sequences.parquet": "abee6af362cc4e1f", "task_data/T1_next_item.parquet": "4a0ea1573a702c3d",
    "task_data/T1_next_item.vocab.parquet": "fa959e6a4933bbcc",
    "task_data/T2_rate_4plus.parquet": "d5238f9f3fa71b29",
    "task_data/T2_rate_4plus.vocab.parquet": "fa959e6a4933bbcc",
    "task_data/T3_rate_5.parquet": "2e031689893b85dc",
    "task_data/T3_rate_5.vocab.parquet": "fa959e6a4933bbcc",
    "task_data/T4_gender.parquet": "02c901f558482968",
    "task_data/T4_gender.vocab.parquet": "a286820dbcf615ab",
}


def table_digest(path: Path) -> str:
    """Schema (names, types) and every value in row order."""
    table = pq.read_table(path)
    digest = hashlib.sha256(repr([(f.name, str(f.type)) for f in table.schema]).encode())
    for column in table.columns:
        digest.update(repr(column.to_pylist()).encode())
    return digest.hexdigest()[:16]


def prepared_digests(home: Path, dataset: str, data: Path | None) -> dict[str, str]:
    tasks = load_catalog(REPO / "tasks", dataset)
    store = ArtifactStore(home).dataset(dataset)
    with duckdb.connect() as con:
        stages.prepare_tables(con, store, tasks, data, seed=0, scale=0.5)
    root = home / dataset
    return {str(p.relative_to(root)): table_digest(p) for p in sorted(root.rglob("*.parquet"))}


@pytest.mark.parametrize("dataset", sorted(GOLDEN))
def test_embedded_default_tables_equal_the_checked_path_code(tmp_path, dataset):
    assert prepared_digests(tmp_path, dataset, None) == GOLDEN[dataset]


@pytest.mark.skipif(not (Path(os.environ.get("PCL_ML100K", "/tmp/ml-100k")) / "u.data").is_file(),
                    reason="real ML-100K not present (python tools/ml100k_from_recbole.py /tmp/ml-100k)")
def test_real_ml100k_tables_equal_the_checked_path_code(tmp_path):
    got = prepared_digests(tmp_path, "movielens", Path(os.environ.get("PCL_ML100K", "/tmp/ml-100k")))
    assert got == GOLDEN_ML100K


def _read_both(folder: Path, dataset: str, monkeypatch, caplog) -> tuple[dict, dict, int]:
    """Every table and tolerated count of `folder`, read with the fast path and with the checked
    path only; and how many files took the fast path."""
    def read() -> tuple[dict, dict]:
        with duckdb.connect(config={"preserve_insertion_order": True}) as con:
            try:
                source = read_source(con, dataset, folder)
            except InputError as err:
                return {"error": str(err)}, {}
            return ({name: con.execute(f"SELECT * FROM {t}").fetchall() for name, t in source.tables.items()},
                    source.tolerated)

    with caplog.at_level(logging.INFO, logger=_csv.__name__):
        caplog.clear()
        fast = read()
        taken = sum("plain digits" in r.getMessage() for r in caplog.records)
    with monkeypatch.context() as patch:
        patch.setattr(_csv, "plain_bytes", lambda spec: None)
        checked = read()
    assert fast == checked
    return fast[0], fast[1], taken


def test_fast_path_equals_checked_path_on_the_embedded_default(tmp_path, monkeypatch, caplog):
    generate_movielens(tmp_path / "ml", seed=0, scale=0.5)
    tables, _, taken = _read_both(tmp_path / "ml", "movielens", monkeypatch, caplog)
    assert taken == 1 and len(tables["ratings"]) > 5000  # ratings.dat; users and movies carry text
    generate_tenrec(tmp_path / "tenrec", seed=0, scale=0.5)
    _, tolerated, taken = _read_both(tmp_path / "tenrec", "tenrec", monkeypatch, caplog)
    assert taken == 4  # every task_k.csv, \N included
    assert tolerated["task_0.csv"]["video_category \\N read as missing"] > 0


ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"
ML1M_MOVIES = "10::Amélie (2001)::Comedy|Romance\n20::Toy Story (1995)::Animation|Children's\n"
VIDEO = "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age\n"


@pytest.mark.parametrize("ratings, fast", [
    ("1::10::5::978300760\n2::10::4::978301968\n", True),
    ("1::10::5::978300760\r\n2::10::4::978301968\r\n", True),  # CRLF
    ("1::10::5::978300760\n2::10::4::978301968", True),  # no final line end
    ("\n\n1::10::5::978300760\n2::10::4::978301968\n", True),  # leading blank lines
    ("1::10::5::978300760\n\n2::10::4::978301968\n", False),  # a blank line inside: checked path
    ("1::10::5::978300760\n1::10::5::978300760\n2::10::4::1\n", False),  # an exact repeat (dropped)
    ("1::10::5::978300760\n1::10::4::978300760\n", False),  # a repeat with another rating (error)
    ("1::10::5::978300760\n2::10::::978301968\n", False),  # an empty field (error)
    ("0::10::5::978300760\n", False),  # user 0, below the range (error)
    ("1::10::9::978300760\n", False),  # rating 9, above the range (error)
    ("1::10::5\n", False),  # a short line (error)
    ("1::10::5::978300760::\n", False),  # an empty trailing field (tolerated)
    ("1::10::5::978300760::7\n", False),  # a fifth value (error)
    ("1::10::5::99999999999999999999999\n", False),  # beyond BIGINT (error)
    ("1::10::5.5::978300760\n", None),  # a '.': not plain, the checked path reads it
    ("1:: 10::5::978300760\n", None),  # spaces around a number (tolerated, counted)
    ("\ufeff1::10::5::978300760\n", None),  # a byte-order mark
])
def test_fast_path_takes_only_what_it_reads_exactly(tmp_path, monkeypatch, caplog, ratings, fast):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.dat").write_text(ratings, encoding="utf-8")
    (folder / "users.dat").write_text(ML1M_USERS, encoding="latin-1")
    (folder / "movies.dat").write_text(ML1M_MOVIES, encoding="latin-1")
    tables, _, taken = _read_both(folder, "movielens", monkeypatch, caplog)
    assert taken == (1 if fast else 0)
    if fast:
        assert [r[:2] for r in tables["ratings"]][:1] == [(ratings.count("\n", 0, ratings.index("1::")) + 1, 1)]


@pytest.mark.parametrize("body, fast", [
    ("1,2,1,0,0,0,\\N,3,1,2\n", True),  # the token in an optional field: missing, counted
    ("\\N,2,1,0,0,0,5,3,1,2\n", False),  # the token in a required field (error)
    ("1,2,1,0,0,0,5\\N,3,1,2\n", False),  # the token inside a value (error)
    ("1,2,1,0,0,0,,3,1,2\n", False),  # an empty field (error)
])
def test_fast_path_missing_token_is_exact(tmp_path, monkeypatch, caplog, body, fast):
    folder = tmp_path / "tenrec"
    folder.mkdir()
    (folder / "task_0.csv").write_text(VIDEO + "1,1,1,0,0,0,5,3,1,2\n" + body, encoding="utf-8")
    _, _, taken = _read_both(folder, "tenrec", monkeypatch, caplog)
    assert taken == (1 if fast else 0)


def test_timestamp_ties_follow_md5_of_seed_user_item_on_any_platform(tmp_path):
    """The tie order is defined by md5's hex text (hashlib here, DuckDB's md5 in the pipeline)."""
    users, items = range(1, 4), range(1, 40)
    rows = [(u, i, 3.0, 1000) for u in users for i in items]  # every event of a user at one time
    with duckdb.connect() as con:
        con.execute("CREATE TABLE r (line BIGINT, user_id BIGINT, item_id BIGINT, rating DOUBLE, timestamp BIGINT)")
        con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", [(n + 1, *row) for n, row in enumerate(rows)])
        raw = tmp_path / "ratings.parquet"
        con.execute(f"COPY (SELECT * FROM r ORDER BY line) TO '{raw}' (FORMAT parquet)")
        t1 = TaskSpec(name="T1", dataset="movielens", kind="next_item", order=1, metric="ndcg@10",
                      description="next movie prediction for tests", label={"source": "ratings"})
        for seed in (0, 7):
            out = tmp_path / f"inter{seed}.parquet"
            build_interactions(con, t1, raw, out, seed=seed)
            for user in users:
                got = [r[0] for r in con.execute("SELECT item_id FROM read_parquet(?) WHERE user_id = ? ORDER BY pos",
                                                 [str(out), user]).fetchall()]
                key = lambda item: hashlib.md5(f"{seed}:{user}:{item}".encode()).hexdigest()  # noqa: E731
                assert got == sorted(items, key=key)


@pytest.mark.parametrize("rerate", [False, True])
def test_pairs_the_reader_proved_distinct_skip_the_repeat_count_with_the_same_table(tmp_path, monkeypatch, rerate):
    """ratings.dat with every (user, item) once: the fast read proves it (one aggregate), the raw
    Parquet file says so, and interactions skip their repeat count; with an item rated again
    later (allowed: another timestamp) nothing is recorded and the dedup runs. Either way the
    interactions table equals the one built with the count."""
    folder = tmp_path / "ml"
    generate_movielens(folder, seed=0, scale=0.2)
    if rerate:
        user, item, _, time = (folder / "ratings.dat").read_text(encoding="latin-1").split("\n")[0].split("::")
        with open(folder / "ratings.dat", "a", encoding="latin-1") as f:
            f.write(f"{user}::{item}::1::{int(time) + 1}\n")
    t1 = load_catalog(REPO / "tasks", "movielens")[0]

    def interactions(home: Path, count_always: bool) -> tuple[str, bool]:
        store = ArtifactStore(home).dataset("movielens")
        with monkeypatch.context() as patch:
            if count_always:
                patch.setattr(interactions_module, "pairs_proven_distinct", lambda con, source: False)
            with duckdb.connect(config={"preserve_insertion_order": True}) as con:
                stages.ingest_raw(con, store, folder, seed=0, scale=1.0)
                proven = interactions_module.pairs_proven_distinct(con, store.raw_dir / "ratings.parquet")
                stages.interactions(con, store, t1, seed=0)
        return table_digest(store.interactions), proven

    trusted, proven = interactions(tmp_path / "a", count_always=False)
    counted, _ = interactions(tmp_path / "b", count_always=True)
    assert proven is not rerate
    assert trusted == counted
    with duckdb.connect() as con:  # the re-rated pair is one interaction: the first rating
        rows = con.execute("SELECT count(*), count(DISTINCT (user_id, item_id)) FROM read_parquet(?)",
                           [str(tmp_path / "a" / "movielens" / "interactions.parquet")]).fetchone()
    assert rows[0] == rows[1]


def test_a_connection_reads_the_same_table_again_through_either_path(tmp_path):
    """raw_<table> is a view on the fast path and a table on the checked one: a second read in
    the same connection replaces whichever the first left."""
    plain, checked = tmp_path / "plain", tmp_path / "checked"
    for folder, ratings in ((plain, "1::10::5::978300760\n"), (checked, "1::10::4.5::978300760\n")):
        folder.mkdir()
        (folder / "ratings.dat").write_text(ratings, encoding="latin-1")
        (folder / "users.dat").write_text(ML1M_USERS, encoding="latin-1")
        (folder / "movies.dat").write_text(ML1M_MOVIES, encoding="latin-1")
    with duckdb.connect(config={"preserve_insertion_order": True}) as con:
        for folder, rating in ((plain, 5.0), (checked, 4.5), (plain, 5.0)):
            source = read_source(con, "movielens", folder)
            assert con.execute(f"SELECT rating FROM {source.tables['ratings']}").fetchall() == [(rating,)]
