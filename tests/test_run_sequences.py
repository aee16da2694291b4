"""Incremental equals fresh: after any sequence of changes, one `make run` leaves the store exactly
as a fresh run on the final configuration leaves a new home (every asset's content version:
table hashes, model SHA-256s, metric fingerprints; the summary's metrics, data fingerprints,
forgetting matrices and lineage). Timings aside.

A tiny catalog (small SASRec, one epoch, movielens T1+T2 with T3 added by some sequences, tenrec
T1) keeps the whole table in the default `make test` (about 90 s on 2 cores).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from assets.cli import main
from pcl_pipeline.store.ledger import Ledger
from pcl_pipeline.synthetic import generate_movielens
from tests.conftest import REPO

TINY = {"hidden": 16, "blocks": 1, "heads": 1, "max_len": 20, "epochs": 1, "batch_size": 64}
KEEP = {"movielens": ("T1_next_item", "T2_rate_4plus"), "tenrec": ("T1_next_item",)}
SCALE = "0.2"


def _spec(src: Path) -> dict:
    spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    arch = {"hidden", "blocks", "heads", "max_len"}
    spec["hyperparameters"] = {k: v for k, v in TINY.items() if spec["kind"] == "next_item" or k not in arch}
    return spec


def _write(path: Path, spec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def write_catalog(dest: Path, t3: bool = False, t2_lr: float | None = None) -> Path:
    """The tiny catalog; t3 adds movielens' T3_rate_5 (it inherits T2's prompt); t2_lr edits T2's lr."""
    if dest.exists():
        shutil.rmtree(dest)
    for ds, names in KEEP.items():
        for src in sorted((REPO / "tasks" / ds).glob("*.yaml")):
            spec = _spec(src)
            if spec["name"] in names or (t3 and spec["name"] == "T3_rate_5"):
                if spec["name"] == "T2_rate_4plus" and t2_lr is not None:
                    spec["hyperparameters"]["lr"] = t2_lr
                _write(dest / ds / src.name, spec)
    return dest


CONFIGS = {  # name -> (environment beside the homes, catalog options)
    "A": ({}, {}),
    "B": ({"PCL_MOVIELENS_PATH": "{folder}"}, {}),
    "C": ({"PCL_SEED": "1"}, {}),  # only reached by the run that is killed
    "D": ({}, {"t3": True}),
    "E": ({}, {"t3": True, "t2_lr": 1e-3}),
}


def store_state(home: Path) -> dict:
    """What must equal a fresh run's: every asset's content version (the ledger's data versions;
    the report's and the summary's are run ids and are compared through summary.json), and the
    summary's metrics, data fingerprints, forgetting matrices and lineage."""
    ledger = Ledger(home)
    state = {}
    for key in ledger.keys():
        stamp = ledger.get(key)
        if stamp is not None and not stamp.data_version.startswith("run:"):
            state[key] = stamp.data_version
    summary = json.loads((home / "reports" / "summary.json").read_text(encoding="utf-8"))
    for ds, part in summary["datasets"].items():
        state[f"summary:{ds}/data"] = part["fingerprint"]["id"]
        state[f"summary:{ds}/source"] = part["source"]
        state[f"summary:{ds}/tasks"] = [(t["name"], t.get("metrics"), t.get("baselines"), t.get("data_fingerprint"))
                                        for t in part["tasks"]]
        state[f"summary:{ds}/forgetting"] = part["forgetting"]["matrix"]
        state[f"summary:{ds}/lineage"] = [(s["task"], s["artifact_sha256"]) for s in part["lineage"]]
    return state


CLEARED = ("PCL_MOVIELENS_PATH", "PCL_TENREC_PATH", "PCL_SEED", "PCL_TASK_ORDER_MOVIELENS", "PCL_TASK_ORDER_TENREC")


