"""Evaluation library: every metric pinned to values computed by hand and written out here."""
from __future__ import annotations

import math

import pytest
import torch

from pcl_pipeline.evaluation import (
    RankingAccumulator,
    classification_metrics,
    cold_start_mask,
    majority_class,
    majority_scores,
    popularity_scores,
    ranking_metrics,
    target_ranks,
)

NEG_INF = float("-inf")


def ranks_of(
    rows: list[list[float]], targets: list[int], exclude: list[list[bool]] | None = None
) -> list[int]:
    ex = None if exclude is None else torch.tensor(exclude)
    return target_ranks(torch.tensor(rows), torch.tensor(targets), ex).tolist()


def brute_force_rank(scores: list[float], target: int, exclude: list[bool]) -> int:
    """Pessimistic rank by the protocol's words, one candidate at a time."""
    rank = 0
    for item, s in enumerate(scores):
        if item in (0, target) or exclude[item]:
            continue
        if s >= scores[target]:
            rank += 1
    return rank


def brute_force_auc(y: list[int], margin: list[float]) -> float:
    pos = [m for m, t in zip(margin, y) if t == 1]
    neg = [m for m, t in zip(margin, y) if t == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------- target_ranks


def test_target_third_gives_rank_2_and_padding_column_never_counts():
    # Column 0 (padding) holds the highest score; items 1 and 2 outscore target 3.
    assert ranks_of([[9.0, 0.5, 0.4, 0.3, 0.2]], [3]) == [2]
    m = ranking_metrics(torch.tensor([2]))
    assert m["hr@5"] == 1.0
    assert m["ndcg@5"] == pytest.approx(0.5)  # 1 / log2(2 + 2) = 1 / 2
    assert m["mrr@5"] == pytest.approx(1 / 3)  # 1 / (2 + 1)


def test_top_item_has_rank_0():
    assert ranks_of([[0.0, 0.5, 0.4, 0.1]], [1]) == [0]


def test_tie_counts_against_target():
    # Item 2 ties the target: pessimistic ranking moves it from 0 to 1.
    assert ranks_of([[0.0, 0.5, 0.5, 0.1]], [1]) == [1]
    # A constant scorer ranks every target last among the 4 real candidates.
    assert ranks_of([[0.0, 0.0, 0.0, 0.0, 0.0]], [2]) == [3]


def test_exclusion_removes_higher_item_and_improves_rank():
    row = [[0.0, 0.9, 0.5, 0.1]]
    assert ranks_of(row, [2]) == [1]
    assert ranks_of(row, [2], [[False, True, False, False]]) == [0]


def test_target_marked_in_exclude_is_still_ranked():
    row = [[0.0, 0.9, 0.5, 0.7]]
    # Item 1 excluded, target 2 itself marked too: only item 3 (0.7 >= 0.5) stays above.
    assert ranks_of(row, [2], [[False, True, True, False]]) == [1]


def test_excluding_lower_items_changes_nothing_and_padding_mark_is_irrelevant():
    row = [[5.0, 0.9, 0.5, 0.1]]
    assert ranks_of(row, [2], [[True, False, False, True]]) == [1]
    assert ranks_of(row, [2], [[False, False, False, False]]) == [1]


def test_minus_inf_target_is_ranked_last():
    # A masked-out target (-inf) loses to every candidate, including other -inf ones.
    assert ranks_of([[0.0, 1.0, NEG_INF, NEG_INF]], [2]) == [2]


def test_rows_are_ranked_independently():
    rows = [[0.0, 0.1, 0.2, 0.3], [0.0, 0.3, 0.2, 0.1]]
    assert ranks_of(rows, [1, 1]) == [2, 0]


def test_target_ranks_matches_brute_force_on_random_ties():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 12), generator=g).float()  # few values: many ties
    targets = torch.randint(1, 12, (50,), generator=g)
    exclude = torch.rand(50, 12, generator=g) < 0.3
    got = target_ranks(scores, targets, exclude).tolist()
    want = [
        brute_force_rank(scores[i].tolist(), int(targets[i]), exclude[i].tolist())
        for i in range(50)
    ]
    assert got == want


def test_nan_score_raises():
    with pytest.raises(ValueError, match="NaN at row 1, column 2"):
        ranks_of([[0.0, 0.1, 0.2], [0.0, 0.1, float("nan")]], [1, 1])


