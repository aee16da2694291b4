"""<ds>/predictions_<task> and <ds>/user_repr_<task>: what a task's model says about every user of
the dataset, as Parquet with original ids (pcl_pipeline/stages/outputs.py). They read the task's
model (the backbone for T1), its vocabulary and the users' sequences, so they rebuild when the
model does and only then; adding a task adds its own pair."""

from dagster import AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.files import fingerprint
from resources.compute import TorchResource
from resources.store import StoreResource

OUTPUTS_CODE_VERSION = "1"
OUTPUT_KINDS = {"pytorch", "parquet"}


def _model_key(ds: str, task: TaskSpec):
    return keys.backbone(ds) if task.kind == "next_item" else keys.prompt(ds, task.name)


def _deps(ds: str, task: TaskSpec) -> list:
    return [_model_key(ds, task), keys.task_data(ds, task.name), keys.sequences(ds)]


def _result(out: dict) -> MaterializeResult:
    preview = out["preview"].to_pandas()
    if "repr" in preview:  # a vector per user: its first values
        preview["repr"] = preview["repr"].map(lambda v: "[" + ", ".join(f"{x:.3f}" for x in v[:4]) + ", ...]")
    shape = {k: out[k] for k in ("k", "classes", "width") if k in out}
    return MaterializeResult(
        metadata={"dagster/row_count": out["rows"], "users": out["users"], **shape,
                  "artifact_sha256": out["artifact_sha256"], "path": MetadataValue.path(str(out["path"])),
                  "preview": MetadataValue.md(preview.to_markdown(index=False))},
        data_version=DataVersion(out["sha256"]))


def _not_applicable(path, reason: str) -> MaterializeResult:
    path.unlink(missing_ok=True)  # an earlier run's file would describe a task this data cannot serve
    return MaterializeResult(metadata={"status": "not_applicable", "reason": reason},
                             data_version=DataVersion(fingerprint("not_applicable", reason)))


def predictions_asset(ds: str, task: TaskSpec, k: int, automation=None) -> AssetsDefinition:
    @asset(key=keys.predictions(ds, task.name), deps=_deps(ds, task), group_name=ds,
           code_version=f"{OUTPUTS_CODE_VERSION}-k{k}", automation_condition=automation, kinds=OUTPUT_KINDS)
    @stamped(lambda store: [store.dataset(ds).predictions_path(task.name)])
    def predictions(store: StoreResource, torch_device: TorchResource) -> MaterializeResult:
        """Every user's answer from this task's model: the top-k items (history excluded) or the class
        probabilities and label, with original ids and the user's split."""
        from pcl_pipeline.stages.outputs import write_predictions

        data = store.dataset(ds)
        reason = stages.not_applicable(data, task)
        if reason is not None:
            return _not_applicable(data.predictions_path(task.name), reason)
        return _result(write_predictions(data, task.name, k, torch_device.pipeline_device()))

    return predictions


def user_repr_asset(ds: str, task: TaskSpec, automation=None) -> AssetsDefinition:
    @asset(key=keys.user_repr(ds, task.name), deps=_deps(ds, task), group_name=ds,
           code_version=OUTPUTS_CODE_VERSION, automation_condition=automation, kinds=OUTPUT_KINDS)
    @stamped(lambda store: [store.dataset(ds).user_repr_output_path(task.name)])
    def user_repr(store: StoreResource, torch_device: TorchResource) -> MaterializeResult:
        """Every user's representation from this task's model: the vector its adapter reads."""
        from pcl_pipeline.stages.outputs import write_user_repr

        data = store.dataset(ds)
        reason = stages.not_applicable(data, task)
        if reason is not None:
            return _not_applicable(data.user_repr_output_path(task.name), reason)
        return _result(write_user_repr(data, task.name, torch_device.pipeline_device()))

    return user_repr
