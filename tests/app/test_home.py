"""The home menu: names from routine files, typed and spoken choices, what is due."""

from __future__ import annotations

import json
import queue
from datetime import date

import pytest

from companion.content.library import load_library
from companion.content.phrases import load_phrases
from companion.app.home import Home, done_today, due_today
from companion.language.menu import Menu
from companion.language.heard import Heard
from companion.speech.ports import Recognition
from companion.language.vocabulary import load_vocabulary
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def menu(library):
    return Menu(library, load_vocabulary())


@pytest.mark.parametrize("text, entry_id", [
    ("start wall standing", "wall-standing"),
    ("do my neck exercise", "neck-gaze-rotation"),
    ("McKenzie", "mckenzie-extension"),
    ("let's do the flying swallow", "flying-swallow"),
    ("start mckenzie three", "mckenzie-3-prone-press-up"),
    ("desk break please", "desk-break"),
    ("start wal standing", "wall-standing"),  # a typo, typed
])
def test_names_come_from_the_routine_files(menu, text, entry_id):
    choice = menu.match(text)
    assert choice.kind == "start" and choice.entry_id == entry_id


@pytest.mark.parametrize("text, kind", [
    ("what can I do", "what"), ("goodbye", "goodbye"), ("I have a question", "question"),
    ("yes", "answer"), ("the weather is nice", "unknown"),
])
def test_menu_words(menu, text, kind):
    assert menu.match(text).kind == kind


def test_grammar_lets_every_name_be_spoken(menu, library):
    grammar = set(menu.grammar())
    assert "start wall standing" in grammar and "do my neck exercise" in grammar
    for entry in library.entries():
        assert any(name in grammar for name in (entry.title.lower(), *entry.aliases)), entry.id


def test_a_new_routine_file_is_startable_by_name_without_code(tmp_path):
    source = (ROOT / "routines" / "wall-standing.yaml").read_text()
    (tmp_path / "chin-tuck.yaml").write_text(
        source.replace("id: wall-standing", "id: chin-tuck").replace("title: Wall standing", "title: Chin tuck")
        .replace("aliases: [wall stand, stand at the wall, standing against the wall, posture]", "aliases: [tuck my chin]"))
    lib = load_library([tmp_path])
    assert not lib.problems
    assert Menu(lib, load_vocabulary()).match("start tuck my chin").entry_id == "chin-tuck"


def test_done_and_due_today_from_session_logs(tmp_path, library):
    stamp = date.today().strftime("%Y%m%d")
    completed = [{"kind": "exercise_started", "routine_id": "wall-standing"}, {"kind": "finished", "text": "completed"}]
    stopped = [{"kind": "exercise_started", "routine_id": "wall-standing"}, {"kind": "finished", "text": "stopped"}]
    for i, records in enumerate((completed, completed, stopped)):
        (tmp_path / f"{stamp}-10000{i}-wall-standing-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "20200101-100000-wall-standing-1.jsonl").write_text(json.dumps(completed[0]) + "\n")
    done = done_today(tmp_path)
    assert done == {"wall-standing": 2}
    due = {title: (d, w) for title, d, w in due_today(library, done)}
    assert due["Wall standing"] == (2, 3)
    assert "McKenzie 2: lying on your elbows" not in due  # has prerequisites


def run_home(library, heard, name=""):
    inbox: queue.Queue = queue.Queue()
    for item in heard:
        inbox.put(item)
    inbox.put(None)
    said, started, grammars = [], [], []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, started.append, grammars.append,
                name=name)
    home.loop()
    return said, started, grammars


def test_typed_choices_start_sessions_until_goodbye(library):
    phrases = load_phrases()
    said, started, _ = run_home(library, [Heard(0, "what can I do", "keyboard"),
                                          Heard(0, "start wall standing", "keyboard"),
                                          Heard(0, "goodbye", "keyboard"),
                                          Heard(0, "start neck exercise", "keyboard")], name="Ann")
    assert said[0].startswith("Hello Ann.")
    assert started == ["wall-standing"]
    assert phrases.home_next in said and said[-1] == phrases.home_goodbye


