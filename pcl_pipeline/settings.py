"""Settings read from the environment at the edge (never deep inside the library)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATASETS = ("tenrec", "movielens")
_PATH_ENV = {"tenrec": "PCL_TENREC_PATH", "movielens": "PCL_MOVIELENS_PATH"}


@dataclass(frozen=True)
class Settings:
    home: Path  # PCL_HOME: artifacts, Parquet tables, reports
    data_paths: dict[str, Path | None]  # real data folder per dataset; None = embedded default
    tasks_dir: Path  # the task catalog: tasks/<dataset>/*.yaml
    synthetic_scale: float  # PCL_SYNTHETIC_SCALE: multiplies the embedded default's users
    seed: int  # PCL_SEED: one seed for data generation, splits and training
    task_orders: dict[str, list[str]]  # PCL_TASK_ORDER_<DS>: tasks after T1 in another order (robustness)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        paths: dict[str, Path | None] = {}
        for ds, var in _PATH_ENV.items():
            value = env.get(var, "").strip()
            paths[ds] = Path(value).expanduser().resolve() if value else None
        return cls(
            home=Path(env.get("PCL_HOME", ".pcl")).expanduser().resolve(),
            data_paths=paths,
            tasks_dir=Path(env.get("PCL_TASKS_DIR", str(default_tasks_dir()))).expanduser().resolve(),
            synthetic_scale=float(env.get("PCL_SYNTHETIC_SCALE", "1.0")),
            seed=int(env.get("PCL_SEED", "0")),
            task_orders={ds: [n.strip() for n in env[f"PCL_TASK_ORDER_{ds.upper()}"].split(",") if n.strip()]
                         for ds in DATASETS if env.get(f"PCL_TASK_ORDER_{ds.upper()}", "").strip()},
        )

    def source_label(self, dataset: str) -> str:
        """'embedded' or the real data path, as reported in metadata and summary.json."""
        path = self.data_paths.get(dataset)
        return "embedded" if path is None else str(path)


def variant_name(order: list[str] | None) -> str:
    """Artifacts of a non-default task order live apart from the default ones."""
    return "default" if not order else "order-" + "-".join(order)


def default_tasks_dir() -> Path:
    """The catalog shipped with the project (tasks/ beside the package)."""
    return Path(__file__).resolve().parent.parent / "tasks"
