"""The report as one self-contained HTML page for a caregiver or physiotherapist to print on A4.

The page is made from Jinja2 templates (``templates/``) with autoescaping on:
names, routine titles and anything heard come from people and files, and must
never become markup. The CSS is inlined and the pain chart is a base64
``data:`` URI, so the page is a single file with no scripts and no external
references. Everything a colour marks is also written as text or a symbol, so
the page reads the same printed in black and white.

This module turns :class:`ReportData` into plain values for the templates
(labels, formatted numbers); the templates only lay them out, and every word
comes from ``report.yaml`` (:mod:`.wording`).
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from companion.care.report.collect import ReportData
from companion.care.report.wording import STATUSES, ReportWords, load_wording
from companion.engine.pain import PLACE_ORDER

# Symbols that repeat what a cell's colour says, for black-and-white printing.
SYMBOLS = {"met": "\u2713", "part": "\u25d0", "missed": "\u2717", "open": "\u2026", "before": "\u2013"}
MARKS = {"allowed": "\u2713", "not_yet": "\u2717"}
NOTHING = "\u2013"  # an empty cell: not asked, no score, no place


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment: escaping everywhere, and a missing value is an error, not a blank."""
    return Environment(loader=PackageLoader("companion.care.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def day_label(day: date) -> str:
    """A day as the page writes it: "Mon 6 May"."""
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"


def render_html(data: ReportData, chart: bytes | None = None, chart_note: str = "") -> str:
    """The whole page. ``chart`` is the PNG from :func:`.chart.pain_chart_png` (None: no chart)."""
    words = load_wording()
    page = words.page
    first, last = data.days[0], data.days[-1]
    count = len(data.days)
    period = page.period.format(
        first=day_label(first), first_year=first.year, last=day_label(last), last_year=last.year,
        days=(page.one_day if count == 1 else page.many_days).format(count=count),
        time=data.now.strftime("%H:%M"))
    profile = data.profile
    conditions = ", ".join(profile.conditions) if profile and profile.conditions else page.no_conditions
    red_flags = sum(1 for i in data.incidents if i.kind == "red-flag")
    stops = sum(1 for i in data.incidents if i.kind not in ("red-flag", "unsaved"))  # unsaved events are not a stop
    context = {
        "t": words,
        "marks": MARKS,
        "nothing": NOTHING,
        "title": page.title.format(user=data.user, first=first.isoformat(), last=last.isoformat()),
        "heading": page.heading.format(user=data.user),
        "period": period,
        "conditions": page.conditions.format(conditions=conditions),
        "caregiver": page.caregiver if profile and profile.caregiver else "",
        "nothing_recorded": "" if data.sessions else page.nothing_recorded.format(
            user=data.user, first=day_label(first), last=day_label(last)),
        "summary": [(len(data.sessions), page.sessions), (data.completed_total, page.completed),
                    (red_flags, page.one_red_flag if red_flags == 1 else page.many_red_flags),
                    (stops, page.stops)],
        "flags": _flags(data),
        "incidents": _incidents(data),
        "adherence": _adherence(data, words),
        "pain": _pain(data, words, chart, chart_note),
        "mckenzie": _mckenzie(data, words),
        "footer": page.footer.format(user=data.user, made=data.now.strftime("%Y-%m-%d %H:%M")),
    }
    return environment().get_template("report.html").render(context)


def render(data: ReportData) -> tuple[str, str]:
    """The page with its chart; the second value is a note when the chart could not be drawn."""
    note = ""
    try:
        from companion.care.report.chart import pain_chart_png  # matplotlib is slow to import

        chart = pain_chart_png(data)
    except ImportError:
        chart, note = None, load_wording().page.chart_needs_matplotlib
    return render_html(data, chart, note), note


# -- the sections: plain values for the templates -----------------------------------------


def _flags(data: ReportData) -> list[dict[str, Any]]:
    return [{"open": flag.open, "when": f"{day_label(flag.raised_at.date())} {flag.raised_at.strftime('%H:%M')}",
             "name": flag.name, "how": flag.how, "status": flag.status} for flag in data.flags]


def _incidents(data: ReportData) -> list[dict[str, str]]:
    rows = []
    for item in data.incidents:
        at = item.at.astimezone(data.now.tzinfo)
        rows.append({"kind": item.kind, "when": f"{day_label(at.date())} {at.strftime('%H:%M')}",
                     "label": item.label, "what": item.what, "reason": item.reason})
    return rows


def _adherence(data: ReportData, words: ReportWords) -> dict[str, Any]:
    today = data.now.date()
    rows = []
    for row in data.rows:
        cells = []
        for cell, column in zip(row.cells, data.columns):
            before = cell.status == "before"
            cells.append({
                "status": cell.status,
                "title": words.status[cell.status],
                "text": SYMBOLS[cell.status] if before else f"{cell.done}/{column.target} {SYMBOLS[cell.status]}",
                "attempted": words.page.attempted.format(count=cell.attempted) if cell.attempted and not before
                else "",
            })
        rows.append({"day": day_label(row.day), "today": row.day == today, "sessions": row.sessions,
                     "screening": row.screening, "cells": cells})
    return {
        "columns": [{"title": column.title, "target": words.page.target.format(target=column.target)}
                    for column in data.columns],
        "rows": rows,
        "legend": [{"status": status, "symbol": SYMBOLS[status], "word": words.status[status]}
                   for status in STATUSES],
    }


def _summary(values: list[int]) -> str:
    """Scores of one day: the score when there is one value, else the average and the range."""
    if not values:
        return NOTHING
    if min(values) == max(values):
        return str(values[0])
    return f"{sum(values) / len(values):.1f}  ({min(values)}\u2013{max(values)})"


def _pain(data: ReportData, words: ReportWords, chart: bytes | None, chart_note: str) -> dict[str, Any]:
    rows = []
    for day in data.days:
        points = [p for p in data.pain if p.at.astimezone(data.now.tzinfo).date() == day]
        if not points:
            continue
        places = [p for pt in points for p in (pt.place_before, pt.place_after) if p in PLACE_ORDER]
        rows.append({
            "day": day_label(day),
            "sessions": len(points),
            "before": _summary([p.before for p in points if p.before is not None]),
            "after": _summary([p.after for p in points if p.after is not None]),
            "furthest": words.places[max(places, key=PLACE_ORDER.index)] if places else NOTHING,
        })
    uri = f"data:image/png;base64,{base64.b64encode(chart).decode('ascii')}" if chart is not None else ""
    return {"chart_uri": uri, "chart_note": chart_note, "rows": rows}


def _mckenzie(data: ReportData, words: ReportWords) -> dict[str, Any]:
    m, today, page = data.mckenzie, data.today, words.page
    at = datetime.fromisoformat(today["at"])
    groups = ((page.due_now, today["due"]), (page.due_later, today["later"]), (page.due_done, today["done"]))
    mckenzie_ids = {row["routine_id"] for row in m["rows"]}
    return {
        "stage": m["stage"],
        "next": m["next"],
        "rows": m["rows"],
        "due_heading": page.due_heading.format(day=day_label(at.date()), time=at.strftime("%H:%M")),
        "due": [(heading, [row["reason"] for row in rows]) for heading, rows in groups if rows],
        # While a red flag is open every routine has the same reason: said once.
        "others": list(dict.fromkeys(row["reason"] for row in today["not_yet"]
                                     if row["routine_id"] not in mckenzie_ids)),
    }


__all__ = ["day_label", "environment", "render", "render_html"]
