"""What a run must materialize so that the store ends as a fresh run on the same configuration.

An asset is rebuilt when nothing can vouch for what PCL_HOME holds of it, and so is everything
downstream of it, in the same run (Dagster's stale status would take one level per run: a child
of an asset with a new code version is not stale until that parent is re-materialized). The
evidence is the store's ledger (pcl_pipeline.store.ledger: which run wrote each asset, under
which code version, from which input versions, and the files it wrote) checked against the
definitions being run and the Dagster instance's record of materializations (public API only):

- missing: no stamp in PCL_HOME (never built, a new task, a store that is new or moved away
  from, an asset killed half-way), or a stamped file that is gone or was rewritten since;
- unvouched: the instance has no materialization of it, or its latest one is another run than
  the one that wrote the store (DAGSTER_HOME wiped or pointed elsewhere, another instance);
- stale: its code version changed (the source folder, seed or scale of raw_logs; a task file's
  settings; the code), or an input was rebuilt since it read it;
- downstream: it reads (directly or not) one of the above.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, AssetSelection, Definitions

from assets import keys
from pcl_pipeline.store.ledger import Ledger

MISSING, UNVOUCHED, STALE = "missing", "unvouched", "stale"
_HEADINGS = {
    MISSING: "not in PCL_HOME",
    UNVOUCHED: "the Dagster instance cannot vouch for what PCL_HOME holds",
    STALE: "changed since it was built",
}


def pipeline_selection() -> AssetSelection:
    """The pipeline proper (what `make run` materializes): every asset but the study group."""
    return AssetSelection.all() - AssetSelection.groups(keys.STUDY_GROUP)


@dataclass
class Plan:
    """The assets to materialize, topologically ordered, and why."""

    selection: list[AssetKey]
    causes: dict[AssetKey, tuple[str, str]] = field(default_factory=dict)  # key -> (kind, detail)

    @property
    def downstream(self) -> list[AssetKey]:
        return [k for k in self.selection if k not in self.causes]

    def explain(self, limit: int = 4) -> list[str]:
        """One line per kind of cause (a few keys named with their detail), and one for the rest."""
        by_kind: dict[str, list[AssetKey]] = defaultdict(list)
        for key, (kind, _) in self.causes.items():
            by_kind[kind].append(key)
        lines = []
        for kind in (MISSING, UNVOUCHED, STALE):
            found = by_kind.get(kind)
            if not found:
                continue
            named = "; ".join(f"{k.to_user_string()}: {self.causes[k][1]}" for k in found[:limit])
            more = f"; and {len(found) - limit} more" if len(found) > limit else ""
            lines.append(f"{len(found)} {'asset' if len(found) == 1 else 'assets'} {_HEADINGS[kind]} ({named}{more})")
        if self.downstream:
            lines.append(f"{len(self.downstream)} downstream of them, rebuilt in the same run")
        return lines


def _cause(key: AssetKey, spec, ledger: Ledger, stamps: dict, event, parents: list[AssetKey]) -> tuple[str, str] | None:
    stamp = stamps[key.to_user_string()]
    if stamp is None:
        if event is not None:
            return MISSING, f"the instance has run {event.run_id[:8]}'s materialization, PCL_HOME has no record of it"
        return MISSING, "never materialized into this PCL_HOME"
    damaged = ledger.damaged(stamp)
    if damaged:
        return MISSING, damaged
    if event is None:
        return UNVOUCHED, f"written by run {stamp.run_id[:8]}, which this instance has no record of"
    if event.run_id != stamp.run_id:
        return UNVOUCHED, f"PCL_HOME holds run {stamp.run_id[:8]}'s, the instance's latest is run {event.run_id[:8]}'s"
    if (spec.code_version or "") != stamp.code_version:
        return STALE, f"code version {stamp.code_version} -> {spec.code_version}"
    now = {p.to_user_string() for p in parents}
    if set(stamp.inputs) != now:
        return STALE, "its inputs are other assets now"
    for parent in sorted(now):
        current = stamps.get(parent)
        if current is None or current.data_version != stamp.inputs[parent]:
            return STALE, f"input {parent} changed since"
    return None


def plan_run(defs: Definitions, instance, home: Path) -> Plan:
    """What a run of the pipeline selection must materialize (see the module docstring)."""
    graph = defs.resolve_asset_graph()
    pipeline = pipeline_selection().resolve(graph)
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if spec.key in pipeline}
    parents = {key: [dep.asset_key for dep in spec.deps] for key, spec in specs.items()}
    events = instance.get_latest_materialization_events(list(specs))
    ledger = Ledger(home)
    stamps = {key.to_user_string(): ledger.get(key.to_user_string()) for key in specs}  # each read once
    order = _topological(parents)
    causes, selected = {}, set()
    for key in order:
        if any(p in selected for p in parents[key]):
            selected.add(key)
            continue
        cause = _cause(key, specs[key], ledger, stamps, events.get(key), parents[key])
        if cause is not None:
            causes[key] = cause
            selected.add(key)
    return Plan(selection=[k for k in order if k in selected], causes=causes)


def _topological(parents: dict[AssetKey, list[AssetKey]]) -> list[AssetKey]:
    """Keys with every parent before its children; ties in key order (a stable plan to print)."""
    done: list[AssetKey] = []
    seen: set[AssetKey] = set()

    def visit(key: AssetKey) -> None:
        if key in seen:
            return
        seen.add(key)
        for parent in sorted(parents.get(key, []), key=lambda k: k.to_user_string()):
            if parent in parents:
                visit(parent)
        done.append(key)

    for key in sorted(parents, key=lambda k: k.to_user_string()):
        visit(key)
    return done
