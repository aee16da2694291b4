"""Data at scale: the DuckDB steps and the training-data build on a MovieLens log of ~25M ratings
(ML-25M size, written by the embedded default's generator at PCL_SYNTHETIC_SCALE ~1060), beside a
pandas implementation of the same transform (the baseline), each in its own process so its peak
RSS is its own.

    python benchmarks/bench_data_scale.py [--ratings 25e6] [--memory-limit 2GB]
    python benchmarks/bench_data_scale.py --tenrec [--rows 120e6]   # the Tenrec-sized check

Pipeline process: read + validate ratings/users/movies (formats), interactions (T1 events:
first (user, item) event, seeded tie order, positions, the 80% history cut), sequences (one row
per user, the user split), every movielens task's rows, and the training data (train, valid and
test tensors, data/splits.py) of T1 and of every later task, all held at once. DuckDB runs with memory_limit and a temp_directory to spill to.
Baseline process: pandas reads ratings.dat and computes the same interactions and sequences
(ties broken by pandas' own hash of (seed, user, item) instead of md5: same work, same rows
per user; the order inside equal timestamps may differ). Prints seconds, rows/s and peak RSS
(ru_maxrss of the process; for the pipeline also after each step) for both, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RATINGS_AT_SCALE_1 = 23_649  # ratings.dat lines the generator writes at scale 1 (seed 0)

PIPELINE = r"""
import json, sys, time, resource
from pathlib import Path
import duckdb
from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.artifact_store import ArtifactStore

folder, home, tmp, limit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
tasks = load_catalog(Path(sys.argv[5]), "movielens")
store = ArtifactStore(home).dataset("movielens")
def connect():  # one connection per step, closed after it, as each asset does with DuckDBResource
    return duckdb.connect(config={"memory_limit": limit, "temp_directory": tmp, "preserve_insertion_order": True})
steps, rss = {}, {}
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
con = connect(); t0 = time.perf_counter(); info = stages.ingest_raw(con, store, folder, seed=0, scale=1.0); con.close(); steps["read + validate"] = time.perf_counter() - t0; rss["read + validate"] = peak()
con = connect(); t0 = time.perf_counter(); n_inter = stages.interactions(con, store, tasks[0], seed=0); con.close(); steps["interactions"] = time.perf_counter() - t0; rss["interactions"] = peak()
con = connect(); t0 = time.perf_counter(); n_seq = stages.sequences(con, store, seed=0); con.close(); steps["sequences"] = time.perf_counter() - t0; rss["sequences"] = peak()
con = connect(); t0 = time.perf_counter()
rows = {t.name: stages.task_data(con, store, t, tasks[0], seed=0) for t in tasks}
con.close()
steps["task rows (4 tasks)"] = time.perf_counter() - t0; rss["task rows (4 tasks)"] = peak()
t0 = time.perf_counter()
t1_data = store.next_item_data(tasks[0])  # as the backbone step loads it
held = {t.name: store.task_data(t, t1_data.n_items, 50) for t in tasks[1:]}  # all at once: stricter than one step
held[tasks[0].name] = t1_data
split_rows = {name: {s: len(getattr(d, s)) for s in ("train", "valid", "test")} for name, d in held.items()}
distinct = {name: int(d.train.sequences.shape[0]) for name, d in held.items()}
steps["training tensors (4 tasks, 3 splits)"] = time.perf_counter() - t0; rss["training tensors (4 tasks, 3 splits)"] = peak()
print(json.dumps({"steps": steps, "rss": rss, "ratings": info["rows"]["ratings"], "interactions": n_inter,
                  "users": n_seq, "task_rows": rows, "split_rows": split_rows, "distinct_train_inputs": distinct,
                  "peak_rss_mb": peak()}))
"""

PANDAS = r"""
import json, sys, time, resource
import numpy as np
import pandas as pd
ratings_file = sys.argv[1]
steps = {}
t0 = time.perf_counter()
# '::' is two ':' separators around an empty field: the C parser reads it at full speed
df = pd.read_csv(ratings_file, sep=":", header=None, usecols=[0, 2, 4, 6], engine="c",
                 names=["user_id", "e1", "item_id", "e2", "rating", "e3", "timestamp"],
                 dtype={"user_id": np.int64, "item_id": np.int64, "rating": np.float64, "timestamp": np.int64})