def test_unsure_spoken_choice_is_confirmed_first(library):
    phrases = load_phrases()
    said, started, grammars = run_home(library, [
        Heard(0, "start wall standing", "voice", Recognition("start wall standing", 0.5)),
        Heard(0, "yes", "voice", Recognition("yes", 0.8)),
        Heard(0, "do my neck exercise", "voice", Recognition("do my neck exercise", 0.95)),
        Heard(0, "mumble", "voice", Recognition("goodbye", 0.05)),  # too unsure to end
        Heard(0, "goodbye", "voice", Recognition("goodbye", 0.95)),
    ])
    assert phrases.home_confirm.format(title="Wall standing") in said
    assert started == ["wall-standing", "neck-gaze-rotation"]
    assert phrases.home_unknown in said
    assert any("yes" in g for g in grammars)  # listened for an answer while asking


def test_home_with_no_way_to_hear_the_user_says_so_instead_of_waiting_forever(capsys):
    from companion.cli import main

    assert main(["home", "--text", "--no-voice"]) == 1  # pytest's stdin is not a terminal
    assert "cannot hear you" in capsys.readouterr().err


def test_a_question_at_the_menu_is_answered(library):
    said, started, grammars = run_home(library, [Heard(0, "I have a question", "keyboard"),
                                                 Heard(0, "how should I lift a heavy box", "keyboard"),
                                                 Heard(0, "goodbye", "keyboard")])
    assert any("squat" in s.lower() for s in said)
    assert None in grammars  # listened for free speech for the question
    assert started == []


def test_a_spoken_question_at_the_menu_is_answered_from_the_reading_the_knowledge_base_knows(library):
    readings = ["how should we isolate with a bad back", "how should i sleep with a bad back"]
    said, _, _ = run_home(library, [Heard(0, "I have a question", "keyboard"),
                                    Heard(0, readings[0], "voice",
                                          Recognition(readings[0], 0.9, "fused", details={"readings": readings})),
                                    Heard(0, "goodbye", "keyboard")])
    assert any("position all night" in s for s in said)  # the sleeping entry


def test_its_own_voice_never_chooses_at_the_menu_and_stop_hushes_it(library):
    """While the menu speaks, what the microphone hears is its own voice or talk over it: no choice."""
    inbox: queue.Queue = queue.Queue()
    sure = lambda text: Heard(0, text, "voice", Recognition(text, 0.99, "test"))  # noqa: E731
    for item in (sure("goodbye"), sure("start wall standing"), sure("stop"), None):
        inbox.put(item)
    said, started, hushed = [], [], []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, started.append, lambda g: None,
                speaking=lambda: True, hush=lambda: hushed.append(True))
    home.loop()
    assert started == [] and load_phrases().home_goodbye not in said
    assert hushed == [True]  # stop said over it silences it, and nothing else happens


def test_menu_grammar_lets_stop_be_heard(library):
    grammar = Menu(library, load_vocabulary()).grammar()
    assert "stop" in grammar and "goodbye" in grammar


def test_its_own_question_prompt_coming_back_is_not_taken_for_the_question(library):
    """After "Ask your question", the echo of that prompt must not be answered as the question."""
    inbox: queue.Queue = queue.Queue()
    voice = lambda text, over: Heard(0, text, "voice", Recognition(text, 0.9, "test"), over_speech=over)  # noqa: E731
    for item in (voice("i have a question", False), voice("ask your question", True),
                 voice("how do i stop my back hurting", False), None):
        inbox.put(item)
    said, hushed = [], []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, lambda e: None, lambda g: None,
                hush=lambda: hushed.append(True))
    home.loop()
    answers = said[said.index(load_phrases().ask_question) + 1:]
    assert hushed == [] and answers and answers[0] != load_phrases().home_unknown


