"""Every speech recogniser the companion knows, in the order it prefers them.

The table feeds the ``--engine`` choices, ``companion doctor`` (one check per
engine, in this order) and the default: the first engine whose ``preferred()``
says it can do its best here. Adding an engine is one module in ``asr/`` and one
row here (and its doctor check; tests/app/test_doctor.py says if one is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from companion.speech.models import installed_models
from companion.speech.ports import LanguageHints, Recognizer, RecognizerUnavailable


@dataclass(frozen=True)
class Engine:
    name: str
    summary: str
    build: Callable[[list[str], Path | None, LanguageHints], Recognizer]  # (grammar, model folder, hints)
    preferred: Callable[[], bool]  # chosen by default when no engine is named


def default_vosk_model() -> Path | None:
    """The first installed Vosk model under models/ (never the test-only fixture)."""
    for model in installed_models(include_fixtures=False):
        return model.path
    return None


def _vosk(phrases: list[str], model: Path | None, hints: LanguageHints) -> Recognizer:
    path = model or default_vosk_model()
    if path is None:
        raise RecognizerUnavailable("no Vosk model is installed. "
                                    "Fix: companion models download vosk-model-small-en-us-0.15")
    from companion.speech.asr.vosk import VoskRecognizer  # the vosk library loads only when it is used

    return VoskRecognizer(path, phrases)


def _pocketsphinx(phrases: list[str], model: Path | None, hints: LanguageHints) -> Recognizer:
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer

    return PocketSphinxRecognizer(phrases)


def _fused(phrases: list[str], model: Path | None, hints: LanguageHints) -> Recognizer:
    """PocketSphinx checked by the keyword model, with Whisper loading in the background.

    A model that cannot load (not installed, checksum wrong) is left out and named in
    ``missing``; the others carry on. Only PocketSphinx is required.
    """
    from companion.speech.asr.fused import FusedRecognizer
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer

    missing = []
    spotter = None
    try:
        from companion.speech.asr.keywords import KeywordSpotter

        spotter = KeywordSpotter()
    except RecognizerUnavailable as exc:
        missing.append(f"keyword model: {exc}")
    fused = FusedRecognizer(PocketSphinxRecognizer(phrases), spotter, load_whisper=_whisper_transcriber,
                            hints=hints)
    fused.missing.extend(missing)
    return fused


def _whisper_transcriber():  # -> WhisperTranscriber; the import is what takes time
    from companion.speech.asr.whisper import WhisperTranscriber

    return WhisperTranscriber()


def _whisper(phrases: list[str], model: Path | None, hints: LanguageHints) -> Recognizer:
    from companion.speech.asr.whisper import WhisperRecognizer

    return WhisperRecognizer(phrases, folder=model)


REGISTRY: tuple[Engine, ...] = (
    Engine("fused", "the keyword model, PocketSphinx and Whisper tiny.en together (no download)", _fused,
           lambda: True),
    Engine("vosk", "Vosk (Kaldi), with a model you download", _vosk, lambda: default_vosk_model() is not None),
    Engine("pocketsphinx", "PocketSphinx with its built-in US English model (no download)", _pocketsphinx,
           lambda: True),
    Engine("whisper", "Whisper tiny.en from PyPI (free speech; slow for commands)", _whisper, lambda: False),
)
ENGINES = tuple(engine.name for engine in REGISTRY)


def default_engine(model: Path | None = None) -> str:
    """The engine used when none is named (a model folder given means Vosk)."""
    if model is not None:
        return "vosk"
    return next(engine.name for engine in REGISTRY if engine.preferred())


def make_recognizer(phrases: list[str], engine: str | None = None, model: Path | None = None,
                    hints: LanguageHints = LanguageHints()) -> Recognizer:
    """A recogniser for ``phrases``; raises :class:`RecognizerUnavailable` with the fix.
    ``hints`` come from the vocabulary (``Vocabulary.hints()``)."""
    if engine not in (None, *ENGINES):
        raise RecognizerUnavailable(f"unknown engine '{engine}'; choose one of: {', '.join(ENGINES)}")
    chosen = engine or default_engine(model)
    return next(e for e in REGISTRY if e.name == chosen).build(phrases, model, hints)
