"""A throw-away PCL home for a benchmark: a temporary folder with a copy of the shipped task
catalog and Dagster instance settings, so a benchmark never touches your own artifacts."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def temporary_home(prefix: str, **env: str) -> Path:
    """A new temporary folder holding tasks/ (a copy of the catalog) and dagster_home/; sets
    PCL_HOME (<folder>/home), PCL_TASKS_DIR, DAGSTER_HOME, HF_HUB_OFFLINE and `env` in os.environ."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.copytree(REPO / "tasks", tmp / "tasks")
    (tmp / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp / "dagster_home" / "dagster.yaml")
    os.environ.update({"PCL_HOME": str(tmp / "home"), "PCL_TASKS_DIR": str(tmp / "tasks"),
                       "DAGSTER_HOME": str(tmp / "dagster_home"), "HF_HUB_OFFLINE": "1", **env})
    return tmp
