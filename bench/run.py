"""Benchmarks: run with `python bench/run.py` (add --json for machine-readable figures).

Measures what the core costs on this machine: loading and validating the routine
library, running every routine's whole session on the virtual clock, one engine
event, and matching an utterance to a command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.engine.clock import VirtualClock  # noqa: E402
from companion.content.library import load_library  # noqa: E402
from companion.content.phrases import load_phrases  # noqa: E402
from companion.engine.events import Command, CommandEvent, Tick  # noqa: E402
from companion.engine.plan import PlanBuilder  # noqa: E402
from companion.engine.session import Session  # noqa: E402
from companion.app.runner import Runner  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples, digits=4)


class Sink:
    def write(self, record): pass
    def interrupt(self): pass
    def close(self): pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--all", action="store_true",
                        help="also run bench/ask.py, bench/voice.py (small set), bench/bargein.py, bench/echo.py --quick "
                             "and bench/faults.py")
    args = parser.parse_args()

    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    results["load_library"] = timed(lambda: load_library(), 20)
    lib = load_library()
    phrases = load_phrases()
    builder = PlanBuilder(lib.routines, phrases)
    titles = {r.id: r.title for r in lib.routines.values()}

    def whole_session(entry_id: str) -> None:
        session = Session(builder.for_entry(lib.get(entry_id)), phrases, titles)
        Runner(session, VirtualClock(), load_vocabulary(), [Sink()]).run()

    sessions = {}
    for entry_id in lib.ids():
        session = Session(builder.for_entry(lib.get(entry_id)), phrases, titles)
        simulated = sum(step.estimate(1.0) for step in session.plan.steps)
        figures = timed(lambda: whole_session(entry_id), 20)
        figures["simulated_s"] = round(simulated, 1)
        sessions[entry_id] = figures
    results["virtual_clock_session"] = sessions

    session = Session(builder.for_entry(lib.get("wall-standing")), phrases, titles)
    session.start(0.0)
    t = [0.0]

    def one_event() -> None:
        t[0] += 0.001
        session.feed(Tick(t[0]))
        session.feed(CommandEvent(t[0], Command.HOW_LONG_LEFT))

    results["engine_tick_plus_status_question"] = timed(one_event, 2000)
    vocab = load_vocabulary()
    utterances = ["stop", "how many are left", "could you say that again please", "the kettle is boiling"]
    results["vocabulary_match"] = timed(lambda: [vocab.match(u) for u in utterances], 2000)
    results["vocabulary_match"]["utterances_per_run"] = len(utterances)

    others = run_the_others(args.json) if args.all else {}
    if args.json:
        print(json.dumps({**results, **others} if others else results, indent=2))
        return
    print(f"machine: {results['machine']}")
    for key in ("load_library", "engine_tick_plus_status_question", "vocabulary_match"):
        r = results[key]
        print(f"{key:<36} p50 {r['p50_ms']:>9.4f} ms   p95 {r['p95_ms']:>9.4f} ms")
    print("whole session on the virtual clock:")
    for entry_id, r in sessions.items():
        print(f"  {entry_id:<32} {r['simulated_s']:>7.1f} s simulated in p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms")
    for name, text in others.items():
        print(f"\n== bench/{name}.py ==\n{text.rstrip()}")


# answering questions; recognition (small set); barge-in; echo cancellation (one routine's cues); faults
OTHERS = {"ask": [], "voice": [], "bargein": [], "echo": ["--quick"], "faults": []}


def run_the_others(as_json: bool) -> dict:
    """The other benchmarks, each in its own process (they load speech engines): name -> output."""
    import subprocess

    here = Path(__file__).resolve().parent
    out = {}
    for name, extra in OTHERS.items():
        done = subprocess.run([sys.executable, str(here / f"{name}.py"), *extra, *(["--json"] if as_json else [])],
                              capture_output=True, text=True)
        text = done.stdout if done.returncode == 0 else f"failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        out[name] = json.loads(text) if as_json and done.returncode == 0 else text
    return out


if __name__ == "__main__":
    main()
