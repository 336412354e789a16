"""Load the companion's own spoken sentences from ``phrases.yaml``.

The file is data so wording can change (or be translated) without touching
the engine; the dataclass makes a missing or misspelled key fail at load time
rather than mid-session.
"""

from __future__ import annotations

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
    nothing_to_answer: str
    louder: str
    quieter: str
    ask_question: str
    home_greeting: str
    home_due: str
    home_nothing_due: str
    home_prompt: str
    home_options: str
    home_confirm: str
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
    check_heard: str
    say_again: str


def load_phrases(path: Path | None = None) -> Phrases:
    """The phrases of the language in use (or of the file at ``path``)."""
    return _load_phrases(path or data_file("phrases.yaml"))


@lru_cache(maxsize=4)
def _load_phrases(path: Path) -> Phrases:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names = {f.name for f in fields(Phrases)}
    missing = sorted(names - set(data))
    unknown = sorted(set(data) - names)
    if missing or unknown:
        raise ValueError(f"{path}: missing phrases {missing}, unknown phrases {unknown}")
    return Phrases(**{k: str(v) for k, v in data.items()})
