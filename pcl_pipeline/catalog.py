"""The task catalog: one YAML file per task, validated against a typed schema.

A task file names its dataset, kind and order, carries the description that the sentence
encoder reads, says how labels are built from the dataset's standard tables, and may override
hyperparameters. See docs/tasks.md for the reference.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from pcl_pipeline.errors import InputError
from pcl_pipeline.model.arch import SASRecArch
from pcl_pipeline.settings import DATASETS

Kind = Literal["next_item", "item_rec", "classification"]
RANKING_METRICS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "auc")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(_Strict):
    """Keep source rows where `column op value` holds (the value is bound as a SQL parameter)."""

    column: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    op: Literal["==", "!=", ">=", ">", "<=", "<"]
    value: float


class Label(_Strict):
    """How a task's rows are built from the dataset's standard tables (docs/formats.md)."""

    source: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")  # standard table the events/labels come from
    filter: Filter | None = None  # rows of `source` that count (e.g. like == 1, rating >= 4)
    # next_item only: fraction of each user's chronological history that forms the behaviour
    # sequence; later item tasks may take their targets from the rest (no label leaks into T1).
    history_cut: float | None = Field(default=None, gt=0.0, le=1.0)
    after_history_cut: bool = False  # item_rec: targets only from events after the T1 cut
    min_events: int = Field(default=5, ge=4)  # next_item: users with fewer source events are dropped
    column: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")  # classification label
    drop_values: tuple[str, ...] = ()  # classification: label values that mean "unknown"

    @field_validator("drop_values", mode="before")
    @classmethod
    def _as_strings(cls, value: object) -> object:
        return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else value


class BackboneParams(SASRecArch):
    """SASRec pretraining on T1 (defaults from PAPER.md): the architecture fields of SASRecArch
    (hidden, blocks, heads, max_len, dropout) plus these training fields."""

    # schedule (issue item 7, exp-sched): a higher peak lr after a 2-epoch linear warm-up, halved
    # after every 2 epochs without a better validation NDCG@10; after 3 cuts and one more flat
    # stretch training has converged and stops. The epoch cap is only a safety net.
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=128, ge=1)
    epochs: int = Field(default=100, ge=1)  # cap; convergence (max_decays) or patience ends training first
    patience: int = Field(default=10, ge=1)  # epochs without validation NDCG@10 improvement before stopping (T1 validation is noisy)
    warmup_epochs: int = Field(default=2, ge=0)  # linear lr warm-up: epoch e <= warmup_epochs trains at lr * e / (warmup_epochs + 1)
    decay_patience: int | None = Field(default=2, ge=1)  # multiply lr by decay_factor after this many epochs without improvement (None: constant lr)
    decay_factor: float = Field(default=0.5, gt=0, lt=1)
    # stop after this many cuts and one more plateau (None: patience only); a third cut found no
    # better state on any of 6 backbones checked (docs/results.md), so 2 gives the same best states
    max_decays: int | None = Field(default=2, ge=0)
    sampled_softmax_above: int = Field(default=50_000, ge=1)  # vocabulary size above which T1 uses sampled softmax
    num_negatives: int = Field(default=1024, ge=1)  # negatives per batch for the sampled softmax
    # "ce": softmax cross-entropy at every position (ours); "bce": the original SASRec recipe,
    # binary cross-entropy with one uniformly sampled negative per position (the reference)
    loss: Literal["ce", "bce"] = "ce"


class TaskParams(_Strict):
    """Prompt-and-adapter tuning for a task after T1."""

    prompt_len: int = Field(default=8, ge=1)  # t: number of last positions that receive the prompt
    lam: float = Field(default=0.1, ge=0)  # lambda: weight of the contextual prompt; 0 = no contextual module
    # p_k starts from the trained p_{k-1} for k >= 3 (PAPER.md); False: p_k random for every k (ablation)
    inherit_prompt: bool = True
    context_heads: int = Field(default=2, ge=1)  # heads of the contextual-prompt attention
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=128, ge=1)
    epochs: int = Field(default=40, ge=1)
    patience: int = Field(default=5, ge=1)  # epochs without validation improvement before stopping
    adapter_hidden: int = Field(default=64, ge=1)  # classification MLP width (d or 2d -> hidden -> C)
    adapter_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)  # classification MLP dropout
    # item tasks in T1's item space: scores = frozen backbone item scores + a residual table that
    # starts at zero (False: the adapter's own table from noise, the paper's bare linear head)
    item_prior: bool = True
    pool: Literal["last", "mean_last"] = "mean_last"  # classification input: last state, or [mean, last]
    input_items: bool = False  # classification (with pool mean_last): adapter owns a bag-of-input-items table
    class_balanced: bool = True  # classification: cross-entropy weighted by inverse class frequency
    # classification model selection on validation: AUC (binary) or log-loss, never accuracy
    select_on: Literal["auc", "log_loss"] = "log_loss"


class TaskSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    dataset: str
    kind: Kind
    order: int = Field(ge=1)
    description: str = Field(min_length=10)
    label: Label
    metric: str
    hyperparameters: dict = Field(default_factory=dict)  # overrides, as written in the file
    _file: str = PrivateAttr(default="")  # the YAML file it was read from, for error messages
    _params: BackboneParams | TaskParams | None = PrivateAttr(default=None)  # typed, validated at load

    @property
    def file(self) -> str:
        return self._file or f"tasks/{self.dataset}/{self.name}.yaml"

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset {value!r}; expected one of {', '.join(DATASETS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "TaskSpec":
        allowed = RANKING_METRICS if self.kind != "classification" else CLASSIFICATION_METRICS
        if self.metric not in allowed:
            raise ValueError(f"metric {self.metric!r} does not fit kind {self.kind}; expected one of {allowed}")
        if (self.kind == "next_item") != (self.order == 1):
            raise ValueError("the next_item task is T1 and must have order 1 (and only it)")
        if self.kind == "classification" and self.label.column is None:
            raise ValueError("a classification task needs label.column")
        if self.kind != "classification" and self.label.column is not None:
            raise ValueError("label.column is only for classification tasks")
        if self.label.history_cut is not None and self.kind != "next_item":
            raise ValueError("label.history_cut belongs to the next_item task (T1)")
        if self.label.after_history_cut and self.kind != "item_rec":
            raise ValueError("label.after_history_cut is only for item_rec tasks")
        model = BackboneParams if self.kind == "next_item" else TaskParams
        try:
            self._params = model(**self.hyperparameters)  # validated now, not at training time
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"hyperparameters.{name}: {first['msg']}; allowed for kind {self.kind}: "
                             f"{', '.join(model.model_fields)}") from None
        return self

    @property
    def params(self) -> BackboneParams | TaskParams:
        """The typed hyperparameters (defaults plus the file's overrides), built once at load."""
        assert self._params is not None
        return self._params

    @property
    def backbone_params(self) -> BackboneParams:
        """T1's hyperparameters; an error for any other task."""
        if not isinstance(self._params, BackboneParams):
            raise TypeError(f"task {self.name} is {self.kind}; only the next_item task has backbone params")
        return self._params

    @property
    def task_params(self) -> TaskParams:
        """A later task's prompt-and-adapter hyperparameters; an error for T1."""
        if not isinstance(self._params, TaskParams):
            raise TypeError(f"task {self.name} is {self.kind}; it has no prompt-and-adapter params")
        return self._params


def load_task_file(path: Path) -> TaskSpec:
    """Parse and validate one task file; any problem is an InputError naming the file and field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "task file not found", expected="a YAML file tasks/<dataset>/<name>.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, f"not valid YAML ({getattr(exc, 'problem', exc)})",
                         line=mark.line + 1 if mark else None, expected="a YAML mapping") from exc
    if not isinstance(data, dict):
        raise InputError(path, "task file is not a mapping", value=type(data).__name__,
                         expected="keys name, dataset, kind, order, description, label, metric")
    try:
        task = TaskSpec(**data)
        task._file = str(path)
        return task
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        expected = _EXPECTED.get(first["loc"][0] if first["loc"] else "", None)
        value = first.get("input") if first["type"] != "missing" else None
        problem = "missing required field" if first["type"] == "missing" else first["msg"]
        raise InputError(path, problem, field=field, value=value if not isinstance(value, dict) else None,
                         expected=expected) from exc
    except TypeError as exc:
        raise InputError(path, str(exc), expected="keys name, dataset, kind, order, description, label, metric") from exc


_EXPECTED = {
    "kind": "one of next_item, item_rec, classification",
    "dataset": f"one of {', '.join(DATASETS)}",
    "order": "an integer >= 1",
    "name": "letters, digits and '_' starting with a letter",
    "metric": f"one of {', '.join(RANKING_METRICS)} (item tasks) or {', '.join(CLASSIFICATION_METRICS)}",
    "description": "a text of at least 10 characters",
    "label": "a mapping with source and filter/column (docs/tasks.md)",
}


def load_catalog(tasks_dir: Path, dataset: str, order: list[str] | None = None) -> list[TaskSpec]:
    """All tasks of `dataset` from tasks_dir/<dataset>/*.yaml, sorted by order.

    `order`, when given, is a permutation of the task names after T1 (task order is data): the
    tasks are renumbered 2, 3, ... in that order, for robustness studies.
    """
    folder = Path(tasks_dir) / dataset
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise InputError(folder, "no task files", expected="at least tasks/<dataset>/<T1>.yaml of kind next_item")
    tasks: list[TaskSpec] = []
    seen: dict[str, Path] = {}
    orders: dict[int, Path] = {}
    for path in files:
        task = load_task_file(path)
        if task.dataset != dataset:
            raise InputError(path, f"task is filed under tasks/{dataset}/ but names another dataset",
                             field="dataset", value=task.dataset, expected=dataset)
        if task.name in seen:
            raise InputError(path, f"duplicate task name (also in {seen[task.name]})", field="name",
                             value=task.name, expected="a name unique within the dataset")
        if task.order in orders:
            raise InputError(path, f"duplicate task order (also in {orders[task.order]})", field="order",
                             value=task.order, expected="a distinct order per task")
        seen[task.name] = path
        orders[task.order] = path
        tasks.append(task)
    tasks.sort(key=lambda t: t.order)
    if tasks[0].kind != "next_item":
        raise InputError(folder, "the catalog has no next_item task (T1)", expected="one task of kind next_item, order 1")
    if order is not None:
        tasks = _reorder(folder, tasks, order)
    return tasks


def _reorder(folder: Path, tasks: list[TaskSpec], order: list[str]) -> list[TaskSpec]:
    later = {t.name: t for t in tasks[1:]}
    if sorted(order) != sorted(later):
        raise InputError(folder, "task order is not a permutation of the tasks after T1", value=order,
                         expected=f"a permutation of {sorted(later)}")
    reordered = [tasks[0]]
    for i, name in enumerate(order):
        task = later[name].model_copy(update={"order": i + 2})
        task._file = later[name].file
        reordered.append(task)
    return reordered


def previous_prompt_task(chain: list[TaskSpec]) -> TaskSpec | None:
    """The task whose trained prompt p_{k-1} initialises p_k: none for the first task after T1."""
    return chain[-2] if len(chain) >= 3 else None


def check_new_task(tasks_dir: Path, path: Path) -> TaskSpec:
    """Validate a task file against the catalog it is about to join: a new name, placed after the
    current last task (adding in the middle would change the inheritance chain of later tasks
    and so retrain them). Returns the task."""
    task = load_task_file(path)
    folder = Path(tasks_dir) / task.dataset
    existing = [t for t in load_catalog(tasks_dir, task.dataset)
                if Path(t.file).resolve() != Path(path).resolve()]
    last = max(existing, key=lambda t: t.order)
    for other in existing:
        if other.name == task.name:
            raise InputError(path, f"a task of this name is already in the catalog ({other.file})", field="name",
                             value=task.name, expected="a new task name")
    if task.order <= last.order:
        raise InputError(path, f"the task is not placed after the current last task ({last.name}, order {last.order})",
                         field="order", value=task.order, expected=f"an order > {last.order}")
    if task.kind == "next_item":
        raise InputError(path, "the catalog already has its next_item task (T1)", field="kind", value=task.kind,
                         expected="item_rec or classification")
    target = folder / Path(path).name
    if target.exists() and target.resolve() != Path(path).resolve():
        raise InputError(path, f"{target} already exists", expected="a file name not used in the catalog")
    return task
