"""The caregiver's page is private: loopback by default, a pairing code for the home network, CSRF on every
POST, escaped names, and headers that forbid inline script and framing."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from companion.web.app import WebOptions, create_app, report_csp
from companion.web.security import COOKIE, PAIR_TRIES, Guard, host_name, pairing_code, spoken_code
from tests.web.conftest import CODE, LOCAL, LOCAL_URL, REMOTE, REMOTE_URL, add_person, post, token, wait_for

PAGES = ("/", "/run", "/history")
EVIL = "<script>alert('x')</script>&\"'"


def csp_parts(header: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


# -- headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/static/app.css", "/static/live.js", "/no-such-page", "/person?name=x"])
def test_every_response_forbids_inline_script_framing_and_referrers(local: TestClient, path: str):
    response = local.get(path)
    parts = csp_parts(response.headers["content-security-policy"])
    assert parts["script-src"] == "script-src 'self'"
    assert parts["style-src"] == "style-src 'self'"
    assert parts["default-src"] == "default-src 'none'"
    assert parts["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_style_or_handlers_and_no_external_references(local: TestClient):
    add_person(local, "Ann")
    for path in (*PAGES, "/person?name=Ann", "/today?name=Ann", "/history?name=Ann", "/run?name=Ann"):
        page = local.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", page), path
        assert "<style" not in page and " style=" not in page, path
        assert not re.search(r"\son[a-z]+=", page), path
        assert not re.search(r"(src|href)=\"(https?:)?//", page), path  # no CDN, no external font: works offline


def test_the_report_allows_only_its_own_inline_style_by_hash():
    page = ("<html><head><style>\nbody { color: #000; }\n</style></head>"
            "<body><img src=\"data:image/png;base64,AA\"></body>")
    csp = csp_parts(report_csp(page))
    assert re.fullmatch(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp["style-src"])
    assert csp["default-src"] == "default-src 'none'" and csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "script-src" not in csp  # default-src 'none': no script at all


def test_the_session_cookie_is_httponly_and_samesite_strict(site):
    response = TestClient(site, base_url=LOCAL_URL, client=LOCAL).get("/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie


def test_only_get_head_and_post(local: TestClient):
    assert local.request("PUT", "/people").status_code == 405
    assert local.request("DELETE", "/run").status_code == 405


# -- CSRF ---------------------------------------------------------------------------------


def test_a_post_without_the_token_changes_nothing(local: TestClient):
    response = local.post("/people", data={"name": "Ann"})
    assert response.status_code == 403
    response = local.post("/people", data={"name": "Ann", "csrf": "0" * 64})
    assert response.status_code == 403
    assert "Ann" not in local.get("/").text


def test_a_cross_site_post_is_refused_even_with_a_token(local: TestClient):
    csrf = token(local)
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"},
                    {"sec-fetch-site": "same-site"}):
        response = local.post("/people", data={"name": "Ann", "csrf": csrf}, headers=headers)
        assert response.status_code == 403, headers
        assert "another site" in response.text
    assert "Ann" not in local.get("/").text
    same = local.post("/people", data={"name": "Ann", "csrf": csrf},
                      headers={"origin": "null", "sec-fetch-site": "same-origin"})  # Chromium under no-referrer
    assert same.status_code == 303


def test_a_post_without_the_cookie_is_refused(site):
    page = TestClient(site, base_url=LOCAL_URL, client=LOCAL)
    csrf = token(page)
    stranger = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    assert stranger.post("/people", data={"name": "Ann", "csrf": csrf}).status_code == 403


def test_only_small_url_encoded_forms(local: TestClient):
    csrf = token(local)
    assert local.post("/people", json={"name": "Ann", "csrf": csrf}).status_code == 403
    assert local.post("/people", data={"name": "A" * 70_000, "csrf": csrf}).status_code == 413


# -- who may come in ----------------------------------------------------------------------


def test_another_address_is_refused_without_lan(site):
    phone = TestClient(site, base_url=REMOTE_URL, client=REMOTE, follow_redirects=False)
    for path in (*PAGES, "/pair", "/run/events"):
        response = phone.get(path)
        assert response.status_code == 403, path
        assert "only on the computer" in response.text
    assert phone.post("/people", data={"name": "Ann"}).status_code == 403


def test_a_page_that_points_its_name_at_this_computer_is_not_trusted(site):
    """DNS rebinding: the request comes from 127.0.0.1 but names another host."""
    rebound = TestClient(site, base_url="http://evil.example:8765", client=LOCAL, follow_redirects=False)
    assert rebound.get("/").status_code == 403


@pytest.mark.parametrize("host, name", [("127.0.0.1:8765", "127.0.0.1"), ("[::1]:8765", "::1"),
                                        ("localhost", "localhost"), ("LOCALHOST:80", "localhost")])
def test_host_names(host, name):
    assert host_name(host) == name


def test_lan_without_a_pairing_code_is_impossible(library):
    for code in (None, "", "123", "abcdef"):
        with pytest.raises(ValueError, match="pairing code"):
            Guard(lan=True, code=code)
        with pytest.raises(ValueError, match="pairing code"):
            create_app(WebOptions(library, lan=True, code=code))
    codes = {pairing_code() for _ in range(50)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes) and len(codes) > 40
    assert spoken_code("482913") == "4, 8, 2, 9, 1, 3"


def test_with_lan_a_phone_without_cookie_or_code_is_sent_to_pair_and_refused(make_site):
    site = make_site(lan=True, code=CODE)
    phone = TestClient(site, base_url=REMOTE_URL, client=REMOTE, follow_redirects=False)
    for path in PAGES:
        response = phone.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/pair", path
    csrf = token(phone, "/pair")
    assert phone.post("/people", data={"name": "Ann", "csrf": csrf}).status_code == 403
    assert phone.get("/run/events").status_code == 303
    assert phone.get("/report?name=Ann").status_code == 303
    assert "Ann" not in TestClient(site, base_url=LOCAL_URL, client=LOCAL).get("/").text


def test_pairing_with_the_code_gives_a_new_cookie_that_opens_the_page(make_site):
    site = make_site(lan=True, code=CODE)
    phone = TestClient(site, base_url=REMOTE_URL, client=REMOTE, follow_redirects=False)
    csrf = token(phone, "/pair")
    before = phone.cookies[COOKIE]
    response = phone.post("/pair", data={"code": "482 913", "csrf": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/")
    assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=Strict" in response.headers["set-cookie"]
    after = phone.cookies[COOKIE]
    assert after != before  # a new session: a cookie planted before pairing is worth nothing
    assert phone.get("/").status_code == 200
    assert add_person(phone, "Ann").status_code == 303
    other = TestClient(site, base_url=REMOTE_URL, client=REMOTE, cookies={COOKIE: before}, follow_redirects=False)
    assert other.get("/").status_code == 303


def test_wrong_codes_are_refused_and_limited(make_site):
    site = make_site(lan=True, code=CODE)
    phone = TestClient(site, base_url=REMOTE_URL, client=REMOTE, follow_redirects=False)
    csrf = token(phone, "/pair")
    for _ in range(PAIR_TRIES):
        response = phone.post("/pair", data={"code": "000000", "csrf": csrf})
        assert response.status_code == 403 and "not the code" in response.text
    response = phone.post("/pair", data={"code": CODE, "csrf": csrf})  # even the right one, for a minute
    assert response.status_code == 403 and "Too many" in response.text
    assert phone.get("/").status_code == 303


def test_with_lan_this_computer_still_needs_no_code(make_site):
    site = make_site(lan=True, code=CODE)
    assert TestClient(site, base_url=LOCAL_URL, client=LOCAL).get("/").status_code == 200


# -- names are text, never markup -----------------------------------------------------------


def test_html_in_a_name_is_escaped_on_every_page(make_site, db):
    site = make_site(speed=50)
    local = TestClient(site, base_url=LOCAL_URL, client=LOCAL, follow_redirects=False)
    assert add_person(local, EVIL).status_code == 303
    response = post(local, "/run", {"entry": "wall-standing", "name": EVIL})
    assert response.status_code == 303
    run = site.bridge.current
    wait_for(lambda: run.context == "answer", what="the first safety question")
    run.say("stop")
    wait_for(lambda: run.finished, what="the end of the session")
    from companion.care.store import open_store

    with open_store(db) as store:
        session_id = store.sessions(user=EVIL)[0].id
    query = {"name": EVIL}
    pages = [("/", None), ("/person", query), ("/today", query), ("/run", query), ("/history", query),
             ("/history", None), ("/history/session", {"id": session_id}), ("/report", query),
             ("/report.csv", query)]
    for path, params in pages:
        response = local.get(path, params=params)
        assert response.status_code == 200, (path, response.text[:500])
        assert "<script>alert" not in response.text, path
        if path != "/report.csv":
            assert "&lt;script&gt;alert(" in response.text, path
