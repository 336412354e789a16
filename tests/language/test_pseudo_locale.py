"""The language seam: a pseudo-translated language folder, and no English word reaches the user.

Two pseudo-languages are built from ``content/data/en`` in a temporary folder:

- "cyrillic": every Latin letter written as a Cyrillic one ("pause" -> "паусе"), words
  split by spaces (``tokens: words``). The old ASCII-only normaliser erased all of it.
- "han": every English word replaced by its own Chinese character, with no spaces
  between them (``tokens: characters``), as Chinese is written.

Each pseudo-translation is one-to-one, so phrases stay distinct and a pseudo "stop"
can be said in a ``--script``. A whole session then runs in a subprocess with
``COMPANION_LANG`` pointing at the folder, and its output is searched for the words of
the English phrases and vocabulary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from companion.content.library import load_library
from companion.content.locale import LANG_ENV, lang_dir
from companion.content.phrases import load_phrases
from companion.engine.cues import Say
from companion.engine.events import Command, Tick
from companion.engine.plan import Care, PlanBuilder, spoken_words
from companion.engine.session import Session
from companion.language.heard import Heard
from companion.language.interpret import Interpreter
from companion.language.vocabulary import load_vocabulary
from companion.speech.ports import Recognition
from tests.conftest import ROOT

EN = lang_dir("en")
PLACEHOLDER = re.compile(r"(\{[^{}]*\})")
ENGLISH_WORD = re.compile(r"[A-Za-z]+")

LATIN = "abcdefghijklmnopqrstuvwxyz"
CYRILLIC = "абцдефгхийклмнопярстувшжыз"  # one letter each, all distinct


def cyrillic(text: str) -> str:
    """Latin letters to Cyrillic, outside {placeholders}: "Set {number} of" -> "Сет {number} оф"."""
    table = str.maketrans(LATIN + LATIN.upper(), CYRILLIC + CYRILLIC.upper())
    return "".join(part if PLACEHOLDER.fullmatch(part) else part.translate(table) for part in PLACEHOLDER.split(text))


class Han:
    """Each distinct English word (as the vocabulary spells it) becomes one CJK character."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}

    def _char(self, match: re.Match[str]) -> str:
        word = match.group(0).lower().replace("'", "").replace("\u2019", "")
        return self.table.setdefault(word, chr(0x4E00 + len(self.table)))

    def __call__(self, text: str) -> str:
        parts = [part if PLACEHOLDER.fullmatch(part) else re.sub(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*", self._char, part)
                 for part in PLACEHOLDER.split(text)]
        # No spaces between words, numbers or the values put in later, as Chinese is written.
        return re.sub(r"(?<=[\u4e00-\u9fff}\d]) (?=[\u4e00-\u9fff{\d])", "", "".join(parts))


# Keys whose values are ids or settings, not words: they stay as they are.
KEEP = {"id", "kind", "flag", "first_aid", "routine", "then", "sides", "count", "lines", "supports", "not_for"}


def translate(data: object, say: Callable[[str], str]) -> object:
    """Every text value of a YAML tree through ``say``; mapping keys and :data:`KEEP` values untouched."""
    if isinstance(data, dict):
        return {k: v if k in KEEP else translate(v, say) for k, v in data.items()}
    if isinstance(data, list):
        return [translate(v, say) for v in data]
    if isinstance(data, str):
        return say(data)
    return data


def rewrite(path: Path, change: Callable[[dict], dict]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(change(data), allow_unicode=True, sort_keys=False), encoding="utf-8")


ROUTINES = {
    # No release and no finish: the language's default_release and default_finish are said.
    "pseudo-stretch.yaml": {
        "id": "pseudo-stretch", "title": "Gentle side stretch", "purpose": "It keeps the back supple.",
        "warnings": ["Stop if the pain spreads down your leg."],
        "steps": [
            {"say": "Stand with your feet apart. Keep your back straight."},
            {"hold": {"seconds": 75, "cue": "Lean gently to one side and stay there.", "count": "minutes",
                      "breathe": "Breathe slowly.", "comfort_check_every": 40}},
            {"rest": 20},
            {"reps": {"count": 2, "sets": 2, "sides": ["left", "right"], "move": "Reach up with one arm.",
                      "hold_seconds": 2, "rest_between_sets": 15}},
        ],
        "sources": [{"lines": "1", "quote": "A made-up source for a test."}],
    },
    "pseudo-breath.yaml": {
        "id": "pseudo-breath", "title": "Quiet breathing", "purpose": "It calms you down.",
        "steps": [{"hold": {"seconds": 5, "cue": "Breathe in and hold it.", "count": "up"}}],
        "finish": "Breathing is done for now.",
        "sources": [{"lines": "2", "quote": "Another made-up source."}],
    },
    "pseudo-programme.yaml": {
        "id": "pseudo-programme", "kind": "programme", "title": "Short test programme",
        "purpose": "Two exercises with a rest between.",
        "items": [{"routine": "pseudo-stretch"}, {"rest": 10}, {"routine": "pseudo-breath"}],
    },
}


def build(tmp_path: Path, name: str, say: Callable[[str], str], tokens: str) -> tuple[Path, Path]:
    """A pseudo-language folder and a routines folder, both in ``say``'s words."""
    folder = tmp_path / name
    shutil.copytree(EN, folder)
    (folder / "locale.yaml").write_text(f"name: {name}\ntokens: {tokens}\n", encoding="utf-8")
    for file in ("phrases.yaml", "vocabulary.yaml", "screening.yaml", "progression.yaml"):
        rewrite(folder / file, lambda data: translate(data, say))

    def advice(data: dict) -> dict:
        for flag in data["flags"]:
            flag["advice"], flag["name"] = say(flag["advice"]), say(flag["name"])
        return data

    rewrite(folder / "redflags.yaml", advice)
    routines = tmp_path / f"{name}-routines"
    routines.mkdir()
    for file, data in ROUTINES.items():
        (routines / file).write_text(yaml.safe_dump(translate(data, say), allow_unicode=True), encoding="utf-8")
    return folder, routines


def english_words() -> set[str]:
    """Every word of the English phrases, vocabulary, screening and progression wording."""
    found: set[str] = set()

    def collect(data: object) -> None:
        if isinstance(data, dict):
            for key, value in data.items():
                if key not in KEEP:
                    collect(value)
        elif isinstance(data, list):
            for value in data:
                collect(value)
        elif isinstance(data, str):
            found.update(w.lower() for w in ENGLISH_WORD.findall(PLACEHOLDER.sub(" ", data)))

    for file in ("phrases.yaml", "vocabulary.yaml", "screening.yaml", "progression.yaml"):
        collect(yaml.safe_load((EN / file).read_text(encoding="utf-8")))
    return found


ENGLISH = english_words()

# The transcript layout of app/outputs.py's TextPrinter, and the CLI's closing line. The
# layout's own labels ("SAFETY", "YOU SAID", "NOTE") and the record ids it shows (the
# command understood, the session state, why it finished) are the transcript format shared
# with the JSON log, not words the companion says or shows as step titles: they are out of
# the language seam's scope and are cut away here. The CLI's "Session ... after ..." line
# is CLI text, also out of scope. Everything else on each line is checked.
# Each pattern keeps the worded part of a line as "text"; a pattern without one is all layout.
LAYOUT = [
    re.compile(r"^========  (?P<text>.*)  ========$"),  # an exercise title
    re.compile(r"^\[\d+:\d\d\]  --- (?P<text>.*) \(\d+:\d\d\) ---$"),  # a step title
    # What the user typed (checked too: it is pseudo-text) and the command id it was understood as.
    re.compile(r"^\[\d+:\d\d\]  YOU SAID: (?P<text>.*)  ->  (?:[a-z_]+|answer: \S+|symptom: \S+|not a command)$"),
    re.compile(r"^\[\d+:\d\d\]  SYMPTOM: [a-z-]+$"),  # the id of a symptom acted on
    re.compile(r"^\[\d+:\d\d\]  \((?:paused|running), pace x[\d.]+\)$"),  # the session state
    re.compile(r"^\[\d+:\d\d\]  SESSION [A-Z-]+$"),  # why it finished
    re.compile(r"^NOTE: (?P<text>.*)$"),  # a notice
    re.compile(r"^Session [a-z-]+ after \d+:\d\d \(minutes:seconds\)\.$"),  # the CLI's closing line
    re.compile(r"^\[\d+:\d\d\]  (?:SAFETY  |ANSWER  |HELP    )?(?P<text>.*)$"),  # something said
]


def worded(line: str) -> str:
    """The part of an output line in the companion's words (all of it, unless the layout says otherwise)."""
    for pattern in LAYOUT:
        match = pattern.match(line)
        if match:
            return match.groupdict().get("text") or ""
    return line


def english_in(output: str) -> list[str]:
    return [line for line in output.splitlines()
            if {w.lower() for w in ENGLISH_WORD.findall(worded(line))} & ENGLISH]


def run(folder: Path, routines: Path, tmp_path: Path, *extra: str) -> str:
    env = {**os.environ, "COMPANION_LANG": str(folder), "COMPANION_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "companion", "--routines", str(routines), "run", "pseudo-programme",
                           "--virtual-clock", "--text", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


LANGUAGES = {"cyrillic": (cyrillic, "words"), "han": (Han(), "characters")}


@pytest.fixture(params=sorted(LANGUAGES))
def pseudo(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, Callable[[str], str]]:
    say, tokens = LANGUAGES[request.param]
    folder, routines = build(tmp_path, request.param, say, tokens)
    return folder, routines, say


def test_the_filter_would_catch_english():
    assert english_in("[0:05]  Paused. Say resume when you are ready.")
    assert english_in("[0:05]  --- Hold for 1 minute 15 seconds (1:30) ---")
    assert english_in("NOTE: Interrupted with Ctrl-C.")
    assert not english_in("[0:05]  (paused, pace x1)")


def test_a_whole_session_says_and_shows_nothing_in_english(pseudo, tmp_path):
    folder, routines, say = pseudo
    out = run(folder, routines, tmp_path)
    assert say("That exercise is done. Well done.") in out  # the routine gave no finish: the language's own
    assert say("And relax.") in out  # and no release
    assert say("Left side.") in out and say("1 minute left.") in out
    assert say("That is the end of the session. Well done.") in out
    # Nobody answers the hold's "Are you comfortable?": it lapses without a word, in any language.
    assert say("Are you comfortable?") in out and say("No answer, so I will carry on.") not in out
    assert not english_in(out), english_in(out)


def test_commands_said_in_the_pseudo_language_are_understood(pseudo, tmp_path):
    folder, routines, say = pseudo
    script = tmp_path / "script.txt"
    script.write_text("\n".join([
        f"6 {say('pause please')}",
        f"8 {say('how long is left')}",
        f"10 {say('carry on')}",
        f"14 {say('what is next')}",
        f"16 {say('the weather is nice')}",
        f"18 {say('next')}",
        f"20 {say('help')}",
        f"30 {say('slow down')}",
        f"40 {say('stop now')}",
    ]) + "\n", encoding="utf-8")
    out = run(folder, routines, tmp_path, "--script", str(script))
    for sentence in ("Paused. Say go when you are ready.", "Carrying on.", "All right, I will go more slowly.",
                     "Sorry, I did not catch that. Say help to hear what you can say.",
                     "Stopping now. The session has ended. Well done for what you did."):
        assert say(sentence) in out, sentence
    assert "SESSION STOPPED" in out
    assert not english_in(out), english_in(out)


def test_a_script_that_ends_paused_says_so_in_the_language(pseudo, tmp_path):
    folder, routines, say = pseudo
    script = tmp_path / "script.txt"
    script.write_text(f"3 {say('wait')}\n", encoding="utf-8")
    out = run(folder, routines, tmp_path, "--script", str(script))
    assert say("The script ended while the session was paused, so the session ends here.") in out
    assert not english_in(out), english_in(out)


def test_check_validates_the_pseudo_language(pseudo, tmp_path):
    folder, _, _ = pseudo
    env = {**os.environ, "COMPANION_LANG": str(folder), "COMPANION_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "companion", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder / "locale.yaml").write_text("name: broken\ntokens: syllables\n", encoding="utf-8")
    (folder / "phrases.yaml").write_text("paused: Paused.\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "companion", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 1
    assert f"{folder / 'locale.yaml'}:2: tokens: " in done.stdout


def test_every_step_title_with_care_comes_from_the_language(tmp_path):
    """Screening, pain checks and "Ready?" need a profile; here the plan is built directly."""
    folder, routines = build(tmp_path, "cyrillic", cyrillic, "words")
    phrases = load_phrases(folder / "phrases.yaml")
    library = load_library([routines])
    assert not library.problems, library.problems
    care = Care(screening=(("fall", cyrillic("Have you had a fall?"), cyrillic("See a doctor.")),),
                screening_intro=cyrillic("A few questions."), screening_done=cyrillic("Thank you."),
                pain_checks=True, pain_score=cyrillic("How much pain?"), pain_place=cyrillic("Where?"),
                confirm_steps=True)
    plan = PlanBuilder(library.routines, phrases, care=care).for_entry(library.get("pseudo-programme"))
    titles = [step.title for step in plan.steps]
    assert phrases.title_ready in titles and phrases.title_pain_place_after in titles
    assert phrases.title_screening_question in titles and phrases.title_intro in titles
    spoken = [step.main.text for step in plan.steps]
    assert not [t for t in titles + spoken if {w.lower() for w in ENGLISH_WORD.findall(t)} & ENGLISH]


def test_an_unsure_command_is_asked_about_by_its_name_in_the_language(tmp_path, monkeypatch):
    folder, routines = build(tmp_path, "cyrillic", cyrillic, "words")
    monkeypatch.setenv(LANG_ENV, str(folder))
    phrases, library = load_phrases(), load_library([routines])
    heard = Heard(5.0, cyrillic("go faster"), "voice", Recognition(cyrillic("go faster"), 0.5, "test"))
    event = Interpreter(load_vocabulary()).interpret(heard, 5.0, None).event
    assert event.command is Command.FASTER and event.confirm and event.name == cyrillic("faster")
    plan = PlanBuilder(library.routines, phrases).for_entry(library.get("pseudo-stretch"))
    session = Session(plan, phrases)
    session.start(0.0)
    said = [cue.text for cue in session.feed(event) if isinstance(cue, Say)]
    assert said[-1] == cyrillic("Did you say faster? Say yes or no.")
    # Unanswered, it is asked again in the short form, by the same name, then dropped.
    said = [cue.text for cue in session.feed(Tick(session.next_deadline())) if isinstance(cue, Say)]
    said += [cue.text for cue in session.feed(Tick(session.next_deadline())) if isinstance(cue, Say)]
    assert said == [cyrillic("Faster? Yes or no."), cyrillic("No answer, so I will carry on.")]


def test_speech_length_counts_chinese_by_characters():
    """The engine times each cue by its words; Chinese has no spaces, so each character counts."""
    assert spoken_words("Lie on your stomach.") == 4
    assert spoken_words(cyrillic("Lie on your stomach.")) == 4
    assert spoken_words("请趴下，放松。") == 5
    assert spoken_words("做 MRI 检查") == 4