def test_a_red_flag_in_a_question_at_the_menu_is_handed_on_to_be_kept(library):
    """The menu tells its owner (who keeps it for the person) of a red flag; other questions pass."""
    inbox: queue.Queue = queue.Queue()
    for text in ("I have a question", "I can't control my bladder since my back went", "I have a question",
                 "how should I lift a heavy box", "goodbye"):
        inbox.put(Heard(0, text, "keyboard"))
    inbox.put(None)
    said, flags = [], []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, lambda entry_id: None,
                lambda phrases: None, on_red_flag=flags.append)
    home.loop()
    assert flags == ["bladder-bowel"]


# -- one short sentence, then listen; a question that waits for its answer --------------------------

SILENT = object()  # in a Script: nothing is heard until the question has waited its time


class Script:
    """An inbox for the menu: what is heard, in order; at each SILENT, a minute of silence goes by."""

    def __init__(self, *items):
        self.items = list(items)
        self.now = 0.0

    def get(self, block=True, timeout=None):
        if not self.items:
            return None
        item = self.items.pop(0)
        if item is SILENT:
            assert timeout is not None, "the menu waited for ever when it should have timed out"
            self.now += 60.0
            raise queue.Empty
        return item

    def clock(self) -> float:
        return self.now


DUE = [("Neck turns with fixed gaze", 0, 3), ("Wall standing", 1, 3)]


def scripted_home(library, *items, speaking=lambda: False, echo_cancelled=lambda: False, due=DUE, **kwargs):
    inbox = Script(*items)
    said, started, grammars, hushed = [], [], [], []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, started.append, grammars.append,
                name="Ann", due=lambda: list(due), speaking=speaking, echo_cancelled=echo_cancelled,
                hush=lambda: hushed.append(True), clock=inbox.clock, **kwargs)
    home.loop()
    return said, started, grammars, hushed


def test_the_menu_opens_with_one_short_sentence_and_listens(library, phrases):
    said, started, grammars, _ = scripted_home(library)
    assert said == [phrases.home_greeting_due.format(name=" Ann", title="Neck turns with fixed gaze")]
    assert said[0] == "Hello Ann. Shall we start Neck turns with fixed gaze? Say yes, no, or what's due."
    assert len(said[0].split()) <= 16  # a few seconds, not the old half a minute
    assert {"yes", "no", "whats due", "goodbye", "start wall standing"} <= set(grammars[0])


def test_yes_to_the_greeting_starts_what_it_offered(library, phrases):
    said, started, _, _ = scripted_home(library, Heard(0, "yes", "voice", Recognition("yes", 0.8)))
    assert started == ["neck-gaze-rotation"] and said[-1] == phrases.home_next


def test_no_to_the_greeting_asks_what_instead_and_no_thanks_is_no_while_asked(library, phrases):
    said, started, _, _ = scripted_home(library, Heard(0, "no thanks", "keyboard"), Heard(0, "goodbye", "keyboard"))
    assert started == [] and said[1:] == [phrases.home_prompt, phrases.home_goodbye]


def test_what_is_due_is_said_only_when_asked(library, phrases):
    said, _, _, _ = scripted_home(library, Heard(0, "what's due", "keyboard"))
    assert not any(s.startswith("Due today") for s in said[:1])
    items = "Neck turns with fixed gaze, 0 of 3 done, Wall standing, 1 of 3 done"
    assert said[1] == phrases.home_due.format(items=items)
    assert said[2] == phrases.home_pick
    for words in ("list", "options", "what can I do"):
        said, _, _, _ = scripted_home(library, Heard(0, words, "keyboard"))
        assert said[1].startswith("Due today:"), words
    said, _, _, _ = scripted_home(library, Heard(0, "help", "keyboard"))  # every exercise, for help
    assert said[1].startswith("You can say start") and "Wall standing" in said[1]


def test_with_nothing_due_it_greets_says_so_and_asks_what_to_do(library, phrases):
    said, _, _, _ = scripted_home(library, due=[])
    assert said == [phrases.home_greeting.format(name=" Ann"), phrases.home_nothing_due, phrases.home_prompt]


