"""Where the words live: one folder of data per language, chosen at start-up.

Everything the companion says or listens for that is not in a routine file is
in ``content/data/<lang>/`` (phrases, vocabulary, screening, red flags, lexicon,
knowledge base, progression wording). ``COMPANION_LANG`` names the language
(``en`` by default) or gives the path of a folder laid out the same way, which
is how a translation is tried before it ships. Data that does not depend on the
language (the speech model registry) sits in ``content/data/`` itself.

Each language folder also has ``locale.yaml``, which says how its text is cut
into words (:class:`LocaleSettings`); the matching code reads it instead of
assuming English spelling.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_LANG = "en"
LANG_ENV = "COMPANION_LANG"
LOCALE_FILE = "locale.yaml"


def package_folder(package: str) -> Path:
    """A folder that ships inside the wheel (found the same way in a checkout and an install)."""
    return Path(str(resources.files(package)))


def data_root() -> Path:
    return package_folder("companion.content") / "data"


def lang_dir(lang: str | None = None) -> Path:
    """The folder of the language in use: ``lang``, else ``COMPANION_LANG``, else English."""
    chosen = lang or os.environ.get(LANG_ENV) or DEFAULT_LANG
    if os.sep in chosen or chosen.startswith("."):
        return Path(chosen)
    return data_root() / chosen


def data_file(name: str, lang: str | None = None) -> Path:
    """``name`` (e.g. "phrases.yaml", "knowledge") in the language in use."""
    return lang_dir(lang) / name


class LocaleSettings(BaseModel):
    """How a language's text becomes words, from its ``locale.yaml``.

    ``tokens``: "words" splits at spaces and punctuation; "characters" makes each
    character of a script written without spaces (Chinese, Japanese, Thai) a word
    of its own, so phrases still match on whole-word boundaries.
    ``apostrophes``: "drop" joins ("that's" -> "thats", as the English vocabulary
    writes it); "space" splits ("l'eau" -> "l eau").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=80)
    tokens: Literal["words", "characters"]
    apostrophes: Literal["drop", "space"] = "drop"


def load_locale(lang: str | None = None) -> LocaleSettings:
    """The settings of the language in use (or of ``lang``); a missing or broken file raises ValueError."""
    return _load_locale(data_file(LOCALE_FILE, lang))


@lru_cache(maxsize=8)
def _load_locale(path: Path) -> LocaleSettings:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the language settings: {exc}") from None
    try:
        return LocaleSettings.model_validate(data, strict=True)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {details}") from None
