"""Real time, through a fake microphone: `companion run` hears spoken commands from PulseAudio.

The companion runs as its own process (PortAudio picks its devices at start),
listening on ALSA's default device, which a private PulseAudio daemon routes
to a null sink. We play synthesized commands into that sink, as a person
speaking into a microphone would, and read what the session does.
Skipped, with the reason, where PulseAudio cannot start.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import subprocess
import sys
import threading
import time

import pytest

from bench.testset import EspeakUnavailable, add_noise, pad, synthesize


def spoken(text: str) -> bytes:
    try:
        return add_noise(pad(synthesize(text)), 30, seed=len(text))
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to speak into the fake microphone: {exc}")


class Session:
    def __init__(self, mic, tmp_path, args=("run", "wall-standing", "--text")):
        env = {**mic.env, "COMPANION_HOME": str(tmp_path)}
        self.proc = mic.popen([sys.executable, "-m", "companion", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return True
        return False


@contextlib.contextmanager
def listening_session(mic, tmp_path, args=("run", "wall-standing", "--text")):
    """A running `companion` that has started listening; killed afterwards if still running."""
    session = Session(mic, tmp_path, args)
    try:
        if not session.wait_for("Listening:", 30):
            pytest.fail("the companion did not start listening:\n" + "\n".join(session.seen[-20:]))
        yield session
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
        session.proc.wait(timeout=10)


def test_spoken_commands_reach_a_running_session(fake_mic, tmp_path):
    with listening_session(fake_mic, tmp_path) as session:
        time.sleep(0.5)
        assert stop_by_voice(fake_mic, session), "no spoken stop was acted on:\n" + "\n".join(session.seen[-20:])


def stop_by_voice(mic, session, patience: float = 90.0) -> bool:
    """Say stop (a few ways, again and again, as a person would when not understood) until the session ends.

    When asked whether to end, keep answering yes every couple of seconds: while the companion is
    still asking it hears nothing but stop, so the first yes after the question is the one that
    counts. No fixed waits: on a busy machine this only takes longer, it does not fail.
    """
    stops = itertools.cycle(("stop now", "stop", "stop it", "stop please", "halt"))
    end = time.monotonic() + patience
    while time.monotonic() < end:
        if any("SESSION STOPPED" in line for line in session.seen):
            return True
        mic.play(spoken(next(stops)))
        if not session.wait_for("Do you want to end the session", 4):
            continue
        asked_until = time.monotonic() + 20
        answers = itertools.cycle(("yes", "yes please"))
        while time.monotonic() < min(asked_until, end):
            mic.play(spoken(next(answers)))
            if session.wait_for("SESSION STOPPED", 2):
                return True
    return any("SESSION STOPPED" in line for line in session.seen)


def say_until(mic, session, attempts, needle, timeout=4.0) -> bool:
    for text in attempts:
        mic.play(spoken(text))
        if session.wait_for(needle, timeout):
            return True
    return False


def test_the_home_menu_starts_a_session_by_voice(fake_mic, tmp_path):
    session = Session(fake_mic, tmp_path, ("home", "--text"))
    try:
        if not session.wait_for("what's due", 30):
            pytest.fail("the home menu did not start:\n" + "\n".join(session.seen[-20:]))
        time.sleep(0.5)
        fake_mic.play(spoken("start wall standing"))
        end = time.monotonic() + 15  # the name may be checked by Whisper first (about a second)
        started = False
        while time.monotonic() < end and not started:
            if session.wait_for("Start Wall standing?", 0.5):  # asked, or asked again briefly: say yes
                time.sleep(1.0)  # as a person does, once the question has been heard
                fake_mic.play(spoken("yes"))
            started = any("WALL STANDING" in line for line in session.seen) or session.wait_for("WALL STANDING", 0.5)
        assert started, "\n".join(session.seen[-20:])
        assert stop_by_voice(fake_mic, session), "\n".join(session.seen[-20:])
        # stop_by_voice's own wait may already have read the line (a stop acted on at once)
        assert any("What next?" in line for line in session.seen) or session.wait_for("What next?", 10), \
            "\n".join(session.seen[-20:])
        assert say_until(fake_mic, session, ("goodbye", "bye", "that's all"), "Goodbye"), "\n".join(session.seen[-20:])
        session.proc.wait(timeout=10)
        assert session.proc.returncode == 0
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
        session.proc.wait(timeout=10)


def test_with_speech_on_it_ignores_its_own_voice_and_still_hears_stop(fake_mic, tmp_path):
    """The companion speaks into the fake room: its own voice comes straight back through the
    microphone (the null sink's monitor). For half a minute of cues nothing it hears of itself may
    change the session; then a spoken stop still ends it."""
    with listening_session(fake_mic, tmp_path, ("run", "wall-standing")) as session:
        session.wait_for("no such line: just listen to it talk", 30)
        acted = [line for line in session.seen if "YOU SAID" in line and "not a command" not in line]
        assert acted == [], "\n".join(session.seen)
        assert not any("(paused" in line for line in session.seen), "\n".join(session.seen)
        assert any("Stand with your back to a wall" in line for line in session.seen)
        noise = [line for line in session.seen if "ALSA lib" in line or "Expression '" in line]
        assert noise == [], "the sound libraries' own lines reached the screen:\n" + "\n".join(noise)
        assert stop_by_voice(fake_mic, session), \
            "no spoken stop was acted on:\n" + "\n".join(session.seen[-20:])


def test_a_microphone_that_goes_silent_is_restarted_then_the_session_pauses_and_says_so(fake_mic, tmp_path):
    # Suspending the sink stops the monitor source: PortAudio's stream stays active and delivers
    # nothing, as seen live after an ALSA underrun. Nobody could say stop to a deaf companion, so
    # after a restart that brings nothing back the session pauses and tells the user why.
    with listening_session(fake_mic, tmp_path) as session:
        fake_mic.pactl("suspend-sink", "fake", "1")
        try:
            assert session.wait_for("Pausing", 20), \
                "a silent microphone did not pause the session:\n" + "\n".join(session.seen[-20:])
        finally:
            fake_mic.pactl("suspend-sink", "fake", "0")
        said = "\n".join(session.seen[-5:])
        assert "The microphone sent no sound" in said and "even after it was restarted" in said
        log = (tmp_path / "audio-libraries.log").read_text(errors="replace")
        assert "restarting it" in log
