"""Weights as shards: safetensors files of bounded size, with an index of their hashes.

A device run (scripts/train_device.py) hands its weights back through a channel that
takes files of at most 16 MiB each; a shipped model is at most 10 MB. :func:`write_shards`
splits a state dict, in a reduced float type (fp16 or bf16), greedily over files of at
most ``max_bytes``; ``index.json`` lists each file with its SHA-256 and the tensors'
original dtypes. :func:`read_shards` checks every hash before loading (safetensors, no
pickle) and returns the tensors in their original dtypes.

Invariants: every shard file is ≤ ``max_bytes`` (a single tensor larger than that is an
error, not an oversized file); ``read_shards(write_shards(s))`` equals ``s`` cast to the
shard dtype and back, bit for bit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rec.errors import RecError
from rec.models.zoo import file_sha256

__all__ = ["write_shards", "read_shards", "SHARD_BYTES"]

SHARD_BYTES = 16 << 20
_HEADER_SLACK = 1 << 16  # room for safetensors' JSON header in each file
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def write_shards(state: dict[str, torch.Tensor], folder: str | Path, *, max_bytes: int = SHARD_BYTES,
                 dtype: str = "float16") -> list[Path]:
    """Write ``state`` as ``shard-NNN.safetensors`` files of at most ``max_bytes`` and ``index.json``."""
    if dtype not in _DTYPES:
        raise RecError(f"shard dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    budget = max_bytes - _HEADER_SLACK
    shards, current, size = [], {}, 0
    for name, t in state.items():
        t = t.detach().cpu()
        t = t.to(_DTYPES[dtype]) if t.is_floating_point() else t
        n = t.numel() * t.element_size()
        if n > budget:
            raise RecError(f"tensor {name} ({n} bytes) does not fit a shard of {max_bytes} bytes")
        if size + n > budget and current:
            shards.append(current)
            current, size = {}, 0
        current[name] = t.contiguous()
        size += n
    if current or not shards:
        shards.append(current)
    paths, files = [], []
    for i, shard in enumerate(shards):
        path = folder / f"shard-{i:03d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(shard, str(tmp))
        os.replace(tmp, path)
        paths.append(path)
        files.append({"file": path.name, "sha256": file_sha256(path), "tensors": sorted(shard)})
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in state.items()}
    (folder / "index.json").write_text(json.dumps({"dtype": dtype, "files": files, "dtypes": dtypes}, indent=1) + "\n")
    return paths


def read_shards(folder: str | Path) -> dict[str, torch.Tensor]:
    """The state written by :func:`write_shards`, hash-checked, in the original dtypes.

    Raises:
        RecError: missing or unreadable index or shard, or a shard whose hash differs.
    """
    folder = Path(folder)
    try:
        index = json.loads((folder / "index.json").read_text())
        files, dtypes = index["files"], index["dtypes"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RecError(f"cannot read the shard index of {folder}: {e}") from None
    state = {}
    for entry in files:
        path = folder / Path(entry["file"]).name
        if not path.is_file() or file_sha256(path) != entry["sha256"]:
            raise RecError(f"shard {path} is missing or does not match its hash in index.json")
        try:
            state.update(load_file(str(path)))
        except (SafetensorError, OSError) as e:
            raise RecError(f"cannot read shard {path}: {e}") from None
    return {k: v.to(getattr(torch, dtypes.get(k, str(v.dtype).removeprefix("torch.")))) for k, v in state.items()}
