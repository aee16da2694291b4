"""What `make run` prints: one line per finished asset (k of N, key, seconds, its headline number),
warnings (tolerated input, skipped tasks) and failures; Dagster's DEBUG events only with -v.
The full event log stays in the Dagster run, as always (the UI's Runs tab).

`progress_logger` is a Dagster logger: the CLI configures it (and leaves the console logger out
unless -v) through the run config of the run it launches.
"""
import logging
import sys
import time

from dagster import Field, logger


def headline(metadata: dict) -> str:
    """The one number (or status) that says how an asset turned out."""
    def value(key):
        item = metadata.get(key)
        return getattr(item, "value", item)

    if value("status") is not None:
        return f"{value('status')}: {value('reason')}"
    for metric, baseline in (("ndcg@10", "popularity_ndcg@10"), ("accuracy", "majority_accuracy")):
        if value(metric) is not None:
            base = value(baseline)
            return f"{metric} {value(metric):.4f}" + (f" (baseline {base:.4f})" if base is not None else "")
    valid = next((k for k in metadata if k.startswith("valid_")), None)
    if valid is not None:
        return f"{valid} {value(valid):.4f}"
    if value("max_abs_change") is not None:
        return f"forgetting max |change| {value('max_abs_change'):.4g}"
    if value("dagster/row_count") is not None:
        return f"{value('dagster/row_count')} rows"
    if value("encoder") is not None:
        return f"text embedded ({value('encoder')})"
    return ""


class ProgressHandler(logging.Handler):
    """Turns the run's events into the lines above."""

    def __init__(self, total: int, stream=None, done: int = 0) -> None:
        super().__init__(level=logging.DEBUG)
        self.total, self.done, self.stream = total, done, stream or sys.stdout
        self.started: dict[str, float] = {}
        self.headlines: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        kind = event.event_type_value if event is not None else None
        if kind == "STEP_START":
            self.started[step] = time.perf_counter()
        elif kind == "ASSET_MATERIALIZATION":
            materialization = event.step_materialization_data.materialization
            self.headlines[step] = headline(dict(materialization.metadata))
        elif kind == "STEP_SUCCESS":
            self.done += 1
            seconds = time.perf_counter() - self.started.get(step, time.perf_counter())
            key = step.replace("__", "/")
            # total 0: steps run in several processes (the study job), each with its own handler
            count = f"[{self.done}/{self.total}] " if self.total else "done "
            self._print(f"{count}{key:<34} {seconds:6.1f} s  {self.headlines.get(step, '')}")
        elif kind == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error.cause is not None:  # the user's error under Dagster's wrappers
                error = error.cause
            self._print(f"FAILED {step.replace('__', '/')}: {error.message.strip()}")
        elif event is None and record.levelno >= logging.WARNING:
            self._print(f"warning {step.replace('__', '/')}: {meta.get('orig_message', record.getMessage())}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


@logger(config_schema={"total": Field(int, default_value=0), "done": Field(int, default_value=0)},
        description="one line per finished asset")
def progress_logger(init_context):
    log = logging.Logger("pcl_progress", level=logging.DEBUG)
    log.addHandler(ProgressHandler(init_context.logger_config["total"], done=init_context.logger_config["done"]))
    return log
