"""The report stage: re-evaluate every task from its stored artifact after the last one, build
the forgetting matrix, and write $PCL_HOME/reports/summary.json and summary.md."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.layout import Layout, reports_dir
from pcl_pipeline.stages.evaluate import evaluate_stored
from pcl_pipeline.storage import write_json, write_text

SUMMARY_KEYS = ("name", "kind", "order", "metric", "metrics", "baselines", "baseline_name", "cold_start",
                "trainable_params", "wall_seconds", "init_from", "n_test", "n_out_of_vocab", "reference")


def build_report(layout: Layout, tasks: list[TaskSpec], device: torch.device, source: str) -> dict:
    """The dataset's part of summary.json: tasks with metrics and baselines, and forgetting.

    R[i][j] is task j's primary metric after tasks 1..i were learned (None above the diagonal).
    The diagonal is the value recorded by eval/<task> when task j was learned; below it, the
    value measured now, after the last task, from the stored artifacts. Since every later task
    only adds files, the state "after task i" for task j is exactly what is stored now.
    max_abs_change compares every metric key, not only the primary one.
    """
    recorded = [_read_eval(layout, t) for t in tasks]
    current = [evaluate_stored(layout, t, tasks[0], device) for t in tasks]
    n = len(tasks)
    matrix: list[list[float | None]] = [[None] * n for _ in range(n)]
    max_change = 0.0
    for j, (rec, cur) in enumerate(zip(recorded, current)):
        metric = tasks[j].metric
        matrix[j][j] = rec["metrics"][metric]
        for i in range(j + 1, n):
            matrix[i][j] = cur["metrics"][metric]
        for key, value in rec["metrics"].items():
            max_change = max(max_change, abs(cur["metrics"][key] - value))
    lineage = [{"task": t.name, "init_from": r.get("init_from"), "artifact_sha256": r["artifact_sha256"]}
               for t, r in zip(tasks, recorded)]
    report = {
        "source": source, "variant": layout.variant,
        "tasks": [{k: rec.get(k) for k in SUMMARY_KEYS if k in rec} for rec in recorded],
        "forgetting": {"matrix": matrix, "metrics": [t.metric for t in tasks], "max_abs_change": max_change},
        "lineage": lineage,
    }
    write_json(layout.report, report)
    return report


def _read_eval(layout: Layout, task: TaskSpec) -> dict:
    path = layout.eval(task.name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: eval record missing; materialize {layout.dataset}/eval/{task.name} first")
    return json.loads(path.read_text(encoding="utf-8"))


def write_summary(home: Path, datasets: dict[str, dict]) -> dict:
    """Merge per-dataset reports into summary.json and summary.md (same content, for people)."""
    total = sum(t.get("wall_seconds") or 0.0 for ds in datasets.values() for t in ds["tasks"])
    summary = {"wall_seconds": round(total, 2), "datasets": datasets}
    folder = reports_dir(home)
    write_json(folder / "summary.json", summary)
    write_text(folder / "summary.md", summary_markdown(summary))
    return summary


def _pair(task: dict, key: str) -> str:
    base = "majority_accuracy" if key == "accuracy" and "majority_accuracy" in task["baselines"] else key
    return f"{task['metrics'][key]:.4f} / {task['baselines'][base]:.4f}"


def _link(step: dict) -> str:
    source = step.get("init_from")
    if not source:
        return f"{step['task']} [{step['artifact_sha256'][:8]}]"
    return f"{step['task']} [{step['artifact_sha256'][:8]}, p from {source['asset']} run {str(source['run_id'])[:8]}]"


def summary_markdown(summary: dict) -> str:
    """Tables for people: each metric as `model / trivial baseline` on the same test split."""
    lines = ["# PCL results", "", f"Training wall time over all tasks: {summary['wall_seconds']:.1f} s", "",
             "Cells read `model / baseline` (popularity for item tasks, majority class for classification).", ""]
    for name, ds in summary["datasets"].items():
        lines += [f"## {name} (source: {ds['source']})", "",
                  "| task | kind | metric | metric: model / baseline | hr@10 or macro-F1 | cold-start n, hr@10 "
                  "| trainable params | train s |",
                  "|---|---|---|---|---|---|---|---|"]
        for t in ds["tasks"]:
            if t["kind"] == "classification":
                second, cold = f"macro_f1 {_pair(t, 'macro_f1')}", "-"
            else:
                second = f"hr@10 {_pair(t, 'hr@10')}"
                c = t.get("cold_start") or {}
                cold = f"{c.get('n', 0)}" + (f": {c['model']['hr@10']:.4f} / {c['popularity']['hr@10']:.4f}"
                                             if c.get("n") else "")
            lines.append(f"| {t['name']} | {t['kind']} | {t['metric']} | {_pair(t, t['metric'])} | {second} | {cold} | "
                         f"{t['trainable_params']} | {t['wall_seconds']:.1f} |")
        if ds.get("lineage"):
            lines += ["", "Lineage: " + " -> ".join(_link(step) for step in ds["lineage"])]
        f = ds["forgetting"]
        lines += ["", f"Forgetting: max |change| over all metrics after the last task = {f['max_abs_change']}", ""]
        lines.append("| after \\ task | " + " | ".join(t["name"] for t in ds["tasks"]) + " |")
        lines.append("|---" * (len(ds["tasks"]) + 1) + "|")
        for i, row in enumerate(f["matrix"]):
            cells = ["" if v is None else f"{v:.4f}" for v in row]
            lines.append(f"| {ds['tasks'][i]['name']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
