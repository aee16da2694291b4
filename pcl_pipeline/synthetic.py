"""Embedded default data: synthetic MovieLens ML-1M and Tenrec lifelong files with a planted model.

The pipeline ships no real data, so by default it runs on files generated here. They are written in
the exact official formats (the same readers parse real and synthetic files) and follow a planted
generative model, described in docs/synthetic_data.md, under which every task of the catalog is
learnable: next items follow previous items, demographics follow tastes, a second domain and likes
follow the same tastes, ratings follow taste affinity.

Contracts of both generators:
- Same ``seed`` and ``scale`` give byte-identical files; a different seed gives different files.
- ``scale`` multiplies the number of users; catalogs grow as ``scale ** item_growth`` (sub-linear,
  so items keep enough interactions to be learnable as the user base grows).
- Memory stays bounded at any scale: users are generated and written in fixed-size chunks, each
  from its own seeded random stream (so the output also does not depend on anything but the seed,
  the scale and the config).
- Files are written atomically: to a temporary file in ``out_dir``, then ``os.replace``; a failure
  leaves no partial file under a final name.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

# Format facts of the official releases (not knobs).
ML_GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)
ML_AGES: tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)
ML_N_OCCUPATIONS = 21  # occupation codes 0..20
TENREC_VIDEO_HEADER = "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age"
TENREC_ARTICLE_HEADER = (
    "user_id,item_id,click,follow,like,share,category_first,category_second,read,read_percentage,"
    "favorite,gender,age"
)
TENREC_N_AGES = 7  # known age buckets 1..7; 0 means unknown
# Latin-1 (not ASCII) title stems, so movies.dat exercises the readers' decoding.
_LATIN1_TITLES: tuple[str, ...] = (
    "Amélie", "Les Misérables", "Château", "El Niño", "Smörgåsbord", "Garçon", "Übermensch",
    "Fräulein",
)
# Distinct streams of the random generator: (seed, dataset code, chunk index + 1); index 0 = catalog.
_ML_CODE = 1
_TENREC_CODE = 2


@dataclass(frozen=True)
class TasteDynamics:
    """The planted user model shared by every item domain of a dataset."""

    n_topics: int = 10  # K latent taste topics; every catalog (videos, articles, movies) uses them
    dominant_weight: tuple[float, float] = (0.45, 0.75)  # range of the dominant topic's extra mass
    dirichlet_alpha: float = 0.3  # spread of the remaining taste mass; < 1 keeps tastes peaked
    topic_prior_decay: float = 0.5  # P(dominant topic k) ~ (k+1)^-decay: unequal but not extreme topics
    zipf_exponent: float = 1.0  # popularity within a topic ~ rank^-s: a long tail gives cold-start items
    successor_probs: tuple[float, ...] = (0.6, 0.3, 0.1)  # each of an item's successors: follow share
    p_follow: float = 0.5  # chance the next item is a successor of the previous one (sequential signal)
    p_stay: float = 0.5  # else: chance to draw from the previous item's topic rather than from the taste
    max_redraws: int = 4  # taste redraws when a proposal repeats one of the user's items, then uniform


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


@dataclass(frozen=True)
class TenrecSynthConfig:
    """Sizes and planted effects of the synthetic Tenrec lifelong files (defaults: scale = 1)."""

    dynamics: TasteDynamics = field(default_factory=lambda: TasteDynamics(p_follow=0.55))
    n_users: int = 800  # users at scale 1 (the same users in all four files); multiplied by scale
    min_users: int = 8  # floor for tiny scales
    item_growth: float = 0.5  # every catalog grows as scale ** item_growth
    n_videos: int = 1000  # QK videos (task_0, task_3) at scale 1
    n_articles: int = 400  # QK articles (task_1) at scale 1
    n_qb_videos: int = 600  # QB videos (task_2) at scale 1
    categories_per_topic: int = 3  # video_category = topic * this + sub-category + 1
    article_subcategories: int = 4  # category_second values per category_first (= topic + 1)
    clicks: tuple[int, float, int] = (10, 30.0, 150)  # task_0 clicks per user: (min, mean, max)
    article_clicks: tuple[int, float, int] = (3, 10.0, 60)  # task_1 article clicks per user
    impressions: tuple[int, float, int] = (5, 15.0, 80)  # task_2 impressions per user
    profile_rows: tuple[int, int] = (2, 4)  # task_3 rows per user, uniform in [min, max]
    article_p_stay: float = 0.3  # articles: topic persistence between clicks (no successor structure)
    impression_taste_share: float = 0.7  # task_2 impressions: taste-driven share, rest by topic prior
    click_base: float = 0.25  # task_2: P(click) = base + span * affinity
    click_span: float = 0.6
    like_top_topics: int = 2  # task_2: clicks are liked mostly on the user's top topics, this many
    p_like_top: float = 0.5  # P(like | click, topic in top topics)
    p_like_other: float = 0.06  # P(like | click, other topic): the noise
    p_follow_share: tuple[float, float] = (0.03, 0.02)  # P(follow), P(share) per click, x (1 + affinity)
    p_like_click: float = 0.05  # task_0/task_1/task_3 like chance per click, times (1 + 2 affinity)
    watching_mean: tuple[float, float] = (0.3, 1.5)  # watching_times = 1 + Poisson(a + b * affinity)
    p_read: float = 0.85  # task_1: chance an article click is read
    read_percentage: tuple[int, int, float] = (10, 60, 40.0)  # if read: U[lo, hi) + span * affinity
    p_favorite: float = 0.04  # task_1: favorite chance, times (1 + 2 affinity)
    p_gender_unknown: float = 0.03  # gender 0
    p_age_unknown: float = 0.05  # age 0 (the age task drops these users)
    gender_lean: float = 0.85  # P(gender 1) for even dominant topics; 1 - lean for odd ones
    p_age_mode: float = 0.55  # chance a user's age is their dominant topic's age, else the base mix
    age_base_probs: tuple[float, ...] = (0.08, 0.3, 0.27, 0.16, 0.1, 0.05, 0.04)  # ages 1..7
    chunk_users: int = 2048  # users generated and written at once; bounds memory at any scale


# --------------------------------------------------------------------------------------------------
# Planted model: catalogs, tastes, walks


@dataclass(frozen=True)
class _Catalog:
    """One item domain: internal index (0-based, grouped by topic, most popular first) <-> public id."""

    topic: np.ndarray  # (n,) topic of each item
    bounds: np.ndarray  # (K + 1,) items of topic k are [bounds[k], bounds[k+1])
    cdf: np.ndarray  # (n,) k + cumulative within-topic popularity; see _Catalog.sample
    successors: np.ndarray  # (n, S) internal indices of the items that tend to follow item i
    public_id: np.ndarray  # (n,) id written to the files

    @property
    def n(self) -> int:
        return len(self.topic)

    def sample(self, topics: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Draw one item per row from its topic by popularity; u uniform in [0, 1)."""
        # Topic k's cdf runs over (k, k+1], so k + u lands inside topic k's segment; the clip
        # guards against k + u rounding up to k + 1 in floating point.
        idx = np.searchsorted(self.cdf, topics + u, side="right")
        return np.minimum(idx, self.bounds[topics + 1] - 1)


