"""The embedded English recogniser: PocketSphinx with its bundled US English model.

No download is needed: the acoustic model and dictionary ship inside the PyPI
wheel. Two decoders hear every utterance:

- a closed grammar of the allowed phrases (``bestpath`` off: with it, the
  lattice pass returned fragments such as "wait a" for "wait a moment" in a
  fifth of the measured cases);
- a free phone loop, the "garbage" model: the best any English phone sequence
  can do with the same audio.

A closed grammar always answers with *some* phrase, so the result is only
worth something next to the evidence that it fits. :func:`features` measures
that evidence (how the phrase scores against the phone loop over the same
frames, whether the phrase covers the speech the phone loop heard, whether its
phones last a plausible time) and :func:`confidence` folds it into one number.
The thresholds were fitted on generated speech and checked on real recordings;
``bench/voice.py`` re-measures them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from companion.speech.ports import Recognition, Recognizer, RecognizerUnavailable

_LOG_BASE = math.log(1.0001)  # PocketSphinx scores are powers of 1.0001
_NON_SPEECH = {"SIL", "+NSN+", "+SPN+", "(NULL)"}
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "(NULL)"}


def _log(score: float) -> float:
    return math.log(score) / _LOG_BASE if score > 0 else -1e7


@dataclass(frozen=True)
class Evidence:
    """How well the grammar's answer fits the audio; see :func:`confidence`."""

    ratio: float  # per-frame log score of the phrase minus the phone loop's, over the phrase's frames
    cover: float  # phrase frames / speech frames heard by the phone loop (1 = explains all the speech)
    frames_per_phone: float  # 10 ms frames per phone of the phrase (plausible: about 5 to 14)
    phone_ratio: float = 1.0  # phones the phone loop heard / phones the phrase has (a short word forced
    #                           onto a long phrase, "wow" -> "last one", hears far fewer)

    def as_dict(self) -> dict[str, float]:
        return {"ratio": round(self.ratio, 2), "cover": round(self.cover, 3),
                "frames_per_phone": round(self.frames_per_phone, 2), "phone_ratio": round(self.phone_ratio, 2)}


def _gate(value: float, low: float, high: float, soft: float) -> float:
    """1 inside [low, high], falling off smoothly outside it."""
    if value < low:
        return math.exp(-((low - value) / soft) ** 2)
    if value > high:
        return math.exp(-((value - high) / soft) ** 2)
    return 1.0


# Chosen by a grid search over bench/voice.py rows (the full generated grid and the
# real Speech Commands clips), together with the policy thresholds in understanding.py:
# about as many correct commands as before the phone-count gate, far fewer replies to
# stray words on real voices (53% -> 37%), and under 1% acted on without a question.
# Real voices stretch single words (up to 30 frames a phone), so the duration gate is
# wide; a phrase the phone loop hears fewer than 70% of the phones of is damped.
RATIO_MID, RATIO_SCALE = -20.0, 14.0
COVER_RANGE, COVER_SOFT = (0.5, 2.2), 0.15
FPP_RANGE, FPP_SOFT = (3.0, 35.0), 1.5
PHONES_RANGE, PHONES_SOFT = (0.7, 1e9), 0.2


def confidence(evidence: Evidence) -> float:
    """0..1: a sigmoid of the score ratio, damped when the phrase cannot explain the speech."""
    ratio = 1.0 / (1.0 + math.exp(-(evidence.ratio - RATIO_MID) / RATIO_SCALE))
    return ratio * _gate(evidence.cover, *COVER_RANGE, COVER_SOFT) * _gate(
        evidence.frames_per_phone, *FPP_RANGE, FPP_SOFT) * _gate(evidence.phone_ratio, *PHONES_RANGE, PHONES_SOFT)


