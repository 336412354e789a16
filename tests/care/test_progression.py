"""McKenzie progression from history: the order rules, the daily counts and ``companion today``.

Every history is a list of Practice records at fixed times (no real clock).
Day 0 is Monday 3 March 2025. McKenzie 1 opens each day's McKenzie practice, so a
check of another McKenzie exercise on day n comes after ``opened(n)``.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from companion.care.profiles import CONDITIONS, Profile
from companion.cli import build_parser
from companion.content.locale import data_file
from companion.care.progression import (
    PLACEHOLDERS,
    Continuity,
    Practice,
    Verdict,
    check,
    continuous_practice,
    due_now,
    family,
    find_setbacks,
    load_progression_text,
    pain_setbacks,
    refused,
    today_lines,
    today_report,
)
from companion.content.library import Library

M1 = "mckenzie-1-prone-lying"
M2 = "mckenzie-2-prone-on-elbows"
M3 = "mckenzie-3-prone-press-up"
M4 = "mckenzie-4-standing-extension"
M5 = "mckenzie-5-lying-flexion"
M6 = "mckenzie-6-sitting-flexion"
M7 = "mckenzie-7-standing-flexion"
MCKENZIE = [M1, M2, M3, M4, M5, M6, M7]
NECK, WALL, SWALLOW, KNEES = "neck-gaze-rotation", "wall-standing", "flying-swallow", "knees-to-chest"

DAY0 = datetime(2025, 3, 3, 8, 0)
ACUTE = Profile("ann", conditions=("acute",))


def day(n: float, hour: int = 8, minute: int = 0) -> datetime:
    return DAY0.replace(hour=hour, minute=minute) + timedelta(days=n)


def did(routine_id: str, at: datetime, completed: bool = True) -> Practice:
    return Practice(routine_id, at, completed)


def started(at: datetime = DAY0) -> list[Practice]:
    """A newcomer's first morning: 1, then 2, then 3 (the McKenzie backward bends)."""
    return [did(M1, at), did(M2, at + timedelta(minutes=5)), did(M3, at + timedelta(minutes=10))]


def daily(routine_id: str, first: int, last: int, hour: int = 9, then: str | None = M3,
          skip: tuple[int, ...] = ()) -> list[Practice]:
    """``routine_id`` once a day from day ``first`` to day ``last`` (inclusive, bar ``skip``), each followed by ``then``."""
    out = []
    for n in range(first, last + 1):
        if n in skip:
            continue
        out.append(did(routine_id, day(n, hour)))
        if then:
            out.append(did(then, day(n, hour, 5)))
    return out


def opened(n: int, hour: int = 8) -> list[Practice]:
    """The day's McKenzie 1 on day ``n``, which opens that day's McKenzie practice."""
    return [did(M1, day(n, hour))]


@pytest.fixture(scope="module")
def text():
    return load_progression_text()


def routine_why(library: Library, routine_id: str, required: str) -> str:
    return next(r.why for r in library.routines[routine_id].requires if r.routine == required)


# -- progression.yaml -------------------------------------------------------------------


def test_progression_text_has_every_key_and_names_a_real_first_aid(text, library):
    assert set(text.reasons) == set(PLACEHOLDERS)
    assert set(text.conditions) == set(CONDITIONS)
    assert text.first_aid == M1 and text.first_aid in library.routines


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "progression.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _data() -> dict:
    return yaml.safe_load(data_file("progression.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d["reasons"].pop("first_aid"), "missing ['first_aid']"),
    (lambda d: d["reasons"].update(surprise="Hello."), "unknown ['surprise']"),
    (lambda d: d["reasons"].update(requires="{title} needs {whyy}"), "unknown placeholder(s) ['whyy']"),
    (lambda d: d["reasons"].update(allowed="{title"), "reasons.allowed"),
    (lambda d: d["reasons"].update(allowed=""), "non-empty"),
    (lambda d: d["conditions"].pop("pregnancy"), "missing ['pregnancy']"),
    (lambda d: d.pop("first_aid"), "first_aid"),
])
def test_a_broken_progression_file_fails_at_load_naming_the_problem(tmp_path, breakage, message):
    data = _data()
    breakage(data)
    with pytest.raises(ValueError) as error:
        load_progression_text(_write(tmp_path, data))
    assert message in str(error.value)


def test_the_spoken_reasons_come_from_the_file(tmp_path, library):
    data = _data()
    data["reasons"]["first_aid"] = "FIRST {first} BEFORE {title}."
    data["reasons"]["requires"] = "WAIT: {why}"
    custom = load_progression_text(_write(tmp_path, data))
    verdict = check(M2, [], DAY0, library, text=custom)
    assert verdict.reason == f"FIRST {library.routines[M1].title} BEFORE {library.routines[M2].title}."
    verdict = check(M2, [did(M1, day(0, 5))], DAY0, library, text=custom)
    assert verdict.reason == f"WAIT: {routine_why(library, M2, M1)}"


