"""Asset keys of the graph (DESIGN.md): <ds>/raw_logs ... <ds>/report."""

from dagster import AssetKey


def raw_logs(ds: str) -> AssetKey:
    return AssetKey([ds, "raw_logs"])


def interactions(ds: str) -> AssetKey:
    return AssetKey([ds, "interactions"])


def sequences(ds: str) -> AssetKey:
    return AssetKey([ds, "sequences"])


def task_data(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, "task_data", task])


def task_text(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, "task_text", task])


def backbone(ds: str) -> AssetKey:
    return AssetKey([ds, "backbone"])


def prompt(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, "prompt", task])


def evaluation(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, "eval", task])


def report(ds: str) -> AssetKey:
    return AssetKey([ds, "report"])
