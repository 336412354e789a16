"""Test doubles for audio devices."""

from __future__ import annotations

import threading
import time


class FakeStream:
    """Stands in for a sounddevice RawOutputStream; plays in real time (50 ms per chunk)."""

    def __init__(self):
        self.stopped = True
        self.written = 0
        self.aborted_at = None
        self._abort = threading.Event()

    def start(self):
        self.stopped = False
        self._abort.clear()

    def write(self, data):
        if self._abort.wait(len(data) / 2 / 22050):
            raise RuntimeError("aborted")
        self.written += len(data)

    def abort(self):
        self.aborted_at = time.monotonic()
        self._abort.set()
        self.stopped = True

    def close(self):
        pass
