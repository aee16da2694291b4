"""The evaluation protocol around the metrics: history exclusion, the cold-start slice, streamed
batches, the to_target map, split loading and the report. Every value is computed by hand (in the
comments) or by a brute force that shares no code with the protocol.

tests/test_evaluation.py pins the metric functions themselves; this file pins what feeds them.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data import splits as splits_module
from pcl_pipeline.data.splits import NextItemData, Split, TaskData, left_pad, load_split, load_vocab
from pcl_pipeline.evaluation import protocol
from pcl_pipeline.evaluation.baselines import cold_start_mask
from pcl_pipeline.evaluation.protocol import (
    COLD_START_MAX_TRAIN,
    evaluate_next_item,
    evaluate_ranking,
    history_mask,
    popularity_ranks,
    rows_per_batch,
    split_ranks,
    split_scores,
)
from pcl_pipeline.evaluation.ranking import ranking_metrics
from pcl_pipeline.stages.report import MixedDataError, build_report, build_summary, summary_markdown

CPU = torch.device("cpu")
F, T = False, True


def split_of(inputs: list[list[int]], targets: list[int]) -> Split:
    return Split(users=torch.arange(len(targets)), sequences=torch.tensor(inputs), targets=torch.tensor(targets))


def table_scorer(table: dict[tuple[int, ...], list[float]], calls: list[int] | None = None):
    """A scorer that looks each row's scores up by its input sequence (so batching cannot matter)."""

    def score(inputs: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append(int(inputs.shape[0]))
        return torch.tensor([table[tuple(row)] for row in inputs.tolist()])

    return score


def mrr5(ranks: list[int]) -> float:
    return sum(1 / (r + 1) for r in ranks if r < 5) / len(ranks)


# ------------------------------------------------------------------ history_mask

# backbone id -> target id: 1 -> 3, 2 -> 1, 3 -> 0 (not a target), 4 -> 5, 5 -> 2, 6 -> 4
TO_TARGET = torch.tensor([0, 3, 1, 0, 5, 2, 4])
N_TARGETS = 5


def test_history_mask_maps_backbone_history_to_target_ids():
    inputs = torch.tensor([[0, 0, 1, 3],  # padding, item 1 -> target 3, item 3 outside the vocabulary
                           [2, 4, 5, 6],  # -> targets 1, 5, 2, 4
                           [0, 0, 0, 0]])  # empty history
    mask = history_mask(inputs, TO_TARGET, N_TARGETS)
    assert mask.dtype == torch.bool and mask.shape == (3, N_TARGETS + 1)
    assert mask.tolist() == [[F, F, F, T, F, F],
                             [F, T, T, F, T, T],
                             [F, F, F, F, F, F]]


def test_history_mask_never_marks_padding_column_even_when_items_map_to_0():
    # Item 3 maps to target 0 (outside the vocabulary): neither it nor padding marks column 0,
    # and it marks nothing else either.
    mask = history_mask(torch.tensor([[3, 3, 0, 3]]), TO_TARGET, N_TARGETS)
    assert mask.tolist() == [[F] * 6]


def test_history_mask_is_none_without_a_map():
    assert history_mask(torch.tensor([[1, 2]]), None, N_TARGETS) is None


# ------------------------------------------------------------------ history exclusion in the ranking

# Four test users; column 0 of every score row is padding.
#  r0: history {3} (backbone 1), target 2; item 3 is the model's top item -> excluded.
#  r1: history {1, 5, 2, 4}, target 3: every item above it is excluded.
#  r2: no history, target 5, every candidate tied -> pessimistic rank 4.
#  r3: history {4} = the target itself (backbone 6): the target is still ranked.
RANK_INPUTS = [[0, 0, 1, 3], [2, 4, 5, 6], [0, 0, 0, 0], [0, 0, 0, 6]]
RANK_TARGETS = [2, 3, 5, 4]
RANK_SCORES = {
    (0, 0, 1, 3): [0.0, 0.1, 0.5, 0.9, 0.3, 0.2],
    (2, 4, 5, 6): [0.0, 0.9, 0.8, 0.1, 0.7, 0.6],
    (0, 0, 0, 0): [0.0, 0.4, 0.4, 0.4, 0.4, 0.4],
    (0, 0, 0, 6): [0.0, 0.5, 0.1, 0.1, 0.3, 0.6],
}
# Training interactions: item 1 x6, item 2 x2, item 3 x7, item 4 x0, item 5 x5.
# Popularity scores [-inf, 6, 2, 7, 0, 5].
TRAIN_ITEMS = torch.tensor([3] * 7 + [1] * 6 + [2] * 2 + [5] * 5)
#  model, excluded: r0 nothing above 0.5 among {1, 2, 4, 5}     -> 0
#                   r1 items 1, 2, 4, 5 all excluded             -> 0
#                   r2 items 1..4 tie at 0.4                     -> 4
#                   r3 items 1 (0.5), 5 (0.6) >= 0.3             -> 2
MODEL_RANKS = [0, 0, 4, 2]
MODEL_RANKS_NO_EXCLUSION = [1, 4, 4, 2]  # r0: item 3 counts; r1: items 1, 2, 4, 5 count
#  popularity, excluded: r0 items 1 (6), 5 (5) >= 2; item 3 (7) excluded -> 2
#                        r1 target 3 is the most popular            -> 0
#                        r2 items 1 (6), 3 (7) >= 5                 -> 2
#                        r3 items 1, 2, 3, 5 all > 0                -> 4
POP_RANKS = [2, 0, 2, 4]
POP_RANKS_NO_EXCLUSION = [3, 0, 2, 4]


def test_split_ranks_does_not_credit_or_penalise_history_items():
    split = split_of(RANK_INPUTS, RANK_TARGETS)
    ranks = split_ranks(table_scorer(RANK_SCORES), split, TO_TARGET, N_TARGETS, CPU)
    assert ranks.tolist() == MODEL_RANKS
    # Without a map (another namespace) nothing is excluded: item 3 outranks r0's target again.
    plain = split_ranks(table_scorer(RANK_SCORES), split, None, N_TARGETS, CPU)
    assert plain.tolist() == MODEL_RANKS_NO_EXCLUSION


def test_popularity_ranks_apply_the_same_history_exclusion():
    split = split_of(RANK_INPUTS, RANK_TARGETS)
    assert popularity_ranks(split, TRAIN_ITEMS, TO_TARGET, N_TARGETS).tolist() == POP_RANKS
    assert popularity_ranks(split, TRAIN_ITEMS, None, N_TARGETS).tolist() == POP_RANKS_NO_EXCLUSION


def test_evaluate_ranking_pins_model_baseline_and_cold_slice_by_hand():
    split = split_of(RANK_INPUTS, RANK_TARGETS)
    result = evaluate_ranking(table_scorer(RANK_SCORES), split, TRAIN_ITEMS, TO_TARGET, N_TARGETS, CPU)
    assert result["baseline_name"] == "popularity" and result["n_test"] == 4
    # model ranks [0, 0, 4, 2]: MRR@5 = (1 + 1 + 1/5 + 1/3) / 4 = 19/30
    log2_6 = math.log2(6)
    assert result["metrics"] == pytest.approx({
        "hr@5": 1.0, "ndcg@5": (1 + 1 + 1 / log2_6 + 0.5) / 4, "mrr@5": 19 / 30,
        "hr@10": 1.0, "ndcg@10": (1 + 1 + 1 / log2_6 + 0.5) / 4, "mrr@10": 19 / 30,
    })
    # popularity ranks [2, 0, 2, 4]: NDCG@5 = (1/2 + 1 + 1/2 + 1/log2 6) / 4, MRR@5 = 7/15
    assert result["baselines"]["ndcg@5"] == pytest.approx((0.5 + 1 + 0.5 + 1 / log2_6) / 4)
    assert result["baselines"]["mrr@5"] == pytest.approx(7 / 15)
    # Cold targets (<= 5 training interactions): 2 (x2), 5 (x5, the boundary), 4 (x0); not 3 (x7).
    cold = result["cold_start"]
    assert cold["n"] == 3
    # model ranks of rows 0, 2, 3 = [0, 4, 2]: MRR@5 = (1 + 1/5 + 1/3) / 3 = 23/45
    assert cold["model"] == ranking_metrics(torch.tensor([0, 4, 2]))
    assert cold["model"]["mrr@5"] == pytest.approx(23 / 45)
    # popularity ranks of rows 0, 2, 3 = [2, 2, 4]: MRR@5 = (1/3 + 1/3 + 1/5) / 3 = 13/45
    assert cold["popularity"] == ranking_metrics(torch.tensor([2, 2, 4]))
    assert cold["popularity"]["mrr@5"] == pytest.approx(13 / 45)


# ------------------------------------------------------------------ the cold-start slice


def test_cold_start_threshold_is_five_training_interactions():
    assert COLD_START_MAX_TRAIN == 5


def test_cold_slice_counts_exactly_the_rows_with_rare_targets():
    # Training interactions (as padded sequences, 0 = padding): item 1 x6, item 2 x5, item 3 x1,
    # item 4 never; 20 padding zeros that must not count as anything.
    train = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                          [0, 0, 0, 0, 0, 2, 2, 2, 2, 2],
                          [0, 0, 0, 0, 0, 0, 0, 0, 0, 3],
                          [0] * 10])
    # 7 test rows; cold: target 2 (5, boundary), 3 (1), 4 (0); warm: target 1 (6).
    targets = [1, 2, 1, 4, 3, 1, 2]
    cold_rows = [1, 3, 4, 6]
    # A scorer that ranks item 4 first, then 3, 2, 1 (no ties): rank of target t is 4 - t.
    scores = [0.0, 1.0, 2.0, 3.0, 4.0]
    inputs = [[0, r] for r in range(7)]  # distinct inputs, no history exclusion (no map)
    split = split_of(inputs, targets)
    result = evaluate_ranking(table_scorer({tuple(x): scores for x in inputs}), split, train, None, 4, CPU)
    ranks = [4 - t for t in targets]  # [3, 2, 3, 0, 1, 3, 2]
    assert result["metrics"] == ranking_metrics(torch.tensor(ranks))
    assert result["cold_start"]["n"] == len(cold_rows) == 4
    assert result["cold_start"]["model"] == ranking_metrics(torch.tensor([ranks[i] for i in cold_rows]))
    # popularity [-inf, 6, 5, 1, 0]: rank of t is t - 1 (item 1 first); cold rows -> [1, 3, 2, 1]
    assert result["cold_start"]["popularity"] == ranking_metrics(torch.tensor([1, 3, 2, 1]))
    assert result["cold_start"]["popularity"]["mrr@5"] == pytest.approx((1 / 2 + 1 / 4 + 1 / 3 + 1 / 2) / 4)
    # And directly: the mask of exactly those rows.
    mask = cold_start_mask(torch.tensor(targets), train, vocab_size=5, max_train=COLD_START_MAX_TRAIN)
    assert mask.nonzero().flatten().tolist() == cold_rows


