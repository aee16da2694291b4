"""Run the study for one dataset: data, texts and the backbone once per seed (shared by every
method), then each method's chain T2..Tk in its own store variant (method.variant), each task
evaluated right after it is stored (so the forgetting rows are measured, never copied); then PCL
over permutations of the tasks after T1 (the task-order study).

Per seed the study lives in its own home, <home>/study/seed-<seed>/ (a seed fixes the user split,
the tie hash and training). The result has exactly the shape that study/report.py renders:

    {"seeds": [...], "sources": {ds: source}, "datasets": {ds: {"methods": {method: {"seeds": [...],
     "tasks": {task: {"metric", "mean", "std", "per_seed", "final_mean", "final_per_seed"}},
     "forgetting_max_abs_change", "forgetting_by_task", "stored_params", "train_seconds"}},
     "order": {task: mean signed rel. change}, "order_per_seed": {seed: mean signed rel. change},
     "order_runs": [{"seed", "order"}], "cold_start": {method: {task: {"mean", "per_seed", "n"}}},
     "transfer": {"raw": acc, "pcl": acc, "inputs", "per_seed", "curves"} | None, "baselines",
     "chosen", "not_applicable"}}, "tuning_seed"}

per_seed lists follow the method's "seeds"; final_per_seed is the task scored again after the
last task was learned (where SeqFT's forgetting shows; equal to per_seed for the others).
stored_params counts the tensor elements a method stores (all its task artifacts, without the
task-text embeddings, plus the shared backbone once for frozen-backbone methods; FineAll, SinMo
SeqFT and MTL store a backbone in every task artifact and are counted as stored: MTL's tasks
keep the shared backbone as it was at each task's own best epoch). train_seconds sums
the task manifests' wall_seconds, plus the backbone's for the methods that start from it (all
but SinMo). The order study trains PCL in `orders_per_seed` other orders on every seed (in turn
over all permutations) and reports the signed change (metric(order) - metric(catalog)) /
metric(catalog), paired with the same seed's catalog-order run. "transfer" (study/transfer.py):
test accuracy and epochs to the best validation of the same MLP on the last classification
task (T4) from raw inputs (bag of items) and from PCL's representations before the task was
learned, with the backbone's and the deployed model's beside ("inputs"); "pcl" is the accuracy
on the representations the claim is decided on (per seed and mean; None without PCL or a
classification task). study/report.py decides the claims on these per-seed values
(study/stats.py, docs/study-protocol.md).
"""
from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import torch

from pcl_pipeline.catalog import TaskSpec, load_catalog
from pcl_pipeline.recipe import PCL as PCL_RECIPE
from pcl_pipeline.recipe import Candidate
from pcl_pipeline.stages import data as stages
from pcl_pipeline.stages.backbone import train_backbone
from pcl_pipeline.stages.evaluate import evaluate_task
from pcl_pipeline.stages.prompt import train_prompt
from pcl_pipeline.stages.report import build_report
from pcl_pipeline.stages.text import embed_task
from pcl_pipeline.store.artifact_store import TEXTS_KEY, ArtifactStore, DatasetStore, variant_name
from pcl_pipeline.store.artifacts import load_manifest
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.registry import METHODS, get_method
from pcl_pipeline.study.resume import finished, save_finished, seed_key, source_signature
from pcl_pipeline.study.stats import relative
from pcl_pipeline.study.transfer import export_representations, run_transfer, transfer_task
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.memo import FitMemo

CPU = torch.device("cpu")
STUDY_METHODS = tuple(METHODS)


def order_variant(order: list[str]) -> str:
    """The store variant of PCL trained in another task order."""
    return f"method-PCL-{variant_name(order)}"


def prepare_seed(store: DatasetStore, tasks: list[TaskSpec], data: Path | None, seed: int, encoder,
                 scale: float = 1.0) -> dict[str, str]:
    """Data and task texts of one seed (shared by every method and order); the tasks the data
    cannot serve -> why."""
    skipped = stages.prepare_tables(duckdb.connect(), store, tasks, data, seed=seed, scale=scale)
    for task in tasks:
        store.save_task_text(embed_task(task, encoder, type(encoder).__name__))
    return skipped


def served_tasks(home: Path, dataset: str, tasks: list[TaskSpec], seed: int) -> list[TaskSpec]:
    """The tasks the seed's data can serve, in order: the study marks the others not applicable
    and goes on, as the pipeline does (a skipped task is no link of the chain)."""
    return stages.applicable_chain(seed_root(home, seed).dataset(dataset), tasks)


