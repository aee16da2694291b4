"""The bag-of-items logistic-regression reference of the classification tasks: as it ran before
(BLAS on every core, fitted in every eval), on one BLAS thread, and read back from the store (it
is kept per task data version). Same process, same data, same grid of C; prints seconds, ratios
and that the chosen C and the test metrics are identical.

    .venv/bin/python benchmarks/bench_reference.py [--scale 1.0] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from pcl_pipeline.catalog import load_catalog  # noqa: E402
from pcl_pipeline.evaluation import reference as ref  # noqa: E402
from pcl_pipeline.stages import data as stages  # noqa: E402
from pcl_pipeline.stages.evaluate import reference as cached_reference  # noqa: E402
from pcl_pipeline.store.artifact_store import ArtifactStore  # noqa: E402
from pcl_pipeline.settings import default_tasks_dir  # noqa: E402


def _as_shipped(data, n_items: int, seed: int) -> dict:
    """The reference as it ran before: BLAS threads left at the library default (all cores)."""
    with threadpool_limits(limits=None):
        whole = ref._fit_reference(data.train, data.valid, data.test, n_items, data.n_targets, seed=seed,
                                   grid=ref.C_GRID)
        last = ref._fit_reference(*(s.last_only() for s in (data.train, data.valid, data.test)), n_items,
                                  data.n_targets, seed=seed, grid=ref.C_GRID)
    return {**whole, "last_L": {k: last[k] for k in ("C", "metrics")}}


def _timed(fn, repeats: int) -> tuple[float, dict]:
    seconds, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    threads = max((p.get("num_threads", 1) for p in threadpool_info()), default=1)
    print(f"cores {os.cpu_count()}, BLAS/OpenMP threads by default {threads}; embedded default at scale {args.scale}")
    with tempfile.TemporaryDirectory() as tmp:
        for ds in ("movielens", "tenrec"):
            tasks = load_catalog(default_tasks_dir(), ds)
            store = ArtifactStore(Path(tmp)).dataset(ds)
            stages.prepare_tables(duckdb.connect(), store, tasks, None, seed=0, scale=args.scale)
            t1 = tasks[0]
            n_items = store.n_backbone_items(t1)
            for task in (t for t in tasks if t.kind == "classification"):
                data = store.task_data(task, n_items, t1.backbone_params.max_len)
                shipped_s, shipped = _timed(lambda: _as_shipped(data, n_items, 0), args.repeats)
                pinned_s, pinned = _timed(lambda: ref.logistic_reference(data.train, data.valid, data.test, n_items,
                                                                         data.n_targets, seed=0), args.repeats)
                cached_reference(store, task, data, n_items, 0)  # the first eval of this data version fits
                cached_s, cached = _timed(lambda: cached_reference(store, task, data, n_items, 0), args.repeats)
                same = (shipped["C"], shipped["metrics"]) == (pinned["C"], pinned["metrics"]) == \
                       (cached["C"], cached["metrics"])
                print(f"{ds}/{task.name}: {len(data.train)} train rows, {data.n_targets} classes, {n_items} items; "
                      f"14 fits as shipped {shipped_s:.2f} s, one BLAS thread {pinned_s:.2f} s "
                      f"({shipped_s / pinned_s:.2f}x), read back per data version {cached_s * 1000:.1f} ms "
                      f"({shipped_s / cached_s:.0f}x); same C and test metrics: {same}")


if __name__ == "__main__":
    main()
