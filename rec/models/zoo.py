"""The model zoo: named, trained models.

The default model ships inside the package; the others come in the *model pack*, the
distribution ``rec-zoo`` built from the repository's ``zoo/`` (``pip install ./zoo``), so
that the code wheel stays small. Both are zoo folders of one layout: each model is
``<name>.safetensors`` (fp16 weights) described by an entry of the folder's
``index.json``: its architecture, β, γ∞, training steps,
wall time, data and the SHA-256 of the weights file. :func:`load_model`
checks the hash before trusting the file, and loads with safetensors (no
pickle). Masked kernels (the mbt2018 context model) are stored without the
taps the mask zeroes, 13 of a 5×5 kernel's 25. Codec files record the same
hash in their header, so a file made by another model is refused rather than
decoded into noise.

Beside the shipped zoo, a *user zoo* holds the models a user exported from their own
training runs (``rec export``): the folder ``$REC_ZOO``, by default
``$XDG_DATA_HOME/rec/zoo`` (``~/.local/share/rec/zoo``), with the same layout. Its models
load, encode and decode by name like shipped ones; a user model may not take a shipped
model's name.

Models from a training run (checkpoints, shard folders) and the export of a run into a
zoo are :mod:`rec.training.checkpoint`'s: the zoo reads no checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from rec.errors import RecError
from rec.models.context2d import MaskedConv2d
from rec.models.kinds import build, config_class, inference_layout, model_config  # noqa: F401 (re-exported)

__all__ = ["ZooEntry", "zoo_dir", "pack_dir", "shipped_dirs", "user_zoo_dir", "PACK_HINT", "read_index", "valid_name", "list_models", "get_entry", "load_model", "stored_state", "load_state", "read_safetensors",
           "build", "file_sha256", "DEFAULT_MODEL"]

DEFAULT_MODEL = "gamma-pln-iso"


def zoo_dir() -> Path:
    """The zoo inside the package: the default model."""
    return Path(__file__).resolve().parent.parent / "zoo"


#: The model pack's package, and how to install it.
PACK = "rec_zoo"
PACK_HINT = "the models beside the default come in the model pack: pip install ./zoo (from rec's repository)"


def pack_dir() -> Path | None:
    """The model pack's folder (the ``rec-zoo`` distribution), None when it is not installed."""
    spec = importlib.util.find_spec(PACK)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]).resolve() if locations else None


def shipped_dirs() -> list[Path]:
    """The zoo folders that ship with rec: the package's own, then the model pack's if installed."""
    pack = pack_dir()
    return [zoo_dir()] + ([pack] if pack is not None and pack != zoo_dir().resolve() else [])


def user_zoo_dir() -> Path:
    """The user zoo: ``$REC_ZOO``, else ``$XDG_DATA_HOME/rec/zoo`` (default ``~/.local/share/rec/zoo``)."""
    if os.environ.get("REC_ZOO"):
        return Path(os.environ["REC_ZOO"]).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser() / "rec" / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """What the zoo records about one shipped model."""

    name: str
    config: Any  # the config dataclass of its kind (rec.models.kinds)
    steps: int
    wall_hours: float
    data: str
    sha256: str
    description: str = ""
    parent: str = ""  # the model it was fine-tuned from
    extra: dict = field(default_factory=dict)  # "coding": defaults its codec chose for it (REC: level1_margin)
    directory: Path | None = field(default=None, compare=False)  # the zoo that holds it (None: the package's)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def path(self) -> Path:
        return (self.directory or zoo_dir()) / f"{self.name}.safetensors"

    @property
    def shipped(self) -> bool:
        """Whether it ships with rec (in the package or the model pack; else it is a user zoo's)."""
        return self.directory is None or self.directory in shipped_dirs()

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("directory")
        d["config"] = self.config.to_dict()
        return d

    @staticmethod
    def from_dict(d: dict, directory: Path | None = None) -> "ZooEntry":
        d = dict(d)
        d.pop("directory", None)
        d["config"] = model_config(d["config"])
        return ZooEntry(**d, directory=directory)