# -- exercise 1 first each day ("first aid", line 512) -------------------------------------


def test_the_first_aid_family_is_mckenzie_one_to_seven_found_through_the_links(library):
    assert family(library, M1) == set(MCKENZIE)


def test_a_newcomer_may_do_only_exercise_one_of_the_mckenzie_family(library, text):
    assert check(M1, [], DAY0, library) == Verdict(True, text.say("allowed", title=library.routines[M1].title))
    for rid in MCKENZIE[1:]:
        verdict = check(rid, [], DAY0, library)
        assert not verdict.allowed, rid
        assert verdict.instead == M1, rid
        assert verdict.reason == text.say("first_aid", title=library.routines[rid].title,
                                          first=library.routines[M1].title)


def test_routines_outside_the_family_need_no_first_aid(library):
    for rid in (NECK, WALL, SWALLOW, KNEES, "desk-break"):
        assert check(rid, [], DAY0, library).allowed, rid


def test_an_unfinished_exercise_one_does_not_count(library):
    assert not check(M4, [did(M1, day(0, 7), completed=False)], DAY0, library).allowed
    assert check(M4, [did(M1, day(0, 7))], DAY0, library).allowed


def test_exercise_one_done_on_an_earlier_day_does_not_open_today(library, text):
    """Line 512, "should be done before any other training": 1 opens every day's practice, not just the first."""
    history = started(day(0)) + daily(M5, 0, 40) + daily(M6, 41, 60) + [did(M1, day(60, 7))]
    for rid in MCKENZIE[1:]:
        verdict = check(rid, history, day(61, 9), library)
        assert verdict == Verdict(False, text.say("first_aid", title=library.routines[rid].title,
                                                  first=library.routines[M1].title), M1), rid
    today = history + opened(61)
    assert [rid for rid in MCKENZIE if check(rid, today, day(61, 9), library).allowed] == MCKENZIE


def test_exercise_one_later_in_the_day_does_not_make_up_for_an_earlier_exercise(library):
    history = started(day(0)) + [did(M1, day(5, 12))]
    assert not check(M5, history, day(5, 11, 59), library).allowed  # 1 comes at noon: not yet done at 11:59
    assert check(M5, history, day(5, 12, 5), library).allowed


def test_a_programme_that_starts_with_exercise_one_needs_nothing_done_today(library):
    history = started(day(0))
    assert check("mckenzie-extension", history, day(9, 9), library).allowed
    assert not check(M3, history, day(9, 9), library).allowed


def test_practice_after_now_is_ignored(library):
    assert not check(M4, [did(M1, DAY0 + timedelta(minutes=1))], DAY0, library).allowed
    assert check(M4, [did(M1, DAY0)], DAY0, library).allowed


def test_an_unknown_routine_is_refused(library, text):
    assert check("cartwheels", [], DAY0, library) == Verdict(False, text.say("unknown", routine="cartwheels"))


# -- exercise 2 only after 1 (line 528), every two hours like 1 (line 538) --------------------


def test_two_follows_a_fresh_exercise_one(library, text):
    why = routine_why(library, M2, M1)
    refusal = text.say("requires", title=library.routines[M2].title, why=why, required=library.routines[M1].title)
    one = [did(M1, day(0, 8))]
    assert check(M2, one, day(0, 8, 5), library).allowed
    assert check(M2, one, day(0, 10, 0), library).allowed  # 2 hours: the same round
    late = check(M2, one, day(0, 10, 1), library)
    assert late == Verdict(False, refusal, M1)


def test_each_two_needs_its_own_one(library):
    history = [did(M1, day(0, 8)), did(M2, day(0, 8, 5))]
    assert not check(M2, history, day(0, 8, 10), library).allowed
    history.append(did(M1, day(0, 10)))
    assert check(M2, history, day(0, 10, 5), library).allowed


def test_a_stopped_two_does_not_use_up_its_one(library):
    history = [did(M1, day(0, 8)), did(M2, day(0, 8, 5), completed=False)]
    assert check(M2, history, day(0, 8, 10), library).allowed


def test_after_midnight_exercise_one_comes_first_again(library, text):
    verdict = check(M2, [did(M1, day(0, 23, 30))], day(1, 0, 30), library)
    assert verdict == Verdict(False, text.say("first_aid", title=library.routines[M2].title,
                                              first=library.routines[M1].title), M1)


def test_two_is_refused_when_one_was_yesterday_even_if_two_was_done_before(library):
    history = started(day(0)) + [did(M1, day(1, 8))]
    assert not check(M2, history, day(2, 8), library).allowed


# -- exercise 3: the first time only after 1 and 2 (line 542) ----------------------------------


