"""Turn a routine or programme into a flat list of steps the engine walks through.

A step is what ``next`` and ``back`` move between: an instruction, the safety
note, a hold, one set of reps (on one side), a rest. Each step produces its
timed *phases* lazily, one at a time, because the pace can change mid-step and
should apply from the next rep or call, not from the next exercise.

Pace never stretches a therapeutic hold beyond the routine's stated range:
holds given as ``[120, 180]`` grow to at most 180 seconds, fixed holds (the
5-second swallow, the 5-minute wall stand) stay as written. Pace changes the
parts we chose ourselves: movement tempo, rests, pauses between instructions.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field, replace

from companion.content.phrases import Phrases
from companion.content.schema import Hold, Programme, Reps, Routine, Span
from companion.engine.cues import Beep, Say, SayKind

SLOWEST_PACE = 2.0
FASTEST_PACE = 0.75
PACE_STEPS = (0.75, 1.0, 1.25, 1.5, 2.0)
DEFAULT_WORDS_PER_MINUTE = 150.0

Timed = tuple[float, Say | Beep]


@dataclass(frozen=True)
class Phase:
    """A stretch of ``duration`` seconds with cues at offsets from its start."""

    duration: float
    cues: tuple[Timed, ...] = ()


@dataclass(frozen=True)
class Timing:
    words_per_minute: float = DEFAULT_WORDS_PER_MINUTE

    def speech(self, text: str) -> float:
        """Roughly how long ``text`` takes to say, so the next cue does not talk over it."""
        return round(spoken_words(text) * 60.0 / self.words_per_minute, 2)


def spoken_words(text: str) -> int:
    """How many words ``text`` has when said.

    Chinese and Japanese put no spaces between words, so there each wide letter
    counts as one (a little slower than real speech, which is the safe side: the
    next cue waits rather than talking over this one).
    """
    if text.isascii():
        return len(text.split())
    count = 0
    for chunk in text.split():
        wide = sum(1 for ch in chunk if ch.isalnum() and unicodedata.east_asian_width(ch) in "WF")
        narrow = any(ch.isalnum() and unicodedata.east_asian_width(ch) not in "WF" for ch in chunk)
        count += wide + (1 if narrow or not wide else 0)
    return count


def describe_time(seconds: float, phrases: Phrases) -> str:
    """Spoken form of a duration, in the words of ``phrases``: '4 minutes', '1 minute 30 seconds', '45 seconds'."""
    total = int(math.ceil(seconds - 1e-9))
    minutes, secs = divmod(total, 60)
    minute_words = (phrases.minutes_one if minutes == 1 else phrases.minutes_other).format(n=minutes)
    second_words = (phrases.seconds_one if secs == 1 else phrases.seconds_other).format(n=secs)
    if minutes and secs:
        return phrases.minutes_and_seconds.format(minutes=minute_words, seconds=second_words)
    return minute_words if minutes else second_words


def sentence_start(text: str) -> str:
    """``text`` with a capital first letter ("left" -> "Left"); scripts without capitals are unchanged."""
    return text[:1].upper() + text[1:]


@dataclass
class Step:
    """Base class: subclasses say how their phases unfold."""

    routine_id: str
    title: str
    kind: str
    main: Say
    purpose: str | None = None
    skippable: bool = True

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        """Phase ``index`` given ``progress`` seconds of earlier phases; None when done."""
        raise NotImplementedError

    def estimate(self, pace: float) -> float:
        """Planned length of the whole step at ``pace``."""
        total, index, progress = 0.0, 0, 0.0
        while (ph := self.phase(index, progress, pace, pace)) is not None:
            total += ph.duration
            progress += ph.duration
            index += 1
        return total


@dataclass
class SpeechStep(Step):
    """Sentences said one after another, then a short settle pause."""

    lines: tuple[Say, ...] = ()
    settle: float = 1.0
    timing: Timing = field(default_factory=Timing)

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        if index >= len(self.lines):
            return None
        line = self.lines[index]
        last = index == len(self.lines) - 1
        duration = self.timing.speech(line.text) + (self.settle * pace if last else 0.3)
        return Phase(round(duration, 2), ((0.0, line),))


@dataclass
class RestStep(Step):
    seconds: float = 30.0
    phrases: Phrases | None = None
    timing: Timing = field(default_factory=Timing)

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        if index > 0:
            return None
        length = self.seconds * step_pace
        cues: list[Timed] = [(0.0, self.main)]
        if length >= 10 and self.phrases:
            cues.append((length - 3, Say(0, self.phrases.get_ready, SayKind.INSTRUCTION)))
        return Phase(round(length, 2), tuple(cues))


@dataclass
class HoldStep(Step):
    """Hold a position for a time (or keep a rhythm of ``calls`` going), counting down."""

    hold: Hold | None = None
    phrases: Phrases | None = None
    timing: Timing = field(default_factory=Timing)
    check: str = "comfort"  # what its comfort points ask: "comfort", "leg" or "arm" (the routine's symptom_check)

    def hold_seconds(self, pace: float) -> float:
        return clamp_to_span(self.hold.seconds, pace)

    @property
    def check_question(self) -> str:
        """The question asked at each comfort point (comfort_check_every)."""
        ph = self.phrases
        return {"leg": ph.check_leg, "arm": ph.check_arm}.get(self.check, ph.comfort_check)

    def _lead_lines(self) -> list[Timed]:
        """The cue, then the limit and breathing reminder, said before the timer starts."""
        hold, at, lines = self.hold, 0.0, []
        for say in (self.main, Say(0, hold.limit or "", SayKind.INSTRUCTION), Say(0, hold.breathe or "", SayKind.BREATHE)):
            if say.text:
                lines.append((round(at, 2), say))
                at += self.timing.speech(say.text) + 0.3
        return lines

    def _lead_in(self) -> float:
        lines = self._lead_lines()
        return round(lines[-1][0] + self.timing.speech(lines[-1][1].text) + 0.5, 2)

    def _release(self) -> float:
        return self.timing.speech(self.hold.release) + 1.0

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        hold, lead = self.hold, self._lead_in()
        length = self.hold_seconds(step_pace)
        if index == 0:
            return Phase(lead, tuple(self._lead_lines()))
        start = round(progress - lead, 6)
        if start >= length + self._release() - 1e-6:
            return None
        if start >= length - 1e-6:
            return Phase(self._release(), ((0.0, Beep(0, "end")), (0.0, Say(0, hold.release, SayKind.INSTRUCTION))))
        every = hold.call_every * pace
        end = min(length, start + every) if hold.calls else length
        return Phase(round(end - start, 6), tuple(self._cues_between(start, end, length, index, every)))

    def _cues_between(self, start: float, end: float, length: float, index: int, every: float) -> list[Timed]:
        hold = self.hold
        timed: list[Timed] = []
        if start == 0:
            timed.append((0.0, Beep(0, "start")))
        announcements = self._announcements(length)
        if hold.calls and not _talks_over(start, announcements):
            # A call is dropped where it would talk over a countdown or time announcement; the
            # next one carries on the alternation from the last call said ("Turn left" after a
            # dropped "Turn left", never "Turn right" twice).
            timed.append((0.0, Say(0, hold.calls[self._calls_said(start, index, every, announcements)
                                                 % len(hold.calls)], SayKind.COUNT)))
        question_text = self.check_question
        for at, text in announcements:
            if start <= at < end:
                question = text.endswith(question_text)
                if question:
                    text = text[: -len(question_text)].strip()
                if text:
                    timed.append((round(at - start, 6), Say(0, text, SayKind.COUNT)))
                if question:  # its own cue: the engine holds the hold until a yes or no to it (or a time-out)
                    timed.append((round(at - start, 6), Say(0, question_text, SayKind.QUESTION)))
        timed.sort(key=lambda item: item[0])
        return timed

    @staticmethod
    def _calls_said(start: float, index: int, every: float, announcements: list[tuple[float, str]]) -> int:
        """How many calls were said before the call phase ``index`` (1-based) that starts at ``start``.

        The earlier call phases started ``every`` seconds apart before it (1 to index - 1 steps
        back); those that fell next to an announcement were dropped. Only the few phases near
        each announcement are looked at, so a long hold with calls every second stays cheap.
        """
        dropped: set[int] = set()
        for at, _ in announcements:
            # phases whose start s has -1 <= at - s < 2.5, i.e. j = (start - s) / every steps back
            low = math.floor((start - at - 1.0) / every) - 1
            high = math.ceil((start - at + 2.5) / every) + 1
            for back in range(max(1, low), min(index - 1, high) + 1):
                if _talks_over(round(start - back * every, 6), [(at, "")]):
                    dropped.add(back)
        return (index - 1) - len(dropped)

    def _announcements(self, length: float) -> list[tuple[float, str]]:
        """Hold-time offsets and texts of the spoken countdown and comfort checks."""
        hold, ph = self.hold, self.phrases
        mode = hold.count
        if mode == "auto":
            mode = "up" if length <= 10 else "minutes"
        out: dict[float, list[str]] = {}
        if mode == "up":
            for n in range(1, int(length) + 1):
                out.setdefault(float(n - 1), []).append(str(n))
        elif mode == "down":
            for n in range(int(length), 0, -1):
                out.setdefault(length - n, []).append(str(n))
        elif mode == "minutes":
            marks = [60.0 * m for m in range(1, int((length - 1) // 60) + 1)]
            if length > 45:
                marks.append(30.0)
            for left in sorted(set(marks), reverse=True):
                out.setdefault(length - left, []).append(ph.time_left.format(time=describe_time(left, ph)))
            for n in range(5, 0, -1):
                if length > n + 5:
                    out.setdefault(length - n, []).append(str(n))
        if hold.comfort_check_every:
            t = hold.comfort_check_every
            while t < length - 15:
                near = [k for k in out if abs(k - t) <= 5 and not out[k][0].isdigit()]
                out.setdefault(near[0] if near else t, []).append(self.check_question)
                t += hold.comfort_check_every
        return [(at, " ".join(texts)) for at, texts in sorted(out.items())]


@dataclass
class RepsStep(Step):
    """One set of repetitions, on one side if the routine has sides."""

    reps: Reps | None = None
    set_number: int = 1
    side: str | None = None
    phrases: Phrases | None = None
    timing: Timing = field(default_factory=Timing)
    first: bool = True

    @property
    def count(self) -> int:
        return int(self.reps.count.low)

    def _per_rep(self) -> int:
        return 2 + (1 if self.reps.hold_seconds else 0)

    def rep_at(self, phase_index: int) -> int:
        """Which rep (1-based) a phase belongs to; 0 for the set's opening words."""
        return 0 if phase_index == 0 else (phase_index - 1) // self._per_rep() + 1

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        reps, ph = self.reps, self.phrases
        if index == 0:
            lines = []
            if reps.sets > 1:
                lines.append(ph.set_announce.format(number=self.set_number, total=reps.sets))
            if self.side:
                lines.append(ph.side_announce.format(side=sentence_start(ph.side(self.side))))
            lines = [Say(0, " ".join(lines), SayKind.INSTRUCTION)] if lines else []
            if self.first:
                lines += [Say(0, t, k) for t, k in ((reps.limit, SayKind.INSTRUCTION), (reps.breathe, SayKind.BREATHE)) if t]
            timed, at = [], 0.0
            for say in lines:
                timed.append((round(at, 2), say))
                at += self.timing.speech(say.text) + 0.3
            return Phase(round(at + 0.5, 2), tuple(timed))
        rep = self.rep_at(index)
        if rep > self.count:
            return None
        part = (index - 1) % self._per_rep()
        if part == 0:
            text = reps.move if rep == 1 else (reps.move_short or reps.move)
            say = Say(0, f"{rep}. {text}", SayKind.INSTRUCTION)
            return Phase(round(max(reps.move_seconds * pace, self.timing.speech(say.text)), 2), ((0.0, say),))
        if part == 1 and reps.hold_seconds:
            # The first second is said "Hold: 1", so the count is not heard as the rep's own number
            # running on ("5. Lift." then "1, 2, 3, 4, 5").
            counts = tuple(
                (float(n - 1), Say(0, ph.count_hold_first.format(n=n) if n == 1 else str(n), SayKind.COUNT))
                for n in range(1, int(reps.hold_seconds) + 1)
            ) if reps.count_hold else ()
            return Phase(float(reps.hold_seconds), counts)
        say = Say(0, reps.release, SayKind.INSTRUCTION)
        return Phase(round(max(reps.release_seconds * pace, self.timing.speech(say.text)), 2), ((0.0, say),))


