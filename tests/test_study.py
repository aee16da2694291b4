"""The reproduction study on tiny data: every method on the movielens catalog, one seed, two
non-catalog task orders; study.json has the issue's shape, SeqFT forgets, PCL does not, and the
Markdown report has a line per claim of the paper (a verdict on real data only)."""
from __future__ import annotations

import json

import duckdb
import pytest
import torch

from pcl_pipeline.errors import SettingsError
from pcl_pipeline.study.methods.registry import METHODS
from pcl_pipeline.study.methods.search import candidates_of
from pcl_pipeline.settings import Settings
from pcl_pipeline.study.report import CLAIMS, NOT_JUDGED, judged, render_markdown, write_study
from pcl_pipeline.study.run import order_variant, run_study, setup_seeds, study_orders
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
                       orders_per_seed=2, tuning_seed=7, log=lambda line: None)
    markdown = write_study(home, result, root / "docs" / "study.md")
    return {"study": result, "home": home, "markdown": markdown, "tasks_dir": tasks_dir}


def test_study_json_has_the_issue_shape(study):
    stored = ArtifactStore(study["home"]).load_study()
    assert stored == json.loads(json.dumps(study["study"]))
    assert set(stored) == {"seeds", "tuning_seed", "datasets", "sources"} and stored["seeds"] == [0]
    assert stored["sources"] == {"movielens": "embedded"}
    assert set(stored["datasets"]) == {"movielens"}
    ds = stored["datasets"]["movielens"]
    assert set(ds) == {"methods", "order", "order_per_seed", "order_runs", "cold_start", "transfer", "baselines",
                       "chosen", "not_applicable"}
    assert ds["not_applicable"] == {}
    assert set(ds["methods"]) == set(METHODS) and "MTL" in ds["methods"]
    for name, m in ds["methods"].items():
        assert set(m) == {"seeds", "tasks", "forgetting_max_abs_change", "forgetting_by_task", "stored_params",
                          "train_seconds"}, name
        assert m["seeds"] == [0]
        assert sorted(m["tasks"]) == TASKS
        for task, row in m["tasks"].items():
            assert set(row) == {"metric", "mean", "std", "per_seed", "final_mean", "final_per_seed", "all_metrics",
                                "n_test"}
            assert set(row["all_metrics"]) == ({"accuracy", "macro_f1", "auc"} if task == "T4_gender"
                                               else {"hr@10", "ndcg@10", "mrr@10"})
            assert row["all_metrics"][row["metric"]] == row["mean"] and row["n_test"][0] > 0
            assert len(row["per_seed"]) == 1 and row["mean"] == row["per_seed"][0] and row["std"] == 0.0
            assert row["metric"] == ("accuracy" if task == "T4_gender" else "ndcg@10")
        assert isinstance(m["stored_params"], int) and m["stored_params"] > 0
        assert m["train_seconds"] > 0
    # frozen-backbone methods score every task the same after the last one; SeqFT's earlier tasks change
    assert all(row["final_per_seed"] == row["per_seed"] for row in ds["methods"]["PCL"]["tasks"].values())
    assert ds["methods"]["SeqFT"]["tasks"]["T4_gender"]["final_per_seed"] == \
        ds["methods"]["SeqFT"]["tasks"]["T4_gender"]["per_seed"]
    # two orders on the one seed, signed changes paired with the catalog order of that seed
    assert set(ds["order"]) == set(TASKS) and len(ds["order_runs"]) == 2 and set(ds["order_per_seed"]) == {"0"}
    assert ds["order_per_seed"]["0"] == pytest.approx(sum(ds["order"].values()) / len(TASKS))
    assert set(ds["cold_start"]) == set(METHODS)
    for rows in ds["cold_start"].values():
        assert set(rows) <= {"T2_rate_4plus", "T3_rate_5"}
        for row in rows.values():
            assert set(row["per_seed"]) == set(row["n"]) == {"0"} and row["n"]["0"] > 0
    assert set(ds["transfer"]) == {"raw", "pcl", "curves", "per_seed", "inputs"}
    assert set(ds["transfer"]["inputs"]) == {"raw", "backbone", "previous", "deployed"}
    assert ds["transfer"]["pcl"] == ds["transfer"]["inputs"]["previous"]["accuracy"]
    assert all(row["epochs"] >= 1 for row in ds["transfer"]["inputs"].values())
    assert all(0.0 <= ds["transfer"][k] <= 1.0 for k in ("raw", "pcl"))
    for curve in ds["transfer"]["curves"].values():
        assert [p["epoch"] for p in curve] == list(range(1, len(curve) + 1)) and len(curve) >= 2
    # every task beside its trivial baseline; classification beside the logistic regression too
    assert set(ds["baselines"]) == set(TASKS)
    assert ds["baselines"]["T2_rate_4plus"]["name"] == "popularity" and "reference" in ds["baselines"]["T4_gender"]
    # the methods that train the backbone chose its learning rate per task from their grid, on validation
    # every method chose its settings per task from its search space, on the tuning seed (7): it was
    # trained there and is reported nowhere
    assert set(ds["chosen"]) == set(METHODS)
    for name, per_task in ds["chosen"].items():
        assert set(per_task) == set(TASKS) and all(knobs in [c.knobs for c in candidates_of(name)]
                                                   for knobs in per_task.values()), name
    assert stored["tuning_seed"] == 7 and (study["home"] / "study" / "seed-7" / "movielens" / "variants").is_dir()


