"""Load and validate the knowledge base (``companion/content/knowledge/*.yaml``).

It reuses the routine loader's machinery, :func:`companion.content.yamlsource.read_yaml`
and :func:`companion.content.library.validation_problems`, so every problem reads
``file:line: field: message`` exactly like a routine problem and ``companion check``
can print both together. Checks across files (duplicate ids, one question listed
under two entries, links to routines that do not exist) live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from companion.content.locale import data_file
from companion.content.library import expand_paths, validation_problems
from companion.content.yamlsource import Problem, SourceDoc, field_name, read_yaml
from companion.knowledge.schema import Entry, KnowledgeFile


M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M]) -> tuple[M | None, SourceDoc]:
    """Parse one YAML file into ``model``; problems are in the returned doc, never raised."""
    doc = read_yaml(path)
    if doc.problems:
        return None, doc
    if not isinstance(doc.data, dict):
        doc.problems.append(Problem(doc.file, 1, "(file)", "the file must be a mapping of keys to values"))
        return None, doc
    try:
        # strict, as for routines: YAML's yes/no/on/off must not slip into fields as 1 and 0.
        return model.model_validate(doc.data, strict=True), doc
    except ValidationError as exc:
        for problem in validation_problems(doc, exc):
            problem.message = _KB_WORDING.get(problem.message, problem.message)
            doc.problems.append(problem)
        return None, doc


# The shared messages speak of routines in two places; say what applies here instead.
_KB_WORDING = {
    "unknown key (check the spelling; see 'Writing a routine' in the README)":
        "unknown key (check the spelling; the fields are described in companion/knowledge/schema.py)",
    "Input should be a valid boolean": "must be true or false",
}


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
    from companion.content.library import load_library

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
    knowledge folder plus the red-flag file and the answering lexicon, including
    each red flag's own examples (a flag that misses its examples is a problem).
    """
    kb = load_knowledge(paths)
    problems = [*kb.problems, *_routine_links(kb)]
    if paths is None:
        from companion.knowledge.redflags import load_redflags
        from companion.knowledge.text import load_lexicon

        problems.extend(load_redflags().problems)
        problems.extend(load_lexicon()[1])
    return sorted(problems, key=lambda p: (p.file, p.line))
