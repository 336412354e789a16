"""companion: an offline, voice-guided exercise and posture companion for neck and low-back pain.

The rooms, and the rule that keeps them apart (tests/test_architecture.py checks it):

    cli -> app -> care -> knowledge -> language -> speech -> engine -> content

Each may import only from itself and the rooms to its right.
"""

import os
import signal
import sys

__version__ = "0.1.0"


def _quit_while_loading(signum: int, frame: object) -> None:
    """Ctrl-C before the command has loaded: nothing is written yet, so leave at once and quietly."""
    os._exit(130)


# Run as the program (the console script, or ``python -m companion`` while runpy still shows "-m"):
# until companion.cli.main takes over, Ctrl-C ends it without a traceback. Imported as a library,
# nothing changes.
if sys.argv and (sys.argv[0] == "-m" or os.path.basename(sys.argv[0]) == "companion") \
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _quit_while_loading)
