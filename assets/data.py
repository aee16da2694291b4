"""Data assets of one dataset: raw_logs -> interactions -> sequences -> task_data/<task>."""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import keys
from assets.metadata import check_metadata, preview
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.checks import (
    INTERACTION_CHECKS,
    TASK_DATA_CHECKS,
    CheckOutcome,
    check_interactions,
    check_task_data,
    task_data_check_names,
)
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.files import file_sha256, fingerprint
from resources.experiment import ExperimentResource
from resources.store import StoreResource

DATA_CODE_VERSION = "2"  # bump when the preprocessing logic changes (2: hashed ties, one user split, vocabularies)
TABLE_KINDS = {"duckdb", "parquet"}


def _checks(key, descriptions: dict[str, str], names: tuple[str, ...]) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(name, asset=key, blocking=True, description=descriptions[name]) for name in names]


def _results(outcomes: list[CheckOutcome]) -> list[AssetCheckResult]:
    return [AssetCheckResult(check_name=o.name, passed=o.passed, metadata=check_metadata(o)) for o in outcomes]


def data_assets(ds: str, tasks: list[TaskSpec], automation=None, source_version: str = "") -> list[AssetsDefinition]:
    t1 = tasks[0]

    # the source is part of raw_logs' version: another folder, changed files, another seed or scale
    # make it stale, so `make run` (which runs only what is missing or stale) reads it again
    @asset(key=keys.raw_logs(ds), group_name=ds, code_version=f"{DATA_CODE_VERSION}-{source_version}".rstrip("-"),
           automation_condition=automation, kinds=TABLE_KINDS)
    @stamped(lambda store: [*store.dataset(ds).raw_tables(), store.dataset(ds).source_path])
    def raw_logs(context: AssetExecutionContext, store: StoreResource, experiment: ExperimentResource,
                 duckdb: DuckDBResource) -> MaterializeResult:
        """The dataset's files in their official format (real folder or embedded default), read,
        validated and stored as one Parquet table per file."""
        data = store.dataset(ds)
        with duckdb.get_connection() as con:
            info = stages.ingest_raw(con, data, experiment.data_path(ds), seed=experiment.seed,
                                     scale=experiment.synthetic_scale)
            skipped = stages.check_applicability(con, data, tasks)
            files = data.raw_tables()
            t1_table = data.raw_dir / f"{t1.label.source}.parquet"  # absent: interactions will say so
            shown = preview(con, t1_table if t1_table.exists() else files[0])
            counts = {}
            if t1_table.exists():
                users, items = con.execute("SELECT count(DISTINCT user_id), count(DISTINCT item_id) "
                                           "FROM read_parquet(?)", [str(t1_table)]).fetchall()[0]
                counts = {f"users_in_{t1_table.stem}": users, f"items_in_{t1_table.stem}": items}
        context.log.info("read %s (%s): %s", info["folder"], info["format"], info["rows"])
        tolerated = {f"{file}: {what}": n for file, found in info["tolerated"].items() for what, n in found.items()}
        for what, n in tolerated.items():
            context.log.warning("tolerated %s: %d", what, n)
        for name, why in skipped.items():
            context.log.warning("%s/%s is not applicable to this data and will be skipped: %s", ds, name, why)
        return MaterializeResult(
            metadata={"dagster/row_count": sum(info["rows"].values()), "source": experiment.source_label(ds), **counts,
                      "data_fingerprint": info["source"]["id"],
                      "tolerated": MetadataValue.json(tolerated), "not_applicable": MetadataValue.json(skipped),
                      "format": info["format"], "rows_per_table": MetadataValue.json(info["rows"]),
                      "files": MetadataValue.json(info["files"]), "preview": shown},
            # the seed decides splits and ties downstream: part of the version even when the files are equal
            data_version=DataVersion(fingerprint(file_sha256(*files), experiment.seed)),
        )

    @asset(key=keys.interactions(ds), deps=[keys.raw_logs(ds)], group_name=ds,
           code_version=f"{DATA_CODE_VERSION}-{fingerprint(t1.label.model_dump())}", automation_condition=automation,
           kinds=TABLE_KINDS, check_specs=_checks(keys.interactions(ds), INTERACTION_CHECKS, tuple(INTERACTION_CHECKS)))
    @stamped(lambda store: [store.dataset(ds).interactions])
    def interactions(store: StoreResource, experiment: ExperimentResource, duckdb: DuckDBResource) -> MaterializeResult:
        """T1 behaviour events: typed, validated, deduplicated, ordered, ids remapped from 1 (0 = padding)."""
        data = store.dataset(ds)
        with duckdb.get_connection() as con:
            rows = stages.interactions(con, data, t1, seed=experiment.seed)
            outcomes = check_interactions(con, data.interactions, seed=experiment.seed)
            shown = preview(con, data.interactions)
        counts = next(o.metadata for o in outcomes if o.name == "ids_valid")  # the check counted them already
        return MaterializeResult(
            metadata={"dagster/row_count": rows, "users": counts["users"], "items": counts["items"],
                      "source": experiment.source_label(ds), "preview": shown},
            check_results=_results(outcomes), data_version=DataVersion(file_sha256(data.interactions)),
        )

    @asset(key=keys.sequences(ds), deps=[keys.interactions(ds)], group_name=ds, code_version=DATA_CODE_VERSION,
           automation_condition=automation, kinds=TABLE_KINDS)
    @stamped(lambda store: [store.dataset(ds).sequences])
    def sequences(store: StoreResource, experiment: ExperimentResource, duckdb: DuckDBResource) -> MaterializeResult:
        """Per-user T1 behaviour sequences (the events before any history cut)."""
        data = store.dataset(ds)
        with duckdb.get_connection() as con:
            rows = stages.sequences(con, data, seed=experiment.seed)
            items, mean_len = con.execute(
                "SELECT count(DISTINCT i), avg(length) FROM (SELECT unnest(items) AS i, length FROM read_parquet(?))",
                [str(data.sequences)]).fetchall()[0]
            shown = preview(con, data.sequences)
        return MaterializeResult(
            metadata={"dagster/row_count": rows, "users": rows, "items": items, "mean_length": float(mean_len),
                      "source": experiment.source_label(ds), "preview": shown},
            data_version=DataVersion(file_sha256(data.sequences)),
        )

    return [raw_logs, interactions, sequences] + [_task_data_asset(ds, task, t1, automation) for task in tasks]


