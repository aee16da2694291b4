"""Scoring every user for every task: the predictions_<task> and user_repr_<task> writes, timed.

    make run && python benchmarks/bench_outputs.py --home .pcl          # the embedded default
    python benchmarks/bench_outputs.py --home .pcl --threads 1

Reads a materialized PCL_HOME (never writes into it: the outputs go to a copy of each dataset's
store under a temporary folder), scores every user of each dataset with each stored task (the
library functions the assets call) and prints users/s per task and output, the total, and the
peak RSS of this process. Target of issue 18: the embedded default's 8 tasks in under 10 s together.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch

from pcl_pipeline.serving import TaskPredictor
from pcl_pipeline.settings import DATASETS
from pcl_pipeline.stages.outputs import write_predictions, write_user_repr
from pcl_pipeline.store.artifact_store import ArtifactStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a materialized PCL_HOME (make run)")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for ds in DATASETS:
            source = ArtifactStore(args.home).dataset(ds)
            if not source.backbone_paths.manifest.exists():
                continue
            shutil.copytree(source.root, Path(tmp) / ds, ignore=shutil.ignore_patterns("embedded", "raw", "outputs"))
            store = ArtifactStore(Path(tmp)).dataset(ds)
            for task in TaskPredictor.tasks(store):
                for name, write in (("predictions", lambda s, t: write_predictions(s, t, args.k, cpu)),
                                    ("user_repr", lambda s, t: write_user_repr(s, t, cpu))):
                    t0 = time.perf_counter()
                    out = write(store, task)
                    seconds = time.perf_counter() - t0
                    total += seconds
                    rows.append((f"{ds}/{name}_{task}", out["users"], out["rows"], seconds))
    print(f"\nscoring every user, {torch.get_num_threads()} torch thread(s), k {args.k}, store {args.home}")
    print(f"{'output':<40} {'users':>8} {'rows':>9} {'seconds':>8} {'users/s':>9}")
    for name, users, n, seconds in rows:
        print(f"{name:<40} {users:>8} {n:>9} {seconds:>8.2f} {users / seconds:>9.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:.1f} s for {len(rows) // 2} tasks (target: the embedded default's 8 tasks < 10 s); "
          f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
