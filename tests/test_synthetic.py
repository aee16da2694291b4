"""The embedded data generator: determinism, exact official formats, scaling, atomic writes, and the
planted sequential signal (a first-order Markov model must clearly beat popularity on T1)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pcl_pipeline import synthetic
from pcl_pipeline.formats.tenrec import lifelong_header
from pcl_pipeline.synthetic import ML_AGES, ML_GENRES, generate_movielens, generate_tenrec
from pcl_pipeline.synthetic import tenrec as tenrec_generator
from pcl_pipeline.synthetic.writer import atomic_files

ML_FILES = ["ratings.dat", "users.dat", "movies.dat"]
TENREC_FILES = ["task_0.csv", "task_1.csv", "task_2.csv", "task_3.csv"]
VIDEO_HEADER = "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age"
# the lifelong headers as Tenrec releases them (literals: they pin the released layout)
RELEASED = {
    "task_0.csv": VIDEO_HEADER,
    "task_1.csv": "user_id,item_id,click,gender,age,read,share,like,follow,favorite",
    "task_2.csv": VIDEO_HEADER,
    "task_3.csv": "user_id,item_id,click,gender,age",
}


@pytest.fixture(scope="module")
def ml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml")
    generate_movielens(out, seed=0)
    return out


@pytest.fixture(scope="module")
def tenrec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tenrec")
    generate_tenrec(out, seed=0)
    return out


def _int_table(lines: list[str], sep: str, n_fields: int) -> np.ndarray:
    rows = [line.split(sep) for line in lines]
    assert {len(r) for r in rows} == {n_fields}
    return np.array(rows, dtype=np.int64)


def _ml_ratings(ml_dir: Path) -> np.ndarray:
    text = (ml_dir / "ratings.dat").read_bytes().decode("ascii")
    assert text.endswith("\n") and "\r" not in text
    return _int_table(text.splitlines(), "::", 4)  # (rows, [user, movie, rating, ts])


class _Columns(dict):
    """A Tenrec file's columns by header name (\\N, a missing value, read as -1); len = rows."""

    def __len__(self) -> int:
        return len(next(iter(self.values())))


def _tenrec(tenrec_dir: Path, name: str) -> _Columns:
    text = (tenrec_dir / name).read_bytes().decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    header, *lines = text.splitlines()
    assert header == RELEASED[name]
    names = header.split(",")
    table = _int_table([line.replace("\\N", "-1") for line in lines], ",", len(names))
    return _Columns({n: table[:, i] for i, n in enumerate(names)})


# -------------------------------------------------------------------------------------------------
# Determinism, return value, atomicity


def test_returns_paths_of_the_written_files(tmp_path: Path) -> None:
    ml = generate_movielens(tmp_path / "ml", scale=0.1)
    tr = generate_tenrec(tmp_path / "tr", scale=0.1)
    assert list(ml) == ML_FILES and list(tr) == TENREC_FILES
    for name, path in {**ml, **tr}.items():
        assert path.name == name and path.is_file() and path.stat().st_size > 0
    # Only the final files remain: no temporary leftovers.
    assert sorted(p.name for p in (tmp_path / "ml").iterdir()) == sorted(ML_FILES)
    assert sorted(p.name for p in (tmp_path / "tr").iterdir()) == sorted(TENREC_FILES)


@pytest.mark.parametrize("generate", [generate_movielens, generate_tenrec])
def test_same_seed_same_bytes_other_seed_other_bytes(generate, tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=7, scale=0.5)
    b = generate(tmp_path / "b", seed=7, scale=0.5)
    c = generate(tmp_path / "c", seed=8, scale=0.5)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert any(a[name].read_bytes() != c[name].read_bytes() for name in a)


