"""The report's events as CSV: one row per pain score, screening answer, red flag, completion or stop.

A spreadsheet of the same period as the page, for a physiotherapist who wants
to sort or count. The rows are made by :func:`companion.care.report.collect.collect`
(``ReportData.events``); this module orders and writes them.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (some also after a leading tab or carriage return), and routine titles, places
and flag names come from files anyone can edit. Such text cells get a leading
single quote, as OWASP recommends for CSV injection; numbers are written as
they are (the only numbers are session ids and pain scores 0-10).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from companion.care.report.collect import ReportData

CSV_FIELDS = ("date", "time", "session", "routine", "kind", "value", "detail")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: Any) -> Any:
    """A text cell made safe for a spreadsheet; numbers and other values as they are.

    A formula start gets the quote; a carriage return becomes a line feed, because the
    writer (whose lines end in a line feed) quotes a cell holding a line feed but not
    one holding a lone carriage return, which a reader would take as the end of the row.
    """
    if not isinstance(cell, str):
        return cell
    if cell.startswith(FORMULA_STARTS):
        cell = "'" + cell
    return cell.replace("\r\n", "\n").replace("\r", "\n")


def csv_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per event of interest, in time order (CSV_FIELDS)."""
    return sorted(data.events, key=lambda r: (r["date"], r["time"], r["session"]))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with a header line, ready to write to a file."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: neutralised(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


__all__ = ["CSV_FIELDS", "csv_rows", "csv_text", "neutralised"]
