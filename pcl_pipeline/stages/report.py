"""The report stage: a dataset's results table and forgetting matrix from its eval records, and
the summary over every dataset's report (summary.json and summary.md)."""
from __future__ import annotations

from pcl_pipeline.catalog import TaskSpec

SUMMARY_KEYS = ("name", "kind", "order", "metric", "metrics", "baselines", "baseline_name", "cold_start",
                "trainable_params", "wall_seconds", "init_from", "n_test", "n_out_of_vocab", "reference",
                "data_fingerprint")


class MixedDataError(ValueError):
    """Rows computed on different data would be reported together."""


def build_report(tasks: list[TaskSpec], records: list[dict], source: str, variant: str,
                 fingerprint: dict | None = None) -> dict:
    """The dataset's part of summary.json: tasks with metrics and baselines, and forgetting.

    records[i] is eval/<tasks[i]>'s record. R[i][j] is task j's primary metric after tasks 1..i
    were learned (None above the diagonal): the diagonal is what eval/<task j> measured when
    task j was learned, and R[i][j] below it what eval/<task i> measured for task j from the
    artifacts stored at that moment (its `after_learning` row). Nothing is copied: a stored
    artifact that changed between the two measurements shows up. max_abs_change compares every
    metric key, not only the primary one. A task the data cannot serve (record status
    "not_applicable") is listed with its reason and left out of the matrix. `fingerprint` is the
    dataset's source record (source, files, seed, scale, id); each row keeps its record's
    data_fingerprint, which build_summary checks against it.
    """
    if [r["name"] for r in records] != [t.name for t in tasks]:
        raise ValueError(f"eval records {[r['name'] for r in records]} do not match tasks {[t.name for t in tasks]}")
    done = [(t, r) for t, r in zip(tasks, records) if r.get("status") != "not_applicable"]
    n = len(done)
    matrix: list[list[float | None]] = [[None] * n for _ in range(n)]
    max_change = 0.0
    for i, (task, record) in enumerate(done):
        matrix[i][i] = record["metrics"][task.metric]
        row = record.get("after_learning", {})
        for j in range(i):
            earlier, earlier_record = done[j]
            if earlier.name not in row:
                raise ValueError(f"eval record of {task.name} has no measurement of {earlier.name}; "
                                 f"re-materialize its eval asset")
            measured = row[earlier.name]["metrics"]
            matrix[i][j] = measured[earlier.metric]
            for key, value in earlier_record["metrics"].items():
                max_change = max(max_change, abs(measured[key] - value))
    lineage = [{"task": t.name, "init_from": r.get("init_from"), "artifact_sha256": r["artifact_sha256"]}
               for t, r in done]
    rows = [{"status": "ok", **{k: rec.get(k) for k in SUMMARY_KEYS if k in rec}}
            if rec.get("status") != "not_applicable" else
            {k: rec[k] for k in ("name", "kind", "order", "metric", "status", "reason", "data_fingerprint") if k in rec}
            for rec in records]
    return {
        "source": source, "fingerprint": fingerprint, "variant": variant, "tasks": rows,
        "forgetting": {"tasks": [t.name for t, _ in done], "matrix": matrix, "metrics": [t.metric for t, _ in done],
                       "max_abs_change": max_change},
        "lineage": lineage,
    }


def not_applicable_tasks(report: dict) -> dict[str, str]:
    """Task name -> reason, for the report's tasks the data could not serve."""
    return {t["name"]: t["reason"] for t in report["tasks"] if t.get("status") == "not_applicable"}


