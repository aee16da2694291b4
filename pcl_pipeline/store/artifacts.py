"""Model artifacts: a safetensors file plus a JSON manifest, both written atomically.

The manifest records what the tensors are (task, init_from, config, data version, metrics,
library versions) and the SHA-256 and shapes of the tensor file, so loading can refuse a
corrupt, truncated or mismatched artifact with a message that says which and why.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

import safetensors
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pcl_pipeline.store.files import atomic_paths, file_sha256


class ArtifactError(RuntimeError):
    """An artifact cannot be used: missing, corrupt, or not what the caller expects."""


@dataclass(frozen=True)
class ArtifactPaths:
    tensors: Path
    manifest: Path

    @classmethod
    def at(cls, folder: Path, name: str) -> "ArtifactPaths":
        return cls(folder / f"{name}.safetensors", folder / f"{name}.json")


def library_versions() -> dict[str, str]:
    return {"torch": torch.__version__, "python": platform.python_version(), "safetensors": safetensors.__version__}


def save_artifact(paths: ArtifactPaths, tensors: dict[str, torch.Tensor], manifest: dict) -> dict:
    """Write tensors and the manifest (with the tensors' hash and shapes); return the manifest.
    Both files are complete before either replaces its predecessor (atomic_paths)."""
    contiguous = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    full = dict(manifest)
    full["versions"] = library_versions()
    full["tensors"] = {k: list(v.shape) for k, v in sorted(contiguous.items())}
    with atomic_paths(paths.tensors, paths.manifest) as (tensors_tmp, manifest_tmp):
        save_file(contiguous, str(tensors_tmp))
        full["sha256"] = file_sha256(tensors_tmp)
        manifest_tmp.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return full


def load_manifest(paths: ArtifactPaths) -> dict:
    if not paths.manifest.exists():
        raise ArtifactError(f"{paths.manifest}: manifest missing; materialize the asset that writes it")
    try:
        return json.loads(paths.manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{paths.manifest}: manifest is not valid JSON (line {exc.lineno}): corrupt file") from exc


def load_artifact(paths: ArtifactPaths, expected: dict[str, tuple[int, ...]] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and manifest, after checking the file hash, the key set and every shape.

    `expected` (key -> shape), when given, must match the artifact exactly: a missing or extra
    key or a different shape is an error naming them.
    """
    manifest = load_manifest(paths)
    if not paths.tensors.exists():
        raise ArtifactError(f"{paths.tensors}: tensor file missing (manifest {paths.manifest} exists)")
    digest = file_sha256(paths.tensors)
    if digest != manifest.get("sha256"):
        raise ArtifactError(f"{paths.tensors}: SHA-256 {digest[:12]}... does not match the manifest's "
                            f"{str(manifest.get('sha256'))[:12]}...: the file is corrupt or from another write")
    try:
        tensors = load_file(str(paths.tensors))
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{paths.tensors}: not a readable safetensors file: {exc}") from exc
    recorded = {k: tuple(v) for k, v in manifest.get("tensors", {}).items()}
    actual = {k: tuple(v.shape) for k, v in tensors.items()}
    if recorded != actual:
        raise ArtifactError(f"{paths.tensors}: tensors {actual} differ from the manifest's {recorded}")
    if expected is not None:
        _check_expected(paths.tensors, actual, {k: tuple(v) for k, v in expected.items()})
    return tensors, manifest


def _check_expected(path: Path, actual: dict[str, tuple], expected: dict[str, tuple]) -> None:
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = {k: (actual[k], expected[k]) for k in set(actual) & set(expected) if actual[k] != expected[k]}
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if extra:
            parts.append(f"unexpected keys {extra}")
        for key, (got, want) in sorted(wrong.items()):
            parts.append(f"{key}: shape {got}, expected {want}")
        raise ArtifactError(f"{path}: does not fit the model: " + "; ".join(parts))
