"""Answer quality on the evaluation set (tests/data/questions.yaml), against the issue's targets.

The targets apply to the whole set: >= 90% top-1 on in-scope questions, >= 90% of off-topic
questions refused, every red-flag question urgent, and no in-scope question marked urgent;
top-1 must also reach 90% on the held-out third alone. The tuned and held-out parts are reported separately (run with -s, or read
the failure message); the held-out third was never used for tuning, so a gap between the
two is the honest estimate of how much of the tuning was fitted to the questions.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from companion.knowledge.base import load_knowledge
from companion.knowledge.redflags import SOON, default_detector
from companion.knowledge.retrieval import SOON_TOPIC
from bench.evaluation import Metrics, evaluate, load_questions, report
from companion.knowledge.retrieval import default_answerer
from tests.conftest import DATA

QUESTIONS = load_questions(DATA / "questions.yaml")


@pytest.fixture(scope="module")
def parts() -> dict[str, Metrics]:
    result = evaluate(default_answerer(), QUESTIONS)
    print("\n" + report(result))
    return result


def test_the_set_has_the_required_shape() -> None:
    kb = load_knowledge()
    soon = {SOON_TOPIC + f.id for f in default_detector().spec.flags if f.level == SOON}
    counts = Counter(q.expect for q in QUESTIONS)
    assert len(QUESTIONS) >= 150
    assert counts["off-topic"] >= 30 and counts["urgent"] >= 20
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS), "question ids must be unique"
    for q in QUESTIONS:
        if q.in_scope:
            assert q.expect in kb.entries or q.expect in soon, f"{q.id}: unknown entry {q.expect}"
            assert all(a in kb.entries for a in q.accept), q.id
        if q.expect == "urgent":
            assert q.flag, f"{q.id}: a red-flag question names its flag"
    for entry_id in kb.entries:
        assert counts[entry_id] >= 3, f"{entry_id}: needs at least 3 differently worded questions"
    spoken = [q for q in QUESTIONS if q.text == q.text.lower() and not re.search(r"[?,.!']", q.text)]
    assert len(spoken) >= 0.25 * len(QUESTIONS), "a good share must look like speech-recogniser transcripts"
    held = [q for q in QUESTIONS if q.held_out]
    assert 0.25 * len(QUESTIONS) <= len(held) <= 0.42 * len(QUESTIONS)


def test_eval_questions_are_not_copies_of_the_knowledge_base_examples() -> None:
    def key(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", text.lower()))

    examples = {key(q) for entry in load_knowledge().entries.values() for q in entry.questions}
    copied = [q.id for q in QUESTIONS if key(q.text) in examples]
    assert not copied, f"these evaluation questions are listed verbatim in the knowledge base: {copied}"


def test_quality_targets(parts: dict[str, Metrics]) -> None:
    m = parts["all"]
    table = report(parts) + "\n" + "\n".join(m.failures)
    assert m.rate(m.top1, m.in_scope) >= 0.90, table
    assert m.rate(m.off_topic_rejected, m.off_topic) >= 0.90, table
    assert m.red_flags_urgent == m.red_flags, table
    assert m.false_urgent == 0, table
    held = parts["held_out"]
    assert held.rate(held.top1, held.in_scope) >= 0.90, table + "\n" + "\n".join(held.failures)


def test_red_flags_are_caught_on_both_parts_and_name_the_right_flag(parts: dict[str, Metrics]) -> None:
    for name in ("tuned", "held_out"):
        m = parts[name]
        assert m.red_flags > 0 and m.red_flags_urgent == m.red_flags, report(parts)
        assert m.red_flags_right_flag == m.red_flags, report(parts)
        assert m.rate(m.false_urgent, m.in_scope) <= 0.02, report(parts)


def test_most_refused_off_topic_questions_get_the_friendly_off_topic_reply(parts: dict[str, Metrics]) -> None:
    m = parts["all"]
    assert m.off_topic_reply >= 0.8 * m.off_topic, report(parts)
