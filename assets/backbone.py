"""<ds>/backbone: SASRec pretrained on T1, frozen for every later task."""

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.metadata import curve, epoch_logger, flat_metrics, metrics_table
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.store.files import fingerprint
from resources.compute import TorchResource
from resources.experiment import ExperimentResource
from resources.store import StoreResource

MODEL_CODE_VERSION = "3"  # bump when model or training code changes (2: item prior, pooled classifier, lr schedule;
# 3: fused attention, fused Adam, logits without the padding column)
MODEL_KINDS = {"pytorch", "safetensors"}


# On Kubernetes (dagster-k8s executor or run launcher) the backbone step asks for one GPU; other
# executors ignore the tag (docs/deployment.md).
GPU_TAGS = {"dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}}


def model_files(paths, curve) -> list:
    """What a model asset writes: its tensors, its manifest and its training curve."""
    return [paths.tensors, paths.manifest, curve]


def backbone_asset(ds: str, t1: TaskSpec, automation=None) -> AssetsDefinition:
    @asset(key=keys.backbone(ds), deps=[keys.task_data(ds, t1.name)], group_name=ds, op_tags=GPU_TAGS,
           code_version=f"{MODEL_CODE_VERSION}-{fingerprint(t1.params.model_dump())}", automation_condition=automation,
           kinds=MODEL_KINDS)
    @stamped(lambda store: model_files(store.dataset(ds).backbone_paths, store.dataset(ds).curve_path("backbone")))
    def backbone(context: AssetExecutionContext, store: StoreResource, experiment: ExperimentResource,
                 torch_device: TorchResource) -> MaterializeResult:
        """SASRec pretrained on T1 next-item prediction, with its T1 test metrics beside popularity."""
        from pcl_pipeline.stages.backbone import train_backbone
        from pcl_pipeline.training.context import TrainContext

        data = store.dataset(ds)
        device = torch_device.pipeline_device()
        ctx = TrainContext(seed=experiment.seed, device=device, acceleration=torch_device.get_acceleration(device),
                           on_epoch=epoch_logger(context, "valid ndcg@10", t1.backbone_params.epochs))
        trained = train_backbone(data, t1, ctx, processes=torch_device.ddp_processes, backend=torch_device.ddp_backend)
        data.save_curve("backbone", trained.curve_png)
        manifest = data.save_backbone(trained.model, trained.manifest)
        test = manifest["test"]
        return MaterializeResult(
            metadata={**flat_metrics(test), "metrics": metrics_table(test["metrics"], test["baselines"], "popularity"),
                      "cold_start_n": test["cold_start"]["n"], "trainable_params": manifest["trainable_params"],
                      "init_from": "none (pretrained from scratch on T1)", "epochs": manifest["epochs_run"],
                      "best_epoch": manifest["best_epoch"], "device": manifest["device"],
                      "throughput_seq_per_s": float(manifest["throughput_seq_per_s"]),
                      "wall_seconds": float(manifest["wall_seconds"]), "recipe": MetadataValue.json(manifest["recipe"]),
                      "artifact": MetadataValue.path(str(data.backbone_paths.tensors)),
                      "sha256": manifest["sha256"], "curve": curve(trained.curve_png),
                      "model_config": MetadataValue.json(manifest["model_config"])},
            data_version=DataVersion(manifest["sha256"]),
        )

    return backbone
