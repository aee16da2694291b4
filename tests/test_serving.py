"""The Python API over a stored task (pcl_pipeline.serving): what it answers equals what the
evaluation measured on the same users, and bad input is named."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from pcl_pipeline.errors import InputError
from pcl_pipeline.evaluation.protocol import split_ranks
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.serving import TaskPredictor
from pcl_pipeline.stages.evaluate import evaluate_stored
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.training.context import TrainContext
from tests.conftest import trained_tiny_store

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The tiny movielens store with T2 (item task) and T4 (classification) trained and stored."""
    root = tmp_path_factory.mktemp("serving")
    store, tasks = trained_tiny_store(root)
    t1, t2, t4 = tasks[0], tasks[1], tasks[3]
    for task in (t2, t4):
        trained = train_prompt(store, [t1, task], TrainContext(seed=0, device=CPU), init_from=None)
        store.save_task_parts(task.name, trained.model, trained.manifest)
    return root / "home", store, t1, t2, t4


def _raw_histories(store, t1, split, idx) -> list[list[str]]:
    """The split's whole input histories of rows idx as original item ids (what a user would pass)."""
    vocab = pq.read_table(store.task_data_paths(t1.name).vocab, columns=["idx", "value"]).to_pydict()
    value = dict(zip(vocab["idx"], vocab["value"]))
    return [[value[i] for i in row.tolist() if i > 0] for row in split.full_history(idx)]


def test_recommend_ranks_as_the_evaluation_does(stored):
    home, store, t1, t2, _ = stored
    predictor = TaskPredictor.open(home, "movielens", t2.name)
    model, _ = store.load_task_model(t2.name, CPU)
    data = store.task_data(t2, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
    test = data.test
    idx = torch.arange(len(test))
    table = predictor.recommend(_raw_histories(store, t1, test, idx), k=10).to_pydict()
    # the evaluation's hit rate at 10 on these rows, recomputed from the API's top 10
    target_ids = pq.read_table(store.task_data_paths(t2.name).vocab, columns=["idx", "value"]).to_pydict()
    value_of = dict(zip(target_ids["idx"], target_ids["value"]))
    top = {}
    for row, item in zip(table["row"], table["item_id"]):
        top.setdefault(row, []).append(str(item))
    hits = [int(t) > 0 and value_of[int(t)] in top.get(r, []) for r, t in enumerate(test.targets.tolist())]
    ranks = split_ranks(model, test, data.to_target, data.n_targets, CPU)
    assert sum(hits) / len(hits) == pytest.approx(ranking_metrics(ranks)["hr@10"], abs=1e-12)
    assert evaluate_stored(store, t2, t1, CPU)["metrics"]["hr@10"] == pytest.approx(sum(hits) / len(hits))
    # no item of a user's history is recommended back, ranks run 1..k, nothing fell back
    first = _raw_histories(store, t1, test, idx[:1])[0]
    assert not set(first) & {str(i) for r, i in zip(table["row"], table["item_id"]) if r == 0}
    assert table["rank"][:10] == list(range(1, 11)) and not any(table["fallback"])


def test_predict_gives_the_evaluations_accuracy_and_embed_the_models_state(stored):
    home, store, t1, _, t4 = stored
    predictor = TaskPredictor.open(home, "movielens", t4.name)
    model, _ = store.load_task_model(t4.name, CPU)
    test = store.task_data(t4, model.backbone.cfg.n_items, model.backbone.cfg.max_len).test
    idx = torch.arange(len(test))
    histories = _raw_histories(store, t1, test, idx)
    table = predictor.predict(histories).to_pydict()
    labels = pq.read_table(store.task_data_paths(t4.name).vocab, columns=["idx", "value"]).to_pydict()
    truth = [labels["value"][labels["idx"].index(t)] for t in test.targets.tolist()]
    accuracy = sum(str(p) == t for p, t in zip(table["label"], truth)) / len(truth)
    assert accuracy == pytest.approx(evaluate_stored(store, t4, t1, CPU)["metrics"]["accuracy"])
    probs = [table[k] for k in table if k.startswith("prob_")]
    assert len(probs) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in zip(*probs))
    with torch.no_grad():
        expected = model.pooled(test.inputs(idx)).numpy()
    assert predictor.embed(histories) == pytest.approx(expected, abs=1e-5)


def test_unknown_items_are_counted_and_an_empty_history_falls_back(stored):
    home, store, t1, t2, t4 = stored
    predictor = TaskPredictor.open(home, "movielens", t2.name)
    table = predictor.recommend([["no-such-movie"], []], k=5)
    assert table.schema.metadata[b"unknown_item_ids"] == b"1" and all(table["fallback"].to_pylist())
    assert table["row"].to_pylist() == [0] * 5 + [1] * 5  # both rows get the popularity ranking
    assert TaskPredictor.open(home, "movielens", t4.name).predict([[]])["fallback"].to_pylist() == [True]
    backbone = TaskPredictor.open(home, "movielens", t1.name)  # T1: the backbone recommends next items
    assert backbone.recommend([["1", "2"]], k=3)["rank"].to_pylist() == [1, 2, 3]


