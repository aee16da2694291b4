"""Task rows (Parquet) as padded tensors, and seeded mini-batches over them.

This is the one place where training and evaluation meet the data: both import it, neither
imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import torch


@dataclass(frozen=True)
class Split:
    """One split of a task's rows: inputs left-padded to max_len, and each row's whole input
    history (the model sees only the last max_len items; ranking excludes all of them)."""

    users: torch.Tensor  # (N,) user_idx
    inputs: torch.Tensor  # (N, L) backbone item ids, 0 = padding
    targets: torch.Tensor  # (N,) task target (item vocab idx from 1, or class idx from 0; item tasks: 0 = outside the vocabulary)
    history: torch.Tensor | None = None  # (H,) every row's whole input, concatenated; None = inputs are whole
    offsets: torch.Tensor | None = None  # (N + 1,) row i's history is history[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def full_history(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, H_max) left-padded whole input histories of rows idx (inputs when none is held)."""
        if self.history is None or self.offsets is None:
            return self.inputs[idx]
        starts, ends = self.offsets[idx], self.offsets[idx + 1]  # (B,), (B,)
        width = max(1, int((ends - starts).max())) if len(idx) else 1
        return _left_pad_ranges(self.history, starts, ends, width)


def _left_pad_ranges(values: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, width: int,
                     chunk_rows: int = 65_536) -> torch.Tensor:
    """(B, width) long: row r holds the last `width` items of values[starts[r]:ends[r]],
    left-padded with 0; vectorised per chunk of rows (no Python loop over rows, and the index
    temporaries stay the size of one chunk, not of B x width)."""
    out = torch.zeros(len(starts), width, dtype=torch.long)
    for lo in range(0, len(starts), chunk_rows):
        hi = min(lo + chunk_rows, len(starts))
        first_kept = torch.maximum(starts[lo:hi], ends[lo:hi] - width)
        lengths = (ends[lo:hi] - first_kept).clamp(min=0)  # (b,)
        total = int(lengths.sum())
        if total == 0:
            continue
        rows = torch.repeat_interleave(torch.arange(hi - lo), lengths)  # (total,)
        within = torch.arange(total) - (torch.cumsum(lengths, 0) - lengths)[rows]  # 0.. within the row
        out[lo + rows, width - lengths[rows] + within] = values[first_kept[rows] + within]
    return out


def left_pad(sequences: list[list[int]], max_len: int) -> torch.Tensor:
    """Keep the last max_len items of each sequence and left-pad with 0 -> (B, max_len) long."""
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)
    values = torch.tensor([item for seq in sequences for item in seq], dtype=torch.long)
    ends = torch.cumsum(lengths, 0)
    return _left_pad_ranges(values, ends - lengths, ends, max_len)


def load_split(rows: Path, split: str, max_len: int, append_target: bool = False) -> Split:
    """Rows of `split` from a task_data Parquet file (memory-mapped, in Arrow and torch: no
    Python object per row or item). With append_target the target is appended to the input
    (T1 training: every position of input + target is a next-item example)."""
    # only this split's rows are materialised (the filter runs while scanning), then only tensors are kept
    table = pq.read_table(rows, columns=["user_idx", "input", "target"], memory_map=True,
                          filters=[("split", "=", split)])
    targets = torch.from_numpy(table["target"].to_numpy().astype("int64", copy=True))
    users = torch.from_numpy(table["user_idx"].to_numpy().astype("int64", copy=True))
    if table.num_rows == 0:
        values, offsets = torch.zeros(0, dtype=torch.long), torch.zeros(1, dtype=torch.long)
    else:
        column = table["input"].combine_chunks()
        del table
        offsets = torch.from_numpy(column.offsets.to_numpy().astype("int64", copy=True))
        offsets = offsets - offsets[0]  # a sliced array's offsets start where the slice does
        values = torch.from_numpy(column.flatten().to_numpy().astype("int64", copy=True))
        del column
    if append_target:
        n = len(targets)
        lengths = offsets[1:] - offsets[:-1] + 1
        grown = torch.zeros(int(lengths.sum()), dtype=torch.long)
        new_offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
        old_rows = torch.repeat_interleave(torch.arange(n), lengths - 1)
        grown[torch.arange(len(values)) + old_rows] = values  # each row's items shift by the targets before it
        grown[new_offsets[1:] - 1] = targets
        values, offsets = grown, new_offsets
    return Split(users=users, inputs=_left_pad_ranges(values, offsets[:-1], offsets[1:], max_len),
                 targets=targets, history=values, offsets=offsets)


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Shuffled (when a generator is given) index batches covering 0..n-1 once."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
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