def test_no_cold_row_gives_n_0_and_no_slice_metrics():
    train = torch.tensor([1] * 6 + [2] * 9)
    split = split_of([[0, 1], [0, 2]], [1, 2])
    result = evaluate_ranking(table_scorer({(0, 1): [0.0, 1.0, 0.0], (0, 2): [0.0, 0.0, 1.0]}),
                              split, train, None, 2, CPU)
    assert result["cold_start"] == {"n": 0}
    assert result["metrics"]["hr@5"] == 1.0


# ------------------------------------------------------------------ streamed batches


def test_rows_per_batch_follows_score_budget(monkeypatch):
    assert rows_per_batch(10) == 512  # 2**25 // 11 is far above the cap
    assert rows_per_batch(10, cap=7) == 7
    assert rows_per_batch(1_000_000) == 33  # 33554432 // 1000001
    monkeypatch.setattr(protocol, "SCORE_BUDGET", 30)
    assert rows_per_batch(9) == 3  # 30 // 10
    assert rows_per_batch(40) == 1  # 30 // 41 = 0, at least one row


def _stream_case():
    """37 rows over 12 backbone items and 9 targets, integer scores with many ties."""
    g = torch.Generator().manual_seed(7)
    n_backbone, n_targets, n_rows, length = 12, 9, 37, 5
    to_target = torch.tensor([0, 3, 1, 0, 9, 2, 4, 0, 5, 6, 7, 8, 0])  # backbone 3, 7, 12 outside
    inputs = torch.randint(1, n_backbone + 1, (n_rows, length), generator=g)
    pads = torch.randint(0, length + 1, (n_rows,), generator=g)
    inputs[torch.arange(length).expand(n_rows, -1) < pads.unsqueeze(1)] = 0  # left padding
    targets = torch.randint(1, n_targets + 1, (n_rows,), generator=g)
    weights = torch.randint(0, 3, (n_backbone + 1, n_targets + 1), generator=g)  # few values: ties
    train_items = torch.randint(0, n_targets + 1, (50,), generator=g)  # 0 = padding

    def score_of(x: torch.Tensor) -> torch.Tensor:  # bag of items @ integer weights: exact
        bag = torch.zeros(x.shape[0], n_backbone + 1, dtype=torch.long).scatter_add_(1, x, torch.ones_like(x))
        return (bag @ weights).float()

    return Split(torch.arange(n_rows), inputs, targets), to_target, n_targets, score_of, train_items


