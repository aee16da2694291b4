"""The study's statistics and verdicts (docs/study-protocol.md): paired t intervals over seeds,
three-valued decisions, and each claim decided on the per-seed values of study.json."""
from __future__ import annotations

import math

import pytest

from pcl_pipeline.study import report
from pcl_pipeline.study.stats import (
    INCONCLUSIVE,
    NOT_APPLICABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    all_of,
    decide,
    majority,
    paired_interval,
)


def test_paired_interval_is_the_t_interval_over_seeds():
    interval = paired_interval([0.01, 0.03, 0.02])
    # mean 0.02, sd 0.01, t_{0.975, 2} = 4.3027: half-width 4.3027 * 0.01 / sqrt(3)
    assert interval.mean == pytest.approx(0.02)
    assert interval.high - interval.mean == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    assert interval.low == pytest.approx(2 * interval.mean - interval.high) and interval.n == 3
    one = paired_interval([0.5])
    assert one.low == -math.inf and one.high == math.inf  # one seed: no interval, nothing decided
    assert decide(one) == INCONCLUSIVE
    with pytest.raises(ValueError):
        paired_interval([])


def test_decisions_are_three_valued():
    above, below, across = paired_interval([0.05, 0.06, 0.07]), paired_interval([-0.05, -0.06, -0.07]), \
        paired_interval([-0.05, 0.0, 0.06])
    assert (decide(above), decide(below), decide(across)) == (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
    assert decide(below, threshold=-0.1) == REPRODUCED  # above a negative margin (the order claim)
    assert majority([REPRODUCED, REPRODUCED, INCONCLUSIVE]) == REPRODUCED
    assert majority([REPRODUCED, INCONCLUSIVE, INCONCLUSIVE]) == INCONCLUSIVE
    assert majority([REPRODUCED, NOT_REPRODUCED, NOT_REPRODUCED]) == NOT_REPRODUCED
    assert majority([]) == NOT_APPLICABLE
    assert all_of([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE and all_of([REPRODUCED, NOT_REPRODUCED]) == NOT_REPRODUCED


def _study(pcl: list[float], baseline: list[float], seeds=(0, 1, 2), **extra) -> dict:
    def row(values):
        return {"metric": "ndcg@10", "mean": sum(values) / len(values), "per_seed": values}
    methods = {"PCL": {"seeds": list(seeds), "tasks": {"T2": row(pcl), "T3": row(pcl)}},
               "Adapter": {"seeds": list(seeds), "tasks": {"T2": row(baseline), "T3": row(baseline)}}}
    for name, values in extra.items():
        methods[name.replace("_", "-")] = {"seeds": list(seeds), "tasks": {"T2": row(values), "T3": row(values)}}
    return {"datasets": {"movielens": {"methods": methods, "cold_start": {}, "order": {}, "transfer": None}}}


def test_best_is_decided_paired_by_seed_not_by_means():
    # the seeds differ a lot (0.03 .. 0.07) but PCL beats the baseline on every seed by ~10%:
    # unpaired means +- std would overlap; the paired interval clears 0
    verdict, text = report.claim_best(_study([0.033, 0.055, 0.077], [0.030, 0.050, 0.070]))
    assert verdict == REPRODUCED and "vs Adapter" in text
    # PCL ahead on average but behind on one seed: the interval contains 0
    verdict, _ = report.claim_best(_study([0.036, 0.049, 0.080], [0.030, 0.050, 0.070]))
    assert verdict == INCONCLUSIVE
    verdict, _ = report.claim_best(_study([0.027, 0.045, 0.063], [0.030, 0.050, 0.070]))
    assert verdict == NOT_REPRODUCED
    # seeds are matched by seed, not by position
    study = _study([0.033, 0.055, 0.077], [0.070, 0.050, 0.030], seeds=(0, 1, 2))
    study["datasets"]["movielens"]["methods"]["Adapter"]["seeds"] = [2, 1, 0]
    assert report.claim_best(study)[0] == REPRODUCED


def test_ablations_and_inheritance_have_their_own_verdicts():
    study = _study([0.050, 0.060, 0.070], [0.040, 0.050, 0.060], PCL_no_context=[0.045, 0.054, 0.063],
                   PCL_random_text=[0.049, 0.059, 0.069], PCL_no_inherit=[0.050, 0.060, 0.070])
    assert report.claim_ablations(study)[0] == REPRODUCED  # both ablations lose on every seed
    verdict, text = report.claim_inheritance(study)
    # identical to PCL on every seed: the interval is the point 0, which the threshold touches: no effect shown
    assert verdict == INCONCLUSIVE and "PCL-no-inherit" in text
    worse = _study([0.050, 0.060, 0.070], [0.040, 0.050, 0.060], PCL_no_context=[0.055, 0.066, 0.077],
                   PCL_random_text=[0.049, 0.059, 0.069])
    assert report.claim_ablations(worse)[0] == NOT_REPRODUCED  # one ablation beats PCL on every seed


def test_order_is_signed_degradation_against_the_margin():
    study = _study([0.05] * 3, [0.04] * 3)
    ds = study["datasets"]["movielens"]
    ds["order_per_seed"] = {"0": -0.001, "1": 0.002, "2": -0.003}
    assert report.claim_order(study)[0] == REPRODUCED  # tiny changes: the interval lies above -2%
    ds["order_per_seed"] = {"0": -0.05, "1": -0.06, "2": -0.055}
    assert report.claim_order(study)[0] == NOT_REPRODUCED  # a clear degradation beyond the margin
    ds["order_per_seed"] = {"0": -0.05}
    assert report.claim_order(study)[0] == INCONCLUSIVE  # one seed decides nothing


def test_the_competitor_is_compared_after_the_last_task_was_learned():
    # right after learning, TERACON is ahead on every seed; after the last task it has forgotten:
    # the claim reads the final scores (a frozen-backbone PCL scores the same at both moments)
    study = _study([0.050, 0.060, 0.070], [0.040, 0.050, 0.060], TERACON=[0.060, 0.070, 0.080])
    for m in study["datasets"]["movielens"]["methods"].values():
        for row in m["tasks"].values():
            row["final_per_seed"] = list(row["per_seed"])
    for row in study["datasets"]["movielens"]["methods"]["TERACON"]["tasks"].values():
        row["final_per_seed"] = [0.040, 0.045, 0.055]
    verdict, text = report.claim_competitor(study)
    assert verdict == REPRODUCED and "after the last task" in text
    assert report.claim_competitor(_study([0.05] * 3, [0.04] * 3))[0] == NOT_APPLICABLE  # no TERACON run
    assert [claim for claim, _, _ in report.verdicts(study)][-1] == "better than TERACON after the last task"


def test_transfer_needs_better_accuracy_and_fewer_epochs_to_the_best_validation():
    def study_with(accuracy_gain: list[float], epochs: list[tuple[int, int]]) -> dict:
        study = _study([0.05] * 3, [0.04] * 3)
        per_seed = [{"seed": s, "raw": 0.70, "pcl": 0.70 + g, "epochs": {"raw": er, "previous": ep}}
                    for s, g, (er, ep) in zip(range(3), accuracy_gain, epochs)]
        study["datasets"]["movielens"]["transfer"] = {"raw": 0.70, "pcl": 0.70 + sum(accuracy_gain) / 3,
                                                      "per_seed": per_seed}
        return study

    verdict, text = report.claim_transfer(study_with([0.02, 0.03, 0.025], [(20, 5), (22, 6), (18, 4)]))
    assert verdict == REPRODUCED and "epochs to the best validation" in text
    # better accuracy but no faster: the claim (better and faster) is not reproduced
    assert report.claim_transfer(study_with([0.02, 0.03, 0.025], [(5, 20), (6, 22), (4, 18)]))[0] == NOT_REPRODUCED
