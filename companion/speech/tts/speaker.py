"""Speech out: a synthesiser makes the samples, we play them ourselves.

Why not ``pyttsx3.say()``: it plays through ``aplay`` and cannot be
interrupted (measured here: ``stop()`` blocked for 10 s of a 12 s sentence),
and "stop" must silence the companion at once. So one thread owns the
synthesiser (pyttsx3 allows one engine per process, from one thread),
synthesises each utterance, and plays it in short chunks through a sounddevice
stream that :meth:`SynthesisSpeaker.interrupt` can abort.

Two synthesisers (:mod:`companion.speech.tts.synthesis`): flite's slt voice,
the clearest here, wherever ``flite`` is installed, and espeak-ng through
pyttsx3 otherwise (:func:`clearest_voice`). A voice named in a person's profile
picks its own synthesiser: "slt", "rms", "awb" or "kal16" flite, any other an
espeak-ng voice. pyttsx3 writes each utterance to a WAV file and the speaker
checks the file really has audio (the driver sometimes writes an empty one).
Everything is played at 22050 Hz (espeak-ng's rate; flite's 16 kHz is
resampled), so the sound card never changes rate when the voice does.
"""

from __future__ import annotations

import array
import math
import queue
import shutil
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from companion.content.phrases import load_phrases
from companion.speech.ports import Speaker
from companion.speech.tts import flite
# SpeechUnavailable moved to .synthesis (flite raises it too); it is still importable from here.
from companion.speech.tts.synthesis import Speech, SpeechUnavailable, Synthesiser, SynthesisError, resampled

CHUNK_SECONDS = 0.05
ECHO_MARGIN = 0.3  # seconds after the device's reported output latency in which our own voice may still be heard
# While someone talks over the companion it speaks this much quieter (a factor on the samples),
# so that what they say reaches the recogniser above its voice (see speech/echo.py).
DUCK_GAIN = 0.1  # -20 dB
PLAYER_AHEAD_CHUNKS = 2  # chunks synthesised speech may wait for the player (the rest waits in the synthesiser)
VOLUME_STEP, MIN_VOLUME, MAX_VOLUME = 0.15, 0.3, 1.0
MIN_RATE, MAX_RATE = 90, 260
OUTPUT_RATE = 22050  # the player's sample rate, whichever synthesiser speaks


@dataclass(frozen=True)
class Voice:
    rate: int = 160
    volume: float = 1.0
    voice: str | None = None


def _quiet_driver() -> None:
    """The espeak driver prints 'Audio saved to ...' for every file; keep the terminal clean."""
    try:
        from pyttsx3.drivers import espeak as driver
    except Exception:  # noqa: BLE001 - any import failure is reported by open_engine
        return
    driver.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def installed_voices(which: Callable[[str], str | None] = shutil.which) -> set[str]:
    """Voice names a profile may use here: flite's ("slt", ...) and espeak-ng's ids and names
    (empty when speech cannot start)."""
    program = flite.find_flite(which)
    names = {v for v in flite.installed_voices(program) if v in flite.VOICES} if program else set()
    try:
        engine = open_engine(Voice())
    except SpeechUnavailable:
        return names
    voices = engine.getProperty("voices")
    espeak = {v.id for v in voices} | {v.name for v in voices}
    return names | espeak | {n.split("/")[-1] for n in espeak}


def clearest_voice(which: Callable[[str], str | None] = shutil.which) -> str:
    """The clearest voice installed here: flite's "slt" where flite has it, else "" (espeak-ng's default)."""
    program = flite.find_flite(which)
    return flite.DEFAULT_VOICE if program and flite.DEFAULT_VOICE in flite.installed_voices(program) else ""


def is_flite_voice(name: str) -> bool:
    return name in flite.VOICES


def open_synthesiser(name: str = "", which: Callable[[str], str | None] = shutil.which) -> Synthesiser:
    """The synthesiser for a profile's voice name ("": the clearest installed), or
    :class:`SpeechUnavailable` saying what is missing (an unknown name included)."""
    name = name or clearest_voice(which)
    if is_flite_voice(name):
        return flite.FliteSynthesiser(name, which=which)
    try:
        return Pyttsx3Synthesiser(open_engine(Voice(voice=name or None)), name)
    except SpeechUnavailable as exc:
        program = flite.find_flite(which)
        if not name:  # no flite with slt either (else clearest_voice would have named it)
            raise SpeechUnavailable(f"{exc} (or, for a clearer voice: {flite.FIX_FLITE})") from None
        have = [v for v in flite.VOICES if program and v in flite.installed_voices(program)]
        if have:
            raise SpeechUnavailable(f"{exc}; flite's voices here: {', '.join(have)}") from None
        raise