def _talks_over(start: float, announcements: list[tuple[float, str]]) -> bool:
    """A call said at ``start`` would talk over one of ``announcements`` (said 1 s before to 2.5 s after it)."""
    return any(-1.0 <= at - start < 2.5 for at, _ in announcements)


INFINITE = float("inf")


@dataclass
class QuestionStep(Step):
    """Ask something and wait for the answer; the session does not move on without one.

    ``answer_kind`` is "yesno", "number" (0-10), "place" (where pain is felt, down the leg) or
    "arm-place" (where neck pain is felt, down the arm).
    With no answer the question is said again ``repeat`` times, ``interval``
    seconds apart, then the companion waits quietly.
    """

    answer_kind: str = "yesno"
    tag: str = ""  # "screen", "ready", "pain-score", "pain-place"
    data: dict = field(default_factory=dict)
    repeat: int = 0
    interval: float = 20.0
    timing: Timing = field(default_factory=Timing)

    def phase(self, index: int, progress: float, pace: float, step_pace: float) -> Phase | None:
        if index > self.repeat:
            return None
        duration = INFINITE if index == self.repeat else self.interval
        return Phase(duration, ((0.0, self.main),))

    def estimate(self, pace: float) -> float:
        return self.timing.speech(self.main.text) + 5.0