steps["read"] = time.perf_counter() - t0
n_ratings = len(df)
t0 = time.perf_counter()
df["line"] = np.arange(1, len(df) + 1)
df["tie"] = pd.util.hash_pandas_object(df[["user_id", "item_id"]].assign(seed=0), index=False).to_numpy()
df = df.sort_values(["user_id", "timestamp", "tie", "line"], kind="stable")
df = df.drop_duplicates(["user_id", "item_id"], keep="first")
df["pos"] = df.groupby("user_id").cumcount()
df["n_events"] = df.groupby("user_id")["item_id"].transform("size")
df = df[df["n_events"] >= 10].copy()
df["hist_len"] = np.floor(0.8 * df["n_events"]).astype(np.int64)
df["user_idx"] = df["user_id"].rank(method="dense").astype(np.int64)
df["item_idx"] = df["item_id"].rank(method="dense").astype(np.int64)
steps["interactions"] = time.perf_counter() - t0
n_inter = len(df)
t0 = time.perf_counter()
hist = df[df["pos"] < df["hist_len"]]
seqs = hist.groupby("user_idx")["item_idx"].agg(list)
seqs = seqs[seqs.map(len) >= 4]
order = pd.util.hash_pandas_object(pd.Series(seqs.index), index=False).to_numpy().argsort()
frac = np.empty(len(seqs)); frac[order] = np.arange(len(seqs)) / len(seqs)
split = np.where(frac < 0.8, "train", np.where(frac < 0.85, "valid", "test"))
out = pd.DataFrame({"user_idx": seqs.index, "items": seqs.values, "split": split})
steps["sequences"] = time.perf_counter() - t0
print(json.dumps({"steps": steps, "ratings": n_ratings, "interactions": n_inter, "users": len(out),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# Tenrec-sized check (--tenrec): the embedded generator's lifelong files at ~120M rows, every
# data step in one process as the assets run them (a connection each), no baseline: the targets
# are absolute (<= 10 minutes, peak RSS <= 4 GB on 2 cores).
TENREC_ROWS_AT_SCALE_1 = 45_864  # task_0..task_3 data lines the generator writes at scale 1 (seed 0)
TENREC_PIPELINE = r"""
import json, sys, time, resource
from pathlib import Path
import duckdb
from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.artifact_store import ArtifactStore

folder, home, tmp, limit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
tasks = load_catalog(Path(sys.argv[5]), "tenrec")
store = ArtifactStore(home).dataset("tenrec")
steps, rss = {}, {}
def step(name, fn):
    con = duckdb.connect(config={"memory_limit": limit, "temp_directory": tmp, "preserve_insertion_order": True})
    t0 = time.perf_counter(); out = fn(con); con.close()
    steps[name] = time.perf_counter() - t0; rss[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {name}: {steps[name]:.1f} s, peak RSS so far {rss[name]:,.0f} MB", file=sys.stderr, flush=True)
    return out
info = step("read + validate", lambda con: stages.ingest_raw(con, store, folder, seed=0, scale=1.0))
skipped = step("applicability", lambda con: stages.check_applicability(con, store, tasks))
n_inter = step("interactions", lambda con: stages.interactions(con, store, tasks[0], seed=0))
n_seq = step("sequences", lambda con: stages.sequences(con, store, seed=0))
rows = {t.name: step(f"task rows {t.name}", lambda con, t=t: stages.task_data(con, store, t, tasks[0], seed=0))
        for t in tasks if t.name not in skipped}
print(json.dumps({"steps": steps, "rss": rss, "raw_rows": info["rows"], "interactions": n_inter, "users": n_seq,
                  "task_rows": rows, "tolerated": info["tolerated"]}))
"""


def tenrec_check(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pcl-tenrec-scale-"))
    scale = args.rows / TENREC_ROWS_AT_SCALE_1
    t0 = time.perf_counter()
    from pcl_pipeline.synthetic import generate_tenrec

    generate_tenrec(tmp / "tenrec", seed=0, scale=scale)
    size = sum(p.stat().st_size for p in (tmp / "tenrec").glob("*.csv")) / 2**30
    print(f"generated Tenrec lifelong task_0..3.csv at scale {scale:.0f}: {size:.1f} GiB in {time.perf_counter() - t0:.1f} s")
    (tmp / "spill").mkdir()
    pipe, wall = run(TENREC_PIPELINE, str(tmp / "tenrec"), str(tmp / "home"), str(tmp / "spill"), args.memory_limit,
                     str(REPO / "tasks"))
    n = sum(pipe["raw_rows"].values())
    print(f"\n== {n:,} Tenrec rows ({', '.join(f'{k} {v:,}' for k, v in pipe['raw_rows'].items())}), "
          f"{pipe['interactions']:,} T1 interactions, {pipe['users']:,} users; DuckDB memory_limit {args.memory_limit} ==")
    print(f"{'data step':<36} {'seconds':>8} {'rows/s':>12} {'peak RSS so far MB':>19}")
    for step, seconds in pipe["steps"].items():
        print(f"{step:<36} {seconds:>8.1f} {n / seconds:>12,.0f} {pipe['rss'][step]:>19,.0f}")
    total = sum(pipe["steps"].values())
    print(f"\nevery data step: {total:.1f} s ({total / 60:.1f} min, target <= 10), {n / total:,.0f} rows/s; "
          f"peak RSS {max(pipe['rss'].values()):,.0f} MB (target <= 4096); process wall {wall:.1f} s")
    print(f"task rows: {pipe['task_rows']}; tolerated: {pipe['tolerated']}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


def run(code: str, *args: str, env: dict | None = None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=float, default=25e6, help="about this many ratings")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--tenrec", action="store_true",
                        help="the Tenrec-sized check instead: every data step on a lifelong log of --rows rows")
    parser.add_argument("--rows", type=float, default=120e6, help="with --tenrec: about this many rows")
    args = parser.parse_args()
    if args.tenrec:
        tenrec_check(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="pcl-scale-"))
    scale = args.ratings / RATINGS_AT_SCALE_1
    t0 = time.perf_counter()
    from pcl_pipeline.synthetic import generate_movielens

    generate_movielens(tmp / "ml", seed=0, scale=scale)
    generated = time.perf_counter() - t0
    size = (tmp / "ml" / "ratings.dat").stat().st_size / 2**20
    print(f"generated ratings.dat at scale {scale:.0f}: {size:.0f} MiB in {generated:.1f} s")
    (tmp / "spill").mkdir()
    pipe, pipe_wall = run(PIPELINE, str(tmp / "ml"), str(tmp / "home"), str(tmp / "spill"), args.memory_limit,
                          str(REPO / "tasks"))
    base, base_wall = run(PANDAS, str(tmp / "ml" / "ratings.dat"))
    n = pipe["ratings"]
    print(f"\n== {n:,} ratings, {pipe['users']:,} users in sequences (pandas: {base['users']:,}) ==")
    print(f"{'pipeline step (DuckDB memory_limit ' + args.memory_limit + ')':<46} {'seconds':>8} {'rows/s':>12} "
          f"{'peak RSS so far MB':>19}")
    for step, seconds in pipe["steps"].items():
        print(f"{step:<46} {seconds:>8.1f} {n / seconds:>12,.0f} {pipe['rss'][step]:>19,.0f}")
    print(f"{'baseline step (pandas)':<46} {'seconds':>8} {'rows/s':>12}")
    for step, seconds in base["steps"].items():
        print(f"{step:<46} {seconds:>8.1f} {n / seconds:>12,.0f}")
    same = ("read + validate", "interactions", "sequences")
    pipe_same = sum(pipe["steps"][s] for s in same)
    base_same = sum(base["steps"][s] for s in ("read", "interactions", "sequences"))
    print(f"\nsame transform (read -> interactions -> sequences): pipeline {pipe_same:.1f} s ({n / pipe_same:,.0f} rows/s) "
          f"vs pandas {base_same:.1f} s ({n / base_same:,.0f} rows/s): {base_same / pipe_same:.2f}x")
    print(f"peak RSS: pipeline {pipe['peak_rss_mb']:,.0f} MB (whole process, every step above, target <= 3072, issue 20) "
          f"vs pandas {base['peak_rss_mb']:,.0f} MB (read -> sequences only): {base['peak_rss_mb'] / pipe['peak_rss_mb']:.2f}x")
    for name, splits in pipe["split_rows"].items():
        print(f"{name}: {splits['train']:,} training rows read {pipe['distinct_train_inputs'][name]:,} distinct inputs "
              f"(held once each); valid {splits['valid']:,}, test {splits['test']:,} rows")
    print(f"interactions: pipeline {pipe['interactions']:,} vs pandas {base['interactions']:,}; "
          f"process wall: pipeline {pipe_wall:.1f} s, pandas {base_wall:.1f} s")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
