"""Run the study for one dataset: data, texts and the backbone once per seed (shared by every
method), then each method's chain T2..Tk in its own store variant (method.variant), each task
evaluated right after it is stored (so the forgetting rows are measured, never copied); then PCL
over permutations of the tasks after T1 (the task-order study).

Per seed the study lives in its own home, <home>/study/seed-<seed>/ (a seed fixes the user split,
the tie hash and training). The result has exactly the shape that study/report.py renders:

    {"seeds": [...], "datasets": {ds: {"methods": {method: {"tasks": {task: {"metric", "mean", "std",
     "per_seed"}}, "forgetting_max_abs_change", "stored_params", "train_seconds"}},
     "order": {task: mean_rel_change}, "cold_start": {method: {task: mean}},
     "transfer": {"raw": acc, "pcl": acc} | None}}}

stored_params counts the tensor elements a method stores (all its task artifacts, without the
task-text embeddings, plus the shared backbone once for frozen-backbone methods; FineAll, SinMo
and SeqFT store a backbone in every task artifact and are counted as stored). train_seconds sums
the task manifests' wall_seconds, plus the backbone's for the methods that start from it (all
but SinMo). The order study reports, per task, the mean over seeds and non-catalog orders of
|metric(order) - metric(catalog)| / metric(catalog). "transfer" (study/transfer.py): test accuracy of
the same MLP on the last classification task (T4) from raw inputs (bag of items) and from PCL's
T4 user representations, mean over seeds (None without PCL or a classification task).
"""
from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import TaskSpec, load_catalog
from pcl_pipeline.methods.registry import METHODS, get_method
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.evaluate import evaluate_task
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.report import build_report
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.artifact_store import TEXTS_KEY, ArtifactStore, DatasetStore, variant_name
from pcl_pipeline.study.transfer import run_transfer, transfer_task

CPU = torch.device("cpu")
# MTL (joint training on all tasks at once) is not implemented yet, so it is not in the study.
STUDY_METHODS = tuple(METHODS)


def order_variant(order: list[str]) -> str:
    """The store variant of PCL trained in another task order."""
    return f"method-PCL-{variant_name(order)}"


def prepare_seed(store: DatasetStore, tasks: list[TaskSpec], data: Path | None, seed: int, encoder,
                 scale: float = 1.0) -> None:
    """Data and task texts of one seed (shared by every method and order)."""
    stages.prepare_tables(duckdb.connect(), store, tasks, data, seed=seed, scale=scale)
    for task in tasks:
        store.save_task_text(embed_task(task, encoder, type(encoder).__name__))


def run_chain(store: DatasetStore, tasks: list[TaskSpec], seed: int, device: torch.device, method=None) -> dict:
    """T2..Tk of one method (PCL when None) into `store`'s variant: the eval records, the report,
    the manifests of the stored task artifacts."""
    records, manifests = [evaluate_task(store, tasks[:1], device)], {}
    for k in range(1, len(tasks)):
        trained = train_prompt(store, tasks[:k + 1], seed=seed, device=device, init_from=None, method=method)
        manifests[tasks[k].name] = store.save_task_parts(tasks[k].name, trained.model, trained.manifest)
        record = evaluate_task(store, tasks[:k + 1], device)
        store.save_eval(tasks[k].name, record)
        records.append(record)
    report = build_report(tasks, records, "study", store.variant)
    store.save_report(report)
    return {"records": records, "report": report, "manifests": manifests}


def stored_params(store: DatasetStore, tasks: list[TaskSpec], method_name: str, backbone_numel: int) -> int:
    total = 0
    for task in tasks[1:]:
        tensors, _ = store.load_task_tensors(task.name)
        total += sum(t.numel() for k, t in tensors.items() if k != TEXTS_KEY)
    if get_method(method_name).backbone == "frozen":
        total += backbone_numel
    return int(total)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def study_orders(tasks: list[TaskSpec], max_orders: int | None = None) -> list[list[str]]:
    """Permutations of the task names after T1, the catalog's own order excluded."""
    names = [t.name for t in tasks[1:]]
    orders = [list(p) for p in itertools.permutations(names) if list(p) != names]
    return orders if max_orders is None else orders[:max_orders]


