"""Load and validate the knowledge base (``companion/content/data/<lang>/knowledge/*.yaml``).

It reuses the routine loader's machinery (:mod:`companion.content.model_file`), so every problem reads
``file:line: field: message`` exactly like a routine problem and ``companion check``
can print both together. Checks across files (duplicate ids, one question listed
under two entries, links to routines that do not exist) live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from companion.content.locale import data_file
from companion.content.library import expand_paths, load_library
from companion.content.yamlsource import Problem, SourceDoc, field_name
from companion.content.model_file import read_model
from companion.knowledge.redflags import load_redflags
from companion.knowledge.schema import Entry, KnowledgeFile
from companion.knowledge.symptoms import load_symptoms
from companion.knowledge.text import load_lexicon
from companion.language.check import check_locale, check_words


@dataclass
class KnowledgeBase:
    entries: dict[str, Entry] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # entry id -> file it came from
    areas: dict[str, str] = field(default_factory=dict)  # entry id -> area
    problems: list[Problem] = field(default_factory=list)
    docs: dict[str, tuple[SourceDoc, int]] = field(default_factory=dict, repr=False)  # id -> (doc, index)

    def line_of(self, entry_id: str, *path: str | int) -> tuple[str, int, str]:
        """``(file, line, field)`` of a field of an entry, for cross-file problems."""
        doc, index = self.docs[entry_id]
        full = ("entries", index, *path)
        return doc.file, doc.line_of(full), field_name(full)


def load_knowledge(paths: list[Path] | None = None) -> KnowledgeBase:
    """Read every knowledge file under ``paths`` (default: the shipped folder) as one set."""
    files, problems = expand_paths(paths if paths is not None else [data_file("knowledge")])
    kb = KnowledgeBase(problems=problems)
    question_owner: dict[str, str] = {}
    for path in files:
        parsed, doc = read_model(path, KnowledgeFile)
        kb.problems.extend(doc.problems)
        if parsed is None:
            continue
        for index, entry in enumerate(parsed.entries):
            if entry.id in kb.entries:
                kb.problems.append(Problem(doc.file, doc.line_of(("entries", index, "id")),
                                           field_name(("entries", index, "id")),
                                           f"duplicate id '{entry.id}' (also in {kb.files[entry.id]})"))
                continue
            kb.entries[entry.id] = entry
            kb.files[entry.id] = doc.file
            kb.areas[entry.id] = parsed.area
            kb.docs[entry.id] = (doc, index)
            for q_index, question in enumerate(entry.questions):
                key = " ".join(question.lower().replace("?", " ").split())
                owner = question_owner.setdefault(key, entry.id)
                if owner != entry.id:
                    file, line, name = kb.line_of(entry.id, "questions", q_index)
                    kb.problems.append(Problem(file, line, name,
                                               f"the same question is listed under '{owner}'; "
                                               "a question should lead to one entry"))
    kb.problems.sort(key=lambda p: (p.file, p.line))
    return kb


def _routine_links(kb: KnowledgeBase) -> list[Problem]:
    """Entries that explain a routine must name one that exists."""
    lib = load_library()
    problems = []
    for entry_id, entry in kb.entries.items():
        if entry.routine and entry.routine not in lib.routines:
            file, line, name = kb.line_of(entry_id, "routine")
            problems.append(Problem(file, line, name, f"unknown routine '{entry.routine}' (see: companion list)"))
    return problems


def check_knowledge(paths: list[Path] | None = None) -> list[Problem]:
    """Every problem in the knowledge base, for ``companion check``.

    With ``paths`` only those knowledge files are checked; without, the shipped
    knowledge folder plus the red-flag file, the symptom file and the answering
    lexicon, including each red flag's and each symptom finding's own examples (one
    that misses its examples, or catches a not_example, is a problem), and the
    language's own words (``locale.yaml``, phrases, vocabulary).
    A broken ``locale.yaml`` is reported alone: every other file is read with it.
    """
    locale = check_locale()
    if locale:
        return locale
    kb = load_knowledge(paths)
    problems = [*kb.problems, *_routine_links(kb)]
    if paths is None:
        problems.extend(load_redflags().problems)
        problems.extend(load_symptoms().problems)
        problems.extend(load_lexicon()[1])
        problems.extend(check_words())
    return sorted(problems, key=lambda p: (p.file, p.line))
