"""Three models, one answer: the neural keyword model, PocketSphinx and Whisper tiny.en.

Each is good at something the others are not (figures in bench/README.md):

- the keyword model (DS-CNN, 1-2 ms) knows ten words (stop, go, yes, no, up,
  down, ...) and almost never takes another word for one of them;
- PocketSphinx knows every phrase of the grammar, but with a closed grammar it
  turns most stray words into *some* phrase;
- Whisper transcribes anything, but takes about a second.

So for each utterance:

1. a short utterance that the keyword model is sure is one of its words, and
   that word may be said here, is that word (no waiting for anyone else);
2. otherwise PocketSphinx's phrase stands, but the keyword model confirms or
   vetoes the words it knows, and its "silence" vetoes everything;
3. what is still unsure (between the policy's ask and act levels) is settled by
   Whisper scoring the grammar's phrases on the same audio, before anyone is
   asked "Did you say...?". Where the keyword model heard another word, or
   neither small model made out a phrase, Whisper must be sure, or its best
   phrase must be one the keyword model gives weight to (two models agreeing).
   Below Whisper's floor, PocketSphinx's phrase that Whisper still ranks well
   ahead of the rest is only asked about (a lone "pause", which Whisper
   writes "pass");
4. a longer utterance that is not clearly a phrase of the grammar is
   transcribed by Whisper and handed on as free speech (``details["free_form"]``)
   for the language layer: symptoms, red flags and questions are sentences.
   A transcript that is nearly PocketSphinx's phrase, in words or in letters
   ("now along this left"), is scored as that phrase first. Where a question is
   expected, the beam's other readings nearly as likely go with it
   (``details["readings"]``): the knowledge base may answer one of those;
5. last, a possible stop that nothing was sure of (the keyword model's likeliest
   word is stop, or PocketSphinx heard stop and the keyword model does not rule
   it out) becomes an unsure stop: the session pauses and asks. So does a stop the
   keyword model is sure of in an utterance made long by noise around it, whatever
   word or two Whisper wrote. A missed stop costs more than a question.

Whisper is never run on speech that began while the companion was talking
(``began_over_speech``): that is mostly its own voice, and a second of decoding
there would delay a "stop". Every model's evidence goes in ``details`` for
logs and ``companion listen --json``.

Whisper's encoder is most of its cost (about 0.2 s here), so it starts when the
voice pauses (``voice_paused``), on the audio up to that pause, while the
endpointer waits out its hangover; Whisper then hears exactly that audio. Not
where step 1 is already sure: that needs no Whisper.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Callable

from companion.speech.asr.whisper import normalise
from companion.speech.ports import SAMPLE_RATE, LanguageHints, Recognition, Recognizer, RecognizerUnavailable

SILENCE, UNKNOWN = "_silence_", "_unknown_"  # the keyword model's labels for no speech and another word


@dataclass(frozen=True)
class FusionPolicy:
    """Operating points, chosen with bench/commands.py on speech-real and speech-dev."""

    keyword_sure: float = 0.8  # the keyword model's top word at or above this is taken as said, if PocketSphinx agrees
    keyword_alone: float = 0.95  # ... or at or above this even if PocketSphinx heard another phrase
    keyword_veto: float = 0.6  # "not this word" (another label) at or above this vetoes PocketSphinx's word
    keyword_agree: float = 0.5  # PocketSphinx's word with at least this keyword probability is confirmed
    short_seconds: float = 1.4  # audio longer than this is a sentence, not a command word
    unsure_low: float = 0.2  # the language policy's "ask" level: below it nothing is replied
    unsure_high: float = 0.85  # the language policy's "act" level: at or above it, acted on at once
    whisper_floor: float = -5.0  # closed-list log probability below which Whisper rejects (bench/whisper.py)
    whisper_sure: float = -2.0  # at or above (per word, scaled as the floor): sure enough to act (bench/whisper.py)
    whisper_near: float = 1.5  # PocketSphinx's phrase within this of Whisper's best is confirmed ("stop now"/"stop")
    free_logprob: float = -1.0  # a free transcript with a mean log probability below this is not trusted
    no_speech: float = 0.6  # nothing said: Whisper's no-speech probability this or more, its words under free_logprob
    # A question's other readings within this (mean log p per token) of the transcript are kept beside it
    # (Recognition.details["readings"]); chosen on flite slt's spoken questions, held out on awb (bench/spoken.py).
    reading_margin: float = 0.2
    whisper_with_keywords: float = 0.3  # Whisper's best phrase, if the keyword model gives its word this, ...
    whisper_agree: float = -4.0  # ... and Whisper scores it at least this (per word, as the floor), is agreed on
    whisper_lean_floor: float = -9.0  # below the floor but at least this (as the floor), Whisper's best ...
    whisper_lean_margin: float = 2.0  # ... this far ahead of the next phrase, and PocketSphinx's, is asked about
    whisper_guess_floor: float = -12.0  # a rejected phrase of PocketSphinx's that Whisper ranks first by the lean
    # margin, scoring at least this (as the floor), is kept as the utterance's best guess (Recognition.details)
    maybe_stop: float = 0.4  # the keyword model's top word is stop at this or more: a possible stop (see _maybe_stop)
    maybe_stop_with_grammar: float = 0.1  # ... or PocketSphinx heard a stop phrase and the keyword model gives stop this

    @property
    def middle(self) -> float:
        """The confidence of a phrase worth asking about and never acting on."""
        return (self.unsure_low + self.unsure_high) / 2

    @staticmethod
    def for_phrase(limit: float, phrase: str) -> float:
        """A Whisper log-probability limit measured on one word, for a phrase of several."""
        return limit * max(1, len(phrase.split())) ** 0.5


SURE = 0.95  # the confidence given to a result two models agree on
READINGS = 5  # readings of a question asked of Whisper's beam search (its beam size)
SHORTLIST = 32  # at most this many phrases (and the candidates) are scored by Whisper


class FusedRecognizer(Recognizer):
    """PocketSphinx's grammar, checked by the keyword model, settled or transcribed by Whisper.

    Over the companion's voice, a word of the keyword model's never replaces a phrase of
    PocketSphinx's that means stop (``hints.stop_phrases``): through the echo canceller's double-talk
    suppression the keyword model hears a damaged "stop" as "off" or "up" (bench/echo.py).

    ``spotter`` and ``whisper`` may be None (not installed, failed checksum):
    the recogniser then does what the remaining models can, and says so in
    ``missing``. Whisper loads in a background thread so the first command is
    never waiting for it; until it is ready, step 3 and 4 are skipped.
    """

    name = "fused"

    def __init__(self, grammar: Recognizer, spotter: Any = None, whisper: Any = None,
                 policy: FusionPolicy = FusionPolicy(), load_whisper: Callable[[], Any] | None = None,
                 hints: LanguageHints = LanguageHints()):
        self.grammar = grammar
        self.hints = hints
        self.spotter = spotter
        self.whisper = whisper
        self.policy = policy
        self.phrases: list[str] | None = list(grammar.phrases or [])
        self._grammar_phrases = list(self.phrases)
        self.missing: list[str] = []
        self._over_speech = False  # this utterance began while the companion talked
        self._audio = bytearray()
        self._free = False
        self._started = False
        self._loading: threading.Thread | None = None
        self._paused_at: int | None = None  # bytes of audio when the voice paused, while it stays paused
        self._preparing: tuple[int, threading.Thread] | None = None  # Whisper's encoder, started at a pause
        if whisper is None and load_whisper is not None:
            self._loading = threading.Thread(target=self._load, args=(load_whisper,), daemon=True, name="whisper-load")
            self._loading.start()

    def _load(self, load: Callable[[], Any]) -> None:
        try:
            self.whisper = load()
        except RecognizerUnavailable as exc:
            self.missing.append(f"whisper: {exc}")
        except Exception as exc:  # noqa: BLE001 - a broken install must not kill listening; say what happened
            self.missing.append(f"whisper: could not load ({type(exc).__name__}: {exc})")

    def ready(self, timeout: float | None = None) -> bool:
        """Wait for Whisper to finish loading; False if it could not load (or is still loading at ``timeout``)."""
        if self._loading is not None:
            self._loading.join(timeout)
        return self.whisper is not None

    # -- the Recognizer port -------------------------------------------------

    def set_phrases(self, phrases: list[str] | None) -> None:
        self._free = phrases is None
        self.phrases = None if phrases is None else sorted(set(phrases))
        if phrases is not None:
            self._grammar_phrases = list(phrases)
            self.grammar.set_phrases(phrases)

    def began_over_speech(self, over: bool) -> None:
        self._over_speech = over

    def voice_paused(self, paused: bool) -> None:
        """At a pause, Whisper's encoder starts on the audio so far (see the module docstring)."""
        self._paused_at = len(self._audio) if paused else None
        whisper = self.whisper
        if not paused or whisper is None or self._over_speech or not self._started or not self._audio:
            return
        if self._preparing is not None and self._preparing[1].is_alive():
            return  # one at a time: two would share the two cores and finish no sooner
        pcm = bytes(self._audio)
        if not self._free and self.spotter is not None and len(pcm) / (2 * SAMPLE_RATE) <= self.policy.short_seconds:
            scores = self.spotter.classify(pcm)
            if scores.top_prob >= self.policy.keyword_sure and scores.top in set(self.phrases or ()):
                return  # step 1 will very likely decide alone
            if scores.top == SILENCE and scores.top_prob >= self.policy.keyword_veto:
                return  # a noise: step 2 drops it unheard
        thread = threading.Thread(target=_prepare, args=(whisper, pcm), daemon=True, name="whisper-prepare")
        self._preparing = (len(pcm), thread)
        thread.start()

    def _for_whisper(self, pcm: bytes) -> bytes:
        """The audio Whisper hears: up to the pause that ended the utterance, once any encoding started
        there has finished (the whole audio when the utterance did not end on a pause)."""
        if self._paused_at is None:
            return pcm
        if self._preparing is not None and self._preparing[0] == self._paused_at:
            self._preparing[1].join()
        return pcm[:self._paused_at]

    def start(self) -> None:
        self._over_speech = False
        self._audio.clear()
        self._paused_at = None
        self._started = True
        if not self._free:
            self.grammar.start()

    def accept(self, pcm: bytes) -> None:
        self._audio += pcm
        if not self._free:
            self.grammar.accept(pcm)

    def accept_whole(self, pcm: bytes) -> None:
        self._audio += pcm
        if not self._free:
            self.grammar.accept_whole(pcm)

    @property
    def partial(self) -> str:
        return "" if self._free else self.grammar.partial

    def finish(self) -> Recognition:
        if not self._started:
            return Recognition("", 0.0, self.name)
        self._started = False
        pcm = bytes(self._audio)
        self._audio.clear()
        if self._free:
            return self._free_speech(self._for_whisper(pcm), {"decided_by": "whisper"})
        return self._commands(pcm, self.grammar.finish())

    # -- the decision --------------------------------------------------------

    def _commands(self, pcm: bytes, heard: Recognition) -> Recognition:
        policy = self.policy
        seconds = len(pcm) / (2 * SAMPLE_RATE)
        evidence: dict[str, Any] = {"seconds": round(seconds, 2),
                                    "pocketsphinx": {"text": heard.text, "confidence": round(heard.confidence, 4),
                                                     **heard.details}}
        allowed = set(self.phrases or ())
        scores = self.spotter.classify(pcm) if self.spotter is not None else None
        if scores is not None:
            evidence["keywords"] = {"top": scores.top, "prob": round(scores.top_prob, 4), "ms": round(scores.ms, 2),
                                    "probs": {k: round(v, 3) for k, v in sorted(
                                        scores.probs.items(), key=lambda kv: -kv[1])[:3]}}
        short = seconds <= policy.short_seconds
        words = set(self.spotter.WORDS) if self.spotter is not None else set()
        # Over its voice a stop phrase keeps PocketSphinx's word for it (the class docstring says why).
        keep_stop = self._over_speech and heard.text in self.hints.stop_phrases and (
            scores is None or scores.top != heard.text)
        # 1. The keyword model is sure, and the word may be said here. Its one-second window hears
        #    "go" in "go back" too: a longer phrase of PocketSphinx's that holds the word is confirmed.
        middle = policy.middle
        vetoed = False
        sure_word = scores is not None and short and scores.top_prob >= policy.keyword_sure
        text, confidence, decided = heard.text, heard.confidence, "pocketsphinx"
        candidates = [text]
        inside = sure_word and heard.text != scores.top and scores.top in heard.text.split()
        if inside and heard.confidence >= policy.keyword_agree:
            return self._result(heard.text, max(heard.confidence, policy.unsure_high), "pocketsphinx+keywords",
                                evidence)
        if inside:  # "go" or "go on"? Whisper settles it, or the user is asked
            text, confidence, decided = heard.text, middle, "keywords word inside an unsure phrase"
            candidates = [heard.text] + ([scores.top] if scores.top in allowed else [])
        elif sure_word and scores.top in allowed and not keep_stop:
            agree = heard.text == scores.top
            if agree or not heard.text or scores.top_prob >= policy.keyword_alone:
                confidence = SURE if agree else policy.unsure_high + (1 - policy.unsure_high) * (
                    (scores.top_prob - policy.keyword_sure) / (1 - policy.keyword_sure))
                return self._result(scores.top, max(confidence, heard.confidence if agree else 0.0),
                                    "keywords+pocketsphinx" if agree else "keywords", evidence)
            # The two models name different phrases: Whisper settles it, or the user is asked.
            text, confidence, decided = scores.top, middle, f"keywords {scores.top}, pocketsphinx {heard.text}"
            candidates = [scores.top, heard.text]
        # 2. PocketSphinx's phrase, confirmed or vetoed by the keyword model.
        elif scores is not None and text:
            other = scores.top in words and scores.top != text and scores.top_prob >= policy.keyword_veto and short
            if scores.top == SILENCE and scores.top_prob >= policy.keyword_veto:
                text, confidence, decided = "", 0.0, "keywords: silence"
            elif text in words and scores.prob(text) >= policy.keyword_agree and short:
                confidence = max(confidence, min(SURE, policy.unsure_high + scores.prob(text) / 10))
                decided = "pocketsphinx+keywords"
            elif other and scores.top in allowed and not keep_stop:
                # It heard another of its words, one that may be said here ("stop" where PocketSphinx
                # made "go" of it): Whisper settles between them, or the user is asked (a stop pauses first).
                text, confidence, decided = scores.top, middle, f"keywords heard {scores.top}"
                candidates = [scores.top, heard.text]
            elif other:
                vetoed = heard.confidence >= policy.unsure_low
                confidence, decided = min(confidence, middle), f"keywords heard {scores.top}"
            elif text in words and scores.top == UNKNOWN and scores.top_prob >= policy.keyword_veto:
                # A word it knows, which it did not hear: the commonest mistake of a closed grammar
                # (a stray word forced onto "stop" or "yes"). Whisper may still overrule it, if sure.
                vetoed = heard.confidence >= policy.unsure_low
                confidence, decided = confidence * scores.prob(text), "keywords veto: another word"
        # 3. and 4. Whisper, where it is loaded and the companion is not talking.
        whisper = self.whisper
        if whisper is not None and not self._over_speech:
            # Whisper hears the audio up to the pause (_for_whisper), fetched only where it is asked:
            # a decision without it never waits for an encoding started at the pause.
            if not short and confidence < policy.unsure_high:
                said = self._free_speech(self._for_whisper(pcm), evidence, scores)
                if not said.text and text in self.hints.stop_phrases:
                    # Whisper heard no speech where PocketSphinx heard a stop: keep it, to be asked about.
                    return self._result(text, confidence, f"{decided}; {said.details['decided_by']}", said.details)
                return self._stop_in_noise(said, scores)
            if text and (policy.unsure_low <= confidence < policy.unsure_high or vetoed):
                return self._maybe_stop(self._settle(self._for_whisper(pcm), candidates, evidence, scores,
                                                     strict=vetoed), heard, scores, short)
            if not text and not short:
                return self._stop_in_noise(self._free_speech(self._for_whisper(pcm), evidence, scores), scores)
            if short and confidence < policy.unsure_low and scores is not None and scores.top != SILENCE:
                # A word that neither small model made out ("thigh", which the keyword model does not
                # know and PocketSphinx missed): Whisper may take it, if it is sure or the keyword model
                # agrees with it.
                guesses = [c for c in dict.fromkeys([heard.text, scores.top]) if c in allowed]
                return self._maybe_stop(self._settle(self._for_whisper(pcm), guesses, evidence, scores,
                                                     strict=True), heard, scores, short)
        return self._maybe_stop(self._result(text, confidence, decided, evidence), heard, scores, short)

    def _stop_in_noise(self, said: Recognition, scores: Any) -> Recognition:
        """A stop the keyword model is sure of, in an utterance long only because noise surrounds it, is
        never dropped or taken for another phrase: it is a stop to ask about, which pauses first.

        In bench/live.py (20 dB noise around each word) a word arrives as 1.7-2.3 s of audio, too long
        to be a command word, so Whisper transcribes it; a real "stop" came back as "Let's go." (the
        keyword model: stop, 0.96) or as no speech, and the session went on. A transcript of a word or
        two (or none) is no sentence, so the keyword model's word still counts; a sentence stays one."""
        policy, stops = self.policy, self.hints.stop_phrases
        if scores is None or said.text in stops or len(said.text.split()) > 2 or not stops & set(self.phrases or ()):
            return said
        if scores.top != "stop" or scores.top_prob < policy.keyword_sure:
            return said
        evidence = {k: v for k, v in said.details.items() if k not in ("free_form", "guess")}
        return self._result(self._stop_phrase(), policy.middle, f"the keyword model heard stop ({said.details.get('decided_by', '')})",
                            evidence)

    def _maybe_stop(self, result: Recognition, heard: Recognition, scores: Any, short: bool) -> Recognition:
        """A possible stop that nothing else was sure of is a stop to ask about, which pauses first.

        Missing a stop costs more than a pause and a question: when the keyword model's most likely
        word is stop, or PocketSphinx heard a stop phrase and the keyword model does not rule it out,
        and no phrase was heard surely enough to act on, the result is stop, unsure."""
        policy, stops = self.policy, self.hints.stop_phrases
        if scores is None or not short or result.confidence >= policy.unsure_high \
                or (result.text in stops and result.confidence >= policy.middle) \
                or result.details.get("free_form") or not stops & set(self.phrases or ()):
            return result
        top_stop = scores.top == "stop" and scores.top_prob >= policy.maybe_stop
        grammar_stop = heard.text in stops and scores.prob("stop") >= policy.maybe_stop_with_grammar
        if not (top_stop or grammar_stop):
            return result
        return self._result(self._stop_phrase(heard.text), policy.middle,
                            f"a possible stop ({result.details.get('decided_by', '')})", result.details)

    def _stop_phrase(self, heard: str = "") -> str:
        """The stop phrase to ask about: PocketSphinx's own where it heard one, else plain "stop"."""
        stops = self.hints.stop_phrases
        return heard if heard in stops else "stop" if "stop" in stops else min(stops)

    def _settle(self, pcm: bytes, candidates: list[str], evidence: dict[str, Any], scores: Any = None,
                strict: bool = False) -> Recognition:
        """Whisper scores every phrase of the grammar on the audio: it confirms a candidate, finds another
        phrase (asked about, never acted on), or rejects them all.

        A candidate is confirmed when Whisper's best phrase is it, means the same ("no" for "nope"), or
        scores nearly as well; also when the keyword model gives Whisper's best some weight (two models
        agreeing). ``strict`` (the keyword model heard another word, or neither small model made out a
        phrase): Whisper must be sure, agreed with, or hear a stop (which is only ever asked about)."""
        began = time.perf_counter()
        ranked = self.whisper.score(pcm, self._shortlist(candidates, str(evidence.get("transcript", ""))), top=5,
                                    exact=[c for c in candidates if c])
        best, logp = ranked[0] if ranked else ("", -99.0)
        # The floor was measured on one-word clips; a longer phrase has more tokens to pay for.
        policy = self.policy
        evidence["whisper"] = {"scores": [[p, round(s, 3)] for p, s in ranked[:3]],
                               "ms": round((time.perf_counter() - began) * 1000, 1)}
        scored, middle = dict(ranked), policy.middle
        if logp < policy.for_phrase(policy.whisper_floor, best):
            if not strict and self._leans(best, ranked, candidates, scores):
                # The lowest confidence still asked about: a state-changing command is confirmed first,
                # and a yes or no is not taken ("up" heard as "yep" must not answer "Do you want to end?").
                return self._result(best, policy.unsure_low, "whisper leans to pocketsphinx's phrase", evidence)
            return self._rejected("whisper rejects", ranked, candidates, evidence, scores)
        sure = logp >= policy.for_phrase(policy.whisper_sure, best)
        # Whisper's best is a word the keyword model also gives weight to: two models agree.
        weight = keyword_weight(best, scores, self.hints) if scores is not None else 0.0
        agreed = scores is not None and logp >= policy.for_phrase(policy.whisper_agree, best) and \
            weight >= policy.whisper_with_keywords
        # Whisper's best is trusted when it is sure of it, the keyword model agrees, or it means stop
        # (asking about a stop pauses first, so a doubtful one costs little), or PocketSphinx named it
        # too and the keyword model only said "none of my words" (two of three models agree).
        trusted = sure or agreed or best in self.hints.stop_phrases or \
            self._seconded(best, logp, ranked, candidates, scores)
        # Two models agree firmly: Whisper's best, well ahead of every other phrase, is a word the keyword
        # model gives at least even odds. Acted on as if Whisper were sure (a real "stop" that PocketSphinx
        # made "lets go" of was only asked about, though the keyword model heard stop and Whisper agreed).
        act = sure or (agreed and weight >= policy.keyword_agree and lead(ranked) >= policy.whisper_lean_margin)
        if strict and not trusted:
            return self._rejected("whisper unsure where the keyword model heard another word", ranked, candidates,
                                  evidence, scores)
        meaning = self.hints.meaning
        for candidate in candidates:
            # Confirmed by a near score, or by a trusted best meaning the same ("no" for "nope").
            near = candidate in scored and logp - scored[candidate] <= policy.whisper_near
            if near or (trusted and meaning(candidate) == meaning(best)):
                # Confirmed: acted on when Whisper is sure of it too, else asked about.
                firm = sure or (act and meaning(candidate) == meaning(best))
                return self._result(candidate, SURE if firm else middle, "whisper confirms", evidence)
        if agreed:
            return self._result(best, SURE if act else middle, "whisper and keywords agree", evidence)
        if sure:  # a phrase neither small model named: worth a question, never an action
            return self._result(best, middle, "whisper prefers", evidence)
        return self._result("", 0.0, "whisper prefers another phrase, unsurely", evidence)

    def _seconded(self, best: str, logp: float, ranked: list[tuple[str, float]], candidates: list[str],
                  scores: Any) -> bool:
        """Whisper's best is the phrase PocketSphinx heard, scores as well as an agreement needs, and is
        the lean margin ahead of every other phrase, where the keyword model's objection was only "unknown".

        The keyword model misses 7-15% of real yes, no and go (MODEL.md); its "unknown" then vetoes
        PocketSphinx's right word, and Whisper, scoring it -2.1 to -3.9 and far ahead of the rest,
        was not sure enough to overrule it alone. A word it did name ("down" for "no") still vetoes, and
        so does a phrase that only means the same: a spoken "nine" was "no no" to PocketSphinx and "no"
        to Whisper (-4.0)."""
        policy = self.policy
        if scores is None or scores.top != UNKNOWN or not candidates or candidates[0] != best:
            return False
        return logp >= policy.for_phrase(policy.whisper_agree, best) and lead(ranked) >= policy.whisper_lean_margin

    def _rejected(self, decided: str, ranked: list[tuple[str, float]], candidates: list[str],
                  evidence: dict[str, Any], scores: Any = None) -> Recognition:
        """Nothing heard surely enough to reply to, with the best guess kept when there is one.

        The guess is a candidate (PocketSphinx's phrase, or the keyword model's word) that Whisper
        ranks first, the lean margin ahead of every other phrase, scoring at least the guess floor. It is
        evidence, not a result: only a dialogue state that reads every unsure answer back (a pain
        score, where it hurts) may ask about it. Whisper tiny.en writes espeak-ng's "thigh" as
        "bye" and flite's "leg" scores -4.3 where the keyword model heard "left": both were
        dropped, so a person asked where it hurts was not heard at all. No guess where the keyword
        model is sure of another of its words: a real "on" is not guessed to be the score "one"."""
        policy = self.policy
        if ranked and ranked[0][0] in candidates and not self._sure_of_another(ranked[0][0], scores):
            best, logp = ranked[0]
            if logp >= policy.for_phrase(policy.whisper_guess_floor, best) and lead(ranked) >= policy.whisper_lean_margin:
                evidence = {**evidence, "guess": best}
        return self._result("", 0.0, decided, evidence)

    def _sure_of_another(self, phrase: str, scores: Any) -> bool:
        """The keyword model is sure of one of its own words, and it is not ``phrase``: then ``phrase`` is no
        guess (a real "on" is not the score "one", nor a real "no" the place "none")."""
        return scores is not None and self.spotter is not None and scores.top in self.spotter.WORDS and \
            scores.top_prob >= self.policy.keyword_sure and scores.top != phrase

    def _leans(self, best: str, ranked: list[tuple[str, float]], candidates: list[str], scores: Any) -> bool:
        """Whisper's best phrase is PocketSphinx's, well ahead of every other, though below the floor,
        and the keyword model heard a word it does not know: two models name the phrase, the third
        does not contradict them. Worth a question: a state-changing command is confirmed first,
        a harmless one (repeat, how long is left) answered, and a yes or no never taken.

        Whisper tiny.en hears a lone "pause" as "pass" or "force" (flite's four voices score it
        -5.7 to -7.8, 2.4-4 ahead of the next phrase), so without this a spoken "pause" was never
        even asked about. On speech-real and speech-dev it asks about 4 of 2,228 other words and
        noise ("eight" as "wait"; bench/README.md, session 9)."""
        policy = self.policy
        if scores is None or scores.top != UNKNOWN or scores.top_prob < policy.keyword_veto:
            return False
        if best not in candidates or best in set(self.spotter.WORDS) or not ranked:
            return False
        logp = ranked[0][1]
        return logp >= policy.for_phrase(policy.whisper_lean_floor, best) and lead(ranked) >= policy.whisper_lean_margin

    def _shortlist(self, candidates: list[str], transcript: str) -> list[str]:
        """The phrases worth scoring: all of a small grammar; of a large one (the home menu's names
        with every prefix), the candidates and the phrases sharing most words with what was heard.
        Scoring costs decoder time per phrase, and a few dozen rivals are enough to reject with."""
        phrases = list(self.phrases or candidates)
        if len(phrases) <= SHORTLIST or not (transcript or any(candidates)):
            return phrases  # (with nothing to rank by, all: Whisper's own first-token bound prunes them)
        said = " ".join([normalise(transcript), *candidates])
        ranked = sorted(phrases, key=lambda p: -overlap(p, said))
        return list(dict.fromkeys([c for c in candidates if c] + ranked[:SHORTLIST]))

    def _free_speech(self, pcm: bytes, evidence: dict[str, Any], scores: Any = None) -> Recognition:
        """A sentence: Whisper's transcript, or PocketSphinx's n-gram guess when Whisper is not here.
        ``scores``, the keyword model's, where it heard the utterance: a guess is kept beside a transcript
        on the same terms as without one (``_sure_of_another``)."""
        whisper = self.whisper
        if whisper is None:
            if not self._free:
                return self._result("", 0.0, "no free-speech model", evidence)
            self.grammar.set_phrases(None)
            self.grammar.start()
            self.grammar.accept_whole(pcm)
            heard = self.grammar.finish()
            if self._grammar_phrases:
                self.grammar.set_phrases(self._grammar_phrases)
            return Recognition(heard.text, heard.confidence, self.name,
                               details={**evidence, **heard.details, "free_form": True})
        # A question is expected (free speech): Whisper is told the domain's words. Not for what is
        # said mid-exercise, where chatter must not be pulled towards symptom words.
        said = whisper.transcribe(pcm, self.hints.question_prompt, readings=READINGS) if self._free \
            else whisper.transcribe(pcm)
        text = normalise(said.text)
        evidence["whisper"] = {"transcript": said.text, "avg_logprob": round(said.avg_logprob, 3),
                               "no_speech_prob": round(said.no_speech_prob, 3), "ms": round(said.decode_ms, 1)}
        close = [normalise(other) for other, logp in said.alternatives
                 if said.avg_logprob - logp <= self.policy.reading_margin]
        if any(other and other != text for other in close):
            # Whisper in noise gets one word of a question wrong ("how should we isolate with a bad back")
            # where a reading nearly as likely has it right: the knowledge base may choose among them.
            evidence["readings"] = list(dict.fromkeys([text, *(other for other in close if other)]))
        # Whisper's own rule: no speech only where it also wrote its words unsurely ("Stop.", at -0.57 with a
        # no-speech probability of 0.7, was a real stop in noise).
        if not text or (said.no_speech_prob >= self.policy.no_speech and said.avg_logprob < self.policy.free_logprob):
            return self._result("", 0.0, "whisper: no speech", evidence)
        if said.avg_logprob < self.policy.free_logprob:
            confidence = 0.1
        else:
            confidence = min(SURE, max(0.3, 1.0 + said.avg_logprob / 2))
        if text in set(self.phrases or ()):
            return self._result(text, SURE if confidence >= 0.3 else confidence, "whisper transcript", evidence)
        heard = evidence.get("pocketsphinx", {}).get("text", "")
        if self.phrases and (len(text.split()) <= 2 or nearly(heard, text)):
            # A word or two that is no phrase ("buns" for a noisy "pause"), or nearly PocketSphinx's
            # phrase ("start while standing"): score the grammar's phrases on the same audio. Any
            # other sentence ("I feel dizzy") stays a sentence, for the safety checks.
            settled = self._settle(pcm, [heard] if heard else [], {**evidence, "transcript": said.text})
            if settled.text and (len(text.split()) <= 2 or settled.text == heard):
                return settled
            guess = settled.details.get("guess")
            if guess and not self._sure_of_another(guess, scores):  # kept beside the transcript, to be read back
                evidence = {**evidence, "guess": guess, "whisper_scores": settled.details["whisper"]}
            if nearly(heard, text, letters=False):
                # Whisper wrote nearly PocketSphinx's words: that phrase, as surely as PocketSphinx heard
                # it. Near in letters only ("new pain" for "no pain"), only Whisper's scores above make it
                # the phrase; else it stays what Whisper wrote.
                ps = evidence["pocketsphinx"]["confidence"]
                return self._result(heard, ps, "pocketsphinx, nearly as whisper wrote it", settled.details)
        return Recognition(text, confidence, self.name, details={**evidence, "decided_by": "whisper transcript",
                                                                  "free_form": True})

    def _result(self, text: str, confidence: float, decided: str, evidence: dict[str, Any]) -> Recognition:
        return Recognition(text, round(confidence, 4), self.name, details={**evidence, "decided_by": decided})