def open_engine(voice: Voice) -> Any:
    """Initialise pyttsx3 or raise :class:`SpeechUnavailable` with the fix."""
    try:
        import pyttsx3
    except ImportError as exc:
        raise SpeechUnavailable(f"pyttsx3 is not installed ({exc}). Fix: pip install pyttsx3") from None
    _quiet_driver()
    try:
        engine = pyttsx3.init()
    except Exception as exc:  # noqa: BLE001 - pyttsx3 raises many kinds here
        raise SpeechUnavailable(
            f"the espeak-ng speech library could not be loaded ({exc}). "
            "Fix: sudo apt-get install libespeak-ng1"
        ) from None
    engine.setProperty("rate", voice.rate)
    engine.setProperty("volume", voice.volume)
    if voice.voice:
        voices = engine.getProperty("voices")
        known = {v.id for v in voices} | {v.name for v in voices}
        by_short = {v.id.split("/")[-1]: v.id for v in voices}
        if voice.voice not in known and voice.voice in by_short:
            voice = Voice(voice.rate, voice.volume, by_short[voice.voice])
        if voice.voice not in known | set(by_short):
            raise SpeechUnavailable(f"there is no voice called '{voice.voice}'; 'espeak-ng --voices' lists them")
        engine.setProperty("voice", voice.voice)
    return engine


def synthesise(engine: Any, text: str, path: Path, rate: int = Voice.rate) -> bytes:
    """Speak ``text`` into ``path`` at ``rate`` words a minute; return its 16-bit mono frames; retry once if empty.

    The rate goes first into the text as an embedded command: espeak-ng keeps an
    embedded rate for every later utterance of the process, so one slow sentence
    (a caregiver's pace) slowed all speech after it, and what a test or a doctor
    check heard depended on what was said before. It is given, not read back:
    pyttsx3 2.99 calls espeak_GetParameter without its ``current`` argument, so
    ``getProperty("rate")`` returned different rates from one call to the next.
    """
    text = f"\x01{int(rate)}S{text}"  # a rate in the text itself comes later, and wins
    for _ in range(2):
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        try:
            with wave.open(str(path), "rb") as wav:
                frames = wav.readframes(wav.getnframes())
        except (OSError, EOFError, wave.Error):
            frames = b""
        if frames:
            return frames
    raise RuntimeError(f"speech synthesis produced no audio for: {text[:40]!r}")


def _voice_id(name: str, engine: Any = None) -> str:
    """'en-gb-x-rp' -> the engine's id for it ('gmw/en-gb-x-rp' here); unchanged when unknown."""
    try:
        if engine is None:
            import pyttsx3

            engine = pyttsx3.init()
        for voice in engine.getProperty("voices"):
            if name in (voice.id, voice.name, voice.id.split("/")[-1]):
                return voice.id
    except Exception:  # noqa: BLE001 - keep the current voice rather than fail mid-session
        pass
    return name


class Pyttsx3Synthesiser:
    """espeak-ng through pyttsx3, into a WAV file in its own temporary folder (removed on close).

    The rate goes into the text as espeak's embedded command ``\\x01<wpm>S`` (:func:`synthesise`): with
    pyttsx3 2.99, ``setProperty("rate")`` after the first utterance was often
    ignored here (the first rate stayed for every later sentence in most short
    runs tried; espeak-ng runs asynchronously under pyttsx3), so a slower pace
    was not heard; the embedded command worked every time.
    """

    name = "espeak-ng"

    def __init__(self, engine: Any, voice: str = ""):
        self._engine = engine
        self.voice = voice
        self._voice_set = voice  # what the engine speaks with now ("" the voice it was opened with)
        self._tmp = tempfile.TemporaryDirectory(prefix="companion-tts-")
        self._engine.setProperty("volume", 1.0)  # the player sets the volume, as for every synthesiser

    def synthesise(self, text: str, rate: int, voice: str = "") -> Speech:
        wanted = voice or self.voice
        if wanted and wanted != self._voice_set:
            ident = _voice_id(wanted, self._engine)
            if ident != wanted or wanted in {v.id for v in self._engine.getProperty("voices")}:
                self._engine.setProperty("voice", ident)  # an unknown name keeps the voice in use
                self._voice_set = wanted
        rate = int(min(450, max(80, rate)))
        try:
            pcm = synthesise(self._engine, text, Path(self._tmp.name) / "utterance.wav", rate=rate)
            return Speech(pcm, OUTPUT_RATE)
        except RuntimeError as exc:
            raise SynthesisError(str(exc)) from None

    def close(self) -> None:
        self._tmp.cleanup()


