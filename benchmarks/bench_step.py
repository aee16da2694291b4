"""One training step on the CPU, this code against a named baseline commit, in one process:
milliseconds per step and the aten operations the torch profiler counts in it.

    python benchmarks/bench_step.py                         # baseline b7191a5 (before issue 17's step work)
    python benchmarks/bench_step.py --baseline HEAD~3 --threads 2

The baseline's library comes out of git (`git archive <rev> pcl_pipeline`) into a temporary
package `pcl_baseline`, imported beside the current `pcl_pipeline`: both build their models from
the same seed and train on the same batches, with the same thread count. Data: the embedded
default (scale 1) of both datasets through the real stages. Steps: T1 (backbone pretraining:
next_item_loss, backward, the optimizer) and the T2 item task and the classification task T4
(prompt tuning: task_loss over the task's parts around the frozen backbone). A step's time is the
median over --steps steps after three warm-up steps.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import duckdb
import torch
from torch.profiler import ProfilerActivity, profile

from pcl_pipeline.catalog import load_catalog
from pcl_pipeline.data.splits import batch_indices
from pcl_pipeline.settings import default_tasks_dir
from pcl_pipeline.stages import data as stages
from pcl_pipeline.store.artifact_store import ArtifactStore

ROOT = Path(__file__).resolve().parents[1]


def baseline_package(rev: str, into: Path) -> str:
    """Extract pcl_pipeline at `rev` as package `pcl_baseline` under `into`; return its name."""
    archive = subprocess.run(["git", "archive", rev, "pcl_pipeline"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "pcl_baseline"
    (into / "pcl_pipeline").rename(package)
    for path in package.rglob("*.py"):
        path.write_text(path.read_text(encoding="utf-8").replace("pcl_pipeline", "pcl_baseline"), encoding="utf-8")
    sys.path.insert(0, str(into))
    return "pcl_baseline"


def count_ops(step) -> tuple[int, int]:
    """(aten operations in one step, of which top-level: not called by another aten operation)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    aten = [e for e in prof.events() if e.name.startswith("aten::")]
    top = [e for e in aten if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    return len(aten), len(top)


def time_step(step, n: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def steps_of(package: str, dataset: str, store, tasks, seed: int) -> dict:
    """name -> one training step of `package`'s code on the first batch of that task."""
    sasrec = importlib.import_module(f"{package}.model.sasrec")
    pcl = importlib.import_module(f"{package}.model.pcl")
    pretrain = importlib.import_module(f"{package}.training.pretrain")
    tuning = importlib.import_module(f"{package}.training.prompt_tuning")
    loop = importlib.import_module(f"{package}.training.loop")
    cpu = torch.device("cpu")

    def optimizer(params, lr):
        if hasattr(loop, "make_optimizer"):
            fields = {"epochs": 1, "patience": 1, "lr": lr, "weight_decay": 0.0, "seed": seed, "fingerprint": "bench"}
            known = loop.LoopConfig.__dataclass_fields__  # the run's identity left LoopConfig for TrainContext
            return loop.make_optimizer(params, loop.LoopConfig(**{k: v for k, v in fields.items() if k in known}))
        return torch.optim.Adam(params, lr=lr)

    def step_fn(loss_of, params, lr):
        opt = optimizer(params, lr)

        def step():
            loss = loss_of()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    t1 = tasks[0]
    bparams = t1.backbone_params
    torch.manual_seed(seed)
    backbone = sasrec.SASRec(sasrec.SASRecConfig(n_items=store.n_backbone_items(t1), **bparams.architecture()))
    data = store.next_item_data(t1)
    first = next(iter(batch_indices(len(data.train), bparams.batch_size, torch.Generator().manual_seed(seed), cpu)))
    seqs = data.train.inputs(first)
    backbone.train()
    out = {f"{dataset} T1 backbone": step_fn(lambda: pretrain.next_item_loss(backbone, seqs, bparams),
                                             list(backbone.parameters()), bparams.lr)}
    frozen = copy.deepcopy(backbone).eval()  # the task models freeze theirs; T1's keeps training
    for task in (tasks[1], tasks[3]):
        tparams = task.task_params
        task_data = store.task_data(task, backbone.cfg.n_items, backbone.cfg.max_len)
        torch.manual_seed(seed)
        model = pcl.build_task_model(frozen, task.kind, task_data.n_targets, tparams, torch.randn(2, 384), None,
                                     task_data.to_backbone)
        idx = next(iter(batch_indices(len(task_data.train), tparams.batch_size,
                                      torch.Generator().manual_seed(seed), cpu)))
        inputs, targets = task_data.train.inputs(idx), task_data.train.targets[idx]
        loss = tuning.task_loss(model, task_data, tparams, cpu)
        out[f"{dataset} {task.name}"] = step_fn(lambda loss=loss, i=inputs, t=targets: loss(i, t),
                                                model.part_parameters(), tparams.lr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="b7191a5", help="git revision of the baseline code")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (pinned for both)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = baseline_package(args.baseline, Path(tmp) / "code")
        rows = []
        for dataset in ("movielens", "tenrec"):
            tasks = load_catalog(default_tasks_dir(), dataset)
            store = ArtifactStore(Path(tmp) / "home").dataset(dataset)
            stages.prepare_tables(duckdb.connect(), store, tasks, None, seed=args.seed, scale=1.0)
            before = steps_of(baseline, dataset, store, tasks, args.seed)
            after = steps_of("pcl_pipeline", dataset, store, tasks, args.seed)
            for name in before:
                rows.append((name, time_step(before[name], args.steps), time_step(after[name], args.steps),
                             count_ops(before[name]), count_ops(after[name])))
    print(f"\none training step on the CPU, {args.threads} thread(s), torch {torch.__version__}, embedded default "
          f"scale 1, median of {args.steps} steps; baseline: {args.baseline} (same process, same batches)")
    print(f"{'step':<28} {'ms base':>8} {'ms now':>8} {'speed-up':>9} {'aten ops base':>14} {'now':>6} "
          f"{'top-level base':>15} {'now':>6}")
    for name, ms_before, ms_after, (ops_b, top_b), (ops_a, top_a) in rows:
        print(f"{name:<28} {ms_before:>8.1f} {ms_after:>8.1f} {ms_before / ms_after:>8.2f}x {ops_b:>14} {ops_a:>6} "
              f"{top_b:>15} {top_a:>6}")


if __name__ == "__main__":
    main()
