"""A real-time fake microphone for end-to-end tests: a private PulseAudio daemon with a null sink.

Audio played into the null sink ``fake`` comes back, in real time, from its monitor source
``fake.monitor``, which is made the default source. ALSA's ``default`` device (what
PortAudio/sounddevice open by default) is pointed at that daemon through the ALSA pulse
plugin, so a program that records "from the microphone" hears what the test plays.

Usage::

    from fakemic import fake_microphone, run_with_mic   # or use the ``fake_mic`` fixture

    with fake_microphone() as mic:
        proc = mic.popen([sys.executable, "-m", "companion", ...])   # records from "default"
        ...wait until it listens...
        mic.play("tests/data/speech/stop.wav")                         # blocks ~ audio length
        result = run_with_mic([...], mic.env)

Important: PortAudio reads the ALSA configuration once, when sounddevice is imported, so
the recording side must run in a *subprocess* started with ``mic.env`` (``run_with_mic``,
``mic.popen``); a test process that already imported sounddevice keeps its old devices.

A low-latency keep-alive recorder stays attached to ``fake.monitor`` (see ``_keep_awake``),
so, as with a real sound card, a new recorder's first callback comes within ~50 ms of
starting its stream and ``play()`` returns when the audio has been played. Still wait
for the recorder to signal that it listens before playing: audio played earlier is lost.

Needs the Debian packages ``pulseaudio pulseaudio-utils libasound2-plugins``. When the
daemon cannot start, ``fake_microphone()`` calls ``pytest.skip`` with the reason, unless
``COMPANION_REQUIRE_FAKEMIC=1`` is set (as CI may do), in which case the test fails.

Works as root without ``--system``: PulseAudio only warns "This program is not intended to
be run as root" and runs, as long as it gets its own HOME/XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import site
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SINK = "fake"
SOURCE = "fake.monitor"
RATE = 16000
CHANNELS = 1
INSTALL_HINT = "install pulseaudio pulseaudio-utils libasound2-plugins"
REQUIRE_ENV = "COMPANION_REQUIRE_FAKEMIC"

_START_TIMEOUT = 10.0
# Without it the player waits for a 2 s prebuffer before starting, so it returns late.
_LOW_LATENCY = ["--latency-msec=50"]


class FakeMicUnavailable(RuntimeError):
    """PulseAudio (or a tool or plugin the fake microphone needs) is missing or refused to run."""


@dataclass
class FakeMic:
    """A running fake microphone. ``env`` is the environment a recording subprocess must use."""

    env: dict[str, str]
    device: dict[str, Any]
    root: Path
    daemon: subprocess.Popen
    _players: list[subprocess.Popen] = field(default_factory=list)

    @property
    def server(self) -> str:
        return self.env["PULSE_SERVER"]

    # -- playing into the fake microphone ---------------------------------------------

    def play(self, audio: str | os.PathLike | bytes | bytearray | memoryview, *,
             wait: bool = True, timeout: float = 120.0) -> float | subprocess.Popen:
        """Play audio into the sink in real time; returns the seconds it took (about its length).

        ``audio`` is a WAV file path (any rate/channels; Pulse resamples), WAV bytes, or raw
        16 kHz mono signed 16-bit little-endian PCM bytes. With ``wait=False`` the player
        process is returned at once (it is killed at teardown if still running).
        """
        start = time.monotonic()
        stdin_data: bytes | None = None
        if isinstance(audio, (str, os.PathLike)):
            cmd = ["paplay", f"--device={SINK}", *_LOW_LATENCY, os.fspath(audio)]
        else:
            data = bytes(audio)
            if data[:4] == b"RIFF":
                fd, path = tempfile.mkstemp(suffix=".wav", dir=self.root)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                cmd = ["paplay", f"--device={SINK}", *_LOW_LATENCY, path]
            else:
                if len(data) % 2:
                    raise ValueError("raw PCM must be whole 16-bit samples")
                cmd = ["pacat", "--playback", "--raw", f"--device={SINK}", "--format=s16le",
                       f"--rate={RATE}", f"--channels={CHANNELS}", *_LOW_LATENCY]
                stdin_data = data
        proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.PIPE if stdin_data is not None else None,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if wait else subprocess.DEVNULL)
        self._players.append(proc)
        if not wait:
            if stdin_data is not None:
                # Feed the pipe from a thread so the caller is not blocked by the pipe buffer.
                def feed() -> None:
                    with contextlib.suppress(BrokenPipeError, ValueError):
                        proc.stdin.write(stdin_data)
                        proc.stdin.close()

                threading.Thread(target=feed, daemon=True).start()
            return proc
        try:
            _, err = proc.communicate(stdin_data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        return time.monotonic() - start

    # -- the recording side: subprocesses with the prepared environment -------------------

    def run(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        return run_with_mic(args, self.env, **kwargs)

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        env = {**self.env, **kwargs.pop("env", {})}
        return subprocess.Popen(list(args), env=env, **kwargs)

    def pactl(self, *args: str, timeout: float = 5.0) -> str:
        return _run_tool(["pactl", *args], self.env, timeout)


def run_with_mic(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60.0,
                 **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``args`` in a subprocess whose ALSA ``default`` device is the fake microphone.

    Output is captured as text unless the caller passes its own stdout/stderr/text options.
    """
    kwargs.setdefault("text", True)
    kwargs.setdefault("check", False)
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.setdefault("capture_output", True)
    return subprocess.run(list(args), env=dict(env), timeout=timeout, **kwargs)