def tone(seconds: float = 0.15, freq: float = 880.0, rate: int = OUTPUT_RATE) -> bytes:
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(seconds * rate))))
    return samples.tobytes()


def scaled(pcm: bytes, gain: float) -> bytes:
    """16-bit samples times ``gain`` (the same bytes when the gain is 1)."""
    if gain == 1.0:
        return pcm
    return array.array("h", (int(v * gain) for v in array.array("h", pcm))).tobytes()


def open_output_stream(rate: int = OUTPUT_RATE) -> Any:
    """A raw 16-bit mono output stream, or :class:`SpeechUnavailable` saying what is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise SpeechUnavailable(
            f"the PortAudio sound library is missing ({exc}). Fix: sudo apt-get install libportaudio2"
        ) from None
    try:
        sd.query_devices(kind="output")
        return sd.RawOutputStream(samplerate=rate, channels=1, dtype="int16")
    except Exception as exc:  # noqa: BLE001 - PortAudioError and ValueError both mean "no device"
        raise SpeechUnavailable(
            f"no audio output device was found ({exc}). Connect speakers or headphones, "
            "or check the sound settings ('python3 -m sounddevice' lists the devices it can see)"
        ) from None


class SynthesisSpeaker(Speaker):
    """Speaks queued sentences with a :class:`Synthesiser`; interruptible within one chunk (50 ms).

    Two threads: one synthesises sentences (pyttsx3 wants one engine on one
    thread), the other plays their chunks. Between sentences the player keeps
    the sound card fed with silence, so it never runs dry: a sound card that
    runs dry restarts with a different delay (and ALSA prints "underrun
    occurred" on the terminal), which the echo canceller would have to find
    again at the start of every sentence, letting the companion's voice through.

    Volume and ducking are a gain on the samples as they are played, whichever
    synthesiser made them; rate and voice go to the synthesiser, in order with
    the sentences. A voice of the other synthesiser (a profile naming "slt" while
    espeak-ng speaks, or "en-gb-x-rp" while flite does) opens that one on first use.
    """

    def __init__(self, synthesiser: Synthesiser, voice: Voice = Voice(), stream: Any = None,
                 open_other: Callable[[str], Synthesiser] = open_synthesiser):
        self._synthesisers = {synthesiser.name: synthesiser}  # used by the synthesis thread only
        self._open_other = open_other
        self._stream = stream if stream is not None else open_output_stream(OUTPUT_RATE)
        self.synthesiser = synthesiser  # the one speaking now
        self.voice = voice
        self.volume = voice.volume
        self.rate = voice.rate
        self.echo_tail = float(getattr(self._stream, "latency", 0.0) or 0.0) + ECHO_MARGIN
        self._speaking_until = 0.0
        self._current = ""
        self._queue: "queue.Queue[tuple[int, str, str] | None]" = queue.Queue()
        self._generation = 0
        self._lock = threading.Lock()
        self._taps: list[Callable[[bytes, int], None]] = []
        self._cut_taps: list[Callable[[], None]] = []
        self._gain = 1.0
        self._chunks: "queue.Queue[tuple[int, bytes, bool] | None]" = queue.Queue(maxsize=PLAYER_AHEAD_CHUNKS)
        self._outstanding = 0  # chunks of sentences handed to the player and not yet played or dropped
        self._thread = threading.Thread(target=self._work, daemon=True, name="speaker")
        self._thread.start()
        self._player = threading.Thread(target=self._run_player, daemon=True, name="speaker-player")
        self._player.start()

    def say(self, text: str) -> None:
        self._queue.put((self._generation, "say", text))

    def duck(self, on: bool) -> None:
        """Speak much quieter from the next chunk on (someone is talking over us), or normally again."""
        self._gain = DUCK_GAIN if on else 1.0

    def add_tap(self, tap: Callable[[bytes, int], None], cut: Callable[[], None] | None = None) -> bool:
        """``tap(pcm, rate)`` gets each chunk just before it is played (the echo canceller's reference);
        ``cut()`` is called when playback is cut off, so what was handed over will never play."""
        self._taps.append(tap)
        if cut is not None:
            self._cut_taps.append(cut)
        return True

    def change_volume(self, step: int) -> float:
        """One step louder (+1) or quieter (-1), within bounds, from the next chunk on; returns the new volume."""
        self.volume = min(MAX_VOLUME, max(MIN_VOLUME, round(self.volume + step * VOLUME_STEP, 2)))
        return self.volume

    def set_voice(self, rate: int, volume: float, name: str = "") -> None:
        """A person's own speech rate, volume and voice (from their profile)."""
        self.voice = Voice(rate=rate, volume=volume, voice=name or self.voice.voice)
        self.rate, self.volume = rate, volume
        self._queue.put((self._generation, "rate", str(rate)))
        if name:
            self._queue.put((self._generation, "voice", name))

    def set_pace(self, pace: float) -> int:
        """Slower sessions get slower speech too (never below a clear minimum)."""
        self.rate = int(min(MAX_RATE, max(MIN_RATE, self.voice.rate / pace ** 0.5)))
        self._queue.put((self._generation, "rate", str(self.rate)))
        return self.rate

    def speaking_text(self) -> str:
        """The sentence being played (or last played, within the echo tail)."""
        return self._current if self.speaking() else ""

    def speaking(self) -> bool:
        """Still talking, or within the echo tail after the last sound left the speaker."""
        return self._outstanding > 0 or not self._queue.empty() or time.monotonic() < self._speaking_until

    def beep(self, tone_name: str) -> None:
        self._queue.put((self._generation, "beep", tone_name))

    def interrupt(self) -> None:
        with self._lock:
            self._generation += 1
            try:
                self._stream.abort()
            except Exception:  # noqa: BLE001 - aborting an idle stream may complain; nothing to do
                pass
        kept = []  # rate and voice changes still apply; only speech is dropped
        for waiting in (self._queue, self._chunks):
            try:
                while True:
                    item = waiting.get_nowait()
                    if waiting is self._chunks and item is not None:
                        self._played_one(last=False)
                    elif waiting is self._queue and item is not None and item[1] not in ("say", "beep"):
                        kept.append(item)
            except queue.Empty:
                pass
        for item in kept:
            self._queue.put(item)
        for cut in self._cut_taps:
            cut()

    def close(self) -> None:
        """Let queued speech finish (the last words of a session matter), then release the device."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        try:
            self._chunks.put(None, timeout=5)
        except queue.Full:
            pass  # the player is stuck on a dead device: it is a daemon thread, leave it
        self._player.join(timeout=5)
        try:
            self._stream.close()
        except Exception:  # noqa: BLE001 - closing a device that went away
            pass
        if not self._thread.is_alive():  # a synthesiser still busy is left to its thread
            for synthesiser in self._synthesisers.values():
                synthesiser.close()

    def idle(self) -> bool:
        return self._queue.empty() and self._outstanding == 0

    def _work(self) -> None:
        rate, name = self.voice.rate, self.voice.voice or ""
        while (item := self._queue.get()) is not None:
            generation, kind, payload = item
            if kind == "rate":
                rate = int(payload)
                continue
            if kind == "voice":
                name = payload
                self._use_synthesiser_for(name)
                continue
            if generation != self._generation:
                continue
            try:
                audio = tone(freq=660 if payload == "end" else 880) if kind == "beep" else self._speak(
                    payload, rate, name)
            except RuntimeError:  # SynthesisError: this sentence is lost, not the speaker
                continue
            if kind == "say":
                self._current = payload
            self._play(audio, generation)

    def _speak(self, text: str, rate: int, name: str) -> bytes:
        speech = self.synthesiser.synthesise(text, rate, name)
        return resampled(speech.pcm, speech.rate, OUTPUT_RATE)

    def _use_synthesiser_for(self, name: str) -> None:
        """Switch to the synthesiser that has voice ``name``; keep the current one if it cannot start."""
        kind = flite.FliteSynthesiser.name if is_flite_voice(name) else Pyttsx3Synthesiser.name
        if kind not in self._synthesisers:
            try:
                self._synthesisers[kind] = self._open_other(name)
            except SpeechUnavailable:
                return  # the profile named a voice this machine cannot speak: keep the voice in use
        self.synthesiser = self._synthesisers[kind]

    def _play(self, audio: bytes, generation: int) -> None:
        """Hand a sentence to the player, a chunk at a time (waits while the player is far enough ahead)."""
        step = int(OUTPUT_RATE * CHUNK_SECONDS) * 2
        starts = range(0, len(audio), step)
        with self._lock:
            self._outstanding += len(starts)
        for index, start in enumerate(starts):
            if generation != self._generation:  # interrupted: the rest is never played
                with self._lock:
                    self._outstanding = max(0, self._outstanding - (len(starts) - index))
                return
            try:
                self._chunks.put((generation, audio[start:start + step], index == len(starts) - 1), timeout=5)
            except queue.Full:  # the player is stuck (a dead device): give up this sentence
                with self._lock:
                    self._outstanding = max(0, self._outstanding - (len(starts) - index))
                return

    def _played_one(self, last: bool) -> None:
        with self._lock:
            self._outstanding = max(0, self._outstanding - 1)
            if last or self._outstanding == 0:
                self._speaking_until = time.monotonic() + self.echo_tail

    def _run_player(self) -> None:
        silence = bytes(int(OUTPUT_RATE * CHUNK_SECONDS) * 2)
        while True:
            try:
                # Playing: the write itself keeps time, so silence flows at exactly the playback rate.
                item = self._chunks.get_nowait() if not self._stream.stopped else self._chunks.get(timeout=0.1)
            except queue.Empty:
                if not self._stream.stopped and not self._write(silence):  # keep the card fed between sentences
                    time.sleep(CHUNK_SECONDS)  # a failing device: do not spin
                continue
            if item is None:
                return
            generation, chunk, last = item
            try:
                with self._lock:  # never restart a stream that interrupt() has just stopped
                    current = generation == self._generation
                    if current and self._stream.stopped:
                        self._stream.start()
                if current and not self._write(scaled(chunk, self._gain * self.volume)):
                    time.sleep(CHUNK_SECONDS)
            except Exception:  # noqa: BLE001 - the device failed to start: this chunk is lost, not the speaker
                time.sleep(CHUNK_SECONDS)
            finally:
                self._played_one(last)

    def _write(self, chunk: bytes) -> bool:
        """Play one chunk; False when the device refused it (aborted by interrupt(), or gone)."""
        for tap in self._taps:
            tap(chunk, OUTPUT_RATE)
        try:
            self._stream.write(chunk)
            return True
        except Exception:  # noqa: BLE001 - aborted mid-write by interrupt(), or the device went away
            return False


class Pyttsx3Speaker(SynthesisSpeaker):
    """The speaker with espeak-ng through pyttsx3 (``engine``: an engine from :func:`open_engine`)."""

    def __init__(self, voice: Voice = Voice(), engine: Any = None, stream: Any = None):
        synthesiser = Pyttsx3Synthesiser(engine if engine is not None else open_engine(voice), voice.voice or "")
        try:
            super().__init__(synthesiser, voice, stream)
        except SpeechUnavailable:
            synthesiser.close()
            raise


def open_speaker(which: Callable[[str], str | None] = shutil.which) -> tuple["SpeakerOutput | None", str | None]:
    """The speaker with the clearest voice installed (:func:`clearest_voice`) as an output, or None and
    the one sentence (in the language in use) that says why speech is off."""
    try:
        synthesiser = open_synthesiser("", which)
        try:
            return SpeakerOutput(SynthesisSpeaker(synthesiser)), None
        except SpeechUnavailable:
            synthesiser.close()
            raise
    except SpeechUnavailable as exc:
        return None, load_phrases().speech_off.format(reason=exc)


class SpeakerOutput:
    """Adapts a :class:`Speaker` to the runner's record stream: it speaks ``say`` records."""

    def __init__(self, speaker: Speaker):
        self.speaker = speaker

    def write(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "say":
            self.speaker.say(record["text"])
        elif kind == "beep":
            self.speaker.beep(record["text"])
        elif kind == "voice":
            self.speaker.change_volume(record["volume_step"])
        elif kind == "state":
            self.speaker.set_pace(record["pace"])

    def speaking(self) -> bool:
        return self.speaker.speaking()

    def speaking_text(self) -> str:
        return self.speaker.speaking_text()

    def interrupt(self) -> None:
        self.speaker.interrupt()

    def close(self) -> None:
        self.speaker.close()
