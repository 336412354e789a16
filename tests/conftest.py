"""Shared fixtures: the real routine library, and a virtual-clock session runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from companion.engine.clock import VirtualClock
from companion.content.library import Library, load_library
from companion.content.phrases import Phrases, load_phrases
from companion.engine.plan import PlanBuilder
from companion.engine.session import Session
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from tests.fakemic import fake_mic  # noqa: F401 - a fixture for the real-time microphone tests

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never write logs into the real user's data folder from a test."""
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def library() -> Library:
    lib = load_library([ROOT / "routines"])
    assert not lib.problems, [str(p) for p in lib.problems]
    return lib


@pytest.fixture(scope="session")
def phrases() -> Phrases:
    return load_phrases()


def make_session(library: Library, entry_id: str, pace: float = 1.0) -> Session:
    phrases = load_phrases()
    plan = PlanBuilder(library.routines, phrases).for_entry(library.get(entry_id))
    return Session(plan, phrases, {r.id: r.title for r in library.routines.values()}, pace=pace)


class Collector:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def interrupt(self) -> None:
        self.records.append({"kind": "_interrupt"})

    def close(self) -> None:
        pass


def run_virtual(library: Library, entry_id: str, script: list[tuple[float, str]] = ()) -> list[dict[str, Any]]:
    """Run a whole session on the virtual clock and return every record, as --json would print."""
    collector = Collector()
    runner = Runner(make_session(library, entry_id), VirtualClock(), load_vocabulary(), [collector],
                    script=[Heard(t, text, "script") for t, text in script])
    runner.run()
    return collector.records


def says(records: list[dict[str, Any]]) -> list[tuple[float, str]]:
    return [(r["t"], r["text"]) for r in records if r.get("kind") == "say"]
