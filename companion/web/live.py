"""The one session of this machine that the caregiver's page started, and how the page follows and steers it.

The page never reaches into the engine. A session runs exactly as ``companion run``
runs one: :func:`companion.care.session_setup.prepare`, then
:func:`companion.app.session.run_session` on this machine's devices, in a thread
of its own (the history store is opened in that thread, as SQLite wants).

* **Out:** every record the runner hands its outputs also reaches :class:`Relay`,
  which stands in the devices' place for the speaker: it passes each record to
  the real speaker (if there is one) and publishes it to the page.
* **In:** a button puts its words on the runner's inbox as a
  ``Heard(source="caregiver")``, the same queue the keyboard and the microphone
  use. The runner interprets it (red flags, symptoms, the vocabulary) and stays
  the only caller of the engine; the record it writes says ``"source":
  "caregiver"``, in the log and the history.

One session at a time per machine: a lock file in the data folder is held for
the whole session, so a second page, or a second ``companion serve``, is refused
with a clear message while one runs. If the browser goes away the session
carries on; a page opened again replays the transcript and follows on.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, AsyncIterator, Callable

from companion.app.devices import LiveIO
from companion.app.session import SessionOptions, run_session
from companion.care.profiles import Profile
from companion.care.session_setup import SetupError, prepare
from companion.content.datadir import data_dir
from companion.content.library import Entry, Library
from companion.engine.clock import RealClock
from companion.engine.events import Command
from companion.engine.pain import ARM_PLACE_ORDER, PLACE_ORDER
from companion.language.heard import Heard
from companion.language.vocabulary import Vocabulary, load_vocabulary
from companion.speech.tts.speaker import SpeakerOutput

SOURCE = "caregiver"  # what a button's words are logged as coming from
LOCK_NAME = "live-session.lock"
KEEPALIVE_SECONDS = 20.0  # a comment line on an idle event stream, so proxies and phones keep it open
START_TIMEOUT = 20.0  # how long the start request waits for the history and the order rules
FAST_CLOCK_BACKDATE = timedelta(hours=1)  # how far back a session on the fast test clock is dated

# The buttons of the run page, in order, and the command each one is. Their words are the
# vocabulary's own first phrase for the command, so a button says exactly what a person would.
BUTTONS = (Command.PAUSE, Command.RESUME, Command.NEXT, Command.BACK, Command.REPEAT, Command.SLOWER,
           Command.FASTER, Command.LOUDER, Command.QUIETER, Command.STOP)


class Busy(Exception):
    """A session is already running on this machine; the message says which and what to do."""


class ScaledClock(RealClock):
    """A real clock that runs ``speed`` times faster: for tests, demonstrations and benchmarks, never exercise."""

    def __init__(self, speed: float) -> None:
        super().__init__()
        self.speed = speed

    def now(self) -> float:
        return super().now() * self.speed


class Relay:
    """The speaker as the session sees it: each record goes to the page first, then to the real speaker.

    The runner only knows outputs; the devices' speaker is the one output a session on
    this machine always gets, so the page rides along with it (see :class:`WebIO`).
    """

    def __init__(self, output: SpeakerOutput | None, publish: Callable[[dict[str, Any]], None]):
        self.output = output
        self.publish = publish

    @property
    def speaker(self) -> Any:
        """The real speaker port (for the echo canceller's ducking); only used when there is one."""
        return self.output.speaker if self.output is not None else None

    def write(self, record: dict[str, Any]) -> None:
        self.publish(record)
        if self.output is not None:
            self.output.write(record)

    def interrupt(self) -> None:
        if self.output is not None:
            self.output.interrupt()

    def speaking(self) -> bool:
        return self.output is not None and self.output.speaking()

    def speaking_text(self) -> str:
        return self.output.speaking_text() if self.output is not None else ""

    def close(self) -> None:
        if self.output is not None:
            self.output.close()


class Inbox(queue.Queue):  # type: ignore[type-arg]
    """The runner's queue of what was heard, which also tells when the runner has dealt with an item.

    The runner takes one item at a time and comes back for the next only once it has interpreted it
    and fed the engine; so when it asks again, every item taken before has been handled.
    """

    def __init__(self) -> None:
        super().__init__()
        self._counts = threading.Condition()
        self._n_put = 0  # items put so far
        self._n_taken = 0  # items the runner has taken so far
        self._n_handled = 0  # items the runner is done with

    def put_counted(self, item: Heard) -> int:
        """Put ``item``; returns its number, for :meth:`wait_handled`."""
        with self._counts:
            self._n_put += 1
            number = self._n_put
            self.put(item)
        return number

    def get(self, block: bool = True, timeout: float | None = None) -> Heard:
        with self._counts:
            self._n_handled = self._n_taken
            self._counts.notify_all()
        item = super().get(block, timeout)
        with self._counts:
            self._n_taken += 1
        return item

    def wait_handled(self, number: int, timeout: float) -> bool:
        """Wait until the runner is done with item ``number``; False after ``timeout`` seconds."""
        with self._counts:
            return self._counts.wait_for(lambda: self._n_handled >= number, timeout)


class WebIO(LiveIO):
    """This machine's speaker and microphone for one session started from the page.

    The terminal's keyboard is left alone (it belongs to the server); the page is the
    keyboard. ``speed`` other than 1 runs a fast test clock, in text only.
    """

    def __init__(self, vocabulary: Vocabulary, publish: Callable[[dict[str, Any]], None],
                 on_context: Callable[[str], None], *, speech: bool = True, voice: bool = True,
                 engine: str | None = None, model: Path | None = None, speed: float = 1.0):
        fast = speed != 1.0
        super().__init__(vocabulary, speech=speech and not fast, voice=voice and not fast, keyboard=False,
                         engine=engine, model=model)
        self.keyboard = None
        self.inbox: Inbox = Inbox()  # the listener (if any) puts on it too: it looks the queue up when it hears
        if fast:
            self.clock = ScaledClock(speed)
        self.relay = Relay(self.speaker, publish)
        self.speaker = self.relay  # type: ignore[assignment] - the relay is the speaker's stand-in
        self._on_context = on_context

    def apply_profile(self, profile: Profile) -> None:
        if self.relay.output is not None:
            self.relay.output.speaker.set_voice(profile.speech_rate, profile.volume, profile.voice)

    def listen_in(self, context: str) -> None:
        self._on_context(context)
        super().listen_in(context)

    def caregiver_says(self, text: str) -> int:
        """Put the caregiver's words on the runner's queue, stamped with the session's time; returns their number."""
        return self.inbox.put_counted(Heard(self.clock.now(), text, SOURCE))


# -- one session per machine --------------------------------------------------------------


class MachineLock:
    """An exclusive lock on a file in the data folder, held while a session runs."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


# -- what the page shows ------------------------------------------------------------------


def line(record: dict[str, Any]) -> tuple[str, str] | None:
    """A record as one line of the page's transcript: (who, text), or None for records not shown."""
    kind, text = record.get("kind"), str(record.get("text") or "")
    if kind == "say":
        label = {"warning": "Safety: ", "question": "Question: ", "status": "Answer: "}.get(record.get("say", ""), "")
        return "companion", label + text
    if kind == "heard":
        meaning = (record.get("command") or (f"answer: {record['answer']}" if "answer" in record else
                   f"symptom: {record['symptom']}" if "symptom" in record else "not understood"))
        who = "caregiver" if record.get("source") == SOURCE else "person"
        verb = "Caregiver" if who == "caregiver" else "Heard"
        if isinstance(record.get("confidence"), (int, float)):  # spoken: how sure, and what was made of it
            decision = f", {record['decision']}" if record.get("decision") else ""
            meaning += f" ({record['confidence']:.0%} sure{decision})"
        return who, f"{verb}: \u201c{text}\u201d \u2192 {meaning}"
    if kind == "exercise_started":
        return "event", f"Exercise: {text}"
    if kind == "step_started":
        return "event", f"Step: {text}"
    if kind == "state":
        return "event", "Paused" if text == "paused" else f"Running (pace \u00d7{record.get('pace', 1):g})"
    if kind == "pain":
        return "event", f"Pain {record.get('when')}: {record.get('score')}/10, {record.get('place')}"
    if kind == "red_flag":
        return "alert", f"Red flag: {record.get('flag_id')}"
    if kind == "symptom":
        return "alert", f"Symptom: {record.get('finding')}"
    if kind == "finished":
        return "event", f"Session {text}"
    if kind in ("notice", "interrupted"):
        return "event", f"Note: {text}"
    return None


ANSWERS = ("answer", "number", "place", "arm-place")  # the contexts in which the session waits for an answer
ENDINGS = {"completed": "completed", "stopped": "stopped", "interrupted": "interrupted", "red-flag":
           "ended: red flag, see a doctor", "pain": "ended: pain rule", "acute": "ended: acute stage",
           "symptom": "ended: symptom", "refused": "not started", "failed": "failed"}


@dataclass(frozen=True)
class LiveOptions:
    """How sessions started from the page run: history file, log, devices, and the test clock."""

    db: Path | None = None
    no_log: bool = False
    speech: bool = True
    voice: bool = True
    engine: str | None = None
    model: Path | None = None
    speed: float = 1.0  # > 1: a fast test clock (text only)


class LiveRun:
    """One session started from the page: its thread, its transcript so far, what it waits for."""

    def __init__(self, library: Library, entry: Entry, user: str | None, options: LiveOptions, lock: MachineLock,
                 vocabulary: Vocabulary):
        self.id = secrets.token_hex(8)
        self.library, self.entry, self.user, self.options = library, entry, user, options
        self.title = entry.title
        self.started = datetime.now().astimezone()
        self.vocabulary = vocabulary
        self._lock = lock
        self._mutex = threading.Lock()
        self._prepared = threading.Event()
        self._wakers: set[Callable[[], None]] = set()
        self.records: list[dict[str, Any]] = []
        self.version = 0
        self.context = "commands"  # what the session listens for: commands, answer, number, place, arm-place
        self.paused = False
        self.step: dict[str, Any] | None = None
        self._step_t = 0.0
        self._paused_at: float | None = None
        self._paused_for = 0.0
        self.asked = ""  # the last question the companion asked
        self.reason: str | None = None  # set when it has ended
        self.refusal: str | None = None  # why it did not start (the order rules, an unknown person...)
        self.io: WebIO | None = None
        self._thread = threading.Thread(target=self._run, name=f"live-session-{self.id}", daemon=True)

    # -- the session thread -----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wait_prepared(self, timeout: float = START_TIMEOUT) -> str | None:
        """Wait until the session has started or been refused; returns the refusal, or None."""
        self._prepared.wait(timeout)
        return self.refusal

    def _run(self) -> None:
        setup = None
        reason = "failed"
        try:
            try:
                entry, setup = prepare(self.library, self.entry, user=self.user,
                                       db=str(self.options.db) if self.options.db else None,
                                       keep_history=not self.options.no_log)
            except SetupError as exc:
                self.refusal = str(exc)
                reason = "refused"
                return
            if self.options.speed != 1.0:
                # A sped-up session's events are dated start + its own time: dated an hour back, they are
                # never in the future (for an hour of real time), so the history and report show them all.
                setup.started_at -= FAST_CLOCK_BACKDATE
            io = WebIO(self.vocabulary, self._publish, self._on_context, speech=self.options.speech,
                       voice=self.options.voice, engine=self.options.engine, model=self.options.model,
                       speed=self.options.speed)
            with self._mutex:
                self.io = io
            self._prepared.set()
            try:
                result = run_session(self.library, entry, SessionOptions(json=False, no_log=self.options.no_log),
                                     io, None, setup)
                reason = result.reason
            finally:
                io.close()
        except Exception:  # noqa: BLE001 - the server goes on; the page says it failed, the terminal says why
            traceback.print_exc(file=sys.stderr)
            self.refusal = self.refusal or "The session could not run; the terminal of the companion says why."
        finally:
            if setup is not None and setup.store is not None:
                setup.store.close()
            self._lock.release()
            self._finish(reason)
            self._prepared.set()

    def _finish(self, reason: str) -> None:
        with self._mutex:
            self.reason = reason
            self.version += 1
        self._wake()

    def _publish(self, record: dict[str, Any]) -> None:
        """One record from the runner (its thread): keep it, follow the step and the pause, wake the pages."""
        with self._mutex:
            self.records.append(record)
            kind, t = record.get("kind"), float(record.get("t", 0.0))
            if kind == "say" and record.get("say") == "question":
                self.asked = str(record.get("text") or "")
            if kind == "step_started":
                self.step = {"title": record.get("text", ""), "duration": float(record.get("duration", 0.0)),
                             "index": record.get("index", 0)}
                self._step_t, self._paused_for = t, 0.0
                self._paused_at = t if self.paused else None
            elif kind == "state":
                paused = record.get("text") == "paused"
                if paused and not self.paused:
                    self._paused_at = t
                elif not paused and self.paused and self._paused_at is not None:
                    self._paused_for += t - self._paused_at
                    self._paused_at = None
                self.paused = paused
            self.version += 1
        self._wake()

    def _on_context(self, context: str) -> None:
        with self._mutex:
            self.context = context
            self.version += 1
        self._wake()

    def _wake(self) -> None:
        for wake in list(self._wakers):
            wake()

    # -- the page's side ----------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.reason is not None

    def say(self, text: str, wait: float = 0.0) -> bool:
        """The caregiver's words for the session; False when it is not (or no longer) listening.

        With ``wait``, returns once the runner has dealt with them (interpreted them, fed the engine
        and handed on what it answered), once the session has ended, or after ``wait`` seconds.
        """
        with self._mutex:
            io = self.io if self.reason is None else None
        if io is None:
            return False
        number = io.caregiver_says(text)
        deadline = time.monotonic() + wait
        while self.reason is None and (left := deadline - time.monotonic()) > 0:
            if io.inbox.wait_handled(number, min(left, 0.25)):
                break
        return True

    def status(self) -> dict[str, Any]:
        """What the page shows above the transcript: the step, its time left, what is awaited, how it ended."""
        with self._mutex:
            return self._status()

    def _status(self) -> dict[str, Any]:
        now = self.io.clock.now() if self.io is not None else 0.0
        left = None
        waiting = self.context in ANSWERS and self.reason is None
        if self.step is not None and self.reason is None and not waiting:
            until = self._paused_at if self._paused_at is not None else now
            elapsed = until - self._step_t - self._paused_for
            left = max(0.0, self.step["duration"] - elapsed)
        if self.reason is not None:
            state = f"Session {ENDINGS.get(self.reason, self.reason)}"
        else:
            state = "Paused" if self.paused else "Waiting for an answer" if waiting else "Running"
        return {"run": self.id, "title": self.title, "user": self.user, "step": self.step["title"] if self.step else "",
                "left": None if left is None else round(left, 1), "paused": self.paused, "state": state,
                "asked": self.asked if waiting else "",
                "context": self.context if self.reason is None else "finished", "speed": self.options.speed,
                "finished": self.reason is not None, "reason": self.reason,
                "ending": ENDINGS.get(self.reason or "", self.reason or ""), "refusal": self.refusal}

    def transcript(self, after: int = 0, until: int | None = None) -> list[dict[str, Any]]:
        """The shown lines of records ``after`` to ``until`` (None: the last): each {id, who, text}."""
        with self._mutex:
            records = self.records[after:until]
        lines = []
        for number, record in enumerate(records, start=after + 1):
            shown = line(record)
            if shown:
                lines.append({"id": number, "who": shown[0], "text": shown[1]})
        return lines

    async def follow(self, after: int = 0) -> AsyncIterator[str]:
        """The page's event stream: the transcript from record ``after``, then each change, until the end.

        Waits without polling: the session thread wakes this coroutine through its event loop.
        """
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:  # the loop has closed (the server is stopping)
                pass

        self._wakers.add(wake)
        try:
            seen = -1
            while True:
                changed.clear()
                with self._mutex:
                    version, count, status = self.version, len(self.records), self._status()
                if version != seen:
                    seen = version
                    for item in self.transcript(after, count):
                        yield sse("line", item, item["id"])
                    after = count
                    yield sse("status", status)
                    if status["finished"]:
                        yield sse("end", {"reason": status["reason"]})
                        return
                try:
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": still here\n\n"
        finally:
            self._wakers.discard(wake)


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event; JSON never holds a raw newline, so ``data`` is one line."""
    import json

    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class Bridge:
    """The page's way to the one live session: start it, find it, steer it, and stop it when the server stops."""

    def __init__(self, library: Library, options: LiveOptions, lock_path: Path | None = None):
        self.library = library
        self.options = options
        self.vocabulary = load_vocabulary()
        self.current: LiveRun | None = None
        self._lock_path = lock_path
        self._starting = threading.Lock()

    def button_words(self) -> list[tuple[str, str]]:
        """(command, words) for each button of the run page, in the vocabulary's own words."""
        return [(command.value, self.vocabulary.phrases(command)[0]) for command in BUTTONS
                if self.vocabulary.phrases(command)]

    def answer_words(self) -> dict[str, list[tuple[str, str]]]:
        """The answer buttons for each kind of question: (label, words to send)."""
        places = [(self.vocabulary.place_name(p), self.vocabulary.place_name(p)) for p in PLACE_ORDER]
        arm = [(self.vocabulary.place_name(p), self.vocabulary.place_name(p)) for p in ARM_PLACE_ORDER]
        return {"answer": [("Yes", "yes"), ("No", "no")], "number": [(str(n), str(n)) for n in range(11)],
                "place": places, "arm-place": arm}

    def start(self, entry: Entry, user: str | None) -> LiveRun:
        """Start ``entry`` for ``user`` on this machine; raises :class:`Busy` while another session runs."""
        with self._starting:
            current = self.current
            if current is not None and not current.finished:
                who = f" for {current.user}" if current.user else ""
                raise Busy(f"A session is already running on this machine: {current.title}{who}, started at "
                           f"{current.started:%H:%M}. Follow it on the run page, or stop it there first.")
            lock = MachineLock(self._lock_path)
            if not lock.acquire():
                raise Busy("A session is already running on this machine, started from another caregiver page "
                           "or another companion serve. Wait for it to end, or stop it there first.")
            run = LiveRun(self.library, entry, user, self.options, lock, self.vocabulary)
            self.current = run
            run.start()
        return run

    def stop(self, timeout: float = 5.0) -> None:
        """The server is stopping: end the running session the way "stop" does, and let it write its end."""
        run = self.current
        if run is None or run.finished:
            return
        with run._mutex:
            io = run.io
        if io is not None:
            io.inbox.put(Heard(io.clock.now(), "stop", "server"))
        deadline = time.monotonic() + timeout
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.05)
