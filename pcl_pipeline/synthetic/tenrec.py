"""The synthetic Tenrec lifelong generator: task_0.csv .. task_3.csv over one user id space."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pcl_pipeline.formats.tenrec import lifelong_header
from pcl_pipeline.synthetic.planted import (
    TENREC_CODE,
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
    topic_prior,
    user_chunks,
    walk,
)
from pcl_pipeline.synthetic.writer import atomic_files, encode_lines

log = logging.getLogger(__name__)

FILES: tuple[str, ...] = ("task_0.csv", "task_1.csv", "task_2.csv", "task_3.csv")
TENREC_N_AGES = 7  # known age buckets 1..7; 0 means unknown


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


def generate_tenrec(
    out_dir: Path, *, seed: int = 0, scale: float = 1.0, config: TenrecSynthConfig | None = None
) -> dict[str, Path]:
    """Write Tenrec lifelong files task_0.csv .. task_3.csv into out_dir; return {file name: path}.

    UTF-8 CSV with a header, integers (`\\N` for a missing video category); one user id space
    across the files (every user appears in each); item ids from 1 in each file's domain (task_3
    rows are QK videos, task_0's ids).
    There are no timestamps: a user's rows are consecutive and in behaviour order, and a user never
    has the same item twice in a file. task_0/task_1/task_3 rows are clicks; task_2 rows are QB-video
    impressions with click in {0, 1}, and like == 1 only on clicked rows. gender (0 unknown, 1, 2)
    and age (0 unknown, 1..7) are the user's, identical on all of their rows. The headers are the
    released ones (formats.tenrec.RELEASED_HEADERS: task_1 and task_3 carry fewer columns).
    Raises ValueError for a scale that is not positive and finite.
    """
    check_scale(scale)
    cfg = config or TenrecSynthConfig()
    started = time.perf_counter()
    out_dir = Path(out_dir)
    n_users = scaled(cfg.n_users, scale, 1.0, cfg.min_users)
    world = _tenrec_world(random_stream(seed, TENREC_CODE, 0), cfg, scale)
    rows = dict.fromkeys(FILES, 0)
    with atomic_files(out_dir, FILES) as f:
        for name in FILES:
            f[name].write((lifelong_header(name) + "\n").encode("utf-8"))
        for chunk, lo, hi in user_chunks(n_users, cfg.chunk_users):
            rng = random_stream(seed, TENREC_CODE, chunk + 1)
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
    return {name: out_dir / name for name in FILES}


@dataclass(frozen=True)
class _TenrecWorld:
    """What all Tenrec users share: three catalogs over the same topics and their side columns."""

    videos: Catalog  # QK videos: task_0 and task_3
    articles: Catalog  # QK articles: task_1
    qb: Catalog  # QB videos: task_2
    video_category: np.ndarray  # (videos,) category per QK video
    qb_category: np.ndarray  # (qb,) category per QB video
    category_second: np.ndarray  # (articles,) sub-category per article; category_first = topic + 1
    age_modes: np.ndarray  # (K,) age bucket index (0-based) typical of each dominant topic


def _tenrec_world(rng: np.random.Generator, cfg: TenrecSynthConfig, scale: float) -> _TenrecWorld:
    dyn = cfg.dynamics
    floor = min_catalog_size(dyn)
    videos, articles, qb = (
        build_catalog(rng, scaled(n, scale, cfg.item_growth, floor), dyn)
        for n in (cfg.n_videos, cfg.n_articles, cfg.n_qb_videos)
    )

    def sub(cat: Catalog, per_topic: int) -> np.ndarray:
        return cat.topic * per_topic + rng.integers(0, per_topic, size=cat.n) + 1

    return _TenrecWorld(
        videos=videos, articles=articles, qb=qb,
        video_category=sub(videos, cfg.categories_per_topic),
        qb_category=sub(qb, cfg.categories_per_topic),
        category_second=sub(articles, cfg.article_subcategories),
        age_modes=topic_modes(rng, dyn.n_topics, TENREC_N_AGES),
    )


def _capped(bounds: tuple[int, float, int], cat: Catalog) -> tuple[int, float, int]:
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
    """Generate one chunk of users in all four files: {file name: (rows, encoded lines)}.

    The columns of each file follow lifelong_header(file name), in that order.
    """
    dyn = cfg.dynamics
    n = len(user_ids)
    dominant, taste = tastes(rng, n, dyn)
    lean = np.where(dominant % 2 == 0, cfg.gender_lean, 1.0 - cfg.gender_lean)
    gender = np.where(rng.random(n) < cfg.p_gender_unknown, 0, np.where(rng.random(n) < lean, 1, 2))
    age = 1 + demographic(rng, dominant, world.age_modes, cfg.p_age_mode, cfg.age_base_probs)
    age = np.where(rng.random(n) < cfg.p_age_unknown, 0, age)
    p_follow, p_share = cfg.p_follow_share
    watch_lo, watch_span = cfg.watching_mean
    out: dict[str, tuple[int, pa.Buffer | bytes]] = {}

    def video_clicks(seq: np.ndarray, name: str) -> tuple[int, pa.Buffer | bytes]:
        u, it = _flatten(seq)
        aff = affinity(taste, u, world.videos.topic[it])
        return len(u), _released(name, {
            "user_id": user_ids[u], "item_id": world.videos.public_id[it], "click": "1",
            "follow": _bernoulli(rng, p_follow * (1 + aff)),
            "like": _bernoulli(rng, cfg.p_like_click * (1 + 2 * aff)),
            "share": _bernoulli(rng, p_share * (1 + aff)),
            "video_category": _with_missing(world.video_category[it], world.videos.public_id[it]),
            "watching_times": 1 + rng.poisson(watch_lo + watch_span * aff),
            "gender": gender[u], "age": age[u],
        })

    # task_0: QK-video clicks under the full planted dynamics (the T1 sequences).
    lengths = sequence_lengths(rng, n, *_capped(cfg.clicks, world.videos))
    out["task_0.csv"] = video_clicks(
        walk(rng, world.videos, taste, lengths, dyn, p_follow=dyn.p_follow, p_stay=dyn.p_stay), "task_0.csv"
    )

    # task_1: article clicks from the same tastes; topic-persistent, but no successor structure.
    lengths = sequence_lengths(rng, n, *_capped(cfg.article_clicks, world.articles))
    seq = walk(rng, world.articles, taste, lengths, dyn, p_follow=0.0, p_stay=cfg.article_p_stay)
    u, it = _flatten(seq)
    aff = affinity(taste, u, world.articles.topic[it])
    read = _bernoulli(rng, np.full(len(u), cfg.p_read))
    pct_lo, pct_hi, pct_span = cfg.read_percentage
    pct = rng.integers(pct_lo, pct_hi, size=len(u)) + np.floor(pct_span * aff)
    read_pct = read * np.minimum(100, pct).astype(np.int64)
    out["task_1.csv"] = len(u), _released("task_1.csv", {
        "user_id": user_ids[u], "item_id": world.articles.public_id[it], "click": "1",
        "follow": _bernoulli(rng, p_follow * (1 + aff)),
        "like": _bernoulli(rng, cfg.p_like_click * (1 + 2 * aff)),
        "share": _bernoulli(rng, p_share * (1 + aff)),
        "category_first": world.articles.topic[it] + 1, "category_second": world.category_second[it],
        "read": read, "read_percentage": read_pct,
        "favorite": _bernoulli(rng, cfg.p_favorite * (1 + 2 * aff)),
        "gender": gender[u], "age": age[u],
    })

    # task_2: QB impressions, mostly taste-driven (the rest by the topic prior); clicks by affinity;
    # likes = clicks on the user's top topics (plus a little noise): what the T3 task predicts.
    share = cfg.impression_taste_share
    shown = share * taste + (1.0 - share) * topic_prior(dyn)  # (n, K)
    lengths = sequence_lengths(rng, n, *_capped(cfg.impressions, world.qb))
    u, it = _flatten(walk(rng, world.qb, shown, lengths, dyn, p_follow=0.0, p_stay=0.0))
    topic = world.qb.topic[it]
    aff = affinity(taste, u, topic)
    click = _bernoulli(rng, cfg.click_base + cfg.click_span * aff)
    top = np.argsort(-taste, axis=1)[:, : cfg.like_top_topics]  # (n, like_top_topics)
    in_top = (top[u] == topic[:, None]).any(axis=1)
    out["task_2.csv"] = len(u), _released("task_2.csv", {
        "user_id": user_ids[u], "item_id": world.qb.public_id[it], "click": click,
        "follow": click * _bernoulli(rng, p_follow * (1 + aff)),
        "like": click * _bernoulli(rng, np.where(in_top, cfg.p_like_top, cfg.p_like_other)),
        "share": click * _bernoulli(rng, p_share * (1 + aff)),
        "video_category": _with_missing(world.qb_category[it], world.qb.public_id[it]),
        "watching_times": click * (1 + rng.poisson(watch_lo + watch_span * aff)),
        "gender": gender[u], "age": age[u],
    })

    # task_3: a few QK-video clicks per user carrying the profile (the label file).
    lengths = rng.integers(cfg.profile_rows[0], cfg.profile_rows[1] + 1, size=n)
    out["task_3.csv"] = video_clicks(
        walk(rng, world.videos, taste, lengths, dyn, p_follow=0.0, p_stay=0.0), "task_3.csv"
    )
    return out


# Like the released files, some videos carry no category: `\N` (decided by the id, not drawn, so
# the random stream and thus every other value stay as they were before the released layout).
MISSING_CATEGORY_EVERY = 50


def _with_missing(category: np.ndarray, public_id: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(category), pa.string())
    return pc.if_else(pa.array(public_id % MISSING_CATEGORY_EVERY == 0), "\\N", text)


def _released(name: str, columns: dict) -> pa.Buffer | bytes:
    """One file's lines with exactly the released header's columns, in its order (every column
    is drawn either way, so what a file leaves out does not shift the random stream)."""
    return encode_lines([columns[c] for c in lifelong_header(name).split(",")], ",")
