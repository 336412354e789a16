"""The routine engine: a deterministic state machine, events in, cues out.

It owns "what happens next" and nothing else: no clock, no audio, no files.
Every deadline is computed from the phase start, which is computed from the
session start, so waiting never accumulates drift however late the caller
wakes up; a pause shifts the current phase start by exactly the paused time,
so a hold resumes where it left off.

A yes/no question of its own about what to do (an unsure command asked about
first, "Do you want to end the session?") holds the routine the same way: nothing
more is said and no timer runs on until it is answered. Unanswered, it is asked
once more in a short form, then dropped (see :data:`ANSWER_SECONDS`). A hold's
comfort or symptom check does not hold it: the person is in position and the hold
time is a limit from the source, never to be stretched; its answer counts until
the wait runs out, and then the check lapses without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from companion.engine.pain import ARM_PLACE_ORDER, PLACE_ORDER, judge, judge_during
from companion.content.phrases import Phrases
from companion.engine.cues import (Answered, Cue, ExerciseDone, ExerciseStarted, PainRecorded, PainStopped,
                                   QuestionRequested,
                                   RedFlagRaised, Say, SayKind, SessionFinished,
                                   StateChanged, StepFinished, StepStarted, SymptomReported, VoiceChanged)
from companion.engine.events import (AnswerEvent, Command, CommandEvent, Event, NumberEvent, PlaceEvent, RedFlagEvent,
                                     SymptomEvent, Told, Unrecognised)

# How long a question of its own waits for its answer, counted from when it has been said (its
# words at the plan's speaking rate after it was asked, so a long question leaves as much time as a
# short one). A yes or no comes within 1-3 s for most people; the recogniser needs about 1 s more
# to hear the end of it and decide. 8 s is more than twice that, for someone lying on the floor,
# moving, or slow to answer, yet short enough that silence after a lost answer is not taken for
# a hang. Then the question is asked once more in a short form ("Pause? Yes or no."), which the
# person has heard in full already: 6 s after that. A question never answered costs about
# 8 + 6 s plus the two questions' words (about 18 s for "Did you say pause?"), and is then
# dropped: the session carries on as if "no", or, when paused (an unsure stop), stays paused.
ANSWER_SECONDS = 8.0
AGAIN_SECONDS = 6.0
COMFORT = "comfort"  # the pending question is "Are you comfortable?"
# The pending question is a hold's symptom check ("Has any pain moved into your buttock or leg?"):
# a yes means pain has spread, which stops the exercise. Each check stands for a symptom finding.
CHECKS = {"check:leg": "spreading-leg", "check:arm": "spreading-arm"}
EXERCISE_QUESTIONS = ("pain-score", "pain-place", "ready")  # questions that belong to an exercise
from companion.engine.plan import (INFINITE, PACE_STEPS, HoldStep, Phase, Plan, QuestionStep, RepsStep, Step,
                                   Timing, describe_time, sentence_start)
# Commands that only answer or change the voice: said while a question waits, they are answered
# and the question keeps waiting (and the routine stays held).
KEEP_QUESTION = frozenset({Command.HOW_MANY_LEFT, Command.WHATS_NEXT, Command.HOW_LONG_LEFT, Command.PURPOSE,
                           Command.HELP, Command.REPEAT, Command.LOUDER, Command.QUIETER})


@dataclass
class _Asked:
    """A yes/no question of the session's own, waiting for its answer."""

    about: Command | str  # the command asked about, COMFORT, or a hold's symptom check ("check:leg")
    text: str  # the question as last said
    quiet_from: float  # when its words (or an answer given meanwhile) have been said: the wait starts here
    again: bool = False  # asked a second time already, in the short form
    holds: bool = True  # the routine waits for it (a hold's check-in does not: the hold runs on)


@dataclass
class _SymptomQuestion:
    """A question asked after a symptom was said; the session stays paused until it is answered."""

    finding: str
    action: str  # "ask-spread" (yes/no) or "ask-score" (0-10)
    routine_id: str  # the exercise it was said in ("" before any exercise began)
    was_paused: bool  # paused already when it was said: a "no" does not resume
    text: str = ""  # the question as said


@dataclass(frozen=True)
class Status:
    """A snapshot for displays and status answers; derived, never stored."""

    at: float
    step_index: int
    step_count: int
    step_title: str
    step_kind: str
    step_elapsed: float
    step_total: float
    session_left: float
    paused: bool
    finished: bool
    pace: float


