"""The reproduction study as the asset group `study` (pcl_pipeline/study does the work):

    study/<ds>_setup            per seed: data, task texts and the pretrained backbone
    study/<ds>_<method>         one method's chain T2..Tk on every seed (PCL, baselines, ablations)
    study/<ds>_task_orders      PCL over every other order of T2..Tk
    study/<ds>_transfer         every task's PCL user representations (Parquet) and the transfer MLP
    study/report                study.json, the Markdown report with the verdicts, the charts

Not part of `make run`: `make study` materializes the group with the `study` job, whose steps run
PCL_STUDY_WORKERS at once (each with its share of the cores). Every step writes its results under
$PCL_HOME/study/results/<ds>/ and its artifacts under $PCL_HOME/study/seed-<seed>/.
"""

import statistics
from pathlib import Path

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from assets import keys
from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.study.methods.cards import CARDS, MethodCard
from resources.compute import TorchResource
from resources.experiment import ExperimentResource
from resources.store import StoreResource
from resources.study import StudyResource
from resources.text import TextEncoderResource

STUDY_CODE_VERSION = "1"
KINDS = {"pytorch", "json"}
# Longest steps first (the study job runs PCL_STUDY_WORKERS steps at once; Dagster starts the
# highest "dagster/priority" of the ready steps): on ML-100K the methods that train a backbone
# took 909-1467 s (MTL, which trains every task at once, the most), PCL and its ablations
# 486-552 s, the task orders 444 s, Adapter 322 s, transfer 25 s (docs/results.md); in the
# registry's order the task orders ran last, alone, for 7 minutes.
# Inside a level, the registry's order: a method whose first fit another one reads back from the
# study's fit memo (PCL before PCL-no-inherit, FineAll before SeqFT; training/memo.py) starts first.
PRIORITY = {"joint": 30, "trains_backbone": 20, "frozen": 10}


def _priority(method: MethodCard) -> dict[str, str]:
    level = PRIORITY["joint"] if method.backbone == "joint" else \
        PRIORITY["trains_backbone"] if method.trains_backbone else PRIORITY["frozen"]
    return {"dagster/priority": str(level - list(CARDS).index(method.name))}


def _log(context: AssetExecutionContext):
    return lambda line: context.log.info(line)


