"""The command-line contract: list, show, check, run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from companion.cli import main
from tests.conftest import DATA

BROKEN = DATA / "broken"
GOLDEN = DATA / "transcripts"
SCRIPTS = DATA / "scripts"


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_routine_and_programme_with_duration(capsys, library):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for entry_id in library.ids():
        assert re.search(rf"^\s+{re.escape(entry_id)}\s+\d+:\d\d\s+\S", out, re.M), entry_id


def test_list_json(capsys, library):
    code, out, _ = run_cli(capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["id"] for r in rows} == set(library.ids())
    wall = next(r for r in rows if r["id"] == "wall-standing")
    assert wall["kind"] == "routine" and wall["duration_seconds"] > 300


def test_show_gives_steps_timings_warnings_and_sources(capsys):
    code, out, _ = run_cli(capsys, "show", "wall-standing")
    assert code == 0
    assert "Safety: Stop whenever this becomes uncomfortable" in out
    assert "How often: 3 times a day" in out
    assert "Hold for 5 minutes" in out
    assert "Total: about" in out and "392:" in out


def test_show_unknown_id_suggests_close_names(capsys):
    code, _, err = run_cli(capsys, "show", "wall-stand")
    assert code == 1 and "Did you mean: wall-standing" in err


def test_check_passes_on_the_shipped_routines(capsys):
    code, out, _ = run_cli(capsys, "check")
    assert code == 0 and out.startswith("OK: 11 routines and 2 programmes")


def fixtures():
    return sorted(p for p in BROKEN.glob("*.yaml") if not p.stem.endswith(("-a", "-b")))


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
def test_check_reports_every_broken_fixture_as_file_line_field(capsys, path):
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert lines and all(re.match(rf"^{re.escape(str(path))}:\d+: \S+: .+", line) for line in lines), out


def test_check_reports_a_duplicate_id_across_files(capsys):
    code, out, _ = run_cli(capsys, "check", str(BROKEN / "duplicate-id-a.yaml"), str(BROKEN / "duplicate-id-b.yaml"))
    assert code == 1 and "duplicate-id-b.yaml" in out and "duplicate id" in out


def test_run_refuses_when_routines_are_broken(capsys):
    code, _, err = run_cli(capsys, "--routines", str(BROKEN), "run", "wall-standing", "--virtual-clock")
    assert code == 1 and "problem(s)" in err


def test_run_with_a_bad_script_says_where(capsys, tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("10 pause\nlater stop\n")
    code, _, err = run_cli(capsys, "run", "wall-standing", "--virtual-clock", "--script", str(script))
    assert code == 2 and f"{script}:2:" in err


def test_virtual_clock_preview_runs_the_whole_session_at_once(capsys):
    code, out, _ = run_cli(capsys, "run", "wall-standing", "--virtual-clock", "--text")
    assert code == 0
    assert "4 minutes left" in out and "SESSION COMPLETED" in out
    assert re.search(r"Session completed after 6:\d\d", out)


def transcript(capsys, entry_id, script):
    code, out, _ = run_cli(capsys, "run", entry_id, "--virtual-clock", "--script", str(script), "--json")
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("entry_id, script", [
    ("wall-standing", "wall-standing-pause-resume-stop"),
    ("flying-swallow", "flying-swallow-navigation"),
])
def test_run_virtual_clock_script_produces_the_expected_transcript(capsys, entry_id, script):
    records = transcript(capsys, entry_id, SCRIPTS / f"{script}.txt")
    golden = GOLDEN / f"{script}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected = [json.loads(line) for line in golden.read_text().splitlines()]
    assert records == expected


def test_json_lines_have_the_contract_fields(capsys):
    records = transcript(capsys, "wall-standing", SCRIPTS / "wall-standing-pause-resume-stop.txt")
    for record in records:
        assert {"t", "who", "kind", "text"} <= record.keys()
        assert record["who"] in ("companion", "user")
    heard = [r for r in records if r["who"] == "user"]
    assert [r["command"] for r in heard] == ["pause", "how_long_left", "resume", "how_many_left", "purpose", "stop"]
    times = [r["t"] for r in records]
    assert times == sorted(times)
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "stopped"


def test_keyboard_and_virtual_clock_do_not_mix(capsys):
    code, _, err = run_cli(capsys, "run", "wall-standing", "--virtual-clock", "--keyboard")
    assert code == 2 and "--script" in err


def test_console_script_and_module_entry_points(tmp_path):
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    for command in (["companion"], [sys.executable, "-m", "companion"]):
        done = subprocess.run([*command, "list"], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0 and "wall-standing" in done.stdout, done.stderr


def test_run_without_a_speaker_says_so_once_and_carries_on_in_text(capsys, monkeypatch, tmp_path):
    from companion.speech.tts import speaker

    def no_device(*args, **kwargs):
        raise speaker.SpeechUnavailable("no audio output device was found (test). Connect speakers")

    monkeypatch.setattr(speaker, "open_output_stream", no_device)
    script = tmp_path / "s.txt"
    script.write_text("0.3 pause\n0.6 stop\n")
    code, out, _ = run_cli(capsys, "run", "wall-standing", "--script", str(script))
    assert code == 0
    assert out.count("Speech is off: no audio output device was found") == 1
    assert "Carrying on in text." in out
    assert "YOU SAID: 'pause'" in out and "SESSION STOPPED" in out


def test_check_names_the_line_of_a_broken_screening_file(tmp_path, monkeypatch, capsys):
    import shutil

    from companion.content.locale import lang_dir

    folder = tmp_path / "en"
    shutil.copytree(lang_dir("en"), folder)
    text = (folder / "screening.yaml").read_text(encoding="utf-8")
    (folder / "screening.yaml").write_text(text.replace("flag: fever", "flag: feverish"), encoding="utf-8")
    monkeypatch.setenv("COMPANION_LANG", str(folder))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "flag: fever" in row)
    assert f"screening.yaml:{line}: questions[4].flag: unknown red flag 'feverish'" in out