class Session:
    """Walks a :class:`Plan`. Feed it events with :meth:`feed`; render the cues it returns."""

    def __init__(self, plan: Plan, phrases: Phrases, titles: dict[str, str] | None = None, pace: float = 1.0,
                 pain_texts: dict[str, str] | None = None):
        if not plan.steps:
            raise ValueError("a session needs at least one step")
        self.plan = plan
        self.phrases = phrases
        self.titles = titles or {}
        self.pace = min(PACE_STEPS, key=lambda p: abs(p - pace))
        self.now = 0.0
        self.started = False
        self.finished = False
        self.paused = False
        self._paused_at = 0.0
        self._index = 0
        self._step_pace = self.pace
        self._step_start = 0.0
        self._phase_index = 0
        self._phase: Phase | None = None
        self._phase_start = 0.0
        self._progress = 0.0
        self._next_cue = 0
        self._last_routine: str | None = None
        self._asked: _Asked | None = None  # a yes/no question of its own, waiting for its answer
        self._held_at: float | None = None  # the routine clock was held at this time for that question
        self._resumed_at = 0.0  # when the routine clock last ran on after a hold or pause: nothing is due before
        self._command_names: dict[Command, str] = {}  # how the language named a command asked about
        self.timing = Timing()  # how long its words take to say, to time the wait for an answer
        self._symptom: _SymptomQuestion | None = None  # a symptom question waiting for its answer
        self.pain: dict[tuple[str, str], dict] = {}
        self._cut_short: set[str] = set()  # routines ended early because the user was not comfortable
        self.pain_texts: dict[str, str] = pain_texts or {}

    # -- public API ---------------------------------------------------------

    def start(self, at: float = 0.0, step: int = 0) -> list[Cue]:
        """Begin at ``at``; ``step`` > 0 resumes an interrupted session at that step."""
        if self.started:
            return []
        self.started = True
        self.now = at
        out: list[Cue] = []
        self._enter_step(max(0, min(step, len(self.plan.steps) - 1)), at, out)
        self._run_until(at, out)
        return out

    def feed(self, event: Event) -> list[Cue]:
        """Apply one event and return the cues it causes, in time order."""
        if not self.started:
            out = self.start(0.0)
        else:
            out = []
        if self.finished:
            return out
        at = max(event.at, self.now)  # time never runs backwards
        self._run_until(at, out)
        if self.finished:
            return out
        at = max([at, *(cue.at for cue in out)])  # a cue due within a hair after ``at`` was said first
        if isinstance(event, SymptomEvent):
            self._on_symptom(event, at, out)
        elif self._symptom is not None and not self._stop_pending() and self._symptom_answer(event):
            self._answer_symptom(event, at, out)
        elif self._symptom is not None and not self._stop_pending() and (
                isinstance(event, (AnswerEvent, PlaceEvent, NumberEvent, Unrecognised)) or (
                isinstance(event, CommandEvent) and event.confirm and event.command is not Command.STOP)):
            out.append(Say(at, self._symptom_hint(), SayKind.SYSTEM))  # the symptom question comes first
        elif isinstance(event, CommandEvent) and event.confirm and event.command is not Command.STOP:
            self._ask_first(event.command, event.name, at, out)
        elif isinstance(event, CommandEvent):
            if event.command is Command.STOP and event.confirm:
                # A stop we are unsure of still halts everything at once (pause), then asks.
                self._command(Command.PAUSE, at, out, quiet=True)
                self._ask(Command.STOP, self.phrases.confirm_stop, at, out)
            elif self._asked is not None and event.command in KEEP_QUESTION:
                # "How long is left?" while a question waits: answered, and the question keeps waiting.
                said = len(out)
                self._command(event.command, at, out)
                self._waited_for(out[said:], at)
            else:
                self._drop_question(at)
                self._command(event.command, at, out)
        elif isinstance(event, AnswerEvent) and self._asked is not None:
            self._answer_pending(event, at, out)  # the question asked last is the one answered
        elif isinstance(event, (AnswerEvent, NumberEvent, PlaceEvent)) and isinstance(self.current_step, QuestionStep):
            self._drop_question(at)  # a pain score or place answers the step: a command asked about is moot
            self._answer_step(self.current_step, event, at, out)
        elif isinstance(event, (NumberEvent, PlaceEvent, Unrecognised)) and self._asked is not None:
            out.append(Say(at, self.phrases.answer_yes_no, SayKind.SYSTEM))
            self._waited_for(out[-1:], at)
        elif isinstance(event, AnswerEvent):
            out.append(Say(at, self.phrases.nothing_to_answer, SayKind.SYSTEM))
        elif isinstance(event, (NumberEvent, PlaceEvent)):
            out.append(Say(at, self.phrases.nothing_to_answer, SayKind.SYSTEM))
        elif isinstance(event, Told):
            out.append(Say(at, event.text, SayKind.STATUS))
            self._waited_for(out[-1:], at)
        elif isinstance(event, RedFlagEvent):
            # Safety before everything: the exercise part ends here, with the advice.
            out.append(Say(at, event.advice, SayKind.WARNING))
            out.append(RedFlagRaised(at, event.flag_id))
            out.append(SessionFinished(at, "red-flag"))
            self.finished = True
        elif isinstance(event, Unrecognised) and isinstance(self.current_step, QuestionStep):
            out.append(Say(at, self._answer_hint(self.current_step), SayKind.SYSTEM))
        elif isinstance(event, Unrecognised):
            out.append(Say(at, self.phrases.unknown, SayKind.SYSTEM))
        self.now = at
        return out

    def next_deadline(self) -> float | None:
        """When the next cue or phase change is due, or a question of its own times out; None when
        finished, paused or waiting for an answer with no time limit."""
        if self.finished:
            return None
        if self._asked is not None and self._asked.holds:
            return self._question_deadline()  # the routine is held (or paused) while it waits
        if self._asked is not None:  # a hold's check-in lapses while the hold runs on
            routine = self._routine_deadline()
            return self._question_deadline() if routine is None else min(routine, self._question_deadline())
        return self._routine_deadline()

    def _routine_deadline(self) -> float | None:
        if self.paused or self._phase is None:
            return None
        if self._next_cue < len(self._phase.cues):
            return self._phase_start + self._phase.cues[self._next_cue][0]
        end = self._phase_start + self._phase.duration
        return None if end == INFINITE else end

    @property
    def awaiting(self) -> str | None:
        """What kind of answer the session waits for: "yesno", "number", "place", "arm-place", or None."""
        if self.finished:
            return None
        if self._symptom is not None:
            return "yesno" if self._symptom.action == "ask-spread" else "number"
        if self._asked is not None:
            return "yesno"
        step = self.current_step
        if isinstance(step, QuestionStep):
            return step.answer_kind
        return None

    @property
    def question(self) -> str:
        """The yes/no question the session waits on, as it was last said ("" when none): an answer
        heard while the companion says it (:mod:`companion.language.understanding`) is one to it."""
        if self.finished:
            return ""
        if self._asked is not None:
            return self._asked.text
        if self._symptom is not None:
            return self._symptom.text if self._symptom.action == "ask-spread" else ""
        step = self.current_step
        return step.main.text if isinstance(step, QuestionStep) and step.answer_kind == "yesno" else ""

    def status(self, at: float | None = None) -> Status:
        at = self.now if at is None else max(at, self.now)
        step = self.plan.steps[self._index]
        elapsed = self._step_elapsed(at)
        total = step.estimate(self._step_pace) if not self.finished else 0.0
        left = 0.0 if self.finished else max(0.0, total - elapsed) + sum(
            s.estimate(self.pace) for s in self.plan.steps[self._index + 1:])
        return Status(at, self._index, len(self.plan.steps), step.title, step.kind, elapsed, total, left,
                      self.paused, self.finished, self.pace)

    @property
    def awaiting_answer(self) -> bool:
        """A yes/no question of its own is open (listen for answers, not commands)."""
        return self._asked is not None and not self.finished

    @property
    def current_step(self) -> Step:
        return self.plan.steps[self._index]

    # -- time ---------------------------------------------------------------

    def _step_elapsed(self, at: float) -> float:
        if self._phase is None:
            return 0.0
        now = self._paused_at if self.paused else at if self._held_at is None else self._held_at
        return self._progress + max(0.0, now - self._phase_start)

    def _run_until(self, at: float, out: list[Cue]) -> None:
        while not self.finished:
            if self._asked is not None:
                deadline = self._question_deadline()
                if not self._asked.holds:
                    if deadline <= at + 1e-9:
                        self._asked = None  # an unanswered check-in lapses quietly
                        continue
                elif deadline > at + 1e-9:
                    return  # held (or paused) until it is answered or times out
                else:
                    self._time_out(deadline, out)
                    continue
            if self.paused or self._phase is None:
                return
            cues = self._phase.cues
            asked = False
            while self._next_cue < len(cues) and self._phase_start + cues[self._next_cue][0] <= at + 1e-9:
                offset, cue = cues[self._next_cue]
                # (never before the clock ran on again: the shifted phase start may round a hair early)
                out.append(replace(cue, at=max(self._phase_start + offset, self._resumed_at)))
                self._next_cue += 1
                step = self.plan.steps[self._index]
                if isinstance(cue, Say) and cue.kind is SayKind.QUESTION and isinstance(step, HoldStep):
                    # A comfort or symptom check: the hold waits for its answer. (A question step's
                    # question waits as a step does: it has no end until it is answered.)
                    tag = f"check:{step.check}" if f"check:{step.check}" in CHECKS else COMFORT
                    self._ask(tag, cue.text, out[-1].at, out, said=True, holds=False)
                    asked = True
                    break
            if asked:
                continue
            end = max(self._phase_start + self._phase.duration, self._resumed_at)
            if end > at + 1e-9:
                return
            self._progress += self._phase.duration
            self._phase_index += 1
            self._begin_phase(end, out)

    # -- questions of its own --------------------------------------------------

    def _ask(self, about: Command | str, text: str, at: float, out: list[Cue], said: bool = False,
             holds: bool = True) -> None:
        """Ask ``text`` (a yes/no question about ``about``) and, if ``holds``, hold the routine until it
        is answered.

        ``said``: the question is a cue of the plan, already in ``out``."""
        if not said:
            out.append(Say(at, text, SayKind.SYSTEM))
        if holds and not self.paused and self._held_at is None:
            self._held_at = at
        self._asked = _Asked(about, text, at + self.timing.speech(text), holds=holds)

    def _question_deadline(self) -> float:
        asked = self._asked
        return asked.quiet_from + (AGAIN_SECONDS if asked.again else ANSWER_SECONDS)

    def _waited_for(self, said: list[Cue], at: float) -> None:
        """Something was said while a question waits (an answer to "how long is left?"): the wait for
        the answer starts again once it has been said."""
        if self._asked is None:
            return
        for cue in said:
            if isinstance(cue, Say):
                self._asked.quiet_from = max(self._asked.quiet_from, at + self.timing.speech(cue.text))

    def _time_out(self, at: float, out: list[Cue]) -> None:
        """No answer by ``at``: ask once more in a short form, or drop the question."""
        asked = self._asked
        if not asked.again:
            text = self._again_text(asked.about)
            out.append(Say(at, text, SayKind.QUESTION if isinstance(asked.about, str) else SayKind.SYSTEM))
            asked.text, asked.again = text, True
            asked.quiet_from = at + self.timing.speech(text)
            return
        self._drop_question(at)
        # As if "no": the command is not done and the exercise goes on; a pause (an unsure stop
        # always paused first) stays, and says how to go on.
        text = self.phrases.question_dropped_paused if self.paused else self.phrases.question_dropped
        out.append(Say(at, text, SayKind.SYSTEM))

    def _again_text(self, about: Command | str) -> str:
        ph = self.phrases
        fixed = {Command.NEXT: ph.again_next, Command.BACK: ph.again_back, Command.STOP: ph.again_stop,
                 COMFORT: ph.again_comfort, "check:leg": ph.again_check_leg, "check:arm": ph.again_check_arm}
        if about in fixed:
            return fixed[about]
        return ph.again_other.format(command=sentence_start(self._command_names.get(about, "")
                                                            or about.value.replace("_", " ")))

    def _drop_question(self, at: float) -> _Asked | None:
        """The question no longer waits (answered, timed out or overtaken): the routine clock runs on
        from ``at`` where it was held."""
        asked, self._asked = self._asked, None
        if self._held_at is not None:
            self._phase_start += at - self._held_at
            self._held_at, self._resumed_at = None, at
        return asked

    def _begin_phase(self, start: float, out: list[Cue]) -> None:
        step = self.plan.steps[self._index]
        phase = step.phase(self._phase_index, self._progress, self.pace, self._step_pace)
        if phase is None:
            out.append(StepFinished(start, self._index))
            if step.kind == "finish" and step.routine_id not in self._cut_short:
                out.append(ExerciseDone(start, step.routine_id))
            self._enter_step(self._index + 1, start, out)
            return
        self._phase, self._phase_start, self._next_cue = phase, start, 0

    def _enter_step(self, index: int, at: float, out: list[Cue]) -> None:
        if index >= len(self.plan.steps):
            self._phase = None
            self._finish(at, "completed", self.phrases.session_done, out)
            return
        self._index = index
        step = self.plan.steps[index]
        if step.routine_id != self._last_routine and step.routine_id in self.titles:
            out.append(ExerciseStarted(at, step.routine_id, self.titles[step.routine_id]))
        self._last_routine = step.routine_id
        self._step_pace = self.pace
        self._step_start = at
        self._phase_index, self._progress = 0, 0.0
        out.append(StepStarted(at, index, step.title, step.kind, round(step.estimate(self.pace), 2)))
        self._phase = None
        self._begin_phase(at, out)

    def _finish(self, at: float, reason: str, text: str, out: list[Cue]) -> None:
        out.append(Say(at, text, SayKind.SYSTEM))
        out.append(SessionFinished(at, reason))
        self.finished = True

    # -- commands -----------------------------------------------------------

    def _answer_hint(self, step: QuestionStep) -> str:
        ph = self.phrases
        return {"yesno": ph.answer_yes_no, "number": ph.answer_number, "place": ph.answer_place,
                "arm-place": ph.answer_arm_place}[step.answer_kind]

    def _answer_step(self, step: QuestionStep, event: Event, at: float, out: list[Cue]) -> None:
        """An answer to the question the current step asks."""
        expected = {"yesno": AnswerEvent, "number": NumberEvent, "place": PlaceEvent,
                    "arm-place": PlaceEvent}[step.answer_kind]
        if not isinstance(event, expected):
            out.append(Say(at, self._answer_hint(step), SayKind.SYSTEM))
            return
        self._unpause(at, out)
        if step.tag == "screen":
            out.append(Answered(at, "screen", "yes" if event.answer else "no", step.data.get("flag_id", "")))
            if event.answer:
                out.append(Say(at, step.data["advice"], SayKind.WARNING))
                out.append(RedFlagRaised(at, step.data.get("flag_id", "")))
                out.append(SessionFinished(at, "red-flag"))
                self.finished = True
                return
        elif step.tag == "acute":
            out.append(Answered(at, "acute", "yes" if event.answer else "no"))
            if event.answer and step.data.get("refusal"):
                # The source: these exercises are not for the acute stage; rest, or the gentlest one.
                out.append(Say(at, step.data["refusal"], SayKind.WARNING))
                out.append(SessionFinished(at, "acute"))
                self.finished = True
                return
        elif step.tag == "seen-doctor":
            out.append(Answered(at, "seen-doctor", "yes" if event.answer else "no", step.data.get("flag_id", "")))
            if not event.answer:
                # The red flag stays open: its advice again, and no exercise until a doctor has been seen.
                out.append(Say(at, step.data["advice"], SayKind.WARNING))
                out.append(SessionFinished(at, "red-flag"))
                self.finished = True
                return
        elif step.tag == "ready":
            if not event.answer:
                out.append(Say(at, self.phrases.not_ready, SayKind.SYSTEM))
                return
        elif step.tag == "pain-score":
            self.pain[(step.data["routine_id"], step.data["when"])] = {"score": event.value}
        elif step.tag == "pain-place":
            key = (step.data["routine_id"], step.data["when"])
            record = self.pain.setdefault(key, {"score": -1})
            record["place"] = event.place
            record["order"] = ARM_PLACE_ORDER if step.answer_kind == "arm-place" else PLACE_ORDER
            out.append(PainRecorded(at, key[0], key[1], record["score"], event.place))
            if key[1] == "after" and self._pain_rules(key[0], at, out):
                return
        self._jump(self._index + 1, at, out, skipped=False)

    def _pain_rules(self, routine_id: str, at: float, out: list[Cue]) -> bool:
        """Compare after with before; True when the session ends because pain got worse."""
        before = self.pain.get((routine_id, "before"))
        after = self.pain.get((routine_id, "after"))
        if not before or not after:
            return False
        order = after.get("order", PLACE_ORDER)
        verdict = judge(before["score"], before.get("place", "none"), after["score"], after.get("place", "none"),
                        order)
        texts = self.pain_texts
        if verdict.kind == "spread":
            spread = self.phrases.pain_spread_arm if order is ARM_PLACE_ORDER else texts["worse_spread"]
            out.append(Say(at, spread, SayKind.WARNING))
        elif verdict.kind == "rise":
            out.append(Say(at, texts["worse_rise"].format(rise=verdict.rise), SayKind.WARNING))
        elif verdict.kind == "centralised":
            out.append(Say(at, texts["better_central"], SayKind.STATUS))
            return False
        else:
            return False
        self._stop_exercise(routine_id, texts["then_gentlest"], texts["then_end"], at, out, skipped=False)
        return True

    def _stop_exercise(self, routine_id: str, then_gentlest: str, then_end: str, at: float, out: list[Cue],
                       skipped: bool = True) -> None:
        """A pain rule stops ``routine_id``: go on with the gentlest exercise after one of the family, else end.

        The rest of the plan is replaced by the gentlest routine (the plan's fallback), so the
        step index only ever moves forward.
        """
        plan = self.plan
        if routine_id in plan.fallback_for and plan.fallback and plan.fallback[0] not in plan.steps:
            gentlest = plan.fallback[0]
            out.append(Say(at, then_gentlest.format(title=self.titles.get(gentlest.routine_id, gentlest.title)),
                           SayKind.WARNING))
            out.append(PainStopped(at, routine_id, "gentlest"))
            plan.steps[self._index + 1:] = plan.fallback
            self._jump(self._index + 1, at, out, skipped=skipped)
            return
        out.append(Say(at, then_end, SayKind.WARNING))
        out.append(PainStopped(at, routine_id, "end"))
        out.append(SessionFinished(at, "pain"))
        self.finished = True

    # -- symptoms -------------------------------------------------------------

    def _exercise_routine(self) -> str:
        """The routine being done, or just done (in a programme's rest); "" before any exercise began."""
        for index in range(self._index, -1, -1):
            step = self.plan.steps[index]
            if step.kind == "screening" or (isinstance(step, QuestionStep) and step.tag not in EXERCISE_QUESTIONS):
                return ""  # the safety questions before any exercise
            if not self.titles or step.routine_id in self.titles:
                return step.routine_id
        return ""

    def _on_symptom(self, event: SymptomEvent, at: float, out: list[Cue]) -> None:
        """A symptom was said: pause at once (quietly, like an unsure stop), then do what the data says."""
        asking = self._symptom
        routine_id = asking.routine_id if asking else self._exercise_routine()
        out.append(SymptomReported(at, event.finding, event.action, routine_id))
        was_paused = asking.was_paused if asking else self.paused
        self._drop_question(at)
        self._command(Command.PAUSE, at, out, quiet=True)
        if event.action == "end":
            self._symptom = None
            out.append(Say(at, event.say, SayKind.WARNING))
            out.append(SessionFinished(at, "symptom"))
            self.finished = True
        elif event.action in ("ask-spread", "ask-score"):
            if asking is not None and asking.action == event.action == "ask-spread":
                # Said again while we ask whether it spreads: that is a yes.
                self._answer_symptom(AnswerEvent(at, True, event.text), at, out)
                return
            self._symptom = _SymptomQuestion(event.finding, event.action, routine_id, was_paused, event.say)
            out.append(Say(at, event.say, SayKind.QUESTION))
        else:  # "pause": stay paused until resume or stop
            self._symptom = None
            out.append(Say(at, event.say, SayKind.WARNING))

    def _symptom_answer(self, event: Event) -> bool:
        return isinstance(event, AnswerEvent if self._symptom.action == "ask-spread" else NumberEvent)

    def _stop_pending(self) -> bool:
        """An unsure "stop" asked "Do you want to end the session?": its yes or no comes first."""
        return self._asked is not None and self._asked.about is Command.STOP

    def _symptom_hint(self) -> str:
        return self.phrases.answer_yes_no if self._symptom.action == "ask-spread" else self.phrases.answer_number

    def _answer_symptom(self, event: Event, at: float, out: list[Cue]) -> None:
        """The answer to a symptom question: stop the exercise by the pain rules, or carry on."""
        asked, self._symptom = self._symptom, None
        ph, routine_id = self.phrases, asked.routine_id
        if asked.action == "ask-spread":
            out.append(Answered(at, "symptom", "yes" if event.answer else "no"))
            if event.answer:
                out.append(Say(at, ph.symptom_spread_stop, SayKind.WARNING))
                self._stop_exercise(routine_id, ph.symptom_then_gentlest, ph.symptom_then_end, at, out)
                return
            out.append(Say(at, ph.symptom_cleared, SayKind.SYSTEM))
        else:
            before = self.pain.get((routine_id, "before"), {})
            out.append(PainRecorded(at, routine_id, "during", event.value, before.get("place", "")))
            verdict = judge_during(before.get("score"), event.value)
            if verdict.kind in ("rise", "high"):
                text = ph.symptom_rise.format(rise=verdict.rise) if verdict.kind == "rise" else ph.symptom_high
                out.append(Say(at, text, SayKind.WARNING))
                self._stop_exercise(routine_id, ph.symptom_then_gentlest, ph.symptom_then_end, at, out)
                return
            out.append(Say(at, ph.symptom_score_ok, SayKind.SYSTEM))
        if asked.was_paused:
            out.append(Say(at, ph.confirm_cancelled_paused, SayKind.SYSTEM))
        else:
            self._command(Command.RESUME, at, out)

    def _ask_first(self, command: Command, name: str, at: float, out: list[Cue]) -> None:
        """Ask whether ``command`` was meant; ``name`` is how the language says it (else its id)."""
        ph = self.phrases
        if name:
            self._command_names[command] = name
        question = {Command.NEXT: ph.confirm_next, Command.BACK: ph.confirm_back}.get(
            command, ph.confirm_other.format(command=name or command.value.replace("_", " ")))
        self._ask(command, question, at, out)

    def _answer_pending(self, event: AnswerEvent, at: float, out: list[Cue]) -> None:
        """The answer to the question asked last; the routine runs on from here (unless paused)."""
        about = self._drop_question(at).about
        if about in CHECKS:
            if event.answer:  # pain has moved into the buttock or leg (the arm): the peripheralisation rule
                routine_id = self._exercise_routine()
                out.append(Answered(at, about, "yes"))
                out.append(SymptomReported(at, CHECKS[about], "ask-spread", routine_id))
                out.append(Say(at, self.phrases.symptom_spread_stop, SayKind.WARNING))
                self._stop_exercise(routine_id, self.phrases.symptom_then_gentlest, self.phrases.symptom_then_end,
                                    at, out)
            else:
                out.append(Say(at, self.phrases.comfort_yes, SayKind.SYSTEM))
        elif about == COMFORT:
            if event.answer:
                out.append(Say(at, self.phrases.comfort_yes, SayKind.SYSTEM))
            else:  # "stop if uncomfortable": end this exercise (not counted as done), go on to the next
                out.append(Answered(at, "comfort", "no"))
                out.append(Say(at, self.phrases.comfort_no, SayKind.SYSTEM))
                self._cut_short.add(self.current_step.routine_id)
                self._jump(self._finish_of_routine(), at, out, skipped=True)
        elif event.answer:
            self._command(about, at, out)
        else:
            text = self.phrases.confirm_cancelled_paused if self.paused else self.phrases.confirm_cancelled
            out.append(Say(at, text, SayKind.SYSTEM))

    def _command(self, command: Command, at: float, out: list[Cue], quiet: bool = False) -> None:
        ph = self.phrases
        say = lambda text, kind=SayKind.SYSTEM: out.append(Say(at, text, kind))  # noqa: E731
        if command is Command.STOP:
            self._symptom = None
            self._finish(at, "stopped", ph.stopped, out)
        elif command is Command.PAUSE:
            if self.paused:
                if not quiet:
                    say(ph.already_paused)
            else:
                self._drop_question(at)  # a question that held the routine gives way to the pause
                self.paused, self._paused_at = True, at
                if not quiet:
                    say(ph.paused)
                out.append(StateChanged(at, "paused", self.pace))
        elif command in (Command.LOUDER, Command.QUIETER):
            louder = command is Command.LOUDER
            out.append(VoiceChanged(at, 1 if louder else -1))
            say(ph.louder if louder else ph.quieter)
        elif command is Command.QUESTION:
            self._command(Command.PAUSE, at, out, quiet=True)
            say(ph.ask_question)
            out.append(QuestionRequested(at))
        elif command is Command.RESUME:
            self._symptom = None  # carrying on instead of answering a symptom question is the person's choice
            if not self.paused:
                say(ph.not_paused)
            else:
                self._unpause(at, out)
                step = self.current_step
                if isinstance(step, HoldStep) and self._phase_index > 0:
                    say(ph.resumed_hold.format(left=describe_time(self._hold_left(at), ph)))
                else:
                    say(ph.resumed)
                self._run_until(at, out)
        elif command is Command.NEXT:
            if not self.current_step.skippable:
                say(ph.cannot_skip_warning)
            else:
                self._jump(self._index + 1, at, out, skipped=True)
        elif command is Command.BACK:
            target = self._index - 1
            while target >= 0 and not self.plan.steps[target].skippable:
                target -= 1
            if target < 0:
                say(ph.first_step)
                target = self._index
            self._jump(target, at, out, skipped=True)
        elif command is Command.REPEAT:
            out.append(replace(self.current_step.main, at=at))
        elif command in (Command.SLOWER, Command.FASTER):
            self._change_pace(command, at, out)
        elif command is Command.HELP:
            say(ph.help_paused if self.paused else ph.help_running, SayKind.HELP)
        else:
            say(self._answer(command, at), SayKind.STATUS)

    def _unpause(self, at: float, out: list[Cue]) -> None:
        if self.paused:
            self._phase_start += at - self._paused_at
            self.paused, self._resumed_at = False, at
            out.append(StateChanged(at, "running", self.pace))

    def _jump(self, index: int, at: float, out: list[Cue], skipped: bool) -> None:
        self._symptom = None
        self._unpause(at, out)
        out.append(StepFinished(at, self._index, skipped=skipped))
        self._enter_step(index, at, out)
        self._run_until(at, out)

    def _finish_of_routine(self) -> int:
        """Index of the current routine's closing step."""
        rid = self.current_step.routine_id
        for index in range(self._index, len(self.plan.steps)):
            step = self.plan.steps[index]
            if step.routine_id == rid and step.kind == "finish":
                return index
        return len(self.plan.steps)

    def _change_pace(self, command: Command, at: float, out: list[Cue]) -> None:
        ph = self.phrases
        i = PACE_STEPS.index(self.pace)
        if command is Command.SLOWER:
            if i == len(PACE_STEPS) - 1:
                out.append(Say(at, ph.slowest, SayKind.SYSTEM))
                return
            self.pace = PACE_STEPS[i + 1]
            out.append(Say(at, ph.slower, SayKind.SYSTEM))
        else:
            if i == 0:
                out.append(Say(at, ph.fastest, SayKind.SYSTEM))
                return
            self.pace = PACE_STEPS[i - 1]
            out.append(Say(at, ph.faster, SayKind.SYSTEM))
        out.append(StateChanged(at, "paused" if self.paused else "running", self.pace))

    # -- status answers -------------------------------------------------------

    def _hold_left(self, at: float) -> float:
        step = self.current_step
        assert isinstance(step, HoldStep)
        lead = step.phase(0, 0, self.pace, self._step_pace).duration
        held = self._step_elapsed(at) - lead
        return max(0.0, step.hold_seconds(self._step_pace) - max(0.0, held))

    def _routine_steps_after(self) -> list[Step]:
        rid = self.current_step.routine_id
        return [s for s in self.plan.steps[self._index + 1:] if s.routine_id == rid]

    def _answer(self, command: Command, at: float) -> str:
        ph, step = self.phrases, self.current_step
        if command is Command.HOW_MANY_LEFT:
            if isinstance(step, RepsStep):
                done = max(0, step.rep_at(self._phase_index) - 1)
                parts = [ph.reps_left.format(reps=step.count - done)]
                sets_after = sum(1 for s in self._routine_steps_after() if isinstance(s, RepsStep))
                if sets_after:
                    parts.append(ph.sets_left.format(sets=sets_after))
                return " ".join(parts)
            if isinstance(step, HoldStep) and self._phase_index > 0:
                return ph.hold_left.format(time=describe_time(self._hold_left(at), ph))
            later = []
            for s in self.plan.steps[self._index + 1:]:
                if s.kind == "intro" and s.routine_id not in later and s.routine_id != step.routine_id:
                    later.append(s.routine_id)
            return ph.exercises_left.format(count=len(later)) if later else ph.last_exercise
        if command is Command.WHATS_NEXT:
            if self._index + 1 >= len(self.plan.steps):
                return ph.nothing_next
            return ph.next_is.format(title=self.plan.steps[self._index + 1].title)
        if command is Command.HOW_LONG_LEFT:
            status = self.status(at)
            text = ph.session_left.format(time=describe_time(status.session_left, ph))
            if isinstance(step, HoldStep) and self._phase_index > 0:
                text = ph.hold_left.format(time=describe_time(self._hold_left(at), ph)) + " " + text
            return text
        if command is Command.PURPOSE:
            return ph.purpose.format(purpose=step.purpose) if step.purpose else ph.no_purpose
        raise ValueError(f"not a status question: {command}")
