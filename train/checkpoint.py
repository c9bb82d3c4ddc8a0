"""Checkpoints: weights as safetensors, the rest as tensors and plain values, written atomically.

A run directory's `checkpoints/` holds `epoch-NNNN.safetensors` (every weight, with the resolved
run config in its metadata) and `epoch-NNNN.pt` (optimiser, scheduler and RNG states, loadable
with `torch.load(weights_only=True)`). `latest.json`, written last, names the newest complete
pair: a run killed while saving still resumes from the previous one. Each file is written to a
temporary name and renamed, so no reader ever sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

FORMAT_VERSION = 1
KEEP = 2  # checkpoints kept per run (the newest)


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or of another kind, version or config."""


@dataclass
class Checkpoint:
    epoch: int  # the number of epochs completed
    weights: dict[str, torch.Tensor]
    state: dict[str, Any]
    meta: dict[str, Any]  # kind, format, the run's resolved config


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def save(
    run_dir: Path,
    epoch: int,
    weights: dict[str, torch.Tensor],
    state: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Write the checkpoint after `epoch` epochs; returns its weights file."""
    folder = Path(run_dir) / "checkpoints"
    stem = f"epoch-{epoch:04d}"
    save_weights(folder / f"{stem}.safetensors", epoch, weights, meta)
    _atomic(folder / f"{stem}.pt", lambda p: torch.save(state, p))
    latest = {"epoch": epoch, "weights": f"{stem}.safetensors", "state": f"{stem}.pt"}
    _atomic(folder / "latest.json", lambda p: p.write_text(json.dumps(latest)))
    for old in sorted(folder.glob("epoch-*.safetensors"))[:-KEEP]:
        old.unlink(missing_ok=True)
        old.with_suffix(".pt").unlink(missing_ok=True)
    return folder / f"{stem}.safetensors"


def save_weights(
    path: Path, epoch: int, weights: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Weights alone, with `meta` in the header, written atomically (e.g. the model that the
    val split picked, beside the epoch checkpoints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in weights.items()}
    header = {"format_version": str(FORMAT_VERSION), "epoch": str(epoch)}
    header.update({k: json.dumps(v) for k, v in meta.items()})
    _atomic(path, lambda p: save_file(tensors, str(p), header))
    return path


def weights_path(source: str | Path) -> Path:
    """The weights file of a run directory (its latest checkpoint) or a .safetensors path."""
    source = Path(source)
    if source.is_dir():
        latest = source / "checkpoints" / "latest.json"
        if not latest.is_file():
            raise CheckpointError(
                f"{source} holds no checkpoint (no checkpoints/latest.json); train it first or "
                "name a .safetensors file"
            )
        return latest.parent / json.loads(latest.read_text())["weights"]
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    return source


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata of a weights file, checked for our format version."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {error}") from None
    if header.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format {header.get('format_version')}, this c2p4d reads "
            f"{FORMAT_VERSION}: train it again with this version"
        )
    return {k: json.loads(v) for k, v in header.items() if k not in ("format_version", "epoch")}


def load_weights(source: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(weights, metadata) of a run directory's latest checkpoint or a .safetensors file."""
    path = weights_path(source)
    meta = read_meta(path)
    return load_file(str(path)), meta


def load_latest(run_dir: str | Path) -> Checkpoint:
    """The newest complete checkpoint of a run, for `--resume`."""
    path = weights_path(run_dir)
    weights, meta = load_weights(path)
    state = torch.load(path.with_suffix(".pt"), weights_only=True)
    epoch = int(json.loads((path.parent / "latest.json").read_text())["epoch"])
    return Checkpoint(epoch, weights, state, meta)


def strip_prefix(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix.`, renamed without it; DDP's `module.` is dropped first."""
    out = {}
    for key, value in weights.items():
        key = key.removeprefix("module.")
        if key.startswith(f"{prefix}."):
            out[key.removeprefix(f"{prefix}.")] = value
    return out
