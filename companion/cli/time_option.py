"""``--at ISO``: the one reading of a user-given date and time, shared by ``run``, ``report`` and ``today``.

Python's datetime reaches from year 1 to 9999 with offsets up to a day, but
near those edges converting to UTC or local time, stepping a report's days
back or a session's hours forward overflows, and a typo such as ``0025`` for
``2025`` is far likelier than a session in year 25. So only a window where
all of that stays in range is accepted, and only the offsets real time zones
use; anything else is refused here, before any database is opened.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
MAX_OFFSET = timedelta(hours=14)  # Kiribati is +14:00, Baker Island -12:00
SHOWN_CHARACTERS = 40  # how much of a refused value the message repeats
EXAMPLE = "2025-03-01T18:00"


class MomentError(ValueError):
    """A value that is not a date and time in range; the message says what is wanted instead."""


def _shown(text: str) -> str:
    """The refused value as it can be printed: short, and with control characters escaped."""
    head = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:SHOWN_CHARACTERS])
    return head + ("..." if len(text) > SHOWN_CHARACTERS else "")


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_moment(text: str, option: str = "--at") -> datetime:
    """The moment ``text`` names; without an offset it stays naive, which companion reads as local time.

    Accepts an ISO date (``2025-03-01``, midnight) or date and time, with or
    without an offset; raises :class:`MomentError` with a message that names
    ``option`` for anything else, out-of-window years and offsets beyond 14 hours.
    Naive is kept (not made aware here) because the store, the report and
    ``today`` all take a naive time as local, and ``today`` prints times as given.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MomentError(f"{option} needs a date and time like {EXAMPLE} (or a date like 2025-03-01), "
                          f"not '{_shown(text)}'") from None
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise MomentError(f"{option} has the time-zone offset {_offset_text(offset)}; "
                          f"time zones go from -12:00 to +14:00 (or leave the offset out for local time)")
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise MomentError(f"{option} must be between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31, "
                          f"not '{_shown(text)}'")
    try:
        moment.astimezone()  # what every reader does with it first
    except (OverflowError, OSError, ValueError):
        raise MomentError(f"{option} '{_shown(text)}' cannot be placed in the local time zone; "
                          "give it with an offset, e.g. 2025-03-01T18:00+01:00") from None
    return moment


__all__ = ["EARLIEST_YEAR", "LATEST_YEAR", "MomentError", "parse_moment"]


def moment_or_now(text: str | None, option: str = "--at") -> datetime | None:
    """``text`` read by :func:`parse_moment`, or now when it was not given; None, after saying why
    on stderr, when it is refused (the caller then exits with a usage error)."""
    if text is None:
        return datetime.now().astimezone()
    try:
        return parse_moment(text, option)
    except MomentError as exc:
        print(exc, file=sys.stderr)
        return None
