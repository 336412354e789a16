"""Fixtures for the caregiver's page: the app on a throwaway history, and browsers from this machine or another."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from companion.care.store import open_store
from companion.content.library import Library
from companion.web.app import Site, WebOptions, create_app
from companion.web.live import LiveOptions, LiveRun
from tests.web.webkit import csrf_of

LOCAL = ("127.0.0.1", 50000)
LOCAL_URL = "http://127.0.0.1:8765"
REMOTE = ("192.168.1.20", 50000)  # a phone on the home network (no traffic leaves the test: ASGI in-process)
REMOTE_URL = "http://192.168.1.5:8765"
CODE = "482913"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def make_site(library: Library, db: Path, tmp_path: Path) -> Callable[..., Site]:
    """A site on the throwaway history; sessions in text only on a fast test clock unless told otherwise."""
    sites: list[Site] = []

    def make(speed: float = 200.0, lan: bool = False, code: str | None = None, lock: Path | None = None) -> Site:
        live = LiveOptions(db=db, speech=False, voice=False, speed=speed)
        site = create_app(WebOptions(library, db=db, live=live, lan=lan, code=code,
                                     lock_path=lock or tmp_path / "live.lock"))
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.bridge.stop()


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


@pytest.fixture
def local(site: Site) -> TestClient:
    """A browser on this computer, which has opened the people page once (so it holds a cookie)."""
    client = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    client.get("/")
    return client


def token(client: TestClient, path: str = "/") -> str:
    return csrf_of(client.get(path).text)


def post(client: TestClient, path: str, data: dict[str, Any], **kwargs: Any):
    """A form sent from the page, with the page's CSRF token."""
    return client.post(path, data={"csrf": token(client), **data}, **kwargs)


def add_person(client: TestClient, name: str, **fields: Any):
    return post(client, "/people", {"name": name, **fields})


def wait_for(condition: Callable[[], Any], seconds: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def records_of(run: LiveRun, kind: str) -> list[dict[str, Any]]:
    return [r for r in list(run.records) if r.get("kind") == kind]


def stored_events(db: Path) -> list[dict[str, Any]]:
    with open_store(db) as store:
        return [event for row in store.sessions() for event in store.events(row.id)]
