"""The artifact store: every path under PCL_HOME and every save and load of the pipeline.

One class answers "where is it and how is it written": standard tables and task rows
(Parquet), task-text embeddings (JSON), the backbone and each task's parts (safetensors plus a
manifest), eval records, curves, reports and training checkpoints. Writes are atomic
(store.files.atomic_path), tensor files are hash-checked on load.

Layout under PCL_HOME (unchanged since the first release, so an existing home keeps working):

    <ds>/raw/<table>.parquet              standard tables read from the raw files
    <ds>/source.json                      what they were read from (the data fingerprint)
    <ds>/embedded/                        the embedded default's synthetic raw files
    <ds>/interactions.parquet, sequences.parquet
    <ds>/task_data/<task>.parquet, <task>.vocab.parquet
    <ds>/task_text/<task>.json
    <ds>/reference/<task>.json             a classification task's logistic-regression reference, per data version
    <ds>/backbone/backbone.safetensors, backbone.json
    <ds>/checkpoints/backbone.pt          only while a backbone run is interrupted
    <ds>/variants/<variant>/prompt/<task>.safetensors, <task>.json
    <ds>/variants/<variant>/eval/<task>.json, curves/<name>.png, checkpoints/<task>.pt, report.json
    <ds>/variants/<variant>/repr/<task>.parquet   user representations (the study's transfer experiment)
    <ds>/variants/<variant>/outputs/predictions_<task>.parquet, user_repr_<task>.parquet   every user, per task
    reports/summary.json, summary.md
    .ledger/<key>.json                    which run wrote each asset (store/ledger.py)
    reports/study.json, study.md          the reproduction study (pcl_pipeline/study)
    study/seed-<seed>/                    the study's own store per seed (data, backbone, a variant per method)
    study/results/<ds>/<part>.json        each study step's results (a method's runs, task orders, transfer)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from pcl_pipeline.catalog import TaskParams, TaskSpec
from pcl_pipeline.data.splits import NextItemData, TaskData, load_vocab
from pcl_pipeline.data.task_data import StageInputs, TaskDataPaths
from pcl_pipeline.model.pcl import PCLTaskModel, build_task_model
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.recipe import Architecture
from pcl_pipeline.store.artifacts import ArtifactError, ArtifactPaths, load_artifact, load_manifest, save_artifact
from pcl_pipeline.store.files import atomic_path, file_sha256, write_bytes, write_json, write_text

TEXTS_KEY = "texts"  # the description embeddings of tasks 1..k travel inside a task's artifact
DEFAULT_VARIANT = "default"


def read_json(path: Path, missing: str):
    """A stored JSON file; FileNotFoundError naming the path and `missing` (what to materialize) if absent."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: {missing}")
    return json.loads(path.read_text(encoding="utf-8"))


def variant_name(order: list[str] | None) -> str:
    """Artifacts of a non-default task order live apart from the default ones."""
    return DEFAULT_VARIANT if not order else "order-" + "-".join(order)


@dataclass(frozen=True)
class ArtifactStore:
    """PCL_HOME: one DatasetStore per dataset (and task-order variant), and the summary files."""

    home: Path

    def dataset(self, dataset: str, variant: str = DEFAULT_VARIANT) -> "DatasetStore":
        return DatasetStore(self.home, dataset, variant)

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def summary_json(self) -> Path:
        return self.reports_dir / "summary.json"

    @property
    def summary_md(self) -> Path:
        return self.reports_dir / "summary.md"

    def save_summary(self, summary: dict, markdown: str) -> None:
        """summary.json and summary.md (same content, for people); written by the summary step only."""
        write_json(self.summary_json, summary)
        write_text(self.summary_md, markdown)

    @property
    def study_json(self) -> Path:
        return self.reports_dir / "study.json"

    def save_study(self, study: dict, markdown: str, markdown_path: Path | None = None) -> Path:
        """reports/study.json, and its Markdown (reports/study.md unless markdown_path is given)."""
        write_json(self.study_json, study)
        target = markdown_path or self.reports_dir / "study.md"
        write_text(target, markdown)
        return target

    def load_study(self) -> dict:
        return json.loads(self.study_json.read_text(encoding="utf-8"))

    def study_part_path(self, dataset: str, part: str) -> Path:
        """One step's results of the study (a method's runs over the seeds, the task orders, ...)."""
        return self.home / "study" / "results" / dataset / f"{part}.json"

    def save_study_part(self, dataset: str, part: str, content) -> Path:
        path = self.study_part_path(dataset, part)
        write_json(path, content)
        return path

    def load_study_part(self, dataset: str, part: str):
        return read_json(self.study_part_path(dataset, part),
                         f"the study's {dataset} {part} results are missing; materialize the study group first "
                         f"(make study)")