@dataclass(frozen=True)
class Care:
    """What a person's profile and the day add around the exercises: questions, pain checks."""

    screening: tuple[tuple[str, str, str], ...] = ()  # (flag_id, question, advice)
    screening_intro: str = ""
    screening_done: str = ""
    pain_checks: bool = False
    pain_score: str = ""
    pain_place: str = ""
    confirm_steps: bool = False
    repeat: int = 0
    gentlest: str = ""  # after a pain stop in one of gentlest_for, go on with this routine instead
    gentlest_for: tuple[str, ...] = ()
    # Asked after the red-flag questions: is the pain new or much worse in the last few days?
    # A yes is recorded; when this session is not for the acute stage it also ends it, saying why.
    acute_question: str = ""
    acute_refusal: str = ""  # "" when the session suits the acute stage
    # Red flags still open, asked before anything else: (flag_id, "seen a doctor since?", advice).
    # A yes is recorded and the session goes on; a no repeats the advice and ends it.
    open_flags: tuple[tuple[str, str, str], ...] = ()


def clamp_to_span(span: Span, pace: float) -> float:
    """A hold at ``pace``: longer when slower, but never outside the stated range."""
    return min(max(span.low * pace, span.low), span.high)


@dataclass
class Plan:
    title: str
    purpose: str
    steps: list[Step]
    fallback: list[Step] = field(default_factory=list)  # the gentlest routine, used after a pain stop
    fallback_for: frozenset[str] = frozenset()