def features(words: list[tuple[str, int, int, float]], phones: list[tuple[str, int, int, float]],
             phone_count: int) -> Evidence | None:
    """Evidence from the grammar's word segments and the phone loop's segments.

    Each segment is ``(label, first_frame, last_frame, log_acoustic_score)``.
    """
    spoken = [w for w in words if w[0] not in _FILLERS]
    if not spoken or phone_count == 0:
        return None
    first, last = spoken[0][1], spoken[-1][2]
    phrase_score = sum(w[3] for w in spoken)
    loop_score = 0.0
    for label, start, end, score in phones:
        overlap = min(last, end) - max(first, start) + 1
        if overlap > 0:
            loop_score += score * overlap / (end - start + 1)
    frames = last - first + 1
    phrase_frames = sum(w[2] - w[1] + 1 for w in spoken)
    speech_frames = sum(p[2] - p[1] + 1 for p in phones if p[0] not in _NON_SPEECH)
    return Evidence(
        ratio=(phrase_score - loop_score) / frames,
        cover=phrase_frames / speech_frames if speech_frames else 0.0,
        frames_per_phone=phrase_frames / phone_count,
        phone_ratio=sum(p[0] not in _NON_SPEECH for p in phones) / phone_count,
    )


class PocketSphinxRecognizer(Recognizer):
    """Closed-grammar recogniser with a phone-loop garbage model for rejection."""

    name = "pocketsphinx"

    def __init__(self, phrases: list[str] | None = None):
        try:
            import pocketsphinx
        except ImportError as exc:
            raise RecognizerUnavailable(f"PocketSphinx is not installed ({exc}). Fix: pip install pocketsphinx") from None
        model = pocketsphinx.get_model_path()
        base = dict(hmm=os.path.join(model, "en-us", "en-us"),
                    dict=os.path.join(model, "en-us", "cmudict-en-us.dict"), loglevel="FATAL")
        self._base = base
        self._free: Any = None  # an n-gram decoder for free speech, made on first use
        self._free_form = False
        try:
            self._grammar = pocketsphinx.Decoder(pocketsphinx.Config(lm=None, bestpath=False, **base))
            self._loop = pocketsphinx.Decoder(pocketsphinx.Config(
                lm=None, allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"), **base))
        except Exception as exc:  # noqa: BLE001 - the C library raises plain RuntimeError/ValueError
            raise RecognizerUnavailable(f"PocketSphinx could not load its English model ({exc}). "
                                        "Fix: pip install --force-reinstall pocketsphinx") from None
        self._to_phrase: dict[str, str] = {}
        self.phrases: list[str] = []  # the active grammar's phrases ([] for free speech)
        self._searches: dict[tuple[str, ...], tuple[str, dict[str, str], list[str]]] = {}
        self.unusable_phrases: list[str] = []
        self._started = False
        if phrases:
            self.set_phrases(phrases)

    def _dictionary_word(self, token: str) -> str | None:
        """The dictionary spelling of a normalised token ("thats" -> "that's").

        A word the dictionary lacks but that joins two it has ("unpause" = "un"
        + "pause") is added with their pronunciations run together.
        """
        for candidate in [token] + [token[:i] + "'" + token[i:] for i in range(len(token) - 1, 0, -1)]:
            if self._grammar.lookup_word(candidate):
                return candidate
        for i in range(2, len(token) - 1):
            head, tail = self._grammar.lookup_word(token[:i]), self._grammar.lookup_word(token[i:])
            if head and tail:
                self._grammar.add_word(token, f"{head} {tail}", True)
                return token
        return None

    def set_phrases(self, phrases: list[str] | None) -> None:
        """Switch to a grammar of ``phrases``; each distinct set is compiled once and reused.

        None means free speech (a question): the bundled English n-gram model,
        slower (about half real time here) and much less accurate than a grammar.
        """
        self._free_form = phrases is None
        self.phrases = [] if phrases is None else sorted(set(phrases))
        if phrases is None:
            if self._free is None:
                import pocketsphinx

                model = pocketsphinx.get_model_path()
                self._free = pocketsphinx.Decoder(pocketsphinx.Config(
                    lm=os.path.join(model, "en-us", "en-us.lm.bin"), **self._base))
            return
        key = tuple(sorted(set(phrases)))
        if key not in self._searches:
            self._searches[key] = self._compile(key, f"grammar{len(self._searches)}")
        name, self._to_phrase, self.unusable_phrases = self._searches[key]
        self._grammar.activate_search(name)

    def _compile(self, phrases: tuple[str, ...], name: str) -> tuple[str, dict[str, str], list[str]]:
        mapping: dict[str, str] = {}
        unusable = []
        for phrase in dict.fromkeys(phrases):
            words = [self._dictionary_word(t) for t in phrase.split()]
            if phrase and all(words):
                mapping[" ".join(words)] = phrase
            else:
                unusable.append(phrase)
        if not mapping:
            raise RecognizerUnavailable("none of the phrases can be recognised (no dictionary words)")
        grammar = "#JSGF V1.0;\ngrammar commands;\npublic <phrase> = " + " | ".join(sorted(mapping)) + " ;\n"
        self._grammar.add_jsgf_string(name, grammar)
        return name, mapping, unusable

    def start(self) -> None:
        if self._free_form:
            self._free.start_utt()
            self._started = True
            return
        if not self._to_phrase:
            raise RuntimeError("call set_phrases() before start()")
        self._grammar.start_utt()
        self._loop.start_utt()
        self._started = True

    def accept(self, pcm: bytes) -> None:
        if pcm and self._free_form:
            self._free.process_raw(pcm, no_search=False, full_utt=False)
        elif pcm:
            self._grammar.process_raw(pcm, no_search=False, full_utt=False)
            self._loop.process_raw(pcm, no_search=False, full_utt=False)

    def accept_whole(self, pcm: bytes) -> None:
        """Feed a complete utterance in one go (a WAV file, not a live stream).

        PocketSphinx then normalises the audio over the whole utterance instead
        of from its running estimate, which matters most for the first
        utterance a decoder hears: a lone file decoded in 100 ms chunks was
        heard wrongly far more often.
        """
        if not pcm:
            return
        if self._free_form:
            self._free.process_raw(pcm, no_search=False, full_utt=True)
        else:
            self._grammar.process_raw(pcm, no_search=False, full_utt=True)
            self._loop.process_raw(pcm, no_search=False, full_utt=True)

    @property
    def partial(self) -> str:
        """The grammar phrase the audio so far matches best ("" if none, or in free speech)."""
        if not self._started or self._free_form:
            return ""
        hyp = self._grammar.hyp()
        return self._to_phrase.get(hyp.hypstr, "") if hyp else ""

    def finish(self) -> Recognition:
        if not self._started:
            return Recognition("", 0.0, self.name)
        self._started = False
        if self._free_form:
            self._free.end_utt()
            hyp = self._free.hyp()
            text = " ".join(w for w in (hyp.hypstr if hyp else "").split() if not w.startswith("<"))
            return Recognition(text, 1.0 if text else 0.0, self.name, details={"free_form": True})
        self._grammar.end_utt()
        self._loop.end_utt()
        hyp = self._grammar.hyp()
        said = hyp.hypstr if hyp else ""
        phrase = self._to_phrase.get(said, "")
        details: dict[str, Any] = {"raw": said}
        if not phrase:
            return Recognition("", 0.0, self.name, details=details)
        words = [(s.word, s.start_frame, s.end_frame, _log(s.ascore)) for s in self._grammar.seg()]
        phones = [(s.word, s.start_frame, s.end_frame, _log(s.ascore)) for s in self._loop.seg()]
        phone_count = sum(len((self._grammar.lookup_word(w) or "").split()) for w in said.split())
        evidence = features(words, phones, phone_count)
        if evidence is None:
            return Recognition("", 0.0, self.name, details=details)
        details.update(evidence.as_dict())
        details["phones"] = " ".join(p[0] for p in phones if p[0] not in _NON_SPEECH)
        return Recognition(phrase, round(confidence(evidence), 4), self.name, details=details)
