"""The spoken home menu: greet, say what is due, and start what the user names.

What the words mean is the language layer's (:mod:`companion.language.menu`);
this module is the loop: say, listen, act.
"""

from __future__ import annotations

import json
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
from companion.language.understanding import Policy, Understanding
from companion.language.vocabulary import Vocabulary


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
    """The menu loop. ``say`` renders a sentence; ``run`` starts a session and blocks until it ends."""

    def __init__(self, library: Library, vocabulary: Vocabulary, phrases: Phrases, inbox,
                 say: Callable[[str], None], run: Callable[[str], Any],
                 listen_for: Callable[[list[str]], None], policy: Policy = Policy(), name: str = "",
                 due: Callable[[], list[tuple[str, int, int]]] | None = None,
                 speaking: Callable[[], bool] = lambda: False, hush: Callable[[], None] = lambda: None,
                 echo_cancelled: Callable[[], bool] = lambda: False,
                 on_red_flag: Callable[[str], None] = lambda flag_id: None):
        """``speaking()`` is true while the menu's own voice may still reach the microphone;
        ``hush()`` silences it at once; ``on_red_flag(flag_id)`` is told of a red flag in a question."""
        self.menu = Menu(library, vocabulary)
        self.understanding = Understanding(vocabulary, policy, echo_cancelled)
        self.speaking, self.hush = speaking, hush
        self.on_red_flag = on_red_flag
        self.due = due or (lambda: due_today(library, done_today()))
        self.library, self.phrases, self.inbox = library, phrases, inbox
        self.say, self.run, self.listen_for = say, run, listen_for
        self.policy, self.name = policy, name
        self._pending: str | None = None
        self._question_open = False
        self._reminder = None

    def greet(self) -> None:
        ph = self.phrases
        self.say(ph.home_greeting.format(name=f" {self.name}" if self.name else ""))
        due = self.due()
        if due:
            items = ph.list_separator.join(ph.home_due_item.format(title=title, done=done, wanted=wanted)
                                           for title, done, wanted in due)
            self.say(ph.home_due.format(items=items))
        else:
            self.say(ph.home_nothing_due)
        self.say(ph.home_prompt)

    def options(self) -> None:
        names = [r.title for r in self.library.routines.values()] + [p.title for p in self.library.programmes.values()]
        self.say(self.phrases.home_options.format(names=self.phrases.list_separator.join(names)))

    def loop(self) -> None:
        """Until goodbye (or the input ends)."""
        self.greet()
        grammar = self.menu.grammar()
        self.listen_for(grammar)
        while True:
            heard: Heard | None = self.inbox.get()
            if heard is None:
                return
            if heard.source == "device-lost":
                self.say(self.phrases.device_lost_home.format(reason=heard.text))
                continue
            if self.handle(heard):
                return
            if self._pending is None and not self._question_open:
                self.listen_for(grammar)

    def _answer(self, question: str) -> None:
        """A question asked at the menu: red flags first, then the knowledge base."""
        answerer = default_answerer()
        if self._reminder is None:
            self._reminder = TreatmentReminder(answerer.replies.treatment_reminder)
        answer = answerer.ask(question)
        self.say(self._reminder.text(answer))
        if answer.red_flag is not None:
            self.on_red_flag(answer.red_flag.id)
        self.say(self.phrases.home_next)

    def handle(self, heard: Heard) -> bool:
        """Act on one utterance; True when the user said goodbye."""
        ph = self.phrases
        if heard.recognition is not None:
            speaking = self.speaking() or heard.over_speech
            # A question may well contain "stop" ("how do I stop it hurting?"): answered, not hushed.
            if speaking or not self._question_open:
                decision = self.understanding.decide(heard.recognition, speaking=speaking)
                if decision.command is Command.STOP:
                    self.hush()  # nothing to end at the menu: stop just means "be quiet"
                    return False
            if speaking:
                return False  # its own voice coming back, or talk over it: never a choice or a question
        if self._question_open:
            self._question_open = False
            if heard.text.strip():
                self._answer(heard.text)
            return False
        choice = self.menu.match(heard.text, fuzzy=heard.recognition is None)
        confidence = heard.recognition.confidence if heard.recognition is not None else 1.0
        if heard.recognition is not None and confidence < self.policy.ask:
            choice = Choice("unknown")
        if choice.kind == "answer" and self._pending:
            entry_id, self._pending = self._pending, None
            if choice.answer:
                self._start(entry_id)
            else:
                self.say(ph.home_prompt)
            return False
        self._pending = None
        if choice.kind == "goodbye":
            self.say(ph.home_goodbye)
            return True
        if choice.kind == "what":
            self.options()
        elif choice.kind == "question":
            self._question_open = True
            self.say(ph.ask_question)
            self.listen_for(None)  # free speech: the question itself
        elif choice.kind == "start":
            if confidence < self.policy.act:
                self._pending = choice.entry_id
                self.say(ph.home_confirm.format(title=self.library.get(choice.entry_id).title))
                self.listen_for(self.menu.vocabulary.grammar("answer"))
                return False
            self._start(choice.entry_id)
        else:
            self.say(ph.home_unknown)
        return False

    def _start(self, entry_id: str) -> None:
        self.run(entry_id)
        self.say(self.phrases.home_next)
