"""task_text_<task>: the frozen sentence encoder's embedding of each task's description."""

from dagster import AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from assets import keys
from assets.stamping import stamped
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.files import text_sha256
from pcl_pipeline.text_encoder import task_text as describe
from resources.store import StoreResource
from resources.text import TextEncoderResource


def text_asset(ds: str, task: TaskSpec, automation=None, encoder: str = "minilm") -> AssetsDefinition:
    # The code version is the text's hash (and the encoder kind when it is not the default):
    # editing a description or switching PCL_TEXT_ENCODER marks only this asset (and what reads
    # it) unsynced; a new task never touches the text assets of the old ones.
    text_hash = text_sha256(describe(task))
    version = text_hash[:16] if encoder == "minilm" else f"{text_hash[:16]}-{encoder}"

    @asset(key=keys.task_text(ds, task.name), group_name=ds, code_version=version,
           automation_condition=automation, kinds={"sentence_transformers", "json"})
    @stamped(lambda store: [store.dataset(ds).task_text_path(task.name)])
    def task_text(store: StoreResource, text_encoder: TextEncoderResource) -> MaterializeResult:
        """Sentence-transformer embedding of this task's description (input of the contextual prompt)."""
        record = embed_task(task, text_encoder.encoder(), text_encoder.name)
        data = store.dataset(ds)
        data.save_task_text(record)
        return MaterializeResult(
            metadata={"text": record["text"], "sha256": record["sha256"], "encoder": record["encoder"],
                      "dim": record["dim"], "task_file": MetadataValue.path(task.file),
                      "file": MetadataValue.path(str(data.task_text_path(task.name)))},
            data_version=DataVersion(f"{record['encoder']}:{record['sha256']}"),
        )

    return task_text
