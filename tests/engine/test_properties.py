"""Property-based tests: any sequence of commands at any times keeps the engine sane."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.engine.cues import SessionFinished
from companion.engine.events import Command, CommandEvent, Tick, Unrecognised
from tests.conftest import make_session

ENTRIES = ["wall-standing", "flying-swallow", "desk-break", "mckenzie-6-sitting-flexion", "neck-gaze-rotation"]

events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=120, allow_nan=False),
        st.one_of(st.sampled_from(list(Command)), st.just(None), st.just("tick")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry_id=st.sampled_from(ENTRIES), steps=events)
def test_random_commands_never_crash_never_speak_after_stop_and_time_moves_forward(library, entry_id, steps):
    session = make_session(library, entry_id)
    cues = session.start(0.0)
    now = 0.0
    for gap, what in steps:
        now += gap
        if what == "tick":
            event = Tick(now)
        elif what is None:
            event = Unrecognised(now, "mumble")
        else:
            event = CommandEvent(now, what)
        cues += session.feed(event)
    while (deadline := session.next_deadline()) is not None:
        cues += session.feed(Tick(deadline))
    if not session.finished:  # paused at the end: stop it, as the runner would
        cues += session.feed(CommandEvent(now + 1, Command.STOP))

    times = [c.at for c in cues]
    assert times == sorted(times), "cue times must never go backwards"
    finished = [i for i, c in enumerate(cues) if isinstance(c, SessionFinished)]
    assert len(finished) == 1 and finished[0] == len(cues) - 1, "exactly one end, and nothing after it"
    assert session.feed(Tick(now + 10_000)) == []
    assert session.next_deadline() is None