def test_three_the_first_time_needs_one_and_two(library, text):
    title = library.routines[M3].title
    only_one = [did(M1, day(0, 8))]
    verdict = check(M3, only_one, day(0, 8, 10), library)
    assert not verdict.allowed
    assert verdict.reason == text.say("requires", title=title, why=routine_why(library, M3, M2),
                                      required=library.routines[M2].title)
    assert verdict.instead == M2  # 2 is possible now, straight after that 1
    both = only_one + [did(M2, day(0, 8, 5))]
    assert check(M3, both, day(0, 8, 10), library).allowed


def test_once_three_has_been_done_it_no_longer_needs_one_and_two_first(library):
    history = started(day(0)) + opened(20, 14)  # the day's 1, six hours ago: no fresh 2 needed
    assert check(M3, history, day(20, 20), library).allowed


def test_a_stopped_three_is_not_the_first_time(library, text):
    history = [did(M1, day(0, 8)), did(M3, day(0, 8, 5), completed=False)] + opened(1, 7)
    verdict = check(M3, history, day(1, 8), library)
    assert verdict.reason == text.say("requires", title=library.routines[M3].title,
                                      why=routine_why(library, M3, M2), required=library.routines[M2].title)


def test_the_mckenzie_programme_one_two_three_is_fine_for_someone_who_has_done_nothing(library):
    assert check("mckenzie-extension", [], DAY0, library).allowed


# -- exercise 4 instead of 3 in acute pain (line 558) --------------------------------------


def test_acute_pain_offers_four_instead_of_three_with_the_reason(library, text):
    three, four = library.routines[M3], library.routines[M4]
    verdict = check(M3, [], DAY0, library, ACUTE)
    assert verdict == Verdict(False, text.say("not_for_alternative", title=three.title,
                                              condition=text.conditions["acute"], instead=four.title,
                                              when="when back pain makes it impossible to lie down"), M4)
    allowed = check(M4, [], DAY0, library, ACUTE)
    assert allowed.allowed
    assert allowed.reason == text.say("allowed_alternative", title=four.title, other=three.title,
                                      when="when back pain makes it impossible to lie down")


def test_outside_acute_pain_four_waits_for_exercise_one_like_the_rest(library):
    assert not check(M4, [], DAY0, library).allowed
    assert not check(M4, [did(M1, day(-1))], DAY0, library).allowed  # yesterday's 1 does not open today
    assert check(M4, [did(M1, day(-1)), did(M1, day(0, 7))], DAY0, library).allowed


# -- acute: only McKenzie 1 and 4, and rest (line 620) ---------------------------------------


def test_acute_allows_only_mckenzie_one_and_four_whatever_the_history(library, text):
    # Enough history for every step of the progression.
    history = started(day(0)) + daily(M5, 0, 35) + daily(M6, 36, 50) + [did(M1, day(60, 7, 55))]
    now = day(60, 8)
    assert [rid for rid in MCKENZIE if check(rid, history, now, library).allowed] == MCKENZIE
    assert [rid for rid in MCKENZIE if check(rid, history, now, library, ACUTE).allowed] == [M1, M4]
    for rid in (M2, M5, M6, M7):
        verdict = check(rid, history, now, library, ACUTE)
        assert verdict == Verdict(False, text.say("not_for_acute", title=library.routines[rid].title,
                                                  condition=text.conditions["acute"],
                                                  instead=library.routines[M1].title), M1)


def test_acute_refuses_the_other_low_back_exercises_and_advises_rest(library, text):
    for rid in (SWALLOW, KNEES):
        verdict = check(rid, [], DAY0, library, ACUTE)
        assert verdict == Verdict(False, text.say("not_for_acute_rest", title=library.routines[rid].title,
                                                  condition=text.conditions["acute"]))
    # The neck drill and wall standing carry no not_for, so they stay.
    assert check(NECK, [], DAY0, library, ACUTE).allowed and check(WALL, [], DAY0, library, ACUTE).allowed


def test_acute_refuses_a_programme_that_contains_a_refused_exercise(library):
    verdict = check("mckenzie-extension", [], DAY0, library, ACUTE)
    assert not verdict.allowed and verdict.instead == M1
    assert library.routines[M2].title in verdict.reason


# -- other conditions in not_for ---------------------------------------------------------


def _with_not_for(library: Library, routine_id: str, conditions: list[str]) -> Library:
    routines = dict(library.routines)
    routines[routine_id] = routines[routine_id].model_copy(update={"not_for": conditions})
    return Library(routines=routines, programmes=dict(library.programmes))


@pytest.mark.parametrize("condition", ["osteoporosis", "pregnancy", "recent-surgery"])
def test_a_condition_listed_in_not_for_is_refused_with_its_reason(library, text, condition):
    lib = _with_not_for(library, WALL, [condition])
    verdict = check(WALL, [], DAY0, lib, Profile("bea", conditions=(condition,)))
    assert verdict == Verdict(False, text.say("not_for", title=lib.routines[WALL].title,
                                              condition=text.conditions[condition]))
    assert check(WALL, [], DAY0, lib, Profile("cy")).allowed
    assert check(WALL, [], DAY0, lib).allowed


