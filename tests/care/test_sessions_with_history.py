"""Whole sessions with a person's history: weeks built on the virtual clock with --at,
order rules refused and allowed with the spoken reason, kill -9 and --resume, no network."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from companion.care.store import open_store
from companion.cli import main

SCREENING = ["no"] * 7  # six red-flag questions, then "is your pain new or much worse?"


def script(tmp_path, name: str, screening: bool, pain=(("2", "back"), ("2", "back"))) -> str:
    """Answers spaced out in time: a waiting question takes the next line whenever it comes."""
    lines, t = [], 100
    if screening:
        for answer in SCREENING:
            lines.append(f"{t} {answer}")
            t += 1
    (score_b, place_b), (score_a, place_a) = pain
    lines += [f"{t + 100} {score_b}", f"{t + 101} {place_b}", f"{t + 5000} {score_a}", f"{t + 5001} {place_a}"]
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(capsys, db, *args) -> tuple[int, str, str]:
    code = main(["run", *args, "--db", str(db), "--virtual-clock", "--json"])
    out = capsys.readouterr()
    return code, out.out, out.err


def session(capsys, tmp_path, db, routine, at: datetime, first_of_day: bool):
    code, out, err = run(capsys, db, routine, "--user", "ann", "--at", at.isoformat(timespec="minutes"),
                         "--script", script(tmp_path, f"{routine}-{at:%m%d%H%M}", first_of_day))
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[-1]["kind"] == "finished", records[-5:]
    return records


@pytest.fixture
def db(tmp_path, capsys):
    path = tmp_path / "history.db"
    assert main(["profile", "add", "ann", "--db", str(path)]) == 0
    capsys.readouterr()
    return path


def test_exercise_two_waits_for_one_then_follows_it(capsys, tmp_path, db):
    code, _, err = run(capsys, db, "mckenzie-2-prone-on-elbows", "--user", "ann", "--at", "2026-11-02T09:00")
    assert code == 1 and "McKenzie 1" in err and "comes first" in err
    records = session(capsys, tmp_path, db, "mckenzie-1-prone-lying", datetime(2026, 11, 2, 9, 0), True)
    assert records[-1]["text"] == "completed"
    assert [r["place"] for r in records if r["kind"] == "pain"] == ["back", "back"]
    records = session(capsys, tmp_path, db, "mckenzie-2-prone-on-elbows", datetime(2026, 11, 2, 9, 20), False)
    assert records[-1]["text"] == "completed"
    assert not any(r["kind"] == "answered" for r in records)  # screening only before the first session of the day


def test_exercise_six_needs_five_weeks_of_exercise_five(capsys, tmp_path, db):
    """Five continuous weeks: exercise 5 on at least five days of every week, each day after exercise 1."""
    start = datetime(2026, 10, 1, 8, 0)
    # Exercise 1, 2 and 3 on the first day (so 3 may follow 5), then 1 and 5 on five days of every week.
    session(capsys, tmp_path, db, "mckenzie-1-prone-lying", start, True)
    session(capsys, tmp_path, db, "mckenzie-2-prone-on-elbows", start + timedelta(minutes=20), False)
    session(capsys, tmp_path, db, "mckenzie-3-prone-press-up", start + timedelta(minutes=40), False)
    first_five = start + timedelta(hours=1)
    for day in range(35):
        if day % 7 >= 5:
            continue  # two days off each week
        morning = start + timedelta(days=day)
        if day:
            session(capsys, tmp_path, db, "mckenzie-1-prone-lying", morning, True)  # 1 comes first each day
        session(capsys, tmp_path, db, "mckenzie-5-lying-flexion", first_five + timedelta(days=day), False)
    too_early = (start + timedelta(days=32, hours=3)).isoformat(timespec="minutes")  # the fifth week is not over
    code, _, err = run(capsys, db, "mckenzie-6-sitting-flexion", "--user", "ann", "--at", too_early)
    assert code == 1 and "4 of the 5 weeks" in err
    day_35 = start + timedelta(days=35)
    session(capsys, tmp_path, db, "mckenzie-1-prone-lying", day_35, True)
    records = session(capsys, tmp_path, db, "mckenzie-6-sitting-flexion", day_35 + timedelta(hours=1), False)
    started = [r["routine_id"] for r in records if r["kind"] == "exercise_started"]
    assert started == ["mckenzie-6-sitting-flexion", "mckenzie-3-prone-press-up"]  # 3 straight after 6


def test_sessions_whose_pain_spread_are_no_practice_towards_the_next_exercise(capsys, tmp_path, db):
    """Five weeks of exercise 5, but in the third week the pain spread down the leg on three of its
    five days: that week has two days of practice, so exercise 6 is not allowed yet."""
    start = datetime(2026, 10, 1, 8, 0)
    spread = (("2", "back"), ("3", "thigh"))
    session(capsys, tmp_path, db, "mckenzie-1-prone-lying", start, True)
    session(capsys, tmp_path, db, "mckenzie-2-prone-on-elbows", start + timedelta(minutes=20), False)
    session(capsys, tmp_path, db, "mckenzie-3-prone-press-up", start + timedelta(minutes=40), False)
    for day in range(35):
        if day % 7 >= 5:
            continue
        morning = start + timedelta(days=day)
        if day:
            session(capsys, tmp_path, db, "mckenzie-1-prone-lying", morning, True)
        at = morning + timedelta(hours=1)
        pain = spread if 14 <= day < 17 else (("2", "back"), ("2", "back"))
        code, out, err = run(capsys, db, "mckenzie-5-lying-flexion", "--user", "ann", "--at",
                             at.isoformat(timespec="minutes"), "--script",
                             script(tmp_path, f"m5-{day}", False, pain=pain))
        assert code == 0, err
        assert any(json.loads(line)["kind"] == "pain_stop" for line in out.splitlines()) == (pain == spread)
    day_35 = start + timedelta(days=35)
    session(capsys, tmp_path, db, "mckenzie-1-prone-lying", day_35, True)
    code, _, err = run(capsys, db, "mckenzie-6-sitting-flexion", "--user", "ann", "--at",
                       (day_35 + timedelta(hours=1)).isoformat(timespec="minutes"))
    assert code == 1 and "exercise five" in err and "Every week needs at least 5" in err


def test_acute_profile_is_offered_only_what_suits_the_acute_stage(capsys, tmp_path, db):
    assert main(["profile", "set", "ann", "conditions", "acute", "--db", str(db)]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, db, "flying-swallow", "--user", "ann", "--at", "2026-11-02T09:00")
    assert code == 1 and "acute" in err.lower()
    records = session(capsys, tmp_path, db, "mckenzie-1-prone-lying", datetime(2026, 11, 2, 9, 0), True)
    assert records[-1]["text"] == "completed"


def test_sigkill_mid_hold_keeps_every_event_and_resume_continues_there(tmp_path):
    db = tmp_path / "h.db"
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "companion", "run", "wall-standing", "--keyboard", "--text",
                             "--no-voice", "--db", str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            time.sleep(0.4)
            with open_store(db) as store:
                rows = store.sessions()
                events = store.events(rows[-1].id) if rows else []
            steps = [e.get("step_kind") for e in events if e.get("kind") == "step_started"]
            if steps and steps[-1] == "hold":
                if any(e.get("kind") == "beep" for e in events):
                    time.sleep(1.0)  # a little way into the hold
                    break
            elif steps and steps[-1] != "warning":
                proc.stdin.write("next\n")  # skip ahead to the hold (the safety note cannot be skipped)
                proc.stdin.flush()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with open_store(db) as store:
        row = store.sessions()[-1]
        events = store.events(row.id)
        assert row.unfinished and row.ended_at is None
    kinds = [e["kind"] for e in events]
    assert "beep" in kinds and "finished" not in kinds  # mid-hold, nothing lost up to the kill
    hold_step = [e["index"] for e in events if e["kind"] == "step_started"][-1]
    done = subprocess.run([sys.executable, "-m", "companion", "run", "--resume", "--virtual-clock", "--json",
                           "--db", str(db)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    first_step = next(r for r in records if r["kind"] == "step_started")
    assert first_step["index"] == hold_step and first_step["step_kind"] == "hold"
    assert records[-1]["text"] == "completed"


def test_no_network_is_touched_during_a_full_session_and_a_question(capsys, tmp_path, db, monkeypatch):
    opened = []

    def refuse(self, *args, **kwargs):
        opened.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    session(capsys, tmp_path, db, "mckenzie-1-prone-lying", datetime(2026, 11, 3, 9, 0), True)
    assert main(["ask", "--text", "--json", "how should I lift a box"]) == 0
    capsys.readouterr()
    assert main(["report", "--user", "ann", "--db", str(db), "--html", str(tmp_path / "r.html")]) == 0 \
        if "report" in main.__globals__["build_parser"]()._subparsers._group_actions[0].choices else True
    assert opened == []
