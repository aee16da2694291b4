"""Dagster assets: thin functions that read inputs, call pcl_pipeline, write outputs and metadata."""
from dagster import AssetsDefinition

from assets.automation import pcl_condition, report_condition
from assets.backbone import backbone_asset
from assets.data import data_assets
from assets.evals import eval_asset
from assets.outputs import predictions_asset, user_repr_asset
from assets.prompts import prompt_asset
from assets.report import report_asset
from assets.summary import summary_asset
from assets.text import text_asset
from pcl_pipeline.catalog import TaskSpec


def dataset_assets(ds: str, tasks: list[TaskSpec], source_version: str = "",
                   text_encoder: str = "minilm", predictions_k: int | None = 20) -> list[AssetsDefinition]:
    """The whole graph of one dataset for its catalog (tasks in order, T1 first); source_version
    identifies what raw_logs reads (data folder listing or embedded seed and scale);
    text_encoder the encoder kind the text assets use (another kind makes them stale);
    predictions_k the items per user of the item tasks' predictions (None: no outputs assets)."""
    t1, auto = tasks[0], pcl_condition()
    outputs = [] if predictions_k is None else \
        [predictions_asset(ds, task, predictions_k, auto) for task in tasks] + \
        [user_repr_asset(ds, task, auto) for task in tasks]
    return (
        data_assets(ds, tasks, auto, source_version)
        + [text_asset(ds, task, auto, text_encoder) for task in tasks]
        + [backbone_asset(ds, t1, auto)]
        + [prompt_asset(ds, tasks[: k + 1], auto) for k in range(1, len(tasks))]
        + [eval_asset(ds, tasks[: k + 1], auto) for k in range(len(tasks))]
        + outputs
        + [report_asset(ds, tasks, report_condition())]
    )


def all_assets(catalogs: dict[str, list[TaskSpec]], source_versions: dict[str, str] | None = None,
               text_encoder: str = "minilm", predictions_k: int | None = 20) -> list[AssetsDefinition]:
    """Every dataset's graph and the summary over their reports (predictions_k: as dataset_assets)."""
    source_versions = source_versions or {}
    per_dataset = [a for ds, tasks in catalogs.items()
                   for a in dataset_assets(ds, tasks, source_versions.get(ds, ""), text_encoder, predictions_k)]
    return per_dataset + [summary_asset(list(catalogs), report_condition())]
