"""One YAML data file (knowledge entries, red flags, lexicon, screening) read into its pydantic model.

It reuses the routine loader's machinery, so every problem reads
``file:line: field: message`` exactly like a routine problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from companion.content.library import validation_problems
from companion.content.yamlsource import Problem, SourceDoc, read_yaml

M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M], described_in: str = "companion/knowledge/schema.py"
               ) -> tuple[M | None, SourceDoc]:
    """Parse one YAML file into ``model``; problems are in the returned doc, never raised.

    ``described_in`` names the module whose models document the file's fields (said for unknown keys).
    """
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
            problem.message = _wording(described_in).get(problem.message, problem.message)
            doc.problems.append(problem)
        return None, doc


def _wording(described_in: str) -> dict[str, str]:
    """The shared messages speak of routines in two places; say what applies here instead."""
    return {
        "unknown key (check the spelling; see 'Writing a routine' in the README)":
            f"unknown key (check the spelling; the fields are described in {described_in})",
        "Input should be a valid boolean": "must be true or false",
    }
