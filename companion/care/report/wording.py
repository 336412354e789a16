"""The report's words, read from ``report.yaml`` in the language in use.

The page, the chart and the CSV details are read by a caregiver, so their
wording is data like everything else the companion says: it can be changed or
translated without touching the code. The dataclasses list every key, so a
missing or misspelled key fails when the file is read, naming the key, rather
than leaving a hole in a printed report.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from companion.content.locale import data_file
from companion.engine.pain import PLACE_ORDER

# The codes the report's data uses; each needs its words in every language.
STOP_KINDS = ("red-flag", "pain", "stopped", "interrupted", "unfinished", "acute")
STATUSES = ("met", "part", "missed", "open", "before")
SCREENING = ("passed", "red-flag")


@dataclass(frozen=True)
class StopWords:
    """How one way of ending a session reads: a short label and a sentence."""

    label: str
    text: str


@dataclass(frozen=True)
class EventWords:
    """Sentences made while reading the history: incidents, CSV details, the McKenzie stage."""

    unnamed_flag: str
    pain_spread: str
    pain_rise: str
    pain_change: str
    with_detail: str
    sentence: str
    red_flag_answered: str
    red_flag_heard: str
    safety_questions: str
    went_on_gentlest: str
    session: str
    ended: str
    after_exercises: str
    stage_practising: str
    stage_not_started: str
    next_not_done: str
    next_all_started: str
    unsaved_label: str
    unsaved_one: str
    unsaved_many: str
    seen_doctor_no: str


@dataclass(frozen=True)
class PageWords:
    """Headings, column titles and sentences of the HTML page."""

    title: str
    heading: str
    period: str
    one_day: str
    many_days: str
    conditions: str
    no_conditions: str
    caregiver: str
    not_medical_advice: str
    no_sessions: str
    nothing_recorded: str
    sessions: str
    completed: str
    one_red_flag: str
    many_red_flags: str
    stops: str
    flags_heading: str
    no_flags: str
    flag_raised: str
    flag_what: str
    flag_how: str
    flag_status: str
    flag_from_screen: str
    flag_from_session: str
    flag_from_ask: str
    flag_open: str
    flag_cleared_person: str
    flag_cleared_caregiver: str
    flag_note: str
    incidents_heading: str
    no_incidents: str
    incident_when: str
    incident_what: str
    incident_exercise: str
    incident_reason: str
    adherence_heading: str
    no_targets: str
    day: str
    day_sessions: str
    safety_questions: str
    target: str
    today_so_far: str
    attempted: str
    legend_intro: str
    legend_outro: str
    pain_heading: str
    chart_alt: str
    chart_needs_matplotlib: str
    no_pain: str
    pain_day: str
    pain_sessions: str
    pain_before: str
    pain_after: str
    pain_furthest: str
    mckenzie_heading: str
    stage: str
    next: str
    mckenzie_exercise: str
    mckenzie_done: str
    mckenzie_now: str
    mckenzie_why: str
    allowed: str
    not_yet: str
    due_heading: str
    due_now: str
    due_later: str
    due_done: str
    nothing_due: str
    others_not_allowed: str
    footer: str


@dataclass(frozen=True)
class ChartWords:
    """Axis titles and legend of the pain chart."""

    score_axis: str
    score_title: str
    place_title: str
    before: str
    after: str
    stopped: str


@dataclass(frozen=True)
class ReportWords:
    """Everything the report writes in words, one language."""

    language: str
    places: dict[str, str]  # PLACE_ORDER -> words
    stops: dict[str, StopWords]  # STOP_KINDS -> label and sentence
    status: dict[str, str]  # STATUSES -> words
    screening: dict[str, str]  # SCREENING -> words
    disclaimer: str
    events: EventWords
    page: PageWords
    chart: ChartWords


def load_wording(path: Path | None = None) -> ReportWords:
    """The report's words in the language in use (or from the file at ``path``)."""
    return _load_wording(path or data_file("report.yaml"))


@lru_cache(maxsize=4)
def _load_wording(path: Path) -> ReportWords:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems: list[str] = []
    top = _mapping(data, _names(ReportWords), "", problems)
    stops = _mapping(top.get("stops"), STOP_KINDS, "stops", problems) if "stops" in top else {}
    words = ReportWords(
        language=_text(top, "language", "", problems),
        places=_texts(top, "places", PLACE_ORDER, problems),
        stops={kind: StopWords(**_texts(stops, kind, ("label", "text"), problems, "stops.")) for kind in STOP_KINDS},
        status=_texts(top, "status", STATUSES, problems),
        screening=_texts(top, "screening", SCREENING, problems),
        disclaimer=_text(top, "disclaimer", "", problems),
        events=EventWords(**_texts(top, "events", _names(EventWords), problems)),
        page=PageWords(**_texts(top, "page", _names(PageWords), problems)),
        chart=ChartWords(**_texts(top, "chart", _names(ChartWords), problems)),
    )
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return words


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _mapping(value: Any, names: tuple[str, ...], where: str, problems: list[str]) -> dict[str, Any]:
    """``value`` as a mapping with exactly the keys ``names``; what is wrong goes into ``problems``."""
    if not isinstance(value, dict):
        problems.append(f"{where or 'the file'}: expected a mapping with the keys {', '.join(names)}")
        return {}
    prefix = f"{where}." if where else ""
    missing = [prefix + name for name in names if name not in value]
    unknown = sorted(prefix + str(key) for key in value if key not in names)
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    return value


def _texts(parent: dict[str, Any], section: str, names: tuple[str, ...], problems: list[str],
           prefix: str = "") -> dict[str, str]:
    """The texts of ``parent[section]`` by key; empty when missing (reported once, by the parent)."""
    if section not in parent:
        return dict.fromkeys(names, "")
    where = prefix + section
    found = _mapping(parent[section], names, where, problems)
    return {name: _text(found, name, where, problems) for name in names}


def _text(found: dict[str, Any], name: str, where: str, problems: list[str]) -> str:
    """The text under ``name``; a missing key has already been reported by :func:`_mapping`."""
    value = found.get(name, "")
    if name in found and (not isinstance(value, str) or not value.strip()):
        problems.append(f"{where + '.' if where else ''}{name}: must be text")
        return ""
    return str(value)
