"""Transfer of PCL's user representations to a model that never saw the backbone: the same small
MLP learns the classification task (T4) from several inputs, each selecting its epoch on
validation log-loss and reporting test accuracy and the epochs it took to its best validation:

- "raw": the bag of the input items (the baseline);
- "backbone": the pretrained backbone's pooled hidden states ([mean over the sequence, last
  position]), before any task after T1;
- "previous": the pooled states of PCL's chain just before the task is learned (the model of the
  task before it, with its prompt and contextual module; the backbone's when the task is the first
  after T1). No label of the task has shaped them: this is the transfer the claim is decided on;
- "deployed": what the task's own adapter reads as PCL deploys it: its prompted pooled states and,
  where the adapter owns an input-item table, that table's mean over the input items (trained on
  the task's labels, reported beside, not decided on).

Every task's representations (its own prompted model's pooled states) are also exported as a
Parquet table (user_idx, split, repr list<float>), readable from DuckDB."""
from __future__ import annotations

from typing import Callable

import pyarrow as pa
import torch
from torch import nn

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.data.splits import TaskData
from pcl_pipeline.model.pcl import mean_last
from pcl_pipeline.store.artifact_store import DatasetStore

SPLITS = ("train", "valid", "test")


@torch.no_grad()
def pooled(encode: Callable[[torch.Tensor], torch.Tensor], split, device: torch.device, batch: int = 256,
           extra: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """(N, 2d) [mean over the items' states, last state] of `encode`'s hidden states (B, L, d) for
    every row of `split`, with `extra(seq)` (B, e) appended when given."""
    out = []
    for i in range(0, len(split), batch):
        seq = split.inputs(torch.arange(i, min(i + batch, len(split)))).to(device)
        parts = [mean_last(encode(seq).float(), seq)]
        if extra is not None:
            parts.append(extra(seq).float())
        out.append(torch.cat(parts, dim=-1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def user_representations(store: DatasetStore, task: TaskSpec, device: torch.device,
                         batch: int = 256) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], pa.Table]:
    """Per split: (N, 2d) representations from the stored task model and the targets; the table."""
    model, _ = store.load_task_model(task.name, device)
    model.eval()
    data = store.task_data(task, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
    reprs, targets, columns = {}, {}, {"user_idx": [], "split": [], "repr": []}
    for name in SPLITS:
        split = getattr(data, name)
        reprs[name] = pooled(model.hidden, split, device, batch)
        targets[name] = split.targets.long()
        columns["user_idx"] += split.users.tolist()
        columns["split"] += [name] * len(split.users)
        columns["repr"] += reprs[name].tolist()
    table = pa.table({"user_idx": pa.array(columns["user_idx"], pa.int64()), "split": pa.array(columns["split"]),
                      "repr": pa.array(columns["repr"], pa.list_(pa.float32()))})
    return reprs, targets, table


def transfer_inputs(store: DatasetStore, chain: list[TaskSpec], device: torch.device) -> tuple[dict[str, dict], TaskData]:
    """input name -> split -> (N, features) for the transfer task chain[-1] (see the module
    docstring), and the task's data they were computed from (its targets)."""
    task = chain[-1]
    backbone, _ = store.load_backbone(device)
    data = store.task_data(task, backbone.cfg.n_items, backbone.cfg.max_len)
    deployed, _ = store.load_task_model(task.name, device)
    deployed.eval()
    before = store.load_task_model(chain[-2].name, device)[0].eval() if len(chain) >= 3 else None
    table = getattr(deployed.adapter, "input_items", None)
    encoders = {"backbone": (backbone.encode, None),
                "previous": (before.hidden if before is not None else backbone.encode, None),
                "deployed": (deployed.hidden, deployed.adapter.bag_of_items if table is not None else None)}
    out = {name: {s: pooled(encode, getattr(data, s), device, extra=extra) for s in SPLITS}
           for name, (encode, extra) in encoders.items()}
    out["raw"] = {s: bag_of_items(getattr(data, s).inputs(), backbone.cfg.n_items) for s in SPLITS}
    return out, data


def bag_of_items(inputs: torch.Tensor, n_items: int) -> torch.Tensor:
    bag = torch.zeros(len(inputs), n_items + 1)
    bag.scatter_(1, inputs.long(), 1.0)
    bag[:, 0] = 0.0  # padding
    return bag


def fit_mlp(x: dict[str, torch.Tensor], y: dict[str, torch.Tensor], n_classes: int, seed: int,
            epochs: int = 60, patience: int = 8, hidden: int = 64) -> dict:
    """The same MLP for every input; the epoch with the best validation log-loss gives test accuracy.
    "curve" is the learning curve on validation (log-loss and accuracy per epoch)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(x["train"].shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    best = {"valid_loss": float("inf"), "accuracy": 0.0, "epoch": -1}
    curve = []
    for epoch in range(epochs):
        mlp.train()
        for idx in torch.randperm(len(x["train"]), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(mlp(x["train"][idx]), y["train"][idx]).backward()
            opt.step()
        mlp.eval()
        with torch.no_grad():
            valid_scores = mlp(x["valid"])
            loss = nn.functional.cross_entropy(valid_scores, y["valid"]).item()
            curve.append({"epoch": epoch + 1, "valid_loss": loss,
                          "valid_accuracy": (valid_scores.argmax(1) == y["valid"]).float().mean().item()})
            if loss < best["valid_loss"]:
                acc = (mlp(x["test"]).argmax(1) == y["test"]).float().mean().item()
                best = {"valid_loss": loss, "accuracy": acc, "epoch": epoch}
        if epoch - best["epoch"] >= patience:
            break
    return {**best, "curve": curve}


def transfer_task(tasks: list[TaskSpec]) -> TaskSpec | None:
    """The task the transfer experiment uses: the last classification task of the catalog (T4)."""
    found = [t for t in tasks if t.kind == "classification"]
    return found[-1] if found else None


def export_representations(store: DatasetStore, tasks: list[TaskSpec], device: torch.device) -> dict[str, int]:
    """Every task's user representations (tasks after T1) as Parquet in the store; rows per task."""
    rows = {}
    for task in tasks[1:]:
        _, _, table = user_representations(store, task, device)
        store.save_user_repr(task.name, table)
        rows[task.name] = table.num_rows
    return rows


# the input the claim is decided on (docs/study-protocol.md), and the order the others are reported in
DECIDED = "previous"
INPUTS = ("raw", "backbone", "previous", "deployed")


def run_transfer(store: DatasetStore, chain: list[TaskSpec], seed: int, device: torch.device) -> dict:
    """The same MLP on every input of transfer_inputs for the task chain[-1]: per input its test
    "accuracy" and "epochs" (to the best validation log-loss, 1-based), "pcl" (the accuracy on
    DECIDED, the input the claim is decided on) and "curves" (the validation learning curves)."""
    inputs, data = transfer_inputs(store, chain, device)
    targets = {name: getattr(data, name).targets.long() for name in SPLITS}
    fits = {name: fit_mlp(inputs[name], targets, data.n_targets, seed) for name in INPUTS}
    return {"accuracy": {name: fit["accuracy"] for name, fit in fits.items()},
            "epochs": {name: fit["epoch"] + 1 for name, fit in fits.items()},
            "raw": fits["raw"]["accuracy"], "pcl": fits[DECIDED]["accuracy"],
            "curves": {"raw": fits["raw"]["curve"], "pcl": fits[DECIDED]["curve"]}}