# -- starting and stopping ----------------------------------------------------------------

def _run_tool(cmd: list[str], env: Mapping[str, str], timeout: float) -> str:
    proc = subprocess.run(cmd, check=False, env=dict(env), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _missing_requirements() -> str | None:
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat", "paplay") if shutil.which(tool) is None]
    if missing:
        return "not installed: " + ", ".join(missing)
    plugin_dirs = ["/usr/lib/*/alsa-lib", "/usr/lib64/alsa-lib", "/usr/lib/alsa-lib", "/usr/local/lib/alsa-lib"]
    if not any(glob.glob(os.path.join(d, "libasound_module_pcm_pulse.so")) for d in plugin_dirs):
        return "the ALSA pulse plugin (libasound_module_pcm_pulse.so, package libasound2-plugins) is not installed"
    return None


def _short_tempdir() -> Path:
    # A unix socket path must stay under ~107 bytes; pytest's tmp_path can be longer.
    root = Path(tempfile.mkdtemp(prefix="fakemic-"))
    if len(str(root)) > 60:
        shutil.rmtree(root, ignore_errors=True)
        root = Path(tempfile.mkdtemp(prefix="fakemic-", dir="/tmp"))
    return root


def _alsa_config(server: str) -> str:
    return (
        "# Written by tests/fakemic.py: ALSA 'default' is the private PulseAudio daemon.\n"
        f'pcm.!default {{ type pulse server "{server}" }}\n'
        f'ctl.!default {{ type pulse server "{server}" }}\n'
        f'pcm.pulse {{ type pulse server "{server}" }}\n'
        f'ctl.pulse {{ type pulse server "{server}" }}\n'
    )


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(grace)


def _start(root: Path, started: list[subprocess.Popen]) -> FakeMic:
    reason = _missing_requirements()
    if reason:
        raise FakeMicUnavailable(reason)

    run_dir, home = root / "run", root / "home"
    pulse_dir = run_dir / "pulse"
    for d in (run_dir, home, pulse_dir):
        d.mkdir(mode=0o700)
    socket_path = run_dir / "native"
    server = f"unix:{socket_path}"

    client_conf = root / "client.conf"
    client_conf.write_text(f"autospawn = no\ndefault-server = {server}\n")
    asound_conf = root / "asound.conf"
    asound_conf.write_text(_alsa_config(server))

    # The daemon gets its own HOME (cookie, state) and runtime dir; nothing of the user's.
    daemon_env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "DBUS_"))}
    daemon_env.update(HOME=str(home), XDG_RUNTIME_DIR=str(run_dir), PULSE_RUNTIME_PATH=str(pulse_dir),
                      XDG_CONFIG_HOME=str(home / ".config"), PULSE_CLIENTCONFIG=str(client_conf))
    daemon_env.pop("DISPLAY", None)

    # Clients keep the caller's HOME (pyenv shims, user site-packages and the like depend on
    # it) but reach only this daemon: PULSE_SERVER for libpulse, ALSA_CONFIG_PATH for ALSA.
    # Our file is read after the system one, so its pcm.!default wins over ~/.asoundrc.
    alsa_main = os.environ.get("ALSA_CONFIG_PATH") or "/usr/share/alsa/alsa.conf"
    client_env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    client_env.update(
        PULSE_SERVER=server,
        PULSE_CLIENTCONFIG=str(client_conf),
        PULSE_RUNTIME_PATH=str(pulse_dir),
        XDG_RUNTIME_DIR=str(run_dir),
        ALSA_CONFIG_PATH=f"{alsa_main}:{asound_conf}",
        PYTHONUSERBASE=os.environ.get("PYTHONUSERBASE", site.getuserbase()),
    )

    log_path = root / "pulseaudio.log"
    cmd = [
        "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
        "--disallow-exit", "--log-target=stderr", "--log-level=notice",
        f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket_path}",
        (f"--load=module-null-sink sink_name={SINK} rate={RATE} channels={CHANNELS} format=s16le"
         " sink_properties=device.description=FakeMicrophone"),
    ]
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(cmd, env=daemon_env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    started.append(daemon)  # registered at once, so a failed start below still stops it
    mic = FakeMic(env=client_env, device={}, root=root, daemon=daemon)

    def log_tail() -> str:
        try:
            lines = log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        lines = [ln for ln in lines if "not intended to be run as root" not in ln]
        return " | ".join(lines[-4:])

    deadline = time.monotonic() + _START_TIMEOUT
    last_error = "no socket yet"
    while True:
        if daemon.poll() is not None:
            raise FakeMicUnavailable(f"pulseaudio exited with status {daemon.returncode}: {log_tail()}")
        if socket_path.exists():
            try:
                mic.pactl("info", timeout=3)
                break
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                last_error = str(e)
        if time.monotonic() > deadline:
            raise FakeMicUnavailable(f"pulseaudio did not answer within {_START_TIMEOUT:.0f} s "
                                     f"({last_error}): {log_tail()}")
        time.sleep(0.05)

    try:
        mic.pactl("set-default-sink", SINK)
        mic.pactl("set-default-source", SOURCE)
        info = mic.pactl("info")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        raise FakeMicUnavailable(f"could not configure pulseaudio: {e}") from e
    defaults = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    if defaults.get("Default Source") != SOURCE or defaults.get("Default Sink") != SINK:
        raise FakeMicUnavailable(f"defaults not applied: {defaults}")
    try:
        _keep_awake(mic, started)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        if isinstance(e, FakeMicUnavailable):
            raise
        raise FakeMicUnavailable(f"could not wake the null sink: {e}") from e
    mic.device.update({
        "alsa_device": "default",  # what PortAudio/sounddevice open by default in the subprocess
        "sink": SINK,
        "source": SOURCE,
        "samplerate": RATE,
        "channels": CHANNELS,
        "format": "s16le",
        "server": server,
        "pulseaudio_pid": daemon.pid,
        "pulseaudio_version": defaults.get("Server Version", "?"),
    })
    return mic


def _keep_awake(mic: FakeMic, started: list[subprocess.Popen]) -> None:
    """Keep the null sink ticking every ~20 ms, as a real sound card would.

    An idle null sink sleeps for its maximum latency (2 s) at a time. Then a new recorder's
    first callback comes 1-2 s after it opened the stream, and a player's drain returns 2 s
    late. A low-latency recorder attached for the daemon's whole life prevents both; the
    suspend/resume cycle cuts short the 2 s sleep the sink starts in.
    """
    keeper = subprocess.Popen(
        ["pacat", "--record", "--raw", f"--device={SOURCE}", "--format=s16le", f"--rate={RATE}",
         f"--channels={CHANNELS}", "--latency-msec=20", "--client-name=fakemic-keepalive"],
        env=mic.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    started.append(keeper)
    flowing = threading.Event()

    def drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            while keeper.stdout.read1(65536):
                flowing.set()

    threading.Thread(target=drain, name="fakemic-keepalive", daemon=True).start()
    deadline = time.monotonic() + 5
    while not mic.pactl("list", "short", "source-outputs").strip():
        if keeper.poll() is not None or time.monotonic() > deadline:
            raise FakeMicUnavailable("the keep-alive recorder (pacat --record) did not connect")
        time.sleep(0.02)
    mic.pactl("suspend-sink", SINK, "1")
    mic.pactl("suspend-sink", SINK, "0")
    if not flowing.wait(5):
        raise FakeMicUnavailable("no audio flows from the null sink's monitor")
    mic.device["keepalive_pid"] = keeper.pid


@contextlib.contextmanager
def fake_microphone(*, skip: bool | None = None) -> Iterator[FakeMic]:
    """Start a private PulseAudio fake microphone; always tear it down.

    If it cannot start: ``pytest.skip`` (default), or ``FakeMicUnavailable`` is raised when
    ``skip=False`` or the environment variable ``COMPANION_REQUIRE_FAKEMIC=1`` is set.
    """
    if skip is None:
        skip = os.environ.get(REQUIRE_ENV, "") in ("", "0")
    root = _short_tempdir()
    mic: FakeMic | None = None
    daemons: list[subprocess.Popen] = []  # pulseaudio and its keep-alive recorder
    try:
        try:
            mic = _start(root, daemons)
        except FakeMicUnavailable as e:
            if skip:
                pytest.skip(f"PulseAudio could not start: {e}; {INSTALL_HINT}")
            raise
        yield mic
    finally:
        if mic is not None:
            for player in mic._players:
                _stop(player, grace=1.0)
        for proc in reversed(daemons):  # keep-alive recorder, then the daemon
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fake_mic() -> Iterator[FakeMic]:
    """Pytest fixture around ``fake_microphone()`` (skips when PulseAudio cannot start)."""
    with fake_microphone() as mic:
        yield mic
