"""The spoken home menu: greet and offer what is due, and start what the user names.

What the words mean is the language layer's (:mod:`companion.language.menu`);
this module is the loop: say, listen, act.
"""

from __future__ import annotations

import json
import queue
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

from companion.content.library import Library
from companion.content.phrases import Phrases
from companion.engine.events import Command
from companion.content.datadir import sessions_dir
from companion.language.heard import Heard
from companion.knowledge.retrieval import TreatmentReminder, default_answerer
from companion.language.menu import Choice, Menu
from companion.engine.session import AGAIN_SECONDS, ANSWER_SECONDS
from companion.language.understanding import ANSWER_GRACE_SECONDS, Policy, Understanding
from companion.language.vocabulary import Vocabulary

POLL_SECONDS = 0.25  # how often, while a question waits, the menu looks whether its voice has stopped
_SILENCE = object()  # what _next() returns when a question has waited its time unanswered


def done_today(folder: Path | None = None, today: date | None = None) -> dict[str, int]:
    """How many times each routine was completed today, from today's session logs."""
    folder = folder or sessions_dir()
    stamp = (today or date.today()).strftime("%Y%m%d")
    counts: dict[str, int] = {}
    for log in sorted(folder.glob(f"{stamp}-*.jsonl")) if folder.exists() else []:
        try:
            records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError):
            continue
        started = [r.get("routine_id") for r in records if r.get("kind") == "exercise_started"]
        finished = [r for r in records if r.get("kind") == "finished"]
        completed = finished and finished[-1].get("text") == "completed"
        for routine_id in (started if completed else started[:-1]):
            counts[routine_id] = counts.get(routine_id, 0) + 1
    return counts


def due_today(library: Library, done: dict[str, int]) -> list[tuple[str, int, int]]:
    """(title, done, wanted) for routines with a daily count and no prerequisites, not yet done enough."""
    due = []
    for routine in library.routines.values():
        wanted = routine.frequency.per_day
        if wanted is None or routine.requires:
            continue
        count = done.get(routine.id, 0)
        if count < wanted.low:
            due.append((routine.title, count, int(wanted.low)))
    return sorted(due)


