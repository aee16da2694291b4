"""MovieLens file layouts (ML-1M, ML-100K, ML-latest/25M) as declarations for the shared reader.

Standard tables: ratings(user_id, item_id, rating, timestamp), users(user_id, gender, age,
occupation) and movies(item_id, title, genres with '|' between genres). ML-latest has no users.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from pcl_pipeline.formats._spec import Field, FileSpec

DATASET = "movielens"

# The file whose presence decides the format, checked in this order.
_SIGNATURES = (("ratings.dat", "ml-1m"), ("u.data", "ml-100k"), ("ratings.csv", "ml-latest"))
RECOGNISED = tuple(name for name, _ in _SIGNATURES)

# ML-100K u.item ends with one 0/1 flag per genre, in this fixed order.
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

_USER = Field("user_id", min=1)
_ITEM = Field("item_id", min=1)
_RATING = Field("rating", "DOUBLE", min=0.5, max=5)
_TIMESTAMP = Field("timestamp", min=0)
_GENDER = Field("gender", "VARCHAR", allowed=("M", "F"))
_AGE = Field("age", "INTEGER", min=1)
_OCCUPATION = Field("occupation", "VARCHAR")
_ZIP = Field("zip_code", "VARCHAR")
_TITLE = Field("title", "VARCHAR")
_RATINGS_OUT = ("user_id", "item_id", "rating", "timestamp")
_RATING_KEY = ("user_id", "item_id", "timestamp")  # a rating repeated with another value is an error
_RATING_PAIR = ("user_id", "item_id")  # most logs rate an item once per user: proven when so
_USERS_OUT = ("user_id", "gender", "age", "occupation")
_MOVIES_OUT = ("item_id", "title", "genres")


def _src(field: Field, source: str) -> Field:
    """The same field under the name the official README or header gives it."""
    return replace(field, source=source)


_ML_1M = {
    "ratings.dat": FileSpec(
        "ratings", "::", False,
        (_src(_USER, "UserID"), _src(_ITEM, "MovieID"), _src(_RATING, "Rating"),
         _src(_TIMESTAMP, "Timestamp")),
        _RATINGS_OUT, encoding="latin-1", unique=_RATING_KEY, narrow_unique=_RATING_PAIR),
    "users.dat": FileSpec(
        "users", "::", False,
        (_src(_USER, "UserID"), _src(_GENDER, "Gender"), _src(_AGE, "Age"),
         _src(_OCCUPATION, "Occupation"), _src(_ZIP, "Zip-code")),
        _USERS_OUT, encoding="latin-1", unique=("user_id",)),
    "movies.dat": FileSpec(
        "movies", "::", False,
        (_src(_ITEM, "MovieID"), _src(_TITLE, "Title"), Field("genres", "VARCHAR", "Genres")),
        _MOVIES_OUT, encoding="latin-1"),
}

# Genre names are fixed literals above; doubling ' makes "Children's" a valid SQL string.
_GENRES_SQL = "concat_ws('|', " + ", ".join(
    f"CASE WHEN genre_{i} = 1 THEN '{g.replace(chr(39), chr(39) * 2)}' END"
    for i, g in enumerate(GENRES_100K)
) + ")"

_ML_100K = {
    "u.data": FileSpec(
        "ratings", "\t", False,
        (_src(_USER, "user id"), _src(_ITEM, "item id"), _src(_RATING, "rating"),
         _src(_TIMESTAMP, "timestamp")),
        _RATINGS_OUT, encoding="latin-1", unique=_RATING_KEY, narrow_unique=_RATING_PAIR),
    "u.user": FileSpec(
        "users", "|", False,
        (_src(_USER, "user id"), _src(_AGE, "age"), _src(_GENDER, "gender"),
         _src(_OCCUPATION, "occupation"), _src(_ZIP, "zip code")),
        _USERS_OUT, encoding="latin-1", unique=("user_id",)),
    "u.item": FileSpec(
        "movies", "|", False,
        (_src(_ITEM, "movie id"), _src(_TITLE, "movie title"),
         Field("release_date", "VARCHAR", "release date"),
         Field("video_release_date", "VARCHAR", "video release date"),
         Field("imdb_url", "VARCHAR", "IMDb URL"),
         *(Field(f"genre_{i}", "INTEGER", g, min=0, max=1) for i, g in enumerate(GENRES_100K))),
        _MOVIES_OUT, derived=(("genres", _GENRES_SQL),), encoding="latin-1"),
}

_ML_LATEST = {
    "ratings.csv": FileSpec(
        "ratings", ",", True,
        (_src(_USER, "userId"), _src(_ITEM, "movieId"), _RATING, _TIMESTAMP),
        _RATINGS_OUT, quoted=True, unique=_RATING_KEY, narrow_unique=_RATING_PAIR),
    "movies.csv": FileSpec(
        "movies", ",", True, (_src(_ITEM, "movieId"), _TITLE, Field("genres", "VARCHAR")),
        _MOVIES_OUT, quoted=True,
        # ML-latest spells "no genre" as a sentinel; the standard table uses '' like ML-100K.
        derived=(("genres", "CASE WHEN genres = '(no genres listed)' THEN '' ELSE genres END"),)),
}

FORMATS: dict[str, dict[str, FileSpec]] = {
    "ml-1m": _ML_1M, "ml-100k": _ML_100K, "ml-latest": _ML_LATEST,
}


def detect(names: Collection[str]) -> str | None:
    """The format whose signature file is among `names`, or None."""
    return next((fmt for name, fmt in _SIGNATURES if name in names), None)


def files(fmt: str) -> dict[str, tuple[FileSpec, ...]]:
    """File name -> accepted layouts, for every file `fmt` needs (all are required; unlike Tenrec
    lifelong, which files a MovieLens format has does not depend on the folder)."""
    return {name: (spec,) for name, spec in FORMATS[fmt].items()}
