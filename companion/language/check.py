"""Check the words of the language in use, for ``companion check``.

A translation is tried by pointing ``COMPANION_LANG`` at its folder; this says
what is wrong with its ``locale.yaml``, ``phrases.yaml`` and ``vocabulary.yaml``
as ``file:line: field: message`` problems, before a session trips over them.
(:func:`companion.knowledge.base.check_knowledge` calls this, then checks the
knowledge base, red flags and lexicon of the same folder.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml
from pydantic import ValidationError

from companion.content.library import validation_problems
from companion.content.locale import LOCALE_FILE, LocaleSettings, data_file
from companion.content.phrases import load_phrases
from companion.content.yamlsource import Problem, read_yaml
from companion.language.vocabulary import load_vocabulary

_UNKNOWN_KEY = "unknown key (check the spelling; see 'Writing a routine' in the README)"


def check_locale() -> list[Problem]:
    """Problems in the language's ``locale.yaml``; every other file is read with its settings, so check it first."""
    return _locale_problems(data_file(LOCALE_FILE))


def check_words() -> list[Problem]:
    """Problems in the language's ``phrases.yaml`` and ``vocabulary.yaml`` (run :func:`check_locale` first)."""
    return [*_load_problems(data_file("phrases.yaml"), load_phrases),
            *_load_problems(data_file("vocabulary.yaml"), load_vocabulary)]


def _locale_problems(path: Path) -> list[Problem]:
    if not path.exists():
        return [Problem(str(path), 1, "(file)", "missing: every language folder needs a locale.yaml "
                                                "(copy the one in content/data/en and adapt it)")]
    doc = read_yaml(path)
    if doc.problems:
        return doc.problems
    try:
        LocaleSettings.model_validate(doc.data, strict=True)
    except ValidationError as exc:
        problems = validation_problems(doc, exc)
        for problem in problems:
            if problem.message == _UNKNOWN_KEY:
                problem.message = "unknown key (check the spelling; the fields are described in content/locale.py)"
        return problems
    return []


def _load_problems(path: Path, load: Callable[[Path], object]) -> list[Problem]:
    """What stops ``load`` reading ``path``, as problems (with the line, when the schema names a field)."""
    try:
        load(path)
    except ValidationError as exc:
        doc = read_yaml(path)
        return doc.problems or validation_problems(doc, exc)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        doc = read_yaml(path)
        return doc.problems or [Problem(str(path), 1, "(file)", str(exc).removeprefix(f"{path}: "))]
    return []