@pytest.mark.slow  # ~45 s: spawns processes that import torch
def test_setup_trains_the_seeds_backbones_in_processes_as_one_process_would(tmp_path):
    """The study's setup trains one backbone per seed, several processes at once: the same bytes
    as one after another (each process has the caller's torch thread count)."""
    tasks = load_catalog(write_tiny_catalog(tmp_path / "tasks"), "movielens")
    runs = {n: setup_seeds(tmp_path / f"home{n}", "movielens", tasks, [0, 7], data=None,
                           encoder=RandomTextEncoder(seed=1), scale=0.3, processes=n, log=lambda line: None)
            for n in (1, 2)}
    assert [r["backbone_sha256"] for r in runs[2]] == [r["backbone_sha256"] for r in runs[1]]
    assert runs[2][0]["backbone_sha256"] != runs[2][1]["backbone_sha256"]  # two seeds, two backbones


def test_transfer_exports_user_representations_readable_from_duckdb(study):
    path = study["home"] / "study" / "seed-0" / "movielens" / "variants" / "method-PCL" / "repr" / "T4_gender.parquet"
    con = duckdb.connect()
    rows = con.execute(f"SELECT split, count(*), min(len(repr)), max(len(repr)), count(DISTINCT user_idx) "
                       f"FROM read_parquet('{path}') GROUP BY split ORDER BY split").fetchall()
    assert [r[0] for r in rows] == ["test", "train", "valid"]
    for split, n, lo, hi, users in rows:
        assert n > 0 and lo == hi > 0 and users == n, (split, n, lo, hi, users)


def test_plots_beside_the_markdown(study):
    for name in ("study-movielens-forgetting.png", "study-movielens-order.png", "study-movielens-transfer-curves.png"):
        png = study["markdown"].parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in study["markdown"].read_text(encoding="utf-8")


def test_forgetting_seqft_forgets_and_pcl_does_not(study):
    methods = study["study"]["datasets"]["movielens"]["methods"]
    assert methods["PCL"]["forgetting_max_abs_change"] == 0.0
    assert methods["SeqFT"]["forgetting_max_abs_change"] > 0.0
    # by task: the catalog metric only (the max over every metric key is the report's max_abs_change)
    by_task = methods["SeqFT"]["forgetting_by_task"]
    assert 0.0 < max(by_task.values()) <= methods["SeqFT"]["forgetting_max_abs_change"]
    assert by_task["T4_gender"] == 0.0  # nothing is learned after the last task
    for name in ("PCL-no-context", "PCL-no-inherit", "PCL-random-text", "Adapter", "FineAll", "SinMo"):
        assert methods[name]["forgetting_max_abs_change"] == 0.0, name
    # T1 is re-measured with the encoder a method leaves: SeqFT's current one, MTL's jointly trained
    # one (its heads, each scored with the one final backbone, do not change)
    assert methods["SeqFT"]["forgetting_by_task"]["T1_next_item"] > 0.0
    assert methods["MTL"]["forgetting_by_task"]["T1_next_item"] > 0.0
    assert all(v == 0.0 for t, v in methods["MTL"]["forgetting_by_task"].items() if t != "T1_next_item")


def test_stored_params_count_what_is_stored(study):
    methods = study["study"]["datasets"]["movielens"]["methods"]
    # a full backbone per task (3 tasks) costs more than one shared backbone and small task parts
    assert methods["FineAll"]["stored_params"] == methods["SinMo"]["stored_params"] == methods["SeqFT"]["stored_params"]
    assert methods["Adapter"]["stored_params"] < methods["PCL"]["stored_params"]
    # MTL stores the jointly trained backbone at each task's own best epoch, a head per task: as
    # many tensors as a backbone per task
    assert methods["MTL"]["stored_params"] == methods["FineAll"]["stored_params"]
    assert methods["PCL-no-context"]["stored_params"] < methods["PCL"]["stored_params"]


