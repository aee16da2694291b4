"""The torch device and CPU threads used for training and evaluation."""
from __future__ import annotations

import torch
from dagster import ConfigurableResource

from pcl_pipeline.training.acceleration import Acceleration, resolve
from pcl_pipeline.training.device import pick_device


class TorchResource(ConfigurableResource):
    device: str = "auto"  # "auto" = CUDA when available, else CPU; or "cpu", "cuda", "cuda:1"
    num_threads: int = 0  # CPU threads for torch; 0 keeps torch's default
    ddp_processes: int = 1  # PCL_DDP_PROCESSES: backbone pretraining under torchrun with this many processes
    ddp_backend: str = "auto"  # PCL_DDP_BACKEND: gloo, nccl, or auto (nccl on GPUs)
    acceleration: str = "auto"  # PCL_ACCELERATION: the large-batch GPU recipe; auto = on for CUDA only
    torch_compile: bool = False  # PCL_TORCH_COMPILE: torch.compile T1's loss under the recipe

    def get_device(self) -> torch.device:
        if self.num_threads > 0:
            torch.set_num_threads(self.num_threads)
        return pick_device(self.device)

    def get_acceleration(self, device: torch.device) -> Acceleration:
        return resolve(self.acceleration, device, self.torch_compile)
