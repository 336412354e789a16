"""Values a person can type that once brought companion down: ``--at``, ``--days`` and ids.

Every command answers with exit 0, 1 or 2 and one line on stderr, never a
traceback; a refused value leaves nothing behind (no database, no session row
that ``--resume`` would pick up).
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from companion.care.profiles import Profile
from companion.care.store import open_store
from companion.cli import main
from companion.cli.time_option import EARLIEST_YEAR, LATEST_YEAR, MAX_OFFSET

ROUTINE = "knees-to-chest"  # the shortest routine: a virtual-clock run of it is quick
VERBS = ("run", "report", "today")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RANGE_MESSAGE = f"between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31"

# Offsets Python itself accepts (under a day), most of them beyond what a time zone uses.
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)) \
    .map(lambda d: timezone(timedelta(minutes=d // timedelta(minutes=1))))
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
                       timezones=st.none() | offsets)
# Bytes that are not UTF-8 reach argv as lone surrogates (U+DC80..U+DCFF).
undecodable = st.builds(lambda text, code: text + chr(code), st.text(max_size=5), st.integers(0xDC80, 0xDCFF))
HUGE = "\u00e9" * 50_000  # 100 kB of UTF-8
ids = st.text() | undecodable | st.just(HUGE) | st.sampled_from(["\u200b", "knees\u2010to\u2010chest", "\U0001f9d8"])


def outcome(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and stderr of one command; anything raised (argparse's usage exit aside) fails the test.

    capfd, not capsys: like the real stderr it does not fail on an undecodable
    argument echoed back (capsys's stream is strict about lone surrogates).
    """
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refusing the command line: its usage message and exit 2
        code = exc.code
    except Exception as exc:
        pytest.fail(f"companion {' '.join(a[:40] for a in argv)} raised {exc!r}")
    err = capfd.readouterr().err
    assert code in (0, 1, 2), (code, err[-500:])
    assert "Traceback" not in err
    return code, err


def sessions(db: Path) -> list:
    if not db.exists():
        return []
    with open_store(db) as store:
        return store.sessions()


@pytest.fixture
def people(tmp_path: Path) -> Path:
    """A database with one profile, "ann", and no sessions."""
    db = tmp_path / "people.db"
    with open_store(db) as store:
        store.add_profile(Profile("ann"))
    return db


@pytest.fixture
def fresh(tmp_path: Path):
    """A new, not yet existing database path for each call (each hypothesis example)."""
    counter = itertools.count()
    return lambda: tmp_path / f"fresh-{next(counter)}.db"


def command(verb: str, at: str, db: Path, out: Path) -> list[str]:
    if verb == "run":
        return ["run", "--virtual-clock", "--text", "--db", str(db), f"--at={at}", "--", ROUTINE]
    if verb == "report":
        return ["report", "--user", "ann", "--db", str(db), "--html", str(out), f"--at={at}"]
    return ["today", "--user", "ann", "--db", str(db), f"--at={at}"]


def in_window(moment: datetime) -> bool:
    offset = moment.utcoffset()
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR and (offset is None or abs(offset) <= MAX_OFFSET)


# -- the failures that were reported -----------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("at", ["0001-01-01T00:00", "0001-01-01", "0001-01-01T00:00+14:00", "0001-01-01T00:00-14:00"])
def test_at_year_one_is_refused_without_a_traceback(capfd, tmp_path, people, verb, at):
    db = tmp_path / "new.db" if verb == "run" else people
    code, err = outcome(capfd, *command(verb, at, db, tmp_path / "r.html"))
    assert code == 2 and err.startswith("--at must be") and RANGE_MESSAGE in err
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("at", ["9999-12-31T23:59", "9999-12-31", "9999-12-31T23:59:59.999999-14:00", "2101-01-01",
                                "1999-12-31T23:59"])
def test_at_year_9999_is_refused(capfd, tmp_path, people, verb, at):
    db = tmp_path / "new.db" if verb == "run" else people
    code, err = outcome(capfd, *command(verb, at, db, tmp_path / "r.html"))
    assert code == 2 and RANGE_MESSAGE in err
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("at", ["2025-03-01T10:00+14:01", "2025-03-01T10:00-14:30", "2025-03-01T10:00+23:59",
                                "2025-03-01T10:00-23:59:59"])
def test_at_with_a_large_offset_is_refused(capfd, tmp_path, people, verb, at):
    db = tmp_path / "new.db" if verb == "run" else people
    code, err = outcome(capfd, *command(verb, at, db, tmp_path / "r.html"))
    assert code == 2 and "offset" in err and "-12:00 to +14:00" in err
    assert not (tmp_path / "new.db").exists()


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("at", ["2025-03-01T10:00+14:00", "2025-03-01T10:00-12:00", "2025-03-01T10:00-14:00",
                                "2025-03-01T10:00Z", "2025-03-01", "2000-01-01T00:00+14:00",
                                "2100-12-31T23:59:59.999999-14:00"])
def test_at_in_the_window_is_accepted(capfd, tmp_path, people, verb, at):
    db = tmp_path / "new.db" if verb == "run" else people
    code, err = outcome(capfd, *command(verb, at, db, tmp_path / "r.html"))
    assert code == 0, err
    if verb == "run":
        assert len(sessions(db)) == 1


