"""Where the companion keeps what it writes: the history database, session logs, downloaded models."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """``COMPANION_HOME`` if set, else the platform's user data folder (~/.local/share/companion)."""
    override = os.environ.get("COMPANION_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir("companion", appauthor=False))


def sessions_dir() -> Path:
    return data_dir() / "sessions"
