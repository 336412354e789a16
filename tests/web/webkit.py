"""What the caregiver's page tests, the screenshots (docs/screenshots.py) and the benchmark share:
the page served by uvicorn on a free loopback port in a thread, Debian's chromium through Selenium,
and a few days of history made on the virtual clock."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
PHONE = (390, 844)
DESKTOP = (1280, 900)


@dataclass
class Served:
    url: str
    site: Any  # companion.web.app.Site
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.site.bridge.stop()
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def served(web_options: Any) -> Iterator[Served]:
    """The page on 127.0.0.1 and a free port, served by uvicorn in a thread, as ``companion serve`` does."""
    import uvicorn

    from companion.web.app import create_app
    from companion.web.server import quiet_server

    site = create_app(web_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(site, log_level="warning", access_log=False, lifespan="off", proxy_headers=False,
                            timeout_graceful_shutdown=1, http="h11", loop="asyncio")
    server = quiet_server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    running = Served(f"http://127.0.0.1:{port}", site, server, thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(os.path.exists(p) for p in CHROMIUM):
        return "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
    if not any(os.path.exists(p) for p in CHROMEDRIVER) and not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def chrome(size: tuple[int, int] = DESKTOP) -> Any:
    """Headless Debian chromium, driven by Debian's chromedriver (never a downloaded browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(p for p in CHROMIUM if os.path.exists(p))
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={size[0]},{size[1]}", "--lang=en-GB"):
        options.add_argument(flag)
    driver_path = next((p for p in CHROMEDRIVER if os.path.exists(p)), None) or shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_window_size(*size)
    return driver


def full_page_png(driver: Any, path: Path, width: int) -> None:
    """A screenshot of the whole page at ``width`` CSS pixels (not just the window)."""
    metrics = {"width": width, "height": PHONE[1] if width < 600 else DESKTOP[1], "deviceScaleFactor": 1,
               "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    metrics["height"] = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    # The new width wraps the live transcript's lines anew: show its end, as the page does.
    driver.execute_script("const t = document.getElementById('transcript'); if (t) t.scrollTop = t.scrollHeight;")
    try:
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    import base64

    path.write_bytes(base64.b64decode(data["data"]))


SCREENING_NO = ["no"] * 7  # six red-flag questions, then "is your pain new or much worse?"


def seed_history(db: Path, name: str, days: int = 4, now: datetime | None = None) -> None:
    """``days`` days of wall standing and McKenzie 1 for ``name`` on the virtual clock, ending yesterday,
    with pain scores falling from 5 to 2: enough for the report's chart and the history page."""
    from companion.cli import main

    now = now or datetime.now()
    workdir = db.parent
    with redirect_stdout(StringIO()):
        for back in range(days, 0, -1):
            day = (now - timedelta(days=back)).replace(hour=9, minute=0, second=0, microsecond=0)
            score = max(2, 5 - (days - back))
            for number, routine in enumerate(("mckenzie-1-prone-lying", "wall-standing")):
                lines, t = [], 100
                if number == 0:
                    for answer in SCREENING_NO:
                        lines.append(f"{t} {answer}")
                        t += 1
                lines += [f"{t + 100} {score}", f"{t + 101} back", f"{t + 800} {max(0, score - 1)}",
                          f"{t + 801} back"]
                script = workdir / f"seed-{back}-{number}.txt"
                script.write_text("\n".join(lines) + "\n")
                at = day + timedelta(minutes=30 * number)
                code = main(["run", routine, "--user", name, "--db", str(db), "--virtual-clock", "--json",
                             "--at", at.isoformat(timespec="minutes"), "--script", str(script)])
                assert code == 0, f"seeding {routine} on {at} failed"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