def test_a_condition_no_routine_lists_changes_nothing(library):
    osteo = Profile("dee", conditions=("osteoporosis",))
    history = started(day(0))
    for rid in library.ids():
        assert check(rid, history, day(0, 9), library, osteo) == check(rid, history, day(0, 9), library), rid


# -- 3 immediately after 5, 6 and 7 (the then link) ------------------------------------------


def test_five_six_and_seven_report_that_three_follows(library, text):
    history = started(day(0)) + daily(M5, 0, 35) + daily(M6, 36, 50) + opened(51)
    for rid in (M5, M6, M7):
        verdict = check(rid, history, day(51, 9), library)
        assert verdict == Verdict(True, text.say("allowed_then", title=library.routines[rid].title,
                                                 then=library.routines[M3].title), then=M3)


def test_five_is_refused_while_three_could_not_follow_it(library, text):
    history = [did(M1, day(0, 8))]
    verdict = check(M5, history, day(0, 8, 10), library)
    three_reason = check(M3, history + [did(M5, day(0, 8, 10))], day(0, 8, 10), library).reason
    assert verdict == Verdict(False, text.say("then_blocked", title=library.routines[M5].title,
                                              then=library.routines[M3].title, reason=three_reason), M2)


def test_five_needs_nothing_more_once_three_has_been_done(library):
    assert check(M5, started(day(0)) + opened(30), day(30, 9), library).allowed


# -- 6 only after five weeks of continuous 5 (line 584) -------------------------------------------
# "Continuous" (progression.yaml continuous_days_per_week): whole weeks back to back, counted from
# a day of practice, each with the exercise done on at least 5 different days.


def _weeks_reason(text, library, rid: str, required: str, weeks: str, done: int, days: int) -> str:
    return text.say("practised_weeks", title=library.routines[rid].title, why=routine_why(library, rid, required),
                    required=library.routines[required].title, done=done, days=days, per_week=5, weeks=weeks)


def test_the_definition_of_continuous_is_in_progression_yaml(text):
    assert text.days_per_week == 5
    assert "continuous_days_per_week: 5" in data_file("progression.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", [0, 8, "five", 2.5, True])
def test_a_bad_continuous_days_per_week_fails_at_load(tmp_path, value):
    data = _data()
    data["continuous_days_per_week"] = value
    with pytest.raises(ValueError) as error:
        load_progression_text(_write(tmp_path, data))
    assert "continuous_days_per_week" in str(error.value)


def test_six_after_five_whole_weeks_of_five_not_a_day_earlier(library, text):
    history = started(day(0)) + daily(M5, 0, 34) + opened(34, 7) + opened(35, 7)  # 5 every day, days 0 to 34
    early = check(M6, history, day(34, 23, 59), library)  # the fifth week is not over yet
    assert early == Verdict(False, _weeks_reason(text, library, M6, M5, "5", done=4, days=7), M5)
    assert check(M6, history, day(35, 7, 5), library).allowed  # five whole weeks: days 0 to 34


def test_five_days_of_every_week_is_enough(library):
    # Weekdays only: 5 on Monday to Friday, never at weekends (day 0 is a Monday).
    weekends = tuple(n for n in range(35) if n % 7 in (5, 6))
    history = started(day(0)) + daily(M5, 0, 34, skip=weekends) + opened(35)
    assert check(M6, history, day(35, 9), library).allowed


def test_four_days_a_week_is_not_continuous(library):
    long_weekends = tuple(n for n in range(70) if n % 7 in (4, 5, 6))  # 5 only Monday to Thursday
    history = started(day(0)) + daily(M5, 0, 69, skip=long_weekends) + opened(70)
    assert not check(M6, history, day(70, 9), library).allowed


def test_a_short_week_breaks_the_run_and_the_weeks_count_again(library, text):
    missed = (15, 16, 17, 18, 19)  # five days in a row without 5: however the weeks fall, one is short
    history = started(day(0)) + daily(M5, 0, 40, skip=missed) + opened(35) + opened(41)
    assert not check(M6, history, day(35, 9), library).allowed
    # The weeks count again from day 20, the first day of practice after the gap.
    verdict = check(M6, history, day(41, 8, 30), library)
    assert verdict == Verdict(False, _weeks_reason(text, library, M6, M5, "5", done=3, days=0), M5)
    history += daily(M5, 41, 55) + opened(55)
    assert not check(M6, history, day(54, 23), library).allowed
    assert check(M6, history, day(55, 9, 10), library).allowed  # five whole weeks: days 20 to 54


def test_once_a_week_is_not_continuous_practice(library, text):
    history = started(day(0)) + [did(M5, day(n, 9)) for n in (0, 7, 14, 21, 28)] + opened(35)
    verdict = check(M6, history, day(35, 9), library)
    assert not verdict.allowed and verdict.instead == M5
    assert verdict.reason == text.say("practised_weeks_none", title=library.routines[M6].title,
                                      why=routine_why(library, M6, M5), required=library.routines[M5].title,
                                      weeks="5", per_week=5)


