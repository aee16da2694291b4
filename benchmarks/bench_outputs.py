"""Scoring every user for every task: the predictions_<task> and user_repr_<task> writes, timed.

    make run && python benchmarks/bench_outputs.py --home .pcl          # the embedded default
    python benchmarks/bench_outputs.py --home .pcl --threads 1
    python benchmarks/bench_outputs.py --scale 30 --threads 2           # a larger MovieLens log

Reads a materialized PCL_HOME (never writes into it: the outputs go to a copy of each dataset's
store under a temporary folder), scores every user of each dataset with each stored task (the
library functions the assets call) and prints users/s per task and output, the total, and the
peak RSS of this process. Target of issue 18: the embedded default's 8 tasks in under 10 s together.

--scale S builds its own MovieLens store at PCL_SYNTHETIC_SCALE S instead (the real data stages),
trains T1 and T4_gender for --epochs (default 1: a throughput measurement, not a quality one) and
scores those two tasks; the users/s it prints extrapolate to the 634,276 users of the 25M-rating
log of benchmarks/bench_data_scale.py (printed as an estimate, not a measurement).
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
from pcl_pipeline.training.context import TrainContext


def build_store(home: Path, scale: float, epochs: int) -> Path:
    """A MovieLens store at `scale` with T1 and T4_gender trained for `epochs` (throughput only)."""
    import duckdb
    import yaml

    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.settings import default_tasks_dir
    from pcl_pipeline.stages import data as stages
    from pcl_pipeline.stages.backbone import train_backbone
    from pcl_pipeline.stages.prompt import train_prompt
    from pcl_pipeline.stages.text import embed_task
    from pcl_pipeline.text_encoder import RandomTextEncoder

    catalog = home / "tasks"
    for src in sorted((default_tasks_dir() / "movielens").glob("*.yaml")):
        spec = yaml.safe_load(src.read_text(encoding="utf-8"))
        spec["hyperparameters"] = {**spec["hyperparameters"], "epochs": epochs, "patience": epochs}
        (catalog / "movielens").mkdir(parents=True, exist_ok=True)
        (catalog / "movielens" / src.name).write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    tasks = load_catalog(catalog, "movielens")
    t1, t4 = tasks[0], next(t for t in tasks if t.kind == "classification")
    store = ArtifactStore(home).dataset("movielens")
    t0 = time.perf_counter()
    stages.prepare_tables(duckdb.connect(), store, [t1, t4], None, seed=0, scale=scale)
    for task in (t1, t4):
        store.save_task_text(embed_task(task, RandomTextEncoder(), "random"))
    cpu = torch.device("cpu")
    trained = train_backbone(store, t1, TrainContext(seed=0, device=cpu))
    store.save_backbone(trained.model, trained.manifest)
    task = train_prompt(store, [t1, t4], TrainContext(seed=0, device=cpu), init_from=None)
    store.save_task_parts(t4.name, task.model, task.manifest)
    print(f"built a MovieLens store at scale {scale:g} ({trained.manifest['train_sequences']:,} T1 training "
          f"sequences; T1 and {t4.name} trained {epochs} epoch(s)) in {time.perf_counter() - t0:.0f} s")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a materialized PCL_HOME (make run)")
    parser.add_argument("--scale", type=float, help="build a MovieLens store at this scale instead of --home")
    parser.add_argument("--epochs", type=int, default=1, help="with --scale: training epochs of T1 and T4")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.home is None) == (args.scale is None):
        parser.error("give --home or --scale")
    cpu = torch.device("cpu")
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if args.scale is not None:
            args.home = build_store(Path(tmp) / "built", args.scale, args.epochs)
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
    if args.scale is not None:
        for name, users, _, seconds in rows:
            print(f"{name}: {users / seconds:.0f} users/s -> the 25M-rating log's 634,276 users in about "
                  f"{634_276 * seconds / users:.0f} s (estimate, by extrapolation)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:.1f} s for {len(rows) // 2} tasks (target: the embedded default's 8 tasks < 10 s); "
          f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