def _brute_ranks(scores: torch.Tensor, split: Split, to_target: torch.Tensor | None, n_targets: int) -> list[int]:
    out = []
    for row, target in zip(range(len(split)), split.targets.tolist()):
        history = set()
        if to_target is not None:
            history = {int(to_target[i]) for i in split.inputs()[row].tolist() if i != 0} - {0}
        s = scores[row].tolist()
        out.append(sum(1 for c in range(1, n_targets + 1)
                       if c != target and c not in history and s[c] >= s[target]))
    return out


@pytest.mark.parametrize("budget, batches", [(10, [1] * 37), (30, [3] * 12 + [1]), (1 << 25, [37])])
def test_split_ranks_identical_streamed_or_in_one_batch(monkeypatch, budget, batches):
    split, to_target, n_targets, score_of, _ = _stream_case()
    monkeypatch.setattr(protocol, "SCORE_BUDGET", budget)
    calls: list[int] = []

    def score(x: torch.Tensor) -> torch.Tensor:
        calls.append(int(x.shape[0]))
        return score_of(x)

    ranks = split_ranks(score, split, to_target, n_targets, CPU)
    assert calls == batches
    want = _brute_ranks(score_of(split.inputs()), split, to_target, n_targets)
    assert ranks.tolist() == want
    # The case really exercises exclusion and ties: without exclusion some ranks differ, and some
    # target ties another candidate.
    assert want != _brute_ranks(score_of(split.inputs()), split, None, n_targets)
    all_scores = score_of(split.inputs())
    ties = [(all_scores[i, 1:] == all_scores[i, int(t)]).sum() > 1 for i, t in enumerate(split.targets)]
    assert any(ties)