def _task_data_asset(ds: str, task: TaskSpec, t1: TaskSpec, automation) -> AssetsDefinition:
    key = keys.task_data(ds, task.name)

    @asset(key=key, deps=[keys.sequences(ds), keys.interactions(ds), keys.raw_logs(ds)], group_name=ds,
           code_version=f"{DATA_CODE_VERSION}-{fingerprint(task.label.model_dump(), task.kind)}",
           automation_condition=automation, kinds=TABLE_KINDS,
           check_specs=_checks(key, TASK_DATA_CHECKS, task_data_check_names(task.kind)))
    @stamped(lambda store: [(paths := store.dataset(ds).task_data_paths(task.name)).rows, paths.vocab])
    def task_data(store: StoreResource, experiment: ExperimentResource, duckdb: DuckDBResource) -> MaterializeResult:
        """One task's rows: the user's T1 sequence as input, its labels, and user-level splits."""
        data = store.dataset(ds)
        paths = data.task_data_paths(task.name)
        reason = stages.not_applicable(data, task)
        if reason is not None:  # skipped, visibly: nothing is built, the later assets of the task skip too
            return MaterializeResult(
                metadata={"status": "not_applicable", "reason": reason, "task_file": MetadataValue.path(task.file)},
                check_results=[AssetCheckResult(check_name=name, passed=True, metadata={"skipped": reason})
                               for name in task_data_check_names(task.kind)],
                data_version=DataVersion(fingerprint("not_applicable", reason)))
        with duckdb.get_connection() as con:
            rows = stages.task_data(con, data, task, t1, seed=experiment.seed)
            outcomes = check_task_data(con, paths, task.kind, data.sequences)
            per_split = dict(con.execute("SELECT split, count(*) FROM read_parquet(?) GROUP BY split",
                                         [str(paths.rows)]).fetchall())
            users = con.execute("SELECT count(DISTINCT user_idx) FROM read_parquet(?)", [str(paths.rows)]).fetchall()[0][0]
            shown = preview(con, paths.rows)
        targets = next(o.metadata for o in outcomes if o.name == "min_size")["targets"]  # counted by the check
        return MaterializeResult(
            metadata={"dagster/row_count": rows, "users": users, "targets": targets, "kind": task.kind,
                      "rows_per_split": MetadataValue.json(per_split), "source": experiment.source_label(ds),
                      "task_file": MetadataValue.path(task.file), "preview": shown},
            check_results=_results(outcomes), data_version=DataVersion(data.task_data_version(task.name)),
        )

    return task_data
