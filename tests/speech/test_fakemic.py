"""The real-time fake microphone (tests/fakemic.py): PulseAudio null sink -> ALSA default input.

A subprocess records from sounddevice's default input while this process plays a known
1 kHz tone into the fake sink; the recording must contain the tone, at the right level,
for the right length, and the recorder must have run in real time.
"""

from __future__ import annotations

import array
import json
import math
import queue
import subprocess
import sys
import threading
import time
import wave

import pytest

from tests.fakemic import FakeMicUnavailable, fake_microphone, run_with_mic  # noqa: E402

RATE = 16000
WINDOW = 800  # 50 ms; 1 kHz sits exactly on bin 50
TONE_HZ = 1000.0
TONE_AMPLITUDE = 0.5 * 32767
RECORD_SECONDS = 3.0

# Runs in the subprocess: records RECORD_SECONDS from the default input, counted from the
# first callback, prints READY at that first callback and a JSON summary at the end.
RECORDER = r"""
import json, sys, threading, time
import sounddevice as sd

seconds, out = float(sys.argv[1]), sys.argv[2]
rate = 16000
need = int(seconds * rate) * 2
buf = bytearray()
first, done = threading.Event(), threading.Event()
info = {"status": []}

def callback(indata, frames, t, status):
    now = time.monotonic()
    if status:
        info["status"].append(str(status))
    if done.is_set():
        return
    if not first.is_set():
        info["first"], info["first_frames"] = now, frames
        first.set()
    buf.extend(indata)
    if len(buf) >= need:
        info["done"], info["frames"] = now, len(buf) // 2
        done.set()

t0 = time.monotonic()
dev = sd.query_devices(kind="input")
with sd.RawInputStream(samplerate=rate, channels=1, dtype="int16", blocksize=800, callback=callback):
    if not first.wait(10):
        sys.exit("no input callback within 10 s")
    print("READY", flush=True)
    if not done.wait(seconds + 10):
        sys.exit("recording stalled")
with open(out, "wb") as f:
    f.write(bytes(buf[:need]))
print(json.dumps({
    "device": dev["name"],
    "hostapi": sd.query_hostapis(dev["hostapi"])["name"],
    "open_to_first_callback": info["first"] - t0,
    "wall": info["done"] - info["first"],
    "audio": (info["frames"] - info["first_frames"]) / rate,
    "status": info["status"],
}), flush=True)
"""


def tone(seconds: float, rate: int = RATE) -> bytes:
    n = int(seconds * rate)
    return array.array("h", (round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / rate))
                             for i in range(n))).tobytes()


def tone_amplitude(samples: array.array, start: int, n: int, rate: int = RATE) -> float:
    """Goertzel: amplitude of the TONE_HZ component in samples[start:start+n]."""
    coeff = 2 * math.cos(2 * math.pi * TONE_HZ / rate)
    s1 = s2 = 0.0
    for x in samples[start:start + n]:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / n


def rms(samples: array.array, start: int, n: int) -> float:
    return math.sqrt(sum(x * x for x in samples[start:start + n]) / n)


def read_lines(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line.rstrip("\n"))
    q.put(None)


