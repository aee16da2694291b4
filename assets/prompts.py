"""<ds>/prompt_<task>: one asset per task after T1 (prompt + contextual module + adapter)."""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.backbone import MODEL_CODE_VERSION, MODEL_KINDS, model_files
from assets.metadata import curve, epoch_logger
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec, previous_prompt_task
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.files import fingerprint
from resources.compute import TorchResource
from resources.experiment import ExperimentResource
from resources.store import StoreResource


def _latest_run(context: AssetExecutionContext, key: AssetKey) -> str | None:
    event = context.instance.get_latest_materialization_event(key)
    return event.run_id if event is not None else None


def prompt_asset(ds: str, chain: list[TaskSpec], automation=None) -> AssetsDefinition:
    """The asset of chain[-1] (task k), given tasks 1..k in order."""
    task = chain[-1]
    previous = previous_prompt_task(chain)
    deps = [keys.backbone(ds), keys.task_data(ds, task.name)] + [keys.task_text(ds, t.name) for t in chain]
    if previous is not None:
        deps.append(keys.prompt(ds, previous.name))
    code_version = f"{MODEL_CODE_VERSION}-{fingerprint(task.params.model_dump(), task.kind, task.metric)}"

    @asset(key=keys.prompt(ds, task.name), deps=deps, group_name=ds, code_version=code_version,
           automation_condition=automation, kinds=MODEL_KINDS)
    @stamped(lambda store: model_files(store.dataset(ds).task_parts_paths(task.name),
                                           store.dataset(ds).curve_path(task.name)))
    def prompt(context: AssetExecutionContext, store: StoreResource, experiment: ExperimentResource,
               torch_device: TorchResource) -> MaterializeResult:
        """This task's position-wise prompt, contextual-prompt module and adapter, trained on the frozen backbone."""
        from pcl_pipeline.stages.prompt import train_prompt
        from pcl_pipeline.training.context import TrainContext

        data = store.dataset(ds)
        reason = stages.not_applicable(data, task)
        if reason is not None:
            return MaterializeResult(metadata={"status": "not_applicable", "reason": reason},
                                     data_version=DataVersion(fingerprint("not_applicable", reason)))
        now = stages.applicable_chain(data, chain)  # a skipped earlier task is no link of the chain
        inherited = previous_prompt_task(now)
        init_from, lineage = None, {}
        if inherited is not None:
            prev_key = keys.prompt(ds, inherited.name)
            run_id = _latest_run(context, prev_key)
            init_from = {"asset": prev_key.to_user_string(), "run_id": run_id}
            lineage["init_from"] = MetadataValue.asset(prev_key)
            if run_id is not None:
                lineage["init_from_run"] = MetadataValue.dagster_run(run_id)
        else:
            lineage["init_from"] = MetadataValue.text("none: p_2 starts random (N(0, 0.02^2))")
        device = torch_device.pipeline_device()
        ctx = TrainContext(seed=experiment.seed, device=device, acceleration=torch_device.get_acceleration(device),
                           on_epoch=epoch_logger(context, f"valid {task.metric}", task.task_params.epochs))
        trained = train_prompt(data, now, ctx, init_from=init_from)
        data.save_curve(task.name, trained.curve_png)
        manifest = data.save_task_parts(task.name, trained.model, trained.manifest)
        return MaterializeResult(
            metadata={
                **lineage, "backbone": MetadataValue.asset(keys.backbone(ds)),
                "backbone_sha256": manifest["backbone"]["sha256"], "data_version": manifest["data_version"],
                "task_text_sha256": MetadataValue.json(manifest["text_sha256"]),
                "trainable_params": manifest["trainable_params"], "epochs": manifest["epochs_run"],
                "best_epoch": manifest["best_epoch"], f"valid_{manifest['selected_on']}": float(manifest[f"best_valid_{manifest['selected_on']}"]),
                "throughput_seq_per_s": float(manifest["throughput_seq_per_s"]),
                "wall_seconds": float(manifest["wall_seconds"]), "recipe": MetadataValue.json(manifest["recipe"]),
                "artifact": MetadataValue.path(str(data.task_parts_paths(task.name).tensors)),
                "sha256": manifest["sha256"], "curve": curve(trained.curve_png),
            },
            data_version=DataVersion(manifest["sha256"]),
        )

    return prompt
