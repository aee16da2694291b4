"""Task rows (Parquet) as padded tensors, and seeded mini-batches over them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from pcl_pipeline.model.sasrec import left_pad


@dataclass(frozen=True)
class Split:
    """One split of a task's rows: inputs left-padded to max_len."""

    users: torch.Tensor  # (N,) user_idx
    inputs: torch.Tensor  # (N, L) backbone item ids, 0 = padding
    targets: torch.Tensor  # (N,) task target (item vocab idx from 1, or class idx from 0)

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def load_split(rows: Path, split: str, max_len: int, append_target: bool = False) -> Split:
    """Rows of `split` from a task_data Parquet file. With append_target the target is appended to
    the input (T1 training: every position of input + target is a next-item example)."""
    table = pq.read_table(rows, columns=["user_idx", "split", "input", "target"])
    table = table.filter(pc.equal(table["split"], split))
    inputs = table["input"].to_pylist()
    targets = table["target"].to_pylist()
    if append_target:
        inputs = [seq + [t] for seq, t in zip(inputs, targets)]
    return Split(
        users=torch.tensor(table["user_idx"].to_pylist(), dtype=torch.long),
        inputs=left_pad(inputs, max_len),
        targets=torch.as_tensor(targets, dtype=torch.long),
    )


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Shuffled (when a generator is given) index batches covering 0..n-1 once."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