def test_a_week_missed_starts_the_five_weeks_again(library, text):
    # Three weeks, then eight days without 5, then on again from day 29.
    history = started(day(0)) + daily(M5, 0, 20) + daily(M5, 29, 70) + opened(40) + opened(63) + opened(64)
    verdict = check(M6, history, day(40, 9, 10), library)
    assert verdict == Verdict(False, _weeks_reason(text, library, M6, M5, "5", done=1, days=5), M5)
    assert not check(M6, history, day(63, 9, 10), library).allowed
    assert check(M6, history, day(64, 9), library).allowed  # five whole weeks from day 29


def test_continuous_practice_counts_whole_weeks_and_the_days_of_the_week_you_are_in():
    times = [day(n, 9) for n in range(10)]
    assert continuous_practice(times, day(9, 10), 5, 5) == Continuity(False, 1, 3)
    assert continuous_practice(times, day(13, 10), 1, 5) == Continuity(True, 1, 0)
    assert continuous_practice([], day(3), 2, 5) == Continuity(False, 0, 0)
    # A run whose week can no longer reach five days is broken: nothing still going.
    assert continuous_practice([day(0, 9), day(1, 9)], day(5, 9), 2, 5) == Continuity(False, 0, 0)
    # Later times (replaying history with --at) are ignored.
    assert continuous_practice(times, day(4, 8), 1, 5) == Continuity(False, 0, 4)


def test_a_fraction_of_a_week_counts_as_a_whole_one():
    times = [day(n, 9) for n in range(14)]
    assert not continuous_practice(times, day(13, 10), 1.5, 5).met
    assert continuous_practice(times, day(14, 9), 1.5, 5).met


def test_six_never_practised_five_says_so(library, text):
    verdict = check(M6, started(day(0)) + opened(1), day(1, 9), library)
    assert verdict == Verdict(False, text.say("practised_weeks_none", title=library.routines[M6].title,
                                              why=routine_why(library, M6, M5),
                                              required=library.routines[M5].title, weeks="5", per_week=5), M5)


def test_stopped_five_for_more_than_a_week_before_five_weeks_says_so(library, text):
    history = started(day(0)) + daily(M5, 0, 20) + opened(30)
    verdict = check(M6, history, day(30, 9), library)  # last 5 on day 20: nine days ago
    assert verdict == Verdict(False, text.say("practised_weeks_none", title=library.routines[M6].title,
                                              why=routine_why(library, M6, M5),
                                              required=library.routines[M5].title, weeks="5", per_week=5), M5)


def test_six_stays_allowed_after_moving_on_from_five(library):
    history = started(day(0)) + daily(M5, 0, 34) + daily(M6, 35, 80) + opened(81)
    assert check(M6, history, day(81, 9), library).allowed


def test_stopped_fives_do_not_count_toward_the_weeks(library):
    history = started(day(0)) + [did(M5, day(n, 9), completed=False) for n in range(40)] + opened(40)
    assert not check(M6, history, day(40, 9), library).allowed


# -- a session that made the pain spread is no day of practice ------------------------------------


def test_fives_after_which_the_pain_spread_do_not_count_toward_the_weeks(library, text):
    history = started(day(0)) + daily(M5, 0, 34) + opened(35)
    assert check(M6, history, day(35, 9), library).allowed
    # Pain spread down the leg after 5 on days 15, 16 and 17: the third week keeps only four days,
    # so five weeks from day 0 are not there; the best run still going starts on day 2.
    spread = [p for p in history if p.routine_id == M5 and p.at.date() in {day(n).date() for n in (15, 16, 17)}]
    verdict = check(M6, history, day(35, 9), library, setbacks=spread)
    assert verdict == Verdict(False, _weeks_reason(text, library, M6, M5, "5", done=4, days=5), M5)
    # Only the practice with the setback is left out: 5 the same day without one still counts.
    again = [did(M5, day(n, 18)) for n in (15, 16, 17)]
    assert check(M6, history + again, day(35, 9), library, setbacks=spread).allowed


def test_setbacks_apply_to_the_day_list_and_companion_today_too(library):
    history = started(day(0)) + daily(M5, 0, 34) + opened(35)
    spread = [p for p in history if p.routine_id == M5 and p.at.date() == day(20).date()]
    spread += [p for p in history if p.routine_id == M5 and p.at.date() == day(19).date()]
    spread += [p for p in history if p.routine_id == M5 and p.at.date() == day(18).date()]
    assert M6 in _due(history, day(35, 9), library)
    assert M6 not in {d.routine_id for d in due_now(history, day(35, 9), library, setbacks=spread)}
    assert M6 in refused(history, day(35, 9), library, setbacks=spread)
    report = today_report("ann", history, day(35, 9), library, setbacks=spread)
    assert M6 in {row["routine_id"] for row in report["not_yet"]}