class Project:
    """One checkout's environment: catalog, PCL_HOME, DAGSTER_HOME, and the settings of a configuration."""

    def __init__(self, root: Path, folder: Path, setenv, delenv) -> None:
        self.root, self.folder, self.setenv, self.delenv = root, folder, setenv, delenv
        self.home, self.dagster_home, self.tasks = root / "pcl_home", root / "dagster_home", root / "tasks"
        self.config = None

    def use(self, name: str) -> None:
        env, catalog = CONFIGS[name]
        write_catalog(self.tasks, **catalog)
        for key in CLEARED:
            self.delenv(key)
        base = {"PCL_HOME": str(self.home), "DAGSTER_HOME": str(self.dagster_home), "PCL_TASKS_DIR": str(self.tasks),
                "PCL_SYNTHETIC_SCALE": SCALE, "PCL_TEXT_ENCODER": "random", "PCL_RUN_PROCESSES": "1",
                "PCL_OUTPUTS": "off"}  # the outputs assets' own rebuild rule: test_add_task, test_graph
        for key, value in {**base, **env}.items():
            self.setenv(key, value.format(folder=self.folder))
        self.config = name

    def run(self, capsys=None, *args: str) -> str:
        assert main(["run", *args]) == 0
        return capsys.readouterr().out if capsys is not None else ""


def fresh_states(root: str, folder: str, names: str) -> None:
    """In a child process, beside the sequence: a fresh run of each configuration in its own
    homes, its store_state written to <root>/fresh-<name>.json (the second core does this work)."""
    for name in names.split(","):
        project = Project(Path(root) / f"fresh-{name}", Path(folder), lambda k, v: os.environ.__setitem__(k, v),
                          lambda k: os.environ.pop(k, None))
        project.use(name)
        project.run()
        state = store_state(project.home)
        (Path(root) / f"fresh-{name}.json").write_text(json.dumps(state), encoding="utf-8")


