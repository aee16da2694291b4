"""The synthetic MovieLens ML-1M generator: ratings.dat, users.dat, movies.dat."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pcl_pipeline.formats.movielens import FORMATS
from pcl_pipeline.synthetic.planted import (
    MOVIELENS_CODE,
    Catalog,
    TasteDynamics,
    affinity,
    build_catalog,
    check_scale,
    demographic,
    min_catalog_size,
    random_stream,
    scaled,
    sequence_lengths,
    tastes,
    topic_modes,
    user_chunks,
    walk,
)
from pcl_pipeline.synthetic.writer import atomic_files, encode_lines

log = logging.getLogger(__name__)

# Format facts of the official release (not knobs). The file names are the readers' own
# (ratings.dat, users.dat, movies.dat); ML-1M files have no header.
FILES: tuple[str, ...] = tuple(FORMATS["ml-1m"])
ML_GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)
ML_AGES: tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)
ML_N_OCCUPATIONS = 21  # occupation codes 0..20
# Latin-1 (not ASCII) title stems, so movies.dat exercises the readers' decoding.
_LATIN1_TITLES: tuple[str, ...] = (
    "Amélie", "Les Misérables", "Château", "El Niño", "Smörgåsbord", "Garçon", "Übermensch",
    "Fräulein",
)


@dataclass(frozen=True)
class MovieLensSynthConfig:
    """Sizes and planted effects of the synthetic ML-1M files (defaults: scale = 1)."""

    dynamics: TasteDynamics = field(default_factory=TasteDynamics)
    n_users: int = 600  # users at scale 1; multiplied by scale
    min_users: int = 8  # floor for tiny scales, so every file has content
    n_movies: int = 800  # movies at scale 1; multiplied by scale ** item_growth
    item_growth: float = 0.5  # catalog growth exponent: sqrt keeps per-item counts rising with scale
    id_gap_fraction: float = 0.15  # share of unused ids in the movie id range (ML-1M ids have gaps)
    min_ratings: int = 20  # ML-1M guarantees >= 20 ratings per user
    mean_ratings: float = 40.0  # mean ratings per user (min + geometric tail)
    max_ratings: int = 400  # cap on one user's ratings (also capped at half the catalog)
    rating_base: float = 2.4  # rating = base + span * affinity + quality + user bias + noise,
    rating_span: float = 2.0  # affinity = taste[movie topic] / max taste, in [0, 1]
    quality_std: float = 0.4  # per-movie quality: makes "rated 5" depend on the movie, not only the user
    user_bias_std: float = 0.3  # per-user generosity
    rating_noise_std: float = 0.55  # per-rating noise
    first_timestamp: int = 956703932  # ML-1M's first rating time (2000-04-25)
    last_start_timestamp: int = 1040000000  # latest first-rating time of a user (2002-12)
    within_session_gap_s: float = 120.0  # mean gap between ratings of one session
    between_session_gap_s: float = 3 * 86400.0  # mean gap when a new session starts
    p_new_session: float = 0.12  # chance a rating starts a new session
    p_tie: float = 0.02  # chance a rating has the previous one's timestamp (real data has ties)
    gender_lean: float = 0.85  # P(M) for users of even dominant topics; 1 - lean for odd ones
    p_age_mode: float = 0.6  # chance a user's age is their dominant topic's age, else the base mix
    age_base_probs: tuple[float, ...] = (0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06)  # ML-1M's age mix
    p_occupation_mode: float = 0.4  # chance of the dominant topic's occupation, else uniform 0..20
    p_extra_genre: float = 0.35  # chance of each of a topic's secondary genres on one of its movies
    p_random_genre: float = 0.1  # chance of one genre outside the topic's profile
    chunk_users: int = 2048  # users generated and written at once; bounds memory at any scale


def generate_movielens(
    out_dir: Path, *, seed: int = 0, scale: float = 1.0, config: MovieLensSynthConfig | None = None
) -> dict[str, Path]:
    """Write ML-1M files ratings.dat, users.dat, movies.dat into out_dir; return {file name: path}.

    Formats are exactly ML-1M's (latin-1, `::` separated, no header): ratings
    `UserID::MovieID::Rating::Timestamp`, users `UserID::Gender::Age::Occupation::Zip-code`, movies
    `MovieID::Title (Year)::Genres`. Every user has >= 20 ratings and rates a movie at most once;
    timestamps increase along the user's planted sequence (rare ties); rows of a user are in random
    order, as in the release, so readers must sort by time. Movie ids start at 1 and have gaps.
    Raises ValueError for a scale that is not positive and finite, or a config whose catalog is too
    small for its ratings per user.
    """
    check_scale(scale)
    cfg = config or MovieLensSynthConfig()
    dyn = cfg.dynamics
    started = time.perf_counter()
    out_dir = Path(out_dir)
    n_users = scaled(cfg.n_users, scale, 1.0, cfg.min_users)
    n_movies = scaled(cfg.n_movies, scale, cfg.item_growth, min_catalog_size(dyn))
    max_ratings = min(cfg.max_ratings, n_movies // 2)
    if max_ratings < cfg.min_ratings:
        raise ValueError(f"{n_movies} movies cannot give {cfg.min_ratings} distinct ratings per user")

    crng = random_stream(seed, MOVIELENS_CODE, 0)
    id_space = int(np.ceil(n_movies / (1.0 - cfg.id_gap_fraction)))
    ids = np.concatenate([[1], 2 + crng.choice(id_space - 1, size=n_movies - 1, replace=False)])
    cat = build_catalog(crng, n_movies, dyn, public_ids=ids)
    quality = crng.normal(0.0, cfg.quality_std, size=n_movies)
    age_modes = topic_modes(crng, dyn.n_topics, len(ML_AGES))
    occupation_modes = topic_modes(crng, dyn.n_topics, ML_N_OCCUPATIONS)
    movies = _movie_lines(crng, cat, cfg)
    ages = np.asarray(ML_AGES)
    genders = pa.array(["F", "M"])

    n_ratings = 0
    with atomic_files(out_dir, FILES) as f:
        f["movies.dat"].write(movies)
        for chunk, lo, hi in user_chunks(n_users, cfg.chunk_users):
            rng = random_stream(seed, MOVIELENS_CODE, chunk + 1)
            n = hi - lo
            user_ids = np.arange(lo + 1, hi + 1)
            dominant, taste = tastes(rng, n, dyn)
            lengths = sequence_lengths(rng, n, cfg.min_ratings, cfg.mean_ratings, max_ratings)
            seq = walk(rng, cat, taste, lengths, dyn, p_follow=dyn.p_follow, p_stay=dyn.p_stay)

            # Ratings: taste affinity to the movie's topic, plus movie quality, user bias and noise.
            u, pos = np.nonzero(seq >= 0)  # row-major: each user's items in sequence order
            items = seq[u, pos]
            score = (
                cfg.rating_base
                + cfg.rating_span * affinity(taste, u, cat.topic[items])
                + quality[items]
                + rng.normal(0.0, cfg.user_bias_std, size=n)[u]
                + rng.normal(0.0, cfg.rating_noise_std, size=len(items))
            )
            rating = np.clip(np.rint(score), 1, 5).astype(np.int64)

            # Timestamps: sessions of close ratings separated by days; occasional exact ties.
            m = len(items)
            gap = np.where(
                rng.random(m) < cfg.p_new_session,
                rng.exponential(cfg.between_session_gap_s, size=m),
                1.0 + rng.exponential(cfg.within_session_gap_s, size=m),
            )
            gap = np.where(rng.random(m) < cfg.p_tie, 0.0, np.floor(gap))
            gap[pos == 0] = 0.0
            start = rng.integers(cfg.first_timestamp, cfg.last_start_timestamp, size=n)
            ts = start[u] + _segment_cumsum(gap, u).astype(np.int64)

            # The release lists a user's ratings in no time order; shuffle within the user.
            order = np.lexsort((rng.random(m), u))
            f["ratings.dat"].write(encode_lines(
                [user_ids[u][order], cat.public_id[items][order], rating[order], ts[order]], "::"
            ))
            n_ratings += m

            male = rng.random(n) < np.where(dominant % 2 == 0, cfg.gender_lean, 1.0 - cfg.gender_lean)
            age = ages[demographic(rng, dominant, age_modes, cfg.p_age_mode, cfg.age_base_probs)]
            occupation = demographic(
                rng, dominant, occupation_modes, cfg.p_occupation_mode, [1.0] * ML_N_OCCUPATIONS
            )
            zips = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 100000, size=n)), pa.string()), 5, "0")
            gender = pc.take(genders, pa.array(male.astype(np.int8)))
            f["users.dat"].write(encode_lines([user_ids, gender, age, occupation, zips], "::"))
    log.info(
        "synthetic MovieLens in %s: %d users, %d movies, %d ratings (seed %d, scale %g) in %.2fs",
        out_dir, n_users, n_movies, n_ratings, seed, scale, time.perf_counter() - started,
    )
    return {name: out_dir / name for name in FILES}


def _movie_lines(rng: np.random.Generator, cat: Catalog, cfg: MovieLensSynthConfig) -> bytes:
    """movies.dat content, sorted by movie id: made-up titles with years, genres from the topic."""
    k = cfg.dynamics.n_topics
    n_genres = len(ML_GENRES)
    # Each topic: one primary genre (distinct across topics while genres last) and 3 secondary ones.
    primary = topic_modes(rng, k, n_genres)
    secondary = np.stack([rng.choice(n_genres, size=3, replace=False) for _ in range(k)])  # (K, 3)
    n = cat.n
    has = np.zeros((n, n_genres), dtype=bool)  # (movies, genres)
    has[np.arange(n), primary[cat.topic]] = True
    extra = rng.random((n, 3)) < cfg.p_extra_genre
    rows, cols = np.nonzero(extra)
    has[rows, secondary[cat.topic][rows, cols]] = True
    noisy = np.flatnonzero(rng.random(n) < cfg.p_random_genre)
    has[noisy, rng.integers(0, n_genres, size=len(noisy))] = True
    years = 2000 - np.minimum(rng.geometric(1 / 8.0, size=n) - 1, 81)  # mostly the 1990s, back to 1919
    order = np.argsort(cat.public_id)
    out = []
    for rank, i in enumerate(order):  # movies only (sub-linear in scale), so a loop is cheap
        mid = int(cat.public_id[i])
        if rank % 37 == 0:  # includes the first movie: at least one non-ASCII title always
            name = f"{_LATIN1_TITLES[(rank // 37) % len(_LATIN1_TITLES)]} {mid}"
        elif rank % 23 == 5:
            name = f"Movie {mid}, The"  # ML-1M style article suffix
        else:
            name = f"Movie {mid}"
        genres = "|".join(g for g, on in zip(ML_GENRES, has[i]) if on)
        out.append(f"{mid}::{name} ({years[i]})::{genres}\n")
    return "".join(out).encode("latin-1")


def _segment_cumsum(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each new segment id (segment sorted, values in order)."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    base = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    return total - base
