"""What a training run writes, read back: checkpoints, shard folders, and their weights as zoo models.

A checkpoint (``last.pt``) holds the weights to ship (the EMA when kept), the raw training
weights under "raw" then, Adam's state, the step and the run's config as JSON; it is read
with ``torch.load(weights_only=True)``, which refuses a malicious pickle. A device run hands
its weights back as shards (:mod:`rec.training.shards`) beside its ``config.json``.

This module sits between the models (and the zoo of shipped weights, :mod:`rec.models.zoo`)
and everything that trains, codes or evaluates: the zoo reads no checkpoint, so neither the
zoo nor the codecs import the training loop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from rec.errors import RecError
from rec.models.kinds import build
from rec.models.zoo import (ZooEntry, file_sha256, list_models, load_model, load_state, read_index, read_safetensors,
                            stored_state, valid_name, zoo_dir)
from rec.training.config import RunConfig
from rec.training.shards import read_shards

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "load_weights_into", "load_model_file", "export_model"]


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer, step: int, config: RunConfig, ema: torch.nn.Module | None = None) -> None:
    """Write atomically (temporary file, then rename). ``model`` holds the weights to ship:
    the EMA when there is one (``ema``), the raw training weights under "raw" then."""
    tmp = path.with_suffix(".tmp")
    state = {"model": _cpu_state(ema or model), "optimizer": optimizer.state_dict(), "step": step,
             "config": json.dumps(config.to_dict())}
    if ema is not None:
        state["raw"] = _cpu_state(model)
    torch.save(state, tmp)
    os.replace(tmp, path)


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def load_checkpoint(path: str | Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as e:
        raise RecError(f"cannot load checkpoint {path}: {e}") from None
    ckpt["config"] = RunConfig.from_dict(json.loads(ckpt["config"]))
    return ckpt


def read_checkpoint(path: Path) -> dict:
    """A training checkpoint (:func:`load_checkpoint`); RecError for anything that is not one."""
    try:
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict) or "model" not in ckpt:
            raise KeyError("model")
        return ckpt
    except RecError:
        raise
    except Exception as e:  # UnpicklingError (weights_only refuses a malicious pickle), KeyError, JSON errors …
        raise RecError(f"{path} is not a rec training checkpoint: {type(e).__name__}: {e}") from None


def load_weights_into(model: torch.nn.Module, source: str, strict: bool = True, only: tuple[str, ...] = ()) -> list[str]:
    """Initialize ``model`` from a zoo name, a .safetensors file, a shard folder or a training checkpoint.

    With ``strict=False`` only the tensors that fit are taken (e.g. the transforms of a
    model with another hyperprior); ``only`` keeps just the tensors whose names start with
    one of its prefixes (implies not strict). Not strict, a model's ``adapt_state`` may first
    reshape another configuration's tensors (:meth:`rec.models.mentzer.ContextAutoencoder.adapt_state`).
    Returns the names left at their initialization.
    """
    path = Path(source)
    if path.is_dir() and (path / "index.json").exists():  # weights handed back as shards (rec.training.shards)
        state = read_shards(path)
    elif path.suffix == ".safetensors" and path.exists():
        state = read_safetensors(path)
    elif path.suffix == ".pt" and path.exists():
        state = read_checkpoint(path)["model"]
    else:
        state = load_model(source).state_dict()
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise RecError(f"{source} does not hold a state dict of tensors")
    if only:
        state = {k: v for k, v in state.items() if k.startswith(tuple(only))}
        strict = False
    if not strict and hasattr(model, "adapt_state"):  # e.g. a Mentzer model widened to more channels K
        state = model.adapt_state(state)
    return load_state(model, state, strict)


def export_model(checkpoint: str | Path, name: str, *, wall_hours: float, data: str, description: str = "", parent: str = "",
                 step_offset: int = 0, zoo: Path | None = None) -> ZooEntry:
    """Write a training checkpoint (or shard folder) into a zoo as fp16 safetensors and record it in its index.json.

    ``zoo``: the zoo folder (default the shipped zoo, :func:`~rec.models.zoo.zoo_dir`; ``rec
    export`` writes into the user zoo). A name the other zoo already has is refused.
    ``step_offset`` counts steps trained before the checkpoint's run (a run continued from
    shipped weights); wall hours add to those already recorded for the model then.
    """
    directory = Path(zoo) if zoo is not None else zoo_dir()
    if not valid_name(name):
        raise RecError(f"a model name must be letters, digits, '.', '_' and '-' (at most 100), got {name!r}")
    others = {e.name for e in list_models() if e.path.parent.resolve() != directory.resolve()}
    if name in others:
        raise RecError(f"another zoo already has a model named {name!r}: choose another name")
    source = Path(checkpoint)
    if source.is_dir():  # a shard folder
        model, steps = load_model_file(source), 0
    else:
        ckpt = read_checkpoint(source)
        model, steps = build(ckpt["config"].model), int(ckpt["step"])
        load_state(model, ckpt["model"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.safetensors"
    save_file(stored_state(model), str(path))
    index = read_index(directory)
    if step_offset and name in index:
        wall_hours += index[name].wall_hours
    entry = ZooEntry(name, model.config, steps + step_offset, round(wall_hours, 2), data, file_sha256(path),
                     description, parent, directory=directory)
    index[name] = entry
    (directory / "index.json").write_text(json.dumps({k: v.to_dict() for k, v in sorted(index.items())}, indent=2, ensure_ascii=False) + "\n")
    load_model.cache_clear()
    return entry


def load_model_file(path: str | Path) -> torch.nn.Module:
    """A model from a training checkpoint (``.pt``, its shipped weights: the EMA when kept) or a
    shard folder beside a ``config.json`` (a device run's output), in eval mode, float32
    (the front door, :func:`rec.codec.resolve_model`, prepares it for its codec).

    Its name is the file's stem (the run folder's name for ``last.pt``); files it writes are
    bound to its weights by their hash like a zoo model's.

    Raises:
        RecError: not a checkpoint or shard folder, or weights that do not fit its config.
    """
    path = Path(path)
    if path.is_dir():
        try:
            config = RunConfig.from_dict(json.loads((path / "config.json").read_text())).model
        except (OSError, ValueError) as e:
            raise RecError(f"a shard folder needs the run's config.json beside its index.json: {e}") from None
        state = read_shards(path)
    else:
        ckpt = read_checkpoint(path)
        config, state = ckpt["config"].model, ckpt["model"]
    model = build(config)
    load_state(model, state)
    model.name = path.parent.name if path.name == "last.pt" else path.stem
    return model.eval()  # rec.codec.resolve_model lays it out for its codec
