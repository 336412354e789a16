"""Benchmark `companion ask`: run with `python bench/ask.py` (add --json for machine-readable figures).

Measures what answering a question costs once its text is known (red-flag check,
analysis, spelling correction, BM25F ranking), the time to load and index the
knowledge base, and, so quality and speed are read together, the evaluation-set
figures (top-1, off-topic rejection, red-flag recall) for the tuned and held-out parts.
Target from the issue: answer time <= 100 ms at p95.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion.knowledge import redflags, text  # noqa: E402
from evaluation import evaluate, load_questions, report  # noqa: E402
from companion.knowledge.retrieval import Answerer  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script

QUESTIONS = ROOT / "tests" / "data" / "questions.yaml"


def cold_load() -> Answerer:
    """Everything from the YAML files, with no cache left from an earlier load."""
    text.default_analyzer.cache_clear()
    redflags.default_detector.cache_clear()
    return Answerer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--passes", type=int, default=10, help="times to ask every question (default 10)")
    args = parser.parse_args()

    start = time.perf_counter()
    answerer = cold_load()
    first_load = (time.perf_counter() - start) * 1000
    loads = []
    for _ in range(10):
        start = time.perf_counter()
        cold_load()
        loads.append((time.perf_counter() - start) * 1000)

    questions = load_questions(QUESTIONS)
    answer_ms, redflag_ms = [], []
    for _ in range(args.passes):
        Answerer._closest.cache_clear()  # every pass pays for spelling correction again
        for q in questions:
            start = time.perf_counter()
            answerer.ask(q.text)
            answer_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            answerer.detector.detect(q.text)
            redflag_ms.append((time.perf_counter() - start) * 1000)

    parts = evaluate(answerer, questions)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "knowledge_entries": len(answerer.kb.entries),
        "load_and_index_first_ms": round(first_load, 1),
        "load_and_index": percentiles(loads),
        "answer": percentiles(answer_ms),
        "red_flag_check_only": percentiles(redflag_ms),
        "quality": {name: m.summary() for name, m in parts.items()},
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}; {results['knowledge_entries']} knowledge entries")
    print(f"load + validate + index (first, with imports warm): {first_load:.1f} ms; "
          f"again: p50 {results['load_and_index']['p50_ms']:.1f} ms")
    for key in ("answer", "red_flag_check_only"):
        r = results[key]
        print(f"{key:<20} p50 {r['p50_ms']:>7.3f} ms   p95 {r['p95_ms']:>7.3f} ms   max {r['max_ms']:>7.3f} ms"
              f"   ({r['runs']} questions)")
    print(report(parts))


if __name__ == "__main__":
    main()
