"""Real speech end to end: the real TTS speaks, the real recogniser listens, the session reacts.

Commands are synthesised with pyttsx3 (the same espeak-ng voice the companion
speaks with), given a little room noise, streamed through the endpointer and
the default recogniser (keyword model, PocketSphinx, Whisper) in 30 ms frames, and fed to a session on
the virtual clock. A simulated user answers "yes" when the companion asks to
confirm an unsure command, as a real user would.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from companion.engine.clock import VirtualClock
from companion.engine.events import NumberEvent
from companion.language.grammars import grammar_for
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.speech.tts import speaker as sp
from companion.speech.audio.segmenter import Segmenter, split_frames
from companion.speech.asr.registry import make_recognizer
from companion.speech.ports import Recognition
from bench.testset import add_noise, pad
from companion.language.understanding import Understanding
from companion.speech.audio.wav import _pcm_array, _pcm_bytes, resample
from companion.language.vocabulary import load_vocabulary
from tests.conftest import Collector, make_session
from tests.speech.fakes import FakeStream


DEFAULT_VOICE = "en"  # espeak-ng's default English voice ("gmw/en"), which the companion speaks with


@pytest.fixture(scope="module")
def recognizer():
    """The companion's default recogniser (the keyword model, PocketSphinx and Whisper), loaded once."""
    vocabulary = load_vocabulary()
    fused = make_recognizer(vocabulary.grammar("commands"), hints=vocabulary.hints())
    if fused.name != "fused" or not fused.ready() or fused.spotter is None:
        pytest.skip(f"the default recogniser is not all three models here ({fused.name}: {getattr(fused, 'missing', '')})")
    return fused


@pytest.fixture
def ears(recognizer):
    """A fresh endpointer per test: its voice detector adapts to what it heard, so a shared one made
    each test's hearing depend on the tests run before it."""
    vocabulary = load_vocabulary()
    return vocabulary, Segmenter(recognizer, vocabulary.meaning)


def speak(tts, text: str) -> bytes:
    """16 kHz speech of ``text`` from the companion's own TTS, padded, with faint room noise.

    pyttsx3 has one engine per process, and a test elsewhere may leave another voice set on it:
    the voice is set here every time, as the rate is (``synthesise``)."""
    english = [v.id for v in tts.getProperty("voices") if v.id.split("/")[-1] == DEFAULT_VOICE]
    if english:
        tts.setProperty("voice", english[0])
    with tempfile.TemporaryDirectory() as folder:
        pcm = sp.synthesise(tts, text, Path(folder) / "said.wav")
    return add_noise(pad(_pcm_bytes(resample(_pcm_array(pcm), 22050))), 30, seed=len(text))


def hear(ears, pcm: bytes, context: str) -> Recognition:
    vocabulary, segmenter = ears
    segmenter.use_phrases(grammar_for(context, vocabulary))
    quiet = add_noise(b"\0" * 16000, 0, seed=5, signal_power=16.0)
    results = [u.recognition for f in split_frames(pcm + quiet) if (u := segmenter.feed(f))]
    leftover = segmenter.flush()  # never let one test's utterance run into the next
    if leftover:
        results.append(leftover.recognition)
    return results[0] if results else Recognition("", 0.0)


class SimulatedUser:
    def __init__(self, library, tts, ears, entry_id="wall-standing"):
        self.tts, self.ears = tts, ears
        self.out = Collector()
        self.runner = Runner(make_session(library, entry_id), VirtualClock(), ears[0], [self.out])
        self.runner.advance_to(0.0)

    def say(self, text: str, at: float) -> None:
        runner = self.runner
        runner.advance_to(at)
        result = hear(self.ears, speak(self.tts, text), runner._context)
        runner.hear(Heard(at, result.text, "voice", result))
        if runner.session.awaiting_answer:
            yes = hear(self.ears, speak(self.tts, "yes"), "answer")
            runner.hear(Heard(at + 2, yes.text, "voice", yes))

    def until(self, done, phrases: list[str], at: float) -> int:
        """Say the first phrase, and (like a person who was not understood) the next ones until done()."""
        for attempt, text in enumerate(phrases):
            self.say(text, at + 4 * attempt)
            if done():
                return attempt + 1
        raise AssertionError(f"none of {phrases} worked; heard: {self.out.records[-6:]}")


def test_pause_resume_repeat_and_stop_by_voice(library, tts, ears):
    user = SimulatedUser(library, tts, ears)
    session = user.runner.session

    tries = {}
    tries["pause"] = user.until(lambda: session.paused, ["pause", "pause please", "hold on", "wait a moment"], 20.0)
    tries["resume"] = user.until(lambda: not session.paused, ["resume", "carry on", "continue"], 40.0)

    user.runner.advance_to(70.0)
    main = session.current_step.main.text

    def repeated() -> bool:
        return [r["text"] for r in user.out.records if r["kind"] == "say"][-1] == main

    tries["repeat"] = user.until(repeated, ["repeat that", "repeat", "say that again"], 70.0)
    tries["stop"] = user.until(lambda: session.finished, ["stop now", "stop", "stop it", "halt"], 90.0)
    assert session.finished
    print("attempts needed:", tries)
    assert user.out.records[-1]["kind"] == "finished" and user.out.records[-1]["text"] == "stopped"


