"""<ds>/eval/<task>: test metrics of a task from its stored artifact, beside the trivial baseline."""

from dagster import AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.metadata import flat_metrics, metrics_table
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.common import fingerprint
from pcl_pipeline.stages.evaluate import evaluate_task
from resources.compute import TorchResource
from resources.storage import PCLStorage

EVAL_CODE_VERSION = "1"


def eval_asset(ds: str, task: TaskSpec, t1: TaskSpec, automation=None) -> AssetsDefinition:
    model_key = keys.backbone(ds) if task.kind == "next_item" else keys.prompt(ds, task.name)

    @asset(key=keys.evaluation(ds, task.name), deps=[model_key, keys.task_data(ds, task.name)], group_name=ds,
           code_version=EVAL_CODE_VERSION, automation_condition=automation)
    def evaluation(storage: PCLStorage, torch_device: TorchResource) -> MaterializeResult:
        """Test metrics of this task, its trivial baseline on the same split, and the cold-start slice."""
        layout = storage.layout(ds)
        result = evaluate_task(layout, task, t1, torch_device.get_device())
        metadata = {**flat_metrics(result),
                    "metrics": metrics_table(result["metrics"], result["baselines"], result["baseline_name"]),
                    "baseline_name": result["baseline_name"], "n_test": result["n_test"],
                    "trainable_params": result["trainable_params"], "artifact_sha256": result["artifact_sha256"]}
        if "cold_start" in result:
            metadata["cold_start"] = MetadataValue.json(result["cold_start"])
        return MaterializeResult(metadata=metadata,
                                 data_version=DataVersion(fingerprint(result["metrics"], result["baselines"])))

    return evaluation
