"""<ds>/backbone: SASRec pretrained on T1, frozen for every later task."""

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.metadata import curve, flat_metrics, metrics_table
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.common import fingerprint
from pcl_pipeline.storage import file_sha256
from resources.compute import TorchResource
from resources.storage import PCLStorage

MODEL_CODE_VERSION = "1"  # bump when model or training code changes


def backbone_asset(ds: str, t1: TaskSpec, automation=None) -> AssetsDefinition:
    @asset(key=keys.backbone(ds), deps=[keys.task_data(ds, t1.name)], group_name=ds,
           code_version=f"{MODEL_CODE_VERSION}-{fingerprint(t1.params.model_dump())}", automation_condition=automation)
    def backbone(context: AssetExecutionContext, storage: PCLStorage, torch_device: TorchResource) -> MaterializeResult:
        """SASRec pretrained on T1 next-item prediction, with its T1 test metrics beside popularity."""
        layout = storage.layout(ds)
        paths = layout.task_data(t1.name)
        device = torch_device.get_device()
        manifest = train_backbone(layout, t1, seed=storage.seed, device=device,
                                  data_version=file_sha256(paths.rows, paths.vocab),
                                  on_epoch=lambda r: context.log.info(f"epoch {r['epoch']}: loss {r['loss']:.4f} "
                                                                      f"valid ndcg@10 {r['valid']:.4f}"))
        test = manifest["test"]
        return MaterializeResult(
            metadata={**flat_metrics(test), "metrics": metrics_table(test["metrics"], test["baselines"], "popularity"),
                      "cold_start_n": test["cold_start"]["n"], "trainable_params": manifest["trainable_params"],
                      "init_from": "none (pretrained from scratch on T1)", "epochs": manifest["epochs_run"],
                      "best_epoch": manifest["best_epoch"], "device": manifest["device"],
                      "throughput_seq_per_s": float(manifest["throughput_seq_per_s"]),
                      "wall_seconds": float(manifest["wall_seconds"]), "artifact": str(layout.backbone.tensors),
                      "sha256": manifest["sha256"], "curve": curve(manifest["curve_png_base64"]),
                      "model_config": MetadataValue.json(manifest["model_config"])},
            data_version=DataVersion(manifest["sha256"]),
        )

    return backbone