def lead(ranked: list[tuple[str, float]]) -> float:
    """How far Whisper's best phrase is ahead of every other it was given.

    The rest may end with phrases Whisper did not finish scoring, listed with an upper bound
    (WhisperTranscriber.score): the best of them all is the one to beat, conservatively."""
    if not ranked:
        return -math.inf
    return ranked[0][1] - max((score for _, score in ranked[1:]), default=-math.inf)


def _prepare(whisper: Any, pcm: bytes) -> None:
    """Whisper's encoder on ``pcm``, ahead of need; a failure here is met again, and reported, when the
    utterance is decided."""
    try:
        whisper.prepare(pcm)
    except Exception:  # noqa: BLE001 - only a head start; the decision does the work again
        pass


def keyword_weight(phrase: str, scores: Any, hints: LanguageHints) -> float:
    """How much the keyword model gives ``phrase``: its probability for the phrase, or for any word
    meaning the same ("no" for "nope")."""
    return max(scores.prob(word) for word in hints.group(phrase))


WORDS_NEARLY = 0.6  # the share of a phrase's words in a transcript that makes it nearly that phrase
SOUNDS_ALIKE = 0.75  # ... or the letters shared with a phrase of two words or more (difflib's ratio)


def nearly(phrase: str, text: str, letters: bool = True) -> bool:
    """Whether ``text`` is nearly ``phrase`` written another way, with not many more words: most of the
    phrase's words in it ("start while standing" for "start wall standing"), or, for a phrase of two
    words or more, nearly the same letters ("now along this left" for "how long is left": Whisper in
    noise, 3 of 10 times in bench/live.py). A one-word phrase is in many sentences ("down" in "the pain
    is going down my leg"): that is a sentence, not the phrase. No example sentence of the red-flag,
    symptom or question tables is near a phrase by its letters alone (tests/speech/test_fused.py); a
    phrase near only in letters is taken only where Whisper's scores confirm it (``_free_speech`` asks
    with ``letters=False`` where they did not)."""
    if not phrase or len(text.split()) > len(phrase.split()) + 2:
        return False
    if overlap(phrase, text) >= WORDS_NEARLY:
        return True
    return letters and len(phrase.split()) >= 2 and SequenceMatcher(
        None, phrase.replace(" ", ""), text.replace(" ", "")).ratio() >= SOUNDS_ALIKE


def overlap(phrase: str, text: str) -> float:
    """The share of ``phrase``'s words that are in ``text`` (a word of four letters or more also counts
    when ``text`` has one starting the same way: "start" in "it started while standing")."""
    words = phrase.split()
    said = set(text.split())
    stems = {w[:4] for w in said if len(w) >= 4}
    return sum(w in said or (len(w) >= 4 and w[:4] in stems) for w in words) / len(words) if words else 0.0
