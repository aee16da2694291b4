"""Real-world inputs end to end: a MovieLens folder in the ML-latest format (ratings.csv with a
header ending in ",,,,", CRLF line ends, a BOM; no users table) and Tenrec lifelong files with
the released headers (the embedded default writes exactly those) run to a report with exit 0;
the gender task is marked not applicable with its reason, in summary.json and on the console;
an ML-100K u.user starting with a blank line is read with the blank line counted."""
from __future__ import annotations

import csv
import json

import duckdb

from assets.cli import main
from pcl_pipeline.formats import read_source
from pcl_pipeline.synthetic import generate_movielens


def write_ml_latest(folder, seed: int = 0, scale: float = 0.5):
    """The embedded default's ratings and movies, rewritten as an ML-latest folder from the wild."""
    ml1m = folder.parent / "ml1m"
    generate_movielens(ml1m, seed=seed, scale=scale)
    folder.mkdir(parents=True)
    ratings = (ml1m / "ratings.dat").read_text(encoding="latin-1").splitlines()
    with open(folder / "ratings.csv", "w", encoding="utf-8-sig", newline="") as f:
        f.write("userId,movieId,rating,timestamp,,,,\r\n")
        for line in ratings:
            f.write(",".join(line.split("::")) + "\r\n")
    with open(folder / "movies.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for line in (ml1m / "movies.dat").read_text(encoding="latin-1").splitlines():
            writer.writerow(line.split("::"))
    return folder


def test_ml_latest_and_released_tenrec_run_to_a_report(tiny_env, monkeypatch, capsys):
    folder = write_ml_latest(tiny_env["root"] / "ml-latest")
    monkeypatch.setenv("PCL_MOVIELENS_PATH", str(folder))
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tiny_env["home"] / "reports" / "summary.json").read_text())
    movielens = {t["name"]: t for t in summary["datasets"]["movielens"]["tasks"]}
    assert movielens["T4_gender"]["status"] == "not_applicable"
    assert "'users' is not in this data" in movielens["T4_gender"]["reason"]
    assert all(movielens[t]["status"] == "ok" for t in ("T1_next_item", "T2_rate_4plus", "T3_rate_5"))
    assert summary["datasets"]["movielens"]["forgetting"]["max_abs_change"] == 0.0
    assert f"skipped movielens/T4_gender: not applicable to this data: {movielens['T4_gender']['reason']}" in out
    # Tenrec ran on the released headers (task_1 without article categories, task_3 ids + profile)
    tenrec = summary["datasets"]["tenrec"]["tasks"]
    assert [t["status"] for t in tenrec] == ["ok"] * 4
    header = (tiny_env["home"] / "tenrec" / "embedded" / "task_3.csv").read_text().split("\n", 1)[0]
    assert header == "user_id,item_id,click,gender,age"


def test_ml100k_user_file_starting_with_a_blank_line(tmp_path):
    from tests.test_formats import write

    write(tmp_path, {"u.data": "1\t10\t5\t881250949\n2\t10\t3\t891717742\n",
                     "u.user": "\n1|24|M|technician|85711\n2|53|F|other|94043\n",
                     "u.item": "10|Richard III (1995)|22-Jan-1996||http://x|" + "|".join(["0"] * 18 + ["1"]) + "\n"})
    con = duckdb.connect()
    source = read_source(con, "movielens", tmp_path)
    assert source.tolerated == {"u.user": {"blank lines skipped": 1}}
    assert con.execute("SELECT line, user_id FROM raw_users ORDER BY line").fetchall() == [(2, 1), (3, 2)]
