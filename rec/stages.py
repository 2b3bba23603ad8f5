"""Stage times: where a codec run spends its seconds, as Brummer & De Vleeschouwer 2021 break it down (Table 1).

A codec function that takes a ``clock`` times each of its stages under one of the names
below; the stages of one run do not overlap, and a name used twice adds up. Without a
clock nothing is measured (the functions pass :data:`NO_CLOCK`, whose stages cost a
``perf_counter`` call each and are forgotten).

=================  ==========================================================================
``nn``             the main autoencoder (g_a on encode; g_s on decode and encode's reconstruction)
``nn_hyper``       the hyperprior's networks (h_a, h_s)
``cdf``            building or choosing the entropy model of the main latents: Brummer's index
                   search and table gather, mbt2018's autoregressive pass (context model, g_ep
                   and the scale table), in which mbt2018's decoder also range-decodes ŷ
``entropy``        range coding of the main latents (mbt2018's encoder only: its decoder does it in ``cdf``)
``entropy_hyper``  coding of the side information: ẑ (mbt2018) or the prior indices (Brummer)
=================  ==========================================================================
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["STAGES", "Clock", "NO_CLOCK"]

STAGES = ("nn", "nn_hyper", "cdf", "entropy", "entropy_hyper")


@dataclass
class Clock:
    """Seconds per stage of one or more codec runs (``seconds[name]``, names from :data:`STAGES`)."""

    seconds: dict[str, float] = field(default_factory=dict)
    record: bool = True

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}: expected one of {STAGES}")
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.record:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def total(self) -> float:
        return sum(self.seconds.values())


#: The clock of an unmeasured run: it keeps nothing.
NO_CLOCK = Clock(record=False)
