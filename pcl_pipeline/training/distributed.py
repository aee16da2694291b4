"""Backbone pretraining under torch DDP, launched by torchrun.

`launch()` (used by the backbone stage when PCL_DDP_PROCESSES > 1) runs

    python -m torch.distributed.run --standalone --nproc_per_node N -m pcl_pipeline.training.distributed \\
        --home $PCL_HOME --dataset movielens --task-file tasks/movielens/T1_next_item.yaml --seed 0 --out DIR

and reads back what rank 0 wrote to DIR: the best state (safetensors) and the fit record (JSON).
Every process reads the same T1 rows from the store and trains its slice of each global batch
(training/pretrain.py: one step equals one process's step on the whole batch). The backend is
gloo on CPUs and nccl on GPUs (PCL_DDP_BACKEND overrides). On several machines, start this
module with torchrun on each node (`--nnodes`, `--node_rank`, `--rdzv_endpoint`; see
docs/deployment.md) against a PCL_HOME every node can read.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pcl_pipeline.catalog import TaskSpec, load_task_file
from pcl_pipeline.settings import child_environment, torchrun_process
from pcl_pipeline.store.artifact_store import DEFAULT_VARIANT, ArtifactStore
from pcl_pipeline.training.context import TrainContext
from pcl_pipeline.training.loop import FitResult
from pcl_pipeline.training.pretrain import Shard, pretrain_backbone


def backend_for(device: torch.device, backend: str = "auto") -> str:
    if backend != "auto":
        return backend
    return "nccl" if device.type == "cuda" else "gloo"


def worker(argv: list[str] | None = None) -> None:
    """One torchrun process: pretrain its shard; rank 0 writes the result to --out."""
    parser = argparse.ArgumentParser()
    for name in ("--home", "--dataset", "--variant", "--task-file", "--out", "--fingerprint"):
        parser.add_argument(name, required=name != "--variant")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    rank, world, local_rank = torchrun_process()
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend_for(device, args.backend))
    try:
        store = ArtifactStore(Path(args.home)).dataset(args.dataset, args.variant or DEFAULT_VARIANT)
        t1 = load_task_file(Path(args.task_file))
        data = store.next_item_data(t1)
        ctx = TrainContext(seed=args.seed, device=device, fingerprint=args.fingerprint,
                           checkpoint=store.backbone_checkpoint)
        model, fit = pretrain_backbone(data, t1.backbone_params, ctx, shard=Shard(rank, world))
        if rank == 0:
            out = Path(args.out)
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(out / "backbone.safetensors"))
            record = {"best_score": fit.best_score, "best_epoch": fit.best_epoch, "history": fit.history,
                      "train_seconds": fit.train_seconds, "samples_seen": fit.samples_seen * world,
                      "stop_reason": fit.stop_reason, "world_size": world}
            (out / "fit.json").write_text(json.dumps(record), encoding="utf-8")
    finally:
        torch.distributed.destroy_process_group()


def launch(home: Path, dataset: str, variant: str, t1: TaskSpec, *, seed: int, processes: int, device: torch.device,
           backend: str = "auto", config_fingerprint: str = "") -> FitResult:
    """Run the DDP pretraining with torchrun on this machine; the fit record, its best_state the
    trained backbone's state."""
    with tempfile.TemporaryDirectory(prefix="pcl-ddp-") as out:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "pcl_pipeline.training.distributed", "--home", str(home), "--dataset", dataset,
                   "--variant", variant, "--task-file", str(t1.file), "--seed", str(seed), "--out", out,
                   "--device", device.type, "--backend", backend, "--fingerprint", config_fingerprint]
        threads = str(max(1, (os.cpu_count() or 1) // processes))  # the cores shared by the processes
        done = subprocess.run(command, capture_output=True, text=True, env=child_environment(OMP_NUM_THREADS=threads))
        if done.returncode != 0:
            raise RuntimeError(f"DDP pretraining ({processes} processes, torchrun) failed with exit code "
                               f"{done.returncode}:\n{done.stderr[-4000:]}")
        state = load_file(str(Path(out) / "backbone.safetensors"))
        record = json.loads((Path(out) / "fit.json").read_text(encoding="utf-8"))
    return FitResult(best_state=state, best_score=record["best_score"], best_epoch=record["best_epoch"],
                     history=record["history"], train_seconds=record["train_seconds"],
                     samples_seen=record["samples_seen"], stop_reason=record["stop_reason"])


if __name__ == "__main__":
    worker(sys.argv[1:])
