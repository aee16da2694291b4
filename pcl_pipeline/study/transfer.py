"""Transfer of PCL's user representations to a model that never saw the backbone: the same small
MLP learns the classification task (T4) once from raw inputs (bag of the input items) and once
from the user representations of PCL's T4-prompted model (pooled hidden state: [mean over the
sequence, last position]); both select their epoch on validation log-loss and report test accuracy.
The representations are exported as a Parquet table (user_idx, split, repr list<float>), readable
from DuckDB."""
from __future__ import annotations

import pyarrow as pa
import torch
from torch import nn

from pcl_pipeline.catalog import TaskSpec
from pcl_pipeline.store.artifact_store import DatasetStore

SPLITS = ("train", "valid", "test")


@torch.no_grad()
def user_representations(store: DatasetStore, task: TaskSpec, device: torch.device,
                         batch: int = 256) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], pa.Table]:
    """Per split: (N, 2d) representations from the stored task model and the targets; the table."""
    model, _ = store.load_task_model(task.name, device)
    model.eval()
    data = store.task_data(task, model.backbone.cfg.n_items, model.backbone.cfg.max_len)
    reprs, targets, columns = {}, {}, {"user_idx": [], "split": [], "repr": []}
    for name in SPLITS:
        split = getattr(data, name)
        out = []
        for i in range(0, len(split), batch):
            seq = split.inputs(torch.arange(i, min(i + batch, len(split)))).to(device)
            h = model.hidden(seq).float()
            keep = (seq > 0).unsqueeze(-1).float()
            mean = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            out.append(torch.cat([mean, h[:, -1]], dim=-1).cpu())
        reprs[name] = torch.cat(out) if out else torch.zeros(0, 2 * model.backbone.cfg.hidden)
        targets[name] = split.targets.long()
        columns["user_idx"] += split.users.tolist()
        columns["split"] += [name] * len(split.users)
        columns["repr"] += reprs[name].tolist()
    table = pa.table({"user_idx": pa.array(columns["user_idx"], pa.int64()), "split": pa.array(columns["split"]),
                      "repr": pa.array(columns["repr"], pa.list_(pa.float32()))})
    return reprs, targets, table


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


def run_transfer(store: DatasetStore, task: TaskSpec, seed: int, device: torch.device) -> dict:
    """{"raw": accuracy, "pcl": accuracy} on the test split, and "curves" (the validation
    learning curve of each input)."""
    reprs, targets, _ = user_representations(store, task, device)
    model_cfg = store.load_backbone(torch.device("cpu"))[0].cfg
    data = store.task_data(task, model_cfg.n_items, model_cfg.max_len)
    raw = {name: bag_of_items(getattr(data, name).inputs(), model_cfg.n_items) for name in SPLITS}
    fits = {"raw": fit_mlp(raw, targets, data.n_targets, seed), "pcl": fit_mlp(reprs, targets, data.n_targets, seed)}
    return {**{key: fit["accuracy"] for key, fit in fits.items()},
            "curves": {key: fit["curve"] for key, fit in fits.items()}}
