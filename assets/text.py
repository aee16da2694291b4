"""task_text/<task>: the frozen sentence encoder's embedding of each task's description."""

from dagster import AssetsDefinition, DataVersion, MaterializeResult, asset

from assets import keys
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.storage import text_sha256
from pcl_pipeline.text_encoder import task_text as describe
from resources.storage import PCLStorage
from resources.text import TextEncoderResource


def text_asset(ds: str, task: TaskSpec, automation=None) -> AssetsDefinition:
    # The code version is the text's hash: editing a description marks only this asset (and what
    # reads it) unsynced; a new task never touches the text assets of the old ones.
    text_hash = text_sha256(describe(task))

    @asset(key=keys.task_text(ds, task.name), group_name=ds, code_version=text_hash[:16],
           automation_condition=automation)
    def task_text(storage: PCLStorage, text_encoder: TextEncoderResource) -> MaterializeResult:
        """Sentence-transformer embedding of this task's description (input of the contextual prompt)."""
        record = embed_task(storage.layout(ds), task, text_encoder.encoder(), text_encoder.name)
        return MaterializeResult(
            metadata={"text": record["text"], "sha256": record["sha256"], "encoder": record["encoder"],
                      "dim": record["dim"], "task_file": task.file},
            data_version=DataVersion(f"{record['encoder']}:{record['sha256']}"),
        )

    return task_text
