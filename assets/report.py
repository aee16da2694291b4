"""<ds>/report: the dataset's results table and forgetting matrix, from its eval records."""

from dagster import AssetsDefinition, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.report import build_report, not_applicable_tasks, summary_markdown
from resources.experiment import ExperimentResource
from resources.store import StoreResource

REPORT_CODE_VERSION = "4"  # 2: the matrix comes from each eval's measured row; 3: not-applicable tasks;
# 4: the data fingerprint


def report_asset(ds: str, tasks: list[TaskSpec], automation=None) -> AssetsDefinition:
    @asset(key=keys.report(ds), deps=[keys.evaluation(ds, t.name) for t in tasks], group_name=ds,
           code_version=REPORT_CODE_VERSION, automation_condition=automation, kinds={"json"},
           op_tags=keys.RESULTS_FIRST)
    @stamped(lambda store: [store.dataset(ds).report_path])
    def report(store: StoreResource, experiment: ExperimentResource) -> MaterializeResult:
        """Results table and forgetting matrix of this dataset (reports only what the evals measured)."""
        data = store.dataset(ds)
        part = build_report(tasks, [data.load_eval(t.name) for t in tasks], experiment.source_label(ds), data.variant,
                            data.load_source())
        data.save_report(part)
        chain = " -> ".join(t.name for t in tasks)
        total = sum(t.get("wall_seconds") or 0.0 for t in part["tasks"])
        return MaterializeResult(metadata={
            "max_abs_change": float(part["forgetting"]["max_abs_change"]),
            "forgetting_matrix": MetadataValue.json(part["forgetting"]),
            "lineage": MetadataValue.json(part["lineage"]), "chain": chain,
            "not_applicable": MetadataValue.json(not_applicable_tasks(part)),
            "summary": MetadataValue.md(summary_markdown({"wall_seconds": total, "datasets": {ds: part}})),
            "file": MetadataValue.path(str(data.report_path)),
        })

    return report