def test_an_unheard_answer_gets_the_question_once_more_then_how_to_go_on(library, phrases):
    said, started, _, _ = scripted_home(library, SILENT, SILENT, Heard(0, "start wall standing", "keyboard"))
    assert said[1:4] == [phrases.home_confirm_again.format(title="Neck turns with fixed gaze"),
                         phrases.home_no_answer, phrases.home_prompt]
    assert " ".join(said[2:4]) == ("I did not hear an answer. "
                                   "What would you like to do? Name an exercise, or say goodbye.")
    assert started == ["wall-standing"]  # and it is still listening
    said, started, _, _ = scripted_home(library, SILENT, Heard(0, "yes", "voice", Recognition("yes", 0.7)))
    assert started == ["neck-gaze-rotation"]  # the short form's answer counts


def test_start_wall_standing_waits_for_its_answer_and_never_goes_silent(library, phrases):
    unsure = Heard(0, "start wall standing", "voice", Recognition("start wall standing", 0.5))
    said, started, grammars, _ = scripted_home(library, unsure, SILENT, SILENT)
    assert said[1:] == [phrases.home_confirm.format(title="Wall standing"), "Start Wall standing? Yes or no.",
                        phrases.home_no_answer, phrases.home_prompt]
    assert started == []
    assert grammars[1] == load_vocabulary().grammar("answer")  # only answers while it asks about a name


def test_the_wait_for_an_answer_starts_when_its_voice_stops(library):
    """While the question is still being said, silence is not yet a missing answer."""
    talking = [True] * 2  # two minutes of speech: no time-out...
    inbox = Script(SILENT, SILENT, SILENT)  # ...until a silence after it
    said = []
    home = Home(library, load_vocabulary(), load_phrases(), inbox, said.append, lambda e: None, lambda g: None,
                due=lambda: DUE, speaking=lambda: bool(talking) and talking.pop(), clock=inbox.clock)
    home.loop()
    assert said[1:] == [load_phrases().home_confirm_again.format(title="Neck turns with fixed gaze")]


def test_a_yes_said_over_the_greeting_counts_once_its_voice_is_cancelled(library):
    yes = Heard(0, "yes", "voice", Recognition("yes", 0.8))
    said, started, _, hushed = scripted_home(library, yes, speaking=lambda: True, echo_cancelled=lambda: True)
    assert started == ["neck-gaze-rotation"] and hushed == [True]  # the rest of the question is cut off
    # Without a canceller, its own "Say yes, no" coming back must not start anything.
    said, started, _, hushed = scripted_home(library, yes, speaking=lambda: True)
    assert started == [] and hushed == []


def test_an_answer_begun_over_the_question_and_understood_just_after_counts(library):
    talking = [True]
    yes = Heard(0, "yes", "voice", Recognition("yes", 0.8), over_speech=True)
    said, started, _, _ = scripted_home(library, yes, speaking=lambda: bool(talking) and talking.pop(),
                                        echo_cancelled=lambda: True)
    assert started == ["neck-gaze-rotation"]


def test_something_else_while_asked_keeps_the_question_and_asks_it_briefly(library, phrases):
    said, started, _, _ = scripted_home(library, Heard(0, "mumble", "voice", Recognition("goodbye", 0.05)),
                                        Heard(0, "yes", "keyboard"))
    assert said[1] == phrases.home_confirm_again.format(title="Neck turns with fixed gaze")
    assert started == ["neck-gaze-rotation"]


def test_after_a_session_the_menu_listens_for_its_own_words_again(library):
    said, started, grammars, _ = scripted_home(library, Heard(0, "start wall standing", "keyboard"),
                                               Heard(0, "goodbye", "keyboard"), due=[])
    assert started == ["wall-standing"]
    menu = Menu(library, load_vocabulary()).grammar()
    assert grammars == [menu, menu]  # a session changes what the recogniser listens for: asked for again
