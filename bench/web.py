"""The caregiver's page, measured: `python bench/web.py` (add --json for machine-readable figures).

Starts a real `companion serve` (text only, no microphone, a throwaway history) on a free
loopback port, then measures:

* **idle CPU**: the server's own CPU time (utime + stime from /proc/PID/stat) over
  ``--seconds`` with no client at all; then with a session paused and no page open (the
  session's own runner wakes four times a second), and the same with the run page's live
  stream open: the difference is what following it costs;
* **button -> engine latency**: ``--presses`` alternate pause/resume presses sent as the
  page sends them (POST /run/say with the CSRF token), timed (a) until the server answers
  (it answers once the runner has dealt with the words: interpreted them, fed the engine
  and handed on its cues) and (b) until the engine's new state ("paused" / "running")
  comes back on the live stream, as a browser would see it. p50, p95 and the worst.

Only 127.0.0.1 is ever contacted; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of the full line)


class Page:
    """A browser on this computer: one cookie, the CSRF token of the page, forms posted as the page posts them."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                accept: str = "text/html") -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Accept": accept, "Sec-Fetch-Site": "same-origin"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode({"csrf": self.csrf, **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8")
        found = {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        if "set-cookie" in found:
            self.cookie = found["set-cookie"].split(";", 1)[0]
        token = re.search(r'name="csrf" value="([^"]+)"', text)
        if token:
            self.csrf = token.group(1)
        return response.status, text, found


class Stream(threading.Thread):
    """The run page's live stream: remembers when each state change arrived."""

    def __init__(self, page: Page, run_id: str):
        super().__init__(daemon=True)
        self.page, self.run_id = page, run_id
        self.changes: list[tuple[float, bool]] = []  # (perf_counter, paused)
        self.changed = threading.Condition()
        self.conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.page.port, timeout=120)
        self.conn.request("GET", f"/run/events?run={self.run_id}&after=0", headers={"Cookie": self.page.cookie})
        response = self.conn.getresponse()
        event = ""
        paused: bool | None = None
        while True:
            try:
                line = response.fp.readline().decode("utf-8")
            except (OSError, ValueError):
                return
            if not line:
                return
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == "status":
                status = json.loads(line[6:])
                if status["paused"] != paused:
                    paused = status["paused"]
                    with self.changed:
                        self.changes.append((time.perf_counter(), paused))
                        self.changed.notify_all()

    def wait_for(self, paused: bool, since: float, timeout: float = 5.0) -> float | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for at, state in self.changes:
                    if at >= since and state == paused:
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def close(self) -> None:
        if self.conn is not None and self.conn.sock is not None:
            self.conn.sock.shutdown(socket.SHUT_RDWR)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "n": len(ordered)}


def measure(seconds: float, presses: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COMPANION_HOME": str(Path(tmp) / "home")}
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "companion", "serve", "--port", str(port), "--text",
                                   "--no-voice", "--db", str(Path(tmp) / "bench.db")],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        try:
            page = Page(port)
            deadline = time.monotonic() + 30
            while True:
                try:
                    page.request("GET", "/")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"companion serve did not start: {server.stderr.read().decode()}")
                    time.sleep(0.1)
            time.sleep(2.0)  # let start-up settle

            before = cpu_seconds(server.pid)
            time.sleep(seconds)
            idle = (cpu_seconds(server.pid) - before) / seconds

            status, _, headers = page.request("POST", "/run", {"entry": "wall-standing", "name": ""})
            assert status == 303, f"the session did not start ({status})"
            _, text, _ = page.request("GET", "/run")
            run_id = re.search(r'data-run="([0-9a-f]+)"', text).group(1)
            stream = Stream(page, run_id)
            stream.start()
            time.sleep(1.0)

            acked: list[float] = []
            seen: list[float] = []
            lost = 0
            for number in range(presses):
                words = "pause" if number % 2 == 0 else "resume"
                start = time.perf_counter()
                status, answer, _ = page.request("POST", "/run/say", {"run": run_id, "say": words},
                                                 accept="application/json")
                done = time.perf_counter()
                assert status == 200 and json.loads(answer)["ok"], answer
                acked.append(done - start)
                at = stream.wait_for(words == "pause", start)
                if at is None:
                    lost += 1
                else:
                    seen.append(at - start)
                time.sleep(0.05)

            if presses % 2:  # leave it paused for the idle measurement with the page open
                page.request("POST", "/run/say", {"run": run_id, "say": "pause"}, accept="application/json")
            elif not stream.wait_for(True, 0):
                page.request("POST", "/run/say", {"run": run_id, "say": "pause"}, accept="application/json")
            stream.close()
            time.sleep(1.0)
            before = cpu_seconds(server.pid)
            time.sleep(seconds)
            paused_alone = (cpu_seconds(server.pid) - before) / seconds
            watcher = Stream(page, run_id)
            watcher.start()
            time.sleep(1.0)
            before = cpu_seconds(server.pid)
            time.sleep(seconds)
            paused_open = (cpu_seconds(server.pid) - before) / seconds
            watcher.close()
            page.request("POST", "/run/say", {"run": run_id, "say": "stop"}, accept="application/json")
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip() + f", {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "idle_seconds": seconds,
        "idle_cpu_percent": round(idle * 100, 3),
        "paused_session_no_page_cpu_percent": round(paused_alone * 100, 3),
        "paused_session_with_live_page_cpu_percent": round(paused_open * 100, 3),
        "button_to_answer": percentiles(acked),
        "button_to_engine_state_on_the_page": percentiles(seen) if seen else None,
        "state_changes_not_seen": lost,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="each CPU measurement (default 30)")
    parser.add_argument("--presses", type=int, default=200, help="button presses timed (default 200)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(max(1.0, min(args.seconds, 600.0)), max(2, min(args.presses, 2000)))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "web.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"machine: {figures['machine']}")
    print(f"companion serve, idle, no client ({args.seconds:g} s): {figures['idle_cpu_percent']:.3f} % of one core")
    print(f"a paused session, no page open: {figures['paused_session_no_page_cpu_percent']:.3f} % of one core")
    print(f"the same with the live page open: {figures['paused_session_with_live_page_cpu_percent']:.3f} %"
          " of one core")
    for label, key in (("button -> server answers (the runner is done with it)", "button_to_answer"),
                       ("button -> engine state back on the page", "button_to_engine_state_on_the_page")):
        f = figures[key]
        if f:
            print(f"{label}: p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, max {f['max_ms']} ms (n={f['n']})")
    if figures["state_changes_not_seen"]:
        print(f"state changes never seen on the page: {figures['state_changes_not_seen']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
