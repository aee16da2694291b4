"""Fits already run, read back instead of run again: the study's identical trainings (PCL-no-
inherit's first task after T1 is PCL's, SeqFT's is FineAll's; the same candidates on the same
seed) train once.

An entry is keyed by everything a fit's result depends on: the caller's identity (the code, the
task's data version, its texts), the model's class, its structure (the module tree's repr and its
plain attributes) and its whole initial state (parameters and buffers, frozen ones included: the
backbone, an inherited prompt, SeqFT's encoder from the task before), which tensors train at
which rates, the task params the loss, the loop and validation read (inherit_prompt is not one:
it only decides the initial prompt, which the state covers), the metric, the loop's schedule, the
seed, the device and torch's thread count. Two methods that build the same model and train it the
same way share the entry whatever they are called; anything that differs is another key. An
entry holds the fit's best state (safetensors, SHA-256 checked on reading) and the rest of its
FitResult, including the seconds the fit took, so a reused fit still reports what it cost.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from pcl_pipeline.store.artifacts import ArtifactError, ArtifactPaths, load_artifact, save_artifact
from pcl_pipeline.store.files import fingerprint


@dataclass(frozen=True)
class FitMemo:
    folder: Path
    identity: tuple = ()  # the caller's parts of every key: code signature, data version, texts, ...

    def extended(self, *parts: object) -> "FitMemo":
        """This memo, every key also covering `parts` (e.g. one task's data version)."""
        return FitMemo(self.folder, (*self.identity, *parts))

    def key(self, model: torch.nn.Module, groups: list[dict], *parts: object) -> str:
        """The key of training `model` (its initial state now) with these parameter groups."""
        names = {id(p): n for n, p in model.named_parameters()}
        trained = [([names[id(p)] for p in g["params"]], g.get("lr")) for g in groups]
        attributes = {k: v for k, v in vars(model).items()
                      if k != "training" and isinstance(v, (bool, int, float, str))}
        return fingerprint(self.identity, type(model).__qualname__, repr(model), attributes, state_digest(model),
                           trained, torch.get_num_threads(), *parts)

    def load(self, key: str, device: torch.device) -> tuple[dict[str, torch.Tensor], dict, float] | None:
        """(best state, the fit's record, the seconds it took) stored under `key`; None when there
        is none (a damaged entry counts as none: the fit runs again and replaces it)."""
        paths = ArtifactPaths.at(self.folder, key)
        if not paths.manifest.exists():
            return None
        try:
            tensors, manifest = load_artifact(paths)
        except ArtifactError:
            return None
        return {k: v.to(device) for k, v in tensors.items()}, manifest["fit"], manifest["fit_seconds"]

    def save(self, key: str, state: dict[str, torch.Tensor], record: dict, seconds: float) -> None:
        """Store a fit under `key` (tensors and record written atomically, the record last)."""
        save_artifact(ArtifactPaths.at(self.folder, key), state, {"key": key, "fit": record, "fit_seconds": seconds})


def state_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer (persistent or not): name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in sorted(tensors, key=lambda item: item[0]):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode("utf-8"))
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
