"""Where the words live: one folder of data per language, chosen at start-up.

Everything the companion says or listens for that is not in a routine file is
in ``content/data/<lang>/`` (phrases, vocabulary, screening, red flags, lexicon,
knowledge base, progression wording). ``COMPANION_LANG`` names the language
(``en`` by default) or gives the path of a folder laid out the same way, which
is how a translation is tried before it ships. Data that does not depend on the
language (the speech model registry) sits in ``content/data/`` itself.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

DEFAULT_LANG = "en"
LANG_ENV = "COMPANION_LANG"


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
