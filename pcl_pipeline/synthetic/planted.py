"""The planted model both generators share: tastes, item catalogs, sequence dynamics, demographics.

Also the scale and random-stream rules that make the output depend on nothing but the seed, the
scale and the config. docs/synthetic_data.md describes the model and why each task is learnable.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# Distinct random streams: (seed, dataset code, chunk index + 1); stream 0 is the dataset's
# catalog. The codes must differ per dataset, so they live side by side here.
MOVIELENS_CODE = 1
TENREC_CODE = 2


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


# --------------------------------------------------------------------------------------------------
# Scale and random streams


def random_stream(seed: int, code: int, stream: int) -> np.random.Generator:
    """The generator of one stream: 0 = the dataset's catalog, i + 1 = users of chunk i."""
    return np.random.default_rng(np.random.SeedSequence([seed, code, stream]))


def check_scale(scale: float) -> None:
    """Raise ValueError unless scale is a positive finite number."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")


def scaled(base: int, scale: float, exponent: float, floor: int) -> int:
    """round(base * scale ** exponent), at least floor."""
    return max(floor, int(round(base * scale**exponent)))


def user_chunks(n: int, size: int) -> Iterator[tuple[int, int, int]]:
    """(chunk index, first user index, end) over n users, `size` users per chunk."""
    for i, lo in enumerate(range(0, n, size)):
        yield i, lo, min(n, lo + size)


def min_catalog_size(dyn: TasteDynamics) -> int:
    """The smallest catalog build_catalog accepts: every topic needs room for distinct successors
    besides the item itself."""
    return dyn.n_topics * (len(dyn.successor_probs) + 2)


# --------------------------------------------------------------------------------------------------
# Catalogs


@dataclass(frozen=True)
class Catalog:
    """One item domain: internal index (0-based, grouped by topic, most popular first) <-> public id."""

    topic: np.ndarray  # (n,) topic of each item
    bounds: np.ndarray  # (K + 1,) items of topic k are [bounds[k], bounds[k+1])
    cdf: np.ndarray  # (n,) k + cumulative within-topic popularity; see Catalog.sample
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


def topic_prior(dyn: TasteDynamics) -> np.ndarray:
    """(K,) P(dominant topic k) ~ (k+1)^-topic_prior_decay; also the catalogs' topic shares."""
    w = (np.arange(dyn.n_topics) + 1.0) ** -dyn.topic_prior_decay
    return w / w.sum()


def build_catalog(
    rng: np.random.Generator, n_items: int, dyn: TasteDynamics, public_ids: np.ndarray | None = None
) -> Catalog:
    """Items split over topics in proportion to the topic prior, Zipf popularity, successor sets.

    public_ids: the ids to hand out; default 1..n_items. The smallest goes to the most popular item
    of the largest topic, so id 1 occurs in the data at any scale; the others are assigned in a
    random order, so an id says nothing about topic or popularity.
    Raises ValueError if n_items < min_catalog_size(dyn).
    """
    k = dyn.n_topics
    n_succ = len(dyn.successor_probs)
    min_size = n_succ + 2  # a topic needs room for distinct successors besides the item itself
    if n_items < k * min_size:
        raise ValueError(f"catalog of {n_items} items too small for {k} topics; need >= {k * min_size}")
    prior = topic_prior(dyn)
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
    return Catalog(
        topic=topic, bounds=bounds, cdf=cdf, successors=successors,
        public_id=np.concatenate([ids[:1], rng.permutation(ids[1:])]),
    )


# --------------------------------------------------------------------------------------------------
# Users: tastes, sequences, demographics


def tastes(rng: np.random.Generator, n: int, dyn: TasteDynamics) -> tuple[np.ndarray, np.ndarray]:
    """Return (dominant topic (n,), taste (n, K)): a dominant topic plus a peaked Dirichlet rest."""
    k = dyn.n_topics
    dominant = rng.choice(k, size=n, p=topic_prior(dyn))
    w = rng.uniform(*dyn.dominant_weight, size=n)[:, None]  # (n, 1)
    taste = (1.0 - w) * rng.dirichlet(np.full(k, dyn.dirichlet_alpha), size=n)  # (n, K)
    taste[np.arange(n), dominant] += w[:, 0]
    return dominant, taste


def affinity(taste: np.ndarray, users: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """taste[user, topic] / max taste of the user: 1 for the dominant topic, near 0 for foreign ones."""
    return taste[users, topics] / taste.max(axis=1)[users]


def sequence_lengths(rng: np.random.Generator, n: int, lo: int, mean: float, hi: int) -> np.ndarray:
    """Sequence lengths: lo + a geometric tail with the given mean, capped at hi (long-tailed)."""
    extra = rng.geometric(1.0 / (mean - lo + 1.0), size=n) - 1
    return np.minimum(lo + extra, hi).astype(np.int64)


def _draw_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the category whose cumulative probability first exceeds u (row-wise inverse cdf)."""
    return np.minimum((cum <= u[:, None]).sum(axis=1), cum.shape[1] - 1)


def walk(
    rng: np.random.Generator,
    cat: Catalog,
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


def topic_modes(rng: np.random.Generator, n_topics: int, n_values: int) -> np.ndarray:
    """A value per topic, spread over all values before any repeats (so topics are distinguishable)."""
    return rng.permutation(np.resize(rng.permutation(n_values), n_topics))


def demographic(
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
