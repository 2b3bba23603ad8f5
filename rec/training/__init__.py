"""Training of the PLN / γ-PLN models (thesis sections 3.1, 3.3, 4.1)."""

from rec.training.config import RunConfig, TrainConfig, load_config
from rec.training.loop import Trainer

__all__ = ["RunConfig", "TrainConfig", "Trainer", "load_config"]