@pytest.mark.slow  # ~90-115 s on 2 cores: make test-slow, which CI runs after make test
def test_one_run_after_any_sequence_of_changes_equals_a_fresh_run(tmp_path, monkeypatch, capsys, request):
    folder = tmp_path / "real-movielens"  # real files in the official ML-1M format, not the embedded default's
    generate_movielens(folder, seed=7, scale=float(SCALE))
    # the fresh runs of the other final configurations, in a child process on the other core
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCL_") and k != "DAGSTER_HOME"}
    log = open(tmp_path / "fresh.log", "w", encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-c", "import sys; from tests.test_run_sequences import fresh_states; "
                              "fresh_states(*sys.argv[1:])", str(tmp_path), str(folder), "B,D,E"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    request.addfinalizer(lambda: child.poll() is None and child.kill())
    fresh: dict[str, dict] = {}

    def fresh_state(name: str) -> dict:
        path = tmp_path / f"fresh-{name}.json"
        while name not in fresh:
            if path.exists():
                fresh[name] = json.loads(path.read_text(encoding="utf-8"))
            elif child.poll() is not None:
                pytest.fail(f"the fresh run of {name} failed:\n{(tmp_path / 'fresh.log').read_text()[-3000:]}")
            else:
                time.sleep(0.5)
        return fresh[name]

    live = Project(tmp_path / "live", folder, monkeypatch.setenv, lambda k: monkeypatch.delenv(k, raising=False))
    live.use("A")
    monkeypatch.setenv("PCL_RUN_PROCESSES", "0")  # this run only: a process per dataset
    out = live.run(capsys)  # the first run on an empty home is itself the fresh run of A
    assert "never materialized into this PCL_HOME" in out
    # both datasets' chains ran at once, a process each; every later run (and every other fresh
    # run) runs in one process, so the comparisons with A below hold across both ways of running
    assert "2 processes, " in out or os.cpu_count() < 2
    monkeypatch.setenv("PCL_RUN_PROCESSES", "1")
    fresh["A"] = json.loads(json.dumps(store_state(live.home)))
    # the console: one line per finished asset with its headline number, not Dagster's events
    lines = [line for line in out.splitlines() if line.startswith("[")]
    total = int(lines[0].split("/")[1].split("]")[0])
    assert f"materializing {total} assets" in out and len(lines) == total
    assert lines[-1].startswith(f"[{total}/{total}] summary")
    assert any("movielens/eval_T2_rate_4plus" in line and "ndcg@10" in line and "baseline" in line for line in lines)
    assert "DEBUG" not in out and "STEP_OUTPUT" not in out

    def moved(project: Project) -> None:
        target = tmp_path / "moved_home"
        shutil.move(project.home, target)
        project.home = target
        project.use(project.config)

    def delete_artifact(project: Project) -> None:
        (project.home / "movielens" / "variants" / "default" / "prompt" / "T2_rate_4plus.safetensors").unlink()

    def wipe_dagster_home(project: Project) -> None:
        shutil.rmtree(project.dagster_home)

    def rewrite_by_hand(project: Project) -> None:
        (project.home / "reports" / "summary.md").unlink()
        record = project.home / "movielens" / "variants" / "default" / "eval" / "T2_rate_4plus.json"
        record.write_text(record.read_text(encoding="utf-8").replace('"ndcg@10": 0.', '"ndcg@10": 1.'), encoding="utf-8")

    def add_and_remove(project: Project) -> None:
        project.use("D")
        project.use("A")

    def killed_run(project: Project) -> None:
        """A real run (seed 1) killed with SIGKILL once three assets finished."""
        project.use("C")
        child = subprocess.Popen([sys.executable, "-u", "-m", "assets.cli", "run"], cwd=REPO, env=dict(os.environ),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            for line in child.stdout:
                if line.startswith("[3/"):
                    break
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()

    # (what happened, the changes, the final configuration, what the run's plan must say[, run arguments])
    table = [
        ("nothing changed", [], "A", "every asset is up to date"),
        ("movielens source switched to a folder of real files", [lambda p: p.use("B")], "B", "code version"),
        ("back to the embedded default, a task file added", [lambda p: p.use("D")], "D", "never materialized"),
        ("a task file edited (T2's lr; T3 inherits T2's prompt)", [lambda p: p.use("E")], "E", "code version"),
        ("the edit reverted, the added task file removed", [lambda p: p.use("A")], "A", "code version"),
        ("an artifact deleted", [delete_artifact], "A", "T2_rate_4plus.safetensors is missing"),
        ("summary.md deleted, an eval record edited by hand", [rewrite_by_hand], "A", "was rewritten after run"),
        ("PCL_HOME moved to another folder", [moved], "A", "every asset is up to date"),
        ("a task file added and removed before any run", [add_and_remove], "A", "every asset is up to date"),
        ("DAGSTER_HOME wiped", [wipe_dagster_home], "A", "has no record of"),
        ("seed changed, the run killed half-way, seed back", [killed_run, lambda p: p.use("A")], "A", "code version"),
        ("nothing changed, make run --force", [], "A", f"[{total}/{total}] summary", "--force"),
    ]
    assert len(table) >= 10
    timings = []
    for what, changes, config, expected, *args in table:
        t0 = time.perf_counter()
        for change in changes:
            change(live)
        out = live.run(capsys, *args)
        timings.append(f"{what}: {time.perf_counter() - t0:.1f} s")
        assert expected in out, f"{what}: the run's plan did not say {expected!r}:\n{out[:2000]}"
        now, want = json.loads(json.dumps(store_state(live.home))), fresh_state(config)
        missing = sorted(set(want) - set(now))
        differ = sorted(k for k in want if k in now and now[k] != want[k])
        assert not missing and not differ, f"after '{what}' the store differs from a fresh run of {config}: " \
                                           f"missing {missing}, different {differ}"
        if config == "B":
            summary = json.loads((live.home / "reports" / "summary.json").read_text(encoding="utf-8"))
            assert summary["datasets"]["movielens"]["source"] == str(folder)
    print("\n".join(timings))
    assert child.wait(timeout=60) == 0
    log.close()
