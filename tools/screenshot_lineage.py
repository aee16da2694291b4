"""Screenshot of the asset lineage of one dataset in the Dagster UI -> docs/img/lineage.png.

    .venv/bin/python tools/screenshot_lineage.py [--materialize] [--group movielens]

Starts `dagster dev` of this project with all state in a temporary folder (the server code is
tests/ui_server.py, shared with the UI smoke test), marks the first-visit modal as seen
(GraphQL `setNuxSeen`), and photographs the asset group's lineage page with headless Chromium
(`apt-get install chromium`). With --materialize the whole graph is first materialized with
`python -m assets.cli run` into the same PCL_HOME / DAGSTER_HOME (both datasets, full
catalog: about 10 min on 2 busy cores; --scale 0.5 halves the data), so the
nodes show their materialization status and metadata instead of "Never materialized".
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from ui_server import UIServer  # noqa: E402  (the one copy of the server code)

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: install it (Debian/Ubuntu: apt-get install -y chromium)")


def lineage_path(group: str) -> str:
    """The group's lineage page: the graph of all the group's assets, with their edges.

    (The per-asset page /assets/<key>?view=lineage shows only the neighbourhood of one asset, and
    the global page /asset-groups folds each group into one box.)"""
    return f"/locations/__repository__@assets.definitions/asset-groups/{group}/lineage"


def screenshot(url: str, out: Path, profile_dir: Path, window: str, budget_ms: int) -> None:
    cmd = [chromium_executable(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile_dir}", f"--window-size={window}",
           f"--virtual-time-budget={budget_ms}", f"--screenshot={out}", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if result.returncode != 0 or not out.exists():
        sys.exit(f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", default="movielens", help="asset group (dataset) to show")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img" / "lineage.png")
    parser.add_argument("--materialize", action="store_true",
                        help="materialize the whole graph first (python -m assets.cli run; minutes)")
    parser.add_argument("--path", help="UI path to photograph instead of the group's lineage page")
    # The lineage page zooms the graph to the canvas *width*; the graph of one dataset is taller than
    # it is wide, so a portrait window shows it whole. Below about this width the UI draws the
    # zoomed-out "minimal" nodes, whose names are cut in the middle (prompt..._rate_4plus); at this
    # size it draws the full cards: whole names, status, checks and kinds.
    parser.add_argument("--window", default="3600,4400", help="browser window size, WIDTH,HEIGHT")
    parser.add_argument("--budget-ms", type=int, default=40000, help="Chromium --virtual-time-budget")
    parser.add_argument("--scale", default=None, help="PCL_SYNTHETIC_SCALE for the embedded data")
    parser.add_argument("--state-dir", type=Path, help="keep DAGSTER_HOME/PCL_HOME here (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pcl-ui-") as tmp:
        state = args.state_dir or Path(tmp)
        state.mkdir(parents=True, exist_ok=True)
        env = {"PCL_SYNTHETIC_SCALE": args.scale} if args.scale else {}
        server = UIServer(state, env)
        if args.materialize:
            t0 = time.perf_counter()
            print(f"materializing the whole graph into {server.pcl_home} ...", flush=True)
            run = subprocess.run([sys.executable, "-m", "assets.cli", "run"], cwd=REPO_ROOT, env=server.env,
                                 capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"pcl_pipeline run failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
            print(f"materialized in {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"starting dagster dev on {server.url} ...", flush=True)
        server.start()
        try:
            server.graphql("mutation { setNuxSeen }")  # no first-visit modal over the graph
            url = server.url + (args.path or lineage_path(args.group))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            print(f"photographing {url}", flush=True)
            screenshot(url, args.out, state / "chromium-profile", args.window, args.budget_ms)
        finally:
            server.stop()
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