def setup_asset(ds: str, tasks: list[TaskSpec], datasets: int = 1) -> AssetsDefinition:
    @asset(key=keys.study_setup(ds), group_name=keys.STUDY_GROUP, code_version=STUDY_CODE_VERSION, kinds=KINDS)
    def setup(context: AssetExecutionContext, store: StoreResource, experiment: ExperimentResource,
              study: StudyResource, text_encoder: TextEncoderResource, torch_device: TorchResource) -> MaterializeResult:
        """Per study seed: the dataset's tables, task texts and pretrained backbone (shared by every
        method); the backbones train in the study's worker slots this dataset's setup has (nothing
        else runs before the setups finish), each with the step's share of the cores."""
        from pcl_pipeline.study.run import setup_seeds, with_tuning_seed

        threads = study.use_threads()
        out = setup_seeds(Path(store.home), ds, tasks, with_tuning_seed(study.seeds, study.tuning_seed),
                          data=experiment.data_path(ds),
                          encoder=text_encoder.encoder(), device=torch_device.get_device(),
                          scale=experiment.synthetic_scale, processes=max(1, study.workers // datasets),
                          log=_log(context))
        path = store.store().save_study_part(ds, "setup", out)
        return MaterializeResult(metadata={
            "seeds": MetadataValue.json(study.seeds), "torch_threads": threads, "source": experiment.source_label(ds),
            "backbone_seconds": MetadataValue.json([round(s["backbone_seconds"], 1) for s in out]),
            "results": MetadataValue.path(str(path))})

    return setup


def method_asset(ds: str, tasks: list[TaskSpec], name: str) -> AssetsDefinition:
    method = CARDS[name]

    @asset(key=keys.study_method(ds, name), deps=[keys.study_setup(ds)], group_name=keys.STUDY_GROUP,
           code_version=STUDY_CODE_VERSION, kinds=KINDS, description=f"{name}: {method.summary}",
           op_tags=_priority(method))
    def method_runs(context: AssetExecutionContext, store: StoreResource, study: StudyResource,
                    torch_device: TorchResource) -> MaterializeResult:
        from pcl_pipeline.study.run import run_method, seed_root

        threads = study.use_threads()
        runs = run_method(Path(store.home), ds, tasks, study.seeds, name, tuning_seed=study.tuning_seed,
                          device=torch_device.get_device(), log=_log(context))
        path = store.store().save_study_part(ds, keys.method_slug(name), runs)
        metadata = {f"{r['name']}_{r['metric']}": MetadataValue.float(statistics.mean(
            float(run["records"][k]["metrics"][r["metric"]]) for run in runs))
            for k, r in enumerate(runs[0]["records"][1:], start=1)}  # the tasks the data served
        metadata.update({
            "forgetting_max_abs_change": float(max(r["report"]["forgetting"]["max_abs_change"] for r in runs)),
            "stored_params": int(runs[0]["stored_params"]), "torch_threads": threads,
            "train_seconds_per_seed": MetadataValue.json([round(r["train_seconds"], 1) for r in runs]),
            "artifacts": MetadataValue.json([str(seed_root(Path(store.home), r["seed"]).dataset(ds, method.variant)
                                                 .variant_dir) for r in runs]),
            "results": MetadataValue.path(str(path))})
        if runs[0]["chosen"]:
            metadata["chosen"] = MetadataValue.json(runs[0]["chosen"])
        return MaterializeResult(metadata=metadata)

    return method_runs


def orders_asset(ds: str, tasks: list[TaskSpec]) -> AssetsDefinition:
    @asset(key=keys.study_orders(ds), deps=[keys.study_setup(ds)], group_name=keys.STUDY_GROUP,
           code_version=STUDY_CODE_VERSION, kinds=KINDS, op_tags={"dagster/priority": str(PRIORITY["frozen"])})
    def task_orders(context: AssetExecutionContext, store: StoreResource, study: StudyResource,
                    torch_device: TorchResource) -> MaterializeResult:
        """PCL trained over other orders of the tasks after T1: orders_per_seed on every seed, in turn."""
        from pcl_pipeline.study.run import run_orders

        study.use_threads()
        runs = run_orders(Path(store.home), ds, Path(study.tasks_dir), study.seeds, device=torch_device.get_device(),
                          orders_per_seed=study.orders_per_seed, log=_log(context))
        path = store.store().save_study_part(ds, "task_orders", runs)
        return MaterializeResult(metadata={"orders": len(runs), "results": MetadataValue.path(str(path))})

    return task_orders


def transfer_asset(ds: str, tasks: list[TaskSpec]) -> AssetsDefinition:
    @asset(key=keys.study_transfer(ds), deps=[keys.study_method(ds, "PCL")], group_name=keys.STUDY_GROUP,
           code_version=STUDY_CODE_VERSION, kinds={"pytorch", "parquet"})
    def transfer(context: AssetExecutionContext, store: StoreResource, study: StudyResource,
                 torch_device: TorchResource) -> MaterializeResult:
        """Every task's PCL user representations as Parquet (user_idx, split, repr), readable from
        DuckDB; the same MLP on the classification task from raw inputs and from them."""
        from pcl_pipeline.study.run import run_transfers, seed_root

        study.use_threads()
        runs = run_transfers(Path(store.home), ds, tasks, study.seeds, device=torch_device.get_device(),
                             log=_log(context))
        path = store.store().save_study_part(ds, "transfer", runs)
        pcl = seed_root(Path(store.home), study.seeds[0]).dataset(ds, CARDS["PCL"].variant)
        metadata = {"representations": MetadataValue.path(str(pcl.variant_dir / "repr")),
                    "results": MetadataValue.path(str(path))}
        if runs:
            metadata.update({f"accuracy_{k}": MetadataValue.float(statistics.mean(r[k] for r in runs))
                             for k in ("raw", "pcl")})
        return MaterializeResult(metadata=metadata)

    return transfer


def report_asset(catalogs: dict[str, list[TaskSpec]]) -> AssetsDefinition:
    deps = [key for ds in catalogs for key in
            [keys.study_method(ds, m) for m in CARDS] + [keys.study_orders(ds), keys.study_transfer(ds)]]

    @asset(key=keys.study_report(), deps=deps, group_name=keys.STUDY_GROUP, code_version=STUDY_CODE_VERSION,
           kinds={"json", "markdown"})
    def study_report(store: StoreResource, study: StudyResource, experiment: ExperimentResource) -> MaterializeResult:
        """study.json ({"seeds", "datasets": {ds: methods, order, cold_start, transfer}}), the Markdown
        report with one verdict per claim of the paper, and its charts."""
        from pcl_pipeline.study.report import CLAIMS, NOT_JUDGED, judged, render_markdown, verdicts, write_study
        from pcl_pipeline.study.run import not_applicable, summarize

        root = store.store()
        content = {"seeds": list(study.seeds), "tuning_seed": study.tuning_seed, "datasets": {},
                   "sources": {ds: experiment.source_label(ds) for ds in catalogs}}
        for ds, tasks in catalogs.items():
            per_method = {m: root.load_study_part(ds, keys.method_slug(m)) for m in CARDS}
            content["datasets"][ds] = summarize(tasks, per_method, root.load_study_part(ds, "task_orders"),
                                                root.load_study_part(ds, "transfer"),
                                                not_applicable(root.load_study_part(ds, "setup")))
        markdown = write_study(Path(store.home), content, study.markdown_path())
        return MaterializeResult(metadata={
            "verdicts": MetadataValue.json({claim: f"{verdict}. {text}" for claim, verdict, text in verdicts(content)}
                                           if judged(content) else {claim: NOT_JUDGED for claim in CLAIMS}),
            "report": MetadataValue.md(render_markdown(content)),
            "study_json": MetadataValue.path(str(root.study_json)), "markdown": MetadataValue.path(str(markdown))})

    return study_report


def study_assets(catalogs: dict[str, list[TaskSpec]]) -> list[AssetsDefinition]:
    per_dataset = [a for ds, tasks in catalogs.items() for a in
                   [setup_asset(ds, tasks, len(catalogs))] + [method_asset(ds, tasks, m) for m in CARDS]
                   + [orders_asset(ds, tasks), transfer_asset(ds, tasks)]]
    return per_dataset + [report_asset(catalogs)]
