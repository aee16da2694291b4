"""Metadata shown in the Dagster UI: previews, metric tables beside baselines, curves."""

import base64
import sys
import time
from pathlib import Path
from typing import Callable

import duckdb
from dagster import MetadataValue

from pcl_pipeline.data.checks import CheckOutcome


def preview(con: duckdb.DuckDBPyConnection, path: Path, limit: int = 5) -> MetadataValue:
    """The first rows of a Parquet table as a Markdown table."""
    cursor = con.execute("SELECT * FROM read_parquet(?) LIMIT ?", [str(path), limit])
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return MetadataValue.md("\n".join(lines))


def _cell(value: object) -> str:
    text = str(value)
    return (text[:60] + "...") if len(text) > 63 else text


def metrics_table(metrics: dict[str, float], baselines: dict[str, float], baseline_name: str) -> MetadataValue:
    lines = [f"| metric | model | {baseline_name} |", "|---|---|---|"]
    for key, value in metrics.items():
        base = baselines.get(key)
        lines.append(f"| {key} | {value:.4f} | {'' if base is None else f'{base:.4f}'} |")
    return MetadataValue.md("\n".join(lines))


def flat_metrics(result: dict) -> dict[str, MetadataValue]:
    """Each metric key beside its baseline (popularity_* or majority_accuracy), as floats."""
    out: dict[str, MetadataValue] = {}
    prefix = "popularity" if result["baseline_name"] == "popularity" else "majority"
    for key, value in result["metrics"].items():
        out[key] = MetadataValue.float(float(value))
        if key in result["baselines"]:
            name = "majority_accuracy" if key == "accuracy" and prefix == "majority" else f"{prefix}_{key}"
            out[name] = MetadataValue.float(float(result["baselines"][key]))
    return out


def curve(png: bytes) -> MetadataValue:
    """A PNG inline in Markdown metadata (the UI renders data-URI images)."""
    return MetadataValue.md(f"![training curve](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


EPOCH_LOG_SECONDS = 5.0  # at most one epoch line per this many seconds in the run's event log


def epoch_logger(context, score_name: str, max_epochs: int | None = None,
                 every_seconds: float = EPOCH_LOG_SECONDS) -> Callable[[dict], None]:
    """on_epoch callback: an epoch line in the run's log for the first epoch and then at most one
    per `every_seconds` (each line is an event the instance commits; the whole curve is in the
    manifest and the asset's metadata), and on a terminal a progress bar over the epochs
    (max_epochs is the cap; early stopping ends the bar sooner)."""
    bar = None
    last = None

    def log(record: dict) -> None:
        nonlocal bar, last
        now = time.monotonic()
        if last is None or now - last >= every_seconds:
            context.log.info(f"epoch {record['epoch']}: loss {record['loss']:.4f} {score_name} {record['valid']:.4f}")
            last = now
        if max_epochs and sys.stderr.isatty():
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=max_epochs, desc=context.asset_key.to_user_string(), unit="epoch", leave=False)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}", valid=f"{record['valid']:.4f}")
            if record["epoch"] >= max_epochs:
                bar.close()
    return log


def check_metadata(outcome: CheckOutcome) -> dict:
    return {"description": outcome.description, **outcome.metadata}
