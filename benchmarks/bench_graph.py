"""Wall time of the whole default graph, of each asset, training throughput, and the cost of
adding one task against the full run: the numbers behind README's "make run takes ..." claim.

    python benchmarks/bench_graph.py            # embedded default, both datasets, 8 tasks
    python benchmarks/bench_graph.py --scale 5

Runs in a temporary PCL_HOME / DAGSTER_HOME with a copy of the shipped catalog, so it never
touches your own artifacts. Baselines, measured in the same invocation: for the whole graph, the
same `make run` in one process with torch on every core (PCL_RUN_PROCESSES=1, PCL_TORCH_THREADS=
the cores: how make run ran before the datasets' chains got a process each; --no-baseline skips
it); for the add-task ratio, the full run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from _homes import temporary_home
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


def _step_table(instance, run_ids: list[str]) -> list[tuple[str, float]]:
    stats = [s for run_id in run_ids for s in instance.get_run_step_stats(run_id)]
    return sorted(((s.step_key, s.end_time - s.start_time) for s in stats if s.end_time), key=lambda r: -r[1])


def _runs_after(instance, seen: set[str]) -> list[str]:
    """The ids of the runs the instance holds that are not in `seen` (a make run may launch several)."""
    return [r.run_id for r in instance.get_runs() if r.run_id not in seen]


def _timed_run(cli, instance, home: Path, **env: str) -> tuple[float, list[str], dict]:
    """One `make run` into `home` under `env`: (seconds, the runs it launched, summary.json)."""
    import json

    os.environ["PCL_HOME"] = str(home)
    for key in ("PCL_RUN_PROCESSES", "PCL_TORCH_THREADS"):
        os.environ.pop(key, None)
    os.environ.update(env)
    seen = {r.run_id for r in instance.get_runs()}
    t0 = time.perf_counter()
    assert cli(["run"]) == 0
    seconds = time.perf_counter() - t0
    summary = json.loads((home / "reports" / "summary.json").read_text(encoding="utf-8"))
    return seconds, _runs_after(instance, seen), summary


def _metrics(summary: dict) -> dict[str, float]:
    return {f"{ds}/{task['name']}": task["metrics"][task["metric"]]
            for ds, report in summary["datasets"].items() for task in report["tasks"] if "metrics" in task}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-process baseline run")
    args = parser.parse_args()
    tmp = temporary_home("pcl-bench-", PCL_SYNTHETIC_SCALE=str(args.scale))

    from dagster import AssetKey, DagsterInstance

    from assets.cli import main as cli
    from assets.definitions import build_definitions
    from pcl_pipeline.settings import Settings, cpu_cores

    instance = DagsterInstance.get()
    baseline = None
    if not args.no_baseline:
        baseline = _timed_run(cli, instance, tmp / "home-one-process", PCL_RUN_PROCESSES="1",
                              PCL_TORCH_THREADS=str(cpu_cores()))
    full, full_runs, summary = _timed_run(cli, instance, tmp / "home")
    steps = _step_table(instance, full_runs)
    seen = {r.run_id for r in instance.get_runs()}
    t0 = time.perf_counter()
    assert cli(["run"]) == 0  # right after: nothing is missing or stale
    again = time.perf_counter() - t0
    assert not _runs_after(instance, seen), "the second make run launched a run"

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
    add_steps = _step_table(instance, [instance.get_runs(limit=1)[0].run_id])

    print(f"\n== whole default graph (scale {args.scale}, both datasets, 8 tasks): {full:.1f} s end to end, "
          f"{len(full_runs)} runs (a process per dataset, then the summary), "
          f"{Settings.from_env().pipeline_threads} torch thread(s) per process, {cpu_cores()} cores ==")
    if baseline is not None:
        seconds, runs, base_summary = baseline
        print(f"baseline, one process with {cpu_cores()} torch threads: {seconds:.1f} s -> "
              f"{seconds / full:.2f}x faster now")
        now, before = _metrics(summary), _metrics(base_summary)
        print(f"{'task':<28} {'metric now':>11} {'baseline':>9} {'change':>8}")
        for name in now:
            print(f"{name:<28} {now[name]:>11.4f} {before[name]:>9.4f} {now[name] - before[name]:>+8.4f}")
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
    assert {s for s, _ in add_steps} == {f"movielens__{role}_T5_age" for role in (
        "task_data", "task_text", "prompt", "eval", "predictions", "user_repr")} | {"movielens__report", "summary"}
    assert instance.get_latest_materialization_event(AssetKey(["movielens", "eval_T5_age"])) is not None
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