@pytest.mark.parametrize("budget", [10, 30, 1 << 25])
def test_popularity_ranks_identical_streamed_or_in_one_batch(monkeypatch, budget):
    split, to_target, n_targets, _, train_items = _stream_case()
    monkeypatch.setattr(protocol, "SCORE_BUDGET", budget)
    counts = torch.bincount(train_items, minlength=n_targets + 1).float()
    counts[0] = float("-inf")
    want = _brute_ranks(counts.expand(len(split), -1), split, to_target, n_targets)
    assert popularity_ranks(split, train_items, to_target, n_targets).tolist() == want


def test_evaluate_ranking_identical_streamed_or_in_one_batch(monkeypatch):
    split, to_target, n_targets, score_of, train_items = _stream_case()
    one = evaluate_ranking(score_of, split, train_items, to_target, n_targets, CPU)
    monkeypatch.setattr(protocol, "SCORE_BUDGET", 25)  # 2 rows per batch
    streamed = evaluate_ranking(score_of, split, train_items, to_target, n_targets, CPU)
    assert streamed == one
    assert one["cold_start"]["n"] > 0


@pytest.mark.parametrize("batch_size", [1, 4, 512])
def test_split_scores_keep_row_order_for_any_batch_size(batch_size):
    split, *_ = _stream_case()
    calls: list[int] = []

    def score(x: torch.Tensor) -> torch.Tensor:  # (B, 3) per-row features
        calls.append(int(x.shape[0]))
        return torch.stack([x.sum(1), x[:, -1], (x > 0).sum(1)], dim=1).float()

    got = split_scores(score, split, CPU, batch_size=batch_size)
    assert calls == [min(batch_size, 37 - start) for start in range(0, 37, batch_size)]
    x = split.inputs()
    assert torch.equal(got, torch.stack([x.sum(1), x[:, -1], (x > 0).sum(1)], dim=1).float())


# ------------------------------------------------------------------ Parquet fixtures

ROWS_SCHEMA = pa.schema([("user_idx", pa.int64()), ("user_id", pa.string()), ("split", pa.string()),
                         ("input", pa.list_(pa.int64())), ("target", pa.int64())])
VOCAB_SCHEMA = pa.schema([("idx", pa.int64()), ("value", pa.string()), ("backbone_idx", pa.int64())])


def write_rows(path: Path, rows: list[tuple]) -> Path:
    cols = list(zip(*rows))
    pq.write_table(pa.table({n: list(c) for n, c in zip(ROWS_SCHEMA.names, cols)}, schema=ROWS_SCHEMA), path)
    return path


def write_vocab(path: Path, idx: list[int], values: list[str], backbone: list[int | None]) -> Path:
    pq.write_table(pa.table({"idx": idx, "value": values, "backbone_idx": backbone}, schema=VOCAB_SCHEMA), path)
    return path


# ------------------------------------------------------------------ load_vocab / to_target


def test_load_vocab_maps_backbone_ids_to_target_ids(tmp_path):
    # target 1 <- backbone 5, target 2 from another namespace, target 3 <- 2, target 4 <- 7
    vocab = write_vocab(tmp_path / "v.parquet", [1, 2, 3, 4], ["a", "b", "c", "d"], [5, None, 2, 7])
    idx, to_target, to_backbone = load_vocab("item_rec", vocab, n_backbone_items=8)
    assert idx == [1, 2, 3, 4]
    assert to_target.dtype == torch.long
    assert to_target.tolist() == [0, 0, 3, 0, 0, 1, 0, 4, 0]  # backbone ids 0..8
    assert to_backbone.tolist() == [0, 5, 0, 2, 7]  # target ids 0..4 (2 has no backbone item)


def test_load_vocab_has_no_map_for_classification_or_another_namespace(tmp_path):
    cls = write_vocab(tmp_path / "c.parquet", [0, 1], ["F", "M"], [None, None])
    assert load_vocab("classification", cls, 8) == ([0, 1], None, None)
    # Even a classification vocabulary with backbone ids gets no map: its targets are classes.
    odd = write_vocab(tmp_path / "o.parquet", [0, 1], ["x", "y"], [1, 2])
    assert load_vocab("classification", odd, 8) == ([0, 1], None, None)
    other = write_vocab(tmp_path / "i.parquet", [1, 2, 3], ["p", "q", "r"], [None, None, None])
    assert load_vocab("item_rec", other, 8) == ([1, 2, 3], None, None)


