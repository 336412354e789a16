"""Load the companion's own sentences and screen words from ``phrases.yaml``.

The file is data so wording can change (or be translated) without touching
the engine; the dataclass makes a missing or misspelled key fail at load time
rather than mid-session, and :data:`PLACEHOLDERS` makes a translated sentence
that asks for a value the code does not give fail there too.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from companion.content.locale import data_file

import yaml


@dataclass(frozen=True)
class Phrases:
    programme_intro: str
    exercise_intro: str
    then_notice: str
    then_intro: str
    safety_intro: str
    cannot_skip_warning: str
    paused: str
    already_paused: str
    resumed: str
    resumed_hold: str
    not_paused: str
    stopped: str
    slower: str
    slowest: str
    faster: str
    fastest: str
    help_running: str
    help_paused: str
    unknown: str
    first_step: str
    set_announce: str
    side_announce: str
    rest: str
    get_ready: str
    time_left: str
    comfort_check: str
    check_leg: str
    check_arm: str
    session_done: str
    reps_left: str
    sets_left: str
    hold_left: str
    exercises_left: str
    last_exercise: str
    next_is: str
    nothing_next: str
    session_left: str
    purpose: str
    no_purpose: str
    confirm_next: str
    confirm_back: str
    confirm_stop: str
    confirm_other: str
    confirm_cancelled: str
    confirm_cancelled_paused: str
    again_next: str
    again_back: str
    again_stop: str
    again_other: str
    again_comfort: str
    again_check_leg: str
    again_check_arm: str
    question_dropped: str
    question_dropped_paused: str
    nothing_to_answer: str
    louder: str
    quieter: str
    ask_question: str
    home_greeting: str
    home_greeting_due: str
    home_due: str
    home_pick: str
    home_nothing_due: str
    home_prompt: str
    home_options: str
    home_confirm: str
    home_confirm_again: str
    home_no_answer: str
    home_goodbye: str
    home_unknown: str
    home_next: str
    comfort_yes: str
    comfort_no: str
    ready: str
    not_ready: str
    cannot_skip_question: str
    answer_yes_no: str
    answer_number: str
    answer_place: str
    answer_arm_place: str
    pain_place_arm: str
    check_heard: str
    say_again: str
    symptom_spread_stop: str
    symptom_rise: str
    symptom_high: str
    symptom_score_ok: str
    symptom_cleared: str
    symptom_then_gentlest: str
    symptom_then_end: str
    pain_spread_arm: str
    default_release: str
    default_finish: str
    count_hold_first: str
    minutes_one: str
    minutes_other: str
    seconds_one: str
    seconds_other: str
    minutes_and_seconds: str
    side_left: str
    side_right: str
    title_intro: str
    title_safety_note: str
    title_screening: str
    title_screening_question: str
    title_screening_done: str
    title_pain_score_before: str
    title_pain_score_after: str
    title_pain_place_before: str
    title_pain_place_after: str
    title_ready: str
    title_hold: str
    title_set: str
    title_set_side: str
    title_rest: str
    title_finish: str
    home_due_item: str
    list_separator: str
    device_lost_home: str
    device_lost_session: str
    interrupted: str
    script_ended_paused: str
    voice_off: str
    speech_off: str
    echo_off: str
    echo_failed: str

    def side(self, side: str) -> str:
        """The language's word for "left" or "right" (the routine files' side names)."""
        return {"left": self.side_left, "right": self.side_right}[side]


# The values each phrase may ask for; a phrase not listed takes none.
PLACEHOLDERS: dict[str, frozenset[str]] = {name: frozenset(values) for name, values in {
    "programme_intro": {"title", "purpose", "count"},
    "exercise_intro": {"title", "purpose"},
    "then_notice": {"title"},
    "then_intro": {"title"},
    "resumed_hold": {"left"},
    "set_announce": {"number", "total"},
    "side_announce": {"side"},
    "rest": {"time"},
    "time_left": {"time"},
    "reps_left": {"reps"},
    "sets_left": {"sets"},
    "hold_left": {"time"},
    "exercises_left": {"count"},
    "next_is": {"title"},
    "session_left": {"time"},
    "purpose": {"purpose"},
    "confirm_other": {"command"},
    "again_other": {"command"},
    "home_greeting": {"name"},
    "home_greeting_due": {"name", "title"},
    "home_due": {"items"},
    "home_options": {"names"},
    "home_confirm": {"title"},
    "home_confirm_again": {"title"},
    "check_heard": {"value"},
    "symptom_rise": {"rise"},
    "symptom_then_gentlest": {"title"},
    "count_hold_first": {"n"},
    "minutes_one": {"n"},
    "minutes_other": {"n"},
    "seconds_one": {"n"},
    "seconds_other": {"n"},
    "minutes_and_seconds": {"minutes", "seconds"},
    "title_hold": {"time"},
    "title_set": {"number", "total", "count", "move"},
    "title_set_side": {"number", "total", "side", "count", "move"},
    "title_rest": {"time"},
    "home_due_item": {"title", "done", "wanted"},
    "device_lost_home": {"reason"},
    "device_lost_session": {"reason"},
    "voice_off": {"reason"},
    "speech_off": {"reason"},
    "echo_off": {"reason"},
    "echo_failed": {"error"},
}.items()}


def load_phrases(path: Path | None = None) -> Phrases:
    """The phrases of the language in use (or of the file at ``path``)."""
    return _load_phrases(path or data_file("phrases.yaml"))


@lru_cache(maxsize=4)
def _load_phrases(path: Path) -> Phrases:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of phrase names to sentences")
    names = {f.name for f in fields(Phrases)}
    missing = sorted(names - set(data))
    unknown = sorted(set(data) - names)
    if missing or unknown:
        raise ValueError(f"{path}: missing phrases {missing}, unknown phrases {unknown}")
    problems = [problem for name, value in data.items() if (problem := _phrase_problem(name, value))]
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return Phrases(**data)


def _phrase_problem(name: str, value: object) -> str | None:
    """What is wrong with one phrase (not text, or a placeholder the code does not fill), or None."""
    if not isinstance(value, str) or not value:
        return f"{name}: must be text in quotes"
    try:
        asked = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
    except ValueError as exc:
        return f"{name}: {exc} (write braces only around placeholders)"
    unknown = sorted(asked - PLACEHOLDERS.get(name, frozenset()))
    if unknown:
        allowed = ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS.get(name, ()))) or "none"
        return f"{name}: unknown placeholder(s) {', '.join(f'{{{u}}}' for u in unknown)} (allowed: {allowed})"
    return None
