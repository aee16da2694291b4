"""One writer per PCL_HOME: an advisory lock file holding the holder's pid.

The lock is an OS file lock (fcntl.flock) on $PCL_HOME/.pcl.lock, so it is released by the
kernel when the holding process ends in any way (a killed run leaves the file, never the lock:
the next run recognises it as stale and says so). The file records pid, host, command and start
time, so the message a second run prints names who holds it.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path


class LockHeld(RuntimeError):
    """Another process holds the PCL_HOME lock."""


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}, started "
            f"{holder.get('started')})")


@contextmanager
def home_lock(home: Path, command: str, *, wait: bool = False, poll_seconds: float = 2.0, log=print):
    """Hold the lock of `home` for the block. Raises LockHeld naming the holder if another
    process has it (or waits for it when `wait`); reports a stale lock left by a killed run."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".pcl.lock"
    handle = open(path, "a+", encoding="utf-8")
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if not wait:
                    raise LockHeld(f"{path}: PCL_HOME is in use by {describe(holder)}; wait for it to finish, "
                                   f"or run with --wait") from None
                log(f"waiting for {describe(holder)} to release {path} ...")
                time.sleep(poll_seconds)
        previous = _holder(path)
        if previous and previous.get("pid") != os.getpid():
            log(f"note: {path} was left by {describe(previous)}, which ended without releasing it "
                f"(killed?); continuing from what it stored")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()  # released cleanly: an empty file is no stale holder
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