def test_task_data_load_builds_splits_and_history_map(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", [
        (0, "u0", "train", [1, 5], 1),
        (1, "u1", "valid", [2], 4),
        (2, "u2", "test", [5, 2, 3, 7], 2),
        (3, "u3", "train", [7], 3),
    ])
    vocab = write_vocab(tmp_path / "v.parquet", [1, 2, 3, 4], ["a", "b", "c", "d"], [5, None, 2, 7])
    data = TaskData.load("item_rec", rows, vocab, max_len=3, n_backbone_items=8)
    assert data.kind == "item_rec" and data.n_targets == 4
    assert data.to_target.tolist() == [0, 0, 3, 0, 0, 1, 0, 4, 0]
    assert data.train.users.tolist() == [0, 3] and data.train.targets.tolist() == [1, 3]
    assert data.train.inputs().tolist() == [[0, 1, 5], [0, 0, 7]]  # no target appended after T1
    assert data.valid.inputs().tolist() == [[0, 0, 2]]
    assert data.test.inputs().tolist() == [[2, 3, 7]]  # last 3 of [5, 2, 3, 7]
    # u2's visible history 2, 3, 7 -> targets 3, (none), 4
    assert history_mask(data.test.inputs(), data.to_target, data.n_targets).tolist() == [[F, F, F, T, T]]


def test_task_data_load_classification_has_no_map(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", [
        (0, "u0", "train", [1, 2], 1), (1, "u1", "test", [3], 0), (2, "u2", "train", [4], 0)])
    vocab = write_vocab(tmp_path / "v.parquet", [0, 1], ["F", "M"], [None, None])
    data = TaskData.load("classification", rows, vocab, max_len=2, n_backbone_items=8)
    assert data.to_target is None and data.n_targets == 2
    assert data.train.targets.tolist() == [1, 0] and data.test.targets.tolist() == [0]


# ------------------------------------------------------------------ load_split / NextItemData

SPLIT_ROWS = [
    (0, "u0", "train", [1, 2, 3, 4, 5], 6),
    (1, "u1", "test", [7], 8),
    (2, "u2", "train", [], 9),
    (3, "u3", "valid", [1, 2], 3),
    (4, "u4", "train", [2, 3], 4),
]


def test_load_split_keeps_only_its_rows_left_padded_and_truncated(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", SPLIT_ROWS)
    train = load_split(rows, "train", max_len=3)
    assert train.users.tolist() == [0, 2, 4]
    assert train.targets.tolist() == [6, 9, 4]
    assert train.inputs().tolist() == [[3, 4, 5], [0, 0, 0], [0, 2, 3]]
    test = load_split(rows, "test", max_len=3)
    assert (test.users.tolist(), test.inputs().tolist(), test.targets.tolist()) == ([1], [[0, 0, 7]], [8])
    assert len(load_split(rows, "valid", max_len=3)) == 1


def test_load_split_appends_target_before_padding_and_truncation(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", SPLIT_ROWS)
    train = load_split(rows, "train", max_len=3, append_target=True)
    # [1..5] + 6 -> last 3 = [4, 5, 6]; [] + 9 -> [0, 0, 9]; [2, 3] + 4 -> [2, 3, 4]
    assert train.inputs().tolist() == [[4, 5, 6], [0, 0, 9], [2, 3, 4]]
    assert train.targets.tolist() == [6, 9, 4] and train.users.tolist() == [0, 2, 4]
    wide = load_split(rows, "train", max_len=7, append_target=True)
    assert wide.inputs().tolist() == [[0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0, 9], [0, 0, 0, 0, 2, 3, 4]]


def test_load_split_keeps_each_distinct_input_once_and_every_row_reads_its_own(tmp_path, monkeypatch):
    # An item task has a row per target, each repeating the user's input: held once per user.
    # u1's third row differs (a rows file the reader cannot assume away): a sequence of its own.
    # Read 2 rows at a time, so runs of one user cross batch boundaries.
    table = [(0, "u0", "train", [1, 2, 3], 4), (0, "u0", "train", [1, 2, 3], 5), (0, "u0", "train", [1, 2, 3], 6),
             (1, "u1", "train", [5, 6], 2), (1, "u1", "train", [5, 6], 3), (1, "u1", "train", [5, 7], 3),
             (1, "u1", "train", [5, 7], 4), (2, "u2", "valid", [1], 2), (3, "u3", "train", [2, 3, 5, 6], 1),
             (3, "u3", "train", [2, 3, 5, 6], 7), (4, "u4", "train", [2, 3, 5, 6], 7)]
    rows = write_rows(tmp_path / "rows.parquet", table)
    monkeypatch.setattr(splits_module, "READ_BATCH_ROWS", 2)
    train = load_split(rows, "train", max_len=3)
    expect = [r for r in table if r[2] == "train"]
    assert train.users.tolist() == [r[0] for r in expect] and train.targets.tolist() == [r[4] for r in expect]
    assert train.inputs().tolist() == left_pad([r[3] for r in expect], 3).tolist()
    assert train.full_history(torch.arange(len(train))).tolist() == left_pad([r[3] for r in expect], 4).tolist()
    assert train.sequences.shape[0] == 5  # u0, u1 [5, 6], u1 [5, 7], u3, u4 (same items as u3, another user)
    assert train.row_sequence.tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4]
    values, offsets = train.row_histories()
    assert [values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(train))] == [r[3] for r in expect]
    with_targets = load_split(rows, "train", max_len=4, append_target=True)  # T1: input + target, never merged
    assert with_targets.inputs().tolist() == left_pad([r[3] + [r[4]] for r in expect], 4).tolist()
    assert with_targets.sequences.shape[0] == len(expect)  # every appended target differs from its neighbour's


