"""Speech in with Vosk, restricted to a closed list of phrases.

Facts about Vosk 0.3.45 this adapter is built around (measured, see the tests):

- The phrase list is handed to Vosk as JSON, and Vosk does not decode ``\\uXXXX``
  escapes: ``json.dumps`` must use ``ensure_ascii=False`` or every non-ASCII word is
  "missing in vocabulary" and silently dropped.
- Words a model does not know are dropped from the list with a log warning, which
  turns a phrase into a different (shorter) one. We ask the model about every word
  first (``vosk_model_find_word``), keep unusable phrases out of the grammar and list
  them in :attr:`VoskRecognizer.unusable_phrases`.
- ``"[unk]"`` gives out-of-grammar speech somewhere to go, but only when the model's
  vocabulary has it (the English models do; some others, like the Korean test fixture,
  do not). :attr:`VoskRecognizer.unk_available` says which.
- An empty grammar (``"[]"``) crashed the process (segfault) in testing: never sent.
- ``SetLogLevel(-1)`` still prints warnings; ``-2`` keeps only errors.
- Vosk can end a segment on its own after a pause (``AcceptWaveform`` returns true);
  the segments of one utterance are joined, so "next ... next" is not one phrase.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from companion.speech.models import looks_like_vosk_model
from companion.speech.ports import SAMPLE_RATE, Recognition, Recognizer, RecognizerUnavailable

UNK = "[unk]"
DOWNLOAD_HINT = "download one with: companion models download vosk-model-small-en-us-0.15"


def _normalise(phrase: str) -> str:
    return " ".join(str(phrase).split())


def interpret(segments: list[dict[str, Any]], phrases: set[str] | list[str]) -> tuple[str, float, dict[str, Any]]:
    """Turn Vosk's JSON results for one utterance into (text, confidence, details).

    The text is accepted only when the words heard are exactly one of ``phrases`` and
    contain no ``[unk]``; otherwise it is "" and ``details["raw_text"]`` keeps what Vosk
    said. The confidence is the lowest word confidence (0 when nothing was accepted).
    """
    words = [word for segment in segments for word in segment.get("result", [])]
    raw = " ".join(segment.get("text", "").strip() for segment in segments if segment.get("text", "").strip())
    raw_confidence = min((float(word.get("conf", 0.0)) for word in words), default=0.0)
    details: dict[str, Any] = {
        "raw_text": raw,
        "raw_confidence": raw_confidence,
        "words": [{"word": w.get("word", ""), "conf": float(w.get("conf", 0.0)),
                   "start": float(w.get("start", 0.0)), "end": float(w.get("end", 0.0))} for w in words],
        "segments": len([s for s in segments if s.get("text", "").strip()]),
    }
    if not raw:
        details["rejected"] = "nothing heard"
        return "", 0.0, details
    if UNK in raw.split():
        details["rejected"] = "out-of-grammar speech ([unk])"
        return "", 0.0, details
    if raw not in set(phrases):
        details["rejected"] = "not exactly one phrase"
        return "", 0.0, details
    details["rejected"] = None
    return raw, raw_confidence, details


class VoskRecognizer(Recognizer):
    """The :class:`~companion.speech.ports.Recognizer` protocol over a Vosk model folder."""

    name = "vosk"

    def __init__(self, model_path: str | Path, phrases: list[str] | None = None,
                 sample_rate: int = SAMPLE_RATE) -> None:
        path = Path(model_path)
        try:
            import vosk
        except (ImportError, OSError) as exc:
            raise RecognizerUnavailable(
                f"the Vosk speech recogniser cannot be loaded ({exc}); install it with: pip install vosk") from None
        if not path.is_dir():
            raise RecognizerUnavailable(f"there is no speech model at {path}; {DOWNLOAD_HINT}")
        if not looks_like_vosk_model(path):
            raise RecognizerUnavailable(
                f"{path} is not a Vosk model folder (no am/final.mdl with conf/ or graph/); {DOWNLOAD_HINT}")
        graph = path / "graph"
        if (graph / "HCLG.fst").is_file() and not (graph / "HCLr.fst").is_file():
            raise RecognizerUnavailable(
                f"{path} has a fixed graph and cannot be limited to a phrase list; use a small model; {DOWNLOAD_HINT}")
        self._vosk = vosk
        self.model_path = path
        self.sample_rate = sample_rate
        vosk.SetLogLevel(-2)  # -1 still prints a warning per unknown word; errors still show
        began = time.perf_counter()
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise RecognizerUnavailable(f"Vosk could not load the model at {path} ({exc}); "
                                        f"it may be damaged; {DOWNLOAD_HINT}") from None
        self.load_ms = round((time.perf_counter() - began) * 1000, 1)
        self.unk_available = self.knows(UNK)
        self.phrases: list[str] = []
        self.unusable_phrases: list[str] = []
        self.free_form = False
        self._rec = None
        self._segments: list[dict[str, Any]] = []
        self._partials: list[str] = []
        self._audio_bytes = 0
        if phrases:
            self.set_phrases(phrases)

    def knows(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary (only such words can be recognised)."""
        return bool(word) and self._model.vosk_model_find_word(word) >= 0

    def set_phrases(self, phrases: list[str] | None) -> None:
        """Restrict to ``phrases``; None means free speech (a question), with no grammar."""
        self.free_form = phrases is None
        if phrases is None:
            self.phrases, self.unusable_phrases = [], []
            self._rec = self._vosk.KaldiRecognizer(self._model, self.sample_rate)
            self._rec.SetWords(True)
            self.start()
            return
        usable: list[str] = []
        unusable: list[str] = []
        for phrase in dict.fromkeys(_normalise(p) for p in phrases):
            if phrase and all(self.knows(word) for word in phrase.split()):
                usable.append(phrase)
            else:
                unusable.append(phrase)
        self.phrases, self.unusable_phrases = usable, unusable
        if not usable:
            self._rec = None  # an empty grammar can crash Vosk: decode nothing instead
        else:
            grammar = usable + ([UNK] if self.unk_available else [])
            self._rec = self._vosk.KaldiRecognizer(self._model, self.sample_rate,
                                                   json.dumps(grammar, ensure_ascii=False))
            self._rec.SetWords(True)
        self.start()

    def start(self) -> None:
        if self._rec is not None:
            self._rec.Reset()
        self._segments = []
        self._partials = []
        self._audio_bytes = 0

    def accept(self, pcm: bytes) -> None:
        self._audio_bytes += len(pcm)
        if self._rec is None or not pcm:
            return
        if self._rec.AcceptWaveform(pcm):
            self._segments.append(json.loads(self._rec.Result()))
        else:
            partial = json.loads(self._rec.PartialResult()).get("partial", "")
            if partial and (not self._partials or self._partials[-1] != partial):
                self._partials.append(partial)

    @property
    def partial(self) -> str:
        """The latest partial hypothesis of the current utterance ("" if none yet)."""
        return self._partials[-1] if self._partials else ""

    def finish(self) -> Recognition:
        began = time.perf_counter()
        if self._rec is not None:
            self._segments.append(json.loads(self._rec.FinalResult()))
        if self.free_form:
            words = " ".join(seg.get("text", "") for seg in self._segments).split()
            self.start()
            return Recognition(" ".join(words), 1.0 if words else 0.0, self.name,
                               round((time.perf_counter() - began) * 1000, 2), {"free_form": True})
        text, confidence, details = interpret(self._segments, self.phrases)
        if self._rec is None:
            details["rejected"] = "no usable phrases"
        details["partials"] = list(self._partials)
        details["audio_seconds"] = round(self._audio_bytes / 2 / self.sample_rate, 3)
        if self.unusable_phrases:
            details["unusable_phrases"] = list(self.unusable_phrases)
        decode_ms = round((time.perf_counter() - began) * 1000, 2)
        self.start()
        return Recognition(text, confidence, self.name, decode_ms, details)