def run_dataset(home: Path, dataset: str, tasks_dir: Path, seeds: list[int], methods: list[str] | None = None, *,
                data: Path | None = None, encoder=None, device: torch.device = CPU, scale: float = 1.0,
                max_orders: int | None = None, transfer: bool = True, log=print) -> dict:
    """The study of one dataset (the value under "datasets"[dataset] of the study)."""
    if encoder is None:
        from pcl_pipeline.text_encoder import MiniLMEncoder
        encoder = MiniLMEncoder()
    methods = list(methods or STUDY_METHODS)
    tasks = load_catalog(tasks_dir, dataset)
    orders = study_orders(tasks, max_orders)
    per_method: dict[str, list[dict]] = {m: [] for m in methods}
    per_order: list[dict] = []  # per seed: {order tuple: {task: metric}}
    transfers: list[dict] = []  # per seed: {"raw": accuracy, "pcl": accuracy}
    t4 = transfer_task(tasks)
    for seed in seeds:
        t0 = time.perf_counter()
        root = ArtifactStore(Path(home) / "study" / f"seed-{seed}")
        shared = root.dataset(dataset)
        prepare_seed(shared, tasks, data, seed, encoder, scale)
        backbone = train_backbone(shared, tasks[0], seed=seed, device=device)
        backbone_manifest = shared.save_backbone(backbone.model, backbone.manifest)
        backbone_numel = sum(t.numel() for t in backbone.model.state_dict().values())
        for name in methods:
            method = get_method(name)
            store = root.dataset(dataset, method.variant)
            run = run_chain(store, tasks, seed, device, method)
            run["stored_params"] = stored_params(store, tasks, name, backbone_numel)
            seconds = sum(m["wall_seconds"] for m in run["manifests"].values())
            if method.backbone != "scratch":
                seconds += backbone_manifest["wall_seconds"]
            run["train_seconds"] = seconds
            per_method[name].append(run)
            log(f"{dataset} seed {seed} {name} done ({time.perf_counter() - t0:.0f} s)")
        if "PCL" in methods and t4 is not None and transfer:
            transfers.append(run_transfer(root.dataset(dataset, get_method("PCL").variant), t4, seed, device))
            log(f"{dataset} seed {seed} transfer on {t4.name}: {transfers[-1]}")
        seed_orders = {}
        if "PCL" in methods:
            seed_orders[tuple(t.name for t in tasks[1:])] = _metrics(per_method["PCL"][-1]["records"])
        for order in orders:
            chain = load_catalog(tasks_dir, dataset, order=order)
            run = run_chain(root.dataset(dataset, order_variant(order)), chain, seed, device)
            seed_orders[tuple(order)] = _metrics(run["records"])
            log(f"{dataset} seed {seed} PCL order {','.join(order)} done ({time.perf_counter() - t0:.0f} s)")
        per_order.append(seed_orders)
    out = summarize(tasks, methods, per_method, per_order)
    if transfers:
        out["transfer"] = {key: statistics.mean(t[key] for t in transfers) for key in ("raw", "pcl")}
    return out


def _metrics(records: list[dict]) -> dict[str, float]:
    """Each task's catalog metric on its test split, right after it was learned (T1 excluded)."""
    return {r["name"]: float(r["metrics"][r["metric"]]) for r in records[1:]}


def summarize(tasks: list[TaskSpec], methods: list[str], per_method: dict[str, list[dict]],
              per_order: list[dict]) -> dict:
    out_methods, cold = {}, {}
    for name in methods:
        runs = per_method[name]
        task_rows, cold_rows = {}, {}
        for k, task in enumerate(tasks[1:], start=1):
            values = [float(run["records"][k]["metrics"][task.metric]) for run in runs]
            mean, std = _mean_std(values)
            task_rows[task.name] = {"metric": task.metric, "mean": mean, "std": std, "per_seed": values}
            cold_values = [float(c["model"][task.metric]) for run in runs
                           if (c := run["records"][k].get("cold_start")) and c.get("n", 0) > 0 and "model" in c]
            if cold_values:
                cold_rows[task.name] = statistics.mean(cold_values)
        out_methods[name] = {
            "tasks": task_rows,
            "forgetting_max_abs_change": max(float(run["report"]["forgetting"]["max_abs_change"]) for run in runs),
            "stored_params": int(statistics.mean(run["stored_params"] for run in runs)),
            "train_seconds": statistics.mean(run["train_seconds"] for run in runs),
        }
        cold[name] = cold_rows
    catalog = tuple(t.name for t in tasks[1:])
    order: dict[str, float] = {}
    changes: dict[str, list[float]] = {name: [] for name in catalog}
    for seed_orders in per_order:
        base = seed_orders.get(catalog)
        if base is None:
            continue
        for key, metrics in seed_orders.items():
            if key == catalog:
                continue
            for task, value in metrics.items():
                if base[task] != 0:
                    changes[task].append(abs(value - base[task]) / abs(base[task]))
    order = {task: statistics.mean(v) for task, v in changes.items() if v}
    return {"methods": out_methods, "order": order, "cold_start": cold, "transfer": None}


def run_study(home: Path, datasets: list[str], tasks_dir: Path, seeds: list[int], methods: list[str] | None = None,
              *, data_paths: dict[str, Path | None] | None = None, encoder=None, device: torch.device = CPU,
              scale: float = 1.0, max_orders: int | None = None, transfer: bool = True, log=print) -> dict:
    """The whole study: {"seeds": [...], "datasets": {ds: run_dataset(...)}}."""
    data_paths = data_paths or {}
    return {"seeds": list(seeds), "datasets": {
        ds: run_dataset(home, ds, tasks_dir, seeds, methods, data=data_paths.get(ds), encoder=encoder, device=device,
                        scale=scale, max_orders=max_orders, transfer=transfer, log=log)
        for ds in datasets}}
