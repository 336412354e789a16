"""Where an utterance starts and ends: voice activity, then what the grammar has heard so far.

The time from the end of speech to the command taking effect is mostly the
endpointer's hangover: the stretch of quiet it waits for before it calls the
utterance over. Too short, and "how many ... are left" is cut in two; too long,
and "stop" feels slow. The grammar tells the two apart: once the words heard so
far can only mean one thing ("stop", and every phrase that starts with "stop",
means stop), a short quiet is enough; while they could still become something
else ("go" -> "go on" / "go back"), the full hangover applies.

:class:`VoiceActivity` is the frame-level part (WebRTC VAD from PocketSphinx,
with a pre-roll so the first syllable is never lost). It passes frames on at
once, without the fixed delay of PocketSphinx's own ``Endpointer``, so the
recogniser has heard everything by the time the quiet is long enough.
:func:`settled_phrases` is the grammar part.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

FRAME_SECONDS = 0.03


class VoiceActivity:
    """Speech/non-speech per 30 ms frame, with start detection and a running count of trailing quiet.

    Speech starts when ``start_voiced`` of the last ``start_window`` frames are
    voiced (one click or breath is not enough); the frames before that point,
    up to ``pre_roll`` seconds, are handed over with the first speech frame.
    """

    def __init__(self, sample_rate: int = 16000, mode: int | None = None, pre_roll: float = 0.3,
                 start_window: int = 7, start_voiced: int = 5):
        from pocketsphinx import Vad

        self._vad = Vad(Vad.STRICT if mode is None else mode, sample_rate, FRAME_SECONDS)
        self.frame_bytes: int = self._vad.frame_bytes
        self._recent: deque[tuple[bytes, bool]] = deque(maxlen=max(start_window, round(pre_roll / FRAME_SECONDS)))
        self._start_window, self._start_voiced = start_window, start_voiced
        self.in_speech = False
        self.frames_seen = 0
        self.trailing_quiet = 0  # frames of non-speech since the last voiced frame of this utterance
        self.speech_start = 0.0  # seconds into the stream, pre-roll included
        self.onset = 0.0  # about where the voice itself began
        self.speech_end = 0.0

    def process(self, frame: bytes) -> list[bytes]:
        """The frames that belong to an utterance now ([] outside speech; the pre-roll at its start)."""
        voiced = self._vad.is_speech(frame)
        self.frames_seen += 1
        if self.in_speech:
            self.trailing_quiet = 0 if voiced else self.trailing_quiet + 1
            if voiced:
                self.speech_end = self.frames_seen * FRAME_SECONDS
            return [frame]
        self._recent.append((frame, voiced))
        window = list(self._recent)[-self._start_window:]
        if sum(v for _, v in window) < self._start_voiced:
            return []
        self.in_speech, self.trailing_quiet = True, 0
        held = [f for f, _ in self._recent]
        self.speech_start = (self.frames_seen - len(held)) * FRAME_SECONDS
        self.onset = (self.frames_seen - self._start_window) * FRAME_SECONDS
        self.speech_end = self.frames_seen * FRAME_SECONDS
        self._recent.clear()
        return held

    @property
    def quiet_seconds(self) -> float:
        return self.trailing_quiet * FRAME_SECONDS

    def end(self) -> None:
        """The current utterance is over (the caller decided); listen for the next one."""
        self.in_speech, self.trailing_quiet = False, 0


def settled_phrases(phrases: Iterable[str], meaning: Callable[[str], str]) -> frozenset[str]:
    """The phrases whose meaning can no longer change if more words follow.

    "stop" is settled when every phrase that begins with the words "stop" means
    the same (stop now, stop it, ...); "go" is not when "go on" and "go back"
    mean different things. A phrase nothing extends is always settled.
    """
    words = {p: p.split() for p in phrases}
    settled = set()
    for phrase, head in words.items():
        longer = [p for p, w in words.items() if len(w) > len(head) and w[:len(head)] == head]
        if all(meaning(p) == meaning(phrase) for p in longer):
            settled.add(phrase)
    return frozenset(settled)
