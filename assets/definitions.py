"""The composition root: the catalog and settings become one Dagster Definitions object (the code
location `assets.definitions` of workspace.yaml; the CLI, assets/cli.py, builds the same)."""
from __future__ import annotations

from dagster import (
    AssetSelection,
    Definitions,
    colored_console_logger,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)
from dagster_duckdb import DuckDBResource

from assets import all_assets, keys
from assets.console import progress_logger
from assets.automation import automation_sensor, new_task_files_sensor, retrain_job, retrain_schedule
from assets.selection import pipeline_selection
from assets.study import study_assets
from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.settings import DATASETS, Settings
from pcl_pipeline.store.files import fingerprint, folder_signature
from resources import ExperimentResource, StoreResource, StudyResource, TextEncoderResource, TorchResource

STUDY_JOB = "study"


def study_job_definition(workers: int):
    """The study group, its steps `workers` at once in separate processes (long steps, so the
    per-process start-up that rules out this executor for the pipeline is paid back here)."""
    return define_asset_job(STUDY_JOB, selection=AssetSelection.groups(keys.STUDY_GROUP),
                            executor_def=multiprocess_executor.configured({"max_concurrent": workers}),
                            description="The reproduction study: every method over PCL_STUDY_SEEDS, the task-order "
                                        "study, transfer, study.json and the Markdown report (make study).")


def source_versions(settings: Settings) -> dict[str, str]:
    """Per dataset, what its raw_logs asset reads, as a short hash: the real folder's file
    listing (names, sizes, modification times) or the embedded default's scale; and the seed."""
    out = {}
    for ds, path in settings.data_paths.items():
        source = folder_signature(path) if path else ["embedded", settings.synthetic_scale]
        out[ds] = fingerprint(source, settings.seed)
    return out


DISTRIBUTED_JOB = "pipeline_on_dask"


def distributed_job():
    """The pipeline (every asset but the study) as a job whose steps run on a Dask cluster
    (dagster-dask, `pip install .[scale]`): one task per step, the cluster named by the run config
    (`execution: config: cluster: existing: address: tcp://...`), the Dagster instance shared by
    the scheduler side and every worker (Postgres: dagster-postgres). For dagster.reconstructable:
    every worker rebuilds it from the same environment."""
    from dagster_dask import dask_executor

    job = define_asset_job(DISTRIBUTED_JOB, selection=pipeline_selection(), executor_def=dask_executor)
    return build_definitions(Settings.from_env(), extra_jobs=[job]).resolve_job_def(DISTRIBUTED_JOB)


def build_definitions(settings: Settings, extra_jobs: list | None = None) -> Definitions:
    catalogs = {ds: load_catalog(settings.tasks_dir, ds, settings.task_orders.get(ds)) for ds in DATASETS}
    # the study always runs the catalog order (its task-order study permutes it)
    study_catalogs = {ds: load_catalog(settings.tasks_dir, ds) for ds in settings.study_datasets}
    paths = settings.data_paths
    loaded: list[Definitions] = []  # the new-task sensor plans runs against these definitions
    defs = Definitions(
        assets=all_assets(catalogs, source_versions(settings), settings.text_encoder,
                          settings.predictions_k if settings.outputs else None)
        + study_assets(study_catalogs),
        resources={
            "store": StoreResource(home=str(settings.home), task_orders=settings.task_orders),
            "experiment": ExperimentResource(
                movielens_path=str(paths["movielens"]) if paths["movielens"] else None,
                tenrec_path=str(paths["tenrec"]) if paths["tenrec"] else None,
                synthetic_scale=settings.synthetic_scale, seed=settings.seed),
            # Parquet is the store between stages; DuckDB is the engine, in memory, so parallel
            # runs never contend for a database file lock; beyond memory_limit it spills to disk.
            "duckdb": DuckDBResource(database=":memory:", connection_config={
                "memory_limit": settings.duckdb_memory_limit, "temp_directory": str(settings.home / ".duckdb_spill")}),
            "text_encoder": TextEncoderResource(kind=settings.text_encoder),
            "torch_device": TorchResource(device=settings.device, num_threads=settings.pipeline_threads,
                                          ddp_processes=settings.ddp_processes,
                                          ddp_backend=settings.ddp_backend, acceleration=settings.acceleration,
                                          torch_compile=settings.torch_compile),
            "study": StudyResource(tasks_dir=str(settings.tasks_dir), seeds=list(settings.study_seeds),
                                   tuning_seed=settings.study_tuning_seed, workers=settings.study_workers,
                                   markdown=str(settings.study_markdown) if settings.study_markdown else None),
        },
        # One process per run: the default multiprocess executor re-imports torch for every step
        # (a 7-asset chain took 75 s against 8 s in process). Swap for k8s/celery at scale.
        executor=in_process_executor,
        # the console logger for dagster dev and -v; progress_logger for `make run`'s own lines
        loggers={"console": colored_console_logger, "progress": progress_logger},
        jobs=[retrain_job, study_job_definition(settings.study_workers), *(extra_jobs or [])],
        schedules=[retrain_schedule(settings.retrain_cron)],
        sensors=[automation_sensor(settings.automation),
                 new_task_files_sensor(settings, {ds: {t.name for t in ts} for ds, ts in catalogs.items()},
                                       lambda: loaded[0], lambda: build_definitions(settings, extra_jobs))],
    )
    loaded.append(defs)
    return defs


defs = build_definitions(Settings.from_env())


def study_job():
    """The study job of the settings in the environment, for dagster.reconstructable (the
    multiprocess executor rebuilds it in every step's process, from the same environment)."""
    return build_definitions(Settings.from_env()).resolve_job_def(STUDY_JOB)
