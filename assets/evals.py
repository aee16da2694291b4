"""<ds>/eval_<task>: test metrics of a task from stored artifacts, beside the trivial baseline, and
every earlier task re-measured at the same moment (a row of the forgetting matrix)."""

from dagster import AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.metadata import flat_metrics, metrics_table
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.data import applicable_chain, not_applicable
from pcl_pipeline.store.files import fingerprint
from resources.compute import TorchResource
from resources.store import StoreResource

EVAL_CODE_VERSION = "4"  # 2: re-measures the earlier tasks (forgetting row); 3: whole-history exclusion, LR reference;
# 4: the record names its data (data_fingerprint)


def _model_key(ds: str, task: TaskSpec):
    return keys.backbone(ds) if task.kind == "next_item" else keys.prompt(ds, task.name)


def eval_asset(ds: str, chain: list[TaskSpec], automation=None) -> AssetsDefinition:
    """The eval asset of chain[-1] (task k): it reads the stored models of tasks 1..k."""
    task = chain[-1]
    deps = [_model_key(ds, t) for t in chain] + [keys.task_data(ds, t.name) for t in chain]

    @asset(key=keys.evaluation(ds, task.name), deps=list(dict.fromkeys(deps)), group_name=ds,
           code_version=EVAL_CODE_VERSION, automation_condition=automation, kinds={"pytorch", "json"},
           op_tags=keys.RESULTS_FIRST)
    @stamped(lambda store: [store.dataset(ds).eval_path(task.name)])
    def evaluation(store: StoreResource, torch_device: TorchResource) -> MaterializeResult:
        """Test metrics of this task, its trivial baseline on the same split, the cold-start slice, and
        the earlier tasks' metrics measured again from what is stored now."""
        from pcl_pipeline.stages.evaluate import evaluate_task, not_applicable_record

        data = store.dataset(ds)
        source = data.load_source()["id"]  # the data this record's numbers come from
        reason = not_applicable(data, task)
        if reason is not None:
            data.save_eval(task.name, {**not_applicable_record(task, reason), "data_fingerprint": source})
            return MaterializeResult(metadata={"status": "not_applicable", "reason": reason},
                                     data_version=DataVersion(fingerprint("not_applicable", reason, source)))
        result = {**evaluate_task(data, applicable_chain(data, chain), torch_device.pipeline_device()),
                  "data_fingerprint": source}
        data.save_eval(task.name, result)
        metadata = {**flat_metrics(result),
                    "metrics": metrics_table(result["metrics"], result["baselines"], result["baseline_name"]),
                    "baseline_name": result["baseline_name"], "n_test": result["n_test"], "data_fingerprint": source,
                    "model": MetadataValue.asset(_model_key(ds, task)),
                    "trainable_params": result["trainable_params"], "artifact_sha256": result["artifact_sha256"],
                    "earlier_tasks_now": MetadataValue.json({name: row["metrics"][t.metric] for t in chain[:-1]
                                                             for name, row in result["after_learning"].items()
                                                             if name == t.name})}
        if "cold_start" in result:
            metadata["cold_start"] = MetadataValue.json(result["cold_start"])
        if "n_out_of_vocab" in result:  # test targets no training row teaches: counted as misses
            metadata["n_out_of_vocab"] = result["n_out_of_vocab"]
        if "reference" in result:  # bag-of-items logistic regression on the same inputs and splits
            ref = result["reference"]
            metadata.update({f"reference_{k}": MetadataValue.float(float(v)) for k, v in ref["metrics"].items()})
            metadata["reference"] = MetadataValue.json({"name": ref["name"], "C": ref["C"], "metrics": ref["metrics"]})
        return MaterializeResult(metadata=metadata, data_version=DataVersion(
            fingerprint(result["metrics"], result["baselines"],
                        {k: v["metrics"] for k, v in result["after_learning"].items()}, source)))

    return evaluation