def run_chain(store: DatasetStore, tasks: list[TaskSpec], seed: int, device: torch.device,
              method: Method | None = None, candidates: dict[str, list[Candidate]] | None = None) -> dict:
    """T2..Tk of one method (the pipeline's PCL when None) into `store`'s variant: the eval
    records, the report, the manifests of the stored task artifacts. `candidates` (task -> the
    settings to try) replaces the method's own (the study fixes later seeds to the first seed's
    choice). A jointly trained method (MTL) trains every task first, then evaluates them in order;
    every record is scored as the method scores stored tasks (SeqFT: with the current encoder)."""
    candidates = candidates or {}
    recipe = method or PCL_RECIPE
    # a fit another method (or order) of the study ran on this seed's data with the same model is
    # read back (training/memo.py): PCL-no-inherit's first task is PCL's, SeqFT's is FineAll's
    ctx = TrainContext(seed=seed, device=device, memo=FitMemo(store.root / "fit_memo", (source_signature(),)))
    records, manifests = [evaluate_task(store, tasks[:1], device, recipe)], {}
    joint = method.train_all(store, tasks, ctx, candidates) if method is not None else None
    for trained in joint or []:
        manifests[trained.manifest["task"]] = store.save_task_parts(trained.manifest["task"], trained.model,
                                                                    trained.manifest)
    for k in range(1, len(tasks)):
        if tasks[k].name not in manifests:
            trained = train_prompt(store, tasks[:k + 1], ctx, init_from=None, recipe=recipe,
                                   candidates=candidates.get(tasks[k].name))
            manifests[tasks[k].name] = store.save_task_parts(tasks[k].name, trained.model, trained.manifest)
        record = evaluate_task(store, tasks[:k + 1], device, recipe)
        store.save_eval(tasks[k].name, record)
        records.append(record)
    report = build_report(tasks, records, "study", store.variant)
    store.save_report(report)
    return {"records": records, "report": report, "manifests": manifests}


def chosen_candidates(run: dict) -> dict[str, list[Candidate]]:
    """task -> [the setting its stored model was selected with], for the tasks that chose among several."""
    return {task: [Candidate(m["candidate"])] for task, m in run["manifests"].items() if m.get("candidate_selection")}


def stored_params(store: DatasetStore, tasks: list[TaskSpec], method_name: str, backbone_numel: int) -> int:
    total = 0
    for task in tasks[1:]:
        tensors, _ = store.load_task_tensors(task.name)
        total += sum(t.numel() for k, t in tensors.items() if k != TEXTS_KEY)
    mode = get_method(method_name).backbone
    if mode == "frozen":
        total += backbone_numel
    return int(total)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def study_orders(tasks: list[TaskSpec], max_orders: int | None = None) -> list[list[str]]:
    """Permutations of the task names after T1, the catalog's own order excluded."""
    names = [t.name for t in tasks[1:]]
    orders = [list(p) for p in itertools.permutations(names) if list(p) != names]
    return orders if max_orders is None else orders[:max_orders]


def seed_root(home: Path, seed: int) -> ArtifactStore:
    """The study's own home for one seed (a seed fixes the user split, the tie hash and training)."""
    return ArtifactStore(Path(home) / "study" / f"seed-{seed}")


def with_tuning_seed(seeds: list[int], tuning_seed: int | None) -> list[int]:
    """The seeds the setup prepares: the reported ones and the tuning seed (never reported)."""
    if tuning_seed is not None and tuning_seed in seeds:
        raise ValueError(f"the tuning seed {tuning_seed} is one of the reported seeds {seeds}: choosing settings "
                         f"on a reported seed's validation split would tune on what is reported")
    return list(seeds) + ([tuning_seed] if tuning_seed is not None else [])


