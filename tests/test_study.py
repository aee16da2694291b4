"""The reproduction study on tiny data: every method on the movielens catalog, one seed, two
non-catalog task orders; study.json has the issue's shape, SeqFT forgets, PCL does not, and the
Markdown report has one verdict line per claim of the paper."""
from __future__ import annotations

import json

import duckdb
import pytest

from pcl_pipeline.errors import SettingsError
from pcl_pipeline.methods.registry import METHODS
from pcl_pipeline.settings import Settings
from pcl_pipeline.study.report import CLAIMS, write_study
from pcl_pipeline.study.run import order_variant, run_study, study_orders
from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.text_encoder import RandomTextEncoder
from tests.conftest import write_tiny_catalog

TASKS = ["T2_rate_4plus", "T3_rate_5", "T4_gender"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    tasks_dir = write_tiny_catalog(root / "tasks")
    home = root / "home"
    result = run_study(home, ["movielens"], tasks_dir, [0], encoder=RandomTextEncoder(seed=1), scale=0.3,
                       max_orders=2, log=lambda line: None)
    markdown = write_study(home, result, root / "docs" / "study.md")
    return {"study": result, "home": home, "markdown": markdown, "tasks_dir": tasks_dir}


def test_study_json_has_the_issue_shape(study):
    stored = ArtifactStore(study["home"]).load_study()
    assert stored == json.loads(json.dumps(study["study"]))
    assert set(stored) == {"seeds", "datasets"} and stored["seeds"] == [0]
    assert set(stored["datasets"]) == {"movielens"}
    ds = stored["datasets"]["movielens"]
    assert set(ds) == {"methods", "order", "cold_start", "transfer"}
    assert set(ds["methods"]) == set(METHODS) and "MTL" not in ds["methods"]
    for name, m in ds["methods"].items():
        assert set(m) == {"tasks", "forgetting_max_abs_change", "stored_params", "train_seconds"}, name
        assert sorted(m["tasks"]) == TASKS
        for task, row in m["tasks"].items():
            assert set(row) == {"metric", "mean", "std", "per_seed"}
            assert len(row["per_seed"]) == 1 and row["mean"] == row["per_seed"][0] and row["std"] == 0.0
            assert row["metric"] == ("accuracy" if task == "T4_gender" else "ndcg@10")
        assert isinstance(m["stored_params"], int) and m["stored_params"] > 0
        assert m["train_seconds"] > 0
    assert set(ds["order"]) == set(TASKS) and all(v >= 0 for v in ds["order"].values())
    assert set(ds["cold_start"]) == set(METHODS)
    for rows in ds["cold_start"].values():
        assert set(rows) <= {"T2_rate_4plus", "T3_rate_5"}
    assert set(ds["transfer"]) == {"raw", "pcl"}
    assert all(0.0 <= v <= 1.0 for v in ds["transfer"].values())


def test_transfer_exports_user_representations_readable_from_duckdb(study):
    path = study["home"] / "study" / "seed-0" / "movielens" / "variants" / "method-PCL" / "repr" / "T4_gender.parquet"
    con = duckdb.connect()
    rows = con.execute(f"SELECT split, count(*), min(len(repr)), max(len(repr)), count(DISTINCT user_idx) "
                       f"FROM read_parquet('{path}') GROUP BY split ORDER BY split").fetchall()
    assert [r[0] for r in rows] == ["test", "train", "valid"]
    for split, n, lo, hi, users in rows:
        assert n > 0 and lo == hi > 0 and users == n, (split, n, lo, hi, users)


def test_plots_beside_the_markdown(study):
    for name in ("study-movielens-forgetting.png", "study-movielens-order.png"):
        png = study["markdown"].parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in study["markdown"].read_text(encoding="utf-8")


def test_forgetting_seqft_forgets_and_pcl_does_not(study):
    methods = study["study"]["datasets"]["movielens"]["methods"]
    assert methods["PCL"]["forgetting_max_abs_change"] == 0.0
    assert methods["SeqFT"]["forgetting_max_abs_change"] > 0.0
    for name in ("PCL-no-context", "PCL-no-inherit", "PCL-random-text", "Adapter", "FineAll", "SinMo"):
        assert methods[name]["forgetting_max_abs_change"] == 0.0, name


def test_stored_params_count_what_is_stored(study):
    methods = study["study"]["datasets"]["movielens"]["methods"]
    # a full backbone per task (3 tasks) costs more than one shared backbone and small task parts
    assert methods["FineAll"]["stored_params"] == methods["SinMo"]["stored_params"] == methods["SeqFT"]["stored_params"]
    assert methods["Adapter"]["stored_params"] < methods["PCL"]["stored_params"]
    assert methods["PCL-no-context"]["stored_params"] < methods["PCL"]["stored_params"]


def test_order_variants_are_stored_apart(study):
    tasks = load_catalog(study["tasks_dir"], "movielens")
    orders = study_orders(tasks, 2)
    assert len(orders) == 2 and [t.name for t in tasks[1:]] not in orders
    variants = {p.name for p in (study["home"] / "study" / "seed-0" / "movielens" / "variants").iterdir()}
    assert variants == {m.variant for m in METHODS.values()} | {order_variant(o) for o in orders}


def test_markdown_has_a_verdict_per_claim(study):
    text = study["markdown"].read_text(encoding="utf-8")
    for claim in CLAIMS:
        lines = [line for line in text.splitlines() if line.startswith(f"- **{claim}**:")]
        assert len(lines) == 1, claim
        assert any(v in lines[0] for v in ("not reproduced", "reproduced", "not applicable"))
    assert "raw inputs (bag of items)" in text
    assert "| SeqFT |" in text and "## movielens" in text


def test_study_seeds_setting():
    assert Settings.from_env({}).study_seeds == (0, 1, 2)
    assert Settings.from_env({"PCL_STUDY_SEEDS": "3, 5"}).study_seeds == (3, 5)
    for bad in ("a,b", "-1"):
        with pytest.raises(SettingsError, match="PCL_STUDY_SEEDS"):
            Settings.from_env({"PCL_STUDY_SEEDS": bad})


def test_cli_study_writes_json_markdown_and_plots(tmp_path, monkeypatch):
    """`python -m pcl_pipeline study` (make study): the seeds from PCL_STUDY_SEEDS, MiniLM texts."""
    from pcl_pipeline.__main__ import main

    tasks_dir = write_tiny_catalog(tmp_path / "tasks")
    for key, value in {"PCL_HOME": str(tmp_path / "home"), "PCL_TASKS_DIR": str(tasks_dir),
                       "PCL_SYNTHETIC_SCALE": "0.3", "PCL_STUDY_SEEDS": "0"}.items():
        monkeypatch.setenv(key, value)
    for key in ("PCL_MOVIELENS_PATH", "PCL_TENREC_PATH"):
        monkeypatch.delenv(key, raising=False)
    markdown = tmp_path / "docs" / "study.md"
    assert main(["study", "--datasets", "movielens", "--methods", "PCL,SeqFT", "--max-orders", "1",
                 "--markdown", str(markdown)]) == 0
    stored = ArtifactStore(tmp_path / "home").load_study()
    assert stored["seeds"] == [0] and set(stored["datasets"]["movielens"]["methods"]) == {"PCL", "SeqFT"}
    text = markdown.read_text(encoding="utf-8")
    assert "against SeqFT (paper" in text and "- **ablations lose**: not applicable" in text
    assert (markdown.parent / "study-movielens-forgetting.png").exists()