def _records(routine_id: str, before: tuple[int, str], after: tuple[int, str], stop: bool = False) -> list[dict]:
    records = [{"kind": "exercise_started", "routine_id": routine_id},
               {"kind": "pain", "routine_id": routine_id, "when": "before", "score": before[0], "place": before[1]},
               {"kind": "exercise_done", "routine_id": routine_id},
               {"kind": "pain", "routine_id": routine_id, "when": "after", "score": after[0], "place": after[1]}]
    if stop:
        records.append({"kind": "pain_stop", "routine_id": routine_id, "then": "gentlest"})
    return records


def test_pain_setbacks_reads_pain_stops_and_spread_verdicts_from_a_sessions_records():
    assert pain_setbacks(_records(M5, (2, "back"), (2, "thigh"))) == {M5}  # spread, even with no pain_stop
    assert pain_setbacks(_records(M5, (3, "back"), (6, "back"), stop=True)) == {M5}  # the rise rule stopped it
    assert pain_setbacks(_records(M5, (2, "back"), (2, "back"))) == set()
    assert pain_setbacks(_records(M5, (3, "thigh"), (2, "back"))) == set()  # centralised: a good sign
    assert pain_setbacks(_records(M5, (2, "neck"), (2, "arm"))) == {M5}  # the arm order for the neck
    assert pain_setbacks([{"kind": "pain", "routine_id": M5, "when": "after", "score": 2, "place": "thigh"}]) == set()
    assert pain_setbacks(_records(M5, (2, "back"), (2, "back")) + _records(M3, (2, "back"), (2, "buttock"))) == {M3}


def test_setbacks_from_the_store_leave_out_the_sessions_where_the_pain_spread(tmp_path, library):
    from companion.care.store import open_store

    db = tmp_path / "h.db"
    history = started(day(0)) + daily(M5, 0, 34, then=None) + opened(35)
    _store_with_history(db, "ann", history)
    with open_store(db) as store:
        practice = store.practice("ann")
        spread_on = {day(n).date() for n in (8, 9, 10)}
        for p in practice:
            if p.routine_id == M5 and p.at.date() in spread_on:
                store.add_event(p.session_id, {"t": 61.0, "who": "person", "kind": "pain", "routine_id": M5,
                                               "when": "before", "score": 2, "place": "back"})
                store.add_event(p.session_id, {"t": 62.0, "who": "person", "kind": "pain", "routine_id": M5,
                                               "when": "after", "score": 2, "place": "below-knee"})
        found = find_setbacks(practice, store.events)
    assert {(p.routine_id, p.at.date()) for p in found} == {(M5, d) for d in spread_on}
    assert check(M6, practice, day(35, 9), library).allowed
    assert not check(M6, practice, day(35, 9), library, setbacks=found).allowed


# -- 7 only after two weeks of continuous 6 (line 600) -----------------------------------------------


def test_seven_after_two_whole_weeks_of_six_not_a_day_earlier(library, text):
    history = started(day(0)) + daily(M5, 0, 34) + daily(M6, 35, 48) + opened(48, 7) + opened(49, 7)
    thirteen = check(M7, history, day(48, 9, 10), library)  # first 6 on day 35; the second week ends on day 48
    assert thirteen == Verdict(False, _weeks_reason(text, library, M7, M6, "2", done=1, days=7), M6)
    assert check(M7, history, day(49, 7, 5), library).allowed


def test_two_sessions_of_six_a_week_apart_do_not_open_seven(library):
    history = started(day(0)) + daily(M5, 0, 34) + [did(M6, day(35, 9)), did(M6, day(42, 9))] + opened(50)
    verdict = check(M7, history, day(50, 9), library)
    assert not verdict.allowed and verdict.instead == M6


def test_seven_is_refused_for_someone_still_on_five(library):
    history = started(day(0)) + daily(M5, 0, 20) + opened(21)
    verdict = check(M7, history, day(21, 9), library)
    assert not verdict.allowed
    assert verdict.instead == M5  # 6 is not possible yet either, so: keep on with 5


# -- the rules follow the data, not the exercise ids ---------------------------------------------


def test_a_practised_weeks_rule_on_any_routine_is_enforced(library):
    from companion.content.schema import Requirement

    routines = dict(library.routines)
    routines[WALL] = routines[WALL].model_copy(update={"requires": [
        Requirement(routine=NECK, why="Do the neck turns for a week first.", practised_weeks=1)]})
    lib = Library(routines=routines, programmes={})
    assert not check(WALL, daily(NECK, 0, 6, then=None), day(6, 23, 59), lib).allowed
    assert check(WALL, daily(NECK, 0, 6, then=None), day(7, 0, 1), lib).allowed
    assert not check(WALL, daily(NECK, 0, 6, then=None, skip=(2, 4, 6)), day(7, 0, 1), lib).allowed


