"""Task rows (Parquet) as padded tensors, and seeded mini-batches over them.

This is the one place where training and evaluation meet the data: both import it, neither
imports the other.

Every row of a task's split reads its user's input sequence, and an item task has a row per
target (T2 of MovieLens: one per liked rating), so the Parquet rows repeat each user's history
once per target. In memory a Split holds each distinct input once (`sequences`, `history`) and
maps rows to it (`row_sequence`); a batch gathers its rows' inputs (`inputs(idx)`). Item ids
are held as int32 (half of int64's memory) and handed out as int64. On 25M ratings
(benchmarks/bench_data_scale.py) this is the difference between ~3 GB and ~0.2 GB for MovieLens
T2's training split.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import torch

READ_BATCH_ROWS = 65_536  # Parquet rows decoded at once: the read holds one batch of repeated histories, never all
ITEM_DTYPE = torch.int32  # how loaded splits hold item ids (< 2^31); inputs() and full_history() give int64


@dataclass(frozen=True)
class Split:
    """One split of a task's rows. Inputs are held once per distinct input sequence: the last
    max_len items left-padded (`sequences`, what the model reads) and, when given, the whole input
    (`history`/`offsets`, what ranking excludes); row i reads sequence row_sequence[i]."""

    users: torch.Tensor  # (N,) user_idx
    sequences: torch.Tensor  # (S, L) distinct inputs' last L backbone item ids, 0 = padding (int32 or int64)
    targets: torch.Tensor  # (N,) task target (item vocab idx from 1, or class idx from 0; item tasks: 0 = outside the vocabulary)
    row_sequence: torch.Tensor | None = None  # (N,) index into sequences; None = row i reads sequences[i]
    history: torch.Tensor | None = None  # (H,) every distinct input whole, concatenated (int32 or int64); None = sequences are whole
    offsets: torch.Tensor | None = None  # (S + 1,) sequence s's history is history[offsets[s]:offsets[s + 1]]

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def sequence_index(self, idx: torch.Tensor) -> torch.Tensor:
        """(B,) the sequence each of rows idx reads."""
        return idx if self.row_sequence is None else self.row_sequence[idx]

    def inputs(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) long: the model inputs of rows idx (every row when None: small splits only)."""
        if idx is None:
            idx = torch.arange(len(self), device=self.targets.device)
        return self.sequences[self.sequence_index(idx)].long()

    def full_history(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, H_max) left-padded whole input histories of rows idx (inputs when none is held)."""
        seq = self.sequence_index(idx)
        if self.history is None or self.offsets is None:
            return self.sequences[seq].long()
        starts, ends = self.offsets[seq], self.offsets[seq + 1]  # (B,), (B,)
        width = max(1, int((ends - starts).max())) if len(seq) else 1
        return _left_pad_ranges(self.history, starts, ends, width)

    def row_histories(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(values, offsets) of every row's whole input (one copy per row: for per-row consumers
        such as a bag-of-items matrix; training and ranking never need it)."""
        if self.history is None or self.offsets is None:
            seqs = self.inputs()
            lengths = (seqs > 0).sum(1)
            values = seqs[seqs > 0]
        else:
            seq = self.sequence_index(torch.arange(len(self)))
            starts, lengths = self.offsets[seq], self.offsets[seq + 1] - self.offsets[seq]
            rows, within = _range_positions(lengths)
            values = self.history[starts[rows] + within].long()
        return values, torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])

    def last_only(self) -> "Split":
        """The same rows with only the last L inputs (what the model reads) as their history."""
        return replace(self, history=None, offsets=None)

    def to(self, device: torch.device) -> "Split":
        """The split's tensors on `device` (batches are then gathered there: no copy per step)."""
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)
        return Split(users=move(self.users), sequences=move(self.sequences), targets=move(self.targets),
                     row_sequence=move(self.row_sequence), history=move(self.history), offsets=move(self.offsets))


