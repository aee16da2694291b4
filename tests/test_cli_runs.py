"""Two runs on one PCL_HOME cannot both write (a lock naming the holder), and a lock left by a
killed run is recognised. What one run rebuilds after a change, its console lines and --force:
tests/test_run_sequences.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from assets.cli import main
from tests.conftest import REPO


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
