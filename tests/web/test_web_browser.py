"""The caregiver's page in a real browser: Debian's chromium, headless, driven by chromedriver through Selenium.

Skipped, with the reason, when chromium, chromium-driver or selenium is missing here; CI installs them
and sets COMPANION_REQUIRE_BROWSER=1, so there they fail instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from companion.web.app import WebOptions
from companion.web.live import LiveOptions
from tests.web.webkit import PHONE, browser_missing, chrome, served

MISSING = browser_missing()
if MISSING and os.environ.get("COMPANION_REQUIRE_BROWSER"):
    raise RuntimeError(f"COMPANION_REQUIRE_BROWSER is set but the browser tests cannot run: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests need it: {MISSING}")

NAME = "Ann <b>O'Neil</b>"


@pytest.fixture
def page(library, tmp_path: Path):
    db = tmp_path / "history.db"
    options = WebOptions(library, db=db, live=LiveOptions(db=db, speech=False, voice=False, speed=5),
                         lock_path=tmp_path / "live.lock")
    with served(options) as site:
        driver = chrome(PHONE)
        driver.implicitly_wait(0)
        try:
            yield driver, site
        finally:
            logs = driver.get_log("browser")
            driver.quit()
        # The page ran without one complaint: no CSP violation (inline script or style), no failed request.
        assert not [entry for entry in logs if entry["level"] == "SEVERE"], logs


def test_a_caregiver_runs_a_whole_session_from_a_phone(page):
    """Add a person, start wall standing on the fast test clock, watch the transcript, pause and resume,
    answer the safety questions with the yes/no buttons, stop, then find it in the history and the report."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    driver, site = page
    wait = WebDriverWait(driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

    def lines() -> int:
        return len(driver.find_elements(By.CSS_SELECTOR, "#transcript li"))

    def state() -> str:
        return driver.find_element(By.ID, "state").text

    # 1. add a person
    driver.get(site.url + "/")
    driver.find_element(By.ID, "name").send_keys(NAME)
    driver.find_element(By.ID, "preset").click()  # no caregiver preset: no "Ready?" before each step
    driver.find_element(By.CSS_SELECTOR, "form[action='/people'] button[type=submit]").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), NAME))
    assert "Added." in driver.find_element(By.CSS_SELECTOR, "[role=status]").text

    # 2. start wall standing for them
    driver.find_element(By.LINK_TEXT, "Run a session").click()
    Select(wait.until(ready.presence_of_element_located((By.ID, "entry")))).select_by_visible_text("Wall standing")
    assert Select(driver.find_element(By.ID, "who")).first_selected_option.text == NAME
    driver.find_element(By.CSS_SELECTOR, "form[action='/run'] button[type=submit]").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Run: Wall standing"))

    # 3. the live transcript updates by itself
    before = lines()
    wait.until(lambda d: lines() > before)
    wait.until(lambda d: "bladder" in d.find_element(By.ID, "asked").text)

    # 4. pause and resume
    driver.find_element(By.CSS_SELECTOR, "button.cmd-pause").click()
    wait.until(lambda d: state() == "Paused")
    assert "Caregiver: \u201cpause\u201d \u2192 pause" in driver.find_element(By.ID, "transcript").text
    driver.find_element(By.CSS_SELECTOR, "button.cmd-resume").click()
    wait.until(lambda d: state() != "Paused")

    # 5. answer the safety questions with the yes/no buttons (and the pain questions with theirs)
    yes_no = "form.answer[data-context='answer']"
    for _ in range(7):
        wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, yes_no)))
        asked = driver.find_element(By.ID, "asked").text
        driver.find_element(By.CSS_SELECTOR, f"{yes_no} button.no").click()
        wait.until(lambda d, q=asked: d.find_element(By.ID, "asked").text != q)
    answered = [r for r in site.site.bridge.current.records if r.get("kind") == "answered"]
    assert [(a["tag"], a["answer"]) for a in answered] == [("screen", "no")] * 6 + [("acute", "no")]
    number = "form.answer[data-context='number']"
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, number)))
    driver.find_element(By.CSS_SELECTOR, f"{number} button[value='2']").click()
    place = "form.answer[data-context='place']"
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, place)))
    driver.find_element(By.CSS_SELECTOR, f"{place} button[value='back']").click()
    wait.until(lambda d: "Pain before: 2/10, back" in d.find_element(By.ID, "transcript").text)
    assert driver.switch_to.active_element.tag_name in ("button", "input")  # the keyboard is not lost

    # 6. stop
    driver.find_element(By.CSS_SELECTOR, "button.cmd-stop").click()
    wait.until(lambda d: state() == "Session stopped")
    assert not driver.find_element(By.ID, "controls-area").is_displayed()

    # 7. the session in the history, and the report with its chart
    driver.find_element(By.LINK_TEXT, f"History and report for {NAME}").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"History for {NAME}"))
    row = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "tbody tr"))).text
    assert "Wall standing" in row and "stopped" in row
    csv = driver.find_element(By.PARTIAL_LINK_TEXT, "Download the events (CSV)")
    assert csv.get_attribute("href").endswith("/report.csv?name=Ann+%3Cb%3EO%27Neil%3C%2Fb%3E")
    driver.find_element(By.PARTIAL_LINK_TEXT, "Report of the last 7 days").click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "img[src^='data:image/png;base64,']")))
    assert NAME in driver.find_element(By.TAG_NAME, "h1").text
    chart = driver.find_element(By.CSS_SELECTOR, "img[src^='data:image/png;base64,']")
    assert driver.execute_script("return arguments[0].naturalWidth", chart) > 100  # the chart really drew
    styled = driver.execute_script("return getComputedStyle(document.querySelector('h2')).borderBottomStyle")
    assert styled == "solid"  # its inline style was allowed by its hash, nothing else was


def test_the_page_needs_no_script_to_answer_and_steer(page):
    """With scripts off the buttons still work: each is a form that posts and comes back."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, site = page
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))

    def shows(element_id: str, text: str):
        return lambda d: text in d.find_element(By.ID, element_id).text

    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    driver.get(site.url + "/run?entry=wall-standing")
    driver.find_element(By.CSS_SELECTOR, "form[action='/run'] button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Run: Wall standing")
    driver.find_element(By.CSS_SELECTOR, "button.cmd-pause").click()
    wait.until(shows("transcript", "Caregiver: \u201cpause\u201d"))  # the page came back after the post
    assert driver.find_element(By.ID, "state").text == "Paused"  # the engine had paused before it answered
    driver.find_element(By.CSS_SELECTOR, "button.cmd-stop").click()
    wait.until(shows("transcript", "Caregiver: \u201cstop\u201d"))
    assert driver.find_element(By.ID, "state").text == "Session stopped"