def test_recorder_subprocess_hears_played_tone_in_real_time(fake_mic, tmp_path):
    out = tmp_path / "rec.raw"
    t_spawn = time.monotonic()
    proc = fake_mic.popen([sys.executable, "-c", RECORDER, str(RECORD_SECONDS), str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=15)
        except queue.Empty:
            first = None
        if first != "READY":
            proc.kill()
            err = proc.communicate()[1]
            if "PortAudio library not found" in err:
                pytest.skip("sounddevice needs libportaudio2")
            pytest.fail(f"recorder did not start: {first!r} {err[-800:]}")
        t_ready = time.monotonic()
        played = fake_mic.play(tone(1.0))  # raw 16 kHz PCM through pacat, blocks ~1 s
        proc.wait(timeout=RECORD_SECONDS + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, err[-800:]
    summary = json.loads(lines.get(timeout=5))

    # The subprocess really opened ALSA's "default", and it was routed to the fake microphone.
    assert summary["device"] == "default" and summary["hostapi"] == "ALSA", summary
    assert not summary["status"], summary  # no overflows
    # Real time: the recorder's callbacks delivered 3 s of audio in about 3 s of wall time,
    # and playing 1 s of audio took about 1 s.
    assert abs(summary["wall"] - summary["audio"]) < 0.3, summary
    assert 0.9 < played < 1.6, played

    samples = array.array("h", out.read_bytes())
    assert len(samples) == RECORD_SECONDS * RATE
    windows = [(tone_amplitude(samples, i, WINDOW), rms(samples, i, WINDOW))
               for i in range(0, len(samples), WINDOW)]
    loud = [k for k, (amp, _) in enumerate(windows) if amp > 0.5 * TONE_AMPLITUDE]
    assert loud, f"no tone in the recording; window amplitudes {[round(a) for a, _ in windows]}"
    assert loud == list(range(loud[0], loud[-1] + 1)), loud          # one contiguous tone ...
    assert 19 <= len(loud) <= 21, len(loud)                           # ... about 1.0 s long
    onset = loud[0] * WINDOW / RATE
    assert onset < 1.0, f"tone began {onset:.2f} s into the recording"
    for k in loud[1:-1]:                                              # whole windows inside the tone
        amp, r = windows[k]
        assert abs(amp - TONE_AMPLITUDE) < 0.05 * TONE_AMPLITUDE, (k, amp)
        assert (amp / math.sqrt(2)) / r > 0.99, (k, amp, r)          # correlation with a pure 1 kHz sine
    for k, (_, r) in enumerate(windows):                              # silence around it
        if k < loud[0] - 1 or k > loud[-1] + 1:
            assert r < 0.01 * TONE_AMPLITUDE, (k, r)

    print(f"\nspawn->READY {t_ready - t_spawn:.2f} s (open->first callback "
          f"{summary['open_to_first_callback']:.2f} s), play {played:.2f} s, "
          f"recorder wall {summary['wall']:.3f} s for {summary['audio']:.3f} s audio, tone onset {onset:.2f} s")


def test_defaults_wav_playback_and_teardown(tmp_path):
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:  # 22.05 kHz like pyttsx3's output: Pulse resamples it
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(tone(0.5, rate=22050))

    with fake_microphone() as mic:
        root, daemon = mic.root, mic.daemon
        assert mic.device["source"] == "fake.monitor" and mic.device["sink"] == "fake"
        assert mic.pactl("get-default-source").strip() == "fake.monitor"
        assert mic.pactl("get-default-sink").strip() == "fake"
        assert mic.env["PULSE_SERVER"] == mic.device["server"]

        # Record the monitor with pacat while paplay plays the WAV file.
        rec = mic.popen(["pacat", "--record", "--raw", "--device=fake.monitor", "--format=s16le",
                         "--rate=16000", "--channels=1", "--latency-msec=50"], stdout=subprocess.PIPE)
        got = bytearray()
        listening = threading.Event()

        def reader_loop():
            while chunk := rec.stdout.read1(65536):
                got.extend(chunk)
                listening.set()

        reader = threading.Thread(target=reader_loop, daemon=True)
        reader.start()
        assert listening.wait(5), "pacat --record got no audio"
        played = mic.play(wav)
        time.sleep(0.2)
        rec.terminate()
        rec.wait(5)
        reader.join(5)
        assert 0.45 < played < 0.9, played
        samples = array.array("h", bytes(got[: len(got) // 2 * 2]))
        best = max(tone_amplitude(samples, i, WINDOW) for i in range(0, len(samples) - WINDOW, WINDOW))
        assert best > 0.9 * TONE_AMPLITUDE, best

        # run_with_mic: the subprocess sees the daemon through the prepared env.
        r = run_with_mic(["pactl", "get-default-source"], mic.env)
        assert r.returncode == 0 and r.stdout.strip() == "fake.monitor", r

    assert daemon.poll() is not None, "pulseaudio still running after teardown"
    assert not root.exists(), "temporary dirs left behind"


def test_teardown_on_failure():
    with pytest.raises(RuntimeError, match="boom"), fake_microphone() as mic:
        root, daemon = mic.root, mic.daemon
        raise RuntimeError("boom")
    assert daemon.poll() is not None
    assert not root.exists()


def test_skips_or_fails_clearly_without_pulseaudio(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulseaudio, pactl, ... on PATH
    monkeypatch.delenv("COMPANION_REQUIRE_FAKEMIC", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PulseAudio could not start: not installed: pulseaudio"), \
            fake_microphone():
        pass
    monkeypatch.setenv("COMPANION_REQUIRE_FAKEMIC", "1")
    with pytest.raises(FakeMicUnavailable, match="not installed"), fake_microphone():
        pass
