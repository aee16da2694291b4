"""Host work of the whole default graph: the seconds of `make run` spent outside the training and
evaluation loops, split out by step (issue 17's 2-core target: <= 6 s at scale 3).

    python benchmarks/bench_host.py                  # synthetic scale 3, random text encoder
    python benchmarks/bench_host.py --scale 1 --text-encoder minilm

One `python -m assets.cli run --force` into a temporary PCL_HOME/DAGSTER_HOME, in this process
(PCL_RUN_PROCESSES=1: the two datasets' chains one after another, so every second of the wall
time belongs to exactly one part) on one torch thread. The loops are timed where they run, by
wrapping the functions that hold them: training (`training.loop.fit`: every epoch's steps and
validation), evaluation (the three test protocols of `evaluation.protocol` and the logistic-
regression reference) and scoring every user (`TaskPredictor`'s encoded scoring, for the
predictions_/user_repr_ outputs). Host = wall - loops: imports and definitions, Dagster's run and
event bookkeeping, the data steps, task texts, model and data loading, artifact writes, plots.
The baseline of the ratio is the whole run's wall time, measured in the same call.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import defaultdict

from _homes import temporary_home

TARGET_HOST_SECONDS = 6.0
# (module, attribute) of each timed loop, by part
LOOPS = {
    "training": [("pcl_pipeline.training.loop", "fit")],
    "evaluation": [("pcl_pipeline.evaluation.protocol", "evaluate_next_item"),
                   ("pcl_pipeline.evaluation.protocol", "evaluate_ranking"),
                   ("pcl_pipeline.evaluation.protocol", "evaluate_classification"),
                   ("pcl_pipeline.evaluation.reference", "logistic_reference")],
    "scoring users": [("pcl_pipeline.serving.predictor", "TaskPredictor.recommend_encoded"),
                      ("pcl_pipeline.serving.predictor", "TaskPredictor.probabilities_encoded"),
                      ("pcl_pipeline.serving.predictor", "TaskPredictor.embed_encoded")],
}


def wrap_loops(intervals: list[tuple[str, float, float]]) -> None:
    """Replace every timed function, in its module and wherever a module imported it by name,
    with a wrapper that appends (part, start, end) in epoch seconds; a loop called inside
    another timed loop counts once (the outer one)."""
    import importlib

    depth = {"n": 0}

    def timed(part, function):
        def wrapper(*args, **kwargs):
            depth["n"] += 1
            start = time.time()
            try:
                return function(*args, **kwargs)
            finally:
                depth["n"] -= 1
                if depth["n"] == 0:
                    intervals.append((part, start, time.time()))
        wrapper.__wrapped__ = function
        return wrapper

    for part, targets in LOOPS.items():
        for module_name, attribute in targets:
            module = importlib.import_module(module_name)
            if "." in attribute:
                cls_name, method = attribute.split(".")
                cls = getattr(module, cls_name)
                setattr(cls, method, timed(part, getattr(cls, method)))
                continue
            original = getattr(module, attribute)
            wrapper = timed(part, original)
            for name, loaded in list(sys.modules.items()):
                if name.startswith(("pcl_pipeline", "assets", "resources")) and \
                        getattr(loaded, attribute, None) is original:
                    setattr(loaded, attribute, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--text-encoder", default="random", choices=("random", "minilm"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    tmp = temporary_home("pcl-host-", PCL_SYNTHETIC_SCALE=str(args.scale), PCL_TEXT_ENCODER=args.text_encoder,
                         PCL_RUN_PROCESSES="1", PCL_TORCH_THREADS="1")
    t_start = time.time()
    t0 = time.perf_counter()
    from dagster import DagsterInstance

    from assets.cli import main as cli
    import assets.definitions  # noqa: F401  (the code location, as `make run` loads it)
    import pcl_pipeline.serving.predictor  # noqa: F401
    import pcl_pipeline.stages.evaluate  # noqa: F401
    imports = time.perf_counter() - t0

    intervals: list[tuple[str, float, float]] = []
    wrap_loops(intervals)
    instance = DagsterInstance.get()
    t0 = time.perf_counter()
    run_start = time.time()
    assert cli(["run", "--force"]) == 0
    wall = time.perf_counter() - t0
    loops = defaultdict(float)
    for part, start, end in intervals:
        loops[part] += end - start
    host = wall - sum(loops.values())

    steps = [s for r in instance.get_runs() for s in instance.get_run_step_stats(r.run_id) if s.end_time]
    rows = []
    for s in steps:
        inside = sum(min(end, s.end_time) - max(start, s.start_time) for _, start, end in intervals
                     if start < s.end_time and end > s.start_time)
        rows.append((s.step_key, s.end_time - s.start_time, inside))
    in_steps = sum(duration for _, duration, _ in rows)
    print(f"\n== host work of the whole default graph: scale {args.scale:g}, text encoder {args.text_encoder}, "
          f"one process, one torch thread, {os.cpu_count()} cores ==")
    print(f"imports before the run (dagster, torch, the definitions module): {imports:.1f} s (not in the wall below)")
    print(f"make run (python -m assets.cli run --force): {wall:.1f} s wall, the baseline of the shares")
    for part, seconds in loops.items():
        print(f"  {part + ' loops':<28} {seconds:7.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"  {'host (the rest)':<28} {host:7.1f} s  {100 * host / wall:5.1f}%   target <= {TARGET_HOST_SECONDS:g} s: "
          f"{'met' if host <= TARGET_HOST_SECONDS else 'NOT met'}")
    print(f"    outside any step (definitions, run start and end, planning): {wall - in_steps:.1f} s")
    print(f"    inside steps, outside loops: {in_steps - sum(i for _, _, i in rows):.1f} s; by step:")
    print(f"    {'step':<40} {'step s':>7} {'loops s':>8} {'host s':>7}")
    for key, duration, inside in sorted(rows, key=lambda r: -(r[1] - r[2])):
        print(f"    {key:<40} {duration:7.2f} {inside:8.2f} {duration - inside:7.2f}")
    print(f"(run started {run_start - t_start:.1f} s after the process)")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
