"""Symptoms said during a session: spot what changes what happens next, in every state.

The red-flag detector finds what needs a doctor now; this one finds what a person
says mid-exercise that the session must act on at once: pain spreading into a
buttock, leg, arm or hand, tingling, numbness, new weakness, pain getting worse,
dizziness, chest pain, breathlessness, nausea. The runner checks it on everything
said or typed, right after the red flags and before any command, so "my back hurts
more" can never be taken as a command. The whole API is::

    found = detect_symptom("the pain is going down my leg")   # -> Symptom | None
    found.id, found.action, found.say      # "spreading-leg", "ask-spread", "Is the pain ...?"

What each finding does (its ``action``) and the words said are a table in the data
(``content/data/<lang>/symptoms.yaml``), read and matched with the red flags' own
machinery (:class:`~companion.knowledge.redflags.ConceptMatcher`): concepts, a
negation window ("my leg is not tingling" is nothing), scope breakers and misheard
words. ``companion check`` runs every finding's examples and not_examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from companion.content.locale import data_file
from companion.content.yamlsource import Problem
from companion.knowledge.redflags import ConceptMatcher, load_concept_file
from companion.knowledge.schema import SymptomFile


@dataclass(frozen=True)
class Symptom:
    """A finding: what was noticed, what the session does (``action``), and the words it says."""

    id: str
    name: str
    action: str  # "ask-spread" | "ask-score" | "end" | "pause" (see knowledge/schema.py SymptomAction)
    say: str
    heard: tuple[str, ...] = ()  # the phrases that matched, for the session log


class SymptomDetector(ConceptMatcher):
    """Matches text against the findings of one :class:`SymptomFile`, first match in file order."""

    spec: SymptomFile

    def detect(self, text: str) -> Symptom | None:
        found = self.first(self.spec.findings, text)
        if found is None:
            return None
        row, heard = found
        return Symptom(row.id, row.name, row.action, " ".join(row.say.split()), heard)


@dataclass
class LoadedSymptoms:
    detector: SymptomDetector | None
    problems: list[Problem] = field(default_factory=list)


def load_symptoms(path: Path | None = None) -> LoadedSymptoms:
    """Read and check the symptom file: schema, concept names, and each finding's own examples."""
    detector, problems = load_concept_file(path or data_file("symptoms.yaml"), SymptomFile, "findings", "finding",
                                           "a symptom", SymptomDetector, lambda d, text: d.detect(text))
    return LoadedSymptoms(detector, problems)


@lru_cache(maxsize=1)
def default_symptom_detector() -> SymptomDetector:
    """The shipped detector. A broken symptom file is an error, never a silent "nothing said"."""
    loaded = load_symptoms()
    if loaded.detector is None:
        raise RuntimeError("the symptom file has problems; symptoms cannot be checked:\n"
                           + "\n".join(map(str, loaded.problems)))
    return loaded.detector


def detect_symptom(text: str) -> Symptom | None:
    """The symptom ``text`` describes, or None. Run this on anything a person says, after the red flags."""
    return default_symptom_detector().detect(text)
