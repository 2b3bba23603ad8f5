"""The model zoo: named, trained models shipped inside the package.

Each model is ``rec/zoo/<name>.safetensors`` (fp16 weights) described by an
entry of ``rec/zoo/index.json``: its architecture, β, γ∞, training steps,
wall time, data and the SHA-256 of the weights file. :func:`load_model`
checks the hash before trusting the file, and loads with safetensors (no
pickle). Masked kernels (the mbt2018 context model) are stored without the
taps the mask zeroes, 13 of a 5×5 kernel's 25. Codec files record the same
hash in their header, so a file made by another model is refused rather than
decoded into noise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rec.errors import RecError
from rec.models.joint import JointConfig, JointPrior, MaskedConv2d
from rec.models.pln import PLN, ModelConfig

__all__ = ["ZooEntry", "zoo_dir", "list_models", "get_entry", "load_model", "export_model", "load_weights_into", "stored_state",
           "DEFAULT_MODEL"]

DEFAULT_MODEL = "gamma-pln-mid"


def zoo_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """What the zoo records about one shipped model."""

    name: str
    config: ModelConfig | JointConfig
    steps: int
    wall_hours: float
    data: str
    sha256: str
    description: str = ""
    parent: str = ""  # the model it was fine-tuned from
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def path(self) -> Path:
        return zoo_dir() / f"{self.name}.safetensors"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d

    @staticmethod
    def from_dict(d: dict) -> "ZooEntry":
        d = dict(d)
        d["config"] = model_config(d["config"])
        return ZooEntry(**d)


def config_class(kind: str | None) -> type:
    """The config dataclass of a model kind: JointConfig for the mbt2018 reference, else ModelConfig."""
    return JointConfig if kind == "mbt2018" else ModelConfig


def model_config(d: dict) -> ModelConfig | JointConfig:
    return config_class(d.get("kind"))(**d)


def build(config: ModelConfig | JointConfig) -> PLN | JointPrior:
    return JointPrior(config) if isinstance(config, JointConfig) else PLN(config)


def _read_index() -> dict[str, ZooEntry]:
    path = zoo_dir() / "index.json"
    if not path.exists():
        return {}
    try:
        return {name: ZooEntry.from_dict(d) for name, d in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise RecError(f"cannot read the zoo index {path}: {e}") from None


def list_models() -> list[ZooEntry]:
    return list(_read_index().values())


def get_entry(name: str) -> ZooEntry:
    index = _read_index()
    if name not in index:
        known = ", ".join(sorted(index)) or "none"
        raise RecError(f"unknown model {name!r}; installed models: {known}")
    return index[name]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=8)
def load_model(name: str = DEFAULT_MODEL) -> PLN | JointPrior:
    """A shipped model by name, in eval mode, float32, hash-checked.

    Raises:
        RecError: unknown name, missing file, or weights whose hash differs from the zoo's.
    """
    entry = get_entry(name)
    if not entry.path.exists():
        raise RecError(f"weights of model {name!r} are missing: {entry.path}")
    digest = file_sha256(entry.path)
    if digest != entry.sha256:
        raise RecError(f"weights of model {name!r} do not match the zoo: sha256 {digest[:16]}…, expected {entry.sha256[:16]}…")
    model = build(entry.config)
    _load_state(model, load_file(str(entry.path)))
    model.weights_sha256 = entry.sha256
    model.name = name
    if isinstance(model, JointPrior):  # the reference codec computes in the contiguous layout (rec.reference)
        return model.eval()
    # channels_last runs the PLN's convolutions about 1.5× faster on the CPU
    return model.eval().to(memory_format=torch.channels_last)


def _masked(model: torch.nn.Module) -> dict[str, MaskedConv2d]:
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, MaskedConv2d)}


def stored_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state as the zoo stores it: fp16, masked kernels packed."""
    state = model.state_dict()
    for k, m in _masked(model).items():
        state[k] = m.pack(state[k])
    return {k: v.detach().half().contiguous() for k, v in state.items()}


def _load_state(model: PLN | JointPrior, state: dict[str, torch.Tensor], strict: bool = True) -> list[str]:
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


def load_weights_into(model: PLN | JointPrior, source: str, strict: bool = True, only: tuple[str, ...] = ()) -> list[str]:
    """Initialize ``model`` from a zoo name, a .safetensors file or a training checkpoint.

    With ``strict=False`` only the tensors that fit are taken (e.g. the transforms of a
    model with another hyperprior); ``only`` keeps just the tensors whose names start with
    one of its prefixes (implies not strict). Returns the names left at their initialization.
    """
    path = Path(source)
    if path.suffix == ".safetensors" and path.exists():
        state = load_file(str(path))
    elif path.suffix == ".pt" and path.exists():
        from rec.training.loop import load_checkpoint

        state = load_checkpoint(path)["model"]
    else:
        state = load_model(source).state_dict()
    if only:
        state = {k: v for k, v in state.items() if k.startswith(tuple(only))}
        strict = False
    return _load_state(model, state, strict)


def export_model(checkpoint: str | Path, name: str, *, wall_hours: float, data: str, description: str = "", parent: str = "",
                 step_offset: int = 0) -> ZooEntry:
    """Write a training checkpoint into the zoo as fp16 safetensors and record it in index.json.

    ``step_offset`` counts steps trained before the checkpoint's run (a run continued from
    shipped weights); wall hours add to those already recorded for the model then.
    """
    from rec.training.loop import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = build(ckpt["config"].model)
    _load_state(model, ckpt["model"])
    path = zoo_dir() / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(stored_state(model), str(path))
    index = {e.name: e for e in list_models()}
    if step_offset and name in index:
        wall_hours += index[name].wall_hours
    entry = ZooEntry(name, ckpt["config"].model, int(ckpt["step"]) + step_offset, round(wall_hours, 2), data, file_sha256(path),
                     description, parent)
    index[name] = entry
    (zoo_dir() / "index.json").write_text(json.dumps({k: v.to_dict() for k, v in sorted(index.items())}, indent=2, ensure_ascii=False) + "\n")
    load_model.cache_clear()
    return entry
