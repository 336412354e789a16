"""Echo cancellation: the companion's own voice taken out of its microphone (real WebRTC AEC3).

The room is simulated (``testset.Room`` and ``testset.EchoPath``: a direct path and reflections),
so these tests show the canceller wired and working on a linear echo; a real
loudspeaker's distortion is harder. bench/echo.py measures the same over every
cue of every routine.
"""

from __future__ import annotations

import array
import math
import tempfile
from pathlib import Path

import pytest

from companion.speech.tts import speaker as sp
from companion.speech.tts.speaker import DUCK_GAIN
from companion.speech.audio.echo import (LOOKAHEAD_SECONDS, READY_AFTER_SECONDS, EchoCancellerUnavailable, EchoCancellingSource,
                                   StreamResampler, WebRtcEchoCanceller, open_echo_canceller)
from companion.speech.audio.segmenter import FRAME_BYTES, Segmenter, split_frames
from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer
from bench.testset import EchoPath, Room, SteppedClock, add_noise, overlay, synthesize
from companion.language.understanding import Understanding
from companion.speech.audio.wav import _pcm_array, _pcm_bytes, resample
from companion.language.vocabulary import load_vocabulary

PLAY_RATE = 22050
STEP = int(PLAY_RATE * FRAME_BYTES / 2 / 16000) * 2  # played bytes per 30 ms microphone frame


def canceller() -> WebRtcEchoCanceller:
    try:
        return WebRtcEchoCanceller(clock=SteppedClock())
    except EchoCancellerUnavailable as exc:
        pytest.skip(str(exc))


def played_and_heard(tts, text: str) -> tuple[bytes, bytes]:
    """The sentence as the speaker plays it (22050 Hz) and as the microphone's converter gets it (16 kHz)."""
    with tempfile.TemporaryDirectory() as folder:
        played = sp.synthesise(tts, text, Path(folder) / "cue.wav")
    return played, _pcm_bytes(resample(_pcm_array(played), PLAY_RATE))


def in_room(aec, played: bytes, played_16k: bytes, extra: bytes, gain_db: float = 0.0,
            volume=lambda: 1.0) -> bytes:
    """What the microphone gives (through the canceller, if any) while the companion plays ``played``.
    One room per canceller (and one without), carried on from sentence to sentence."""
    key = (id(aec), gain_db)
    if key not in ROOMS:
        ROOMS[key] = Room(EchoPath(1, gain_db), aec, aec._clock if aec else None, PLAY_RATE, FRAME_BYTES)
    return b"".join(ROOMS[key].run(played, played_16k, extra, volume))


ROOMS: dict = {}


def room_noise(seconds: float, seed: int, snr_db: float = 30) -> bytes:
    return add_noise(bytes(int(seconds * 16000) * 2), snr_db, seed=seed, signal_power=1600 ** 2)


def power_db(pcm: bytes) -> float:
    samples = _pcm_array(pcm)
    return 10 * math.log10(max(1.0, sum(v * v for v in samples) / max(1, len(samples))))


def test_its_own_voice_is_taken_out_of_the_microphone(tts):
    aec = canceller()
    played, heard = played_and_heard(tts, "Stand with your back to a wall. Let your upper back, your shoulders "
                                          "and your buttocks touch it, and breathe slowly.")
    noise = room_noise(len(heard) / 32000, seed=1, snr_db=45)
    echo = in_room(None, played, heard, noise)
    cleaned = in_room(aec, played, heard, noise)
    settled = int(2.0 * 16000) * 2  # after two seconds of its own voice
    reduction = power_db(echo[settled:]) - power_db(cleaned[settled:])
    assert reduction > 20, f"echo only {reduction:.1f} dB quieter"


def test_a_persons_voice_passes_when_nothing_plays():
    aec = canceller()
    said = add_noise(synthesize("stop now") + bytes(16000), 30, seed=2)
    cleaned = in_room(aec, b"", b"", said)
    assert abs(power_db(cleaned) - power_db(said[:len(cleaned)])) < 3
    vocabulary = load_vocabulary()
    segmenter = Segmenter(PocketSphinxRecognizer(vocabulary.grammar("commands")), vocabulary.meaning)
    heard = [u.recognition.text for f in split_frames(cleaned + bytes(16000)) if (u := segmenter.feed(f))]
    assert heard == ["stop now"]


def test_ready_only_after_it_has_heard_itself_for_a_while():
    aec = canceller()
    seconds = READY_AFTER_SECONDS + 0.1
    quiet = bytes(int(seconds * 16000) * 2)
    in_room(aec, b"", b"", quiet)  # silence with nothing playing teaches it nothing
    assert not aec.ready()
    tone = array.array("h", (int(3000 * math.sin(i / 7)) for i in range(int(seconds * PLAY_RATE)))).tobytes()
    in_room(aec, tone, _pcm_bytes(resample(_pcm_array(tone), PLAY_RATE)), quiet)
    assert aec.ready()