def test_same_seed_same_bytes_across_chunks(tmp_path: Path) -> None:
    # Several chunks of users (each its own random stream) must be deterministic too.
    cfg = synthetic.TenrecSynthConfig(chunk_users=64)
    a = generate_tenrec(tmp_path / "a", seed=3, scale=0.3, config=cfg)
    b = generate_tenrec(tmp_path / "b", seed=3, scale=0.3, config=cfg)
    assert all(a[n].read_bytes() == b[n].read_bytes() for n in a)
    users = _tenrec(tmp_path / "a", "task_0.csv")["user_id"]
    assert np.array_equal(np.unique(users), np.arange(1, 241))


def _fail_on_second_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make generate_tenrec fail mid-way: after the headers and a whole chunk have been written."""
    real = tenrec_generator._tenrec_chunk
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(tenrec_generator, "_tenrec_chunk", flaky)


def test_failed_generation_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on_second_chunk(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_tenrec(tmp_path, scale=0.3, config=synthetic.TenrecSynthConfig(chunk_users=64))
    assert list(tmp_path.iterdir()) == []


def test_failed_generation_keeps_the_previous_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {n: p.read_bytes() for n, p in generate_tenrec(tmp_path, seed=1, scale=0.1).items()}
    _fail_on_second_chunk(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_tenrec(tmp_path, seed=2, scale=0.3, config=synthetic.TenrecSynthConfig(chunk_users=64))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TENREC_FILES)
    assert {n: (tmp_path / n).read_bytes() for n in TENREC_FILES} == before


def test_atomic_files_all_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_files(tmp_path, ["a", "b"]) as f:
            f["a"].write(b"complete\n")
            f["b"].write(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_files(tmp_path / "new", ["a", "b"]) as f:  # creates the folder
        f["a"].write(b"1\n")
        f["b"].write(b"2\n")
    assert [(p.name, p.read_bytes()) for p in sorted((tmp_path / "new").iterdir())] == [
        ("a", b"1\n"), ("b", b"2\n")
    ]
    # Ordinary data-file permissions, not the 0600 of a temporary file.
    assert all((tmp_path / "new" / n).stat().st_mode & 0o777 == 0o644 for n in ("a", "b"))


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale_is_refused(scale: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_movielens(tmp_path, scale=scale)


# -------------------------------------------------------------------------------------------------
# MovieLens ML-1M format


def test_ml_ratings_format(ml_dir: Path) -> None:
    r = _ml_ratings(ml_dir)
    user, movie, rating, ts = r.T
    assert set(np.unique(rating)) == {1, 2, 3, 4, 5}
    assert ts.min() >= 956703932 and ts.max() < 2**31  # unix seconds from ML-1M's start
    counts = np.bincount(user)[1:]
    assert np.array_equal(np.unique(user), np.arange(1, len(counts) + 1))
    assert counts.min() >= 20  # ML-1M's guarantee
    pairs = user * (movie.max() + 1) + movie
    assert len(np.unique(pairs)) == len(pairs)  # a user rates a movie at most once
    # Ties occur but are rare (the reader breaks them by movie id).
    order = np.lexsort((ts, user))
    same_user = user[order][1:] == user[order][:-1]
    ties = np.mean(ts[order][1:][same_user] == ts[order][:-1][same_user])
    assert 0.0 < ties < 0.05


def test_ml_users_format(ml_dir: Path) -> None:
    lines = (ml_dir / "users.dat").read_bytes().decode("ascii").splitlines()
    rows = [line.split("::") for line in lines]
    assert {len(r) for r in rows} == {5}
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert {r[1] for r in rows} == {"M", "F"}
    assert {int(r[2]) for r in rows} <= set(ML_AGES)
    assert {int(r[3]) for r in rows} <= set(range(21))
    assert all(re.fullmatch(r"\d{5}", r[4]) for r in rows)
    rated = np.unique(_ml_ratings(ml_dir)[:, 0])
    assert np.array_equal(rated, np.arange(1, len(rows) + 1))  # every user rated, every rater listed


def test_ml_movies_format(ml_dir: Path) -> None:
    raw = (ml_dir / "movies.dat").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("ascii")  # at least one latin-1 title exercises the readers' decoding
    text = raw.decode("latin-1")
    assert "Amélie" in text
    rows = [line.split("::") for line in text.splitlines()]
    assert {len(r) for r in rows} == {3}
    ids = np.array([int(r[0]) for r in rows])
    assert ids[0] == 1 and np.all(np.diff(ids) > 0)
    assert ids[-1] > len(ids)  # ids have gaps, as in ML-1M
    assert all(re.fullmatch(r".+ \((19|20)\d\d\)", r[1]) for r in rows)
    genres = [r[2].split("|") for r in rows]
    assert all(g and set(g) <= set(ML_GENRES) and len(set(g)) == len(g) for g in genres)
    assert set(np.unique(_ml_ratings(ml_dir)[:, 1])) <= set(ids.tolist())


# -------------------------------------------------------------------------------------------------
# Tenrec lifelong format


def test_tenrec_headers_are_the_released_ones(tenrec_dir: Path) -> None:
    # The generator writes formats.tenrec's declaration; the literals pin the released layout.
    for name in TENREC_FILES:
        assert lifelong_header(name) == RELEASED[name]
        header = (tenrec_dir / name).read_text(encoding="utf-8").split("\n", 1)[0]
        assert header == lifelong_header(name), name
    with pytest.raises(ValueError, match="task_k.csv"):
        lifelong_header("QK-video.csv")


def test_tenrec_formats_and_shared_users(tenrec_dir: Path) -> None:
    tables = {name: _tenrec(tenrec_dir, name) for name in TENREC_FILES}
    n_users = int(tables["task_0.csv"]["user_id"].max())
    profile: dict[int, tuple[int, int]] = {}
    for name, t in tables.items():
        user, item = t["user_id"], t["item_id"]
        # One user id space: every user in every file; a user's rows are consecutive.
        assert np.array_equal(np.unique(user), np.arange(1, n_users + 1)), name
        assert np.all(np.diff(user) >= 0), name
        assert item.min() == 1, name
        pairs = user * (item.max() + 1) + item
        assert len(np.unique(pairs)) == len(pairs), name  # no repeated item within a user's file
        gender, age = t["gender"], t["age"]
        assert set(np.unique(gender)) <= {0, 1, 2} and set(np.unique(age)) <= set(range(8)), name
        for flag in ("click", "follow", "like", "share"):
            if flag in t:
                assert set(np.unique(t[flag])) <= {0, 1}, (name, flag)
        for u, g, a in np.unique(np.stack([user, gender, age], axis=1), axis=0):
            assert profile.setdefault(int(u), (int(g), int(a))) == (int(g), int(a)), (name, u)
    assert len(profile) == n_users  # one (gender, age) per user across all files
    assert (tables["task_0.csv"]["click"] == 1).all() and (tables["task_1.csv"]["click"] == 1).all()
    assert (tables["task_3.csv"]["click"] == 1).all()
    # like the released files, some videos have no category (\\N), decided by the id
    category, item = tables["task_0.csv"]["video_category"], tables["task_0.csv"]["item_id"]
    assert np.array_equal(category == -1, item % 50 == 0) and (category == -1).any()
    ages = np.array([a for _, a in profile.values()])
    assert 0.01 < np.mean(ages == 0) < 0.12  # some unknown ages (~5%)
    per_user = np.bincount(tables["task_3.csv"]["user_id"])[1:]
    assert per_user.min() >= 1 and 2 <= per_user.mean() <= 4


def test_tenrec_likes_are_a_subset_of_clicks(tenrec_dir: Path) -> None:
    t = _tenrec(tenrec_dir, "task_2.csv")
    click, like = t["click"], t["like"]
    assert 0 < click.mean() < 1
    assert not np.any((like == 1) & (click == 0))
    assert 0.25 < like[click == 1].mean() < 0.55  # ~40% of clicks are liked
    articles = _tenrec(tenrec_dir, "task_1.csv")
    assert set(np.unique(articles["read"])) == {0, 1}


# -------------------------------------------------------------------------------------------------
# Scale


def test_scale_multiplies_rows(tmp_path: Path) -> None:
    small = generate_movielens(tmp_path / "m1", scale=0.5)
    big = generate_movielens(tmp_path / "m2", scale=1.5)
    ratio = len(_ml_ratings(big["ratings.dat"].parent)) / len(_ml_ratings(small["ratings.dat"].parent))
    assert 2.4 < ratio < 3.6
    small = generate_tenrec(tmp_path / "t1", scale=0.5)
    big = generate_tenrec(tmp_path / "t2", scale=1.5)
    for name in TENREC_FILES:
        ratio = len(_tenrec(big[name].parent, name)) / len(_tenrec(small[name].parent, name))
        assert 2.4 < ratio < 3.6, name


# -------------------------------------------------------------------------------------------------
# Learnability: the planted sequential signal


def _markov_and_popularity_hr10(seqs: list[np.ndarray], n_items: int) -> tuple[float, float]:
    """Leave-one-out HR@10 of a previous-item -> next-item count model and of popularity.

    Both are trained on every sequence without its last item, rank all items except the user's
    history, and count ties against the target (pessimistic).
    """
    counts = np.zeros((n_items + 1, n_items + 1))  # (prev, next)
    pop = np.zeros(n_items + 1)
    for s in seqs:
        train = s[:-1]
        np.add.at(pop, train, 1)
        np.add.at(counts, (train[:-1], train[1:]), 1)

    def hit(scores: np.ndarray, target: int, history: np.ndarray) -> bool:
        scores = scores.copy()
        scores[0] = -np.inf
        scores[history] = -np.inf
        better_or_tied = np.sum(scores >= scores[target]) - 1
        return better_or_tied < 10

    markov = np.mean([hit(counts[s[-2]] + 1e-6 * pop, s[-1], s[:-1]) for s in seqs])
    popularity = np.mean([hit(pop, s[-1], s[:-1]) for s in seqs])
    return float(markov), float(popularity)


def test_tenrec_next_item_is_predictable_beyond_popularity(tenrec_dir: Path) -> None:
    t = _tenrec(tenrec_dir, "task_0.csv")
    user, item = t["user_id"], t["item_id"]
    cuts = np.flatnonzero(np.diff(user)) + 1  # rows are in behaviour order within a user
    markov, popularity = _markov_and_popularity_hr10(np.split(item, cuts), int(item.max()))
    assert markov > 2 * popularity, (markov, popularity)


def test_movielens_next_movie_is_predictable_beyond_popularity(ml_dir: Path) -> None:
    r = _ml_ratings(ml_dir)
    r = r[np.lexsort((r[:, 1], r[:, 3], r[:, 0]))]  # by user, then (timestamp, movie id) as the reader
    cuts = np.flatnonzero(np.diff(r[:, 0])) + 1
    markov, popularity = _markov_and_popularity_hr10(np.split(r[:, 1], cuts), int(r[:, 1].max()))
    assert markov > 2 * popularity, (markov, popularity)


# -------------------------------------------------------------------------------------------------
# The project's own readers accept the files


def test_the_official_format_readers_accept_the_files(ml_dir: Path, tenrec_dir: Path) -> None:
    import duckdb

    from pcl_pipeline.formats import read_source

    con = duckdb.connect()
    ml = read_source(con, "movielens", ml_dir)
    assert ml.format == "ml-1m"
    assert con.sql(f"SELECT count(*) FROM {ml.tables['ratings']}").fetchall()[0][0] == len(_ml_ratings(ml_dir))
    tenrec = read_source(con, "tenrec", tenrec_dir)
    assert tenrec.format == "tenrec-lifelong"
    for name in TENREC_FILES:
        table = tenrec.tables[name.removesuffix(".csv")]
        assert con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0] == len(_tenrec(tenrec_dir, name))