def _topic_prior(dyn: TasteDynamics) -> np.ndarray:
    w = (np.arange(dyn.n_topics) + 1.0) ** -dyn.topic_prior_decay
    return w / w.sum()


def _scaled(base: int, scale: float, exponent: float, floor: int) -> int:
    return max(floor, int(round(base * scale**exponent)))


def _build_catalog(
    rng: np.random.Generator, n_items: int, dyn: TasteDynamics, public_ids: np.ndarray | None = None
) -> _Catalog:
    """Items split over topics in proportion to the topic prior, Zipf popularity, successor sets.

    public_ids: the ids to hand out; default 1..n_items. The smallest goes to the most popular item
    of the largest topic, so id 1 occurs in the data at any scale; the others are assigned in a
    random order, so an id says nothing about topic or popularity.
    """
    k = dyn.n_topics
    n_succ = len(dyn.successor_probs)
    min_size = n_succ + 2  # a topic needs room for distinct successors besides the item itself
    if n_items < k * min_size:
        raise ValueError(f"catalog of {n_items} items too small for {k} topics; need >= {k * min_size}")
    prior = _topic_prior(dyn)
    spare = n_items - k * min_size
    sizes = min_size + np.floor(prior * spare).astype(np.int64)
    sizes[: n_items - int(sizes.sum())] += 1  # the rounding remainder goes to the first topics
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    topic = np.repeat(np.arange(k), sizes)
    cdf = np.empty(n_items)
    successors = np.empty((n_items, n_succ), dtype=np.int64)
    for t in range(k):
        lo, hi = bounds[t], bounds[t + 1]
        w = (np.arange(hi - lo) + 1.0) ** -dyn.zipf_exponent
        w /= w.sum()
        cdf[lo:hi] = t + np.cumsum(w)
        cdf[hi - 1] = t + 1.0
        # Successors: S distinct other items of the topic, drawn by popularity without replacement
        # (Gumbel top-S), in rows of 1024 to bound memory on large catalogs; the strongest
        # successor gets the largest follow probability.
        logw = np.log(w)
        for r0 in range(lo, hi, 1024):
            r1 = min(hi, r0 + 1024)
            scores = logw[None, :] + rng.gumbel(size=(r1 - r0, hi - lo))  # (rows, topic size)
            scores[np.arange(r1 - r0), np.arange(r0, r1) - lo] = -np.inf  # never itself
            top = np.argpartition(-scores, n_succ - 1, axis=1)[:, :n_succ]
            top_scores = np.take_along_axis(scores, top, axis=1)
            top = np.take_along_axis(top, np.argsort(-top_scores, axis=1), axis=1)
            successors[r0:r1] = top + lo
    if public_ids is None:
        public_ids = np.arange(1, n_items + 1)
    ids = np.sort(np.asarray(public_ids, dtype=np.int64))
    return _Catalog(
        topic=topic, bounds=bounds, cdf=cdf, successors=successors,
        public_id=np.concatenate([ids[:1], rng.permutation(ids[1:])]),
    )