def test_out_of_grammar_speech_changes_nothing(library, tts, ears):
    user = SimulatedUser(library, tts, ears)
    session = user.runner.session
    user.runner.advance_to(30.0)
    for i, text in enumerate(["what is the weather like today", "pass me the salt please",
                              "the kettle is boiling"]):
        result = hear(ears, speak(tts, text), "commands")
        decision = Understanding(ears[0]).decide(result)
        assert not (decision.kind == "command" and ears[0].changes_state(decision.command)), (text, result)
        user.runner.hear(Heard(30.0 + i, result.text, "voice", result))
        if session.awaiting_answer:
            no = hear(ears, speak(tts, "no"), "answer")
            user.runner.hear(Heard(30.5 + i, no.text, "voice", no))
    assert not session.paused and not session.finished


def test_its_own_voice_triggers_nothing(library, tts, ears):
    """Every cue of a session, spoken by the companion and heard by its own microphone."""
    vocabulary = ears[0]
    understanding = Understanding(vocabulary)
    collector = Collector()
    Runner(make_session(library, "wall-standing"), VirtualClock(), vocabulary, [collector]).run()
    cues = sorted({r["text"] for r in collector.records if r["kind"] == "say" and not r["text"].isdigit()})
    acted = []
    for text in cues:
        result = hear(ears, speak(tts, text), "commands")
        decision = understanding.decide(result, speaking=True, speaking_text=text)
        if decision.kind != "ignore":
            acted.append((text, result.text, decision.kind))
    assert acted == []


def test_spoken_stop_silences_the_companion_mid_sentence(library, tts, ears):
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=tts, stream=stream)
    output = sp.SpeakerOutput(speaker)
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), ears[0], [output])
    runner.advance_to(0.0)  # the intro starts playing
    deadline = time.monotonic() + 5
    while stream.written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert speaker.speaking()
    stop = hear(ears, speak(tts, "stop now"), "commands")
    assert stop.text == "stop now"
    asked = time.monotonic()
    runner.hear(Heard(1.0, stop.text, "voice", Recognition(stop.text, max(stop.confidence, 0.95), "test")))
    assert stream.aborted_at is not None and stream.aborted_at - asked < 0.1
    assert runner.session.finished
    speaker.interrupt()
    speaker.close()


def test_screening_and_pain_check_ins_answered_by_voice(library, tts, ears):
    """A care session (screening + pain before and after) answered entirely by synthesized speech."""
    from tests.care.test_session_care import care_session

    runner, out = care_session(library, "knees-to-chest")
    session = runner.session
    replies = {"screen": ["no", "no thanks", "nope"], "pain-score": ["three", "three"],
               # This user's pain is in the buttock. espeak-ng's "back" is heard as "stop", and its
               # "thigh" as "bye" and "my thigh" as "my eye" by Whisper, only just at the level where
               # it is asked about, so whether it was heard moved with the tests run before
               # (bench/README.md, session 10); both were flaky here, as for a real user.
               "pain-place": ["my bottom", "bottom", "my leg"]}
    meant = {"pain-score": 3, "pain-place": ears[0].place("my bottom")}  # what a read-back must say to get a yes
    runner.advance_to(0.0)
    guard = 0
    while not session.finished and guard < 200:
        guard += 1
        step = session.current_step
        tag = getattr(step, "tag", None)
        if session.awaiting and tag in replies:
            index = session._index
            for attempt, text in enumerate(replies[tag]):
                result = hear(ears, speak(tts, text), runner._context)
                runner.hear(Heard(session.now + 1 + attempt, result.text, "voice", result))
                if runner._unsure is not None:  # "I heard: 3. Is that right?"
                    unsure = runner._unsure
                    heard_value = unsure.value if isinstance(unsure, NumberEvent) else getattr(unsure, "place", None)
                    reply = hear(ears, speak(tts, "yes" if heard_value == meant[tag] else "no"), "answer")
                    runner.hear(Heard(session.now + 1.5 + attempt, reply.text, "voice", reply))
                if session._index != index or session.finished:
                    break
            else:
                heard = [(r.get("text"), r.get("confidence"), r.get("decision")) for r in out.records
                         if r.get("kind") == "heard"][-6:]
                pytest.fail(f"{tag}: none of {replies[tag]} was understood; heard {heard}")
            continue
        deadline = session.next_deadline()
        if deadline is None:
            break
        runner.advance_to(deadline)
    pains = [(r["when"], r["score"], r["place"]) for r in out.records if r.get("kind") == "pain"]
    assert pains == [("before", 3, "buttock"), ("after", 3, "buttock")]
    assert sum(1 for r in out.records if r.get("kind") == "answered") == 6
    assert out.records[-1]["text"] == "completed"
