"""Start and stop the Dagster UI (`dagster dev`) of this project for tests and scripts.

Not a test module: the UI smoke test (tests/test_ui.py) and tools/screenshot_lineage.py
import it. `dagster dev` runs from the repository root on `workspace.yaml`, on a free local port,
with its own DAGSTER_HOME (a copy of dagster_home/dagster.yaml) and PCL_HOME under a given
folder, so nothing is written into the working tree.

Two lessons from this machine (docs: /work/shared/DESIGN.md, "Dagster 1.13 facts"):
  * A process started in the background may inherit an *ignored* SIGINT and then never stop on
    Ctrl-C; the server is started in its own session with SIGINT restored to the default.
  * `dagster dev` spawns the webserver, the daemon, a code server and one process per run; they
    all share the server's process group, which is signalled as a whole (SIGINT, then SIGTERM,
    then SIGKILL) and checked empty afterwards.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# Variables that would point the code location at real data or another task order: the UI helper
# starts from the embedded default unless the caller sets them again explicitly.
_SCRUBBED = ("PCL_MOVIELENS_PATH", "PCL_TENREC_PATH", "PCL_TASK_ORDER_MOVIELENS", "PCL_TASK_ORDER_TENREC")

_WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message errorChain { error { message } } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class UIServerError(RuntimeError):
    pass


def dagster_executable() -> Path:
    """The `dagster` script of the running interpreter's environment (the project's .venv)."""
    exe = Path(sys.executable).parent / "dagster"
    if not exe.exists():
        raise UIServerError(f"no dagster executable next to {sys.executable}; install the project (make setup)")
    return exe


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _restore_signals() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc (zombies not yet reaped by
    init would make `os.killpg(pgid, 0)` succeed although nothing runs any more)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: fall back to the signal probe
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class UIServer:
    """A running `dagster dev`. Use `start_ui(...)` (a context manager) rather than this directly."""

    def __init__(self, state_dir: Path, env: Mapping[str, str | None] | None = None, host: str = HOST,
                 port: int | None = None):
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port or free_port(host)
        self.dagster_home = self.state_dir / "dagster_home"
        self.pcl_home = self.state_dir / "pcl_home"
        self.log_path = self.state_dir / "dagster_dev.log"
        self.env = self._environment(env or {})
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None

    # -- environment -----------------------------------------------------------------------------

    def _environment(self, overrides: Mapping[str, str | None]) -> dict[str, str]:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.pcl_home.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / "dagster_home" / "dagster.yaml", self.dagster_home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update({
            "DAGSTER_HOME": str(self.dagster_home),
            "PCL_HOME": str(self.pcl_home),
            "PCL_TASKS_DIR": str(REPO_ROOT / "tasks"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            # The project's automation sensor starts RUNNING under `dagster dev` and would
            # materialize (train) the whole graph by itself; callers launch what they need.
            "PCL_AUTOMATION": "off",
        })
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        return env

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> "UIServer":
        cmd = [str(dagster_executable()), "dev", "-w", "workspace.yaml", "-h", self.host, "-p", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_restore_signals,
            )
        self.pgid = self.proc.pid  # a new session: the leader's pid is the group id
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until the GraphQL endpoint answers and every code location has loaded."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise UIServerError(f"dagster dev exited with code {self.proc.returncode}\n{self.log_tail()}")
            try:
                data = self.graphql(_WORKSPACE_QUERY, timeout=5)
            except (OSError, UIServerError) as exc:  # connection refused, not up yet
                last = repr(exc)
                time.sleep(0.5)
                continue
            workspace = data["workspaceOrError"]
            entries = workspace.get("locationEntries") or []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
                if errors:
                    msgs = "\n".join(
                        f"{e['name']}: {e['locationOrLoadError']['message'].strip()}"
                        + "".join(f"\n  caused by: {c['error']['message'].strip()}"
                                  for c in e['locationOrLoadError'].get('errorChain') or [])
                        for e in errors)
                    raise UIServerError(f"code location failed to load:\n{msgs}\n{self.log_tail()}")
                return
            last = json.dumps(workspace)[:500]
            time.sleep(0.5)
        raise UIServerError(f"dagster dev not ready after {timeout:.0f} s (last: {last})\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT to the whole process group (dagster dev shuts its children down), then SIGTERM,
        then SIGKILL for whatever is left; returns once the group is empty."""
        if self.proc is None or self.pgid is None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            if not self._alive():
                break
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._alive():
                time.sleep(0.2)
        if self._alive():
            raise UIServerError(f"process group {self.pgid} still alive after SIGKILL: {group_members(self.pgid)}")

    def _alive(self) -> bool:
        assert self.proc is not None and self.pgid is not None
        self.proc.poll()  # reap the leader when it has exited
        return self.proc.returncode is None or bool(group_members(self.pgid))

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"

    # -- GraphQL ---------------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 30) -> dict:
        """POST one query to /graphql; returns `data`, raises UIServerError on GraphQL errors."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise UIServerError(f"GraphQL HTTP {exc.code}: {exc.read()[:1000]!r}") from exc
        if payload.get("errors"):
            raise UIServerError(f"GraphQL errors: {json.dumps(payload['errors'])[:2000]}")
        return payload["data"]

    def client(self):
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient(self.host, port_number=self.port)


@contextmanager
def start_ui(state_dir: Path, env: Mapping[str, str | None] | None = None, timeout: float = 90.0,
             port: int | None = None) -> Iterator[UIServer]:
    """`dagster dev` of this project, ready to answer GraphQL; stopped (by PID) on exit.

    state_dir holds DAGSTER_HOME, PCL_HOME and the server log. `env` overrides variables of the
    server's environment (None unsets one)."""
    server = UIServer(state_dir, env, port=port)
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()