def test_bad_requests_name_what_is_wrong(stored):
    home, *_ = stored
    with pytest.raises(InputError, match="no trained task 'T9_nothing' of movielens.*expected one of T1_next_item"):
        TaskPredictor.open(home, "movielens", "T9_nothing")
    with pytest.raises(InputError, match="no dataset 'netflix'"):
        TaskPredictor.open(home, "netflix", "T1_next_item")
    with pytest.raises(InputError, match="no trained backbone"):
        TaskPredictor.open(home, "tenrec", "T1_next_item")
    with pytest.raises(InputError, match="classification task has no items"):
        TaskPredictor.open(home, "movielens", "T4_gender").recommend([["1"]])


def test_predict_command_reads_a_file_and_writes_the_whole_answer(stored, tmp_path, capsys):
    from pcl_pipeline.commands import main

    home, store, t1, t2, _ = stored
    good = tmp_path / "histories.csv"
    good.write_text("user_id,item_id,timestamp\nu1,1,20\nu1,2,10\nu2,nope,5\n", encoding="utf-8")
    out = tmp_path / "preds.parquet"
    assert main(["predict", "--home", str(home), "--dataset", "movielens", "--task", t2.name, "--input", str(good),
                 "--output", str(out), "--k", "4"]) == 0
    table = pq.read_table(out).to_pydict()
    assert table["user_id"] == ["u1"] * 4 + ["u2"] * 4 and table["fallback"] == [False] * 4 + [True] * 4
    assert "1 unknown item ids skipped, 1 empty histories" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\n1,2\n", encoding="utf-8")
    other = tmp_path / "other.parquet"
    assert main(["predict", "--home", str(home), "--dataset", "movielens", "--task", t2.name, "--input", str(bad),
                 "--output", str(other)]) == 2
    assert "bad.csv: missing column; field 'user_id'" in capsys.readouterr().err and not other.exists()


def test_shards_of_every_user_add_up_to_the_whole(stored, tmp_path):
    """N workers with --all-users --shard i/N write disjoint parts whose union is the full output."""
    import duckdb

    from pcl_pipeline.commands import main
    from pcl_pipeline.stages.outputs import write_predictions

    home, store, _, t2, _ = stored
    whole = write_predictions(store, t2.name, 5, CPU, path=tmp_path / "whole.parquet")
    for i in range(3):
        assert main(["predict", "--home", str(home), "--dataset", "movielens", "--task", t2.name, "--all-users",
                     "--shard", f"{i}/3", "--k", "5", "--output", str(tmp_path / f"part-{i}.parquet")]) == 0
    parts = duckdb.execute(f"SELECT user_id, count(DISTINCT filename) FROM read_parquet('{tmp_path}/part-*.parquet', "
                           "filename = true) GROUP BY user_id").fetchall()
    assert all(n == 1 for _, n in parts) and len(parts) == whole["users"]  # each user in exactly one part
    query = "SELECT * FROM read_parquet('{}') ORDER BY user_id, rank"
    assert duckdb.execute(query.format(tmp_path / "part-*.parquet")).fetchall() == \
        duckdb.execute(query.format(tmp_path / "whole.parquet")).fetchall()
    assert main(["predict", "--home", str(home), "--dataset", "movielens", "--task", t2.name, "--all-users",
                 "--shard", "3/3", "--output", str(tmp_path / "bad.parquet")]) == 2


def test_the_user_repr_output_holds_what_the_models_forward_computes(stored, tmp_path):
    """The user_repr_<task> asset's vectors (its stage function) are the task model's pooled state
    for each user's input, here on T4's test users."""
    import numpy as np

    from pcl_pipeline.stages.outputs import write_user_repr

    _, store, _, _, t4 = stored
    out = write_user_repr(store, t4.name, CPU, path=tmp_path / "repr.parquet")
    table = pq.read_table(out["path"]).to_pydict()
    by_user = dict(zip(table["user_id"], table["repr"]))
    ids = dict(zip(*pq.read_table(store.sequences, columns=["user_idx", "user_id"]).to_pydict().values()))
    model, _ = store.load_task_model(t4.name, CPU)
    test = store.task_data(t4, model.backbone.cfg.n_items, model.backbone.cfg.max_len).test
    with torch.no_grad():
        expected = model.pooled(test.inputs()).numpy()
    got = np.array([by_user[ids[u]] for u in test.users.tolist()], dtype=np.float32)
    assert out["width"] == expected.shape[1] and got == pytest.approx(expected, abs=1e-5)
