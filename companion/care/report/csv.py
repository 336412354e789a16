"""The report's events as CSV: one row per pain score, screening answer, red flag, completion or stop.

A spreadsheet of the same period as the page, for a physiotherapist who wants
to sort or count. The rows are made by :func:`companion.care.report.collect.collect`
(``ReportData.events``); this module orders and writes them.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from companion.care.report.collect import ReportData

CSV_FIELDS = ("date", "time", "session", "routine", "kind", "value", "detail")


def csv_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per event of interest, in time order (CSV_FIELDS)."""
    return sorted(data.events, key=lambda r: (r["date"], r["time"], r["session"]))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with a header line, ready to write to a file."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


__all__ = ["CSV_FIELDS", "csv_rows", "csv_text"]
