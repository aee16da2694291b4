"""The task catalog: the shipped tasks load; every bad task file gets an error naming file and field."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pcl_pipeline.catalog import BackboneParams, TaskParams, load_catalog, load_task_file
from pcl_pipeline.errors import InputError
from tests.conftest import REPO

GOOD = {
    "name": "T5_new", "dataset": "movielens", "kind": "item_rec", "order": 5,
    "description": "Recommend something new from the user's history. Metric: NDCG@10.",
    "label": {"source": "ratings", "filter": {"column": "rating", "op": ">=", "value": 3}},
    "metric": "ndcg@10",
}


def _write(folder: Path, name: str, spec: dict) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_shipped_catalog_has_the_eight_tasks_of_the_paper():
    for ds, kinds in {"tenrec": ["next_item", "item_rec", "item_rec", "classification"],
                      "movielens": ["next_item", "item_rec", "item_rec", "classification"]}.items():
        tasks = load_catalog(REPO / "tasks", ds)
        assert [t.kind for t in tasks] == kinds
        assert [t.order for t in tasks] == [1, 2, 3, 4]
        assert isinstance(tasks[0].params, BackboneParams) and isinstance(tasks[1].params, TaskParams)
    assert load_catalog(REPO / "tasks", "movielens")[0].label.history_cut == 0.8


def test_missing_field_names_file_and_field(tmp_path):
    spec = {k: v for k, v in GOOD.items() if k != "description"}
    path = _write(tmp_path, "t.yaml", spec)
    with pytest.raises(InputError, match=r"t\.yaml: missing required field; field 'description'"):
        load_task_file(path)


def test_unknown_kind(tmp_path):
    path = _write(tmp_path, "t.yaml", {**GOOD, "kind": "regression"})
    with pytest.raises(InputError, match=r"field 'kind'; got 'regression'; expected one of next_item, item_rec"):
        load_task_file(path)


def test_unknown_dataset(tmp_path):
    path = _write(tmp_path, "t.yaml", {**GOOD, "dataset": "netflix"})
    with pytest.raises(InputError, match=r"field 'dataset'; got 'netflix'"):
        load_task_file(path)


def test_duplicate_task_name(tmp_path):
    catalog = tmp_path / "tasks"
    for src in (REPO / "tasks" / "movielens").glob("*.yaml"):
        _write(catalog / "movielens", src.name, yaml.safe_load(src.read_text()))
    _write(catalog / "movielens", "copy.yaml", {**GOOD, "name": "T2_rate_4plus"})
    with pytest.raises(InputError, match=r"copy\.yaml: duplicate task name .*field 'name'; got 'T2_rate_4plus'"):
        load_catalog(catalog, "movielens")


def test_order_collision(tmp_path):
    catalog = tmp_path / "tasks"
    for src in (REPO / "tasks" / "movielens").glob("*.yaml"):
        _write(catalog / "movielens", src.name, yaml.safe_load(src.read_text()))
    _write(catalog / "movielens", "zz_T9.yaml", {**GOOD, "name": "T9_rate_3", "order": 3})
    with pytest.raises(InputError, match=r"zz_T9\.yaml: duplicate task order \(also in .*T3_rate_5\.yaml\); "
                                         r"field 'order'; got 3; expected a distinct order per task"):
        load_catalog(catalog, "movielens")


def test_task_filed_under_another_dataset(tmp_path):
    _write(tmp_path / "tenrec", "T1.yaml", {**GOOD, "kind": "next_item", "order": 1})
    with pytest.raises(InputError, match=r"field 'dataset'; got 'movielens'; expected tenrec"):
        load_catalog(tmp_path, "tenrec")


def test_metric_must_fit_kind_and_t1_must_be_order_1(tmp_path):
    """Each error names the file and the field (docs/formats.md row 37)."""
    with pytest.raises(InputError, match=r"a\.yaml.*does not fit kind") as err:
        load_task_file(_write(tmp_path, "a.yaml", {**GOOD, "metric": "accuracy"}))
    assert "metric" in str(err.value) and "accuracy" in str(err.value)
    with pytest.raises(InputError, match=r"b\.yaml.*must have order 1"):
        load_task_file(_write(tmp_path, "b.yaml", {**GOOD, "kind": "next_item"}))
    with pytest.raises(InputError, match=r"c\.yaml.*hyperparameters") as err:
        load_task_file(_write(tmp_path, "c.yaml", {**GOOD, "hyperparameters": {"learning_rate": 1}}))
    assert "learning_rate" in str(err.value)


def test_not_yaml_and_not_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_task_file(bad)
    listing = _write(tmp_path, "list.yaml", [1, 2])
    with pytest.raises(InputError, match="not a mapping"):
        load_task_file(listing)


def test_task_order_is_data():
    tasks = load_catalog(REPO / "tasks", "tenrec", order=["T4_age", "T2_article_rec", "T3_video_like"])
    assert [(t.name, t.order) for t in tasks] == [("T1_next_item", 1), ("T4_age", 2), ("T2_article_rec", 3),
                                                   ("T3_video_like", 4)]
    with pytest.raises(InputError, match="not a permutation"):
        load_catalog(REPO / "tasks", "tenrec", order=["T4_age"])


def test_another_task_order_gets_separate_artifacts(monkeypatch, tmp_path):
    from pcl_pipeline.settings import Settings
    from resources.store import StoreResource

    env = {"PCL_HOME": str(tmp_path), "PCL_TASK_ORDER_TENREC": "T3_video_like, T2_article_rec,T4_age"}
    settings = Settings.from_env(env)
    store = StoreResource(home=str(settings.home), task_orders=settings.task_orders)
    default, reordered = store.dataset("movielens"), store.dataset("tenrec")
    catalog_order = StoreResource(home=str(tmp_path)).dataset("tenrec")
    assert default.variant == "default"
    assert reordered.variant == "order-T3_video_like-T2_article_rec-T4_age"
    assert reordered.task_parts_paths("T2_article_rec").tensors != catalog_order.task_parts_paths("T2_article_rec").tensors
    assert reordered.interactions == catalog_order.interactions  # data is shared