@dataclass(frozen=True)
class DatasetStore:
    """Everything stored for one dataset; task-order variants keep their own task parts, evals and
    report, and share the data and the backbone."""

    home: Path
    dataset: str
    variant: str = DEFAULT_VARIANT

    # ---- data tables -------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.home / self.dataset

    @property
    def embedded_dir(self) -> Path:
        """Where the embedded default writes its synthetic files (in the official formats)."""
        return self.root / "embedded"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    def raw_tables(self) -> list[Path]:
        return sorted(self.raw_dir.glob("*.parquet"))

    @property
    def source_path(self) -> Path:
        """What raw_logs read (source, files with sizes and hashes, seed, scale): the data every
        number downstream names."""
        return self.root / "source.json"

    def save_source(self, record: dict) -> None:
        write_json(self.source_path, record)

    def load_source(self) -> dict:
        return read_json(self.source_path, f"the data source record is missing; materialize the raw_logs asset of "
                                           f"{self.dataset} first")

    @property
    def interactions(self) -> Path:
        return self.root / "interactions.parquet"

    @property
    def sequences(self) -> Path:
        return self.root / "sequences.parquet"

    def stage_inputs(self) -> StageInputs:
        return StageInputs(interactions=self.interactions, sequences=self.sequences, raw_dir=self.raw_dir)

    def task_data_paths(self, task: str) -> TaskDataPaths:
        folder = self.root / "task_data"
        return TaskDataPaths(rows=folder / f"{task}.parquet", vocab=folder / f"{task}.vocab.parquet")

    def task_data_version(self, task: str) -> str:
        """Content hash of a task's rows and vocabulary (the data version its models record)."""
        paths = self.task_data_paths(task)
        return file_sha256(paths.rows, paths.vocab)

    def n_backbone_items(self, t1: TaskSpec) -> int:
        return pq.read_metadata(self.task_data_paths(t1.name).vocab).num_rows

    def next_item_data(self, t1: TaskSpec) -> NextItemData:
        return NextItemData.load(self.task_data_paths(t1.name).rows, self.n_backbone_items(t1),
                                 t1.backbone_params.max_len)

    def task_data(self, task: TaskSpec, n_backbone_items: int, max_len: int) -> TaskData:
        paths = self.task_data_paths(task.name)
        return TaskData.load(task.kind, paths.rows, paths.vocab, max_len, n_backbone_items)

    # ---- task texts --------------------------------------------------------------------------
    def task_text_path(self, task: str) -> Path:
        return self.root / "task_text" / f"{task}.json"

    def save_task_text(self, record: dict) -> None:
        write_json(self.task_text_path(record["task"]), record)

    def load_texts(self, tasks: list[TaskSpec]) -> tuple[torch.Tensor, dict[str, str]]:
        """Description embeddings of `tasks` in order -> (k, text_dim), and their text hashes."""
        rows, hashes = [], {}
        for task in tasks:
            record = read_json(self.task_text_path(task.name), f"task text embedding missing; materialize the "
                                                               f"task_text asset of {self.dataset}/{task.name} first")
            rows.append(np.asarray(record["embedding"], dtype=np.float32))
            hashes[task.name] = record["sha256"]
        return torch.from_numpy(np.stack(rows)), hashes

    # ---- the backbone ------------------------------------------------------------------------
    @property
    def backbone_paths(self) -> ArtifactPaths:
        return ArtifactPaths.at(self.root / "backbone", "backbone")

    @property
    def backbone_checkpoint(self) -> Path:
        """The backbone is shared by every task-order variant, and so is its checkpoint."""
        return self.root / "checkpoints" / "backbone.pt"

    def save_backbone(self, model: SASRec, manifest: dict) -> dict:
        return save_artifact(self.backbone_paths, model.state_dict(), manifest)

    def load_backbone(self, device: torch.device) -> tuple[SASRec, dict]:
        """The stored backbone, frozen and in eval mode, after strict shape and hash checks."""
        manifest = load_manifest(self.backbone_paths)
        model = SASRec(SASRecConfig(**manifest["model_config"]))
        tensors, manifest = load_artifact(self.backbone_paths,
                                          {k: tuple(v.shape) for k, v in model.state_dict().items()})
        model.load_state_dict(tensors, strict=True)
        model.requires_grad_(False)
        return model.to(device).eval(), manifest

    # ---- each task's parts (prompt, contextual module, adapter) ------------------------------
    @property
    def variant_dir(self) -> Path:
        return self.root / "variants" / self.variant

    def task_parts_paths(self, task: str) -> ArtifactPaths:
        return ArtifactPaths.at(self.variant_dir / "prompt", task)

    def save_task_parts(self, task: str, model: PCLTaskModel, manifest: dict) -> dict:
        """The task's trainable tensors plus the text embeddings it was trained with."""
        tensors = dict(model.task_state())
        tensors[TEXTS_KEY] = model.texts
        return save_artifact(self.task_parts_paths(task), tensors, manifest)

    def load_task_tensors(self, task: str) -> tuple[dict[str, torch.Tensor], dict]:
        """A task's stored tensors and manifest (hash- and shape-checked against its manifest)."""
        return load_artifact(self.task_parts_paths(task))

    def load_task_model(self, task: str, device: torch.device) -> tuple[PCLTaskModel, dict]:
        """Task k's stored parts around the stored backbone, checked strictly against the model shapes.
        The manifest's "architecture" says what the artifact holds (prompts; the backbone, for a
        method that trained it, loaded from the artifact too), so any method's artifact loads here."""
        backbone, backbone_manifest = self.load_backbone(device)
        paths = self.task_parts_paths(task)
        manifest = load_manifest(paths)
        if manifest["backbone"]["sha256"] != backbone_manifest["sha256"]:
            raise ArtifactError(f"{paths.tensors}: trained on backbone {manifest['backbone']['sha256'][:12]}..., "
                                f"but the stored backbone is {backbone_manifest['sha256'][:12]}...; "
                                f"re-materialize this task's prompt asset")
        params, to_backbone = self.stored_head(task, manifest, backbone.cfg.n_items)
        architecture = Architecture.of(manifest)
        k = len(manifest["chain"])
        placeholder = torch.zeros(k, manifest["tensors"][TEXTS_KEY][1])
        model = build_task_model(backbone, manifest["kind"], manifest["n_targets"], params, placeholder, None,
                                 to_backbone, with_prompt=architecture.prompt,
                                 train_backbone=architecture.backbone_in_artifact)
        expected = {key: tuple(v.shape) for key, v in model.task_state().items()}
        expected[TEXTS_KEY] = tuple(placeholder.shape)
        tensors, manifest = load_artifact(paths, expected)
        model.texts = tensors.pop(TEXTS_KEY)
        model.load_state_dict(tensors, strict=False)
        if architecture.backbone_in_artifact:
            model.backbone.requires_grad_(False)  # loaded to be scored: nothing trains it any more
        return model.to(device).eval(), manifest

    def stored_head(self, task: str, manifest: dict, n_items: int) -> tuple[TaskParams, torch.Tensor | None]:
        """What rebuilds a stored task's head besides its tensors: the params its manifest records
        (fields that no longer exist, such as backbone_lr before methods kept their own knobs, are
        dropped) and, for an item task, target id -> backbone item id (the backbone's scores as the
        item adapter's prior), rebuilt from the task's vocabulary; None otherwise."""
        params = TaskParams(**{k: v for k, v in manifest["params"].items() if k in TaskParams.model_fields})
        to_backbone = None
        if manifest["kind"] == "item_rec":
            _, _, to_backbone = load_vocab("item_rec", self.task_data_paths(task).vocab, n_items)
        return params, to_backbone

    def load_encoder(self, task: str, device: torch.device) -> SASRec:
        """The backbone stored in a task's artifact (methods that train it), frozen, in eval mode."""
        backbone, _ = self.load_backbone(device)
        tensors, _ = load_artifact(self.task_parts_paths(task))
        prefix = "backbone."
        backbone.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                                 strict=True)
        return backbone.requires_grad_(False).to(device).eval()

    # ---- checkpoints, curves, eval records, the dataset's report -----------------------------
    def checkpoint(self, task: str) -> Path:
        """A task's training checkpoint (only while a run is interrupted)."""
        return self.variant_dir / "checkpoints" / f"{task}.pt"

    def curve_path(self, name: str) -> Path:
        return self.variant_dir / "curves" / f"{name}.png"

    def save_curve(self, name: str, png: bytes) -> Path:
        path = self.curve_path(name)
        write_bytes(path, png)
        return path

    def eval_path(self, task: str) -> Path:
        return self.variant_dir / "eval" / f"{task}.json"

    def save_eval(self, task: str, record: dict) -> None:
        write_json(self.eval_path(task), record)

    def load_eval(self, task: str) -> dict:
        return read_json(self.eval_path(task), f"eval record missing; materialize the eval asset of "
                                               f"{self.dataset}/{task} first")

    def reference_path(self, task: str) -> Path:
        """A classification task's logistic-regression reference (it depends on the data only, so
        every variant shares it), with the key it was computed for."""
        return self.root / "reference" / f"{task}.json"

    def load_reference(self, task: str, key: str) -> dict | None:
        """The stored reference of `task` if it was computed for `key` (reference_key), else None."""
        path = self.reference_path(task)
        if not path.exists():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        return record["reference"] if record.get("key") == key else None

    def save_reference(self, task: str, key: str, reference: dict) -> dict:
        write_json(self.reference_path(task), {"key": key, "reference": reference})
        return reference

    def predictions_path(self, task: str) -> Path:
        """Every user's answer from the task's model (the predictions_<task> asset)."""
        return self.variant_dir / "outputs" / f"predictions_{task}.parquet"

    def user_repr_output_path(self, task: str) -> Path:
        """Every user's representation from the task's model, the one its adapter reads (the
        user_repr_<task> asset; the study's transfer export is user_repr_path)."""
        return self.variant_dir / "outputs" / f"user_repr_{task}.parquet"

    def user_repr_path(self, task: str) -> Path:
        """Users' representations from this variant's task model (user_idx, split, repr list<float>)."""
        return self.variant_dir / "repr" / f"{task}.parquet"

    def save_user_repr(self, task: str, table) -> Path:
        path = self.user_repr_path(task)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @property
    def report_path(self) -> Path:
        return self.variant_dir / "report.json"

    def save_report(self, report: dict) -> None:
        write_json(self.report_path, report)

    def load_report(self) -> dict:
        return read_json(self.report_path, f"report missing; materialize the report asset of {self.dataset} first")
