"""The caregiver's page: people, today for a person, run and follow a session, history and the report.

:func:`create_app` builds the Starlette application; :mod:`companion.web.server`
serves it with uvicorn. Pages are Jinja2 templates (``templates/``) with
autoescaping on; the only script is ``static/live.js`` (the run page's live view)
and every page works without it except the live stream. Everything about people
goes through the same store and the same rules as the command line
(:mod:`companion.care`); a session runs through :mod:`companion.web.live`.

Routes (GET unless said):

* ``/`` people; POST ``/people`` adds one; ``/person?name=`` edits one (POST
  ``/person``), with their red flags (POST ``/person/flags`` records a doctor's visit)
* ``/today?name=`` what is due, what is not allowed yet and why, open red flags
* ``/run`` start a session or follow the running one; POST ``/run`` starts, POST
  ``/run/say`` sends a button's words; ``/run/events`` is the live stream (SSE)
* ``/history[?name=]``, ``/history/session?id=``, ``/report?name=``, ``/report.csv?name=``
* ``/pair`` (GET, POST): a phone or tablet types the pairing code (``--lan`` only)
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from companion.app.outputs import clock_text
from companion.care.profiles import PACES, Profile, ProfileError, set_value
from companion.care.screening import flag_words
from companion.care.session_setup import today_view
from companion.care.store import DuplicateProfile, Store, StoreError, open_store
from companion.content.library import Library
from companion.content.schema import CONDITIONS
from companion.web.live import ENDINGS, Bridge, Busy, LiveOptions, line
from companion.web.security import Guard, Protect, cookie_header

T = TypeVar("T")
MAX_SAY = 200  # characters a caregiver may type for the person
SAY_WAIT = 2.0  # a button's answer waits this long at most for the runner to take its words
MAX_DAYS = 366
MESSAGES = {
    "added": "Added.", "saved": "Saved.", "preset": "The caregiver preset is set: slower and louder speech, longer "
    "rests, every step confirmed.", "cleared": "Recorded: a doctor has seen them. Exercise can start again.",
    "paired": "This device is paired.",
}
NONE = "'none'"
SOURCES = {"screen": "a yes to a safety question", "session": "said during a session", "ask": "said in a question"}


@dataclass
class WebOptions:
    """What the page needs: the routines, where the history lives, how sessions run, who may come in."""

    library: Library
    db: Path | None = None
    live: LiveOptions = field(default_factory=LiveOptions)
    lan: bool = False
    code: str | None = None  # the pairing code (required with lan)
    lock_path: Path | None = None  # the one-session-per-machine lock (default: in the data folder)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Templates with escaping everywhere; a missing value is an error, not a blank."""
    env = Environment(loader=PackageLoader("companion.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = lambda seconds: clock_text(seconds) if seconds is not None else "\u2013"
    env.filters["query"] = lambda values: urlencode({k: v for k, v in values.items() if v is not None})
    return env


def static_folder() -> Path:
    return Path(__file__).with_name("static")


def create_app(options: WebOptions) -> "Site":
    guard = Guard(lan=options.lan, code=options.code)
    bridge = Bridge(options.library, options.live, lock_path=options.lock_path)
    lib = options.library
    entries = sorted(lib.entries(), key=lambda e: (e.kind != "routine", e.title.casefold()))

    def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        message = MESSAGES.get(request.query_params.get("done", ""), "")
        body = environment().get_template(template).render(
            csrf=request.scope["companion.csrf"], path=request.url.path, message=message, lan=options.lan,
            running=bridge.current is not None and not bridge.current.finished, **context)
        return HTMLResponse(body, status_code=code)

    def problem(request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return page(request, "problem.html", code=status, title=title, text=text)

    async def in_store(action: Callable[[Store], T]) -> T:
        def work() -> T:
            store = open_store(options.db)
            store.tell = None  # damaged rows are skipped quietly here; companion doctor --db names them
            try:
                return action(store)
            finally:
                store.close()

        return await run_in_threadpool(work)

    def see(url: str, **query: Any) -> RedirectResponse:
        values = {k: v for k, v in query.items() if v is not None}
        return RedirectResponse(url + (f"?{urlencode(values)}" if values else ""), status_code=303)

    async def form(request: Request) -> dict[str, list[str]]:
        data = await request.form()
        return {key: [str(v) for v in data.getlist(key)] for key in data.keys()}

    def first(fields: dict[str, list[str]], key: str, default: str = "") -> str:
        return (fields.get(key) or [default])[0]

    # -- people -------------------------------------------------------------------------

    async def people(request: Request) -> Response:
        profiles = await in_store(lambda store: store.list_profiles())
        return page(request, "people.html", title="People", profiles=[_summary(p) for p in profiles],
                    conditions=CONDITIONS, error="", typed="")

    async def add_person(request: Request) -> Response:
        fields = await form(request)
        name = first(fields, "name").strip()
        chosen = [c for c in fields.get("conditions", []) if c in CONDITIONS]

        def add(store: Store) -> str:
            profile = Profile(name=name)
            if first(fields, "preset") == "caregiver":
                profile = set_value(profile, "preset", "caregiver")
            if chosen:
                profile = set_value(profile, "conditions", ",".join(chosen))
            try:
                store.add_profile(profile)
            except DuplicateProfile:
                return f"There is already a profile called \u201c{name}\u201d. Change it on its own page."
            except ProfileError as exc:
                return f"Cannot add \u201c{name}\u201d: {exc}."
            return ""

        error = await in_store(add)
        if error:
            profiles = await in_store(lambda store: store.list_profiles())
            return page(request, "people.html", code=400, title="People", profiles=[_summary(p) for p in profiles],
                        conditions=CONDITIONS, error=error, typed=name)
        return see("/person", name=name, done="added")

    async def person(request: Request) -> Response:
        name = request.query_params.get("name", "")

        def read(store: Store) -> tuple[Profile | None, list[Any], int]:
            profile = store.get_profile(name)
            if profile is None:
                return None, [], 0
            return profile, store.flags(profile.name), len(store.sessions(user=profile.name))

        profile, flags, sessions = await in_store(read)
        if profile is None:
            return problem(request, 404, "No such person", f"There is no profile called \u201c{name}\u201d.")
        return page(request, "person.html", title=profile.name, profile=profile, flags=_flags(flags),
                    sessions=sessions, paces=PACES, conditions=CONDITIONS, error="")

    async def save_person(request: Request) -> Response:
        fields = await form(request)
        name = first(fields, "name")
        preset = first(fields, "preset") == "caregiver"

        def save(store: Store) -> tuple[Profile | None, str]:
            profile = store.get_profile(name)
            if profile is None:
                return None, f"There is no profile called \u201c{name}\u201d."
            try:
                if preset:
                    changed = set_value(profile, "preset", "caregiver")
                else:
                    changed = profile
                    for key in ("speech_rate", "volume", "pace", "repeat_cues"):
                        if key in fields:
                            changed = set_value(changed, key, first(fields, key))
                    for key in ("caregiver", "confirm_steps"):
                        changed = set_value(changed, key, "yes" if first(fields, key) == "yes" else "no")
                    chosen = [c for c in fields.get("conditions", []) if c in CONDITIONS]
                    changed = set_value(changed, "conditions", ",".join(chosen) or "none")
            except ProfileError as exc:
                return profile, f"Not saved: {exc}."
            store.save_profile(changed)
            return changed, ""

        profile, error = await in_store(save)
        if profile is None:
            return problem(request, 404, "No such person", error)
        if error:
            flags, sessions = await in_store(lambda s: (s.flags(profile.name), len(s.sessions(user=profile.name))))
            return page(request, "person.html", code=400, title=profile.name, profile=profile,
                        flags=_flags(flags), sessions=sessions, paces=PACES, conditions=CONDITIONS, error=error)
        return see("/person", name=profile.name, done="preset" if preset else "saved")

    async def clear_flags(request: Request) -> Response:
        fields = await form(request)
        name = first(fields, "name")
        if first(fields, "seen_doctor") != "yes":
            return problem(request, 400, "Not recorded", "A red flag is cleared only once a doctor has seen the "
                           "person about it: tick the box that says so.")
        note = first(fields, "note")[:500]

        def clear(store: Store) -> str | None:
            profile = store.get_profile(name)
            if profile is None:
                return None
            store.clear_flags(profile.name, datetime.now().astimezone(), "caregiver", note=note)
            return profile.name

        found = await in_store(clear)
        if found is None:
            return problem(request, 404, "No such person", f"There is no profile called \u201c{name}\u201d.")
        return see("/person", name=found, done="cleared")

    # -- today ----------------------------------------------------------------------------

    async def today(request: Request) -> Response:
        name = request.query_params.get("name", "")

        def read(store: Store) -> dict[str, Any] | None:
            profile = store.get_profile(name)
            return None if profile is None else today_view(store, profile, datetime.now().astimezone(), lib)

        view = await in_store(read)
        if view is None:
            return problem(request, 404, "No such person", f"There is no profile called \u201c{name}\u201d.")
        return page(request, "today.html", title=f"Today for {view['user']}", view=view, name=view["user"])

    # -- run ------------------------------------------------------------------------------

    async def run_page(request: Request) -> Response:
        run = bridge.current
        profiles = await in_store(lambda store: store.list_profiles())
        chosen = {"entry": request.query_params.get("entry", ""), "name": request.query_params.get("name", "")}
        start = {"entries": [(e.id, e.title, e.kind) for e in entries], "names": [p.name for p in profiles],
                 "chosen": chosen}
        if run is None:
            return page(request, "run.html", title="Run a session", run=None, start=start)
        return page(request, "run.html", title=f"Run: {run.title}", run=run, status=run.status(),
                    lines=run.transcript(), after=len(run.records), buttons=bridge.button_words(),
                    answers=bridge.answer_words(), start=start)

    async def start_run(request: Request) -> Response:
        fields = await form(request)
        entry = lib.get(first(fields, "entry"))
        user = first(fields, "name").strip() or None
        if entry is None:
            return problem(request, 400, "Choose an exercise", "Choose a routine or programme to start.")
        try:
            run = bridge.start(entry, user)
        except Busy as exc:
            return problem(request, 409, "A session is already running", str(exc))
        refusal = await run_in_threadpool(run.wait_prepared)
        if refusal:
            return problem(request, 409, "Not started", refusal)
        return see("/run")

    async def say(request: Request) -> Response:
        fields = await form(request)
        words = " ".join(first(fields, "say").split())[:MAX_SAY]
        run = bridge.current
        wants_json = "application/json" in request.headers.get("accept", "")
        refusal = ""
        if not words or not words.isprintable():
            refusal = "Nothing to send."
        elif run is None or run.id != first(fields, "run") or not await run_in_threadpool(run.say, words, SAY_WAIT):
            refusal = "That session is no longer running. Open the run page again."
        if wants_json:
            return JSONResponse({"ok": not refusal, "problem": refusal}, status_code=409 if refusal else 200)
        if refusal:
            return problem(request, 409, "Not sent", refusal)
        return see("/run")

    async def events(request: Request) -> Response:
        run = bridge.current
        if run is None:
            return Response(status_code=204)  # an event source stops asking
        if request.query_params.get("run") != run.id:
            return StreamingResponse(iter(["event: replaced\ndata: {}\n\n"]), media_type="text/event-stream")
        after = _number(request.headers.get("last-event-id") or request.query_params.get("after"), 0)
        after = max(0, min(after, len(run.records)))
        return StreamingResponse(run.follow(after), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    # -- history and the report -----------------------------------------------------------------

    async def history(request: Request) -> Response:
        name = request.query_params.get("name") or None

        def read(store: Store) -> tuple[str | None, list[Any], bool]:
            user = name
            if user is not None:
                user = next((u for u in store.users() if u.casefold() == user.casefold()), None)
                if user is None:
                    return None, [], False
            return user, store.sessions(user=user), True

        user, sessions, known = await in_store(read)
        if not known:
            return problem(request, 404, "No history", f"There is no profile or history for \u201c{name}\u201d.")
        rows = [{"id": s.id, "when": f"{s.started_at.astimezone():%Y-%m-%d %H:%M}", "user": s.user or "\u2013",
                 "title": lib.get(s.entry_id).title if lib.get(s.entry_id) else s.entry_id,
                 "duration": clock_text(s.duration), "ending": _ending(s), "virtual": s.virtual}
                for s in reversed(sessions)]
        return page(request, "history.html", title=f"History for {user}" if user else "History", user=user,
                    rows=rows)

    async def session_events(request: Request) -> Response:
        number = _number(request.query_params.get("id"), -1)

        def read(store: Store) -> tuple[Any, list[dict[str, Any]]]:
            row = store.session(number) if number >= 0 else None
            return row, store.events(number) if row is not None else []

        row, records = await in_store(read)
        if row is None:
            return problem(request, 404, "No such session", "There is no such session in the history.")
        shown = [{"t": clock_text(r.get("t", 0)), "who": who, "text": text}
                 for r in records if (found := line(r)) for who, text in [found]]
        title = lib.get(row.entry_id).title if lib.get(row.entry_id) else row.entry_id
        return page(request, "session.html", title=f"{title}, {row.started_at.astimezone():%Y-%m-%d %H:%M}",
                    row=row, ending=_ending(row), lines=shown, routine=title)

    async def report_data(request: Request) -> Any:
        """The report's data for ?name=&days=, or the page that says why there is none."""
        name = request.query_params.get("name", "")
        days = _number(request.query_params.get("days"), 7)
        if not 1 <= days <= MAX_DAYS:
            return problem(request, 400, "Days", f"Choose between 1 and {MAX_DAYS} days.")
        data = await _collect(request, in_store, lib, name, days)
        if data is None:
            return problem(request, 404, "No history", f"There is no profile or history for \u201c{name}\u201d.")
        return data

    async def report(request: Request) -> Response:
        data = await report_data(request)
        if isinstance(data, Response):
            return data
        from companion.care.report.html import render  # matplotlib and the report's templates: only when asked

        html, _ = await run_in_threadpool(render, data)
        return HTMLResponse(html, headers={"content-security-policy": report_csp(html)})

    async def report_csv(request: Request) -> Response:
        data = await report_data(request)
        if isinstance(data, Response):
            return data
        from companion.care.report.csv import csv_rows, csv_text

        filename = re.sub(r"[^A-Za-z0-9_-]+", "-", data.user).strip("-") or "person"
        return Response(csv_text(csv_rows(data)), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="companion-{filename}.csv"'})

    # -- pairing --------------------------------------------------------------------------------

    async def pair_page(request: Request) -> Response:
        if not options.lan:
            return see("/")
        return page(request, "pair.html", title="Pair this device", error="")

    async def pair(request: Request) -> Response:
        if not options.lan:
            return see("/")
        fields = await form(request)
        result = guard.pair(request.scope["companion.visitor"], first(fields, "code"))
        if isinstance(result, str):
            return page(request, "pair.html", code=403, title="Pair this device", error=result)
        response = see("/", done="paired")
        name, value = cookie_header(result.token)
        response.raw_headers.append((name, value))
        return response

    routes = [
        Route("/", people), Route("/people", add_person, methods=["POST"]),
        Route("/person", person), Route("/person", save_person, methods=["POST"]),
        Route("/person/flags", clear_flags, methods=["POST"]),
        Route("/today", today),
        Route("/run", run_page), Route("/run", start_run, methods=["POST"]),
        Route("/run/say", say, methods=["POST"]), Route("/run/events", events),
        Route("/history", history), Route("/history/session", session_events),
        Route("/report", report), Route("/report.csv", report_csv),
        Route("/pair", pair_page), Route("/pair", pair, methods=["POST"]),
        Mount("/static", StaticFiles(directory=static_folder()), name="static"),
    ]

    async def store_problem(request: Request, exc: Exception) -> Response:
        return problem(request, 503, "The history cannot be read", str(exc))

    return Site(Starlette(routes=routes, exception_handlers={StoreError: store_problem}), guard, bridge)


class Site:
    """The page as one ASGI application (behind :class:`Protect`), with its guard and its live-session bridge."""

    def __init__(self, app: Starlette, guard: Guard, bridge: Bridge):
        self.guard = guard
        self.bridge = bridge
        self._asgi = Protect(app, guard)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._asgi(scope, receive, send)


def report_csp(page: str) -> str:
    """The report is one self-contained page with one inline style: allowed by its hash, and nothing else."""
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in styles)
    return (f"default-src 'none'; style-src {hashes or NONE}; img-src data:; "
            "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


async def _collect(request: Request, in_store: Callable[..., Any], lib: Library, name: str, days: int) -> Any:
    from companion.care.report.collect import collect

    def read(store: Store) -> Any:
        match = next((u for u in store.users() if u.casefold() == name.casefold()), None)
        return None if match is None else collect(store, match, datetime.now().astimezone(), lib, days=days)

    return await in_store(read)


def _number(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _summary(profile: Profile) -> dict[str, Any]:
    extras = ["caregiver mode" if profile.caregiver else "",
              f"pace \u00d7{profile.pace:g}" if profile.pace != 1 else "", ", ".join(profile.conditions)]
    return {"name": profile.name, "about": "; ".join(e for e in extras if e) or "default settings"}


def _flags(flags: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for flag in flags:
        name, advice = flag_words(flag.flag_id)
        rows.append({"open": flag.cleared_at is None, "name": name, "advice": advice,
                     "raised": f"{flag.raised_at.astimezone():%Y-%m-%d %H:%M}",
                     "how": SOURCES.get(flag.source, flag.source),
                     "cleared": f"{flag.cleared_at.astimezone():%Y-%m-%d %H:%M}" if flag.cleared_at else "",
                     "by": flag.cleared_by or "", "note": flag.note})
    return rows


def _ending(row: Any) -> str:
    if row.reason is None and row.ended_at is None:
        return "did not finish (closed, killed, or still running)"
    return ENDINGS.get(row.reason, row.reason or "ended")


__all__ = ["Site", "WebOptions", "create_app", "report_csp"]