def build_summary(reports: dict[str, dict]) -> dict:
    """summary.json's content over every dataset's report. Refuses (MixedDataError) to put a
    task row beside a dataset fingerprint it was not computed on."""
    for name, report in reports.items():
        expected = (report.get("fingerprint") or {}).get("id")
        if expected is None:
            raise MixedDataError(f"{name}: the report names no data fingerprint; re-materialize {name}/report")
        for task in report["tasks"]:
            found = task.get("data_fingerprint")
            if found != expected:
                raise MixedDataError(
                    f"{name}/{task['name']}: its eval was computed on data {found or '(unnamed)'}, but "
                    f"{name}'s source is now {expected} ({report['fingerprint']['source']}); re-materialize "
                    f"what reads {name}/raw_logs (make run) instead of mixing the two")
    total = sum(t.get("wall_seconds") or 0.0 for ds in reports.values() for t in ds["tasks"])
    return {"wall_seconds": round(total, 2), "datasets": reports}


def _pair(task: dict, key: str) -> str:
    base = "majority_accuracy" if key == "accuracy" and "majority_accuracy" in task["baselines"] else key
    return f"{task['metrics'][key]:.4f} / {task['baselines'][base]:.4f}"


def _link(step: dict) -> str:
    source = step.get("init_from")
    if not source:
        return f"{step['task']} [{step['artifact_sha256'][:8]}]"
    return f"{step['task']} [{step['artifact_sha256'][:8]}, p from {source['asset']} run {str(source['run_id'])[:8]}]"


def _data_line(record: dict | None) -> str:
    if not record:
        return "Data: not recorded"
    files = ", ".join(f"{name} ({f['size']:,} bytes, sha256 {f['sha256'][:12]})" for name, f in record["files"].items())
    scale = f", scale {record['scale']}" if record.get("scale") is not None else ""
    return f"Data {record['id']}: {record['source']} ({record['format']}; {files}), seed {record['seed']}{scale}"


def summary_markdown(summary: dict) -> str:
    """Tables for people: each metric as `model / trivial baseline` on the same test split."""
    lines = ["# PCL results", "", f"Training wall time over all tasks: {summary['wall_seconds']:.1f} s", "",
             "Cells read `model / baseline` (popularity for item tasks, majority class for classification); "
             "classification tasks also show the bag-of-items logistic-regression reference on the same "
             "inputs and splits.", ""]
    for name, ds in summary["datasets"].items():
        lines += [f"## {name} (source: {ds['source']})", "", _data_line(ds.get("fingerprint")), "",
                  "| task | kind | metric | metric: model / baseline | hr@10 or macro-F1 | cold-start n, hr@10 "
                  "| LR reference | trainable params | train s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for t in ds["tasks"]:
            if t.get("status") == "not_applicable":
                lines.append(f"| {t['name']} | {t['kind']} | {t['metric']} | not applicable: {t['reason']} "
                             f"| - | - | - | - | - |")
                continue
            reference = "-"
            if t["kind"] == "classification":
                second, cold = f"macro_f1 {_pair(t, 'macro_f1')}", "-"
                if t.get("reference"):
                    ref = t["reference"]["metrics"]
                    reference = f"{t['metric']} {ref[t['metric']]:.4f}" + (f", auc {ref['auc']:.4f}" if "auc" in ref else "")
            else:
                second = f"hr@10 {_pair(t, 'hr@10')}"
                c = t.get("cold_start") or {}
                cold = f"{c.get('n', 0)}" + (f": {c['model']['hr@10']:.4f} / {c['popularity']['hr@10']:.4f}"
                                             if c.get("n") else "")
            lines.append(f"| {t['name']} | {t['kind']} | {t['metric']} | {_pair(t, t['metric'])} | {second} | {cold} | "
                         f"{reference} | {t['trainable_params']} | {t['wall_seconds']:.1f} |")
        if ds.get("lineage"):
            lines += ["", "Lineage: " + " -> ".join(_link(step) for step in ds["lineage"])]
        f = ds["forgetting"]
        lines += ["", f"Forgetting: max |change| over all metrics, every task re-measured after each later "
                      f"one = {f['max_abs_change']}", ""]
        names = f.get("tasks") or [t["name"] for t in ds["tasks"]]
        lines.append("| after \\ task | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for name, row in zip(names, f["matrix"]):
            cells = ["" if v is None else f"{v:.4f}" for v in row]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
