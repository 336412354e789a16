"""The pain chart of the report: scores and where the pain is felt, before and after each session, as a PNG.

It is drawn with matplotlib on an Agg canvas (no pyplot state, nothing shown on
screen) and returned as bytes for :mod:`.html` to embed in the page. Importing
matplotlib takes a while, so :func:`companion.care.report.html.render` imports
this module only when it draws a chart. Big markers, thick lines and a second
line style make the chart readable when printed in black and white.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from companion.care.report.collect import ReportData
from companion.care.report.wording import load_wording
from companion.engine.pain import PLACE_ORDER


def pain_chart_png(data: ReportData) -> bytes | None:
    """The pain trend (scores, and where the pain is felt) as a PNG; None when there is nothing to draw."""
    points = [p for p in data.pain if p.before is not None or p.after is not None]
    if not points:
        return None
    words = load_wording()
    zone = data.now.tzinfo
    fig = Figure(figsize=(7.6, 7.4), dpi=150)
    FigureCanvasAgg(fig)
    ax_score, ax_place = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    start = data.start
    end = start + timedelta(days=len(data.days))

    before_style: dict[str, Any] = {"color": "#1f4e9c", "linestyle": "-", "linewidth": 3, "marker": "o",
                                    "markersize": 10, "markerfacecolor": "white", "markeredgewidth": 2.5}
    after_style: dict[str, Any] = {"color": "#111111", "linestyle": "--", "linewidth": 3, "marker": "s",
                                   "markersize": 9, "markerfacecolor": "#111111"}

    def series(ax: Any, value: str, transform: Any) -> None:
        for p in points:  # a thin grey line joins each session's before and after
            b, a = transform(getattr(p, f"{value}_before" if value == "place" else "before")), \
                transform(getattr(p, f"{value}_after" if value == "place" else "after"))
            if b is not None and a is not None:
                x = p.at.astimezone(zone)
                ax.plot([x, x], [b, a], color="#999999", linewidth=1.5, zorder=1)
        for style, attr in ((before_style, "before"), (after_style, "after")):
            got = [(p.at.astimezone(zone), transform(getattr(p, attr if value == "score" else f"place_{attr}")))
                   for p in points]
            got = [(x, y) for x, y in got if y is not None]
            if got:
                ax.plot([x for x, _ in got], [y for _, y in got], zorder=3, **style)
        stops = [(p.at.astimezone(zone), transform(p.after if value == "score" else p.place_after))
                 for p in points if p.stopped]
        stops = [(x, y) for x, y in stops if y is not None]
        if stops:
            ax.plot([x for x, _ in stops], [y for _, y in stops], linestyle="none", marker="X", markersize=17,
                    color="#c0392b", markeredgecolor="black", markeredgewidth=1.2, zorder=4)

    series(ax_score, "score", lambda v: v)
    series(ax_place, "place", lambda v: PLACE_ORDER.index(v) if v in PLACE_ORDER else None)

    ax_score.set_ylim(-0.5, 10.5)
    ax_score.set_yticks(range(0, 11, 2))
    ax_score.set_ylabel(words.chart.score_axis, fontsize=13)
    ax_score.set_title(words.chart.score_title, fontsize=16, fontweight="bold", loc="left")
    ax_place.set_ylim(-0.5, len(PLACE_ORDER) - 0.5)
    ax_place.set_yticks(range(len(PLACE_ORDER)))
    ax_place.set_yticklabels([words.places[p] for p in PLACE_ORDER])
    ax_place.invert_yaxis()  # the spine at the top, the foot at the bottom
    ax_place.set_title(words.chart.place_title, fontsize=13, loc="left")
    for ax in (ax_score, ax_place):
        ax.grid(True, axis="y", color="#bbbbbb", linewidth=1)
        ax.grid(True, axis="x", color="#dddddd", linewidth=1)
        ax.tick_params(labelsize=12, width=1.5, length=6)
        for spine in ax.spines.values():
            spine.set_linewidth(1.5)
        ax.set_xlim(start, end)
    # Gridlines at midnight separate the days; each day is named under its middle.
    every = max(1, -(-len(data.days) // 10))
    ax_place.xaxis.set_major_locator(mdates.DayLocator(tz=zone))
    ax_place.xaxis.set_major_formatter(mdates.DateFormatter("", tz=zone))
    ax_place.xaxis.set_minor_locator(mdates.HourLocator(byhour=[12], tz=zone)
                                     if every == 1 else mdates.DayLocator(interval=every, tz=zone))
    def day_name(value: float, _pos: Any = None) -> str:
        moment = mdates.num2date(value, tz=zone)
        return f"{moment.strftime('%a')}\n{moment.day} {moment.strftime('%b')}" if every == 1 else \
            f"{moment.day} {moment.strftime('%b')}"

    ax_place.xaxis.set_minor_formatter(day_name)
    ax_place.tick_params(axis="x", which="minor", length=0, labelsize=12)
    handles = [Line2D([], [], **before_style), Line2D([], [], **after_style)]
    labels = [words.chart.before, words.chart.after]
    if any(p.stopped for p in points):
        handles.append(Line2D([], [], linestyle="none", marker="X", markersize=15, color="#c0392b",
                              markeredgecolor="black"))
        labels.append(words.chart.stopped)
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=11.5, frameon=True,
               handlelength=2.6, columnspacing=1.2, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.055, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


__all__ = ["pain_chart_png"]
