"""The sound libraries write to descriptor 2 below Python; while devices are open that goes to a log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from companion.app.native_noise import native_stderr_logged

SCRIPT = textwrap.dedent("""\
    import os, sys
    from pathlib import Path
    from companion.app.native_noise import native_stderr_logged
    with native_stderr_logged(Path(sys.argv[1])) as log:
        os.write(2, b"ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred\\n")  # what C code does
        print("NOTE: the companion's own message", file=sys.stderr)
    print("after: shown again", file=sys.stderr)
    os.write(2, b"after: descriptor 2 is the terminal again\\n")
""")


def test_c_library_lines_go_to_the_log_and_python_messages_still_show(tmp_path: Path):
    log = tmp_path / "audio.log"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "underrun occurred" not in done.stderr
    assert "NOTE: the companion's own message" in done.stderr
    assert "after: shown again" in done.stderr and "after: descriptor 2 is the terminal again" in done.stderr
    assert "underrun occurred" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_under_a_capturing_test_runner_it_changes_nothing(tmp_path: Path, capsys):
    with native_stderr_logged(tmp_path / "audio.log") as log:
        print("captured as usual", file=sys.stderr)
    assert log is None and "captured as usual" in capsys.readouterr().err


def test_a_real_session_keeps_its_own_messages_on_stderr(tmp_path: Path):
    """With no sound card the notices about it still reach the person (they are Python's, not ALSA's)."""
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "companion", "run", "wall-standing", "--keyboard", "--text",
                           "--no-voice"], input="stop\n", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "SESSION STOPPED" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
