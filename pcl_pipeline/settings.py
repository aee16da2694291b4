"""Every PCL_* setting, read from the environment once, typed and validated, in this one module.

Nothing else in the project reads os.environ: the composition root builds `Settings.from_env()`
and passes the values down (into Dagster resources, sensors and the schedule). A bad value is an
error naming the variable, the value and the expected form.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Mapping

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pcl_pipeline.errors import SettingsError

DATASETS = ("tenrec", "movielens")


def default_tasks_dir() -> Path:
    """The catalog shipped with the project (tasks/ beside the package)."""
    return Path(__file__).resolve().parent.parent / "tasks"


def default_dagster_home() -> Path:
    """The checkout's own Dagster instance folder: only the default of $DAGSTER_HOME."""
    return Path(__file__).resolve().parent.parent / "dagster_home"


TaskOrder = Annotated[tuple[str, ...], NoDecode]  # "T3,T2,T4" in the environment


class Settings(BaseSettings):
    """PCL_<FIELD> for every field below (e.g. PCL_HOME, PCL_SEED, PCL_TASK_ORDER_TENREC), and
    Dagster's own DAGSTER_HOME."""

    model_config = SettingsConfigDict(env_prefix="PCL_", frozen=True, extra="ignore", env_ignore_empty=True)

    home: Path = Field(default=Path(".pcl"), description="a folder for artifacts, tables and reports")
    dagster_home: Path = Field(default_factory=default_dagster_home,
                               validation_alias=AliasChoices("DAGSTER_HOME", "dagster_home"),
                               description="DAGSTER_HOME: the Dagster instance's folder (runs, events); "
                               "unset = the checkout's dagster_home/")
    movielens_path: Path | None = Field(default=None, description="a folder with real MovieLens files; "
                                        "unset = the embedded default")
    tenrec_path: Path | None = Field(default=None, description="a folder with real Tenrec files; "
                                     "unset = the embedded default")
    tasks_dir: Path = Field(default_factory=default_tasks_dir, description="the task catalog folder "
                            "(tasks/<dataset>/*.yaml)")
    synthetic_scale: float = Field(default=1.0, gt=0, description="a number > 0 that multiplies the "
                                   "embedded default's users")
    seed: int = Field(default=0, ge=0, description="an integer >= 0 (data generation, splits, training)")
    task_order_movielens: TaskOrder = Field(default=(), description="comma-separated task names after T1")
    task_order_tenrec: TaskOrder = Field(default=(), description="comma-separated task names after T1")
    study_seeds: Annotated[tuple[int, ...], NoDecode] = Field(default=(0, 1, 2), description="comma-separated "
                                                              "integers >= 0: the seeds of the reproduction study")
    study_tuning_seed: int = Field(default=100, ge=0, description="an integer >= 0 not among PCL_STUDY_SEEDS: "
                                   "the study's tuning seed (each method's settings are chosen on its validation "
                                   "split; it is trained, never reported)")
    duckdb_memory_limit: str = Field(default="2GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
                                     description="a size such as 2GB: DuckDB's memory_limit (it spills to "
                                     "$PCL_HOME/.duckdb_spill beyond it)")
    ddp_processes: int = Field(default=1, ge=1, description="an integer >= 1: processes of data-parallel "
                               "backbone pretraining under torchrun (1 = one process)")
    text_encoder: Literal["minilm", "random"] = Field(default="minilm", description="minilm or random: the "
                                                      "task-description encoder (random: seeded vectors, for "
                                                      "machines without the MiniLM weights)")
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$", description="auto, cpu, cuda "
                        "or cuda:N: where training and evaluation run (auto: CUDA when available)")
    acceleration: Literal["auto", "on", "off"] = Field(default="auto", description="auto, on or off: the "
                                                       "large-batch GPU recipe (auto: on for CUDA, off on CPUs)")
    torch_compile: bool = Field(default=False, description="on or off: torch.compile T1's loss when the "
                                "large-batch recipe is on (CUDA: CUDA graphs)")
    ddp_backend: Literal["auto", "gloo", "nccl"] = Field(default="auto", description="auto, gloo or nccl "
                                                         "(auto: nccl on GPUs, gloo on CPUs)")
    outputs: bool = Field(default=True, description="on or off: the per-task predictions_<task> and "
                          "user_repr_<task> assets (every user scored by every task)")
    predictions_k: int = Field(default=20, ge=1, description="an integer >= 1: items per user in the item "
                               "tasks' predictions_<task> assets")
    run_processes: int = Field(default=0, ge=0, description="an integer >= 0: processes of `make run`, each "
                               "materializing one dataset's chain (0 = auto: one per dataset in the run, at most "
                               "one per CPU core; 1 = everything in one process)")
    torch_threads: int = Field(default=0, ge=0, description="an integer >= 0: torch's CPU threads in the "
                               "pipeline's training and evaluation (0 = auto: the CPU cores / the datasets, "
                               "so that make run's processes, one per dataset, share the cores)")
    study_datasets: Annotated[tuple[str, ...], NoDecode] = Field(default=DATASETS, description="comma-separated "
                                                                 "dataset names: the datasets of the study")
    study_workers: int = Field(default=2, ge=1, description="an integer >= 1: study steps run at once "
                               "(each with cores / workers torch threads)")
    study_markdown: Path | None = Field(default=None, description="where the study's Markdown report goes; "
                                        "unset = $PCL_HOME/reports/study.md")
    automation: bool = Field(default=True, description="on or off: whether the automation sensor starts "
                             "running")
    retrain_cron: str = Field(default="0 3 * * *", description="a cron expression for scheduled retraining")
    webserver_host: str = Field(default="127.0.0.1", description="the host of the Dagster webserver that "
                                "the new-task sensor asks to reload")
    webserver_port: int = Field(default=3000, ge=1, le=65535, description="a TCP port 1..65535")
    code_location: str = Field(default="assets.definitions", description="the code location's name "
                               "in the webserver")

    @field_validator("task_order_movielens", "task_order_tenrec", "study_datasets", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("study_datasets", mode="after")
    @classmethod
    def _datasets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in DATASETS]
        if not value or unknown:
            raise ValueError(f"expected dataset names among {', '.join(DATASETS)}")
        return value

    @field_validator("study_seeds", mode="before")
    @classmethod
    def _int_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(v) for v in (s.strip() for s in value.split(",")) if v) or None
        return value

    @field_validator("study_seeds", mode="after")
    @classmethod
    def _seeds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v < 0 for v in value):
            raise ValueError("expected at least one integer >= 0")
        return value

    @model_validator(mode="after")
    def _tuning_seed_apart(self) -> "Settings":
        if self.study_tuning_seed in self.study_seeds:
            raise ValueError(f"PCL_STUDY_TUNING_SEED {self.study_tuning_seed} is one of PCL_STUDY_SEEDS "
                             f"{','.join(map(str, self.study_seeds))}: expected a seed that is never reported")
        return self

    @field_validator("home", "dagster_home", "movielens_path", "tenrec_path", "tasks_dir", "study_markdown", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The settings from the process environment (or from `env`, for tests and tools)."""
        try:
            if env is None:
                return cls()
            fields = {name[len("PCL_"):].lower(): value for name, value in env.items()
                      if name.upper().startswith("PCL_") and value != ""}
            fields = {k: v for k, v in fields.items() if k in cls.model_fields and k != "dagster_home"}
            if env.get("DAGSTER_HOME"):
                fields["dagster_home"] = env["DAGSTER_HOME"]
            return cls.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            info = cls.model_fields.get(field)
            raise SettingsError(f"PCL_{field.upper()}", first.get("input"), first["msg"],
                                info.description if info else None) from None

    @property
    def data_paths(self) -> dict[str, Path | None]:
        """Real data folder per dataset; None = the embedded default."""
        return {"movielens": self.movielens_path, "tenrec": self.tenrec_path}

    @property
    def pipeline_threads(self) -> int:
        """Torch's CPU threads in every pipeline run: PCL_TORCH_THREADS, or the cores / the datasets.
        Fixed by the machine and the settings, never by what a run selects: an artifact's bytes
        depend on the thread count (float sums), and it is recorded in every manifest."""
        return self.torch_threads or max(1, cpu_cores() // len(DATASETS))

    @property
    def task_orders(self) -> dict[str, list[str]]:
        """Datasets whose tasks after T1 run in another order than the catalog's (robustness)."""
        orders = {"movielens": self.task_order_movielens, "tenrec": self.task_order_tenrec}
        return {ds: list(order) for ds, order in orders.items() if order}


def torchrun_process() -> tuple[int, int, int]:
    """(rank, world size, local rank) of this process, as torchrun sets them in the environment."""
    try:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError) as exc:
        raise SettingsError("RANK/WORLD_SIZE", None, f"not set by torchrun ({exc})",
                            "integers set by torchrun: start this module with torchrun") from None


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with `overrides`, for a child process (torchrun); an override
    already set in the environment keeps its value there."""
    return {**os.environ, **{k: v for k, v in overrides.items() if k not in os.environ}}
