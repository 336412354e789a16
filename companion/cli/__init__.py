"""The ``companion`` command: one module per verb, each with ``register(sub)`` and ``run(args)``.

A verb parses its arguments, turns them into the typed options the app takes,
and prints the result; what a verb does lives in ``app/``, ``care/``,
``knowledge/`` or ``speech/``. The parser and the dispatch are in
:mod:`companion.cli.parser`; this module stays free of imports so that Ctrl-C
at any moment, even while the program is still loading, ends it cleanly.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Sequence

from companion import _quit_while_loading

if TYPE_CHECKING:
    import argparse

EXIT_INTERRUPTED = 130


def build_parser() -> "argparse.ArgumentParser":
    from companion.cli.parser import build_parser as build

    return build()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C anywhere (loading included) ends it with exit 130 and no traceback.

    ``kill -USR1 <pid>`` writes every thread's stack to standard error and the program carries on: a
    session that has gone quiet can be looked into without stopping it (bench/live.py does this). While
    listening, standard error is the companion's audio-libraries.log (companion/app/native_noise.py)."""
    if hasattr(signal, "SIGUSR1"):
        import faulthandler

        faulthandler.register(signal.SIGUSR1, file=2, all_threads=True)  # fd 2: whatever sys.stderr is now
    try:
        from companion.cli.parser import dispatch

        if signal.getsignal(signal.SIGINT) is _quit_while_loading:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: Ctrl-C is KeyboardInterrupt again

        return dispatch(argv)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
