"""`make run` runs only what is missing or stale, `--force` everything; two runs on one PCL_HOME
cannot both write (a lock naming the holder), and a lock left by a killed run is recognised;
the console shows one line per finished asset, not Dagster's DEBUG events."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from dagster import DagsterInstance

from pcl_pipeline.__main__ import main
from tests.conftest import REPO


def _runs() -> int:
    return len(DagsterInstance.get().get_runs())


def test_second_run_only_what_is_stale_and_force(tiny_env, monkeypatch, capsys):
    from dagster import AssetKey

    from pcl_pipeline.__main__ import materialize_selection
    from pcl_pipeline.settings import Settings

    # a run killed after the movielens data steps: those are stored, the rest is missing
    done = [AssetKey(["movielens", name]) for name in ("raw_logs", "interactions", "sequences")]
    assert materialize_selection(Settings.from_env(), done)
    capsys.readouterr()
    assert main(["run"]) == 0  # picks up where it stopped: everything but those three
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[")]
    total = int(lines[0].split("/")[1].split("]")[0])
    assert f"materializing {total} missing or stale assets" in out
    assert len(lines) == total and lines[-1].startswith(f"[{total}/{total}] summary")
    assert not any(f"] {key.to_user_string()} " in line for key in done for line in lines)
    assert any("movielens/eval_T2_rate_4plus" in line and "ndcg@10" in line and "baseline" in line for line in lines)
    assert "DEBUG" not in out and "STEP_OUTPUT" not in out
    runs = _runs()

    assert main(["run"]) == 0  # right after: nothing to do, no run launched
    assert "every asset is up to date" in capsys.readouterr().out and _runs() == runs

    assert main(["run", "--force"]) == 0  # everything again
    out = capsys.readouterr().out
    assert f"[{total + 3}/{total + 3}] summary" in out and _runs() == runs + 1

    # another source (here the embedded default's scale) makes raw_logs stale, so make run reads it again
    from pcl_pipeline.definitions import build_definitions, stale_keys
    from pcl_pipeline.settings import Settings

    assert stale_keys(build_definitions(Settings.from_env()), DagsterInstance.get()) == []
    monkeypatch.setenv("PCL_SYNTHETIC_SCALE", "0.4")
    stale = {k.to_user_string() for k in stale_keys(build_definitions(Settings.from_env()), DagsterInstance.get())}
    assert {"movielens/raw_logs", "tenrec/raw_logs"} <= stale


def test_a_second_run_on_the_same_home_stops_naming_the_holder(tiny_env, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pcl_pipeline.store.lock import home_lock\n"
         "with home_lock(sys.argv[1], 'make run'):\n    print('held', flush=True); time.sleep(60)",
         str(tiny_env["home"])], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run"]) == 3
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "make run" in err and "--wait" in err
    finally:
        holder.kill()
        holder.wait()
    # the killed holder left its record, never the lock: the next run says so and goes on
    lock = tiny_env["home"] / ".pcl.lock"
    assert json.loads(lock.read_text())["pid"] == holder.pid
    from pcl_pipeline.store.lock import home_lock

    notes = []
    with home_lock(tiny_env["home"], "test", log=notes.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {holder.pid}" in notes[0] and "killed?" in notes[0]
    assert lock.read_text() == ""  # released cleanly
