"""Fixtures shared by the speech tests."""

from __future__ import annotations

import pytest

from companion.speech.tts import speaker as sp


@pytest.fixture(scope="module")
def tts():
    """The companion's own TTS engine, at its default speaking rate (skipped without espeak-ng)."""
    try:
        return sp.open_engine(sp.Voice(rate=160))
    except sp.SpeechUnavailable as exc:
        pytest.skip(f"espeak-ng is not installed here: {exc}")
