"""Wall time of the whole default graph, of each asset, training throughput, and the cost of
adding one task against the full run: the numbers behind README's "make run takes ..." claim.

    python benchmarks/bench_graph.py            # embedded default, both datasets, 8 tasks
    python benchmarks/bench_graph.py --scale 5

Runs in a temporary PCL_HOME / DAGSTER_HOME with a copy of the shipped catalog, so it never
touches your own artifacts. Baseline for the add-task ratio: the full run in this process.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEW_TASK = """name: T5_age
dataset: movielens
kind: classification
order: 5
description: >-
  User age bracket prediction. Input: the user's movie rating sequence. Output: the user's age
  bracket from users.dat, a class label. Metric: accuracy.
label:
  source: users
  column: age
metric: accuracy
hyperparameters: {}
"""


def _step_table(instance, run_id: str) -> list[tuple[str, float]]:
    stats = instance.get_run_step_stats(run_id)
    return sorted(((s.step_key, s.end_time - s.start_time) for s in stats if s.end_time), key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pcl-bench-"))
    shutil.copytree(REPO / "tasks", tmp / "tasks")
    (tmp / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp / "dagster_home" / "dagster.yaml")
    os.environ.update({"PCL_HOME": str(tmp / "home"), "PCL_TASKS_DIR": str(tmp / "tasks"),
                       "DAGSTER_HOME": str(tmp / "dagster_home"), "PCL_SYNTHETIC_SCALE": str(args.scale),
                       "HF_HUB_OFFLINE": "1"})

    from dagster import AssetKey, DagsterInstance

    from assets.cli import main as cli
    from assets.definitions import build_definitions
    from pcl_pipeline.settings import Settings

    instance = DagsterInstance.get()
    t0 = time.perf_counter()
    assert cli(["run"]) == 0
    full = time.perf_counter() - t0
    full_run = instance.get_runs(limit=1)[0].run_id
    steps = _step_table(instance, full_run)
    t0 = time.perf_counter()
    assert cli(["run"]) == 0  # right after: nothing is missing or stale
    again = time.perf_counter() - t0
    assert instance.get_runs(limit=1)[0].run_id == full_run, "the second make run launched a run"

    throughput = []
    defs = build_definitions(Settings.from_env())
    for key in sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.to_user_string()):
        if len(key.path) > 1 and (key.path[1] == "backbone" or key.path[1].startswith("prompt_")):
            meta = instance.get_latest_materialization_event(key).asset_materialization.metadata
            throughput.append((key.to_user_string(), meta["throughput_seq_per_s"].value, meta["epochs"].value))

    new_file = tmp / "tasks" / "movielens" / "T5_age.yaml"
    new_file.write_text(NEW_TASK, encoding="utf-8")
    t0 = time.perf_counter()
    assert cli(["add-task", str(new_file)]) == 0
    added = time.perf_counter() - t0
    add_steps = _step_table(instance, instance.get_runs(limit=1)[0].run_id)

    print(f"\n== whole default graph (scale {args.scale}, both datasets, 8 tasks): {full:.1f} s end to end ==")
    print(f"{'asset step':<44} {'seconds':>8}")
    for step, seconds in steps:
        print(f"{step:<44} {seconds:>8.2f}")
    print(f"{'sum of steps':<44} {sum(s for _, s in steps):>8.2f}")
    print(f"\n== training throughput ==\n{'asset':<36} {'sequences/s':>12} {'epochs':>7}")
    for name, seq_s, epochs in throughput:
        print(f"{name:<36} {seq_s:>12.0f} {epochs:>7}")
    print("\n== adding one task (movielens/T5_age) ==")
    for step, seconds in add_steps:
        print(f"{step:<44} {seconds:>8.2f}")
    print(f"add-task end to end: {added:.1f} s = {added / full:.2f} x the full run ({full:.1f} s, the baseline)")
    print(f"\n== a second make run right after the first (nothing stale) ==\n{again:.1f} s = "
          f"{100 * again / full:.1f}% of the first run ({full:.1f} s, the baseline)")
    assert {s for s, _ in add_steps} == {"movielens__task_data_T5_age", "movielens__task_text_T5_age",
                                         "movielens__prompt_T5_age", "movielens__eval_T5_age", "movielens__report",
                                         "summary"}
    assert instance.get_latest_materialization_event(AssetKey(["movielens", "eval_T5_age"])) is not None
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
