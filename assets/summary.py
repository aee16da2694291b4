"""summary: reports/summary.json and summary.md over every dataset's report (their only writer)."""

from dagster import AssetsDefinition, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.stamping import stamped
from pcl_pipeline.stages.report import build_summary, summary_markdown
from resources.store import StoreResource


def summary_asset(datasets: list[str], automation=None) -> AssetsDefinition:
    @asset(key=keys.summary(), deps=[keys.report(ds) for ds in datasets], group_name=keys.SUMMARY_GROUP,
           code_version="1", automation_condition=automation, kinds={"json", "markdown"},
           op_tags=keys.RESULTS_FIRST)
    @stamped(lambda store: [store.store().summary_json, store.store().summary_md])
    def summary(store: StoreResource) -> MaterializeResult:
        """Every dataset's results and forgetting matrix in one file for programs and one for people."""
        reports = {ds: store.dataset(ds).load_report() for ds in datasets}
        content = build_summary(reports)
        markdown = summary_markdown(content)
        root = store.store()
        root.save_summary(content, markdown)
        return MaterializeResult(metadata={
            "summary": MetadataValue.md(markdown), "wall_seconds": float(content["wall_seconds"]),
            "max_abs_change": float(max(r["forgetting"]["max_abs_change"] for r in reports.values())),
            "summary_json": MetadataValue.path(str(root.summary_json)),
            "summary_md": MetadataValue.path(str(root.summary_md)),
        })

    return summary
