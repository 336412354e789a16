"""What goes into the engine: commands, and the passing of time.

Every event carries ``at``, seconds since the session started on a monotonic
clock. The engine never reads a clock; whoever feeds it decides what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Command(str, Enum):
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    NEXT = "next"
    BACK = "back"
    REPEAT = "repeat"
    SLOWER = "slower"
    FASTER = "faster"
    HELP = "help"
    HOW_MANY_LEFT = "how_many_left"
    WHATS_NEXT = "whats_next"
    HOW_LONG_LEFT = "how_long_left"
    PURPOSE = "purpose"
    LOUDER = "louder"
    QUIETER = "quieter"
    QUESTION = "question"


@dataclass(frozen=True)
class Tick:
    """Time has reached ``at``; emit whatever was due by then."""

    at: float


@dataclass(frozen=True)
class CommandEvent:
    """The user asked for ``command`` at ``at`` (``text`` is what they said).

    ``confirm`` marks a command heard with low confidence: the engine asks
    before acting on it, naming it by ``name``, the word the language uses for
    it (the engine knows commands only by their ids).
    """

    at: float
    command: Command
    text: str = ""
    confirm: bool = False
    name: str = ""


@dataclass(frozen=True)
class AnswerEvent:
    """A yes/no answer to the last question the engine asked."""

    at: float
    answer: bool
    text: str = ""


@dataclass(frozen=True)
class Unrecognised:
    """The user said something that is not a command."""

    at: float
    text: str


@dataclass(frozen=True)
class NumberEvent:
    """A number 0-10, answering "how much pain?"."""

    at: float
    value: int
    text: str = ""


@dataclass(frozen=True)
class PlaceEvent:
    """Where pain is felt: "none", "back", "buttock", "thigh" or "below-knee" (engine/pain.py PLACE_ORDER),
    or for the neck "none", "neck", "shoulder", "arm" or "hand" (ARM_PLACE_ORDER)."""

    at: float
    place: str
    text: str = ""


@dataclass(frozen=True)
class Told:
    """Say ``text`` as part of the session: an answer to the user's question, composed outside."""

    at: float
    text: str


@dataclass(frozen=True)
class RedFlagEvent:
    """The user described a red flag: end the exercise part now with this advice."""

    at: float
    flag_id: str
    advice: str


@dataclass(frozen=True)
class SymptomEvent:
    """The user described a symptom mid-session (a finding of knowledge/symptoms.py).

    The session pauses at once, then does ``action`` as the data says: "ask-spread" asks
    ``say`` (a yes/no question; yes stops the exercise by the peripheralisation rule),
    "ask-score" asks ``say`` (a pain score; the rise rule), "end" says ``say`` and ends the
    session, "pause" says ``say`` and stays paused. ``text`` is what was said.
    """

    at: float
    finding: str
    action: str
    say: str
    text: str = ""


Event = (Tick | CommandEvent | AnswerEvent | NumberEvent | PlaceEvent | Unrecognised | Told | RedFlagEvent
         | SymptomEvent)