def test_a_failing_canceller_lets_audio_through_and_is_never_ready():
    aec = canceller()
    aec._heard_playing = 10_000

    class Broken:
        def process_reverse_stream(self, frame):
            raise RuntimeError("native library gone")

    aec._apm = Broken()
    frame = bytes(range(256)) * 3 + bytes(192)
    assert aec.clean(frame) == frame
    assert not aec.ready() and "native library gone" in aec.failed
    aec.played(b"\1\0" * 100, PLAY_RATE)  # and the speaker is never held up by it


def test_the_reference_is_paired_by_the_clock_not_by_turns():
    """The speaker writes 50 ms chunks, the listener reads 30 ms frames, unevenly: what the canceller
    pairs with a microphone frame is what played during it, and gaps in playback are silence."""
    clock = SteppedClock()
    aec = WebRtcEchoCanceller(clock=clock)
    seen = []
    aec._apm = type("Spy", (), {"process_reverse_stream": lambda self, f: seen.append(bytes(f.data.cast("B"))),
                                "set_stream_delay_ms": lambda self, ms: None,
                                "process_stream": lambda self, f: None})()
    marks = array.array("h", [0] * 1600)  # 100 ms at 16 kHz; sample k carries the value k
    for k in range(1600):
        marks[k] = k
    clock.now = 10.0
    aec.played(marks[:800].tobytes(), 16000)  # 0-50 ms
    aec.played(marks[800:].tobytes(), 16000)  # 50-100 ms, queued straight after
    for frame_end in (10.03, 10.06, 10.09, 10.12, 10.15):
        clock.now = frame_end
        aec.clean(bytes(FRAME_BYTES))
    got = _pcm_array(b"".join(seen))
    ahead = round(LOOKAHEAD_SECONDS * 16000)  # each microphone sample meets the audio this much later
    assert list(got[:1600 - ahead]) == list(range(ahead, 1600))  # in order, none skipped or repeated
    assert not any(got[1600 - ahead:])  # nothing played after 100 ms: silence
    clock.now = 20.0  # a long gap, then more speech: laid out from now, not after the old speech
    aec.played(marks[:960].tobytes(), 16000)
    seen.clear()
    clock.now = 20.03
    aec.clean(bytes(FRAME_BYTES))
    assert list(_pcm_array(b"".join(seen))) == list(range(ahead, ahead + 480))


def test_audio_thrown_away_by_an_interruption_is_not_expected_back():
    """Stop aborts the sound card: what was handed over but not played must not be paired with the
    microphone, nor push the next sentence later than it really plays."""
    clock = SteppedClock()
    aec = WebRtcEchoCanceller(clock=clock)
    clock.now = 10.0
    aec.played(bytes([1, 0]) * 16000, 16000)  # one second handed over
    clock.now = 10.2
    aec.cut()  # stopped 0.2 s in
    assert aec._timeline.read(round(10.5 * 16000), 160) == bytes(320)
    clock.now = 10.3
    aec.played(bytes([2, 0]) * 1600, 16000)  # the next sentence starts now, not at 11.0
    assert aec._timeline.read(round(10.3 * 16000), 160) == bytes([2, 0]) * 160


def test_playback_nobody_listens_to_does_not_pile_up():
    aec = canceller()
    second = bytes(PLAY_RATE * 2)
    for _ in range(30):
        aec.played(second, PLAY_RATE)
    assert aec._timeline._ring.nbytes <= 5 * 16000 * 2  # a few seconds, however much was played