def _tastes(rng: np.random.Generator, n: int, dyn: TasteDynamics) -> tuple[np.ndarray, np.ndarray]:
    """Return (dominant topic (n,), taste (n, K)): a dominant topic plus a peaked Dirichlet rest."""
    k = dyn.n_topics
    dominant = rng.choice(k, size=n, p=_topic_prior(dyn))
    w = rng.uniform(*dyn.dominant_weight, size=n)[:, None]  # (n, 1)
    taste = (1.0 - w) * rng.dirichlet(np.full(k, dyn.dirichlet_alpha), size=n)  # (n, K)
    taste[np.arange(n), dominant] += w[:, 0]
    return dominant, taste


def _draw_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the category whose cumulative probability first exceeds u (row-wise inverse cdf)."""
    return np.minimum((cum <= u[:, None]).sum(axis=1), cum.shape[1] - 1)


def _lengths(rng: np.random.Generator, n: int, lo: int, mean: float, hi: int) -> np.ndarray:
    """Sequence lengths: lo + a geometric tail with the given mean, capped at hi (long-tailed)."""
    extra = rng.geometric(1.0 / (mean - lo + 1.0), size=n) - 1
    return np.minimum(lo + extra, hi).astype(np.int64)


def _walk(
    rng: np.random.Generator,
    cat: _Catalog,
    taste: np.ndarray,
    lengths: np.ndarray,
    dyn: TasteDynamics,
    *,
    p_follow: float,
    p_stay: float,
) -> np.ndarray:
    """Generate behaviour sequences under the planted dynamics.

    Each step: with p_follow, a successor of the previous item; else an item of the previous item's
    topic (p_stay) or of a topic drawn from the taste, by popularity. A user never gets an item
    twice: repeats are redrawn from the taste, and after dyn.max_redraws a uniformly random unseen
    item is taken (lengths must not exceed the catalog). Returns (n, max length) internal indices,
    -1 after each user's length.
    """
    n = len(lengths)
    if n and int(lengths.max()) > cat.n:
        raise ValueError(f"sequence length {int(lengths.max())} exceeds catalog size {cat.n}")
    # Users sorted by length, longest first: at step t the active users are a prefix, so late
    # steps (only the long tail) cost little.
    order = np.argsort(-lengths, kind="stable")
    neg_len = -lengths[order]
    cum = np.cumsum(taste[order], axis=1)  # (n, K)
    succ_cum = np.cumsum(dyn.successor_probs) / sum(dyn.successor_probs)
    max_len = int(lengths.max(initial=0))
    seq = np.full((n, max_len), -1, dtype=np.int64)
    seen = np.zeros((n, cat.n), dtype=bool)  # (n, items): O(1) repeat checks; n is one chunk
    fallbacks = 0
    for t in range(max_len):
        a = int(np.searchsorted(neg_len, -t, side="left"))  # users with length > t
        rows = np.arange(a)
        topics = _draw_rows(cum[:a], rng.random(a))
        if t > 0:
            prev = seq[:a, t - 1]
            topics = np.where(rng.random(a) < p_stay, cat.topic[prev], topics)
        prop = cat.sample(topics, rng.random(a))
        if t > 0 and p_follow > 0:
            col = np.minimum(np.searchsorted(succ_cum, rng.random(a), side="right"), len(succ_cum) - 1)
            prop = np.where(rng.random(a) < p_follow, cat.successors[prev, col], prop)
        bad = seen[rows, prop]
        for _ in range(dyn.max_redraws):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            prop[idx] = cat.sample(_draw_rows(cum[idx], rng.random(len(idx))), rng.random(len(idx)))
            bad[idx] = seen[idx, prop[idx]]
        if bad.any():
            idx = np.flatnonzero(bad)
            fallbacks += len(idx)
            noise = rng.random((len(idx), cat.n))  # (m, items)
            noise[seen[idx]] = -1.0
            prop[idx] = noise.argmax(axis=1)
        seq[:a, t] = prop
        seen[rows, prop] = True
    if fallbacks:
        log.debug("walk: %d of %d steps fell back to a uniform unseen item", fallbacks, lengths.sum())
    out = np.empty_like(seq)
    out[order] = seq
    return out


def _topic_modes(rng: np.random.Generator, n_topics: int, n_values: int) -> np.ndarray:
    """A value per topic, spread over all values before any repeats (so topics are distinguishable)."""
    return rng.permutation(np.resize(rng.permutation(n_values), n_topics))


def _demographic(
    rng: np.random.Generator,
    dominant: np.ndarray,
    modes: np.ndarray,
    p_mode: float,
    base: Sequence[float],
) -> np.ndarray:
    """Index per user: the dominant topic's mode with p_mode, else a draw from the base mix."""
    base_p = np.asarray(base, dtype=float)
    other = rng.choice(len(base_p), size=len(dominant), p=base_p / base_p.sum())
    return np.where(rng.random(len(dominant)) < p_mode, modes[dominant], other)