def test_with_no_first_aid_routine_in_the_library_that_rule_is_off(library):
    routines = {rid: r for rid, r in library.routines.items() if rid != M1}
    routines[M2] = routines[M2].model_copy(update={"requires": []})
    lib = Library(routines=routines, programmes={})
    assert check(M2, [], DAY0, lib).allowed


def test_times_with_time_zones_are_compared_on_the_same_clock(library):
    cet = timezone(timedelta(hours=1))
    one_at = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 in CET
    assert check(M2, [did(M1, one_at)], datetime(2025, 3, 3, 9, 30, tzinfo=cet), library).allowed
    assert not check(M2, [did(M1, one_at)], datetime(2025, 3, 3, 10, 30, tzinfo=cet), library).allowed


# -- due_now: daily counts and spacing ------------------------------------------------------------


def _due(history, now, library, profile=None):
    return {d.routine_id: d for d in due_now(history, now, library, profile)}


def test_wanted_counts_come_from_frequency_per_day(library):
    history = started(day(0)) + daily(M5, 0, 34) + daily(M6, 35, 49) + [did(M1, day(50, 11))]
    due = _due(history, day(50, 12), library)
    assert {rid: (d.wanted_low, d.wanted_high) for rid, d in due.items()} == {
        M1: (6, 8), M2: (6, 8), M3: (6, 8), M5: (3, 4), M6: (3, 4), M7: (1, 2),
        NECK: (3, 3), WALL: (3, 3), SWALLOW: (2, 2)}
    # Once 2 has followed that 1, 2 waits for the next 1, so it is not offered.
    assert M2 not in _due(history + [did(M2, day(50, 11, 5))], day(50, 12), library)


def test_spacing_after_the_last_set_today(library, text):
    history = [did(M1, day(0, 8)), did(M1, day(0, 10))]
    title = library.routines[M1].title
    at_11 = _due(history, day(0, 11), library)[M1]
    assert (at_11.done_today, at_11.next_at) == (2, day(0, 12))
    assert not at_11.is_due(day(0, 11))
    assert at_11.reason == text.say("due_later", title=title, done=2, wanted="6 to 8", time="12:00",
                                    spacing="2 hours")
    at_12 = _due(history, day(0, 12), library)[M1]
    assert at_12.next_at == day(0, 12) and at_12.is_due(day(0, 12))
    assert at_12.reason == text.say("due_now", title=title, done=2, wanted="6 to 8", time="12:00",
                                    spacing="2 hours")


def test_yesterdays_sets_do_not_count_today(library):
    history = [did(M1, day(0, h)) for h in (8, 10, 12, 14, 16, 18, 20, 22)]
    assert _due(history, day(0, 23), library)[M1].next_at is None
    fresh = _due(history, day(1, 7), library)[M1]
    assert (fresh.done_today, fresh.next_at) == (0, day(1, 7))


def test_enough_and_all_done(library, text):
    title = library.routines[M1].title
    six = [did(M1, day(0, h)) for h in (6, 8, 10, 12, 14, 16)]
    enough = _due(six, day(0, 17), library)[M1]
    assert enough.next_at == day(0, 18)
    assert enough.reason == text.say("enough_later", title=title, done=6, wanted="6 to 8", time="18:00",
                                     spacing="2 hours")
    assert _due(six, day(0, 19), library)[M1].reason.startswith(f"{title}: 6 of 6 to 8 done today, which is enough")
    eight = six + [did(M1, day(0, 18)), did(M1, day(0, 20))]
    done = _due(eight, day(0, 21), library)[M1]
    assert (done.done_today, done.next_at) == (8, None)
    assert done.reason == text.say("all_done", title=title, done=8, wanted="6 to 8", time="", spacing="")


def test_without_spacing_the_next_one_is_due_at_once_until_the_count_is_reached(library):
    history = [did(WALL, day(0, 8)), did(WALL, day(0, 8, 10))]
    wall = _due(history, day(0, 8, 20), library)[WALL]
    assert (wall.done_today, wall.next_at) == (2, day(0, 8, 20))
    history.append(did(WALL, day(0, 8, 30)))
    assert _due(history, day(0, 9), library)[WALL].next_at is None


def test_unfinished_sets_do_not_count_or_delay(library):
    history = [did(M1, day(0, 8)), did(M1, day(0, 9), completed=False)]
    one = _due(history, day(0, 9, 30), library)[M1]
    assert (one.done_today, one.next_at) == (1, day(0, 10))


def test_due_lists_only_what_the_progression_allows(library):
    assert set(_due([], DAY0, library)) == {M1, NECK, WALL, SWALLOW}
    assert set(_due([], DAY0, library, ACUTE)) == {M1, NECK, WALL}
    after_one = _due([did(M1, day(0, 8))], day(0, 8, 5), library)
    assert M2 in after_one and M3 not in after_one


def test_refused_lists_every_routine_that_is_not_yet_allowed(library):
    assert set(refused([], DAY0, library)) == set(MCKENZIE[1:])