class PlanBuilder:
    """Builds steps from routine models; knows the phrasing, not the timing of a session."""

    def __init__(self, routines: dict[str, Routine], phrases: Phrases, timing: Timing | None = None,
                 care: Care | None = None):
        self.routines = routines
        self.phrases = phrases
        self.timing = timing or Timing()
        self.care = care or Care()

    def for_entry(self, entry: Routine | Programme) -> Plan:
        if isinstance(entry, Programme):
            plan = self.for_programme(entry)
        else:
            plan = Plan(entry.title, entry.purpose, self._routine_with_followers(entry, None))
        plan.steps[:0] = self._seen_doctor(entry.id) + self._screening(entry.id)
        care = self.care
        if care.pain_checks and care.gentlest in self.routines:
            gentlest = self.routines[care.gentlest]
            plan.fallback = [s for s in self.routine_steps(gentlest, None) if not isinstance(s, QuestionStep)]
            plan.fallback_for = frozenset(care.gentlest_for) - {care.gentlest}
        return plan

    def _question(self, owner: str, title: str, text: str, kind: str, tag: str, skippable: bool = True,
                  **data) -> QuestionStep:
        return QuestionStep(owner, title, "question", Say(0, text, SayKind.QUESTION), None, skippable,
                            answer_kind=kind, tag=tag, data=data, repeat=self.care.repeat, timing=self.timing)

    def _ready(self, routine_id: str) -> QuestionStep:
        """Caregiver mode: each hold and each set starts only after a yes."""
        return self._question(routine_id, self.phrases.title_ready, self.phrases.ready, "yesno", "ready")

    def _seen_doctor(self, entry_id: str) -> list[Step]:
        """One question per red flag still open: no exercise until the person has seen a doctor about it."""
        return [self._question(entry_id, self.phrases.title_screening_question, question, "yesno", "seen-doctor",
                               skippable=False, flag_id=flag_id, advice=advice)
                for flag_id, question, advice in self.care.open_flags]

    def _screening(self, entry_id: str) -> list[Step]:
        care, ph = self.care, self.phrases
        if not care.screening:
            return []
        steps: list[Step] = [self._speech(entry_id, ph.title_screening, "screening",
                                          [Say(0, care.screening_intro, SayKind.WARNING)], None)]
        for flag_id, question, advice in care.screening:
            steps.append(self._question(entry_id, ph.title_screening_question, question, "yesno", "screen",
                                        skippable=False, flag_id=flag_id, advice=advice))
        if care.acute_question:
            steps.append(self._question(entry_id, ph.title_screening_question, care.acute_question, "yesno", "acute",
                                        skippable=False, refusal=care.acute_refusal))
        steps.append(self._speech(entry_id, ph.title_screening_done, "screening", [Say(0, care.screening_done)],
                                  None))
        return steps

    def _pain_check(self, routine: Routine, when: str) -> list[Step]:
        if not self.care.pain_checks:
            return []
        ph, routine_id = self.phrases, routine.id
        score_title, place_title = ((ph.title_pain_score_before, ph.title_pain_place_before) if when == "before"
                                    else (ph.title_pain_score_after, ph.title_pain_place_after))
        # A neck routine asks where along the arm (neck, shoulder, arm, hand), not down the leg.
        arm = routine.symptom_check == "arm"
        place_question, place_kind = (ph.pain_place_arm, "arm-place") if arm else (self.care.pain_place, "place")
        return [self._question(routine_id, score_title, self.care.pain_score, "number", "pain-score",
                               when=when, routine_id=routine_id),
                self._question(routine_id, place_title, place_question, place_kind, "pain-place",
                               when=when, routine_id=routine_id)]

    def for_programme(self, programme: Programme) -> Plan:
        ph = self.phrases
        count = len(programme.routine_ids())
        intro = self._speech(programme.id, ph.title_intro, "intro",
                             [Say(0, ph.programme_intro.format(title=programme.title, purpose=programme.purpose,
                                                               count=count))], programme.purpose)
        steps: list[Step] = [intro]
        ids = programme.routine_ids()
        for i, item in enumerate(programme.items):
            if item.rest:
                steps.append(self._rest(programme.id, item.rest))
                continue
            following = ids[ids.index(item.routine) + 1] if item.routine != ids[-1] else None
            steps.extend(self._routine_with_followers(self.routines[item.routine], following))
        return Plan(programme.title, programme.purpose, steps)

    def _routine_with_followers(self, routine: Routine, next_in_programme: str | None) -> list[Step]:
        """A routine, plus the routine it must always be followed by (``then``)."""
        follower = self.routines.get(routine.then) if routine.then else None
        if follower and follower.id == next_in_programme:
            follower = None
        steps = self.routine_steps(routine, follower)
        if follower:
            steps.extend(self.routine_steps(follower, None, as_follower=True))
        return steps

    def routine_steps(self, routine: Routine, follower: Routine | None, as_follower: bool = False) -> list[Step]:
        ph, rid = self.phrases, routine.id
        intro_lines = [Say(0, (ph.then_intro.format(title=routine.title) if as_follower
                               else ph.exercise_intro.format(title=routine.title, purpose=routine.purpose)))]
        if follower:
            intro_lines.append(Say(0, ph.then_notice.format(title=follower.title)))
        steps: list[Step] = [self._speech(rid, routine.title, "intro", intro_lines, routine.purpose)]
        if routine.warnings:
            lines = [Say(0, ph.safety_intro, SayKind.WARNING)] + [Say(0, w, SayKind.WARNING) for w in routine.warnings]
            warning = self._speech(rid, ph.title_safety_note, "warning", lines, routine.purpose)
            warning.skippable = False
            steps.append(warning)
        steps.extend(self._pain_check(routine, "before"))
        for item in routine.steps:
            if self.care.confirm_steps and item.hold:
                steps.append(self._ready(rid))
            if item.say:
                steps.append(self._speech(rid, _short(item.say), item.kind, [Say(0, item.say)], routine.purpose,
                                          settle=max(1.0, item.pause)))
            elif item.hold:
                hold = item.hold if item.hold.release else item.hold.model_copy(update={"release": ph.default_release})
                title = ph.title_hold.format(time=describe_time(clamp_to_span(hold.seconds, 1.0), ph))
                steps.append(HoldStep(rid, title, "hold", Say(0, hold.cue), routine.purpose, hold=hold, phrases=ph,
                                      timing=self.timing, check=routine.symptom_check))
            elif item.reps:
                reps = item.reps if item.reps.release else item.reps.model_copy(update={"release": ph.default_release})
                steps.extend(self._reps(routine, reps))
            elif item.rest:
                steps.append(self._rest(rid, item.rest))
        steps.append(self._speech(rid, ph.title_finish, "finish", [Say(0, routine.finish or ph.default_finish)],
                                  routine.purpose))
        steps.extend(self._pain_check(routine, "after"))
        return steps

    def _reps(self, routine: Routine, reps: Reps) -> list[Step]:
        ph = self.phrases
        steps: list[Step] = []
        sides = reps.sides or [None]
        first = True
        for set_number in range(1, reps.sets + 1):
            for side in sides:
                if not first and reps.rest_between_sets:
                    steps.append(self._rest(routine.id, reps.rest_between_sets))
                if self.care.confirm_steps:
                    steps.append(self._ready(routine.id))
                values = dict(number=set_number, total=reps.sets, count=int(reps.count.low), move=_short(reps.move, 5))
                title = (ph.title_set_side.format(side=ph.side(side), **values) if side
                         else ph.title_set.format(**values))
                steps.append(RepsStep(routine.id, title, "reps", Say(0, reps.move), routine.purpose, reps=reps,
                                      set_number=set_number, side=side, phrases=self.phrases,
                                      timing=self.timing, first=first))
                first = False
        return steps

    def _rest(self, routine_id: str, seconds: float) -> RestStep:
        ph = self.phrases
        time = describe_time(seconds, ph)
        return RestStep(routine_id, ph.title_rest.format(time=time), "rest", Say(0, ph.rest.format(time=time)), None,
                        seconds=seconds, phrases=ph, timing=self.timing)

    def _speech(self, routine_id: str, title: str, kind: str, lines: list[Say], purpose: str | None,
                settle: float = 1.0) -> SpeechStep:
        main = next((s for s in lines if s.kind is not SayKind.WARNING or len(lines) == 1), lines[0])
        if kind == "warning":
            main = replace(lines[-1])
        return SpeechStep(routine_id, title, kind, main, purpose, lines=tuple(lines), settle=settle,
                          timing=self.timing)


def _short(text: str, words: int = 10) -> str:
    """A step title: the first sentence (up to ". " or the Chinese full stop), cut to a few words."""
    parts = text.split(". ")[0].split("。")[0].rstrip(".").split()
    return " ".join(parts[:words]) + ("..." if len(parts) > words else "")