def _affinity(taste: np.ndarray, users: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """taste[user, topic] / max taste of the user: 1 for the dominant topic, near 0 for foreign ones."""
    return taste[users, topics] / taste.max(axis=1)[users]


# --------------------------------------------------------------------------------------------------
# Writing


@contextmanager
def _atomic_files(out_dir: Path, names: Sequence[str]) -> Iterator[dict[str, BinaryIO]]:
    """Open a temporary file per name in out_dir; on success move them to the names, else delete them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp: dict[str, Path] = {}
    with ExitStack() as stack:
        handles: dict[str, BinaryIO] = {}
        try:
            for name in names:
                fd, path = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
                tmp[name] = Path(path)
                handles[name] = stack.enter_context(os.fdopen(fd, "wb", buffering=1 << 20))
            yield handles
        except BaseException:
            stack.close()
            for path in tmp.values():
                path.unlink(missing_ok=True)
            raise
    for name, path in tmp.items():
        # mkstemp creates 0600 files; give the data the permissions of an ordinary file.
        os.chmod(path, 0o644)
        os.replace(path, out_dir / name)


def _lines(columns: Sequence[np.ndarray | pa.Array | str], sep: str) -> pa.Buffer | bytes:
    """Encode rows as `c1<sep>c2...\\n` lines, column-wise in Arrow (no per-row Python).

    A str column is a constant. Integers are written in decimal. Returns the bytes of all lines.
    """
    parts: list[pa.Array | str] = []
    for i, col in enumerate(columns):
        if i:
            parts.append(sep)
        if isinstance(col, str):
            parts.append(col)
        else:
            arr = col if isinstance(col, pa.Array) else pa.array(col)
            parts.append(arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string()))
    joined = pc.binary_join_element_wise(*parts, "\n", "")
    if len(joined) == 0:
        return b""
    # A string array's value buffer is the concatenation of its values: the lines, back to back.
    _, offset_buf, data_buf = joined.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32, count=len(joined) + 1, offset=4 * joined.offset)
    return data_buf[int(offsets[0]) : int(offsets[-1])]


def _chunks(n: int, size: int) -> Iterator[tuple[int, int, int]]:
    """(chunk index, first user index, end) over n users."""
    for i, lo in enumerate(range(0, n, size)):
        yield i, lo, min(n, lo + size)


def _rng(seed: int, code: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, code, stream]))


def _check_scale(scale: float) -> None:
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")


# --------------------------------------------------------------------------------------------------
# MovieLens ML-1M


def _movie_lines(rng: np.random.Generator, cat: _Catalog, cfg: MovieLensSynthConfig) -> bytes:
    """movies.dat content, sorted by movie id: made-up titles with years, genres from the topic."""
    k = cfg.dynamics.n_topics
    n_genres = len(ML_GENRES)
    # Each topic: one primary genre (distinct across topics while genres last) and 3 secondary ones.
    primary = _topic_modes(rng, k, n_genres)
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


def generate_movielens(
    out_dir: Path, *, seed: int = 0, scale: float = 1.0, config: MovieLensSynthConfig | None = None
) -> dict[str, Path]:
    """Write ML-1M files ratings.dat, users.dat, movies.dat into out_dir; return {file name: path}.

    Formats are exactly ML-1M's (latin-1, `::` separated, no header): ratings
    `UserID::MovieID::Rating::Timestamp`, users `UserID::Gender::Age::Occupation::Zip-code`, movies
    `MovieID::Title (Year)::Genres`. Every user has >= 20 ratings and rates a movie at most once;
    timestamps increase along the user's planted sequence (rare ties); rows of a user are in random
    order, as in the release, so readers must sort by time. Movie ids start at 1 and have gaps.
    """
    _check_scale(scale)
    cfg = config or MovieLensSynthConfig()
    dyn = cfg.dynamics
    started = time.perf_counter()
    out_dir = Path(out_dir)
    n_users = _scaled(cfg.n_users, scale, 1.0, cfg.min_users)
    floor = dyn.n_topics * (len(dyn.successor_probs) + 2)  # the smallest catalog _build_catalog takes
    n_movies = _scaled(cfg.n_movies, scale, cfg.item_growth, floor)
    max_ratings = min(cfg.max_ratings, n_movies // 2)
    if max_ratings < cfg.min_ratings:
        raise ValueError(f"{n_movies} movies cannot give {cfg.min_ratings} distinct ratings per user")

    crng = _rng(seed, _ML_CODE, 0)
    id_space = int(np.ceil(n_movies / (1.0 - cfg.id_gap_fraction)))
    ids = np.concatenate([[1], 2 + crng.choice(id_space - 1, size=n_movies - 1, replace=False)])
    cat = _build_catalog(crng, n_movies, dyn, public_ids=ids)
    quality = crng.normal(0.0, cfg.quality_std, size=n_movies)
    age_modes = _topic_modes(crng, dyn.n_topics, len(ML_AGES))
    occupation_modes = _topic_modes(crng, dyn.n_topics, ML_N_OCCUPATIONS)
    movies = _movie_lines(crng, cat, cfg)
    ages = np.asarray(ML_AGES)
    genders = pa.array(["F", "M"])

    n_ratings = 0
    with _atomic_files(out_dir, ["ratings.dat", "users.dat", "movies.dat"]) as f:
        f["movies.dat"].write(movies)
        for chunk, lo, hi in _chunks(n_users, cfg.chunk_users):
            rng = _rng(seed, _ML_CODE, chunk + 1)
            n = hi - lo
            user_ids = np.arange(lo + 1, hi + 1)
            dominant, taste = _tastes(rng, n, dyn)
            lengths = _lengths(rng, n, cfg.min_ratings, cfg.mean_ratings, max_ratings)
            seq = _walk(rng, cat, taste, lengths, dyn, p_follow=dyn.p_follow, p_stay=dyn.p_stay)

            # Ratings: taste affinity to the movie's topic, plus movie quality, user bias and noise.
            u, pos = np.nonzero(seq >= 0)  # row-major: each user's items in sequence order
            items = seq[u, pos]
            score = (
                cfg.rating_base
                + cfg.rating_span * _affinity(taste, u, cat.topic[items])
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
            f["ratings.dat"].write(
                _lines([user_ids[u][order], cat.public_id[items][order], rating[order], ts[order]], "::")
            )
            n_ratings += m

            male = rng.random(n) < np.where(dominant % 2 == 0, cfg.gender_lean, 1.0 - cfg.gender_lean)
            age = ages[_demographic(rng, dominant, age_modes, cfg.p_age_mode, cfg.age_base_probs)]
            occupation = _demographic(
                rng, dominant, occupation_modes, cfg.p_occupation_mode, [1.0] * ML_N_OCCUPATIONS
            )
            zips = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 100000, size=n)), pa.string()), 5, "0")
            gender = pc.take(genders, pa.array(male.astype(np.int8)))
            f["users.dat"].write(_lines([user_ids, gender, age, occupation, zips], "::"))
    log.info(
        "synthetic MovieLens in %s: %d users, %d movies, %d ratings (seed %d, scale %g) in %.2fs",
        out_dir, n_users, n_movies, n_ratings, seed, scale, time.perf_counter() - started,
    )
    return {name: out_dir / name for name in ("ratings.dat", "users.dat", "movies.dat")}


def _segment_cumsum(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each new segment id (segment sorted, values in order)."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    base = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    return total - base


# --------------------------------------------------------------------------------------------------
# Tenrec lifelong


@dataclass(frozen=True)
class _TenrecWorld:
    """What all Tenrec users share: three catalogs over the same topics and their side columns."""

    videos: _Catalog  # QK videos: task_0 and task_3
    articles: _Catalog  # QK articles: task_1
    qb: _Catalog  # QB videos: task_2
    video_category: np.ndarray  # (videos,) category per QK video
    qb_category: np.ndarray  # (qb,) category per QB video
    category_second: np.ndarray  # (articles,) sub-category per article; category_first = topic + 1
    age_modes: np.ndarray  # (K,) age bucket index (0-based) typical of each dominant topic


def _tenrec_world(rng: np.random.Generator, cfg: TenrecSynthConfig, scale: float) -> _TenrecWorld:
    dyn = cfg.dynamics
    floor = dyn.n_topics * (len(dyn.successor_probs) + 2)
    videos, articles, qb = (
        _build_catalog(rng, _scaled(n, scale, cfg.item_growth, floor), dyn)
        for n in (cfg.n_videos, cfg.n_articles, cfg.n_qb_videos)
    )

    def sub(cat: _Catalog, per_topic: int) -> np.ndarray:
        return cat.topic * per_topic + rng.integers(0, per_topic, size=cat.n) + 1

    return _TenrecWorld(
        videos=videos, articles=articles, qb=qb,
        video_category=sub(videos, cfg.categories_per_topic),
        qb_category=sub(qb, cfg.categories_per_topic),
        category_second=sub(articles, cfg.article_subcategories),
        age_modes=_topic_modes(rng, dyn.n_topics, TENREC_N_AGES),
    )


def _capped(bounds: tuple[int, float, int], cat: _Catalog) -> tuple[int, float, int]:
    """(min, mean, max) sequence length, capped at half the catalog so no-repeat walks stay easy."""
    lo, mean, hi = bounds
    hi = min(hi, cat.n // 2)
    return min(lo, hi), min(mean, float(hi)), hi


def _flatten(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user row, internal item) per interaction; row-major, so each user's items stay in order."""
    u, pos = np.nonzero(seq >= 0)
    return u, seq[u, pos]


def _bernoulli(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return (rng.random(len(p)) < p).astype(np.int64)


def _tenrec_chunk(
    rng: np.random.Generator, world: _TenrecWorld, cfg: TenrecSynthConfig, user_ids: np.ndarray
) -> dict[str, tuple[int, pa.Buffer | bytes]]:
    """Generate one chunk of users in all four files: {file name: (rows, encoded lines)}."""
    dyn = cfg.dynamics
    n = len(user_ids)
    dominant, taste = _tastes(rng, n, dyn)
    lean = np.where(dominant % 2 == 0, cfg.gender_lean, 1.0 - cfg.gender_lean)
    gender = np.where(rng.random(n) < cfg.p_gender_unknown, 0, np.where(rng.random(n) < lean, 1, 2))
    age = 1 + _demographic(rng, dominant, world.age_modes, cfg.p_age_mode, cfg.age_base_probs)
    age = np.where(rng.random(n) < cfg.p_age_unknown, 0, age)
    p_follow, p_share = cfg.p_follow_share
    watch_lo, watch_span = cfg.watching_mean
    out: dict[str, tuple[int, pa.Buffer | bytes]] = {}

    def video_clicks(seq: np.ndarray) -> tuple[int, pa.Buffer | bytes]:
        u, it = _flatten(seq)
        aff = _affinity(taste, u, world.videos.topic[it])
        return len(u), _lines([
            user_ids[u], world.videos.public_id[it], "1",
            _bernoulli(rng, p_follow * (1 + aff)),
            _bernoulli(rng, cfg.p_like_click * (1 + 2 * aff)),
            _bernoulli(rng, p_share * (1 + aff)),
            world.video_category[it],
            1 + rng.poisson(watch_lo + watch_span * aff),
            gender[u], age[u],
        ], ",")

    # task_0: QK-video clicks under the full planted dynamics (the T1 sequences).
    lengths = _lengths(rng, n, *_capped(cfg.clicks, world.videos))
    out["task_0.csv"] = video_clicks(
        _walk(rng, world.videos, taste, lengths, dyn, p_follow=dyn.p_follow, p_stay=dyn.p_stay)
    )

    # task_1: article clicks from the same tastes; topic-persistent, but no successor structure.
    lengths = _lengths(rng, n, *_capped(cfg.article_clicks, world.articles))
    seq = _walk(rng, world.articles, taste, lengths, dyn, p_follow=0.0, p_stay=cfg.article_p_stay)
    u, it = _flatten(seq)
    aff = _affinity(taste, u, world.articles.topic[it])
    read = _bernoulli(rng, np.full(len(u), cfg.p_read))
    pct_lo, pct_hi, pct_span = cfg.read_percentage
    pct = rng.integers(pct_lo, pct_hi, size=len(u)) + np.floor(pct_span * aff)
    read_pct = read * np.minimum(100, pct).astype(np.int64)
    out["task_1.csv"] = len(u), _lines([
        user_ids[u], world.articles.public_id[it], "1",
        _bernoulli(rng, p_follow * (1 + aff)),
        _bernoulli(rng, cfg.p_like_click * (1 + 2 * aff)),
        _bernoulli(rng, p_share * (1 + aff)),
        world.articles.topic[it] + 1, world.category_second[it],
        read, read_pct,
        _bernoulli(rng, cfg.p_favorite * (1 + 2 * aff)),
        gender[u], age[u],
    ], ",")

    # task_2: QB impressions, mostly taste-driven (the rest by the topic prior); clicks by affinity;
    # likes = clicks on the user's top topics (plus a little noise): what the T3 task predicts.
    share = cfg.impression_taste_share
    shown = share * taste + (1.0 - share) * _topic_prior(dyn)  # (n, K)
    lengths = _lengths(rng, n, *_capped(cfg.impressions, world.qb))
    u, it = _flatten(_walk(rng, world.qb, shown, lengths, dyn, p_follow=0.0, p_stay=0.0))
    topic = world.qb.topic[it]
    aff = _affinity(taste, u, topic)
    click = _bernoulli(rng, cfg.click_base + cfg.click_span * aff)
    top = np.argsort(-taste, axis=1)[:, : cfg.like_top_topics]  # (n, like_top_topics)
    in_top = (top[u] == topic[:, None]).any(axis=1)
    out["task_2.csv"] = len(u), _lines([
        user_ids[u], world.qb.public_id[it], click,
        click * _bernoulli(rng, p_follow * (1 + aff)),
        click * _bernoulli(rng, np.where(in_top, cfg.p_like_top, cfg.p_like_other)),
        click * _bernoulli(rng, p_share * (1 + aff)),
        world.qb_category[it],
        click * (1 + rng.poisson(watch_lo + watch_span * aff)),
        gender[u], age[u],
    ], ",")

    # task_3: a few QK-video clicks per user carrying the profile (the label file).
    lengths = rng.integers(cfg.profile_rows[0], cfg.profile_rows[1] + 1, size=n)
    out["task_3.csv"] = video_clicks(
        _walk(rng, world.videos, taste, lengths, dyn, p_follow=0.0, p_stay=0.0)
    )
    return out


def generate_tenrec(
    out_dir: Path, *, seed: int = 0, scale: float = 1.0, config: TenrecSynthConfig | None = None
) -> dict[str, Path]:
    """Write Tenrec lifelong files task_0.csv .. task_3.csv into out_dir; return {file name: path}.

    UTF-8 CSV with a header, integers only; one user id space across the files (every user appears
    in each); item ids from 1 in each file's domain (task_3 rows are QK videos, task_0's ids).
    There are no timestamps: a user's rows are consecutive and in behaviour order, and a user never
    has the same item twice in a file. task_0/task_1/task_3 rows are clicks; task_2 rows are QB-video
    impressions with click in {0, 1}, and like == 1 only on clicked rows. gender (0 unknown, 1, 2)
    and age (0 unknown, 1..7) are the user's, identical on all of their rows.
    """
    _check_scale(scale)
    cfg = config or TenrecSynthConfig()
    started = time.perf_counter()
    out_dir = Path(out_dir)
    n_users = _scaled(cfg.n_users, scale, 1.0, cfg.min_users)
    world = _tenrec_world(_rng(seed, _TENREC_CODE, 0), cfg, scale)
    headers = {
        "task_0.csv": TENREC_VIDEO_HEADER, "task_1.csv": TENREC_ARTICLE_HEADER,
        "task_2.csv": TENREC_VIDEO_HEADER, "task_3.csv": TENREC_VIDEO_HEADER,
    }
    rows = dict.fromkeys(headers, 0)
    with _atomic_files(out_dir, list(headers)) as f:
        for name, header in headers.items():
            f[name].write((header + "\n").encode("utf-8"))
        for chunk, lo, hi in _chunks(n_users, cfg.chunk_users):
            rng = _rng(seed, _TENREC_CODE, chunk + 1)
            chunk_rows = _tenrec_chunk(rng, world, cfg, np.arange(lo + 1, hi + 1))
            for name, (n_rows, lines) in chunk_rows.items():
                f[name].write(lines)
                rows[name] += n_rows
    log.info(
        "synthetic Tenrec in %s: %d users, %d/%d/%d videos/articles/QB videos, rows %s "
        "(seed %d, scale %g) in %.2fs",
        out_dir, n_users, world.videos.n, world.articles.n, world.qb.n, rows, seed, scale,
        time.perf_counter() - started,
    )
    return {name: out_dir / name for name in headers}
