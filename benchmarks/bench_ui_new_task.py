"""A new task in the UI, timed by parts: `dagster dev` (automation on, the shipped sensors) on a
materialized embedded default; a task file is dropped into tasks/movielens/ and the script
prints how long each part of the way to summary.json took.

    python benchmarks/bench_ui_new_task.py [--state DIR] [--settle 45] [--drops 5] [--seed 0]

Parts (wall clock, from the moment the file is written):
  noticed    the file sensor's tick that saw the file began (Dagster's sensor daemon evaluates
             sensors at most every 5 s: this part is 0-5 s, by chance)
  reload     the code location reloaded with the new task (its eval asset answers in GraphQL)
  requested  the run of the new task's assets was created (launched by the file sensor in the
             tick that reloaded, or requested by a later tick of either sensor: the run's tags
             say which)
  started    the run's process was up (Dagster launches one process per run)
  finished   the run ended; its steps are listed with their seconds (training: the prompt step)
  summary    summary.json names the new task
--state reuses a folder that holds a materialized home (first use: `pcl run` fills it, ~1 min
on 2 cores, timed and printed apart); each drop adds a task of its own name (T5_age_<n>), which
stays in the folder's catalog and home; --reset starts the folder over.

Where the drop falls between two sensor ticks decides the first part, so one server takes
--drops files one after another, each after a seeded random wait of 0-10 s, and the script
prints every drop and the median, min and max of every part (the period of the file sensor's
ticks too: the daemon's loop is 5 s).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pcl_pipeline.catalog import load_catalog  # noqa: E402
from ui_server import free_port, start_ui  # noqa: E402

NEW_TASK = """name: {name}
dataset: movielens
kind: classification
order: {order}
description: User age bracket prediction from the rating sequence. Metric accuracy.
label: {{source: users, column: age}}
metric: accuracy
"""
ASSET = """query ($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { __typename } }"""
RUNS = """
query ($after: Float!) {
  runsOrError(filter: {createdAfter: $after}) {
    ... on Runs { results { runId status creationTime startTime endTime tags { key value }
                            assetSelection { path } } }
  }
}
"""
TICKS = """
query ($selector: InstigationSelector!) {
  instigationStateOrError(instigationSelector: $selector) {
    ... on InstigationState { ticks(limit: 10) { timestamp endTimestamp status skipReason runIds } }
  }
}
"""
STEP_DONE = re.compile(r'Finished execution of step "([^"]+)" in ([0-9.]+)(ms|s)')
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _step_seconds(log: str, run_id: str) -> list[tuple[str, float]]:
    """(step, seconds) of the run's steps in order, from the server log's STEP_SUCCESS lines."""
    found = [STEP_DONE.search(line) for line in log.splitlines() if run_id in line]
    return [(m.group(1), float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)) for m in found if m]


def materialize(state: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "assets.cli", "run"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pcl run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def drop(ui, state: Path, tasks: Path, timeout: float) -> dict:
    """Write one new task file, wait for summary.json to name it; its marks (epoch seconds), run
    and steps."""
    name = f"T5_age_{int(time.time() * 10) % 10_000_000}"  # a name of its own per drop
    new_eval = ["movielens", f"eval_{name}"]
    order = 1 + max(t.order for t in load_catalog(tasks, "movielens"))  # last in the chain
    summary = state / "pcl_home" / "reports" / "summary.json"
    t0 = time.time()
    (tasks / "movielens" / f"{name}.yaml").write_text(NEW_TASK.format(name=name, order=order), encoding="utf-8")
    marks: dict[str, float] = {"drop": t0}
    run = None
    deadline = time.monotonic() + timeout
    while "summary" not in marks and time.monotonic() < deadline:
        now = time.time()
        if "reload" not in marks:
            node = ui.graphql(ASSET, {"path": new_eval})["assetNodeOrError"]
            if node["__typename"] == "AssetNode":
                marks["reload"] = now
        runs = [r for r in ui.graphql(RUNS, {"after": t0})["runsOrError"]["results"]
                if new_eval in [a["path"] for a in r["assetSelection"] or []]]
        if runs:
            run = min(runs, key=lambda r: r["creationTime"])
            if run["status"] in FINISHED and run["status"] != "SUCCESS":
                raise SystemExit(f"run {run['runId']} ended {run['status']}\n{ui.log_tail()}")
        if summary.exists() and name in summary.read_text(encoding="utf-8"):
            marks["summary"] = now
        time.sleep(0.25)
    if run is None or "summary" not in marks:
        raise SystemExit(f"no summary with {name} after {timeout:.0f} s\n{ui.log_tail()}")
    while run["endTime"] is None and time.monotonic() < deadline:  # the summary is the run's last step
        time.sleep(0.25)
        run = next(r for r in ui.graphql(RUNS, {"after": t0})["runsOrError"]["results"] if r["runId"] == run["runId"])
    every = ui.graphql(RUNS, {"after": t0})["runsOrError"]["results"]
    ticks = _ticks(ui)
    seen = [t for t in ticks if name in (t["skipReason"] or "") and "reloaded" in (t["skipReason"] or "")]
    if seen:  # the tick that saw the file (the file sensor's skip reason names it)
        marks["noticed"] = min(t["timestamp"] for t in seen)
    marks.update(requested=run["creationTime"], started=run["startTime"], finished=run["endTime"])
    return {"name": name, "marks": marks, "run": run, "runs": len(every),
            "steps": _step_seconds(ui.log_path.read_text(errors="replace"), run["runId"])}


def _ticks(ui) -> list[dict]:
    selector = {"repositoryLocationName": "assets.definitions", "repositoryName": "__repository__",
                "name": "new_task_files"}
    return ui.graphql(TICKS, {"selector": selector})["instigationStateOrError"]["ticks"]


PARTS = ("noticed", "reload", "requested", "started", "finished", "summary")


def report(result: dict) -> dict[str, float]:
    """Print one drop; its parts' seconds (each from the previous mark) and the total."""
    marks, run = result["marks"], result["run"]
    t0 = marks["drop"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    by = tags.get("dagster/sensor_name") or tags.get("pcl/requested_by", "?")
    print(f"\n== drop tasks/movielens/{result['name']}.yaml -> summary.json: {marks['summary'] - t0:.1f} s "
          "(target <= 15 s) ==")
    parts, previous = {}, t0
    for part in [p for p in PARTS if p in marks]:
        parts[part] = marks[part] - previous
        print(f"{part:<10} at {marks[part] - t0:6.1f} s  (+{parts[part]:5.1f} s)")
        previous = marks[part]
    print(f"runs after the drop: {result['runs']} (one is the target: no duplicate from the two sensors)")
    print(f"run {run['runId'][:8]} requested by {by}: {len(run['assetSelection'])} assets: "
          + ", ".join("/".join(a["path"]) for a in run["assetSelection"]))
    for step, seconds in result["steps"]:
        print(f"  {step:<46} {seconds:6.1f} s")
    return {**parts, "total": marks["summary"] - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, help="folder of a materialized home to reuse (default: a new temp one)")
    parser.add_argument("--reset", action="store_true", help="delete --state's homes first")
    parser.add_argument("--settle", type=float, default=45.0,
                        help="seconds the idle UI runs before the first drop (the automation sensor's first ticks)")
    parser.add_argument("--drops", type=int, default=5, help="task files dropped one after another")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 0-10 s waits before each drop")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    state = args.state or Path(tempfile.mkdtemp(prefix="pcl-ui-bench-"))
    if args.reset:
        for sub in ("pcl_home", "dagster_home", "tasks"):
            shutil.rmtree(state / sub, ignore_errors=True)
    tasks = state / "tasks"
    if not tasks.exists():
        shutil.copytree(REPO / "tasks", tasks)
    (state / "dagster_home").mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "dagster_home" / "dagster.yaml", state / "dagster_home" / "dagster.yaml")
    env = {**os.environ, "PCL_HOME": str(state / "pcl_home"), "DAGSTER_HOME": str(state / "dagster_home"),
           "PCL_TASKS_DIR": str(tasks), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if not (state / "pcl_home" / "reports" / "summary.json").exists():
        print(f"materializing the embedded default into {state} (pcl run) ...", flush=True)
        print(f"  pcl run: {materialize(state, env):.1f} s", flush=True)

    waits = random.Random(args.seed)
    port = free_port()  # the file sensor reloads the code location through this webserver
    with start_ui(state, env={"PCL_TASKS_DIR": str(tasks), "PCL_AUTOMATION": "on",
                              "PCL_WEBSERVER_PORT": str(port)}, port=port) as ui:
        print(f"dagster dev up on {ui.url}; idle for {args.settle:.0f} s", flush=True)
        idle_from = time.time()
        time.sleep(args.settle)
        idle_runs = ui.graphql(RUNS, {"after": idle_from})["runsOrError"]["results"]
        starts = sorted(t["timestamp"] for t in _ticks(ui) if t["timestamp"] >= idle_from)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        print(f"idle: {len(idle_runs)} runs; the file sensor ticked {len(starts)} times, every "
              f"{statistics.median(gaps) if gaps else float('nan'):.1f} s (median)", flush=True)
        results = []
        for _ in range(args.drops):
            time.sleep(waits.uniform(0.0, 10.0))
            results.append(drop(ui, state, tasks, args.timeout))
    rows = [report(r) for r in results]
    print(f"\n== {len(rows)} drops (seed {args.seed}): median (min-max) seconds ==")
    for part in [*[p for p in PARTS if all(p in r for r in rows)], "total"]:
        values = [r[part] for r in rows]
        print(f"{part:<10} {statistics.median(values):5.1f}  ({min(values):.1f}-{max(values):.1f})")
    print(json.dumps({"total_s": [round(r["total"], 2) for r in rows],
                      "median_total_s": round(statistics.median(r["total"] for r in rows), 2)}))


if __name__ == "__main__":
    main()
