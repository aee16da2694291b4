"""Dagster assets: thin functions that read inputs, call pcl_pipeline, write outputs and metadata."""

from dagster import AssetsDefinition, AutomationCondition

from assets.backbone import backbone_asset
from assets.data import data_assets
from assets.evals import eval_asset
from assets.prompts import prompt_asset
from assets.report import report_asset
from assets.text import text_asset
from pcl_pipeline.catalog import TaskSpec


def dataset_assets(ds: str, tasks: list[TaskSpec], automation: AutomationCondition | None = None) -> list[AssetsDefinition]:
    """The whole graph of one dataset for its catalog (tasks in order, T1 first)."""
    t1 = tasks[0]
    return (
        data_assets(ds, tasks, automation)
        + [text_asset(ds, task, automation) for task in tasks]
        + [backbone_asset(ds, t1, automation)]
        + [prompt_asset(ds, tasks[: k + 1], automation) for k in range(1, len(tasks))]
        + [eval_asset(ds, task, t1, automation) for task in tasks]
        + [report_asset(ds, tasks, automation)]
    )