def test_next_item_data_train_has_targets_appended_valid_and_test_do_not(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", [
        (0, "u0", "train", [1, 2, 3], 4), (0, "u0", "valid", [1, 2, 3, 4], 5), (0, "u0", "test", [1, 2, 3, 4, 5], 6),
        (1, "u1", "train", [7], 2), (1, "u1", "valid", [7, 2], 3), (1, "u1", "test", [7, 2, 3], 1),
    ])
    data = NextItemData.load(rows, n_items=7, max_len=3)
    assert data.train.inputs().tolist() == [[1, 2, 3, 4], [0, 0, 7, 2]]  # max_len + 1, input + target
    assert data.valid.inputs().tolist() == [[2, 3, 4], [0, 7, 2]]
    assert data.test.inputs().tolist() == [[3, 4, 5], [7, 2, 3]]
    assert data.valid.targets.tolist() == [5, 3] and data.test.targets.tolist() == [6, 1]
    for split in (data.valid, data.test):  # the target never leaks into the input it is predicted from
        assert all(t not in row for row, t in zip(split.inputs().tolist(), split.targets.tolist()))
    assert data.to_target.tolist() == list(range(8))


class _FakeBackbone:
    """Stands in for SASRec: constant scores over items 0..n, records what it was shown."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.seen: list[list[int]] = []

    def full_sort_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        self.seen += inputs.tolist()
        return torch.zeros(inputs.shape[0], self.n_items + 1)


def test_evaluate_next_item_scores_test_inputs_and_counts_appended_train_targets(tmp_path):
    rows = write_rows(tmp_path / "rows.parquet", [
        (0, "u0", "train", [1], 2), (0, "u0", "valid", [1, 2], 3), (0, "u0", "test", [1, 2, 3], 5),
        (1, "u1", "train", [6], 4), (1, "u1", "valid", [6, 4], 3), (1, "u1", "test", [6, 4, 3], 1),
    ])
    data = NextItemData.load(rows, n_items=6, max_len=3)
    model = _FakeBackbone(6)
    result = evaluate_next_item(model, data, CPU)
    assert model.seen == [[1, 2, 3], [6, 4, 3]]  # test inputs, without their targets
    # Constant model: u0 target 5, history {1, 2, 3} -> items 4, 6 tie above -> 2;
    #                 u1 target 1, history {6, 4, 3} -> items 2, 5 tie above -> 2.
    assert result["metrics"] == ranking_metrics(torch.tensor([2, 2]))
    # Popularity over train inputs *with* their appended targets: items 1, 2, 4, 6 once each.
    # u0 target 5 (0): items 4, 6 above, 1-3 excluded -> 2; u1 target 1 (1): item 2 ties -> 1.
    # (Without the appended targets, item 2 would count 0 and u1's rank would be 0.)
    assert result["baselines"] == ranking_metrics(torch.tensor([2, 1]))
    assert result["cold_start"]["n"] == 2 and result["n_test"] == 2


# ------------------------------------------------------------------ build_report

TASKS = [
    TaskSpec(name="T1_next_item", dataset="movielens", kind="next_item", order=1,
             description="Next movie prediction for tests.", label={"source": "ratings"}, metric="ndcg@10"),
    TaskSpec(name="T2_rate_4plus", dataset="movielens", kind="item_rec", order=2,
             description="Liked movie recommendation for tests.", label={"source": "ratings"}, metric="hr@10"),
    TaskSpec(name="T3_gender", dataset="movielens", kind="classification", order=3,
             description="User gender prediction for tests.", label={"source": "users", "column": "gender"},
             metric="accuracy"),
]
M1 = {"ndcg@10": 0.30, "hr@10": 0.50}
M2 = {"ndcg@10": 0.20, "hr@10": 0.40}
M3 = {"accuracy": 0.60, "macro_f1": 0.55, "auc": 0.65}
INIT2 = {"asset": "prompt/T1_next_item", "run_id": "0123456789abcdef"}


def make_records(t1_after_t2=None, t1_after_t3=None, t2_after_t3=None) -> list[dict]:
    def rec(task, metrics, baselines, sha, after, **extra):
        return {"name": task.name, "kind": task.kind, "order": task.order, "metric": task.metric,
                "metrics": dict(metrics), "baselines": baselines, "n_test": 10, "trainable_params": 100 * task.order,
                "wall_seconds": 1.5 * task.order, "eval_seconds": 0.1, "artifact_sha256": sha,
                "epochs_run": 3, "after_learning": after, **extra}

    return [
        rec(TASKS[0], M1, {"ndcg@10": 0.10, "hr@10": 0.20}, "a" * 64, {}, init_from=None,
            baseline_name="popularity", cold_start={"n": 2, "model": {"hr@10": 0.5}, "popularity": {"hr@10": 0.25}}),
        rec(TASKS[1], M2, {"ndcg@10": 0.05, "hr@10": 0.15}, "b" * 64,
            {"T1_next_item": {"metrics": dict(t1_after_t2 or M1), "artifact_sha256": "a" * 64}},
            init_from=INIT2, baseline_name="popularity", cold_start={"n": 0}),
        rec(TASKS[2], M3, {"accuracy": 0.5, "macro_f1": 0.33, "auc": 0.5, "majority_accuracy": 0.5}, "c" * 64,
            {"T1_next_item": {"metrics": dict(t1_after_t3 or M1), "artifact_sha256": "a" * 64},
             "T2_rate_4plus": {"metrics": dict(t2_after_t3 or M2), "artifact_sha256": "b" * 64}},
            init_from=None, baseline_name="majority"),
    ]


def test_report_forgetting_matrix_comes_from_each_measurement():
    t1_later = {"ndcg@10": 0.29, "hr@10": 0.50}
    report = build_report(TASKS, make_records(t1_after_t2=t1_later, t2_after_t3={"ndcg@10": 0.2, "hr@10": 0.35}),
                          "synthetic", "full")
    f = report["forgetting"]
    assert f["matrix"] == [[0.30, None, None],   # diagonal: each record's own primary metric
                           [0.29, 0.40, None],   # T1 re-measured after T2 (ndcg@10)
                           [0.30, 0.35, 0.60]]   # T1, T2 (hr@10) re-measured after T3
    assert f["metrics"] == ["ndcg@10", "hr@10", "accuracy"]
    assert f["max_abs_change"] == pytest.approx(0.05)  # T2 hr@10 0.40 -> 0.35
    assert (report["source"], report["variant"]) == ("synthetic", "full")


def test_report_unchanged_artifacts_give_zero_change():
    report = build_report(TASKS, make_records(), "synthetic", "full")
    assert report["forgetting"]["max_abs_change"] == 0.0
    assert report["forgetting"]["matrix"] == [[0.30, None, None], [0.30, 0.40, None], [0.30, 0.40, 0.60]]


def test_report_max_change_covers_non_primary_metric_keys():
    # T1's primary ndcg@10 is unchanged everywhere, but its hr@10 moved by 0.25 after T3.
    report = build_report(TASKS, make_records(t1_after_t3={"ndcg@10": 0.30, "hr@10": 0.75}), "synthetic", "full")
    assert report["forgetting"]["matrix"][2][0] == 0.30
    assert report["forgetting"]["max_abs_change"] == pytest.approx(0.25)


def test_report_rejects_missing_measurement_and_mismatched_names():
    records = make_records()
    del records[2]["after_learning"]["T1_next_item"]
    with pytest.raises(ValueError, match="T3_gender has no measurement of T1_next_item"):
        build_report(TASKS, records, "synthetic", "full")
    records = make_records()
    del records[1]["after_learning"]
    with pytest.raises(ValueError, match="T2_rate_4plus has no measurement of T1_next_item"):
        build_report(TASKS, records, "synthetic", "full")
    with pytest.raises(ValueError, match="do not match tasks"):
        build_report(TASKS, list(reversed(make_records())), "synthetic", "full")
    with pytest.raises(ValueError, match="do not match tasks"):
        build_report(TASKS, make_records()[:2], "synthetic", "full")


def test_report_tasks_and_lineage_are_taken_from_the_records():
    records = make_records()
    report = build_report(TASKS, records, "synthetic", "full")
    assert report["lineage"] == [
        {"task": "T1_next_item", "init_from": None, "artifact_sha256": "a" * 64},
        {"task": "T2_rate_4plus", "init_from": INIT2, "artifact_sha256": "b" * 64},
        {"task": "T3_gender", "init_from": None, "artifact_sha256": "c" * 64},
    ]
    t2 = report["tasks"][1]
    assert t2 == {"status": "ok", "name": "T2_rate_4plus", "kind": "item_rec", "order": 2, "metric": "hr@10", "metrics": M2,
                  "baselines": {"ndcg@10": 0.05, "hr@10": 0.15}, "baseline_name": "popularity",
                  "cold_start": {"n": 0}, "trainable_params": 200, "wall_seconds": 3.0,
                  "init_from": INIT2, "n_test": 10}
    assert "cold_start" not in report["tasks"][2]  # absent in the record, absent in the report
    assert [t["name"] for t in report["tasks"]] == [t.name for t in TASKS]


def test_a_not_applicable_task_is_listed_with_its_reason_and_left_out_of_the_matrix():
    from pcl_pipeline.stages.evaluate import not_applicable_record
    from pcl_pipeline.stages.report import not_applicable_tasks, summary_markdown

    records = make_records()
    reason = "its source table 'users' is not in this data (tables: movies, ratings)"
    records[2] = not_applicable_record(TASKS[2], reason)
    report = build_report(TASKS, records, "synthetic", "full")
    assert report["tasks"][2] == {"name": "T3_gender", "kind": "classification", "order": 3, "metric": "accuracy",
                                  "status": "not_applicable", "reason": reason}
    assert [t["status"] for t in report["tasks"]] == ["ok", "ok", "not_applicable"]
    assert report["forgetting"]["tasks"] == ["T1_next_item", "T2_rate_4plus"]
    assert len(report["forgetting"]["matrix"]) == 2 and len(report["lineage"]) == 2
    assert not_applicable_tasks(report) == {"T3_gender": reason}
    assert f"| T3_gender | classification | accuracy | not applicable: {reason} |" in summary_markdown(
        {"wall_seconds": 1.0, "datasets": {"movielens": report}})


DATA = {"source": "synthetic", "format": "ml-1m", "files": {"ratings.dat": {"size": 1234, "sha256": "ab" * 32}},
        "seed": 0, "scale": 1.0, "id": "f00dfeed"}


def _named(records: list[dict], fingerprint: str = "f00dfeed") -> list[dict]:
    return [{**r, "data_fingerprint": fingerprint} for r in records]


def test_the_summary_refuses_rows_of_other_data():
    records = _named(make_records())
    records[1]["data_fingerprint"] = "0ld0ld00"  # an eval left from the previous source
    with pytest.raises(MixedDataError, match=r"movielens/T2_rate_4plus: its eval was computed on data 0ld0ld00, "
                                             r"but movielens's source is now f00dfeed \(synthetic\)"):
        build_summary({"movielens": build_report(TASKS, records, "synthetic", "full", DATA)})
    with pytest.raises(MixedDataError, match="names no data fingerprint"):
        build_summary({"movielens": build_report(TASKS, _named(make_records()), "synthetic", "full")})
    build_summary({"movielens": build_report(TASKS, _named(make_records()), "synthetic", "full", DATA)})


def test_summary_and_markdown():
    report = build_report(TASKS, _named(make_records(t1_after_t3={"ndcg@10": 0.30, "hr@10": 0.75})), "synthetic", "full",
                          DATA)
    report["tasks"][2]["wall_seconds"] = None  # a task without a timing counts as 0
    summary = build_summary({"movielens": report})
    assert summary["wall_seconds"] == 4.5  # 1.5 + 3.0 + 0
    assert summary["datasets"] == {"movielens": report}
    report["tasks"][2]["wall_seconds"] = 4.5
    md = summary_markdown({"wall_seconds": 9.0, "datasets": {"movielens": report}})
    assert "## movielens (source: synthetic)" in md
    assert f"Data f00dfeed: synthetic (ml-1m; ratings.dat (1,234 bytes, sha256 {'ab' * 6})), seed 0, scale 1.0" in md
    for name in ("T1_next_item", "T2_rate_4plus", "T3_gender"):
        assert f"| {name} |" in md
    assert "| ndcg@10 | 0.3000 / 0.1000 | hr@10 0.5000 / 0.2000 | 2: 0.5000 / 0.2500 |" in md  # T1
    assert "| hr@10 | 0.4000 / 0.1500 | hr@10 0.4000 / 0.1500 | 0 |" in md  # T2
    assert "| accuracy | 0.6000 / 0.5000 | macro_f1 0.5500 / 0.3300 | - |" in md  # T3 vs majority
    assert "= 0.25" in md
    assert "| T3_gender | 0.3000 | 0.4000 | 0.6000 |" in md
    assert "T2_rate_4plus [bbbbbbbb, p from prompt/T1_next_item run 01234567]" in md