def test_nan_in_excluded_column_still_raises():
    with pytest.raises(ValueError, match="NaN"):
        ranks_of([[0.0, 0.1, float("nan")]], [1], [[False, False, True]])


@pytest.mark.parametrize("target", [0, 4, -1])
def test_target_outside_items_raises(target):
    with pytest.raises(ValueError, match=r"expected an id in \[1, 4\)"):
        ranks_of([[0.0, 0.1, 0.2, 0.3]], [target])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="targets"):
        target_ranks(torch.zeros(2, 4), torch.tensor([1]))
    with pytest.raises(ValueError, match="exclude"):
        target_ranks(torch.zeros(1, 4), torch.tensor([1]), torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="exclude"):
        target_ranks(torch.zeros(1, 4), torch.tensor([1]), torch.zeros(1, 4))


# ---------------------------------------------------------------- ranking_metrics


def test_rank_7_is_outside_top5_but_inside_top10():
    m = ranking_metrics(torch.tensor([7]))
    assert (m["hr@5"], m["ndcg@5"], m["mrr@5"]) == (0.0, 0.0, 0.0)
    assert m["hr@10"] == 1.0
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(9))  # 0.3154648767857287
    assert m["ndcg@10"] == pytest.approx(0.3154648767857287)
    assert m["mrr@10"] == pytest.approx(0.125)  # 1 / (7 + 1)


def test_metrics_average_over_rows():
    m = ranking_metrics(torch.tensor([0, 2, 7, 12]))
    assert list(m) == ["hr@5", "ndcg@5", "mrr@5", "hr@10", "ndcg@10", "mrr@10"]
    assert m["hr@5"] == pytest.approx(2 / 4)
    assert m["ndcg@5"] == pytest.approx((1.0 + 0.5 + 0 + 0) / 4)  # 0.375
    assert m["mrr@5"] == pytest.approx((1.0 + 1 / 3 + 0 + 0) / 4)  # 0.3333...
    assert m["hr@10"] == pytest.approx(3 / 4)
    assert m["ndcg@10"] == pytest.approx((1.0 + 0.5 + 0.3154648767857287 + 0) / 4)
    assert m["mrr@10"] == pytest.approx((1.0 + 1 / 3 + 1 / 8 + 0) / 4)


def test_boundary_rank_k_is_a_miss():
    m = ranking_metrics(torch.tensor([5]), ks=(5, 6))
    assert m["hr@5"] == 0.0
    assert m["hr@6"] == 1.0
    assert m["ndcg@6"] == pytest.approx(1 / math.log2(7))


def test_empty_ranks_raise():
    with pytest.raises(ValueError, match="0 rows"):
        ranking_metrics(torch.tensor([], dtype=torch.long))


@pytest.mark.parametrize("ks", [(), (0,), (5, 5)])
def test_bad_ks_raise(ks):
    with pytest.raises(ValueError, match="ks"):
        ranking_metrics(torch.tensor([0]), ks=ks)


def test_negative_or_float_ranks_raise():
    with pytest.raises(ValueError, match="ranks"):
        ranking_metrics(torch.tensor([-1]))
    with pytest.raises(ValueError, match="ranks"):
        ranking_metrics(torch.tensor([0.0]))


# ---------------------------------------------------------------- RankingAccumulator


def test_streaming_equals_one_shot():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(37, 20, generator=g).round(decimals=1)  # rounding creates ties
    targets = torch.randint(1, 20, (37,), generator=g)
    exclude = torch.rand(37, 20, generator=g) < 0.2
    acc = RankingAccumulator()
    for lo in range(0, 37, 8):  # uneven last batch
        acc.add(scores[lo : lo + 8], targets[lo : lo + 8], exclude[lo : lo + 8])
    one_shot = target_ranks(scores, targets, exclude)
    assert len(acc) == 37
    assert torch.equal(acc.ranks(), one_shot)
    assert acc.result() == ranking_metrics(one_shot)
    assert acc.result(ks=(1, 20)) == ranking_metrics(one_shot, ks=(1, 20))


