"""Quality on real data over several seeds: every task beside its trivial baseline and reference,
and T1 on the whole history beside SASRec's original recipe (BCE, one sampled negative).

    python tools/ml100k_from_recbole.py /tmp/ml-100k          # the real ML-100K, official u.* files
    python benchmarks/bench_real.py --data /tmp/ml-100k --seeds 0,1,2 [--out results.json]
    make bench-real                                            # both steps

Each seed runs the dataset's whole catalog through the same library stages the Dagster assets
call (data, text, backbone, prompts, evals with their forgetting rows), in a fresh PCL_HOME.
PCL_SEED's role is played by --seeds: one seed fixes the user split, the tie hash and training.
Model selection happens on validation inside the library; test numbers are only reported.
Prints mean +- std over the seeds; the baseline of the ratios is named in every row.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import BackboneParams, TaskSpec, load_catalog
from pcl_pipeline.evaluation.protocol import evaluate_next_item
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.study.run import prepare_seed, run_chain
from pcl_pipeline.store.artifact_store import ArtifactStore
from pcl_pipeline.text_encoder import MiniLMEncoder, RandomTextEncoder
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.pretrain import pretrain_backbone

CPU = torch.device("cpu")  # the T1-recipe comparison and the defaults; --device moves the catalog run


def run_catalog(home: Path, dataset: str, tasks: list[TaskSpec], data: Path | None, seed: int, encoder,
                device: torch.device = CPU, scale: float = 1.0) -> dict:
    """The whole catalog for one seed (the study's PCL chain): the report and each task's epochs."""
    store = ArtifactStore(home).dataset(dataset)
    prepare_seed(store, tasks, data, seed, encoder, scale)
    t0 = time.perf_counter()
    backbone = train_backbone(store, tasks[0], TrainContext(seed=seed, device=device))
    store.save_backbone(backbone.model, backbone.manifest)
    chain = run_chain(store, tasks, seed, device)
    epochs = {tasks[0].name: (backbone.manifest["best_epoch"], backbone.manifest["epochs_run"])}
    epochs.update({name: (m["best_epoch"], m["epochs_run"]) for name, m in chain["manifests"].items()})
    return {"report": chain["report"], "epochs": epochs, "wall_seconds": time.perf_counter() - t0}


def t1_recipes(home: Path, t1: TaskSpec, data: Path, seed: int) -> dict:
    """T1 on each user's whole history (history_cut 1.0): our recipe and SASRec's BCE recipe."""
    whole = t1.model_copy(update={"label": t1.label.model_copy(update={"history_cut": 1.0})})
    store = ArtifactStore(home / "whole_history").dataset("movielens")
    stages.prepare_tables(duckdb.connect(), store, [whole], data, seed=seed)
    next_item = store.next_item_data(whole)
    out = {}
    for loss in ("ce", "bce"):
        params = BackboneParams(**{**whole.hyperparameters, "loss": loss})
        model, fit = pretrain_backbone(next_item, params, TrainContext(seed=seed, device=CPU,
                                                                         fingerprint=f"bench-{loss}-{seed}"))
        result = evaluate_next_item(model, next_item, CPU)
        out[loss] = {"metrics": result["metrics"], "popularity": result["baselines"],
                     "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run}
    return out


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} +- {statistics.stdev(values):.4f}"


def print_tables(dataset: str, seeds: list[int], runs: list[dict], t1: list[dict]) -> None:
    tasks = runs[0]["report"]["tasks"]
    print(f"\n== {dataset}: test split, mean +- std over seeds {seeds} ==")
    print("| task | metric | model | trivial baseline | model / baseline | reference (bag-of-items LR) | per seed model |")
    print("|---|---|---|---|---|---|---|")
    for i, task in enumerate(tasks):
        keys = [task["metric"]] + (["auc"] if "auc" in task["metrics"] else ["hr@10"] if "hr@10" in task["metrics"] else [])
        for key in dict.fromkeys(keys):
            model = [r["report"]["tasks"][i]["metrics"][key] for r in runs]
            base_key = "majority_accuracy" if key == "accuracy" else key
            base = [r["report"]["tasks"][i]["baselines"][base_key] for r in runs]
            ratio = statistics.mean(model) / statistics.mean(base) if statistics.mean(base) > 0 else float("nan")
            ref = [r["report"]["tasks"][i].get("reference", {}).get("metrics", {}).get(key) for r in runs]
            ref_cell = mean_std(ref) if all(v is not None for v in ref) else "-"
            name = task["baseline_name"]
            print(f"| {task['name']} | {key} | {mean_std(model)} | {name} {mean_std(base)} | {ratio:.2f}x | {ref_cell} | "
                  + ", ".join(f"{v:.4f}" for v in model) + " |")
    print("\nepochs (best / run) per seed: " + "; ".join(
        f"seed {s}: " + ", ".join(f"{n} {b}/{e}" for n, (b, e) in r["epochs"].items()) for s, r in zip(seeds, runs)))
    oov = [t.get("n_out_of_vocab") for r in runs for t in r["report"]["tasks"] if t.get("n_out_of_vocab") is not None]
    print(f"out-of-vocabulary test targets (counted misses), all item tasks and seeds: {sum(oov)}")
    print("forgetting max |change| per seed: " + ", ".join(str(r["report"]["forgetting"]["max_abs_change"]) for r in runs))
    print("wall seconds per seed: " + ", ".join(f"{r['wall_seconds']:.0f}" for r in runs))
    if t1:
        print("\n== T1 on the whole history (history_cut 1.0): ours (softmax CE) vs SASRec's recipe (BCE) ==")
        print("| recipe | ndcg@10 | hr@10 | popularity ndcg@10 | best / run epochs per seed |")
        print("|---|---|---|---|---|")
        for loss, label in (("ce", "ours: softmax cross-entropy"), ("bce", "SASRec: BCE, one sampled negative")):
            nd = [r[loss]["metrics"]["ndcg@10"] for r in t1]
            hr = [r[loss]["metrics"]["hr@10"] for r in t1]
            pop = [r[loss]["popularity"]["ndcg@10"] for r in t1]
            ep = ", ".join(f"{r[loss]['best_epoch']}/{r[loss]['epochs_run']}" for r in t1)
            print(f"| {label} | {mean_std(nd)} | {mean_std(hr)} | {mean_std(pop)} | {ep} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder of real files (default: the embedded default data)")
    parser.add_argument("--scale", type=float, default=1.0, help="the embedded default's scale (without --data)")
    parser.add_argument("--device", default="cpu", help="torch device of the catalog run (cpu, cuda)")
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tasks-dir", type=Path, default=default_tasks_dir())
    parser.add_argument("--no-t1-recipes", action="store_true", help="skip the CE vs BCE comparison on T1")
    parser.add_argument("--random-text", action="store_true", help="random task embeddings instead of MiniLM")
    parser.add_argument("--out", type=Path, help="write every number as JSON here")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = load_catalog(args.tasks_dir, args.dataset)
    encoder = RandomTextEncoder() if args.random_text else MiniLMEncoder()
    runs, t1 = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pcl-real-") as tmp:
        for seed in seeds:
            runs.append(run_catalog(Path(tmp) / f"seed{seed}", args.dataset, tasks, args.data, seed, encoder,
                                    torch.device(args.device), args.scale))
            if not args.no_t1_recipes and args.dataset == "movielens" and args.data is not None:
                t1.append(t1_recipes(Path(tmp) / f"seed{seed}", tasks[0], args.data, seed))
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__})")
    print_tables(args.dataset, seeds, runs, t1)
    if args.out:
        args.out.write_text(json.dumps({"seeds": seeds, "runs": runs, "t1_recipes": t1}, indent=1, default=str))


if __name__ == "__main__":
    main()
