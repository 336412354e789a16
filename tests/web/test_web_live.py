"""A session started from the page: it runs as ``companion run`` runs one, its buttons go through the runner's
one command path and are logged as the caregiver's, one session runs per machine, and a page that goes away
and comes back picks up where it was."""

from __future__ import annotations

import asyncio
import json

from starlette.testclient import TestClient

from companion.engine.events import Command
from companion.language.vocabulary import load_vocabulary
from companion.web.live import SOURCE, ScaledClock
from tests.web.conftest import (LOCAL, LOCAL_URL, add_person, post, records_of, stored_events, token, wait_for)


def sse_events(text: str) -> list[tuple[str | None, str, dict]]:
    """(id, event, data) of each event in a finished stream."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in fields:
            found.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return found


def start(client: TestClient, entry: str = "wall-standing", name: str = "") -> object:
    return post(client, "/run", {"entry": entry, "name": name})


def test_a_run_started_from_the_page_goes_to_the_end_on_the_fast_clock(site, local: TestClient, db):
    response = start(local)
    assert response.status_code == 303 and response.headers["location"] == "/run"
    run = site.bridge.current
    wait_for(lambda: run.finished, what="the session to end")
    assert run.reason == "completed"
    kinds = [r["kind"] for r in run.records]
    assert kinds[0] == "exercise_started" and kinds[-1] == "finished"
    page = local.get("/run").text
    assert "Session completed" in page and "Wall standing" in page
    events = sse_events(local.get(f"/run/events?run={run.id}").text)
    lines = [data["text"] for _, kind, data in events if kind == "line"]
    assert lines[0] == "Exercise: Wall standing" and lines[-1] == "Session completed"
    assert events[-1][1] == "end" and events[-2][2]["finished"] is True
    history = local.get("/history").text
    assert "Wall standing" in history and "completed" in history  # the same history as the command line
    assert [e["kind"] for e in stored_events(db)][-1] == "finished"


def test_a_button_reaches_the_engine_through_the_runner_and_is_logged_as_the_caregivers(make_site, db):
    site = make_site(speed=2)
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    start(client)
    run = site.bridge.current
    wait_for(lambda: records_of(run, "step_started"), what="the first step")
    csrf = token(client, "/run")
    response = client.post("/run/say", data={"csrf": csrf, "run": run.id, "say": "pause"},
                           headers={"accept": "application/json"})
    assert response.status_code == 200 and response.json() == {"ok": True, "problem": ""}
    wait_for(lambda: run.paused, what="the pause")
    heard = records_of(run, "heard")[-1]
    assert (heard["text"], heard["command"], heard["source"]) == ("pause", "pause", SOURCE)
    assert run.status()["state"] == "Paused"
    client.post("/run/say", data={"csrf": csrf, "run": run.id, "say": "resume"})  # no script: a form and back
    wait_for(lambda: not run.paused, what="the resume")
    response = client.post("/run/say", data={"csrf": csrf, "run": run.id, "say": "stop"})
    assert response.status_code == 303 and response.headers["location"] == "/run"
    wait_for(lambda: run.finished, what="the stop")
    assert run.reason == "stopped"
    stored = [e for e in stored_events(db) if e["kind"] == "heard"]
    assert [(e["text"], e["source"]) for e in stored] == [("pause", SOURCE), ("resume", SOURCE), ("stop", SOURCE)]
    response = client.post("/run/say", data={"csrf": csrf, "run": run.id, "say": "pause"})
    assert response.status_code == 409 and "no longer running" in response.text


def test_yes_no_buttons_answer_the_safety_questions_for_the_person(make_site, db):
    site = make_site(speed=20)
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    add_person(client, "Gran")
    start(client, name="Gran")
    run = site.bridge.current
    for number in range(7):
        wait_for(lambda: run.context == "answer" and run.status()["asked"], what=f"safety question {number + 1}")
        page = client.get("/run").text
        assert 'data-context="answer">' in page and run.status()["asked"] in page  # the yes/no buttons show
        count = len(records_of(run, "answered"))
        post(client, "/run/say", {"run": run.id, "say": "no"})
        wait_for(lambda: len(records_of(run, "answered")) > count, what="the answer")
    answers = records_of(run, "answered")
    assert [(a["tag"], a["answer"]) for a in answers] == [("screen", "no")] * 6 + [("acute", "no")]
    wait_for(lambda: run.context == "number", what="the pain score question")
    post(client, "/run/say", {"run": run.id, "say": "3"})
    wait_for(lambda: run.context == "place", what="where the pain is")
    post(client, "/run/say", {"run": run.id, "say": "back"})
    wait_for(lambda: records_of(run, "pain"), what="the pain record")
    assert records_of(run, "pain")[0]["score"] == 3 and records_of(run, "pain")[0]["place"] == "back"
    post(client, "/run/say", {"run": run.id, "say": "stop"})
    wait_for(lambda: run.finished)
    assert all(e["source"] == SOURCE for e in stored_events(db) if e["kind"] == "heard")


def test_the_buttons_say_the_vocabularys_own_words(site):
    vocabulary = load_vocabulary()
    words = dict(site.bridge.button_words())
    assert set(words) == {"pause", "resume", "next", "back", "repeat", "slower", "faster", "louder", "quieter", "stop"}
    for command, said in words.items():
        assert vocabulary.match(said).command is Command(command), said
    answers = site.bridge.answer_words()
    assert [vocabulary.answer(w) for _, w in answers["answer"]] == [True, False]
    assert [vocabulary.number(w) for _, w in answers["number"]] == list(range(11))
    assert [vocabulary.place(w) for _, w in answers["place"]] == ["none", "back", "buttock", "thigh", "below-knee"]


def test_a_second_start_is_refused_with_a_clear_message(make_site, tmp_path):
    site = make_site(speed=1)
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    start(client)
    run = site.bridge.current
    response = start(client, "knees-to-chest")
    assert response.status_code == 409
    assert "already running on this machine: Wall standing" in response.text
    # another companion serve on the same machine (the same lock file) is refused too
    other = make_site(speed=1, lock=tmp_path / "live.lock")
    second = TestClient(other, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    response = start(second, "knees-to-chest")
    assert response.status_code == 409 and "another caregiver page or another companion serve" in response.text
    run.say("stop")
    wait_for(lambda: run.finished)
    assert start(second, "knees-to-chest").status_code == 303  # free again once it has ended
    other.bridge.stop()


def test_a_refused_session_says_why(site, local: TestClient):
    add_person(local, "Gran")
    response = start(local, "mckenzie-2-prone-on-elbows", "Gran")
    assert response.status_code == 409 and "McKenzie 1: lying face down always comes first" in response.text
    assert start(local, "no-such-routine").status_code == 400
    assert start(local, "knees-to-chest").status_code == 303  # the lock was given back


def test_the_session_goes_on_without_the_page_and_a_page_opened_again_picks_up(make_site):
    site = make_site(speed=5)
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    start(client)
    run = site.bridge.current

    async def first_lines(count: int) -> list[dict]:
        stream, got = run.follow(0), []
        async for chunk in stream:
            got.extend(data for _, kind, data in sse_events(chunk) if kind == "line")
            if len(got) >= count:
                break
        await stream.aclose()  # the browser went away
        return got

    seen = asyncio.run(first_lines(3))
    last = seen[-1]["id"]
    wait_for(lambda: len(run.records) > last + 5, what="the session to go on without the page")
    assert not run.finished
    run.say("stop")
    wait_for(lambda: run.finished)
    replay = sse_events(client.get(f"/run/events?run={run.id}", headers={"last-event-id": str(last)}).text)
    ids = [int(event_id) for event_id, kind, _ in replay if kind == "line"]
    assert ids and ids[0] > last and ids == sorted(ids)  # only what the page had not seen yet, in order
    assert replay[-1][1] == "end"
    stale = client.get("/run/events?run=0123456789abcdef").text
    assert "event: replaced" in stale  # a page of an older session reloads


def test_stopping_the_server_stops_the_session_as_stop_does(make_site):
    site = make_site(speed=1)
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    start(client)
    run = site.bridge.current
    wait_for(lambda: run.records, what="the session to start")
    site.bridge.stop()
    assert run.finished and run.reason == "stopped"


def test_the_fast_test_clock_runs_faster():
    clock = ScaledClock(100)
    import time

    time.sleep(0.05)
    assert 4 < clock.now() < 50