def setup_seeds(home: Path, dataset: str, tasks: list[TaskSpec], seeds: list[int], *, data: Path | None, encoder,
                device: torch.device = CPU, scale: float = 1.0, processes: int = 1, log=print) -> list[dict]:
    """Per seed: the data, the task texts and the pretrained backbone every method starts from.
    Data and texts are built here, seed after seed; the backbones train `processes` at once, each
    in a process of its own with this process's torch thread count (so the bytes equal a serial
    run's: artifact bytes depend on the thread count)."""
    skipped = {seed: prepare_seed(seed_root(home, seed).dataset(dataset), tasks, data, seed, encoder, scale)
               for seed in seeds}
    jobs = [(str(home), dataset, tasks[0], seed, str(device), torch.get_num_threads()) for seed in seeds]
    if processes > 1 and len(seeds) > 1:
        with ProcessPoolExecutor(max_workers=min(processes, len(seeds)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            backbones = list(pool.map(_pretrain_seed, *zip(*jobs)))
    else:
        backbones = [_pretrain_seed(*job) for job in jobs]
    out = []
    for seed, backbone in zip(seeds, backbones):
        out.append({"seed": seed, **backbone, "not_applicable": skipped[seed]})
        for name, why in skipped[seed].items():
            log(f"{dataset} seed {seed}: {name} is not applicable to this data and is skipped: {why}")
        log(f"{dataset} seed {seed}: data, texts and backbone ready ({backbone['backbone_seconds']:.0f} s)")
    return out


def _pretrain_seed(home: str, dataset: str, t1: TaskSpec, seed: int, device: str, threads: int) -> dict:
    """One seed's backbone, trained and stored (setup_seeds runs it in a process pool or inline)."""
    torch.set_num_threads(threads)
    shared = seed_root(Path(home), seed).dataset(dataset)
    backbone = train_backbone(shared, t1, TrainContext(seed=seed, device=torch.device(device)))
    manifest = shared.save_backbone(backbone.model, backbone.manifest)
    return {"backbone_sha256": manifest["sha256"], "backbone_seconds": manifest["wall_seconds"],
            "backbone_numel": sum(t.numel() for t in backbone.model.state_dict().values())}


def run_method(home: Path, dataset: str, tasks: list[TaskSpec], seeds: list[int], name: str, *,
               tuning_seed: int | None = None, device: torch.device = CPU, log=print) -> list[dict]:
    """One method's chain on every seed (setup_seeds first, for the tuning seed too). A method
    with several candidates (methods/search.py) picks one per task on the validation split of
    `tuning_seed`, which is trained but never reported; every reported seed reuses the choice
    (None: the first reported seed chooses). Per seed: records (T1..Tk), report, stored_params,
    train_seconds, chosen (task -> the knobs of the chosen candidate). A seed (the tuning seed
    too) whose chain finished under the same key (resume.seed_key: code, specs, candidates, backbone,
    device, threads) in an earlier run is read back, not trained again (equal to training it)."""
    method = get_method(name)
    code = source_signature()
    chosen = None
    if tuning_seed is not None and len(method.candidates(tasks[-1].task_params)) > 1:
        t0 = time.perf_counter()
        store = seed_root(home, tuning_seed).dataset(dataset, method.variant)
        served = served_tasks(home, dataset, tasks, tuning_seed)
        key = seed_key(store, name, tuning_seed, served, None, _backbone_sha(home, dataset, tuning_seed), device,
                        code)
        knobs = finished(store, key)
        if knobs is None:
            knobs = {task: c[0].knobs for task, c in chosen_candidates(run_chain(store, served, tuning_seed, device,
                                                                                  method)).items()}
            save_finished(store, key, knobs)
        chosen = {task: [Candidate(k)] for task, k in knobs.items()}
        log(f"{dataset} tuning seed {tuning_seed} {name}: chose " + ", ".join(
            f"{task} {c[0].label}" for task, c in chosen.items()) + f" ({time.perf_counter() - t0:.0f} s)")
    runs = []
    for seed in seeds:
        served = served_tasks(home, dataset, tasks, seed)
        root = seed_root(home, seed)
        backbone_manifest = load_manifest(root.dataset(dataset).backbone_paths)
        store = root.dataset(dataset, method.variant)
        t0 = time.perf_counter()
        key = seed_key(store, name, seed, served, chosen, backbone_manifest["sha256"], device, code)
        done = finished(store, key)
        if done is None:
            run = run_chain(store, served, seed, device, method, chosen)
            seconds = sum(m["wall_seconds"] for m in run["manifests"].values())
            if method.backbone != "scratch":
                seconds += backbone_manifest["wall_seconds"]
            numel = sum(math.prod(shape) for shape in backbone_manifest["tensors"].values())
            done = {"seed": seed, "records": run["records"], "report": run["report"],
                    "stored_params": stored_params(store, served, name, numel), "train_seconds": seconds,
                    "chosen": {task: c[0].knobs for task, c in (chosen or chosen_candidates(run)).items()}}
            save_finished(store, key, done)
            done = json.loads(json.dumps(done, sort_keys=True))  # as read back: a reused seed gives exactly this
        runs.append(done)
        if chosen is None:
            chosen = {task: [Candidate(k)] for task, k in done["chosen"].items()}
        log(f"{dataset} seed {seed} {name} done ({time.perf_counter() - t0:.0f} s)")
    return runs


def _backbone_sha(home: Path, dataset: str, seed: int) -> str:
    return load_manifest(seed_root(home, seed).dataset(dataset).backbone_paths)["sha256"]


def orders_of_seed(orders: list[list[str]], index: int, per_seed: int | None) -> list[list[str]]:
    """The non-catalog orders the seed at `index` (0-based, in the study's seed list) trains:
    `per_seed` of them, taken in turn from the list of every permutation, so that over the seeds
    every order comes up (10 seeds, 5 orders, 1 per seed: each order on 2 seeds); None: all."""
    if per_seed is None or per_seed >= len(orders):
        return list(orders)
    return [orders[(index * per_seed + j) % len(orders)] for j in range(per_seed)]


def run_orders(home: Path, dataset: str, tasks_dir: Path, seeds: list[int], *, device: torch.device = CPU,
               orders_per_seed: int | None = 1, log=print) -> list[dict]:
    """PCL over non-catalog orders of the tasks after T1 (orders_of_seed: `orders_per_seed` per
    seed, in turn; None: every order on every seed): [{"seed", "order", "metrics": {task: metric}}].
    Every seed contributes, so the order effect is judged paired by seed over all of them."""
    out = []
    catalog = load_catalog(tasks_dir, dataset)
    for index, seed in enumerate(seeds):
        served = {t.name for t in served_tasks(home, dataset, catalog, seed)}
        skipped = [t.name for t in catalog if t.name not in served]
        every = study_orders([t for t in catalog if t.name in served])
        for order in orders_of_seed(every, index, orders_per_seed):
            # the catalog loader places every task: the skipped ones go last and are dropped
            chain = [t for t in load_catalog(tasks_dir, dataset, order=order + skipped) if t.name in served]
            run = run_chain(seed_root(home, seed).dataset(dataset, order_variant(order)), chain, seed, device)
            out.append({"seed": seed, "order": order, "metrics": _metrics(run["records"])})
            log(f"{dataset} seed {seed} PCL order {','.join(order)} done")
    return out


def run_transfers(home: Path, dataset: str, tasks: list[TaskSpec], seeds: list[int], *,
                  device: torch.device = CPU, log=print) -> list[dict]:
    """Per seed: every task's PCL user representations exported (Parquet), then the transfer
    experiment on the last classification task ([] without one). Needs PCL's chain (run_method)."""
    out = []
    for seed in seeds:
        served = served_tasks(home, dataset, tasks, seed)
        task = transfer_task(served)
        store = seed_root(home, seed).dataset(dataset, get_method("PCL").variant)
        rows = export_representations(store, served, device)
        if task is not None:
            chain = served[:served.index(task) + 1]
            out.append({"seed": seed, "task": task.name, "exported_rows": rows,
                        **run_transfer(store, chain, seed, device)})
            log(f"{dataset} seed {seed} transfer on {task.name}: " + ", ".join(
                f"{name} {acc:.4f} ({out[-1]['epochs'][name]} epochs)" for name, acc in out[-1]["accuracy"].items()))
    return out


def run_dataset(home: Path, dataset: str, tasks_dir: Path, seeds: list[int], methods: list[str] | None = None, *,
                data: Path | None = None, encoder=None, device: torch.device = CPU, scale: float = 1.0,
                orders_per_seed: int | None = 1, tuning_seed: int | None = None, transfer: bool = True,
                setup_processes: int = 1, log=print) -> dict:
    """The study of one dataset (the value under "datasets"[dataset] of the study), in one process;
    the Dagster study group runs the same steps as separate assets."""
    if encoder is None:
        from pcl_pipeline.text_encoder import MiniLMEncoder
        encoder = MiniLMEncoder()
    methods = list(methods or STUDY_METHODS)
    tasks = load_catalog(tasks_dir, dataset)
    setup = setup_seeds(home, dataset, tasks, with_tuning_seed(seeds, tuning_seed), data=data, encoder=encoder,
                        device=device, scale=scale, processes=setup_processes, log=log)
    per_method = {name: run_method(home, dataset, tasks, seeds, name, tuning_seed=tuning_seed, device=device, log=log)
                  for name in methods}
    orders = run_orders(home, dataset, tasks_dir, seeds, device=device, orders_per_seed=orders_per_seed, log=log) \
        if "PCL" in methods else []
    transfers = run_transfers(home, dataset, tasks, seeds, device=device, log=log) \
        if "PCL" in methods and transfer else []
    return summarize(tasks, per_method, orders, transfers, not_applicable(setup))


def not_applicable(setup: list[dict]) -> dict[str, str]:
    """Task -> why the data cannot serve it, from setup_seeds' output (any seed)."""
    return {name: why for entry in setup for name, why in entry.get("not_applicable", {}).items()}


def _metrics(records: list[dict]) -> dict[str, float]:
    """Each task's catalog metric on its test split, right after it was learned (T1 excluded)."""
    return {r["name"]: float(r["metrics"][r["metric"]]) for r in records[1:]}


def summarize(tasks: list[TaskSpec], per_method: dict[str, list[dict]], orders: list[dict],
              transfers: list[dict], skipped: dict[str, str] | None = None) -> dict:
    """The dataset's entry of study.json from every method's runs, the order runs and the transfers.
    Beside the issue's keys: "baselines" (each task's trivial baseline and, for classification,
    the bag-of-items logistic regression, from the same test rows), "chosen" (method -> task ->
    the knobs of its chosen candidate), and
    "not_applicable" (task -> why; those tasks are left out of every table)."""
    skipped = skipped or {}
    tasks = [t for t in tasks if t.name not in skipped]
    out_methods, cold = {}, {}
    for name, runs in per_method.items():
        task_rows, cold_rows = {}, {}
        for k, task in enumerate(tasks[1:], start=1):
            values = [float(run["records"][k]["metrics"][task.metric]) for run in runs]
            # the same task scored again after the last task was learned (its forgetting enters here)
            final = [float(_after_last(run["records"], k)[task.metric]) for run in runs]
            mean, std = _mean_std(values)
            task_rows[task.name] = {"metric": task.metric, "mean": mean, "std": std, "per_seed": values,
                                    "final_mean": statistics.mean(final), "final_per_seed": final,
                                    "all_metrics": _all_metrics([run["records"][k] for run in runs], task),
                                    "n_test": [int(run["records"][k]["n_test"]) for run in runs]}
            seeds_cold = [(run["seed"], float(c["model"][task.metric]), int(c["n"])) for run in runs
                          if (c := run["records"][k].get("cold_start")) and c.get("n", 0) > 0 and "model" in c]
            if seeds_cold:
                cold_rows[task.name] = {"mean": statistics.mean(v for _, v, _ in seeds_cold),
                                        "per_seed": {str(seed): v for seed, v, _ in seeds_cold},
                                        "n": {str(seed): n for seed, _, n in seeds_cold}}
        out_methods[name] = {
            "seeds": [run["seed"] for run in runs], "tasks": task_rows,
            "forgetting_max_abs_change": max(float(run["report"]["forgetting"]["max_abs_change"]) for run in runs),
            "forgetting_by_task": {task: max(forgetting_by_task(run["report"]["forgetting"]["matrix"])[k]
                                             for run in runs) for k, task in enumerate(t.name for t in tasks)},
            "stored_params": int(statistics.mean(run["stored_params"] for run in runs)),
            "train_seconds": statistics.mean(run["train_seconds"] for run in runs),
        }
        cold[name] = cold_rows
    out = {"methods": out_methods, **order_changes(tasks, per_method.get("PCL", []), orders),
           "not_applicable": dict(skipped),
           "cold_start": cold, "transfer": None, "baselines": trivial_baselines(tasks, per_method),
           "chosen": {name: runs[0]["chosen"] for name, runs in per_method.items() if runs[0]["chosen"]}}
    if transfers:
        out["transfer"] = {key: statistics.mean(t[key] for t in transfers) for key in ("raw", "pcl")}
        out["transfer"]["per_seed"] = [{"seed": t["seed"], "raw": t["raw"], "pcl": t["pcl"],
                                        **{k: t[k] for k in ("accuracy", "epochs") if k in t}} for t in transfers]
        if all("accuracy" in t for t in transfers):
            out["transfer"]["inputs"] = {name: {"accuracy": statistics.mean(t["accuracy"][name] for t in transfers),
                                                "epochs": statistics.mean(t["epochs"][name] for t in transfers)}
                                         for name in transfers[0]["accuracy"]}
        out["transfer"]["curves"] = transfers[0]["curves"]
    return out


def forgetting_by_task(matrix: list[list[float | None]]) -> list[float]:
    """Per task j: max over later rows i of |matrix[i][j] - matrix[j][j]| (0 for the last task)."""
    return [max((abs(matrix[i][j] - matrix[j][j]) for i in range(j + 1, len(matrix))), default=0.0)
            for j in range(len(matrix))]


FULL_METRICS = {"item_rec": ("hr@10", "ndcg@10", "mrr@10"), "classification": ("accuracy", "macro_f1", "auc")}


def _all_metrics(records: list[dict], task: TaskSpec) -> dict[str, float]:
    """The task kind's full set of test metrics (FULL_METRICS), each the mean over seeds."""
    return {m: statistics.mean(float(r["metrics"][m]) for r in records)
            for m in FULL_METRICS.get(task.kind, (task.metric,)) if all(m in r["metrics"] for r in records)}


def _after_last(records: list[dict], k: int) -> dict:
    """Task k's metrics once the last task of the chain was learned: the last record's row for it
    (its own metrics when it is the last task)."""
    last = records[-1]
    if k == len(records) - 1:
        return last["metrics"]
    return last["after_learning"][records[k]["name"]]["metrics"]


def order_changes(tasks: list[TaskSpec], pcl_runs: list[dict], orders: list[dict]) -> dict:
    """The task-order study, signed and paired by seed: "order" (per task, the mean over order
    runs of (metric(order) - metric(catalog)) / metric(catalog), the catalog-order metric being
    PCL's run of the same seed: negative = degradation) and "order_per_seed" (per seed, the mean
    of that change over its order runs and tasks: the paired difference the verdict is decided on)."""
    catalog = {run["seed"]: _metrics(run["records"]) for run in pcl_runs}
    changes: dict[str, list[float]] = {t.name: [] for t in tasks[1:]}
    per_seed: dict[str, list[float]] = {}
    for run in orders:
        base = catalog.get(run["seed"])
        if base is None:
            continue
        for task, value in run["metrics"].items():
            change = relative(value, base[task])
            changes[task].append(change)
            per_seed.setdefault(str(run["seed"]), []).append(change)
    return {"order": {task: statistics.mean(v) for task, v in changes.items() if v},
            "order_per_seed": {seed: statistics.mean(v) for seed, v in per_seed.items()},
            "order_runs": [{"seed": run["seed"], "order": run["order"]} for run in orders]}


def trivial_baselines(tasks: list[TaskSpec], per_method: dict[str, list[dict]]) -> dict:
    """Per task, from any method's eval records (they share the test rows): the trivial baseline
    (popularity / majority class) and, for classification, the logistic-regression reference."""
    runs = next(iter(per_method.values()), [])
    out = {}
    for k, task in enumerate(tasks[1:], start=1):
        records = [run["records"][k] for run in runs]
        if not records:
            continue
        values = [float(r["baselines"][task.metric]) for r in records]
        row = {"name": records[0].get("baseline_name", "trivial"), "mean": statistics.mean(values), "per_seed": values}
        if all("reference" in r for r in records):
            ref = [float(r["reference"]["metrics"][task.metric]) for r in records]
            row["reference"] = {"name": records[0]["reference"]["name"], "mean": statistics.mean(ref), "per_seed": ref}
        out[task.name] = row
    return out


def run_study(home: Path, datasets: list[str], tasks_dir: Path, seeds: list[int], methods: list[str] | None = None,
              *, data_paths: dict[str, Path | None] | None = None, encoder=None, device: torch.device = CPU,
              scale: float = 1.0, orders_per_seed: int | None = 1, tuning_seed: int | None = None,
              transfer: bool = True, setup_processes: int = 1, log=print) -> dict:
    """The whole study: {"seeds": [...], "tuning_seed", "sources", "datasets": {ds: run_dataset(...)}}."""
    data_paths = data_paths or {}
    return {"seeds": list(seeds), "tuning_seed": tuning_seed,
            "sources": {ds: str(data_paths.get(ds) or "embedded") for ds in datasets},
            "datasets": {
        ds: run_dataset(home, ds, tasks_dir, seeds, methods, data=data_paths.get(ds), encoder=encoder, device=device,
                        scale=scale, orders_per_seed=orders_per_seed, tuning_seed=tuning_seed, transfer=transfer,
                        setup_processes=setup_processes, log=log)
        for ds in datasets}}
