"""What comes out of the engine: small, typed instructions for the outputs.

Outputs (speaker, printer, log) decide how to render a cue; the engine only
decides what and when. ``at`` is the session time the cue was due, which is
what makes transcripts exact and reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SayKind(str, Enum):
    INSTRUCTION = "instruction"
    WARNING = "warning"
    COUNT = "count"
    BREATHE = "breathe"
    STATUS = "status"
    HELP = "help"
    SYSTEM = "system"
    QUESTION = "question"  # asks for a yes/no answer


@dataclass(frozen=True)
class Say:
    at: float
    text: str
    kind: SayKind = SayKind.INSTRUCTION


@dataclass(frozen=True)
class Beep:
    """A short tone marking the start or end of a hold."""

    at: float
    tone: str  # "start" | "end"


@dataclass(frozen=True)
class ExerciseStarted:
    at: float
    routine_id: str
    title: str


@dataclass(frozen=True)
class StepStarted:
    at: float
    index: int
    title: str
    kind: str
    duration: float


@dataclass(frozen=True)
class StepFinished:
    at: float
    index: int
    skipped: bool = False


@dataclass(frozen=True)
class StateChanged:
    """Paused, resumed, or pace changed: outputs may show it."""

    at: float
    state: str
    pace: float


@dataclass(frozen=True)
class VoiceChanged:
    """Speak louder (+1) or quieter (-1); the speaker applies its own bounds."""

    at: float
    volume_step: int


@dataclass(frozen=True)
class QuestionRequested:
    """The user wants to ask something; the session is paused until it is answered."""

    at: float


@dataclass(frozen=True)
class Answered:
    """An answer to a question the companion asked (screening, readiness), for the record."""

    at: float
    tag: str
    answer: str
    flag_id: str = ""


@dataclass(frozen=True)
class PainRecorded:
    """A pain check-in: score 0-10 and where it is felt, before or after a routine."""

    at: float
    routine_id: str
    when: str  # "before" | "after" | "during" (asked when pain was said to be worse mid-exercise)
    score: int
    place: str


@dataclass(frozen=True)
class PainStopped:
    """A pain rule stopped ``routine_id``; ``then`` is "gentlest" or "end". Logged for the report."""

    at: float
    routine_id: str
    then: str


@dataclass(frozen=True)
class ExerciseDone:
    """A routine reached its end (its closing words were said): counts as practised."""

    at: float
    routine_id: str


@dataclass(frozen=True)
class RedFlagRaised:
    """A red flag ended the session; logged so the caregiver's report shows it."""

    at: float
    flag_id: str


@dataclass(frozen=True)
class SymptomReported:
    """Something said mid-session that the session acted on (``finding``, e.g. "spreading-leg"),
    what it did (``action``, from the symptom table) and in which exercise; logged for the report."""

    at: float
    finding: str
    action: str
    routine_id: str = ""


@dataclass(frozen=True)
class SessionFinished:
    at: float
    reason: str  # "completed" | "stopped" | "red-flag" | "pain" | "symptom" | "acute"


Cue = (Say | Beep | ExerciseStarted | StepStarted | StepFinished | StateChanged | VoiceChanged | QuestionRequested
       | Answered | PainRecorded | PainStopped | ExerciseDone | RedFlagRaised | SymptomReported | SessionFinished)


def cue_kind(cue: Cue) -> str:
    """A stable name for a cue, used in logs and JSON output."""
    return {
        Say: "say",
        Beep: "beep",
        ExerciseStarted: "exercise_started",
        StepStarted: "step_started",
        StepFinished: "step_finished",
        StateChanged: "state",
        VoiceChanged: "voice",
        QuestionRequested: "question",
        RedFlagRaised: "red_flag",
        SymptomReported: "symptom",
        Answered: "answered",
        PainRecorded: "pain",
        PainStopped: "pain_stop",
        ExerciseDone: "exercise_done",
        SessionFinished: "finished",
    }[type(cue)]