def test_accumulator_without_exclude_and_empty_result_raises():
    acc = RankingAccumulator()
    assert acc.ranks().numel() == 0
    with pytest.raises(ValueError, match="0 rows"):
        acc.result()
    acc.add(torch.tensor([[9.0, 0.5, 0.4, 0.3, 0.2]]), torch.tensor([3]))
    assert acc.ranks().tolist() == [2]
    assert acc.result()["ndcg@5"] == pytest.approx(0.5)


# ---------------------------------------------------------------- classification


def one_hot(pred: list[int], n_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(pred), n_classes).float()


def test_macro_f1_on_hand_made_3_class_confusion():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    # class 0: TP 2, predicted 2, true 3 -> P = 1,   R = 2/3, F1 = 2*(1*2/3)/(1+2/3) = 0.8
    # class 1: TP 1, predicted 2, true 2 -> P = 1/2, R = 1/2, F1 = 0.5
    # class 2: TP 1, predicted 2, true 1 -> P = 1/2, R = 1,   F1 = 2*(1/2)/(3/2) = 2/3
    # macro = (0.8 + 0.5 + 2/3) / 3 = 59/90
    m = classification_metrics(y, one_hot(pred, 3))
    assert m == pytest.approx({"accuracy": 4 / 6, "macro_f1": 59 / 90})
    assert "auc" not in m


def test_macro_f1_skips_class_never_true_nor_predicted():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    # Class 3 exists in the score columns but in neither y nor predictions: same 59/90.
    assert classification_metrics(y, one_hot(pred, 4))["macro_f1"] == pytest.approx(59 / 90)


def test_macro_f1_counts_predicted_only_class_as_zero():
    y = torch.tensor([0, 0])
    # class 0: P = 1, R = 1/2, F1 = 2/3; class 1: predicted, never true -> P = R = 0, F1 = 0;
    # class 2: skipped. macro = (2/3 + 0) / 2 = 1/3
    m = classification_metrics(y, one_hot([0, 1], 3))
    assert m == pytest.approx({"accuracy": 0.5, "macro_f1": 1 / 3})


def test_binary_auc_with_a_tie_by_hand():
    y = torch.tensor([0, 0, 1, 1])
    p1 = torch.tensor([0.1, 0.5, 0.5, 0.9])  # probabilities; margin p1 - p0 = [-0.8, 0, 0, 0.8]
    scores = torch.stack([1 - p1, p1], dim=1)  # (4, 2)
    # pairs (pos, neg): (0.5, 0.1) = 1, (0.5, 0.5) = 1/2 tie, (0.9, 0.1) = 1, (0.9, 0.5) = 1
    # AUC = 3.5 / (2 * 2) = 0.875
    assert classification_metrics(y, scores)["auc"] == pytest.approx(0.875)


def test_binary_auc_on_logits_with_and_without_tie():
    y = torch.tensor([1, 0, 1, 0])
    margins = torch.tensor([2.0, 2.0, 1.0, 0.0])
    scores = torch.stack([torch.zeros(4), margins], dim=1)  # logits, margin = column 1
    # pairs: (2, 2) = 1/2 tie, (2, 0) = 1, (1, 2) = 0, (1, 0) = 1 -> 2.5 / 4 = 0.625
    assert classification_metrics(y, scores)["auc"] == pytest.approx(0.625)
    # positives [3, 1], negatives [2, 0]: (3, 2) = 1, (3, 0) = 1, (1, 2) = 0, (1, 0) = 1 -> 3/4
    scores = torch.stack([torch.zeros(4), torch.tensor([3.0, 2.0, 1.0, 0.0])], dim=1)
    assert classification_metrics(y, scores)["auc"] == pytest.approx(0.75)


def test_binary_auc_matches_brute_force_on_random_ties():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 2, (60,), generator=g)
    scores = torch.randint(0, 5, (60, 2), generator=g).float()
    margin = (scores[:, 1] - scores[:, 0]).tolist()
    got = classification_metrics(y, scores)["auc"]
    assert got == pytest.approx(brute_force_auc(y.tolist(), margin))


def test_auc_with_one_class_raises():
    with pytest.raises(ValueError, match="both classes"):
        classification_metrics(torch.tensor([1, 1]), torch.tensor([[0.2, 0.8], [0.6, 0.4]]))


