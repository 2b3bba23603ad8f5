"""Training of the PLN / γ-PLN models (thesis sections 3.1, 3.3, 4.1).

:mod:`.config` (run configs), :mod:`.checkpoint` (checkpoints, shipped weights from runs)
and :mod:`.shards` are what a run writes and the zoo and codecs read; :mod:`.loop` and
:mod:`.data` train, and are imported on first use only (the loop asks the codec registry).
"""

from rec.training.config import RunConfig, TrainConfig, load_config

__all__ = ["RunConfig", "TrainConfig", "Trainer", "load_config"]


def __getattr__(name):
    if name == "Trainer":
        from rec.training.loop import Trainer

        return Trainer
    raise AttributeError(f"module 'rec.training' has no attribute {name!r}")
