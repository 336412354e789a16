"""The one loop that owns a session: inputs -> vocabulary -> engine -> outputs.

Input threads only put :class:`Heard` items on a queue; this loop is the only
caller of the engine, so the engine needs no locks. On a virtual clock the
loop jumps straight from deadline to deadline (merging script lines in time
order), which is what makes a 5-minute hold finish in microseconds.
"""

from __future__ import annotations

import queue
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol

from companion.engine.clock import Clock, VirtualClock
from companion.engine.cues import Cue
from companion.engine.events import (AnswerEvent, Command, CommandEvent, Event, NumberEvent, PlaceEvent, RedFlagEvent,
                                     SymptomEvent, Tick, Told)
from companion.engine.session import Session
from companion.knowledge.redflags import detect
from companion.knowledge.symptoms import detect_symptom
from companion.knowledge.retrieval import Answerer, TreatmentReminder, default_answerer
from companion.language.heard import Heard
from companion.app.outputs import Output, TextPrinter
from companion.app.records import cue_record, heard_record, note_record
from companion.language.interpret import Interpreter
from companion.language.understanding import ANSWER_GRACE_SECONDS, Understanding
from companion.language.vocabulary import Vocabulary

REFRESH_SECONDS = 0.25


class Speaking(Protocol):
    """Whether the companion is talking, and what it is saying (the devices answer; see app/devices.py)."""

    def speaking(self) -> bool: ...

    def speaking_text(self) -> str: ...