class Home:
    """The menu loop. ``say`` renders a sentence; ``run`` starts a session and blocks until it ends.

    It opens with one short sentence and listens: "Hello Ann. Shall we start Neck drill? Say yes,
    no, or what's due." What is due is listed only when asked. A yes/no question of its own ("Start
    wall standing?") waits for its answer, counted from when its voice stops: unanswered for
    :data:`ANSWER_SECONDS` it is asked once more, briefly; unanswered again it says how to go on.
    """

    def __init__(self, library: Library, vocabulary: Vocabulary, phrases: Phrases, inbox,
                 say: Callable[[str], None], run: Callable[[str], Any],
                 listen_for: Callable[[list[str] | None], None], policy: Policy = Policy(), name: str = "",
                 due: Callable[[], list[tuple[str, int, int]]] | None = None,
                 speaking: Callable[[], bool] = lambda: False, hush: Callable[[], None] = lambda: None,
                 echo_cancelled: Callable[[], bool] = lambda: False,
                 on_red_flag: Callable[[str], None] = lambda flag_id: None,
                 speaking_text: Callable[[], str] | None = None, clock: Callable[[], float] = time.monotonic):
        """``speaking()`` is true while the menu's own voice may still reach the microphone, and
        ``speaking_text()`` says what it is saying (by default: what the menu said last);
        ``hush()`` silences it at once; ``on_red_flag(flag_id)`` is told of a red flag in a question;
        ``clock()`` is monotonic seconds, for how long a question has waited."""
        self.menu = Menu(library, vocabulary)
        self.vocabulary = vocabulary
        self.understanding = Understanding(vocabulary, policy, echo_cancelled)
        self.speaking, self.hush = speaking, hush
        self._speaking_text = speaking_text
        self.clock = clock
        self.on_red_flag = on_red_flag
        self.due = due or (lambda: due_today(library, done_today()))
        self.library, self.phrases, self.inbox = library, phrases, inbox
        self._output, self.run, self.listen_for = say, run, listen_for
        self.policy, self.name = policy, name
        self._pending: str | None = None  # the routine a yes/no question of ours asks to start
        self._asking = ""  # that question, as said last
        self._again = False  # asked a second time already
        self._answers_only = False  # only yes or no are listened for (after an unsure name)
        self._said = ""  # the sentence said last
        self._seen_speaking = float("-inf")  # when its voice was last seen speaking (clock time)
        self._listening: object = ()  # the grammar last asked for
        self._grammars = {False: self.menu.grammar(), True: self.menu.grammar(answers=True)}
        self._question_open = False
        self._reminder = None

    def say(self, text: str) -> None:
        self._said = text
        self._output(text)

    def greet(self) -> None:
        """One short sentence: the first exercise due, offered (or, with nothing due, that and a prompt)."""
        ph = self.phrases
        name = f" {self.name}" if self.name else ""
        due = self.due()
        entry_id = self.menu.entry_for(due[0][0]) if due else None
        if entry_id is not None:
            self._ask(entry_id, ph.home_greeting_due.format(name=name, title=due[0][0]))
            return
        self.say(ph.home_greeting.format(name=name))
        if due:
            self._say_due(due)
        else:
            self.say(ph.home_nothing_due)  # home_wiring says an open red flag's advice instead
        self.say(ph.home_prompt)

    def whats_due(self) -> None:
        """What is due today, asked for ("what's due")."""
        due = self.due()
        if due:
            self._say_due(due)
            self.say(self.phrases.home_pick)
        else:
            self.say(self.phrases.home_nothing_due)
            self.say(self.phrases.home_prompt)

    def _say_due(self, due: list[tuple[str, int, int]]) -> None:
        ph = self.phrases
        items = ph.list_separator.join(ph.home_due_item.format(title=title, done=done, wanted=wanted)
                                       for title, done, wanted in due)
        self.say(ph.home_due.format(items=items))

    def options(self) -> None:
        names = [r.title for r in self.library.routines.values()] + [p.title for p in self.library.programmes.values()]
        self.say(self.phrases.home_options.format(names=self.phrases.list_separator.join(names)))

    def loop(self) -> None:
        """Until goodbye (or the input ends)."""
        self.greet()
        while True:
            if not self._question_open:
                self._listen(self._grammar())
            heard = self._next()
            if heard is None:
                return
            if heard is _SILENCE:
                self._unanswered()
                continue
            if heard.source == "device-lost":
                self.say(self.phrases.device_lost_home.format(reason=heard.text))
                continue
            if self.handle(heard):
                return

    # -- listening --------------------------------------------------------------

    def _grammar(self) -> list[str]:
        if self._pending is not None and self._answers_only:
            return self.vocabulary.grammar("answer")
        return self._grammars[self._pending is not None]

    def _listen(self, grammar: list[str] | None) -> None:
        if grammar != self._listening:
            self._listening = grammar
            self.listen_for(grammar)

    def _is_speaking(self) -> bool:
        if self.speaking():
            self._seen_speaking = self.clock()
            return True
        return False

    def _next(self) -> "Heard | None | object":
        """The next thing heard; while a question of ours waits, :data:`_SILENCE` once it has waited
        its time since the menu's voice stopped."""
        if self._pending is None:
            return self.inbox.get()
        deadline = None
        while True:
            if self._is_speaking():
                deadline = None  # the wait starts when the question has been said
            elif deadline is None:
                deadline = self.clock() + (AGAIN_SECONDS if self._again else ANSWER_SECONDS)
            wait = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - self.clock()))
            try:
                return self.inbox.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and self.clock() >= deadline:
                    return _SILENCE

    def _spoken_over(self, heard: Heard) -> tuple[bool, str]:
        """Whether ``heard`` was said over the menu's voice, and what it was saying then (see
        app/runner.py: an answer begun over its question and understood just after still counts)."""
        if self._is_speaking():
            return True, self._speaking_text() if self._speaking_text is not None else self._said
        if not heard.over_speech:
            return False, ""
        recent = self.clock() - self._seen_speaking <= ANSWER_GRACE_SECONDS
        return True, self._asking if recent and self._asking and self._said == self._asking else ""

    # -- questions of its own ---------------------------------------------------------

    def _ask(self, entry_id: str, text: str, answers_only: bool = False) -> None:
        self._pending, self._asking, self._again, self._answers_only = entry_id, text, False, answers_only
        self.say(text)

    def _clear(self) -> None:
        self._pending, self._asking, self._again, self._answers_only = None, "", False, False

    def _unanswered(self) -> None:
        """No answer in time: ask once more, briefly; then say how to go on (never just fall silent)."""
        if not self._again:
            self._again = True
            self._asking = self.phrases.home_confirm_again.format(title=self.library.get(self._pending).title)
            self.say(self._asking)
            return
        self._clear()
        self.say(self.phrases.home_no_answer)
        self.say(self.phrases.home_prompt)

    def _answered(self, answer: bool) -> None:
        entry_id = self._pending
        self._clear()
        if answer:
            self._start(entry_id)
        else:
            self.say(self.phrases.home_prompt)

    def _answer(self, heard: Heard) -> None:
        """A question asked at the menu: red flags first, then the knowledge base, which may answer
        another reading of a spoken question nearly as likely (``Answerer.ask_heard``)."""
        answerer = default_answerer()
        if self._reminder is None:
            self._reminder = TreatmentReminder(answerer.replies.treatment_reminder)
        _, answer = answerer.ask_heard(heard.readings)
        self.say(self._reminder.text(answer))
        if answer.red_flag is not None:
            self.on_red_flag(answer.red_flag.id)
        self.say(self.phrases.home_next)

    def handle(self, heard: Heard) -> bool:
        """Act on one utterance; True when the user said goodbye."""
        ph = self.phrases
        if heard.recognition is not None:
            speaking, spoken = self._spoken_over(heard)
            # A question may well contain "stop" ("how do I stop it hurting?"): answered, not hushed.
            if speaking or not self._question_open:
                decision = self.understanding.decide(heard.recognition, speaking=speaking, speaking_text=spoken,
                                                     question=self._asking)
                if decision.command is Command.STOP:
                    self.hush()  # nothing to end at the menu: stop just means "be quiet"
                    return False
                if speaking and decision.kind == "answer" and self._pending is not None:
                    self.hush()  # answered while it was still asking: the rest goes unsaid
                    self._answered(decision.answer)
                    return False
            if speaking:
                return False  # its own voice coming back, or talk over it: never a choice or a question
        if self._question_open:
            self._question_open = False
            if heard.text.strip():
                self._answer(heard)
            return False
        # Typed words and Whisper's transcripts are words, not grammar phrases: near misses count.
        fuzzy = heard.recognition is None or bool(heard.recognition.details.get("free_form"))
        choice = self.menu.match(heard.text, fuzzy=fuzzy, answering=self._pending is not None)
        confidence = heard.recognition.confidence if heard.recognition is not None else 1.0
        if heard.recognition is not None and confidence < self.policy.ask:
            choice = Choice("unknown")
        if choice.kind == "answer" and self._pending is not None:
            self._answered(choice.answer)
            return False
        if choice.kind == "unknown" and self._pending is not None:
            # Not an answer: the question still waits; asked again, briefly.
            self._asking = ph.home_confirm_again.format(title=self.library.get(self._pending).title)
            self.say(self._asking)
            return False
        self._clear()
        if choice.kind == "goodbye":
            self.say(ph.home_goodbye)
            return True
        if choice.kind == "what":
            self.whats_due()
        elif choice.kind == "options":
            self.options()
        elif choice.kind == "question":
            self._question_open = True
            self.say(ph.ask_question)
            self._listen(None)  # free speech: the question itself
        elif choice.kind == "start":
            if confidence < self.policy.act:
                self._ask(choice.entry_id, ph.home_confirm.format(title=self.library.get(choice.entry_id).title),
                          answers_only=True)
                return False
            self._start(choice.entry_id)
        else:
            self.say(ph.home_unknown)
        return False

    def _start(self, entry_id: str) -> None:
        self.run(entry_id)
        self._listening = ()  # the session listened for its own words: the menu's are asked for again
        self.say(self.phrases.home_next)