def test_the_resampler_holds_nothing_back():
    """A click played at 50 ms comes out at 50 ms, in the same push: the reference never trails its echo."""
    resampler = StreamResampler(PLAY_RATE, 16000)
    click = array.array("h", [0] * PLAY_RATE)
    click[int(0.05 * PLAY_RATE)] = 20000
    pieces = [resampler.push(click[i:i + 1102].tobytes()) for i in range(0, PLAY_RATE, 1102)]
    assert abs(sum(len(p) for p in pieces) // 2 - 16000) <= 1
    assert all(abs(len(p) // 2 - 1102 * 16000 / PLAY_RATE) < 2 for p in pieces[:-1])  # the last is short
    out = _pcm_array(b"".join(pieces))
    assert max(range(len(out)), key=lambda i: abs(out[i])) in (799, 800, 801)


def test_the_wrapped_microphone_keeps_its_lost_reason_and_closes():
    class Mic:
        lost = None
        closed = False

        def frames(self):
            yield bytes(FRAME_BYTES)
            self.lost = "the microphone was unplugged"

        def close(self):
            self.closed = True

    class Passing:
        def clean(self, frame):
            return b"x" * len(frame)

    mic = Mic()
    source = EchoCancellingSource(mic, Passing())
    assert list(source.frames()) == [b"x" * FRAME_BYTES]
    assert source.lost == "the microphone was unplugged"
    source.close()
    assert mic.closed


def test_without_livekit_it_says_so_and_what_that_means(monkeypatch):
    import companion.speech.audio.echo as echo

    def missing():
        raise EchoCancellerUnavailable("the livekit package is missing. Fix: pip install livekit")

    monkeypatch.setattr(echo, "WebRtcEchoCanceller", missing)
    aec, problem = open_echo_canceller()
    assert aec is None and "pip install livekit" in problem and "only a clearly heard stop" in problem


# -- with the real recogniser ---------------------------------------------------------------

WALL_CUES = ["Stand with your back to a wall. Let your upper back, your shoulders and your buttocks touch it.",
             "Stop whenever this becomes uncomfortable, and say stop to end.", "3.", "2.", "1.",
             "Time is up. You can step away from the wall now.", "Keep your chin level and breathe easily."]


def test_its_own_voice_through_the_canceller_triggers_nothing(tts):
    """Self-echo with the canceller: every cue comes back through the room; nothing is acted on."""
    vocabulary = load_vocabulary()
    segmenter = Segmenter(PocketSphinxRecognizer(vocabulary.grammar("commands")), vocabulary.meaning)
    aec = canceller()
    understanding = Understanding(vocabulary, echo_cancelled=aec.ready)
    acted, heard_raw, heard_cleaned = [], 0, 0
    for seed, text in enumerate(WALL_CUES * 2):  # twice: learning the room, then learnt
        played, heard = played_and_heard(tts, text)
        noise = room_noise(len(heard) / 32000 + 0.5, seed=seed)
        for frame in split_frames(in_room(None, played, heard, noise, gain_db=6)):
            heard_raw += segmenter.feed(frame) is not None
        heard_raw += segmenter.flush() is not None
        for frame in split_frames(in_room(aec, played, heard, noise, gain_db=6)):
            if (utterance := segmenter.feed(frame)) is not None:
                heard_cleaned += 1
                decision = understanding.decide(utterance.recognition, speaking=True, speaking_text=text)
                if decision.kind != "ignore":
                    acted.append((text, utterance.recognition))
        segmenter.flush()
    print("utterances heard from its own voice, raw/cleaned:", heard_raw, heard_cleaned)
    assert acted == []
    assert aec.ready()
    assert heard_cleaned < heard_raw / 4, (heard_cleaned, heard_raw)  # most of its voice is simply gone


def stops_understood(tts, aec, duck: bool) -> int:
    """A person says "stop now" over each long cue; how many times the session would stop or pause."""
    vocabulary = load_vocabulary()
    segmenter = Segmenter(PocketSphinxRecognizer(vocabulary.grammar("commands")), vocabulary.meaning)
    understanding = Understanding(vocabulary, echo_cancelled=aec.ready if aec else lambda: False)
    volume = [1.0]
    if duck:  # as LiveIO wires it: quieter while someone talks over the companion
        segmenter.on_speech = lambda started: volume.__setitem__(0, DUCK_GAIN if started and aec.ready() else 1.0)
    played, heard = played_and_heard(tts, WALL_CUES[0])
    in_room(aec, played, heard, room_noise(len(heard) / 32000, seed=99))  # the room is learnt
    stop = synthesize("stop now")
    understood = 0
    for seed, text in enumerate(WALL_CUES * 3):
        played, heard = played_and_heard(tts, text)
        if len(heard) < 2 * 16000 * 2:
            continue
        said = overlay(room_noise(len(heard) / 32000 + 0.5, seed=seed), stop, 0.4 + 0.3 * (seed % 4))
        for frame in split_frames(in_room(aec, played, heard, said, volume=lambda: volume[0])):
            if (utterance := segmenter.feed(frame)) is not None:
                decision = understanding.decide(utterance.recognition, speaking=True, speaking_text=text)
                understood += decision.label == "stop"
        segmenter.flush()
        volume[0] = 1.0
    return understood


def test_a_stop_said_over_its_voice_is_understood_with_the_canceller_and_ducking(tts):
    """Without the canceller no stop said over the companion's voice is sure enough to count; with it
    and ducking some are (bench/echo.py measures how many: far from all)."""
    counts = {"raw": stops_understood(tts, None, duck=False),
              "cancelled": stops_understood(tts, canceller(), duck=False),
              "cancelled+ducking": stops_understood(tts, canceller(), duck=True)}
    print("stops understood over its voice:", counts)
    assert counts["raw"] == 0  # without the canceller only a sure stop counts over its voice
    assert counts["cancelled+ducking"] >= 1, counts


def test_a_microphone_frame_waits_briefly_for_audio_the_speaker_has_not_handed_over_yet():
    """A sound card with a short buffer: the speaker is less than the look-ahead in front."""
    import threading
    import time as real_time

    clock = SteppedClock()
    aec = WebRtcEchoCanceller(clock=clock)
    clock.now = 10.0
    aec.played(bytes(2) * 480, 16000)  # 30 ms, playing now
    clock.now = 10.03
    later = threading.Timer(0.02, lambda: aec.played(bytes(2) * 800, 16000))
    later.start()
    started = real_time.monotonic()
    aec.clean(bytes(FRAME_BYTES))  # needs audio up to 10.055: waits for the next hand-over
    waited = real_time.monotonic() - started
    later.join()
    assert 0.015 < waited < 0.06 + 0.05
    clock.now = 30.0  # long after playback ended: nothing to wait for
    started = real_time.monotonic()
    aec.clean(bytes(FRAME_BYTES))
    assert real_time.monotonic() - started < 0.015
