"""flite (Debian ``flite``): the clearest voice found here, one ``flite`` process per sentence.

Whisper tiny.en, transcribing back all 278 sentences the companion says
(``bench/voices.py --limit 0``, 160 words a minute), had a word error rate of
5.9% on flite's slt voice, 5.7% rms, 7.8% awb, 12.0% kal16, and 16.0% on
espeak-ng's default voice; slt said the most sentences exactly right (189, rms
182, espeak-ng 115). A sentence takes flite (slt) 37-47 ms (median; 97-140 ms
at the 95th percentile, over those sentences on a busy 2-core machine), so a
process per sentence costs nothing a listener notices, and needs no binding.

``flite -voice slt --setf duration_stretch=X -t TEXT -o /dev/stdout``: the WAV
comes back through a pipe, so no file is ever left behind (``-o -`` would write
a file called "-"). Where there is no ``/dev/stdout`` it goes through a
temporary folder that is removed at once. flite quietly speaks with its default
voice when asked for one it does not have, so names are checked against
``flite -lv`` first.

Speed: flite has no words-per-minute setting, only ``duration_stretch`` (2 =
twice as long, linear). Its natural speed per voice (:data:`NATURAL_WPM`) was
measured as espeak-ng's rate setting means words per minute: words over the
whole synthesised sentence, its own silence before and after included (espeak-ng
asked for 160 gave 161 so, over the same cues). So a rate R is
``duration_stretch = natural / R``, and a profile's rate sounds about as fast
in either synthesiser. ``python bench/voices.py --calibrate`` measures it again.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from functools import lru_cache
from pathlib import Path
from typing import Callable

from companion.speech.tts.synthesis import Speech, SpeechUnavailable, SynthesisError

FIX_FLITE = "sudo apt-get install flite"
DEFAULT_VOICE = "slt"
# Clearest first (bench/voices.py, above). "kal" (8 kHz) and "awb_time" (only speaks the time) are left out.
VOICES = ("slt", "rms", "awb", "kal16")
# Words per minute at duration_stretch 1 over the 171 distinct session cues, whole sentences
# (from the first to the last sound only: slt 198, rms 177, kal16 213, awb 191; espeak-ng at 160: 183).
NATURAL_WPM = {"slt": 173, "rms": 159, "kal16": 187, "awb": 170}
MIN_STRETCH, MAX_STRETCH = 0.5, 2.5
TIMEOUT_SECONDS = 20


def find_flite(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The path of the ``flite`` program, or None."""
    return which("flite")


@lru_cache(maxsize=4)
def installed_voices(program: str) -> tuple[str, ...]:
    """The voices built into this ``flite`` ("Voices available: kal awb_time kal16 awb rms slt")."""
    try:
        done = subprocess.run([program, "-lv"], capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return ()
    _, _, names = done.stdout.partition(":")
    return tuple(names.split())


def duration_stretch(rate: int, voice: str = DEFAULT_VOICE) -> float:
    """flite's ``duration_stretch`` for ``rate`` words per minute in ``voice``."""
    stretch = NATURAL_WPM.get(voice, NATURAL_WPM[DEFAULT_VOICE]) / max(1, rate)
    return round(min(MAX_STRETCH, max(MIN_STRETCH, stretch)), 3)


class FliteSynthesiser:
    """One sentence, one ``flite`` process; mono 16-bit PCM at the voice's rate (16 kHz)."""

    name = "flite"

    def __init__(self, voice: str = DEFAULT_VOICE, program: str | None = None,
                 which: Callable[[str], str | None] = shutil.which):
        found = program or find_flite(which)
        if not found:
            raise SpeechUnavailable(f"flite is not installed. Fix: {FIX_FLITE}")
        self.program = found
        self.voices = tuple(v for v in VOICES if v in installed_voices(found))  # clearest first
        if voice not in self.voices:
            have = ", ".join(self.voices) or "none of " + ", ".join(VOICES)
            raise SpeechUnavailable(f"flite has no voice called '{voice}' (it has {have}). Fix: {FIX_FLITE}")
        self.voice = voice

    def synthesise(self, text: str, rate: int, voice: str = "") -> Speech:
        voice = voice if voice in self.voices else self.voice
        if not text.strip():
            raise SynthesisError("there is nothing to say")
        command = [self.program, "-voice", voice, "--setf", f"duration_stretch={duration_stretch(rate, voice)}",
                   "-t", text, "-o"]
        if os.path.exists("/dev/stdout"):
            wav = self._run([*command, "/dev/stdout"], text)
        else:
            with tempfile.TemporaryDirectory(prefix="companion-flite-") as folder:
                path = Path(folder) / "say.wav"
                self._run([*command, str(path)], text)
                wav = path.read_bytes() if path.exists() else b""
        try:
            with wave.open(io.BytesIO(wav), "rb") as reader:
                if reader.getnchannels() != 1 or reader.getsampwidth() != 2:
                    raise SynthesisError(f"flite wrote {reader.getnchannels()} channels of "
                                         f"{8 * reader.getsampwidth()}-bit audio, not mono 16-bit")
                pcm, sample_rate = reader.readframes(reader.getnframes()), reader.getframerate()
        except (EOFError, wave.Error) as exc:
            raise SynthesisError(f"flite wrote no usable audio for {text[:40]!r} ({exc})") from None
        if not pcm or not any(pcm):
            raise SynthesisError(f"flite wrote silence for {text[:40]!r}")
        return Speech(pcm, sample_rate)

    def _run(self, command: list[str], text: str) -> bytes:
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SynthesisError(f"flite could not be run for {text[:40]!r} ({exc})") from None
        if done.returncode != 0:
            said = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
            raise SynthesisError(f"flite failed (exit code {done.returncode}) for {text[:40]!r}: {said}")
        return done.stdout

    def close(self) -> None:
        """Nothing to release: each sentence is its own process."""
