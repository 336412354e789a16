"""Clocks the runner can wait on: the real monotonic one, and a virtual one for tests and previews.

Both count seconds from the session start. The virtual clock never sleeps: the
runner moves it straight to the next deadline, which is how a 5-minute hold
runs in microseconds in tests.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since this clock's start."""

    @property
    def virtual(self) -> bool: ...


class RealClock:
    virtual = False

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def restart(self) -> None:
        """Count from zero again (a new session on the same devices)."""
        self._origin = time.monotonic()


class VirtualClock:
    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, at: float) -> None:
        """Move forward to ``at``; never backwards."""
        self._now = max(self._now, at)