def test_order_variants_are_stored_apart(study):
    tasks = load_catalog(study["tasks_dir"], "movielens")
    orders = study_orders(tasks, 2)
    assert len(orders) == 2 and [t.name for t in tasks[1:]] not in orders
    variants = {p.name for p in (study["home"] / "study" / "seed-0" / "movielens" / "variants").iterdir()}
    assert variants == {m.variant for m in METHODS.values()} | {order_variant(o) for o in orders}


def _claim_lines(text: str) -> dict[str, list[str]]:
    return {claim: [line for line in text.splitlines() if line.startswith(f"- **{claim}**:")] for claim in CLAIMS}


def test_markdown_on_synthetic_data_prints_numbers_and_no_verdict(study):
    """The embedded default is a smoke test: a line per claim saying it is not judged, no verdict."""
    text = study["markdown"].read_text(encoding="utf-8")
    for claim, lines in _claim_lines(text).items():
        assert lines == [f"- **{claim}**: {NOT_JUDGED}."], claim
    assert "reproduced" not in text and "inconclusive" not in text
    assert "| PCL |" in text and "0." in text  # the numbers are printed


def test_markdown_on_real_data_has_a_verdict_per_claim(study):
    real = {**study["study"], "sources": {"movielens": "/data/ml-100k"}}
    assert judged(real) and not judged(study["study"]) and not judged({**real, "sources": {}})
    text = render_markdown(real)
    for claim, lines in _claim_lines(text).items():
        assert len(lines) == 1, claim
        # one seed gives no interval: nothing can be decided but what is not applicable
        assert any(f"**: {v}." in lines[0] for v in ("inconclusive", "not applicable")), lines[0]
    text = study["markdown"].read_text(encoding="utf-8")
    assert "raw inputs (bag of items)" in text
    assert "| SeqFT |" in text and "| MTL |" in text and "## movielens" in text
    assert "| *trivial: majority / popularity* |" in text and "| *bag-of-items logistic regression* |" in text


def test_study_seeds_setting():
    assert Settings.from_env({}).study_seeds == (0, 1, 2)
    assert Settings.from_env({"PCL_STUDY_SEEDS": "3, 5"}).study_seeds == (3, 5)
    for bad in ("a,b", "-1"):
        with pytest.raises(SettingsError, match="PCL_STUDY_SEEDS"):
            Settings.from_env({"PCL_STUDY_SEEDS": bad})
    # the tuning seed is never a reported one
    assert Settings.from_env({"PCL_STUDY_SEEDS": "0,1"}).study_tuning_seed == 100
    with pytest.raises(SettingsError, match="PCL_STUDY_TUNING_SEED 1 is one of PCL_STUDY_SEEDS 0,1"):
        Settings.from_env({"PCL_STUDY_SEEDS": "0,1", "PCL_STUDY_TUNING_SEED": "1"})


def _study_env(tiny_env, monkeypatch):
    markdown = tiny_env["root"] / "docs" / "study.md"
    for key, value in {"PCL_STUDY_SEEDS": "0", "PCL_STUDY_DATASETS": "movielens", "PCL_STUDY_WORKERS": "2",
                       "PCL_STUDY_MARKDOWN": str(markdown), "PCL_SYNTHETIC_SCALE": "0.3"}.items():
        monkeypatch.setenv(key, value)
    return markdown