class Runner:
    def __init__(self, session: Session, clock: Clock, vocabulary: Vocabulary, outputs: Iterable[Output],
                 script: list[Heard] | None = None, live: TextPrinter | None = None,
                 understanding: Understanding | None = None, inbox: "queue.Queue[Heard] | None" = None,
                 voice: Speaking | None = None):
        self.session = session
        self.clock = clock
        self.vocabulary = vocabulary
        self.interpreter = Interpreter(vocabulary, understanding)
        self.phrases = session.phrases
        self.voice = voice
        self.outputs = list(outputs)
        self.inbox: "queue.Queue[Heard]" = inbox if inbox is not None else queue.Queue()
        self._script = list(script or [])
        self._live = live
        self.records: list[dict[str, Any]] = []
        self.on_context: Callable[[str], None] | None = None  # told the dialogue state when it changes
        self._context = "commands"
        self._question_open = False
        self._answerer: Answerer | None = None  # loaded at the first question: most sessions have none
        self._reminder: TreatmentReminder | None = None
        self.first_step = 0  # > 0 when resuming an interrupted session
        self._unsure: Event | None = None  # a spoken number or place we asked the user to confirm
        self._unsure_question = ""  # and how we asked ("I heard: 3. Is that right? Say yes or no.")
        self._last_spoken = ("", float("-inf"))  # the sentence last seen being spoken, and when (clock time)

    # -- output ---------------------------------------------------------------

    def _emit_record(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        for output in self.outputs:
            output.write(record)

    def _emit(self, cues: list[Cue]) -> None:
        for cue in cues:
            record = cue_record(cue)
            if record["kind"] == "question":
                self._question_open = True
            self._emit_record(record)
        if self.session.finished:
            self._question_open = False
        awaiting = "yesno" if self._unsure is not None else self.session.awaiting
        context = ("question" if self._question_open else
                   {"yesno": "answer", "number": "number", "place": "place",
                    "arm-place": "arm-place"}.get(awaiting or "", "commands"))
        if context != self._context:
            self._context = context
            if self.on_context:
                self.on_context(context)

    def notice(self, text: str) -> None:
        """Tell the user something about the set-up (missing hardware, ...) and log it."""
        self._emit_record(note_record(self.clock.now(), "notice", text))

    # -- input ----------------------------------------------------------------

    def speaking(self) -> bool:
        """True while the companion is still talking (plus its echo tail)."""
        if self.voice is None or not self.voice.speaking():
            return False
        self._last_spoken = (self.voice.speaking_text(), self.clock.now())
        return True

    def speaking_text(self) -> str:
        return self.voice.speaking_text() if self.voice is not None else ""

    def _spoken_over(self, heard: Heard) -> tuple[bool, str]:
        """Whether ``heard`` was said over the companion's voice, and what it was saying then.

        While it speaks (or its echo tail lasts), what it is saying. An utterance that began over
        it and is understood after it stopped is still one said over its voice; when what it said
        last was the question waiting for an answer, and it stopped no more than
        :data:`ANSWER_GRACE_SECONDS` ago, it was said over that question (so a yes or no in it
        counts); otherwise what it was saying is not known ("")."""
        if heard.recognition is None:
            return False, ""
        if self.speaking():
            return True, self.speaking_text()
        if not heard.over_speech:
            return False, ""
        text, seen = self._last_spoken
        recent = self.clock.now() - seen <= ANSWER_GRACE_SECONDS
        return True, text if recent and text and text == self.question() else ""

    def question(self) -> str:
        """The yes/no question waiting for its answer: a read-back of ours, else the session's own."""
        return self._unsure_question if self._unsure is not None else self.session.question

    def hear(self, heard: Heard) -> None:
        """Understand one utterance and feed it to the engine; stop cuts speech off first.

        Safety comes before commands: whatever was said is checked for red flags (which end
        the session), then, unless it is a stop, for symptoms (which pause it and ask), and
        only then matched as a command. An answer to the question the session asked (a
        pain score, where it hurts) is taken as that answer.
        """
        at = max(heard.at, self.session.now)
        if heard.source == "device-lost":
            # The microphone went away: pause rather than run on with nobody able to say stop.
            self._emit_record(note_record(at, "notice", self.phrases.device_lost_session.format(reason=heard.text)))
            self._emit(self.session.feed(CommandEvent(at, Command.PAUSE, "microphone lost")))
            return
        if self._question_open and heard.source != "device-lost":
            if self._answer_question(heard, at):
                return
        speaking, spoken = self._spoken_over(heard)
        said = heard
        if not speaking and self._unsure is None:  # (while a read-back waits, a yes or no is wanted)
            heard = self.interpreter.with_guess(heard, self.session.awaiting)
        meaning = self.interpreter.interpret(heard, at, self.session.awaiting, speaking, spoken, self.question())
        event, command, how = meaning.event, meaning.command, meaning.how
        if speaking and isinstance(event, AnswerEvent):
            for output in self.outputs:
                output.interrupt()  # answered while still asking: the rest of the question goes unsaid
        # A guessed answer is not what the person's words said: those are still checked for safety.
        answered = isinstance(event, (AnswerEvent, NumberEvent, PlaceEvent)) and heard is said
        if self._listened(said, speaking) and not answered:
            if self._red_flag(said, at):
                return
            if command != Command.STOP.value and self._symptom(said, at):
                return  # "stop" still wins: a stop phrase is never turned into a symptom question
            if how == "question":  # a spoken question mid-session (a sentence Whisper heard): answer it
                self._emit_record(self._heard_record(heard, at, None, "question"))
                answer = self._knowledge().ask(heard.text)
                self._emit(self.session.feed(Told(at, self._reminder.text(answer))))
                return
        if command == Command.STOP.value:
            for output in self.outputs:
                output.interrupt()
        record = self._heard_record(heard, at, command, heard.source, how)
        if isinstance(event, AnswerEvent):
            record["answer"] = "yes" if event.answer else "no"
        elif isinstance(event, NumberEvent):
            record["answer"] = event.value
        elif isinstance(event, PlaceEvent):
            record["answer"] = event.place
        self._emit_record(record)
        if event is not None and heard.recognition is not None:
            event = self._confirm_unsure(event, heard, at)
        if event is not None:
            self._emit(self.session.feed(event))

    def _confirm_unsure(self, event: Event, heard: Heard, at: float) -> Event | None:
        """A pain score or place heard unclearly is read back first; a wrong one is worse than asking."""
        if self._unsure is not None and isinstance(event, AnswerEvent):
            unsure, self._unsure, self._unsure_question = self._unsure, None, ""
            if event.answer:
                return replace(unsure, at=at)
            self._emit(self.session.feed(Told(at, self.phrases.say_again)))
            return None
        if isinstance(event, (NumberEvent, PlaceEvent)) and not self.interpreter.sure_enough(heard):
            value = event.value if isinstance(event, NumberEvent) else self.vocabulary.place_name(event.place)
            self._unsure = event
            self._unsure_question = self.phrases.check_heard.format(value=value)
            self._emit(self.session.feed(Told(at, self._unsure_question)))
            return None
        return event

    # -- questions ------------------------------------------------------------

    def _knowledge(self) -> Answerer:
        if self._answerer is None:
            self._answerer = default_answerer()
            self._reminder = TreatmentReminder(self._answerer.replies.treatment_reminder)
        return self._answerer

    def _listened(self, heard: Heard, speaking: bool) -> bool:
        """Whether to look for red flags and symptoms in what was heard.

        Typed words always; speech only when it was not said over the companion's own voice
        (its own "Stop if pain spreads into your leg" must never come back as a symptom) and
        was heard surely enough to be asked about.
        """
        recognition = heard.recognition
        if recognition is None:
            return True
        return not speaking and recognition.confidence >= self.interpreter.understanding.policy.ask

    def _heard_record(self, heard: Heard, at: float, command: str | None, source: str,
                      how: str | None = None) -> dict[str, Any]:
        """The log record of an utterance, with how surely and by which model it was heard: a red flag
        or symptom acted on is traced back to its recognition as a misheard command is."""
        record = heard_record(at, heard.text, command, source)
        if heard.recognition is not None:
            record["confidence"] = heard.recognition.confidence
            if how is not None:
                record["decision"] = how
            if by := heard.recognition.details.get("decided_by"):
                record["heard_by"] = by
        return record

    def _red_flag(self, heard: Heard, at: float) -> bool:
        """Red flags are checked first on everything said or typed; one ends the exercise part."""
        flag = detect(heard.text)
        if flag is None:
            return False
        for output in self.outputs:
            output.interrupt()
        self._emit_record(self._heard_record(heard, at, None, "question"))
        self._emit(self.session.feed(RedFlagEvent(at, flag.id, " ".join(flag.advice.split()))))
        return True

    def _symptom(self, heard: Heard, at: float) -> bool:
        """A symptom said mid-session (pain spreading, dizziness, ...): everything goes quiet, the engine asks."""
        found = detect_symptom(heard.text)
        if found is None:
            return False
        self._unsure = None  # a number or place waiting to be read back gives way to the symptom's own question
        for output in self.outputs:
            output.interrupt()
        record = self._heard_record(heard, at, None, heard.source)
        record["symptom"] = found.id
        self._emit_record(record)
        self._emit(self.session.feed(SymptomEvent(at, found.id, found.action, found.say, heard.text)))
        return True

    def _answer_question(self, heard: Heard, at: float) -> bool:
        """The utterance after "I have a question": answer it, then carry on where we were."""
        match = self.vocabulary.match(heard.text)
        if match and match.command is Command.STOP:
            self._question_open = False
            return False  # stop is stop, even here
        if not heard.text.strip():
            return True
        self._question_open = False
        if self._red_flag(heard, at) or self._symptom(heard, at):
            return True
        status = {Command.HOW_MANY_LEFT, Command.WHATS_NEXT, Command.HOW_LONG_LEFT, Command.PURPOSE}
        if match and match.command in status:
            self._emit_record(self._heard_record(heard, at, match.command.value, "question"))
            self._emit(self.session.feed(CommandEvent(at, match.command, heard.text)))
        else:
            # The words as heard were checked for safety above; another reading of them may still be
            # the one the knowledge base answers, or name a red flag.
            reading, answer = self._knowledge().ask_heard(heard.readings)
            chosen = replace(heard, text=reading or heard.text)
            if answer.urgent and self._red_flag(chosen, at):
                return True
            record = self._heard_record(chosen, at, None, "question")
            if chosen.text != heard.text:
                record["transcript"] = heard.text  # what Whisper wrote first; the text is the reading answered
            self._emit_record(record)
            self._emit(self.session.feed(Told(at, self._reminder.text(answer))))
        self._emit(self.session.feed(CommandEvent(at, Command.RESUME, "after the question")))
        return True

    # -- the loop -------------------------------------------------------------

    def run(self) -> str:
        """Run until the session ends; returns "completed", "stopped" or "interrupted"."""
        try:
            self._emit(self.session.start(self.clock.now(), self.first_step))
            if isinstance(self.clock, VirtualClock):
                self._run_virtual(self.clock)
            else:
                self._run_real()
        except KeyboardInterrupt:
            for output in self.outputs:
                output.interrupt()
            self._emit_record(note_record(self.clock.now(), "interrupted", self.phrases.interrupted))
            self._emit(self.session.feed(CommandEvent(self.clock.now(), Command.STOP, "ctrl-c")))
            return "interrupted"
        finally:
            for output in self.outputs:
                output.close()
        return self._reason()

    def _reason(self) -> str:
        for record in reversed(self.records):
            if record["kind"] == "finished":
                return record["text"]
        return "unfinished"

    def _run_virtual(self, clock: VirtualClock) -> None:
        script = self._script
        while not self.session.finished:
            deadline = self.session.next_deadline()
            if script and (deadline is None or script[0].at <= deadline):
                line = script.pop(0)
                clock.advance_to(line.at)
                self._emit(self.session.feed(Tick(clock.now())))
                if not self.session.finished:
                    self.hear(replace(line, at=clock.now()))
                continue
            if deadline is None:
                self.notice(self.phrases.script_ended_paused)
                self._emit(self.session.feed(CommandEvent(clock.now(), Command.STOP, "end of script")))
                return
            clock.advance_to(deadline)
            self._emit(self.session.feed(Tick(deadline)))

    def advance_to(self, at: float) -> None:
        """Virtual clock only: play the session forward to ``at`` (for simulations and tests)."""
        assert isinstance(self.clock, VirtualClock)
        if not self.session.started:
            self._emit(self.session.start(self.clock.now()))
        while (deadline := self.session.next_deadline()) is not None and deadline <= at:
            self.clock.advance_to(deadline)
            self._emit(self.session.feed(Tick(deadline)))
        self.clock.advance_to(at)
        self._emit(self.session.feed(Tick(at)))

    def _run_real(self) -> None:
        while not self.session.finished:
            deadline = self.session.next_deadline()
            wait = REFRESH_SECONDS if deadline is None else min(REFRESH_SECONDS, deadline - self.clock.now())
            try:
                heard = self.inbox.get(timeout=max(0.0, wait))
            except queue.Empty:
                self._emit(self.session.feed(Tick(self.clock.now())))
            else:
                self._emit(self.session.feed(Tick(heard.at)))
                if not self.session.finished:
                    self.hear(heard)
            self.speaking()  # notes what is being said, for an answer begun over it (see _spoken_over)
            if self._live is not None:
                self._live.show_status(self.session.status(self.clock.now()))
