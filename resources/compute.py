"""The torch device and CPU threads used for training and evaluation.

torch is imported when a step asks for the device, not with the definitions: the code location
loads without it (a reload in the UI never trains)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:
    import torch

    from pcl_pipeline.training.acceleration import Acceleration


class TorchResource(ConfigurableResource):
    device: str = "auto"  # "auto" = CUDA when available, else CPU; or "cpu", "cuda", "cuda:1"
    num_threads: int = 0  # Settings.pipeline_threads: torch's CPU threads in pipeline steps; 0 keeps torch's
    ddp_processes: int = 1  # PCL_DDP_PROCESSES: backbone pretraining under torchrun with this many processes
    ddp_backend: str = "auto"  # PCL_DDP_BACKEND: gloo, nccl, or auto (nccl on GPUs)
    acceleration: str = "auto"  # PCL_ACCELERATION: the large-batch GPU recipe; auto = on for CUDA only
    torch_compile: bool = False  # PCL_TORCH_COMPILE: torch.compile T1's loss under the recipe

    def get_device(self) -> torch.device:
        from pcl_pipeline.training.device import pick_device

        return pick_device(self.device)

    def pipeline_device(self) -> torch.device:
        """The device of a pipeline step, with torch's CPU threads set to num_threads (the study's
        steps take their own share instead: StudyResource.use_threads)."""
        import torch

        if self.num_threads > 0:
            torch.set_num_threads(self.num_threads)
        return self.get_device()

    def get_acceleration(self, device: torch.device) -> Acceleration:
        from pcl_pipeline.training.acceleration import resolve

        return resolve(self.acceleration, device, self.torch_compile)
