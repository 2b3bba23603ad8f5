"""Training of the PLN / γ-PLN models (thesis sections 3.1, 3.3, 4.1).

:mod:`.config` (run configs), :mod:`.checkpoint` (checkpoints, shipped weights from runs)
and :mod:`.shards` are what a run writes and the zoo and codecs read; :mod:`.loop` and
:mod:`.data` train (``from rec.training.loop import Trainer``: the loop asks the codec registry,
so importing the package does not import it).
"""

from rec.training.config import RunConfig, TrainConfig, load_config

__all__ = ["RunConfig", "TrainConfig", "load_config"]