def test_classification_rejects_empty_nan_and_bad_labels():
    with pytest.raises(ValueError, match="0 rows"):
        classification_metrics(torch.tensor([], dtype=torch.long), torch.zeros(0, 3))
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics(torch.tensor([0]), torch.tensor([[float("nan"), 0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"label 3; expected a class in \[0, 3\)"):
        classification_metrics(torch.tensor([3]), torch.zeros(1, 3))


# ---------------------------------------------------------------- baselines


def test_popularity_counts_and_ignores_padding():
    train = torch.tensor([[1, 2, 2, 0], [3, 3, 3, 2]])  # padded sequences
    pop = popularity_scores(train, vocab_size=5)
    assert pop.tolist() == [NEG_INF, 1.0, 3.0, 3.0, 0.0]


def test_popularity_ranking_with_exclusion_and_pessimistic_ties():
    pop = popularity_scores(torch.tensor([1, 2, 2, 3, 3, 3, 2]), vocab_size=5)  # [-inf, 1, 3, 3, 0]
    scores = pop.expand(3, -1)  # (3, V): one shared row, no copy
    targets = torch.tensor([2, 2, 4])
    exclude = torch.tensor(
        [
            [False, False, False, False, False],
            [False, False, False, True, False],  # item 3 is in this user's history
            [False, False, True, False, False],  # item 2 is in this user's history
        ]
    )
    # row 0: item 3 ties item 2 -> rank 1; row 1: item 3 excluded -> rank 0;
    # row 2: items 1, 3 outscore item 4 (count 0), item 2 excluded -> rank 2.
    assert target_ranks(scores, targets, exclude).tolist() == [1, 0, 2]


def test_popularity_rejects_out_of_vocab_ids():
    with pytest.raises(ValueError, match=r"item id 5; expected ids in \[0, 5\)"):
        popularity_scores(torch.tensor([1, 5]), vocab_size=5)


def test_majority_class_tie_goes_to_smallest_id():
    assert majority_class(torch.tensor([2, 1, 1, 2, 0])) == 1
    assert majority_class(torch.tensor([3, 3, 0])) == 3
    with pytest.raises(ValueError, match="0 rows"):
        majority_class(torch.tensor([], dtype=torch.long))


def test_majority_scores_go_through_classification_metrics():
    scores = majority_scores(4, 2, 1)
    assert scores.tolist() == [[0.0, 1.0]] * 4
    m = classification_metrics(torch.tensor([0, 1, 1, 0]), scores)
    # accuracy 2/4; class 1: TP 2, true 2, predicted 4 -> F1 = 2*2/(2+4) = 2/3; class 0: F1 0
    # macro = 1/3; constant margin -> every pair ties -> AUC = 1/2
    assert m == pytest.approx({"accuracy": 0.5, "macro_f1": 1 / 3, "auc": 0.5})
    with pytest.raises(ValueError, match="cls=2"):
        majority_scores(4, 2, 2)


def test_cold_start_mask_counts_training_occurrences():
    # counts: 1 -> 6, 2 -> 5 (exactly max_train), 3 -> 1, 4 -> 0; the zeros are padding
    train = torch.tensor([1] * 6 + [2] * 5 + [3] + [0, 0])
    test = torch.tensor([1, 2, 3, 4])
    assert cold_start_mask(test, train, vocab_size=5).tolist() == [False, True, True, True]
    strict = cold_start_mask(test, train, vocab_size=5, max_train=0)
    assert strict.tolist() == [False, False, False, True]


def test_cold_start_mask_rejects_padding_target():
    with pytest.raises(ValueError, match="padding"):
        cold_start_mask(torch.tensor([0]), torch.tensor([1]), vocab_size=3)


# --- protocol: whole-history exclusion, targets outside the vocabulary -----------------------

from pcl_pipeline.evaluation.protocol import evaluate_ranking, split_ranks  # noqa: E402
from pcl_pipeline.data.splits import left_pad  # noqa: E402
from pcl_pipeline.data.splits import Split  # noqa: E402


def _split(histories: list[list[int]], targets: list[int], max_len: int) -> Split:
    lengths = torch.tensor([0] + [len(h) for h in histories])
    return Split(users=torch.arange(len(targets)), sequences=left_pad(histories, max_len),
                 targets=torch.tensor(targets), history=torch.tensor([i for h in histories for i in h]),
                 offsets=lengths.cumsum(0))


def test_history_exclusion_uses_the_whole_input_not_only_the_last_L():
    # The model reads the last 2 items; item 1 (the best scored) was seen 3 steps back: it must
    # still be excluded, so the target 4 ranks first.
    split = _split([[1, 2, 3]], [4], max_len=2)
    assert split.inputs().tolist() == [[2, 3]]
    scores = torch.tensor([[0.0, 9.0, 1.0, 1.0, 5.0, 0.0]])
    ranks = split_ranks(lambda x: scores.expand(x.shape[0], -1), split, torch.arange(6), 5, torch.device("cpu"))
    assert ranks.tolist() == [0]
    truncated = split.last_only()  # no history: last L only
    ranks = split_ranks(lambda x: scores.expand(x.shape[0], -1), truncated, torch.arange(6), 5, torch.device("cpu"))
    assert ranks.tolist() == [1]


def test_targets_outside_the_vocabulary_are_counted_misses():
    split = _split([[1], [2], [1]], [3, 0, 0], max_len=2)
    scores = torch.tensor([[0.0, 1.0, 1.0, 5.0]])
    result = evaluate_ranking(lambda x: scores.expand(x.shape[0], -1), split, torch.tensor([3, 3, 1]),
                              torch.arange(4), 3, torch.device("cpu"))
    assert result["n_out_of_vocab"] == 2
    assert result["metrics"]["hr@10"] == pytest.approx(1 / 3)  # one hit over three rows
    assert result["baselines"]["hr@10"] == pytest.approx(1 / 3)
    assert result["cold_start"]["n"] == 3  # target 3 has 2 training rows (<= 5); unknown targets are colder still


def test_logistic_reference_learns_a_separable_bag_and_selects_on_validation():
    from pcl_pipeline.evaluation.reference import bag_of_items, logistic_reference

    def rows(n, offset):  # class 1 users have item 1 in their history, class 0 users item 2
        hist = [[1 if (i + offset) % 2 else 2, 3 + i % 3, 5] for i in range(n)]
        return _split(hist, [(i + offset) % 2 for i in range(n)], max_len=2)

    train, valid, test = rows(40, 0), rows(10, 1), rows(10, 0)
    assert bag_of_items(train, 6).toarray()[0].tolist() == [0, 0, 1, 1, 0, 1, 0]  # whole history, not the last 2
    ref = logistic_reference(train, valid, test, 6, 2, seed=0)
    assert ref["metrics"]["auc"] == 1.0 and ref["metrics"]["accuracy"] == 1.0
    assert set(ref["valid_log_loss"]) == {str(c) for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)}
    assert str(ref["C"]) == min(ref["valid_log_loss"], key=lambda c: (ref["valid_log_loss"][c], float(c)))
    assert ref["last_L"]["metrics"]["auc"] <= 1.0  # the last 2 inputs hide item 1/2 for some rows


def test_the_reference_is_fitted_once_per_data_version_and_read_back_identical(tmp_path, monkeypatch):
    """The eval stage keeps the reference under the task data's content hash: a second eval of the
    same data fits nothing and reports the same numbers; other rows are fitted again."""
    import json
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression

    from pcl_pipeline.stages.evaluate import reference
    from pcl_pipeline.store.artifact_store import ArtifactStore

    def rows(n, offset):
        return _split([[1 if (i + offset) % 2 else 2, 3 + i % 3, 5] for i in range(n)],
                      [(i + offset) % 2 for i in range(n)], max_len=2)

    store = ArtifactStore(tmp_path).dataset("movielens")
    paths = store.task_data_paths("T4_gender")
    paths.rows.parent.mkdir(parents=True)
    paths.rows.write_bytes(b"rows v1")
    paths.vocab.write_bytes(b"vocab")
    data = SimpleNamespace(train=rows(40, 0), valid=rows(10, 1), test=rows(10, 0), n_targets=2)
    task = SimpleNamespace(name="T4_gender")
    first = reference(store, task, data, 6, 0)
    fits = []
    real_fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
    again = reference(store, task, data, 6, 0)
    assert fits == [] and json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)
    paths.rows.write_bytes(b"rows v2")  # another data version: fitted again (both inputs, 7 values of C)
    reference(store, task, data, 6, 0)
    assert len(fits) == 14
    reference(store, task, data, 6, 1)  # another seed: again
    assert len(fits) == 28
