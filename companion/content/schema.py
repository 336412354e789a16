"""The routine file format, as typed models.

Each YAML file in ``routines/`` is either a routine (one exercise) or a
programme (several routines in a row). pydantic checks types and bounds and
reports the exact path of each problem, which the loader turns into
``file:line: field`` messages. The bounds are deliberately tight: a hold of an
hour or a set of 500 reps is a typo, not a plan.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

MAX_HOLD_SECONDS = 1800
MAX_REST_SECONDS = 600
MAX_REPS = 100
MAX_SETS = 20


class Span(BaseModel):
    """A number or a range such as ``[2, 3]`` ("2-3 minutes" in the source)."""

    model_config = ConfigDict(frozen=True)
    low: float
    high: float

    def describe(self, unit: str = "") -> str:
        suffix = f" {unit}" if unit else ""
        if self.low == self.high:
            return f"{_num(self.low)}{suffix}"
        return f"{_num(self.low)} to {_num(self.high)}{suffix}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _to_span(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number or a [low, high] pair, not true/false")
    if isinstance(value, (int, float)):
        return {"low": value, "high": value}
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError("a range must be two numbers, like [5, 6]")
        low, high = value
        if low > high:
            raise ValueError(f"range [{low}, {high}] runs backwards; write the smaller number first")
        return {"low": low, "high": high}
    if isinstance(value, (dict, Span)):
        return value
    raise ValueError("must be a number or a [low, high] pair")


def _bounded_span(lowest: float, highest: float, what: str):
    def check(span: Span) -> Span:
        if not (lowest <= span.low and span.high <= highest):  # written so NaN (.nan in YAML) fails too
            raise ValueError(f"{what} must be between {_num(lowest)} and {_num(highest)}, got {span.describe()}")
        return span

    return Annotated[Span, BeforeValidator(_to_span), AfterValidator(check)]


HoldSeconds = _bounded_span(1, MAX_HOLD_SECONDS, "a hold")
RepCount = _bounded_span(1, MAX_REPS, "a rep count")
PerDay = _bounded_span(1, 24, "times per day")
Text = Annotated[str, Field(min_length=1, max_length=600)]
Id = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=60)]
Side = Literal["left", "right"]
# The health conditions a routine can be unsuitable for and a profile can hold (one list for both).
Condition = Literal["acute", "osteoporosis", "pregnancy", "recent-surgery"]
CONDITIONS: tuple[str, ...] = get_args(Condition)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where facts came from: line numbers in the source text and a short quote."""

    lines: Annotated[str, Field(pattern=r"^\d+(-\d+)?$")]
    quote: Text
    supports: list[str] = Field(default_factory=list, description="which fields this quote backs")


class Frequency(Strict):
    per_day: PerDay | None = None
    spacing_hours: Annotated[float, Field(gt=0, le=24)] | None = None
    note: Text | None = None


class Requirement(Strict):
    """A prerequisite: another routine that must have been practised first."""

    routine: Id
    why: Text
    first_time_only: bool = False
    practised_weeks: Annotated[float, Field(ge=0, le=52)] = 0


class Alternative(Strict):
    """This routine stands in for another one in a stated situation."""

    routine: Id
    when: Text


class Hold(Strict):
    """Keep a position (or keep moving, with ``calls``) for a time, with a spoken countdown."""

    seconds: HoldSeconds
    cue: Text
    count: Literal["auto", "up", "down", "minutes", "none"] = "auto"
    calls: list[Text] = Field(default_factory=list, max_length=8)
    call_every: Annotated[float, Field(ge=1, le=60)] = 3
    breathe: Text | None = None
    limit: Text | None = None
    comfort_check_every: Annotated[float, Field(ge=10, le=MAX_HOLD_SECONDS)] | None = None
    release: Text | None = None  # None: the language's default_release (phrases.yaml)


class Reps(Strict):
    """Repetitions of one movement, in sets, optionally on each side."""

    count: RepCount
    sets: Annotated[int, Field(ge=1, le=MAX_SETS)] = 1
    rest_between_sets: Annotated[float, Field(ge=0, le=MAX_REST_SECONDS)] = 30
    sides: list[Side] = Field(default_factory=list, max_length=2)
    move: Text
    move_short: Text | None = None
    move_seconds: Annotated[float, Field(gt=0, le=30)] = 3
    hold_seconds: Annotated[float, Field(ge=0, le=120)] = 0
    count_hold: bool = True
    release: Text | None = None  # None: the language's default_release (phrases.yaml)
    release_seconds: Annotated[float, Field(ge=0, le=60)] = 2
    breathe: Text | None = None
    limit: Text | None = None


class Step(Strict):
    """One entry of ``steps``: exactly one of say, hold, reps or rest."""

    say: Text | None = None
    pause: Annotated[float, Field(ge=0, le=60)] = 0
    kind: Literal["instruction", "breathing", "position"] = "instruction"
    hold: Hold | None = None
    reps: Reps | None = None
    rest: Annotated[float, Field(gt=0, le=MAX_REST_SECONDS)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Step":
        given = [name for name in ("say", "hold", "reps", "rest") if getattr(self, name) is not None]
        if len(given) != 1:
            listed = ", ".join(given) if given else "none"
            raise ValueError(f"a step needs exactly one of say, hold, reps, rest (found: {listed})")
        return self


class Routine(Strict):
    id: Id
    kind: Literal["routine"] = "routine"
    title: Text
    purpose: Text
    aliases: list[Text] = Field(default_factory=list)
    position: Text | None = None
    frequency: Frequency = Frequency()
    warnings: list[Text] = Field(default_factory=list)
    not_for: list[Condition] = Field(default_factory=list)
    limits: list[Text] = Field(default_factory=list)
    requires: list[Requirement] = Field(default_factory=list)
    then: Id | None = None
    alternative_to: Alternative | None = None
    # What a hold asks at its comfort points (comfort_check_every): "comfort" ("Are you comfortable?"),
    # "leg" (has pain moved into the buttock or leg? the McKenzie routines) or "arm" (into the shoulder,
    # arm or hand? the neck drill, whose pain check then asks neck, shoulder, arm or hand). A yes to
    # "leg" or "arm" stops the exercise, as pain spreading does (engine/session.py).
    symptom_check: Literal["comfort", "leg", "arm"] = "comfort"
    steps: list[Step] = Field(min_length=1)
    finish: Text | None = None  # None: the language's default_finish (phrases.yaml)
    sources: list[Source] = Field(min_length=1)


class ProgrammeItem(Strict):
    routine: Id | None = None
    rest: Annotated[float, Field(gt=0, le=MAX_REST_SECONDS)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "ProgrammeItem":
        if (self.routine is None) == (self.rest is None):
            raise ValueError("each item is either 'routine: ID' or 'rest: SECONDS'")
        return self


class Programme(Strict):
    id: Id
    kind: Literal["programme"]
    title: Text
    purpose: Text
    aliases: list[Text] = Field(default_factory=list)
    items: list[ProgrammeItem] = Field(min_length=1)
    sources: list[Source] = Field(default_factory=list)

    def routine_ids(self) -> list[str]:
        return [item.routine for item in self.items if item.routine]
