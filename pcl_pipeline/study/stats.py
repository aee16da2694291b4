"""Paired statistics over seeds and the three-valued verdicts of docs/study-protocol.md.

Every comparison of the study is paired: two methods on the same seed share the user split, the
tie hash, the pretrained backbone and the test rows, so the per-seed difference removes what the
seeds share. Over n seeds the differences d_1..d_n give a mean and a 95% Student t interval
(mean +- t_{0.975, n-1} * sd / sqrt(n)); with one seed there is no interval (it is unbounded).

A claim "the effect exceeds `threshold`" is
    reproduced      when the whole interval lies above the threshold,
    not reproduced  when the whole interval lies below it,
    inconclusive    when the interval contains it (the seeds cannot tell).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_APPLICABLE = "reproduced", "not reproduced", "inconclusive", \
    "not applicable"
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int  # seeds (paired differences)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
        """"+1.23% [-0.40%, +2.86%] (n=3)"; an unbounded interval (n < 2) prints as such."""
        def fmt(x: float) -> str:
            return f"{x * scale:+.{digits}f}{unit}" if math.isfinite(x) else ("-inf" if x < 0 else "+inf")
        return f"{fmt(self.mean)} [{fmt(self.low)}, {fmt(self.high)}] (n={self.n})"


def paired_interval(differences: list[float], level: float = LEVEL) -> Interval:
    """Mean of the per-seed paired differences with its two-sided `level` t interval over seeds."""
    if not differences:
        raise ValueError("no paired differences: nothing to compare")
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n)
    from scipy.stats import t as student_t  # here, not at import: the definitions load this module

    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(differences) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def decide(interval: Interval, threshold: float = 0.0) -> str:
    """The verdict on "the effect exceeds `threshold`" from the effect's interval."""
    if interval.low > threshold:
        return REPRODUCED
    if interval.high < threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def majority(verdicts: list[str]) -> str:
    """A claim that holds on most tasks: reproduced when more than half are reproduced; not
    reproduced when even every inconclusive one turning out in its favour would not make a
    majority; inconclusive otherwise."""
    if not verdicts:
        return NOT_APPLICABLE
    wins, open_ = verdicts.count(REPRODUCED), verdicts.count(INCONCLUSIVE)
    if wins > len(verdicts) / 2:
        return REPRODUCED
    if wins + open_ <= len(verdicts) / 2:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def all_of(verdicts: list[str]) -> str:
    """A claim that needs every part: not reproduced if any part is not, reproduced if all are."""
    if not verdicts:
        return NOT_APPLICABLE
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def relative(a: float, b: float) -> float:
    """(a - b) / |b|; the difference itself when b is 0."""
    return (a - b) / abs(b) if b != 0 else a - b
