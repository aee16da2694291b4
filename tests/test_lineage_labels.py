"""The lineage graph a person can read: unique labels per group, kinds, described checks,
sensors and schedule."""
from __future__ import annotations

from collections import Counter

from assets.definitions import build_definitions
from pcl_pipeline.settings import Settings


def _defs():
    return build_definitions(Settings.from_env())


def test_no_two_nodes_of_a_group_share_a_label(tiny_env):
    """The UI labels a node by the last part of its key: within a group they must all differ."""
    graph = _defs().resolve_asset_graph()
    by_group: dict[str, Counter] = {}
    for key in graph.get_all_asset_keys():
        by_group.setdefault(graph.get(key).group_name, Counter())[key.path[-1]] += 1
    assert {"movielens", "tenrec"} <= set(by_group)
    duplicates = {group: [label for label, n in labels.items() if n > 1] for group, labels in by_group.items()}
    assert all(not labels for labels in duplicates.values()), duplicates
    for label in by_group["movielens"]:  # every per-task label names its role and its task
        assert label in {"raw_logs", "interactions", "sequences", "backbone", "report"} or \
            label.split("_T", 1)[0] in {"task_data", "task_text", "prompt", "eval"}, label


def test_every_asset_has_kinds_a_description_and_described_checks(tiny_env):
    graph = _defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.kinds, f"{key.to_user_string()} has no kinds"
        assert node.description, f"{key.to_user_string()} has no description"
    checks = list(graph.asset_check_keys)
    assert checks
    for check in checks:
        spec = graph.get_check_spec(check)
        assert spec.description, f"check {check.name} on {check.asset_key.to_user_string()} has no description"


def test_sensors_and_schedule_are_described(tiny_env):
    defs = _defs()
    assert all(s.description for s in defs.sensors), [s.name for s in defs.sensors if not s.description]
    assert all(s.description for s in defs.schedules)
