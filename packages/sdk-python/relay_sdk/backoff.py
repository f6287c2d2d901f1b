"""How long to wait between reconnection attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, in seconds.

    ``initial`` is the delay before the first retry, multiplied by ``factor`` per failed attempt
    up to ``maximum``, spread by ±``jitter`` (a fraction) so that the many clients a dying node
    drops at once do not all come back at the same instant. A connection that stayed open
    ``reset_after`` seconds counts as healthy: the next drop starts again at ``initial``, while
    one that drops sooner keeps growing the delay, so a relay that accepts and closes at once
    (1013, overloaded) is not hammered.
    """

    initial: float = 2.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    reset_after: float = 10.0

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The delay before retry number ``failures`` (0 for the first), never above ``maximum``."""
        base = min(self.initial * self.factor**failures, self.maximum)
        spread = 1 + self.jitter * (2 * rand() - 1)
        return max(0.0, min(base * spread, self.maximum))
