"""What one study seed of one method costs, measured alone: the method's chain T2..Tk with its
evaluations (study/run.py::run_chain, as a study step runs it) on one seed of a materialized study
home, with the settings the study chose on its tuning seed, on one torch thread, into a fresh copy
of the seed's data and backbone (the study home is only read).

    python benchmarks/bench_study_seed.py --home .pcl-ml100k --method MTL --seed 0
    python benchmarks/bench_study_seed.py --home .pcl-ml100k --method SeqFT --after FineAll

Prints the seconds, each task's epochs and stop reason, and whether the trained artifacts equal
the ones the study recorded for that seed (SHA-256): the baseline is the study's own run. With
--after M, M's chain runs first in the same copy, so the study's fit memo (training/memo.py) holds
its fits, and --method is timed against itself alone in a fresh copy (the baseline).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a PCL_HOME the study materialized")
    parser.add_argument("--method", default="MTL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--after", help="first run this method's chain in the same copy (the study's fit memo "
                                        "then holds its fits), and time --method against --method alone")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.after is None:
        run_seed(args, args.method, [args.method])
        return
    alone = run_seed(args, args.method, [args.method])
    after = run_seed(args, args.method, [args.after, args.method])
    print(f"\n{args.method} after {args.after} (its fits in the memo): {after:.1f} s vs {alone:.1f} s alone "
          f"(the baseline, same process): {alone / after:.2f}x")


def run_seed(args: argparse.Namespace, timed: str, methods: list[str]) -> float:
    """`methods`' chains one after another in a fresh copy of the seed's data and backbone; the
    seconds of `timed`'s chain."""
    import torch

    from pcl_pipeline.catalog import load_catalog
    from pcl_pipeline.recipe import Candidate
    from pcl_pipeline.study.methods.registry import get_method
    from pcl_pipeline.study.run import run_chain, served_tasks, seed_root

    tmp = Path(tempfile.mkdtemp(prefix="pcl-study-seed-"))
    source = seed_root(args.home, args.seed).dataset(args.dataset).root
    target = tmp / "study" / f"seed-{args.seed}" / args.dataset
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("variants", "fit_memo"))
    tasks = served_tasks(tmp, args.dataset, load_catalog(REPO / "tasks", args.dataset), args.seed)
    for name in methods:
        method = get_method(name)
        part = args.home / "study" / "results" / args.dataset / f"{name.replace('-', '_')}.json"
        recorded = {r["seed"]: r for r in json.loads(part.read_text(encoding="utf-8"))}
        if args.seed not in recorded:
            raise SystemExit(f"{args.home}: the study recorded no seed {args.seed} of {name}")
        study = recorded[args.seed]
        chosen = {task: [Candidate(knobs)] for task, knobs in study["chosen"].items()}
        store = seed_root(tmp, args.seed).dataset(args.dataset, method.variant)
        t0 = time.perf_counter()
        run = run_chain(store, tasks, args.seed, torch.device("cpu"), method, chosen)
        seconds = time.perf_counter() - t0
        same = [a["artifact_sha256"] == b["artifact_sha256"] for a, b in zip(run["records"], study["records"])]
        print(f"\n== {name}, {args.dataset} seed {args.seed} of {args.home}, one torch thread"
              f"{' (after ' + ', '.join(methods[:methods.index(name)]) + ')' if methods.index(name) else ''} ==")
        print(f"chain T2..T{len(tasks)} with evaluations: {seconds:.1f} s")
        for task, manifest in run["manifests"].items():
            reused = manifest.get("reused_fit_seconds")
            print(f"  {task:<20} epochs {manifest['epochs_run']:>3}  stop {manifest['stop_reason']:<9} "
                  f"best epoch {manifest['best_epoch']}" + (f"  fit read back ({reused:.1f} s)" if reused else ""))
        print(f"artifacts equal to the study's recorded run (baseline): {sum(same)} of {len(same)}")
        if name == timed:
            result = seconds
    shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
