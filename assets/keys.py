"""Asset keys of the graph: <ds>/raw_logs ... <ds>/report, and the summary over all datasets.

The UI labels a node by the last part of its key, so every per-task key ends in a part that
names both the role and the task (`prompt_T3_rate_5`): no two nodes of a group share a label.
"""

from dagster import AssetKey

SUMMARY_GROUP = "reports"
STUDY_GROUP = "study"  # the reproduction study: not part of `make run`, materialized by `make study`
# Steps that are ready together start by "dagster/priority" (then in plan order): an eval, the
# report and the summary, what a user reads, go before the predictions_ and user_repr_ outputs
# that became ready with them (a new task's numbers reach summary.json ~0.5 s sooner).
RESULTS_FIRST = {"dagster/priority": "1"}


def raw_logs(ds: str) -> AssetKey:
    return AssetKey([ds, "raw_logs"])


def interactions(ds: str) -> AssetKey:
    return AssetKey([ds, "interactions"])


def sequences(ds: str) -> AssetKey:
    return AssetKey([ds, "sequences"])


def task_data(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"task_data_{task}"])


def task_text(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"task_text_{task}"])


def backbone(ds: str) -> AssetKey:
    return AssetKey([ds, "backbone"])


def prompt(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"prompt_{task}"])


def evaluation(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"eval_{task}"])


def predictions(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"predictions_{task}"])


def user_repr(ds: str, task: str) -> AssetKey:
    return AssetKey([ds, f"user_repr_{task}"])


def report(ds: str) -> AssetKey:
    return AssetKey([ds, "report"])


def summary() -> AssetKey:
    return AssetKey(["summary"])


def method_slug(method: str) -> str:
    """A method's name as a key part (`PCL-no-context` -> `PCL_no_context`)."""
    return method.replace("-", "_")


def study_setup(ds: str) -> AssetKey:
    return AssetKey(["study", f"{ds}_setup"])


def study_method(ds: str, method: str) -> AssetKey:
    return AssetKey(["study", f"{ds}_{method_slug(method)}"])


def study_orders(ds: str) -> AssetKey:
    return AssetKey(["study", f"{ds}_task_orders"])


def study_transfer(ds: str) -> AssetKey:
    return AssetKey(["study", f"{ds}_transfer"])


def study_report() -> AssetKey:
    return AssetKey(["study", "report"])
