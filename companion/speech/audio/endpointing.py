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

import array
import math
import operator
from collections import deque
from typing import Callable, Iterable

FRAME_SECONDS = 0.03


class NoiseFloor:
    """The room's steady noise level, so that a fan or traffic is not heard as a voice that never ends.

    WebRTC's detector calls steady broadband noise speech until it has learnt it (4-8 s of
    white noise here): an utterance began with the noise and ended only when the noise did, so
    a one-second "stop" became seconds of audio, too long to be a command word, and waited for
    the noise to stop. Once it has learnt the noise, it misses some real words said over it
    (24 of 179 real words in white noise at 20 dB, bench/README.md, session 12).

    The floor is the quietest frame of the last ``window`` seconds (minimum statistics: speech
    dips between words, noise does not; synthetic sentences ran 1.5 s without a dip, so 3 s;
    a new noise is learnt in as long). A frame is a voice only ``margin_db`` above it, or within
    ``hold`` frames after one that was (WebRTC's own hangover after a word, which the
    endpointer's hangover was tuned with). In a noisy room (a floor at ``noisy_db`` or more,
    about -55 dBFS) a frame ``strong_db`` above the floor is a voice even where WebRTC says
    not. In a quiet room the floor lies far below any voice and changes nothing.
    """

    def __init__(self, window: float = 3.0, margin_db: float = 6.0, hold: int = 3,
                 noisy_db: float = 35.0, strong_db: float = 12.0):
        self._levels: deque[float] = deque(maxlen=max(1, round(window / FRAME_SECONDS)))
        self.margin_db, self.hold, self.noisy_db, self.strong_db = margin_db, hold, noisy_db, strong_db
        self._since_loud = hold + 1

    def voiced(self, frame: bytes, detector: bool) -> bool:
        """Note this frame's level; whether it is a voice, given what the voice detector said of it."""
        samples = array.array("h", frame)
        level = 10 * math.log10(sum(map(operator.mul, samples, samples)) / max(1, len(samples)) + 1.0)
        self._levels.append(level)
        floor = min(self._levels)
        self._since_loud = 0 if level >= floor + self.margin_db else self._since_loud + 1
        if self._since_loud > self.hold:
            return False
        return detector or (floor >= self.noisy_db and level >= floor + self.strong_db)


class VoiceActivity:
    """Speech/non-speech per 30 ms frame, with start detection and a running count of trailing quiet.

    Speech starts when ``start_voiced`` of the last ``start_window`` frames are
    voiced (one click or breath is not enough); the frames before that point,
    up to ``pre_roll`` seconds, are handed over with the first speech frame. A
    frame is voiced as the room's noise ``floor`` judges it, from WebRTC's
    detector and the frame's level (None: WebRTC alone).
    """

    def __init__(self, sample_rate: int = 16000, mode: int | None = None, pre_roll: float = 0.3,
                 start_window: int = 7, start_voiced: int = 5, floor: NoiseFloor | None = None):
        from pocketsphinx import Vad

        self._vad = Vad(Vad.STRICT if mode is None else mode, sample_rate, FRAME_SECONDS)
        self._floor = floor
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
        # Both hear every frame: WebRTC's detector adapts to what it hears, and so does the floor.
        voiced = self._vad.is_speech(frame)
        if self._floor is not None:
            voiced = self._floor.voiced(frame, voiced)
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