# -- companion today ------------------------------------------------------------------------------


def test_today_report_sorts_due_later_done_anytime_and_not_yet(library, text):
    history = [did(M1, day(0, 8)), did(M2, day(0, 8, 5))] + [did(WALL, day(0, h)) for h in (7, 8, 9)]
    report = today_report("ann", history, day(0, 9), library)
    # 3 has had its first-time 1 and 2; 5 has had its first aid, and 3 may follow it.
    assert [r["routine_id"] for r in report["due"]] == [SWALLOW, M3, M5, NECK]
    assert [r["routine_id"] for r in report["later"]] == [M1]  # 2 hours after 08:00
    assert [r["routine_id"] for r in report["done"]] == [WALL]
    assert [r["routine_id"] for r in report["anytime"]] == [KNEES, M4]  # no daily count
    assert [r["routine_id"] for r in report["not_yet"]] == [M2, M6, M7]  # 2 waits for the next 1
    json.dumps(report)  # JSON-ready
    lines = today_lines(report)
    assert lines[0] == "Today for ann, Monday 3 March, at 09:00:"
    assert text.reasons["today_not_yet"] in lines and text.reasons["today_due"] in lines
    assert "  " + check(M6, history, day(0, 9), library).reason in lines


def _parser() -> argparse.ArgumentParser:
    return build_parser()


def test_today_parser_takes_user_json_db_and_at():
    args = _parser().parse_args(["today", "--user", "ann", "--json", "--db", "x.db", "--at", "2025-03-03T09:00"])
    assert (args.user, args.json, args.db, args.at) == ("ann", True, "x.db", "2025-03-03T09:00")
    with pytest.raises(SystemExit):
        _parser().parse_args(["today"])


def _store_with_history(path: Path, user: str, history: list[Practice], profile: Profile | None = None):
    """Write ``history`` into a real store as sessions of exercise_started / exercise_done records."""
    from companion.care.store import open_store

    with open_store(path) as store:
        if profile is not None:
            store.add_profile(profile)
        for practice in history:
            sid = store.start_session(user, practice.routine_id, practice.at, virtual=True)
            store.add_event(sid, {"t": 0.0, "who": "companion", "kind": "exercise_started",
                                  "routine_id": practice.routine_id})
            if practice.completed:
                store.add_event(sid, {"t": 60.0, "who": "companion", "kind": "exercise_done",
                                      "routine_id": practice.routine_id})
            store.finish_session(sid, "completed" if practice.completed else "stopped",
                                 practice.at + timedelta(seconds=60))


def test_today_command_reads_history_and_profile_from_the_store(capsys, tmp_path):
    db = tmp_path / "h.db"
    _store_with_history(db, "ann", [did(M1, day(0, 8)), did(M4, day(0, 8, 30), completed=False)],
                        Profile("ann", conditions=("acute",)))
    args = _parser().parse_args(["today", "--user", "ann", "--json", "--db", str(db), "--at", "2025-03-03T09:00"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conditions"] == ["acute"]
    later = report["later"]
    assert [(r["routine_id"], r["done_today"], r["next_at"]) for r in later] == [(M1, 1, "2025-03-03T10:00:00")]
    assert {r["routine_id"] for r in report["anytime"]} == {M4}
    assert {r["routine_id"] for r in report["not_yet"]} >= {M2, M3, M5, M6, M7, SWALLOW, KNEES}
    args = _parser().parse_args(["today", "--user", "ann", "--db", str(db), "--at", "2025-03-03T09:00"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Today for ann, Monday 3 March, at 09:00:\n")
    assert "McKenzie 4: standing back bend is fine to do now. It takes the place of" in out


def test_today_command_for_someone_with_no_history(capsys, tmp_path):
    from companion.care.profiles import Profile
    from companion.care.store import open_store

    with open_store(tmp_path / "h.db") as store:
        store.add_profile(Profile("newcomer"))
    args = _parser().parse_args(["today", "--user", "newcomer", "--db", str(tmp_path / "h.db"),
                                 "--at", "2025-03-03T09:00"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "McKenzie 1: lying face down: 0 of 6 to 8 done today. One is due now." in out
    assert "McKenzie 2: lying on your elbows has to wait until you have done McKenzie 1" in out


def test_the_stores_practice_records_work_as_history(tmp_path, library):
    from companion.care.store import open_store

    db = tmp_path / "h.db"
    _store_with_history(db, "ann", started(day(0)) + daily(M5, 0, 34) + opened(34) + opened(35))
    with open_store(db) as store:
        history = store.practice("ann")
    assert not check(M6, history, day(34, 23, 59), library).allowed
    assert check(M6, history, day(35, 9), library).allowed


def test_today_command_rejects_a_bad_time(capsys):
    args = _parser().parse_args(["today", "--user", "ann", "--at", "tuesday"])
    assert args.func(args) == 2
    assert "--at needs a date and time" in capsys.readouterr().err
