"""<ds>/report: every task re-evaluated from its artifact after the last one; forgetting matrix."""

import json

from dagster import AssetsDefinition, MaterializeResult, MetadataValue, asset

from assets import keys
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.layout import Layout, reports_dir
from pcl_pipeline.settings import DATASETS
from pcl_pipeline.stages.report import build_report, summary_markdown, write_summary
from resources.compute import TorchResource
from resources.storage import PCLStorage


def report_asset(ds: str, tasks: list[TaskSpec], automation=None) -> AssetsDefinition:
    @asset(key=keys.report(ds), deps=[keys.evaluation(ds, t.name) for t in tasks], group_name=ds,
           code_version="1", automation_condition=automation)
    def report(storage: PCLStorage, torch_device: TorchResource) -> MaterializeResult:
        """Results table and forgetting matrix of this dataset; updates reports/summary.json and summary.md."""
        layout = storage.layout(ds)
        part = build_report(layout, tasks, torch_device.get_device(), storage.source_label(ds))
        parts = {}
        for name in DATASETS:  # merge with the other dataset's latest report, if any
            path = Layout(layout.home, name, layout.variant).report
            if name == ds:
                parts[name] = part
            elif path.exists():
                parts[name] = json.loads(path.read_text(encoding="utf-8"))
        summary = write_summary(layout.home, parts)
        chain = " -> ".join(f"{t.name}" for t in tasks)
        return MaterializeResult(metadata={
            "max_abs_change": float(part["forgetting"]["max_abs_change"]),
            "forgetting_matrix": MetadataValue.json(part["forgetting"]),
            "lineage": MetadataValue.json(part["lineage"]), "chain": chain,
            "summary": MetadataValue.md(summary_markdown({"wall_seconds": summary["wall_seconds"], "datasets": {ds: part}})),
            "summary_json": str(reports_dir(layout.home) / "summary.json"),
        })

    return report
