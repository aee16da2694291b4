"""DuckDB transforms on hand-made tables: interactions, sequences, task rows, splits, checks."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.checks import check_interactions, check_task_data
from pcl_pipeline.data.interactions import build_interactions
from pcl_pipeline.data.sequences import build_sequences
from pcl_pipeline.data.task_data import StageInputs, TaskDataPaths, build_task_data
from pcl_pipeline.errors import InputError


def _task(**kw) -> TaskSpec:
    base = {"name": "T1", "dataset": "movielens", "kind": "next_item", "order": 1, "metric": "ndcg@10",
            "description": "next movie prediction for tests", "label": {"source": "ratings"}}
    base.update(kw)
    return TaskSpec(**base)


def _ratings(con, path: Path, rows: list[tuple]) -> Path:
    """rows of (user_id, item_id, rating, timestamp); line = position in the list."""
    con.execute("CREATE OR REPLACE TEMP TABLE r (line BIGINT, user_id BIGINT, item_id BIGINT, rating DOUBLE, timestamp BIGINT)")
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", [(i + 1, *row) for i, row in enumerate(rows)])
    con.execute(f"COPY (SELECT * FROM r ORDER BY line) TO '{path}' (FORMAT parquet)").fetchall()
    return path


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _rows(con, path: Path, query: str = "SELECT * FROM read_parquet(?)"):
    return con.execute(query, [str(path)]).fetchall()


def test_interactions_order_by_time_then_seeded_hash_dedup_and_remap(con, tmp_path):
    raw = _ratings(con, tmp_path / "ratings.parquet", [
        (7, 30, 5, 200), (7, 10, 4, 100), (7, 20, 3, 200),  # tie at t=200: md5('0:7:30') < md5('0:7:20')
        (7, 10, 1, 300),  # repeated (user, item): only the first event counts
        (7, 40, 2, 400), (9, 10, 5, 50), (9, 20, 5, 60), (9, 30, 5, 70), (9, 40, 1, 80),
        (3, 10, 5, 1),  # too few events: dropped
    ])
    t1 = _task(label={"source": "ratings", "min_events": 4})
    out = tmp_path / "interactions.parquet"
    assert build_interactions(con, t1, raw, out, seed=0) == 8
    got = _rows(con, out, "SELECT user_idx, user_id, item_idx, item_id, pos, hist_len FROM read_parquet(?) ORDER BY user_idx, pos")
    assert got == [
        (1, 7, 1, 10, 0, 4), (1, 7, 3, 30, 1, 4), (1, 7, 2, 20, 2, 4), (1, 7, 4, 40, 3, 4),
        (2, 9, 1, 10, 0, 4), (2, 9, 2, 20, 1, 4), (2, 9, 3, 30, 2, 4), (2, 9, 4, 40, 3, 4),
    ]
    assert all(o.passed for o in check_interactions(con, out, seed=0)[:2])
    # The tie follows the seeded hash, never the item id: over a few seeds both orders occur.
    orders = set()
    for seed in range(8):
        build_interactions(con, t1, raw, out, seed=seed)
        orders.add(tuple(r[0] for r in _rows(con, out, "SELECT item_id FROM read_parquet(?) WHERE user_id = 7 ORDER BY pos")))
        assert all(o.passed for o in check_interactions(con, out, seed=seed)[:2])
    assert orders == {(10, 20, 30, 40), (10, 30, 20, 40)}


def test_history_cut_and_sequences_and_leave_one_out(con, tmp_path):
    raw = _ratings(con, tmp_path / "ratings.parquet", [(1, i, 5 if i % 2 else 3, i) for i in range(1, 11)])
    t1 = _task(label={"source": "ratings", "history_cut": 0.8, "min_events": 4})
    inter, seqs = tmp_path / "i.parquet", tmp_path / "s.parquet"
    build_interactions(con, t1, raw, inter, seed=0)
    assert _rows(con, inter, "SELECT DISTINCT hist_len FROM read_parquet(?)") == [(8,)]
    assert build_sequences(con, inter, seqs, seed=0) == 1
    assert _rows(con, seqs, "SELECT items FROM read_parquet(?)") == [([1, 2, 3, 4, 5, 6, 7, 8],)]
    paths = TaskDataPaths(tmp_path / "t1.parquet", tmp_path / "t1.vocab.parquet")
    build_task_data(con, t1, t1, StageInputs(inter, seqs, tmp_path), paths, seed=0)
    got = _rows(con, paths.rows, "SELECT split, input, target FROM read_parquet(?) ORDER BY split")
    assert got == [("test", [1, 2, 3, 4, 5, 6, 7], 8), ("train", [1, 2, 3, 4, 5], 6),
                   ("valid", [1, 2, 3, 4, 5, 6], 7)]
    outcomes = {o.name: o.passed for o in check_task_data(con, paths, "next_item")}
    assert outcomes == {"held_out_targets": True, "target_not_in_input": True, "min_size": False}  # 1 user < 10

    # T2: targets after the cut with rating >= 4 -> items 9 (rating 5); item 10 has rating 3
    t2 = _task(name="T2", kind="item_rec", order=2, label={"source": "ratings", "after_history_cut": True,
                                                            "filter": {"column": "rating", "op": ">=", "value": 4}})
    p2 = TaskDataPaths(tmp_path / "t2.parquet", tmp_path / "t2.vocab.parquet")
    build_task_data(con, t2, t1, StageInputs(inter, seqs, tmp_path), p2, seed=0)
    assert _rows(con, p2.rows, "SELECT input, target FROM read_parquet(?)") == [([1, 2, 3, 4, 5, 6, 7, 8], 9)]
    # T2 shares T1's item space: its vocabulary is T1's items (plus training targets)
    assert _rows(con, p2.vocab) == [(i, str(i), i) for i in range(1, 11)]


def _item_task_setup(con, tmp_path, n_users=40):
    rows = []
    for u in range(1, n_users + 1):
        rows += [(u, item, 5, 10 * u + item) for item in range(1, 7)]
    raw = _ratings(con, tmp_path / "ratings.parquet", rows)
    t1 = _task(label={"source": "ratings", "min_events": 4})
    inter, seqs = tmp_path / "i.parquet", tmp_path / "s.parquet"
    build_interactions(con, t1, raw, inter, seed=0)
    build_sequences(con, inter, seqs, seed=3)
    return t1, StageInputs(inter, seqs, tmp_path)


def test_item_task_drops_targets_already_in_the_input_and_splits_users(con, tmp_path):
    t1, inputs = _item_task_setup(con, tmp_path)
    # the label source = T1's own table: every target is in the input, so nothing may remain
    same = _task(name="T2", kind="item_rec", order=2, label={"source": "ratings"})
    paths = TaskDataPaths(tmp_path / "t2.parquet", tmp_path / "t2.vocab.parquet")
    assert build_task_data(con, same, t1, inputs, paths, seed=0) == 0


def test_classification_labels_drop_unknown_and_split_disjoint(con, tmp_path):
    t1, inputs = _item_task_setup(con, tmp_path, n_users=60)
    con.execute("CREATE TEMP TABLE u AS SELECT range + 1 AS user_id, range AS line, "
                "CASE WHEN range % 10 = 0 THEN 0 ELSE 1 + range % 3 END AS age FROM range(60)").fetchall()
    con.execute(f"COPY (SELECT * FROM u ORDER BY line) TO '{tmp_path / 'profiles.parquet'}' (FORMAT parquet)").fetchall()
    t4 = _task(name="T4", kind="classification", order=4, metric="accuracy",
               label={"source": "profiles", "column": "age", "drop_values": [0]})
    paths = TaskDataPaths(tmp_path / "t4.parquet", tmp_path / "t4.vocab.parquet")
    assert build_task_data(con, t4, t1, inputs, paths, seed=3) == 54
    assert _rows(con, paths.vocab, "SELECT idx, value FROM read_parquet(?)") == [(0, "1"), (1, "2"), (2, "3")]
    splits = dict(_rows(con, paths.rows, "SELECT split, count(*) FROM read_parquet(?) GROUP BY split"))
    assert splits == {"train": 44, "valid": 2, "test": 8}
    # One split per dataset: drawn over all 60 users with a sequence (80/5/15), not over the 54
    # labelled ones, so every task of the dataset gives a user the same role.
    everyone = dict(_rows(con, inputs.sequences, "SELECT split, count(*) FROM read_parquet(?) GROUP BY split"))
    assert everyone == {"train": 48, "valid": 3, "test": 9}
    t5 = _task(name="T5", kind="classification", order=5, metric="accuracy",
               label={"source": "profiles", "column": "age"})
    p5 = TaskDataPaths(tmp_path / "t5.parquet", tmp_path / "t5.vocab.parquet")
    assert build_task_data(con, t5, t1, inputs, p5, seed=3) == 60
    role = "SELECT user_id, split FROM read_parquet(?)"
    assert set(_rows(con, paths.rows, role)) <= set(_rows(con, p5.rows, role))
    outcomes = {o.name: o for o in check_task_data(con, paths, "classification", inputs.sequences)}
    assert outcomes["users_disjoint"].passed and outcomes["min_size"].passed and outcomes["one_user_split"].passed
    missing = _task(name="T4", kind="classification", order=4, metric="accuracy", label={"source": "users", "column": "gender"})
    with pytest.raises(InputError, match=r"T4\.yaml: the task's source table is not available.*field 'label.source'"):
        build_task_data(con, missing, t1, inputs, paths, seed=3)


def test_checks_catch_leaks_and_shared_users(con, tmp_path):
    rows = tmp_path / "rows.parquet"
    vocab = tmp_path / "vocab.parquet"
    con.execute(f"""COPY (SELECT * FROM (VALUES (1, 1, 'train', [5, 6], 1), (1, 1, 'test', [5, 6], 2))
                   t(user_idx, user_id, split, input, target)) TO '{rows}' (FORMAT parquet)""").fetchall()
    con.execute(f"""COPY (SELECT * FROM (VALUES (1, '50', 6), (2, '70', 7)) t(idx, value, backbone_idx))
                   TO '{vocab}' (FORMAT parquet)""").fetchall()
    seqs = tmp_path / "seqs.parquet"  # the dataset's split says user 1 is a validation user
    con.execute(f"""COPY (SELECT * FROM (VALUES (1, 1, [5, 6], 2, 'valid')) t(user_idx, user_id, items, length, split))
                   TO '{seqs}' (FORMAT parquet)""").fetchall()
    outcomes = {o.name: o for o in check_task_data(con, TaskDataPaths(rows, vocab), "item_rec", seqs)}
    assert not outcomes["users_disjoint"].passed and outcomes["users_disjoint"].metadata["shared_users"] == 1
    assert not outcomes["one_user_split"].passed
    assert outcomes["one_user_split"].metadata["rows_with_another_split"] == 2
    assert not outcomes["target_not_in_input"].passed and outcomes["target_not_in_input"].metadata["rows"] == 1
    assert not outcomes["min_size"].passed


def test_filter_on_a_missing_column_names_the_task_file(con, tmp_path):
    raw = _ratings(con, tmp_path / "ratings.parquet", [(1, i, 5, i) for i in range(1, 6)])
    t1 = _task(label={"source": "ratings", "filter": {"column": "like", "op": "==", "value": 1}})
    with pytest.raises(InputError, match=r"tasks/movielens/T1\.yaml: label.filter names a column .*field 'label.filter.column'; got 'like'"):
        build_interactions(con, t1, raw, tmp_path / "i.parquet", seed=0)


def test_sequences_from_an_earlier_version_ask_to_be_rematerialized(con, tmp_path):
    t1, inputs = _item_task_setup(con, tmp_path)
    old = tmp_path / "old_sequences.parquet"  # the layout before the dataset's one user split
    con.execute(f"COPY (SELECT * EXCLUDE (split) FROM read_parquet('{inputs.sequences}')) TO '{old}' (FORMAT parquet)")
    t4 = _task(name="T4", kind="classification", order=4, metric="accuracy", label={"source": "ratings", "column": "rating"})
    paths = TaskDataPaths(tmp_path / "t4.parquet", tmp_path / "t4.vocab.parquet")
    with pytest.raises(RuntimeError, match="without the dataset's user split; re-materialize the sequences asset"):
        build_task_data(con, t4, t1, StageInputs(inputs.interactions, old, tmp_path), paths, seed=0)
