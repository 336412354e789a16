"""``companion serve`` itself: its arguments, a port already taken, and --lan end to end (a real server process;
only 127.0.0.1 is contacted, the other device being played by a Host header naming the home network)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from companion.cli import main
from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--port", "0"], "--port must be between 1 and 65535"),
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--test-clock", "0.5"], "--test-clock must be between 1 and 1000"),
])
def test_bad_arguments_are_refused_before_anything_starts(capsys, args, message):
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_port_already_taken_is_one_clear_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--text", "--no-voice"]) == 1
    err = capsys.readouterr().err
    assert f"Cannot listen on port {port}" in err and "another companion serve" in err and "Traceback" not in err


def get(port: int, path: str, host: str, cookie: str = "", form: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request("POST" if form is not None else "GET", path, body=body, headers=headers)
    response = conn.getresponse()
    response.text = response.read().decode()  # type: ignore[attr-defined]
    conn.close()
    return response


def test_lan_prints_a_pairing_code_and_a_phone_needs_it(tmp_path):
    port = free_port()
    env = {**os.environ, "COMPANION_HOME": str(tmp_path / "home")}
    server = subprocess.Popen([sys.executable, "-m", "companion", "serve", "--lan", "--port", str(port), "--text",
                               "--no-voice", "--db", str(tmp_path / "h.db")], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        said = ""
        deadline = time.monotonic() + 30
        while "Press Ctrl-C" not in said and time.monotonic() < deadline:
            said += server.stdout.readline()
        code = re.search(r"Pairing code: (\d{6})", said).group(1)
        assert f"http://127.0.0.1:{port}/" in said
        for _ in range(100):
            try:
                home = get(port, "/", f"127.0.0.1:{port}")
                break
            except OSError:
                time.sleep(0.1)
        assert home.status == 200  # this computer needs no code
        phone = f"192.168.1.5:{port}"  # how a phone names the companion: not this computer's own name
        first = get(port, "/", phone)
        assert first.status == 303 and first.getheader("location") == "/pair"
        cookie = first.getheader("set-cookie").split(";", 1)[0]
        pair_page = get(port, "/pair", phone, cookie)
        csrf = re.search(r'name="csrf" value="([^"]+)"', pair_page.text).group(1)
        assert get(port, "/", phone, cookie).status == 303
        wrong = get(port, "/pair", phone, cookie, {"csrf": csrf, "code": "000000" if code != "000000" else "1"})
        assert wrong.status == 403
        paired = get(port, "/pair", phone, cookie, {"csrf": csrf, "code": code})
        assert paired.status == 303
        cookie = paired.getheader("set-cookie").split(";", 1)[0]
        assert get(port, "/", phone, cookie).status == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 130 and "Traceback" not in err, err