#: The largest channel width an index entry may declare (the shipped models: 128 and 24).
MAX_WIDTH = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a model: letters, digits, '.', '_' and '-', at most 100, no '..' (it makes a file name)."""
    return isinstance(name, str) and bool(_NAME.fullmatch(name)) and not name.endswith(".") and ".." not in name


def _check_entry(key: str, entry: ZooEntry) -> ZooEntry:
    """The entry of ``key``, refused unless its name is the key and a plain file name, and its widths are sane.

    The name makes the weights' path (``zoo/<name>.safetensors``): a name other than the key,
    or one with a path separator, would load weights from elsewhere. Absurd widths would
    allocate gigabytes before the weights' shapes could be checked.
    """
    if entry.name != key or not valid_name(key):
        raise RecError(f"zoo index entry {key!r} names its model {entry.name!r}: the name must be the key, "
                       "letters, digits, '.', '_' and '-'")
    for width in ("N", "M", "F", "G"):
        if not hasattr(entry.config, width):  # e.g. brummer2021 has no level-2 widths
            continue
        v = getattr(entry.config, width)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_WIDTH:
            raise RecError(f"zoo index entry {key!r}: width {width} = {v!r} is not an integer in 1 .. {MAX_WIDTH}")
    if not isinstance(entry.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", entry.sha256):
        raise RecError(f"zoo index entry {key!r}: sha256 must be 64 hex digits")
    return entry


def read_index(directory: Path) -> dict[str, ZooEntry]:
    """The entries of one zoo folder's index.json ({} when it has none)."""
    path = directory / "index.json"
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise TypeError("the index is not a JSON object")
        return {name: _check_entry(name, ZooEntry.from_dict(d, directory)) for name, d in raw.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecError) as e:
        raise RecError(f"cannot read the zoo index {path}: {e}") from None


def _read_index() -> dict[str, ZooEntry]:
    """The shipped zoos' entries (the package's, the model pack's), then the user zoo's."""
    index: dict[str, ZooEntry] = {}
    shipped = shipped_dirs()
    for directory in shipped:
        for name, entry in read_index(directory).items():
            if name in index:
                raise RecError(f"two shipped zoos have a model named {name!r} ({index[name].path.parent}, {directory})")
            index[name] = entry
    user = user_zoo_dir()
    if user.resolve() not in {d.resolve() for d in shipped}:
        for name, entry in read_index(user).items():
            if name in index:
                raise RecError(f"the user zoo {user} has a model named {name!r}, the name of a shipped model: rename it")
            index[name] = entry
    return index


def list_models() -> list[ZooEntry]:
    """Every installed model: the shipped zoo's, then the user zoo's."""
    return list(_read_index().values())


def get_entry(name: str) -> ZooEntry:
    index = _read_index()
    if name not in index:
        known = ", ".join(sorted(index)) or "none"
        hint = "" if pack_dir() is not None else f" ({PACK_HINT})"
        raise RecError(f"unknown model {name!r}; installed models: {known}{hint}")
    return index[name]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(name: str = DEFAULT_MODEL) -> torch.nn.Module:
    """A shipped model by name, in eval mode, float32, hash-checked.

    Raises:
        RecError: not a name, unknown name, missing file, weights whose hash differs from
            the zoo's, or a weights file that is not valid safetensors of the architecture.
    """
    if not isinstance(name, str):
        raise RecError(f"a model name must be a string, got {type(name).__name__}")
    return _load_model(name)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file; RecError if it is not one."""
    try:
        return load_file(str(path))
    except Exception as e:  # SafetensorError, OSError, ValueError: any malformed file
        raise RecError(f"cannot read weights {path}: {type(e).__name__}: {e}") from None


@lru_cache(maxsize=8)
def _load_model(name: str) -> torch.nn.Module:
    entry = get_entry(name)
    if not entry.path.exists():
        raise RecError(f"weights of model {name!r} are missing: {entry.path}")
    digest = file_sha256(entry.path)
    if digest != entry.sha256:
        raise RecError(f"weights of model {name!r} do not match the zoo: sha256 {digest[:16]}…, expected {entry.sha256[:16]}…")
    model = build(entry.config)
    load_state(model, read_safetensors(entry.path))
    model.weights_sha256 = entry.sha256
    model.name = name
    model.coding = dict(entry.extra.get("coding", {}))  # coding defaults chosen for this model (its codec reads them)
    return inference_layout(model)


load_model.cache_clear = _load_model.cache_clear  # type: ignore[attr-defined]


def _masked(model: torch.nn.Module) -> dict[str, MaskedConv2d]:
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, MaskedConv2d)}


def stored_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state as the zoo stores it: fp16, masked kernels packed."""
    state = model.state_dict()
    for k, m in _masked(model).items():
        state[k] = m.pack(state[k])
    return {k: v.detach().half().contiguous() for k, v in state.items()}


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> list[str]:
    """Load ``state`` (packed masked kernels accepted) into ``model``.

    Strict: every tensor must be there with its shape. Otherwise only the tensors whose
    names and shapes agree are loaded; returns the names left at their initialization.
    """
    own = model.state_dict()
    state = dict(state)
    for k, m in _masked(model).items():
        if k in state and state[k].dim() == 3:
            state[k] = m.unpack(state[k])
    if strict:
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise RecError(f"weights do not fit the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for k, v in state.items():
            if v.shape != own[k].shape:
                raise RecError(f"weights do not fit the architecture: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    fits = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict({k: v.float() for k, v in fits.items()}, strict=False)
    return sorted(set(own) - set(fits))
