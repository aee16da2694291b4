"""The composition root: the catalog and settings become one Dagster Definitions object.

This module (with __main__.py, the CLI) is the only place in pcl_pipeline that imports Dagster.
"""
from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, multiprocess_executor
from dagster_duckdb import DuckDBResource

from assets import all_assets, keys
from assets.automation import automation_sensor, new_task_files_sensor, retrain_job, retrain_schedule
from assets.study import study_assets
from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.settings import DATASETS, Settings
from resources import ExperimentResource, StoreResource, StudyResource, TextEncoderResource, TorchResource

STUDY_JOB = "study"


def pipeline_selection() -> AssetSelection:
    """The pipeline proper (what `make run` materializes): every asset but the study group."""
    return AssetSelection.all() - AssetSelection.groups(keys.STUDY_GROUP)


def study_job_definition(workers: int):
    """The study group, its steps `workers` at once in separate processes (long steps, so the
    per-process start-up that rules out this executor for the pipeline is paid back here)."""
    return define_asset_job(STUDY_JOB, selection=AssetSelection.groups(keys.STUDY_GROUP),
                            executor_def=multiprocess_executor.configured({"max_concurrent": workers}),
                            description="The reproduction study: every method over PCL_STUDY_SEEDS, the task-order "
                                        "study, transfer, study.json and the Markdown report (make study).")


def build_definitions(settings: Settings) -> Definitions:
    catalogs = {ds: load_catalog(settings.tasks_dir, ds, settings.task_orders.get(ds)) for ds in DATASETS}
    # the study always runs the catalog order (its task-order study permutes it)
    study_catalogs = {ds: load_catalog(settings.tasks_dir, ds) for ds in settings.study_datasets}
    paths = settings.data_paths
    return Definitions(
        assets=all_assets(catalogs) + study_assets(study_catalogs),
        resources={
            "store": StoreResource(home=str(settings.home), task_orders=settings.task_orders),
            "experiment": ExperimentResource(
                movielens_path=str(paths["movielens"]) if paths["movielens"] else None,
                tenrec_path=str(paths["tenrec"]) if paths["tenrec"] else None,
                synthetic_scale=settings.synthetic_scale, seed=settings.seed),
            # Parquet is the store between stages; DuckDB is the engine, in memory, so parallel
            # runs never contend for a database file lock.
            "duckdb": DuckDBResource(database=":memory:"),
            "text_encoder": TextEncoderResource(),
            "torch_device": TorchResource(),
            "study": StudyResource(tasks_dir=str(settings.tasks_dir), seeds=list(settings.study_seeds),
                                   workers=settings.study_workers,
                                   markdown=str(settings.study_markdown) if settings.study_markdown else None),
        },
        # One process per run: the default multiprocess executor re-imports torch for every step
        # (a 7-asset chain took 75 s against 8 s in process). Swap for k8s/celery at scale.
        executor=in_process_executor,
        jobs=[retrain_job, study_job_definition(settings.study_workers)],
        schedules=[retrain_schedule(settings.retrain_cron)],
        sensors=[automation_sensor(settings.automation),
                 new_task_files_sensor(settings, {ds: {t.name for t in ts} for ds, ts in catalogs.items()})],
    )


defs = build_definitions(Settings.from_env())


def study_job():
    """The study job of the settings in the environment, for dagster.reconstructable (the
    multiprocess executor rebuilds it in every step's process, from the same environment)."""
    return build_definitions(Settings.from_env()).resolve_job_def(STUDY_JOB)