def test_refused_at_leaves_no_unfinished_session(capfd, people):
    for at in ("9999-12-31T23:59", "0001-01-01T00:00", "2025-03-01T10:00+20:00", "not a time", ""):
        code, _ = outcome(capfd, "run", "--virtual-clock", "--text", "--user", "ann", "--db", str(people),
                          f"--at={at}", "--", ROUTINE)
        assert code == 2
    code, err = outcome(capfd, "run", "--text", "--user", "ann", "--db", str(people), "--at=2025-03-01T10:00",
                        "--", ROUTINE)
    assert code == 2 and "--at only works with --virtual-clock" in err
    assert sessions(people) == []
    code, err = outcome(capfd, "run", "--resume", "--virtual-clock", "--text", "--user", "ann", "--db", str(people))
    assert code == 1 and "no interrupted session" in err
    assert sessions(people) == []


def test_arguments_are_checked_before_the_store_is_opened(capfd, tmp_path):
    db = tmp_path / "new.db"
    script = tmp_path / "bad-script.txt"
    script.write_text("soon stop\n")
    for extra in (["--virtual-clock", "--keyboard"], ["--virtual-clock", "--script", str(script)],
                  ["--virtual-clock", "--user", "ann\udcff"]):
        code, _ = outcome(capfd, "run", "--text", "--db", str(db), *extra, "--", ROUTINE)
        assert code == 2
    assert not db.exists()


# -- fuzzing -----------------------------------------------------------------------------------


@FUZZ
@given(text=st.text() | st.just(HUGE))
@example(text="")
@example(text="\x00")
@example(text="2025-03-01T10:00\x00")
@example(text="-1")
@example(text="+002025-03-01")
@example(text="2025-W09-6T10:00")
@example(text="2025-03-01T24:00")
@example(text="2025-02-29")
def test_any_at_text_gets_an_answer(capfd, tmp_path, people, fresh, text):
    for verb in VERBS:
        db = fresh() if verb == "run" else people
        code, _ = outcome(capfd, *command(verb, text, db, tmp_path / "r.html"))
        assert code in (0, 2)
        if verb == "run":
            assert len(sessions(db)) == (1 if code == 0 else 0)
            assert code == 0 or not db.exists()


@pytest.mark.parametrize("verb", VERBS)
@FUZZ
@given(moment=moments)
@example(moment=datetime(1, 1, 1))
@example(moment=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
@example(moment=datetime(9999, 12, 31, 23, 59, 59, 999999))
@example(moment=datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))))
@example(moment=datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=14))))
@example(moment=datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-14))))
@example(moment=datetime(2025, 3, 1, 10, tzinfo=timezone(timedelta(hours=14, minutes=1))))
def test_any_datetime_is_accepted_exactly_in_the_window(capfd, tmp_path, people, fresh, verb, moment):
    db = fresh() if verb == "run" else people
    code, err = outcome(capfd, *command(verb, moment.isoformat(), db, tmp_path / "r.html"))
    assert code == (0 if in_window(moment) else 2), err
    if verb == "run":
        assert len(sessions(db)) == (1 if code == 0 else 0)


@FUZZ
@given(days=st.integers() | st.text() | st.sampled_from(["0", "-1", "366", "367", "1e3", "\u0663", " 7 ", "9" * 5000]))
def test_any_days_value_gets_an_answer(capfd, tmp_path, people, days):
    try:
        expected = 0 if 1 <= int(days) <= 366 else 2
    except ValueError:
        expected = 2  # argparse refuses what int() refuses
    out = tmp_path / "days.html"
    code, err = outcome(capfd, "report", "--user", "ann", "--db", str(people), "--html", str(out),
                        f"--days={days}", "--at=2000-01-01T00:00+14:00")
    assert code == expected, err


@FUZZ
@given(name=ids)
@example(name=HUGE)
def test_any_id_gets_an_answer(capfd, tmp_path, people, fresh, name):
    assume(name.casefold() != "ann")
    db = fresh()
    code, _ = outcome(capfd, "run", "--virtual-clock", "--text", "--db", str(db), "--", name)
    assert code in (1, 2) and not db.exists()
    code, _ = outcome(capfd, "run", "--virtual-clock", "--text", "--db", str(people), f"--user={name}", "--", ROUTINE)
    assert code in (1, 2) and sessions(people) == []
    code, _ = outcome(capfd, "show", "--", name)
    assert code == 1
    out = tmp_path / "id.html"
    code, _ = outcome(capfd, "report", f"--user={name}", "--db", str(people), "--html", str(out))
    assert code == 1 and not out.exists()
    code, _ = outcome(capfd, "report", "--user", "ann", "--db", str(people), f"--html={tmp_path / name[:200]}")
    assert code in (0, 1)


@FUZZ
@given(name=st.text() | st.just(HUGE))
def test_any_name_for_today_gets_an_answer(capfd, people, name):
    code, _ = outcome(capfd, "today", f"--user={name}", "--db", str(people))
    assert code in (0, 1)


# -- the window's edges, in the time zones furthest from UTC ----------------------------------


@pytest.fixture(params=["Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
def local_zone(request):
    """Run in a local time zone far from UTC (+14:00, -12:00), then restore the real one."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("at", ["2000-01-01T00:00", "2000-01-01T00:00+14:00", "2000-01-01T00:00-12:00",
                                "2100-12-31T23:59:59", "2100-12-31T23:59-14:00", "2100-12-31T23:59+14:00"])
def test_the_windows_edges_do_not_overflow(capfd, tmp_path, people, local_zone, at):
    code, err = outcome(capfd, "run", "--virtual-clock", "--text", "--user", "ann", "--db", str(people),
                        f"--at={at}", "--", ROUTINE)
    assert code == 0, err
    code, err = outcome(capfd, "report", "--user", "ann", "--db", str(people), "--html", str(tmp_path / "r.html"),
                        "--csv", str(tmp_path / "r.csv"), "--days=366", f"--at={at}")
    assert code == 0, err
    code, err = outcome(capfd, "today", "--user", "ann", "--db", str(people), f"--at={at}")
    assert code == 0, err
