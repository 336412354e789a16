"""Writing the report and the CSV when things go wrong: a full disk, a failure half-way, an old 0644 file.

A report is written whole or not at all: the old page stays byte for byte
until the new one is complete, no temporary file is left behind, and the
result is readable by its owner only. The CSV's text cells cannot smuggle a
formula into a spreadsheet.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import stat
from pathlib import Path

import pytest

from companion.care.profiles import Profile
from companion.care.report.csv import CSV_FIELDS, csv_text
from companion.care.store import open_store
from companion.cli import main
from companion.cli.private_files import WriteFailed, write_private_files

ROOT = Path(__file__).resolve().parents[2]
OLD_PAGE = b"<html>last week's report</html>\n" * 500  # 16 kB: more than one 4 kB write
OLD_CSV = b"date,time,session,routine,kind,value,detail\n2024-05-06,08:00:00,1,Wall standing,completed,yes,\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.db"
    with open_store(path) as store:
        store.add_profile(Profile("Mum"))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the reports go: nothing else in it, so a left-over temporary file shows."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def old_file(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def report(*extra: str, db: Path) -> int:
    return main(["report", "--user", "Mum", "--db", str(db), "--at", "2024-05-12T18:00", *extra])


def test_full_disk_keeps_the_old_report(monkeypatch, capsys, db, folder):
    page = old_file(folder / "report.html", OLD_PAGE)
    real_write = os.write
    calls = []

    def full_after_4_kb(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data[:4096]))  # the first block fits, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_after_4_kb)
    code = report("--html", str(page), db=db)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1
    assert len(calls) == 2  # it really was cut off half-way
    assert err.startswith(f"cannot write the report to {page}: No space left on device")
    assert "unchanged" in err and "Traceback" not in err
    assert page.read_bytes() == OLD_PAGE
    assert stat.S_IMODE(page.stat().st_mode) == 0o644  # not even touched
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]  # no temporary file left


def test_full_disk_on_a_new_report_leaves_nothing(monkeypatch, capsys, db, folder):
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    code = report("--html", str(folder / "new.html"), db=db)
    monkeypatch.undo()
    assert code == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_a_failing_csv_keeps_both_old_files(monkeypatch, capsys, db, folder):
    page = old_file(folder / "report.html", OLD_PAGE)
    table = old_file(folder / "events.csv", OLD_CSV)
    real_fsync = os.fsync
    synced = []

    def second_sync_fails(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 2:  # the page is complete; the CSV is not
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", second_sync_fails)
    code = report("--html", str(page), "--csv", str(table), db=db)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"cannot write the CSV file to {table}: Input/output error; nothing was written")
    assert page.read_bytes() == OLD_PAGE and table.read_bytes() == OLD_CSV
    assert sorted(p.name for p in folder.iterdir()) == ["events.csv", "report.html"]


def test_ctrl_c_while_writing_keeps_the_old_report(monkeypatch, capsys, db, folder):
    page = old_file(folder / "report.html", OLD_PAGE)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    try:
        code = report("--html", str(page), db=db)
    except KeyboardInterrupt:  # main turns it into exit 130; the files are what matter here
        code = 130
    monkeypatch.undo()
    assert code == 130
    assert page.read_bytes() == OLD_PAGE
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


def test_report_over_a_0644_file_becomes_0600(capsys, db, folder):
    page = old_file(folder / "report.html", OLD_PAGE)
    table = old_file(folder / "events.csv", OLD_CSV)
    assert report("--html", str(page), "--csv", str(table), "--days", "3", db=db) == 0
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert stat.S_IMODE(table.stat().st_mode) == 0o600
    assert page.read_bytes() != OLD_PAGE and b"No sessions in this period" in page.read_bytes()
    assert table.read_text(encoding="utf-8") == ",".join(CSV_FIELDS) + "\n"
    assert sorted(p.name for p in folder.iterdir()) == ["events.csv", "report.html"]


def test_a_new_report_is_0600_whatever_the_umask(capsys, db, folder):
    before = os.umask(0o000)
    try:
        assert report("--html", str(folder / "new.html"), db=db) == 0
    finally:
        os.umask(before)
    assert stat.S_IMODE((folder / "new.html").stat().st_mode) == 0o600


def test_an_existing_report_in_a_read_only_folder_is_refused_before_any_work(capsys, db, folder):
    page = old_file(folder / "report.html", OLD_PAGE)
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert report("--html", str(page), db=db) == 1
    finally:
        folder.chmod(0o700)
    assert "is not writable" in capsys.readouterr().err
    assert page.read_bytes() == OLD_PAGE


def test_the_same_file_for_page_and_csv_is_a_usage_mistake(capsys, db, folder):
    assert report("--html", str(folder / "r"), "--csv", str(folder / "." / "r"), db=db) == 2
    assert "same file" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_a_failed_rename_says_which_files_were_written(monkeypatch, folder):
    first, second = folder / "a.html", old_file(folder / "b.csv", OLD_CSV)
    real_replace = os.replace

    def second_rename_fails(src: str, dst: str) -> None:
        if Path(dst) == second:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(WriteFailed) as failed:
        write_private_files([(first, "new page"), (second, "new,csv\n")])
    assert failed.value.path == second and failed.value.changed == (first,)
    assert first.read_text() == "new page" and second.read_bytes() == OLD_CSV
    assert sorted(p.name for p in folder.iterdir()) == ["a.html", "b.csv"]


# -- what goes into the CSV --------------------------------------------------------------------------


def test_csv_neutralises_formula_cells():
    row = {"date": "2024-05-06", "time": "08:00:00", "session": 7, "routine": "=HYPERLINK(\"http://x\",\"click\")",
           "kind": "pain-before", "value": 4, "detail": "+cmd|' /C calc'!A0"}
    others = [dict(row, routine=title, detail=title) for title in ("-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1")]
    plain = dict(row, routine="Wall standing", detail="back only; - not a formula\rsecond line")
    rows = list(csv.DictReader(io.StringIO(csv_text([row, *others, plain]))))
    assert rows[0]["routine"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert rows[0]["detail"] == "'+cmd|' /C calc'!A0"
    assert [r["routine"] for r in rows[1:5]] == ["'-2+3", "'@SUM(A1:A9)", "'\t=1+1", "'\n=1+1"]  # a lone CR ends rows
    assert rows[0]["session"] == "7" and rows[0]["value"] == "4"  # numbers are written as numbers
    assert rows[0]["date"] == "2024-05-06" and rows[0]["kind"] == "pain-before"
    assert rows[5]["routine"] == "Wall standing"
    assert rows[5]["detail"] == "back only; - not a formula\nsecond line"  # one cell, not a broken row
    assert len(rows) == 6


def test_a_routine_title_with_a_formula_reaches_the_csv_as_text(capsys, tmp_path):
    routines = tmp_path / "routines"
    shutil.copytree(ROOT / "routines", routines)
    source = routines / "knees-to-chest.yaml"
    lines = source.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("title:")
    lines[1] = "title: '=HYPERLINK(\"http://x\",\"click\")'"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "h.db"
    with open_store(db) as store:
        store.add_profile(Profile("ann"))
    assert main(["--routines", str(routines), "run", "knees-to-chest", "--virtual-clock", "--text", "--user", "ann",
                 "--db", str(db), "--at", "2025-03-01T10:00"]) == 0
    table = tmp_path / "events.csv"
    assert main(["--routines", str(routines), "report", "--user", "ann", "--db", str(db), "--html",
                 str(tmp_path / "r.html"), "--csv", str(table), "--at", "2025-03-01T18:00"]) == 0
    with table.open(encoding="utf-8", newline="") as handle:
        titles = {r["routine"] for r in csv.DictReader(handle) if r["routine"]}
    assert titles == {"'=HYPERLINK(\"http://x\",\"click\")"}
