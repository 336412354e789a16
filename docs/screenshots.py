"""Screenshots of the caregiver's page, at phone width and desktop width, into docs/screenshots/.

    python docs/screenshots.py            # needs chromium and chromium-driver (Debian) and selenium

It makes a throwaway history (a person, "Margaret", with four days of sessions made on the
virtual clock), serves the page on a free loopback port with a fast test clock, and drives
Debian's headless chromium through every main page: people, a person's settings, today,
starting a session, the live run answering a safety question, the live run during a hold,
history and the report. Nothing touches your own data.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.webkit import DESKTOP, PHONE, browser_missing, chrome, full_page_png, seed_history, served  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
NAME = "Margaret"


def main() -> int:
    missing = browser_missing()
    if missing:
        print(f"Cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COMPANION_HOME"] = str(Path(tmp) / "home")
        from companion.cli import main as cli
        from companion.content.library import load_library
        from companion.web.app import WebOptions
        from companion.web.live import LiveOptions

        db = Path(tmp) / "companion.db"
        assert cli(["profile", "add", NAME, "--db", str(db)]) == 0
        seed_history(db, NAME)  # answered by a script: no "Ready?" before each step yet
        assert cli(["profile", "set", NAME, "preset", "caregiver", "--db", str(db)]) == 0
        options = WebOptions(load_library(), db=db, live=LiveOptions(db=db, speech=False, voice=False, speed=4),
                             lock_path=Path(tmp) / "live.lock")
        with served(options) as site:
            driver = chrome(DESKTOP)
            try:
                shoot(driver, site.url)
            finally:
                driver.quit()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))
    return 0


def shoot(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    def save(page: str) -> None:
        for label, (width, _) in (("phone", PHONE), ("desktop", DESKTOP)):
            full_page_png(driver, OUT / f"{page}-{label}.png", width)

    query = f"name={NAME}"
    for page, path in (("people", "/"), ("person", f"/person?{query}"), ("today", f"/today?{query}"),
                       ("run-start", f"/run?{query}&entry=wall-standing")):
        driver.get(url + path)
        save(page)
    driver.find_element(By.CSS_SELECTOR, "form[action='/run'] button[type=submit]").click()
    wait = WebDriverWait(driver, 30)
    yes_no = "form.answer[data-context='answer']"
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, yes_no)))
    time.sleep(0.5)
    save("run-question")
    for _ in range(7):  # the safety questions and the acute one: all "no"
        wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, yes_no)))
        count = len(driver.find_elements(By.CSS_SELECTOR, "#transcript li"))
        driver.find_element(By.CSS_SELECTOR, f"{yes_no} button.no").click()
        wait.until(lambda d, n=count: len(d.find_elements(By.CSS_SELECTOR, "#transcript li")) > n + 1)
    number = "form.answer[data-context='number']"
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, number)))
    driver.find_element(By.CSS_SELECTOR, f"{number} button[value='3']").click()
    place = "form.answer[data-context='place']"
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, place)))
    driver.find_element(By.CSS_SELECTOR, f"{place} button[value='back']").click()
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, yes_no)))  # "Ready?" before the hold
    driver.find_element(By.CSS_SELECTOR, f"{yes_no} button.yes").click()
    wait.until(ready.invisibility_of_element_located((By.CSS_SELECTOR, yes_no)))
    time.sleep(3)
    driver.execute_script("document.activeElement.blur()")
    save("run-live")
    driver.find_element(By.CSS_SELECTOR, "button.cmd-stop").click()
    wait.until(lambda d: "Session" in d.find_element(By.ID, "state").text)
    for page, path in (("history", f"/history?{query}"), ("report", f"/report?{query}")):
        driver.get(url + path)
        save(page)


if __name__ == "__main__":
    sys.exit(main())