@pytest.mark.slow  # the whole study group in Dagster (~35 s): make test-slow, CI
def test_study_group_in_dagster(tiny_env, monkeypatch):
    """The asset group `study` materializes in Dagster (in process here; `make study` runs the same
    group with the multiprocess study job, tested below as slow): one asset per method, each method's
    variant in its metadata, the report's verdicts; `make run`'s selection leaves the group out."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from assets import keys
    from assets.definitions import build_definitions
    from assets.selection import pipeline_selection

    markdown = _study_env(tiny_env, monkeypatch)
    defs = build_definitions(Settings.from_env())
    graph = defs.resolve_asset_graph()
    study_keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "study"}
    assert len(study_keys) == 1 + len(METHODS) + 2 + 1  # setup, methods, task orders, transfer, report
    pipeline = pipeline_selection().resolve(graph)
    assert pipeline and not pipeline & study_keys
    with DagsterInstance.ephemeral() as instance:
        result = materialize(list(defs.assets), resources=defs.resources, instance=instance,
                             selection=AssetSelection.groups(keys.STUDY_GROUP))
        assert result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert materialized == study_keys
        seqft = instance.get_latest_materialization_event(keys.study_method("movielens", "SeqFT"))
        metadata = seqft.asset_materialization.metadata
        assert metadata["forgetting_max_abs_change"].value > 0
        assert "method-SeqFT" in metadata["artifacts"].value[0]
        report = instance.get_latest_materialization_event(keys.study_report()).asset_materialization.metadata
        assert set(report["verdicts"].value) == set(CLAIMS)
    stored = ArtifactStore(tiny_env["home"]).load_study()
    assert stored["seeds"] == [0] and set(stored["datasets"]) == {"movielens"}
    assert set(stored["datasets"]["movielens"]["methods"]) == set(METHODS)
    assert "- **ablations lose**:" in markdown.read_text(encoding="utf-8")


@pytest.mark.slow
def test_cli_study_materializes_the_study_group(tiny_env, monkeypatch):
    """`python -m assets.cli study` (make study) runs the Dagster job `study` (multiprocess, two
    steps at once): every step of the group materialized, study.json and the Markdown written, and
    `make run`'s selection leaves the study out."""
    from dagster import DagsterInstance

    from assets import keys
    from assets.cli import main
    from assets.definitions import build_definitions

    markdown = _study_env(tiny_env, monkeypatch)
    assert main(["study"]) == 0
    stored = ArtifactStore(tiny_env["home"]).load_study()
    assert stored["seeds"] == [0] and set(stored["datasets"]) == {"movielens"}
    assert set(stored["datasets"]["movielens"]["methods"]) == set(METHODS)
    assert "- **ablations lose**:" in markdown.read_text(encoding="utf-8")
    defs = build_definitions(Settings.from_env())
    graph = defs.resolve_asset_graph()
    study_keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "study"}
    assert len(study_keys) == 1 + len(METHODS) + 2 + 1  # setup, methods, task orders, transfer, report
    instance = DagsterInstance.get()
    assert all(instance.get_latest_materialization_event(k) is not None for k in study_keys)
    # a method added later (or changed): only its asset and the report, the rest as materialized
    before = {k: instance.get_latest_materialization_event(k).run_id for k in study_keys}
    assert main(["study", "--select", "study/movielens_TERACON"]) == 0
    again = {k: instance.get_latest_materialization_event(k).run_id for k in study_keys}
    assert {k.to_user_string() for k in study_keys if again[k] != before[k]} == \
        {"study/movielens_TERACON", "study/report"}
    assert keys.study_report() in study_keys


def test_a_task_the_data_cannot_serve_is_marked_and_the_study_goes_on(tmp_path):
    """As the pipeline does: T4's label column is not in the data, so the study marks T4 not
    applicable (with the reason), leaves it out of every table and runs the rest, task orders too."""
    import yaml

    tasks_dir = write_tiny_catalog(tmp_path / "tasks")
    for path in (tasks_dir / "movielens").glob("*.yaml"):  # the smallest model that runs: only the plumbing is tested
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["hyperparameters"]["epochs"] = 1
        if spec["kind"] == "next_item":
            spec["hyperparameters"].update(hidden=16, blocks=1, heads=1, max_len=20)
        if spec["name"] == "T4_gender":
            spec["label"]["column"] = "income"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = run_study(tmp_path / "home", ["movielens"], tasks_dir, [0], ["PCL"], encoder=RandomTextEncoder(seed=1),
                       scale=0.3, orders_per_seed=1, log=lambda line: None)
    ml = result["datasets"]["movielens"]
    assert ml["not_applicable"] == {"T4_gender": "column 'income' is not in table 'users'"}
    assert list(ml["methods"]["PCL"]["tasks"]) == ["T2_rate_4plus", "T3_rate_5"]
    assert set(ml["order"]) == {"T2_rate_4plus", "T3_rate_5"} and ml["transfer"] is None  # no classification task left
    markdown = write_study(tmp_path / "home", result, tmp_path / "study.md").read_text(encoding="utf-8")
    assert "T4_gender: not applicable to this data" in markdown


