"""``companion serve``: the caregiver's page on uvicorn, on this computer or, with a pairing code, the home network.

Idle, the server only waits on its socket and wakes once a second (uvicorn's own
housekeeping would wake it ten times a second; :func:`quiet_server`). Measured in
``bench/web.py``. With ``--lan`` the pairing code is
printed and said aloud once, on this machine's speaker.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable

from companion.web.app import WebOptions, create_app
from companion.web.security import pairing_code, spoken_code

DEFAULT_PORT = 8765
LAN_HOST = "0.0.0.0"
LOCAL_HOST = "127.0.0.1"


class ServeError(Exception):
    """The page cannot be served (the port is taken...); the message says what to do."""


@dataclass(frozen=True)
class ServeOptions:
    port: int = DEFAULT_PORT
    lan: bool = False
    speak_code: bool = True  # say the pairing code aloud (with --lan and a speaker)


def addresses() -> list[str]:
    """This machine's addresses on the local network, best first, for the phone's address bar."""
    found: list[str] = []
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: nothing is sent, it only picks a route
            found.append(probe.getsockname()[0])
        finally:
            probe.close()
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if not address.startswith("127.") and address not in found:
                found.append(address)
    except OSError:
        pass
    return found


def say_aloud(text: str) -> None:
    """Say ``text`` once on this machine's speaker, if there is one (best effort: the terminal shows it too)."""
    from companion.speech.tts.speaker import open_speaker

    speaker, _ = open_speaker()
    if speaker is None:
        return
    try:
        speaker.write({"t": 0.0, "kind": "say", "text": text, "say": "system"})
    finally:
        speaker.close()


def check_port(host: str, port: int) -> None:
    """Refuse at once, with the fix, when the port cannot be had (another companion serve, most likely)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise ServeError(f"Cannot listen on port {port}: {exc.strerror or exc}. Is another companion serve "
                         f"running? Stop it, or choose another port with --port N.") from None
    finally:
        probe.close()


TICK_SECONDS = 1.0  # how often the idle server wakes up (to notice Ctrl-C and refresh its Date header)


def quiet_server(config: Any) -> Any:
    """A uvicorn server that wakes once a second when idle, not ten times (its own housekeeping loop)."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        async def main_loop(self) -> None:
            if not hasattr(self, "on_tick"):  # a uvicorn without the hook: keep its own loop
                await super().main_loop()
                return
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 10) % 864000  # a multiple of ten: the Date header is refreshed each tick
                await asyncio.sleep(TICK_SECONDS)
                should_exit = await self.on_tick(counter)

    return QuietServer(config)


def serve(web: WebOptions, options: ServeOptions, say: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C; a running session is stopped (as "stop" would) before the server ends."""
    import uvicorn

    host = LAN_HOST if options.lan else LOCAL_HOST
    check_port(host, options.port)
    if options.lan:
        web.code = web.code or pairing_code()
    app = create_app(web)
    say(f"The caregiver's page: http://127.0.0.1:{options.port}/ (on this computer)")
    if options.lan:
        for address in addresses():
            say(f"  on a phone or tablet at home: http://{address}:{options.port}/")
        say(f"Pairing code: {web.code}   (type it on the phone or tablet once)")
        if options.speak_code and web.live.speech:
            say_aloud(f"The pairing code for the caregiver's page is {spoken_code(web.code or '')}.")
    else:
        say("Only this computer can open it. To use a phone or tablet on the home network: companion serve --lan")
    say("Press Ctrl-C to stop.")
    config = uvicorn.Config(app, host=host, port=options.port, log_level="warning", access_log=False,
                            proxy_headers=False, server_header=False, lifespan="off",
                            timeout_graceful_shutdown=2, http="h11", loop="asyncio")
    server = quiet_server(config)
    try:
        server.run()
    finally:
        app.bridge.stop()
    sys.stdout.flush()