def _range_positions(lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ranges of these lengths laid end to end: each position's range and its offset within
    it, (sum(lengths),) each; the vectorised form of `for r, n in enumerate(lengths): for i in range(n)`."""
    rows = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)
    within = torch.arange(len(rows), device=lengths.device) - (torch.cumsum(lengths, 0) - lengths)[rows]
    return rows, within


def _left_pad_ranges(values: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, width: int,
                     chunk_rows: int = 65_536, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """(B, width) `dtype`: row r holds the last `width` items of values[starts[r]:ends[r]],
    left-padded with 0; vectorised per chunk of rows (no Python loop over rows, and the index
    temporaries stay the size of one chunk, not of B x width)."""
    out = torch.zeros(len(starts), width, dtype=dtype, device=values.device)
    for lo in range(0, len(starts), chunk_rows):
        hi = min(lo + chunk_rows, len(starts))
        first_kept = torch.maximum(starts[lo:hi], ends[lo:hi] - width)
        lengths = (ends[lo:hi] - first_kept).clamp(min=0)  # (b,)
        rows, within = _range_positions(lengths)  # empty when every range is: nothing is written
        out[lo + rows, width - lengths[rows] + within] = values[first_kept[rows] + within].to(dtype)
    return out


def left_pad(sequences: list[list[int]], max_len: int) -> torch.Tensor:
    """Keep the last max_len items of each sequence and left-pad with 0 -> (B, max_len) long."""
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)
    values = torch.tensor([item for seq in sequences for item in seq], dtype=torch.long)
    ends = torch.cumsum(lengths, 0)
    return _left_pad_ranges(values, ends - lengths, ends, max_len)


class _DistinctInputs:
    """Collects a split's rows batch by batch, keeping each run of consecutive rows of one user
    with the same input as one sequence (the rows file is ordered by user, and every row of a
    user reads the user's one sequence). Rows are compared item by item, so a user whose rows
    differ gets a sequence per run: the result is exact whatever the file holds."""

    def __init__(self) -> None:
        self.users: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.row_sequence: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths: list[torch.Tensor] = []
        self.n_sequences = 0
        self.last: tuple[int, torch.Tensor] | None = None  # (user, items) of the last row added

    def add(self, users: torch.Tensor, targets: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor) -> None:
        lengths = offsets[1:] - offsets[:-1]
        start = 0
        if self.last is not None:  # the previous batch's last row becomes row 0 here, compared but not kept again
            start = 1
            users = torch.cat([torch.tensor([self.last[0]]), users])
            values = torch.cat([self.last[1], values])
            lengths = torch.cat([torch.tensor([len(self.last[1])]), lengths])
        row_starts = torch.cumsum(lengths, 0) - lengths
        # same[i]: row i has row i-1's user and items (row 0 of the whole split never does)
        same = torch.zeros(len(users), dtype=torch.bool)
        same[1:] = (users[1:] == users[:-1]) & (lengths[1:] == lengths[:-1])
        row_of = torch.repeat_interleave(torch.arange(len(users)), lengths)  # (values,) each value's row
        candidates = same[row_of].nonzero().squeeze(1)  # value positions in rows that may repeat their predecessor
        # with equal lengths, row i-1's item at the same place lies exactly one row length earlier
        mismatch = candidates[values[candidates] != values[candidates - lengths[row_of[candidates]]]]
        same[row_of[mismatch]] = False
        new = ~same[start:]  # rows of this batch that start a sequence
        kept = torch.arange(start, len(users))[new]
        kept_lengths = lengths[kept]
        ranges, within = _range_positions(kept_lengths)
        self.values.append(values[row_starts[kept[ranges]] + within].to(ITEM_DTYPE))
        self.lengths.append(kept_lengths)
        self.row_sequence.append(self.n_sequences + torch.cumsum(new.long(), 0) - 1)
        self.n_sequences += int(new.sum())
        self.users.append(users[start:])
        self.targets.append(targets)
        last = len(users) - 1
        self.last = (int(users[last]), values[row_starts[last]:row_starts[last] + lengths[last]].clone())

    def split(self, max_len: int) -> Split:
        def cat(parts: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
        history, lengths = cat(self.values).to(ITEM_DTYPE), cat(self.lengths)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
        sequences = _left_pad_ranges(history, offsets[:-1], offsets[1:], max_len, dtype=ITEM_DTYPE)
        return Split(users=cat(self.users), sequences=sequences,
                     targets=cat(self.targets), row_sequence=cat(self.row_sequence), history=history, offsets=offsets)


def load_split(rows: Path, split: str, max_len: int, append_target: bool = False) -> Split:
    """Rows of `split` from a task_data Parquet file, streamed in batches of READ_BATCH_ROWS (the
    filter runs while scanning; no Python object per row or item), each distinct input kept once.
    With append_target the target is appended to the input (T1 training: every position of
    input + target is a next-item example)."""
    dataset = pads.dataset(rows, format="parquet")
    # 4 batches decoded ahead (pyarrow's default is 16, across 4 files): as fast on the 25M-rating
    # task files (14.0-14.6 s for all four tasks vs 13.9-14.2) with a 0.2-0.3 GB lower peak RSS
    scanner = dataset.scanner(columns=["user_idx", "input", "target"], filter=pads.field("split") == split,
                              batch_size=READ_BATCH_ROWS, batch_readahead=4, fragment_readahead=1)
    distinct = _DistinctInputs()
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        targets = torch.from_numpy(batch.column("target").to_numpy().astype("int64", copy=True))
        users = torch.from_numpy(batch.column("user_idx").to_numpy().astype("int64", copy=True))
        column = batch.column("input")
        offsets = torch.from_numpy(column.offsets.to_numpy().astype("int64", copy=True))
        first, last = int(offsets[0]), int(offsets[-1])  # a sliced array's offsets start where the slice does
        values = torch.from_numpy(column.values.slice(first, last - first).to_numpy().astype("int64", copy=True))
        offsets = offsets - first
        if append_target:
            values, offsets = _append(values, offsets, targets)
        distinct.add(users, targets, values, offsets)
    return distinct.split(max_len)


def _append(values: torch.Tensor, offsets: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's items followed by its target."""
    n = len(targets)
    lengths = offsets[1:] - offsets[:-1] + 1
    grown = torch.zeros(int(lengths.sum()), dtype=torch.long)
    new_offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
    old_rows = torch.repeat_interleave(torch.arange(n), lengths - 1)
    grown[torch.arange(len(values)) + old_rows] = values  # each row's items shift by the targets before it
    grown[new_offsets[1:] - 1] = targets
    return grown, new_offsets


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None,
                  device: torch.device | None = None) -> Iterator[torch.Tensor]:
    """Shuffled (when a generator is given) index batches covering 0..n-1 once. The order is drawn
    on the CPU (the same on every device) and moved to `device` once per epoch, not per batch."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    if device is not None:
        order = order.to(device)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@dataclass(frozen=True)
class NextItemData:
    """T1's rows: train inputs are whole training sequences (input + target), left-padded to
    max_len + 1 so that every position is a next-item example; valid and test are leave-one-out."""

    train: Split
    valid: Split
    test: Split
    n_items: int

    @classmethod
    def load(cls, rows: Path, n_items: int, max_len: int) -> "NextItemData":
        return cls(
            train=load_split(rows, "train", max_len + 1, append_target=True),
            valid=load_split(rows, "valid", max_len),
            test=load_split(rows, "test", max_len),
            n_items=n_items,
        )

    @property
    def to_target(self) -> torch.Tensor:
        """T1's targets are backbone items themselves: history exclusion maps each id to itself."""
        return torch.arange(self.n_items + 1)


@dataclass(frozen=True)
class TaskData:
    """The rows of a task after T1, with its target vocabulary size."""

    kind: str  # "item_rec" | "classification"
    train: Split
    valid: Split
    test: Split
    n_targets: int  # item tasks: target vocabulary size (ids 1..n); classification: classes (ids 0..n-1)
    to_target: torch.Tensor | None  # backbone item id -> target id, for history exclusion (same namespace)
    to_backbone: torch.Tensor | None = None  # (n_targets + 1,) target id -> backbone item id (0 = none)

    @classmethod
    def load(cls, kind: str, rows: Path, vocab: Path, max_len: int, n_backbone_items: int) -> "TaskData":
        splits = {s: load_split(rows, s, max_len) for s in ("train", "valid", "test")}
        idx, to_target, to_backbone = load_vocab(kind, vocab, n_backbone_items)
        return cls(kind=kind, n_targets=len(idx), to_target=to_target, to_backbone=to_backbone, **splits)


def load_vocab(kind: str, vocab: Path, n_backbone_items: int
               ) -> tuple[list[int], torch.Tensor | None, torch.Tensor | None]:
    """The task's target ids, the backbone-id -> target-id map (history exclusion; 0 = not a
    target) and the target-id -> backbone-id map (the backbone's scores as the adapter's prior).

    The maps exist only for an item task that shares T1's item namespace; a task over another
    domain (or a classification task) has no item of the user's history among its targets.
    """
    table = pq.read_table(vocab, columns=["idx", "backbone_idx"])
    idx = table["idx"].to_pylist()
    if kind != "item_rec" or table["backbone_idx"].null_count == len(table):
        return idx, None, None
    to_target = torch.zeros(n_backbone_items + 1, dtype=torch.long)
    to_backbone = torch.zeros(len(idx) + 1, dtype=torch.long)
    for target, item in zip(idx, table["backbone_idx"].to_pylist()):
        if item is not None:
            to_target[item] = target
            to_backbone[target] = item
    return idx, to_target, to_backbone