def test_the_study_job_starts_the_longest_steps_first(tmp_path):
    """Dagster starts the ready step with the highest dagster/priority: the methods that train a
    backbone (MTL, training every task at once, first) before PCL's family, the task orders and
    Adapter, so the longest steps do not run last and alone; inside a level, the registry's order,
    so PCL's and FineAll's first fits are in the fit memo when PCL-no-inherit and SeqFT need them."""
    from assets.study import method_asset, orders_asset

    tasks = load_catalog(write_tiny_catalog(tmp_path / "tasks"), "movielens")

    def priority(asset) -> int:
        return int(asset.op.tags.get("dagster/priority", 0))

    levels = {name: priority(method_asset("movielens", tasks, name)) for name in METHODS}
    backbone = [levels[m] for m in ("FineAll", "SinMo", "SeqFT", "TERACON")]
    frozen = [levels[m] for m in ("PCL", "PCL-no-context", "PCL-no-inherit", "PCL-random-text", "Adapter")]
    orders = priority(orders_asset("movielens", tasks))
    assert levels["MTL"] > max(backbone) and min(backbone) > max(frozen + [orders]) and min(frozen) > 0
    assert orders >= max(frozen)  # 444 s on ML-100K, longer than Adapter's 322 s
    # the fits another method reads back from the study's fit memo are made first
    assert levels["PCL"] > levels["PCL-no-inherit"] and levels["FineAll"] > levels["SeqFT"]


def test_transfer_inputs_are_taken_before_the_task_is_learned_and_as_deployed(study):
    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.study.run import seed_root
    from pcl_pipeline.study.transfer import pooled, transfer_inputs
    cpu = torch.device("cpu")
    tasks = load_catalog(study["tasks_dir"], "movielens")
    store = seed_root(study["home"], 0).dataset("movielens", "method-PCL")
    inputs, data = transfer_inputs(store, tasks, cpu)
    before, _ = store.load_task_model(tasks[-2].name, cpu)  # T3's prompted model: no T4 label shaped it
    deployed, _ = store.load_task_model(tasks[-1].name, cpu)
    assert data.test.targets.equal(store.task_data(tasks[-1], before.backbone.cfg.n_items,
                                                   before.backbone.cfg.max_len).test.targets)
    assert torch.equal(inputs["previous"]["test"], pooled(before.eval().hidden, data.test, cpu))
    assert not torch.equal(inputs["previous"]["test"], inputs["backbone"]["test"])
    d = before.backbone.cfg.hidden
    table = deployed.adapter.input_items
    assert inputs["deployed"]["test"].shape == (len(data.test), 2 * d + (table.embedding_dim if table is not None else 0))
    assert inputs["raw"]["test"].shape == (len(data.test), before.backbone.cfg.n_items + 1)


def test_study_select_takes_the_named_assets_and_the_report(tiny_env, monkeypatch):
    from assets.cli import study_selection
    from assets.definitions import STUDY_JOB, build_definitions
    from pcl_pipeline.errors import InputError

    _study_env(tiny_env, monkeypatch)
    job = build_definitions(Settings.from_env()).resolve_job_def(STUDY_JOB)
    assert study_selection(job, "") is None  # the whole group
    chosen = study_selection(job, "study/movielens_TERACON, study/movielens_transfer")
    assert [k.to_user_string() for k in chosen] == ["study/movielens_TERACON", "study/movielens_transfer",
                                                    "study/report"]
    with pytest.raises(InputError) as err:
        study_selection(job, "study/movielens_NoSuchMethod")
    assert "study/movielens_NoSuchMethod" in str(err.value) and "study/movielens_PCL" in str(err.value)


def test_a_study_step_run_again_reads_its_finished_seeds_back_as_they_were(study, monkeypatch):
    """Every seed a method finished (the tuning seed too) is read back, not trained again, and
    summarizes exactly as the fresh run did; a changed key (here the thread count) trains again."""
    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.study import run as study_run

    tasks = load_catalog(study["tasks_dir"], "movielens")
    monkeypatch.setattr(study_run, "run_chain", lambda *args, **kwargs: pytest.fail("a finished seed trained again"))
    again = study_run.run_method(study["home"], "movielens", tasks, [0], "Adapter", tuning_seed=7,
                                 log=lambda line: None)
    fresh = study["study"]["datasets"]["movielens"]["methods"]["Adapter"]
    assert study_run.summarize(tasks, {"Adapter": again}, [], [])["methods"]["Adapter"] == fresh
    monkeypatch.setattr(study_run.torch, "get_num_threads", lambda: 99)
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        study_run.run_method(study["home"], "movielens", tasks, [0], "Adapter", tuning_seed=7, log=lambda line: None)
