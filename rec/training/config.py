"""Training configuration: a TOML file plus command-line overrides.

Example ``train.toml``::

    [model]
    kind = "gamma-pln"   # pln | gamma-pln | vae
    N = 128
    M = 128
    F = 128
    G = 24
    beta = 1.0
    gamma_inf = 0.06

    [train]
    data = "../shared/data/train"
    val = "../shared/data/val"
    crop = 192
    batch = 6
    steps = 20000
    lr = 2e-4
    lr_decay = 0.96          # α(t) = α0 · r^(t/D), thesis section 4.1
    lr_decay_steps = 1500
    warmup = 2000            # KL warm-up W, β(t) = min(t/W, 1)·β0
    bf16 = true
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rec.errors import RecError
from rec.models.joint import JointConfig
from rec.models.pln import ModelConfig
from rec.models.kinds import config_class, model_config

__all__ = ["TrainConfig", "RunConfig", "load_config"]


@dataclass(frozen=True)
class TrainConfig:
    data: str = "../shared/data/train"
    val: str = "../shared/data/val"
    crop: int = 192
    batch: int = 6
    steps: int = 20000
    lr: float = 2e-4
    lr_decay: float = 0.96
    lr_decay_steps: int = 1500
    schedule: str = "exponential"  # or "cosine": linear warm-up, then cosine down to lr_final·lr, per cycle
    lr_warmup: int = 0  # steps of linear learning-rate warm-up at the start of each cosine cycle
    lr_cycle: int = 0  # length of a cosine cycle (0: the whole run); each cycle ends shippable
    lr_final: float = 0.02  # the cosine's floor, relative to lr
    ema: float = 0.0  # decay of the exponential moving average of the weights (0: none); exported when set
    augment: bool = False  # random 90° rotations and rescaling by 0.5-1 on top of the flips
    warmup: int = 2000
    gamma_lr_scale: float = 50.0  # learning rate of log γ relative to α
    grad_clip: float = 5.0
    bf16: bool = True  # where it pays: CUDA, or a CPU with native bf16 (AMX / AVX-512 BF16); else fp32
    device: str = "cpu"  # or "cuda"
    seed: int = 0
    val_every: int = 1000
    checkpoint_every: int = 250
    init: str = ""  # a checkpoint or zoo model to fine-tune from (weights only)
    init_strict: bool = True  # false: take from init only the tensors that fit (e.g. transforms under a new hyperprior)
    init_only: str = ""  # comma-separated name prefixes: take only these tensors from init (e.g. "analysis1,synthesis1")
    freeze: str = ""  # comma-separated name prefixes held fixed for the first freeze_steps steps (e.g. warm-started
    freeze_steps: int = 0  # transforms while a fresh entropy model fits their latents); single-process only
    rate_min: float = 0.0  # a variable-rate model: the part of its range training draws the rate from
    rate_max: float = 0.0  # (log-uniform in [rate_min, rate_max]; 0: that end of the model's range)

    def __post_init__(self):
        if self.schedule not in ("exponential", "cosine"):
            raise RecError(f"unknown schedule {self.schedule!r}: expected 'exponential' or 'cosine'")
        if self.device not in ("cpu", "cuda"):
            raise RecError(f"unknown device {self.device!r}: expected 'cpu' or 'cuda'")
        if not 0 <= self.ema < 1:
            raise RecError(f"train.ema must be in [0, 1), got {self.ema}")
        if self.freeze_steps < 0 or (self.freeze_steps and not self.freeze_prefixes):
            raise RecError("train.freeze_steps needs train.freeze (the name prefixes to hold) and must be ≥ 0")

    @staticmethod
    def prefixes(names: str) -> tuple[str, ...]:
        """A comma-separated list of parameter-name prefixes (init_only, freeze) as a tuple."""
        return tuple(filter(None, (n.strip() for n in names.split(","))))

    @property
    def freeze_prefixes(self) -> tuple[str, ...]:
        return self.prefixes(self.freeze)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig | JointConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.train.rate_min or self.train.rate_max:
            full, rates = getattr(self.model, "rate_range", None), self.sampled_rates
            if full is None or not full[0] <= rates[0] < rates[1] <= full[1]:
                raise RecError(f"train.rate_min/rate_max need a variable-rate model and "
                               f"rate_min < rate_max inside its range {full}")

    @property
    def sampled_rates(self) -> tuple[float, float] | None:
        """The range training draws a variable-rate model's rate from (train.rate_min/max within the
        model's range); None for a fixed-rate model."""
        full = getattr(self.model, "rate_range", None)
        if full is None:
            return None
        return (self.train.rate_min or full[0], self.train.rate_max or full[1])

    def to_dict(self) -> dict:
        return {"model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train)}

    @staticmethod
    def from_dict(d: dict) -> "RunConfig":
        try:
            return RunConfig(model_config(d.get("model", {})), TrainConfig(**d.get("train", {})))
        except TypeError as e:
            raise RecError(f"bad training configuration: {e}") from None


def _coerce(cls, key: str, value: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise RecError(f"unknown setting {key!r} for [{cls.__name__}]")
    kind = type(getattr(cls(), key))
    if kind is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return kind(value)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read a TOML config (or defaults) and apply ``section.key=value`` overrides."""
    d: dict = {"model": {}, "train": {}}
    if path:
        try:
            with open(path, "rb") as f:
                loaded = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise RecError(f"cannot read config {path}: {e}") from None
        for section in loaded:
            if section not in d:
                raise RecError(f"unknown config section [{section}] in {path}")
            d[section].update(loaded[section])
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in d:
            raise RecError(f"override {item!r} must look like model.beta=0.5 or train.steps=100")
        cls = config_class(d["model"].get("kind")) if section == "model" else TrainConfig
        d[section][name] = _coerce(cls, name, value)
    return RunConfig.from_dict(d)
