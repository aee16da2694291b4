"""The library's command line: `python -m pcl_pipeline predict` (also `pcl predict`) scores users with a stored task.

    python -m pcl_pipeline predict --dataset movielens --task T2_rate_4plus --users 1,2,3
    python -m pcl_pipeline predict --dataset movielens --task T4_gender --input histories.csv --output preds.parquet

--users takes the users' whole histories from the store (interactions.parquet, in time order);
--input reads a .parquet or .csv file of interactions with columns user_id and item_id (and
timestamp, else the file's order is the time order). Item tasks and T1 give the top --k items per
user, classification tasks the class probabilities and the label. The answer is printed for the
first users and, with --output (.parquet or .csv), written whole and atomically.

--all-users scores every user of the store as the predictions_<task> / user_repr_<task> assets do
(--what predictions or user_repr) into --output (.parquet), streamed in row groups; --shard I/N
keeps the users whose CRC-32 of the user id is I mod N, so N workers, each with its own I, score
disjoint parts that together are the whole (docs/deployment.md):

    python -m pcl_pipeline predict --dataset movielens --task T2_rate_4plus --all-users --shard 3/8 --output part-3.parquet
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from pcl_pipeline.errors import InputError, SettingsError
from pcl_pipeline.serving.predictor import TaskPredictor
from pcl_pipeline.settings import Settings
from pcl_pipeline.store.files import atomic_path

SHOWN_USERS = 5  # users printed on the terminal


def histories_from_file(path: Path) -> tuple[list, list[list]]:
    """(user ids, their item-id histories in time order) from a .parquet/.csv interactions file."""
    if not path.exists():
        raise InputError(path, "no such file", expected="a .parquet or .csv file of interactions")
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(path, "unknown file type", value=path.suffix, expected=".parquet or .csv")
    con = duckdb.connect()
    reader = "read_parquet(?)" if path.suffix.lower() == ".parquet" else "read_csv(?, header = true)"
    try:
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}", [str(path)]).fetchall()]
    except duckdb.Error as exc:
        raise InputError(path, f"cannot be read: {str(exc).splitlines()[0]}") from None
    for column in ("user_id", "item_id"):
        if column not in columns:
            raise InputError(path, "missing column", field=column,
                             expected="columns user_id, item_id and optionally timestamp; got " + ", ".join(columns))
    order = "timestamp, line" if "timestamp" in columns else "line"
    rows = con.execute(f"""
        SELECT user_id, list(item_id ORDER BY {order}) FROM (
            SELECT *, row_number() OVER () AS line FROM {reader}) GROUP BY user_id ORDER BY min(line)""",
                       [str(path)]).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def histories_from_store(predictor: TaskPredictor, users: list[str]) -> tuple[list, list[list]]:
    """The given users' whole histories in the store (interactions.parquet, in time order)."""
    path = predictor.store.interactions
    rows = duckdb.execute("""
        SELECT CAST(user_id AS VARCHAR), list(item_id ORDER BY pos) FROM read_parquet(?)
        WHERE CAST(user_id AS VARCHAR) IN (SELECT unnest(?)) GROUP BY user_id""", [str(path), users]).fetchall()
    found = {r[0]: r[1] for r in rows}
    missing = [u for u in users if u not in found]
    if missing:
        raise InputError(path, "no such user", field="user_id", value=", ".join(missing[:5]),
                         expected="users of this dataset's store")
    return users, [found[u] for u in users]


def answer(predictor: TaskPredictor, users: list, histories: list[list], k: int) -> pa.Table:
    """The task's answer per user, with a user_id column in front of the predictor's row index."""
    table = predictor.predict(histories) if predictor.kind == "classification" \
        else predictor.recommend(histories, k)
    user_ids = pa.array([str(u) for u in users]).take(table["row"])
    return table.drop(["row"]).add_column(0, "user_id", user_ids)


def write(table: pa.Table, path: Path) -> None:
    """The answer to `path` (.parquet, else .csv: run_predict checked the type before scoring)."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcl_pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser("predict", help="score users with a stored task")
    add_predict_arguments(predict)
    args = parser.parse_args(argv)
    return run_predict(args)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, help="the PCL_HOME (default: $PCL_HOME, else .pcl)")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--task", required=True, help="a task name (T1's: the backbone's next items)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="comma-separated user ids of the store")
    who.add_argument("--input", type=Path, help="a .parquet or .csv file: user_id, item_id[, timestamp]")
    who.add_argument("--all-users", action="store_true", help="every user of the store (as the assets), to --output")
    parser.add_argument("--shard", help="with --all-users: I/N, this worker's part of the users (0 <= I < N)")
    parser.add_argument("--what", choices=("predictions", "user_repr"), default="predictions",
                        help="with --all-users: the task's answers or its user representations")
    parser.add_argument("--output", type=Path, help="write the whole answer here (.parquet or .csv)")
    parser.add_argument("--k", type=int, default=20, help="items per user (item tasks, T1)")
    parser.add_argument("--device", default="cpu")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise InputError("--shard", "not a shard", value=text, expected="I/N with 0 <= I < N, e.g. 3/8")
    return i, n


def score_all_users(args: argparse.Namespace, home: Path) -> int:
    """--all-users: the assets' computation for every user (or one shard) into --output."""
    from pcl_pipeline.stages.outputs import write_predictions, write_user_repr

    shard = parse_shard(args.shard)
    if args.output is None or args.output.suffix.lower() != ".parquet":
        raise InputError(args.output or "--output", "--all-users writes a Parquet file", field="--output",
                         expected="a path ending in .parquet")
    store = TaskPredictor.open(home, args.dataset, args.task, device="cpu").store  # checks dataset and task
    device = torch.device(args.device)
    out = write_predictions(store, args.task, args.k, device, shard=shard, path=args.output) \
        if args.what == "predictions" else write_user_repr(store, args.task, device, shard=shard, path=args.output)
    print(f"{args.dataset}/{args.task} {args.what}: {out['users']} users"
          + (f" (shard {args.shard})" if shard else "") + f", {out['rows']} rows -> {args.output}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    try:
        if args.shard is not None and not args.all_users:
            raise InputError("--shard", "a shard is a part of every user", expected="--all-users with --shard")
        if args.all_users:
            return score_all_users(args, args.home or Settings.from_env().home)
        if args.output is not None and args.output.suffix.lower() not in (".parquet", ".csv"):
            raise InputError(args.output, "unknown output type", value=args.output.suffix,
                             expected=".parquet or .csv")
        home = args.home or Settings.from_env().home
        predictor = TaskPredictor.open(home, args.dataset, args.task, device=args.device)
        if args.input is not None:
            users, histories = histories_from_file(args.input)
        else:
            users, histories = histories_from_store(predictor, [u.strip() for u in args.users.split(",") if u.strip()])
        table = answer(predictor, users, histories, args.k)
    except (InputError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = set(str(u) for u in users[:SHOWN_USERS])
    preview = table.filter(pa.compute.is_in(table["user_id"], pa.array(sorted(shown))))
    if predictor.kind != "classification":
        preview = preview.filter(pa.compute.less_equal(preview["rank"], 5))
    print(f"{args.dataset}/{args.task}: {len(users)} users, {predictor.last_counts['unknown_item_ids']} unknown item "
          f"ids skipped, {predictor.last_counts['empty_histories']} empty histories (fallback)")
    print(preview.to_pandas().to_string(index=False))
    if args.output is not None:
        write(table, args.output)
        print(f"wrote {table.num_rows} rows to {args.output}")
    return 0
