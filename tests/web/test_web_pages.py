"""The caregiver's pages: people and their settings in the same store as the command line, today, history,
the report and its CSV; labelled, large and readable without scripts."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from starlette.testclient import TestClient

from companion.care.store import open_store
from companion.cli import main
from tests.web.conftest import add_person, post
from tests.web.webkit import seed_history


def profile_json(capsys, db, name: str) -> dict:
    capsys.readouterr()
    assert main(["profile", "show", name, "--json", "--db", str(db)]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_person_added_on_the_page_is_the_command_lines_profile(local: TestClient, db, capsys):
    response = add_person(local, "Gran", preset="caregiver", conditions=["osteoporosis", "acute"])
    assert response.status_code == 303
    assert response.headers["location"] == "/person?name=Gran&done=added"
    page = local.get("/person?name=Gran&done=added").text
    assert "Added." in page
    shown = profile_json(capsys, db, "Gran")
    assert shown["caregiver"] is True and shown["pace"] == 1.5 and shown["confirm_steps"] is True
    assert shown["conditions"] == ["osteoporosis", "acute"]
    assert "Gran" in local.get("/").text
    assert main(["profile", "add", "Pat", "--db", str(db)]) == 0
    assert "Pat" in local.get("/").text  # and the other way round


def test_a_name_taken_or_unusable_is_refused_with_the_reason(local: TestClient):
    add_person(local, "Gran")
    response = add_person(local, "gran")
    assert response.status_code == 400 and "already a profile" in response.text
    response = add_person(local, " padded ")
    assert response.status_code == 303  # stripped, as typed names are
    response = add_person(local, "x" * 61)
    assert response.status_code == 400 and "at most 60" in response.text


def test_settings_are_checked_by_the_same_rules_as_the_command_line(local: TestClient, db, capsys):
    add_person(local, "Gran")
    fields = {"name": "Gran", "speech_rate": "140", "volume": "0.8", "pace": "1.25", "repeat_cues": "2",
              "caregiver": "yes", "conditions": ["pregnancy"]}
    assert post(local, "/person", fields).status_code == 303
    shown = profile_json(capsys, db, "Gran")
    assert (shown["speech_rate"], shown["volume"], shown["pace"], shown["repeat_cues"]) == (140, 0.8, 1.25, 2)
    assert shown["caregiver"] is True and shown["confirm_steps"] is False and shown["conditions"] == ["pregnancy"]
    response = post(local, "/person", {**fields, "speech_rate": "999"})
    assert response.status_code == 400 and "between 80 and 260" in response.text
    assert profile_json(capsys, db, "Gran")["speech_rate"] == 140  # nothing saved
    assert post(local, "/person", {"name": "Gran", "preset": "caregiver"}).status_code == 303
    assert profile_json(capsys, db, "Gran")["confirm_steps"] is True
    assert local.get("/person?name=Nobody").status_code == 404


def test_today_shows_what_is_due_and_refuses_with_the_reason(local: TestClient):
    add_person(local, "Gran")
    page = local.get("/today?name=Gran").text
    assert "Due now" in page and "Start Wall standing" in page
    assert "Not allowed yet, and why" in page and "McKenzie 1: lying face down always comes first" in page
    assert local.get("/today?name=Nobody").status_code == 404


def test_an_open_red_flag_holds_everything_until_the_caregiver_records_the_doctor(local: TestClient, db):
    add_person(local, "Gran")
    with open_store(db) as store:
        store.raise_flag("Gran", "fall", datetime.now().astimezone() - timedelta(hours=1), None, "ask")
    page = local.get("/today?name=Gran").text
    assert "Red flag: see a doctor" in page and "Nothing is due now." in page and "Start Wall standing" not in page
    person = local.get("/person?name=Gran").text
    assert "1 open." in person and "Record the doctor" in person
    response = post(local, "/person/flags", {"name": "Gran", "note": "x-ray clear"})
    assert response.status_code == 400  # the box that says a doctor has seen them
    response = post(local, "/person/flags", {"name": "Gran", "seen_doctor": "yes", "note": "x-ray clear"})
    assert response.status_code == 303
    assert "Cleared:" in local.get("/person?name=Gran").text and "x-ray clear" in local.get("/person?name=Gran").text
    assert "Start Wall standing" in local.get("/today?name=Gran").text
    with open_store(db) as store:
        assert store.flags("Gran")[0].cleared_by == "caregiver"


def test_history_session_report_and_csv(local: TestClient, db, tmp_path):
    add_person(local, "Gran")
    seed_history(db, "Gran", days=2)
    history = local.get("/history?name=Gran").text
    assert history.count("Wall standing") == 2 and "completed" in history
    session_id = re.search(r'/history/session\?id=(\d+)', history).group(1)
    session = local.get(f"/history/session?id={session_id}").text
    assert "Pain before:" in session and "Session completed" in session and "who-companion" in session
    report = local.get("/report?name=Gran")
    assert report.status_code == 200 and "<h1>" in report.text
    assert re.search(r'<img[^>]+src="data:image/png;base64,', report.text), "the pain chart"
    assert "sha256-" in report.headers["content-security-policy"]
    csv = local.get("/report.csv?name=Gran")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="companion-Gran.csv"'
    assert csv.text.startswith("date,time,session,routine,kind,value,detail")
    assert local.get("/report?name=Nobody").status_code == 404
    assert local.get("/report?name=Gran&days=0").status_code == 400
    assert local.get("/history/session?id=999").status_code == 404


def test_every_field_has_a_label_and_every_page_one_h1_and_a_skip_link(local: TestClient):
    add_person(local, "Gran")
    for path in ("/", "/person?name=Gran", "/today?name=Gran", "/run", "/history"):
        page = local.get(path).text
        assert page.count("<h1>") == 1, path
        assert 'href="#main"' in page and '<main id="main"' in page and '<html lang="en">' in page, path
        labelled = set(re.findall(r'<label for="([^"]+)"', page))
        for tag in re.findall(r"<(?:input|select)\b[^>]*>", page):
            if 'type="hidden"' in tag:
                continue
            field = re.search(r'id="([^"]+)"', tag)
            assert field and field.group(1) in labelled, (path, tag)
