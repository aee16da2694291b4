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
        out = torch.zeros(len(idx), width, dtype=torch.long)
        for row, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
            if b > a:
                out[row, width - (b - a):] = self.history[a:b]
        return out


def load_split(rows: Path, split: str, max_len: int, append_target: bool = False) -> Split:
    """Rows of `split` from a task_data Parquet file. With append_target the target is appended to
    the input (T1 training: every position of input + target is a next-item example)."""
    table = pq.read_table(rows, columns=["user_idx", "split", "input", "target"])
    table = table.filter(pc.equal(table["split"], split))
    inputs = table["input"].to_pylist()
    targets = table["target"].to_pylist()
    if append_target:
        inputs = [seq + [t] for seq, t in zip(inputs, targets)]
    lengths = torch.tensor([0] + [len(seq) for seq in inputs], dtype=torch.long)
    return Split(
        users=torch.tensor(table["user_idx"].to_pylist(), dtype=torch.long),
        inputs=left_pad(inputs, max_len),
        targets=torch.as_tensor(targets, dtype=torch.long),
        history=torch.tensor([item for seq in inputs for item in seq], dtype=torch.long),
        offsets=lengths.cumsum(0),
    )


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Shuffled (when a generator is given) index batches covering 0..n-1 once."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
